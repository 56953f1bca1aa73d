//! `MaskField$Key` / `$Value`: replace the values of the listed fields.
//!
//! Keys: `fields` (required), `replacement` (optional, non-empty),
//! `replace.null.with.default`. Without a replacement a field gets the empty value of
//! its type: `false`, `0`, `0.0`, `""`, `[]`, `{}`. With one, numbers become the
//! replacement read as a number and strings the replacement text; booleans, arrays and
//! objects cannot take a replacement (the record fails, as in Connect). Null fields stay
//! null; a field the record does not have is not added.

use serde_json::{Map, Number, Value};

use super::config::Settings;
use super::{json_kind, require_object, Part, RecordError};

/// A configured `MaskField`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MaskField {
    fields: Vec<String>,
    replacement: Option<String>,
}

impl MaskField {
    /// Reads the sub-keys; `None` when one was refused.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let fields = s.list("fields");
        if fields.is_empty() {
            s.error("fields", "is required: the names of the fields to mask");
        }
        let replacement = match s.raw("replacement") {
            Some("") => {
                s.error(
                    "replacement",
                    "must not be empty (leave it out to mask with empty values)",
                );
                None
            }
            other => other.map(str::to_string),
        };
        s.replace_null_with_default();
        (!s.failed()).then_some(MaskField {
            fields,
            replacement,
        })
    }

    fn masked(&self, field: &str, part: Part, value: &Value) -> Result<Value, RecordError> {
        let fail = |reason: String| RecordError::field(part, Some(field), reason);
        let Some(replacement) = &self.replacement else {
            return Ok(match value {
                Value::Null => Value::Null,
                Value::Bool(_) => Value::Bool(false),
                Value::Number(n) if n.is_f64() => Value::from(0.0),
                Value::Number(_) => Value::from(0),
                Value::String(_) => Value::from(""),
                Value::Array(_) => Value::Array(Vec::new()),
                Value::Object(_) => Value::Object(Map::new()),
            });
        };
        match value {
            Value::Null => Ok(Value::Null),
            Value::String(_) => Ok(Value::from(replacement.as_str())),
            Value::Number(n) if n.is_f64() => replacement
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| {
                    fail("the replacement is not a number, which this decimal field needs".into())
                }),
            Value::Number(_) => replacement
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| {
                    fail(
                        "the replacement is not a whole number, which this integer field needs"
                            .into(),
                    )
                }),
            other => Err(fail(format!(
                "{} cannot be masked with a replacement (only numbers and strings can)",
                json_kind(other)
            ))),
        }
    }

    /// Masks the configured fields of `target` (the key or value).
    pub fn apply(&self, target: &mut Value, part: Part) -> Result<(), RecordError> {
        let map = require_object(target, part, "mask fields")?;
        for field in &self.fields {
            if let Some(v) = map.get(field) {
                let masked = self.masked(field, part, v)?;
                map.insert(field.clone(), masked);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::configure;
    use serde_json::json;

    fn mask(pairs: &[(&str, &str)], mut v: Value) -> Result<Value, RecordError> {
        let t = configure(pairs, MaskField::configure).unwrap();
        t.apply(&mut v, Part::Value).map(|()| v)
    }

    #[test]
    fn empty_values_by_type() {
        let v = json!({"b": true, "i": 42, "f": 1.5, "s": "secret", "a": [1], "o": {"x": 1},
                       "n": null, "keep": "k"});
        let out = mask(&[("fields", "b,i,f,s,a,o,n,absent")], v).unwrap();
        assert_eq!(
            out,
            json!({"b": false, "i": 0, "f": 0.0, "s": "", "a": [], "o": {}, "n": null, "keep": "k"})
        );
    }

    #[test]
    fn replacement_by_type() {
        let out = mask(
            &[("fields", "s,i,f"), ("replacement", "9")],
            json!({"s": "x", "i": 1, "f": 2.5}),
        )
        .unwrap();
        assert_eq!(out, json!({"s": "9", "i": 9, "f": 9.0}));
        let e = mask(&[("fields", "i"), ("replacement", "***")], json!({"i": 1})).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("field i: the replacement is not a whole number"),
            "{e}"
        );
        let e = mask(&[("fields", "b"), ("replacement", "x")], json!({"b": true})).unwrap_err();
        assert!(e.to_string().contains("a boolean cannot be masked"), "{e}");
    }

    #[test]
    fn configuration_rules_and_tombstones() {
        assert!(configure(&[], MaskField::configure).is_err());
        assert!(configure(
            &[("fields", "a"), ("replacement", "")],
            MaskField::configure
        )
        .is_err());
        let e = mask(&[("fields", "a")], Value::Null).unwrap_err();
        assert!(
            matches!(e, RecordError::NotAnObject { found: "null", .. }),
            "{e}"
        );
    }
}
