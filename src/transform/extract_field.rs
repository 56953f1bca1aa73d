//! `ExtractField$Key` / `$Value`: replace the key or value with one of its top-level
//! fields.
//!
//! Keys: `field` (required), `field.syntax.version` (`V1`, the default: the name is
//! taken literally; `V2`'s nested paths are refused), `replace.null.with.default`. A
//! null key or value passes unchanged; a missing field gives null.

use serde_json::Value;

use super::config::Settings;
use super::{require_object, Part, RecordError};

/// A configured `ExtractField`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractField {
    field: String,
}

impl ExtractField {
    /// Reads the sub-keys; `None` when one was refused.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let field = s.required("field");
        match s.string("field.syntax.version") {
            None => {}
            Some(v) if v.eq_ignore_ascii_case("V1") => {}
            Some(v) if v.eq_ignore_ascii_case("V2") => s.error(
                "field.syntax.version",
                "V2 (nested field paths) is not supported; use V1 with a top-level field name",
            ),
            Some(_) => s.error("field.syntax.version", "must be V1 or V2"),
        }
        s.replace_null_with_default();
        let field = field?;
        (!s.failed()).then_some(ExtractField { field })
    }

    /// Replaces `target` with its field.
    pub fn apply(&self, target: &mut Value, part: Part) -> Result<(), RecordError> {
        if target.is_null() {
            return Ok(());
        }
        let map = require_object(target, part, "field extraction")?;
        let extracted = map.remove(&self.field).unwrap_or(Value::Null);
        *target = extracted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::configure;
    use serde_json::json;

    fn extract(mut v: Value) -> Result<Value, RecordError> {
        let t = configure(&[("field", "magic")], ExtractField::configure).unwrap();
        t.apply(&mut v, Part::Key).map(|()| v)
    }

    #[test]
    fn extracts_the_field() {
        assert_eq!(extract(json!({"magic": 42, "x": 1})).unwrap(), json!(42));
        assert_eq!(extract(json!({"x": 1})).unwrap(), Value::Null);
        assert_eq!(extract(Value::Null).unwrap(), Value::Null);
    }

    #[test]
    fn a_non_object_fails() {
        let e = extract(json!("text")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the record key must be a JSON object for field extraction, but it is a string"
        );
    }

    #[test]
    fn configuration_rules() {
        assert!(configure(&[], ExtractField::configure).is_err());
        let e = configure(
            &[("field", "a"), ("field.syntax.version", "V2")],
            ExtractField::configure,
        )
        .unwrap_err();
        assert!(e[0].1.contains("V2"), "{e:?}");
        assert!(configure(
            &[("field", "a"), ("field.syntax.version", "v1")],
            ExtractField::configure
        )
        .is_ok());
    }
}
