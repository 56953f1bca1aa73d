//! A reader for Java `.properties` text, the format of standalone worker and connector
//! files, following the rules of `java.util.Properties.load(Reader)`.
//!
//! Covered: `#`/`!` comment lines, `=`/`:`/whitespace separators, escapes (`\t \n \r \f`,
//! `\uXXXX` including surrogate pairs, and a backslash before any other character
//! standing for that character), line continuations (a line ending in an odd number of
//! backslashes goes on in the next line, whose leading whitespace is dropped), and
//! "last one wins" for repeated keys in the map form. The input is taken as already
//! decoded text (UTF-8 files), as `load(Reader)` does.

use std::collections::BTreeMap;

/// A line that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PropertiesError {
    /// 1-based number of the natural line where the problem is.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses `.properties` text into `(key, value)` pairs in file order (repeats kept).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, PropertiesError> {
    let lines = natural_lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&(first_no, first)) = lines.get(i) {
        i += 1;
        let start = first.trim_start_matches(is_blank);
        if start.is_empty() || start.starts_with('#') || start.starts_with('!') {
            continue;
        }
        // Join continuation lines into one logical line; remember where each natural
        // line begins so an error can name the right one.
        let mut logical: Vec<(char, usize)> = Vec::with_capacity(start.len());
        let mut current = start;
        let mut current_no = first_no;
        loop {
            let continues = ends_with_odd_backslashes(current);
            let body = if continues {
                &current[..current.len() - 1]
            } else {
                current
            };
            logical.extend(body.chars().map(|c| (c, current_no)));
            if !continues {
                break;
            }
            match lines.get(i) {
                Some(&(no, next)) => {
                    i += 1;
                    current = next.trim_start_matches(is_blank);
                    current_no = no;
                }
                None => break,
            }
        }
        out.push(parse_logical_line(&logical)?);
    }
    Ok(out)
}

/// Parses `.properties` text into a map; a key given twice keeps its last value.
pub fn parse_map(text: &str) -> Result<BTreeMap<String, String>, PropertiesError> {
    Ok(parse(text)?.into_iter().collect())
}

/// Whitespace as `Properties` defines it: space, tab, form feed.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

/// Splits on `\n`, `\r\n` and `\r`, numbering lines from 1.
fn natural_lines(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes.get(idx) {
            Some(b'\n') => {
                lines.push(&text[start..idx]);
                start = idx + 1;
            }
            Some(b'\r') => {
                lines.push(&text[start..idx]);
                if bytes.get(idx + 1) == Some(&b'\n') {
                    idx += 1;
                }
                start = idx + 1;
            }
            _ => {}
        }
        idx += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(n, l)| (n + 1, l))
        .collect()
}

fn ends_with_odd_backslashes(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits one logical line into its key and value, decoding escapes in both.
fn parse_logical_line(chars: &[(char, usize)]) -> Result<(String, String), PropertiesError> {
    let mut pos = 0;
    let key = unescape(chars, &mut pos, true)?;
    // Separator: optional whitespace, at most one '=' or ':', optional whitespace.
    while chars.get(pos).is_some_and(|&(c, _)| is_blank(c)) {
        pos += 1;
    }
    if chars.get(pos).is_some_and(|&(c, _)| c == '=' || c == ':') {
        pos += 1;
    }
    while chars.get(pos).is_some_and(|&(c, _)| is_blank(c)) {
        pos += 1;
    }
    let value = unescape(chars, &mut pos, false)?;
    Ok((key, value))
}

/// Decodes from `*pos`; for a key, stops before the first unescaped separator.
fn unescape(
    chars: &[(char, usize)],
    pos: &mut usize,
    is_key: bool,
) -> Result<String, PropertiesError> {
    let mut out = String::new();
    while let Some(&(c, line)) = chars.get(*pos) {
        if is_key && (c == '=' || c == ':' || is_blank(c)) {
            break;
        }
        *pos += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&(escaped, _)) = chars.get(*pos) else {
            // A lone trailing backslash (continuation at end of input) adds nothing.
            break;
        };
        *pos += 1;
        match escaped {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' => {
                let unit = read_hex4(chars, pos, line)?;
                out.push(decode_utf16_unit(unit, chars, pos, line)?);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Reads the four hex digits after `\u`.
fn read_hex4(
    chars: &[(char, usize)],
    pos: &mut usize,
    line: usize,
) -> Result<u16, PropertiesError> {
    let mut unit: u16 = 0;
    for _ in 0..4 {
        let digit = chars
            .get(*pos)
            .and_then(|&(c, _)| c.to_digit(16))
            .ok_or_else(|| PropertiesError {
                line,
                message: "malformed \\uXXXX escape: four hex digits expected".to_string(),
            })?;
        *pos += 1;
        unit = (unit << 4) | digit as u16;
    }
    Ok(unit)
}

/// Turns a UTF-16 unit into a char; a high surrogate must be followed by `\uDC00`-`\uDFFF`.
fn decode_utf16_unit(
    unit: u16,
    chars: &[(char, usize)],
    pos: &mut usize,
    line: usize,
) -> Result<char, PropertiesError> {
    let lone = || PropertiesError {
        line,
        message: format!("\\u{unit:04X} is half of a surrogate pair with no matching half"),
    };
    match unit {
        0xD800..=0xDBFF => {
            let follows_escape = matches!(
                (chars.get(*pos), chars.get(*pos + 1)),
                (Some(&('\\', _)), Some(&('u', _)))
            );
            if !follows_escape {
                return Err(lone());
            }
            *pos += 2;
            let low = read_hex4(chars, pos, line)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return Err(lone());
            }
            let code = 0x10000 + (((unit as u32) - 0xD800) << 10) + ((low as u32) - 0xDC00);
            char::from_u32(code).ok_or_else(lone)
        }
        0xDC00..=0xDFFF => Err(lone()),
        _ => char::from_u32(unit as u32).ok_or_else(lone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> (String, String) {
        let mut pairs = parse(text).unwrap();
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        pairs.remove(0)
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn hash_and_bang_lines_are_comments() {
        let pairs = parse("# a comment\n   ! another\n\na=1\n").unwrap();
        assert_eq!(pairs, vec![kv("a", "1")]);
    }

    #[test]
    fn equals_colon_and_whitespace_all_separate_key_from_value() {
        assert_eq!(one("a=1"), kv("a", "1"));
        assert_eq!(one("a:1"), kv("a", "1"));
        assert_eq!(one("a 1"), kv("a", "1"));
        assert_eq!(one("a \t = 1"), kv("a", "1"));
        assert_eq!(one("a : 1"), kv("a", "1"));
        // Only one separator character is consumed; a second belongs to the value.
        assert_eq!(one("a==1"), kv("a", "=1"));
        assert_eq!(one("a = = 1"), kv("a", "= 1"));
    }

    #[test]
    fn leading_whitespace_is_dropped_and_trailing_whitespace_kept() {
        assert_eq!(one("   \t key = value  "), kv("key", "value  "));
    }

    #[test]
    fn a_key_alone_has_an_empty_value() {
        assert_eq!(one("lonely"), kv("lonely", ""));
        assert_eq!(one("empty="), kv("empty", ""));
        assert_eq!(one("empty   :   "), kv("empty", ""));
    }

    #[test]
    fn character_escapes_decode() {
        assert_eq!(one(r"k=a\tb\nc\rd\fe"), kv("k", "a\tb\nc\rd\u{c}e"));
        assert_eq!(one(r"k=back\\slash"), kv("k", r"back\slash"));
        assert_eq!(one(r"k=\=\:\#\!"), kv("k", "=:#!"));
        assert_eq!(one(r"k=\ leading space"), kv("k", " leading space"));
        // Any other escaped character stands for itself.
        assert_eq!(one(r"k=\q"), kv("k", "q"));
    }

    #[test]
    fn unicode_escapes_decode_including_surrogate_pairs() {
        assert_eq!(one(r"k=caf\u00e9"), kv("k", "café"));
        assert_eq!(one(r"k=\uD83D\uDE00!"), kv("k", "😀!"));
        assert_eq!(one("k=naïve"), kv("k", "naïve"));
    }

    #[test]
    fn malformed_unicode_escape_names_its_line() {
        let err = parse("a=1\nb=\\u12G4\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("hex"), "{err}");
        let err = parse("\n\nc=\\uD83Dx").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("surrogate"), "{err}");
        assert!(parse("c=\\uDE00").is_err());
    }

    #[test]
    fn odd_trailing_backslashes_continue_the_line_without_next_indent() {
        assert_eq!(one("list=a,\\\n      b,\\\n\tc"), kv("list", "a,b,c"));
        // An even number is an escaped backslash: no continuation.
        let pairs = parse("a=x\\\\\nb=y").unwrap();
        assert_eq!(pairs, vec![kv("a", "x\\"), kv("b", "y")]);
        // Three: one escaped backslash, then a continuation.
        assert_eq!(one("a=x\\\\\\\n  y"), kv("a", "x\\y"));
    }

    #[test]
    fn continuation_line_starting_with_hash_is_content_not_a_comment() {
        assert_eq!(one("a=1\\\n#2"), kv("a", "1#2"));
    }

    #[test]
    fn continuation_at_end_of_input_is_harmless() {
        assert_eq!(one("a=1\\"), kv("a", "1"));
    }

    #[test]
    fn continuation_error_names_the_continued_line() {
        let err = parse("a=ok,\\\n  \\u00zz").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn keys_may_hold_escaped_separators() {
        assert_eq!(one(r"a\=b\:c\ d=v"), kv("a=b:c d", "v"));
    }

    #[test]
    fn crlf_and_cr_line_ends_are_accepted() {
        let pairs = parse("a=1\r\nb=2\rc=3").unwrap();
        assert_eq!(pairs, vec![kv("a", "1"), kv("b", "2"), kv("c", "3")]);
    }

    #[test]
    fn last_value_wins_in_the_map() {
        let map = parse_map("a=1\nb=2\na=3\n").unwrap();
        assert_eq!(map.get("a").map(String::as_str), Some("3"));
        assert_eq!(map.len(), 2);
        // The ordered form keeps both.
        assert_eq!(parse("a=1\na=3").unwrap().len(), 2);
    }
}
