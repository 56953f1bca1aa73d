//! Connect schemas of JsonConverter envelopes, parsed once and reused.
//!
//! Every record of a topic repeats the same schema in front of its payload, often
//! longer than the payload itself. JsonConverter writes the envelope compactly, as
//! `{"schema":SCHEMA,"payload":PAYLOAD}`, so a record whose bytes start with a schema
//! text seen before (compared byte for byte) needs only its payload parsed; the schema
//! is the one parsed when that text was first seen.
//!
//! A schema is learned after a record carrying it decoded in full, and its fields
//! (nested struct fields too) are read once then. Learned schemas are kept for the
//! life of the process (the fields borrow the tape, which borrows the text, so all
//! three live in memory that is never freed), at most [`MAX_SCHEMAS`] distinct texts
//! in all: a topic whose schema keeps changing past that is decoded in full, record
//! by record, as before.
//! Each decoding thread looks through its own short list, newest first; a schema that
//! fell off that list is taken back from the process-wide registry, not learned again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

use parking_lot::Mutex;

use simd_json::Tape;

use super::error::Part;
use super::schema::{CompiledFields, SchemaWalker};

/// How many schemas the process keeps in all.
pub const MAX_SCHEMAS: usize = 256;

/// How many schemas one decoding thread looks through before parsing in full.
const PER_THREAD: usize = 8;

/// What a compact envelope starts with.
const PREFIX: &[u8] = b"{\"schema\":";

/// What separates the schema from the payload in a compact envelope.
const SEPARATOR: &[u8] = b",\"payload\":";

/// One learned schema: its text as it appears in records, and its fields read from
/// its parsed tape.
pub struct CachedSchema {
    text: &'static [u8],
    fields: CompiledFields<'static, 'static>,
}

impl CachedSchema {
    /// The schema's top-level fields, to walk a payload with.
    pub fn fields(&self) -> &CompiledFields<'static, 'static> {
        &self.fields
    }
}

/// Every schema text any thread has learned, with its compiled schema, or `None` for a
/// text that parses but has no struct fields to compile, or names a field twice (so
/// that it is not tried, and its memory not taken, again).
type Registry = HashMap<&'static [u8], Option<&'static CachedSchema>>;

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| Mutex::new(HashMap::new()));

thread_local! {
    static KNOWN: RefCell<Vec<&'static CachedSchema>> = const { RefCell::new(Vec::new()) };
}

/// The learned schema a compact envelope starts with, and its payload's bytes (what
/// lies between the separator and the envelope's closing brace); `None` when the
/// record is not a compact envelope or its schema text is not one this thread knows.
pub fn split(bytes: &[u8]) -> Option<(&'static CachedSchema, &[u8])> {
    let rest = bytes.strip_prefix(PREFIX)?;
    KNOWN.with(|known| {
        known.borrow().iter().rev().find_map(|schema| {
            let payload = rest
                .strip_prefix(schema.text)?
                .strip_prefix(SEPARATOR)?
                .trim_ascii_end()
                .strip_suffix(b"}")?;
            Some((*schema, payload))
        })
    })
}

/// Remembers the schema of `bytes`, a compact envelope that just decoded in full, for
/// the records after it. Does nothing for other shapes, for a schema text that is not
/// a JSON value on its own, or for a new text once [`MAX_SCHEMAS`] are kept (a text
/// learned before, by any thread, is still taken back).
pub fn learn(bytes: &[u8]) {
    let Some(rest) = bytes.strip_prefix(PREFIX) else {
        return;
    };
    // The first separator ends the schema: an earlier one would sit inside a string or
    // a nested object, where the text before it is not a complete JSON value.
    let Some(end) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) else {
        return;
    };
    let text = &rest[..end];
    let schema = {
        let mut registry = REGISTRY.lock();
        match registry.get(text) {
            Some(known) => *known,
            None if registry.len() >= MAX_SCHEMAS => return,
            None => {
                // A text that is not a JSON value on its own takes no memory for good.
                if simd_json::to_tape(&mut text.to_vec()).is_err() {
                    return;
                }
                let text: &'static [u8] = Box::leak(text.to_vec().into_boxed_slice());
                let compiled = compile(text);
                registry.insert(text, compiled);
                compiled
            }
        }
    };
    let Some(schema) = schema else {
        return;
    };
    KNOWN.with(|known| {
        let mut known = known.borrow_mut();
        if known.len() == PER_THREAD {
            known.remove(0);
        }
        known.push(schema);
    });
}

/// Parses a schema text that is known to be JSON and compiles its top-level fields;
/// `None` when it has none to compile (it is not a struct, say) or names a field
/// twice: a learned schema's names are unique, so its records need no check for a
/// name given twice.
fn compile(text: &'static [u8]) -> Option<&'static CachedSchema> {
    let parsed: &'static mut [u8] = Box::leak(text.to_vec().into_boxed_slice());
    let tape = simd_json::to_tape(parsed).ok()?;
    let tape: &'static Tape<'static> = Box::leak(Box::new(tape));
    let walker = SchemaWalker { part: Part::Value };
    let fields = walker.root_struct_fields(tape.as_value()).ok()??;
    let fields = walker.compile(&fields).ok()?;
    let unique = fields
        .iter()
        .enumerate()
        .all(|(i, field)| fields[..i].iter().all(|other| other.name() != field.name()));
    if !unique {
        return None;
    }
    Some(Box::leak(Box::new(CachedSchema { text, fields })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learned_schema_splits_later_envelopes_with_that_exact_text() {
        let first =
            br#"{"schema":{"type":"struct","name":"split.test.A","fields":[]},"payload":{"a":1}}"#;
        assert!(split(first).is_none(), "nothing learned yet");
        learn(first);
        let (schema, payload) = split(
            br#"{"schema":{"type":"struct","name":"split.test.A","fields":[]},"payload":{"a":2}} "#,
        )
        .expect("same schema text");
        assert_eq!(payload, br#"{"a":2}"#);
        assert!(schema.fields().is_empty(), "the test schema has no fields");
        // One byte of difference in the schema, or another layout, is not a hit.
        assert!(split(
            br#"{"schema":{"type":"struct","name":"split.test.B","fields":[]},"payload":{"a":2}}"#
        )
        .is_none());
        assert!(split(
            br#"{ "schema":{"type":"struct","name":"split.test.A","fields":[]},"payload":{"a":2}}"#
        )
        .is_none());
        // A cut-off envelope still splits; its payload then fails to parse, and the
        // decoder reports the envelope's error from a full parse.
        let (_, cut) = split(
            br#"{"schema":{"type":"struct","name":"split.test.A","fields":[]},"payload":{"a":2}"#,
        )
        .expect("same schema text");
        assert_eq!(cut, br#"{"a":2"#);
    }

    #[test]
    fn a_schema_that_fell_off_a_thread_s_list_is_taken_back_not_learned_again() {
        let envelope = |name: &str| {
            format!(
                r#"{{"schema":{{"type":"struct","name":"{name}","fields":[]}},"payload":{{}}}}"#
            )
        };
        let first = envelope("again.test.A");
        learn(first.as_bytes());
        let (learned, _) = split(first.as_bytes()).expect("learned");
        for i in 0..PER_THREAD {
            learn(envelope(&format!("again.test.other{i}")).as_bytes());
        }
        assert!(
            split(first.as_bytes()).is_none(),
            "pushed off this thread's list"
        );
        learn(first.as_bytes());
        let (again, _) = split(first.as_bytes()).expect("known again");
        assert!(
            std::ptr::eq(learned, again),
            "the same schema, not a second copy"
        );
    }

    #[test]
    fn a_separator_inside_the_schema_is_not_taken_for_its_end() {
        // A raw quote cannot sit inside a JSON string, so the separator can only
        // appear early as a key of a nested object: the text before it is then cut
        // short and nothing is learned.
        let tricky = br#"{"schema":{"type":"struct","x":{"a":1,"payload":2},"name":"split.test.C","fields":[]},"payload":{"a":1}}"#;
        learn(tricky);
        let again = br#"{"schema":{"type":"struct","x":{"a":1,"payload":2},"name":"split.test.C","fields":[]},"payload":{"a":3}}"#;
        assert!(split(again).is_none());
    }
}
