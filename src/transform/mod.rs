//! Kafka Connect Single Message Transforms (SMTs) and predicates, with Connect's class
//! names, keys and semantics, applied to each record after decoding and before the
//! sink's own field rules.
//!
//! Transforms work on a [`ConnectRecord`]: topic, partition, offset, timestamp, header
//! names, key and value, where key and value are the schemaless JSON form the
//! converters produce (Connect logical types are already text: Timestamp as ISO-8601
//! UTC with milliseconds, Date as `YYYY-MM-DD`, Time as `HH:MM:SS.sssZ`). This is the
//! form Connect's transforms see with `schemas.enable=false`; for records that carried
//! a schema, fields absent from the value stay absent (as they would be in a Connect
//! struct), rather than being added as `null`.
//!
//! - [`config`] reads `transforms`, `transforms.<alias>.*`, `predicates` and
//!   `predicates.<alias>.*`, refusing anything not built in;
//! - [`chain`] applies the transforms in order, each under its predicate;
//! - [`record`] builds the Connect-like record from the raw bytes and turns the result
//!   back into a [`crate::record::SinkRecord`];
//! - one file per transform family, plus [`predicate`].

use serde_json::Value;

pub use crate::record::Part;

pub mod cast;
pub mod chain;
pub mod config;
mod date_pattern;
pub mod extract_field;
pub mod flatten;
pub mod hoist_field;
pub mod insert_field;
pub mod mask_field;
pub mod predicate;
pub mod record;
pub mod replace_field;
pub mod timestamp_converter;
pub mod value_to_key;

pub use chain::TransformChain;

/// Why a transform could not be applied to one record. Messages name fields and
/// types, never field contents (records carry personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The key or value is not the JSON object the transform works on.
    #[error("the record {part} must be a JSON object for {purpose}, but it is {found}")]
    NotAnObject {
        /// Key or value.
        part: Part,
        /// What the transform was doing.
        purpose: &'static str,
        /// What it is instead.
        found: &'static str,
    },
    /// One field (or the whole key or value) cannot be transformed.
    #[error("{target}: {reason}")]
    Field {
        /// `field F`, or `the record value` for a whole-value operation.
        target: String,
        /// What is wrong.
        reason: String,
    },
}

impl RecordError {
    /// A problem with `field` of the key or value; `None` names the whole key or value.
    pub(crate) fn field(part: Part, field: Option<&str>, reason: impl Into<String>) -> Self {
        RecordError::Field {
            target: match field {
                Some(f) => format!("field {f}"),
                None => format!("the record {part}"),
            },
            reason: reason.into(),
        }
    }
}

/// A transform that failed on a record: names the transform alias and its class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transform {alias} ({class}) failed: {reason}")]
pub struct TransformError {
    /// The alias from `transforms`.
    pub alias: String,
    /// The transform's class name.
    pub class: String,
    /// Why.
    pub reason: RecordError,
}

/// "a string", "an object", ... for messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The key or value as an object, or the error Connect raises for non-maps.
pub(crate) fn require_object<'v>(
    value: &'v mut Value,
    part: Part,
    purpose: &'static str,
) -> Result<&'v mut serde_json::Map<String, Value>, RecordError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RecordError::NotAnObject {
            part,
            purpose,
            found: json_kind(other),
        }),
    }
}

/// Helpers for the transforms' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::config::Settings;
    use std::collections::BTreeMap;

    /// Configures one transform from its sub-keys (without the `transforms.t.`
    /// prefix); `Err` lists each refused key with its message.
    pub(crate) fn configure<T>(
        pairs: &[(&str, &str)],
        build: impl FnOnce(&mut Settings<'_>) -> Option<T>,
    ) -> Result<T, Vec<(String, String)>> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (format!("transforms.t.{k}"), v.to_string()))
            .collect();
        let mut s = Settings::new(&map, "transforms.t.".into(), "transform t (test)".into());
        let built = build(&mut s);
        let mut problems = Vec::new();
        s.finish(&[], &mut problems);
        match built {
            Some(t) if problems.is_empty() => Ok(t),
            _ => Err(problems.into_iter().map(|p| (p.key, p.message)).collect()),
        }
    }
}
