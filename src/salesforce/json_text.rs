//! Request bodies' JSON text, written straight into the request's buffer.
//!
//! Every record written has its field names and values turned into JSON once, and most
//! of that text needs no escaping at all. serde_json's writer looks up each byte of each
//! string in a table and branches on it; this one checks a whole string first, with no
//! branch per byte, and copies it in one piece when nothing in it needs escaping. The text is the same serde_json writes, byte for byte: the same escapes
//! (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, else `\u00xx` below 0x20), and numbers
//! written by serde_json itself.

use serde_json::{Map, Number, Value};

/// A value that can write itself as JSON text into a request body.
pub trait WriteJson {
    /// Appends this value's JSON text to `out`.
    fn write_json(&self, out: &mut Vec<u8>);
}

impl WriteJson for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_value(out, self);
    }
}

impl WriteJson for Map<String, Value> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        write_members(out, self.iter().map(|(k, v)| (k.as_str(), v)), true);
        out.push(b'}');
    }
}

/// Appends `value` as JSON text.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => map.write_json(out),
    }
}

/// Appends an object's members `"name":value` in order, each after a comma unless it
/// opens the object (`first`); the caller writes the braces, and any member of its own.
pub fn write_members<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a str, &'a Value)>,
    mut first: bool,
) {
    for (name, value) in entries {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, name);
        out.push(b':');
        write_value(out, value);
    }
}

/// Appends a number as serde_json writes it (`1e+21`, `2.0`, ...).
fn write_number(out: &mut Vec<u8>, n: &Number) {
    // Writing a number into a vector has no way to fail.
    let _ = serde_json::to_writer(&mut *out, n);
}

/// Whether a byte must be escaped inside a JSON string.
fn must_escape(b: u8) -> bool {
    // Bitwise, not short-circuit: the check of a string has no branch per byte.
    (b < 0x20) | (b == b'"') | (b == b'\\')
}

/// Appends `text` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.push(b'"');
    // No early exit either: one pass over the string, then one copy of it.
    let clean = !bytes.iter().fold(false, |seen, &b| seen | must_escape(b));
    if clean {
        out.extend_from_slice(bytes);
    } else {
        write_escaped(out, bytes);
    }
    out.push(b'"');
}

/// The contents of a string that holds something to escape.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !must_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_text_is_what_serde_json_writes_byte_for_byte() {
        // Long text with something to escape at its start, middle and end; every
        // control character; quotes and backslashes; text beyond ASCII (U+2028
        // included, which JSON allows unescaped); numbers of every kind.
        let long = "x".repeat(70);
        let controls: String = (0u8..0x20).map(char::from).collect();
        let texts = [
            format!("\"{long}\\{long}\u{1}"),
            controls,
            "\u{7f} tab\tnew\nline".to_string(),
            format!("Zoë — 東京 \u{2028} 🚀 {long}"),
            String::new(),
        ];
        for text in &texts {
            let value = json!({
                "attributes": {"type": "Lead"},
                text.as_str(): text,
                "Whole": -42, "Big": u64::MAX, "Float": 1.5e-7, "Large": 1e21,
                "Round": 2.0, "None": null, "Yes": true, "No": false,
                "Owner__r": {"Email": text, "List": [1, "two", null, [], {}]}
            });
            let mut ours = Vec::new();
            value.write_json(&mut ours);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
    }
}
