//! `InsertField$Key` / `$Value`: add the record's topic, partition, offset, timestamp
//! or a static string as fields.
//!
//! Keys: `topic.field`, `partition.field`, `offset.field`, `timestamp.field`,
//! `static.field` with `static.value`, `replace.null.with.default`. A field name may end
//! in `!` (required) or `?` (optional, the default); the suffix only matters to a
//! schema, so it is removed. The timestamp is inserted as epoch milliseconds, as
//! Connect does for schemaless records; a null key or value passes unchanged.

use serde_json::Value;

use super::config::Settings;
use super::record::RecordMeta;
use super::{require_object, Part, RecordError};

/// A configured `InsertField`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InsertField {
    topic: Option<String>,
    partition: Option<String>,
    offset: Option<String>,
    timestamp: Option<String>,
    static_field: Option<(String, String)>,
}

/// A field name without its `!`/`?` optionality suffix.
fn field_name(s: &mut Settings<'_>, key: &'static str) -> Option<String> {
    let raw = s.string(key)?;
    let name = raw
        .strip_suffix('!')
        .or_else(|| raw.strip_suffix('?'))
        .unwrap_or(&raw)
        .to_string();
    if name.is_empty() {
        s.error(key, "needs a field name before the ! or ? suffix");
        return None;
    }
    Some(name)
}

impl InsertField {
    /// Reads the sub-keys; `None` when one was refused.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let topic = field_name(s, "topic.field");
        let partition = field_name(s, "partition.field");
        let offset = field_name(s, "offset.field");
        let timestamp = field_name(s, "timestamp.field");
        let static_name = field_name(s, "static.field");
        let static_value = s.raw("static.value").map(str::to_string);
        let static_field = match (static_name, static_value) {
            (Some(name), Some(value)) => Some((name, value)),
            (Some(_), None) => {
                s.error("static.value", "is required when static.field is set");
                None
            }
            (None, Some(_)) => {
                s.error(
                    "static.value",
                    "is set, but static.field (the field to put it in) is not",
                );
                None
            }
            (None, None) => None,
        };
        s.replace_null_with_default();
        if topic.is_none()
            && partition.is_none()
            && offset.is_none()
            && timestamp.is_none()
            && static_field.is_none()
            && !s.failed()
        {
            s.error(
                "type",
                "no field insertion configured: set topic.field, partition.field, offset.field, timestamp.field or static.field",
            );
        }
        (!s.failed()).then_some(InsertField {
            topic,
            partition,
            offset,
            timestamp,
            static_field,
        })
    }

    /// Inserts the configured fields into `target` (the key or value).
    pub fn apply(
        &self,
        target: &mut Value,
        part: Part,
        meta: &RecordMeta,
    ) -> Result<(), RecordError> {
        if target.is_null() {
            return Ok(());
        }
        let map = require_object(target, part, "field insertion")?;
        if let Some(f) = &self.topic {
            map.insert(f.clone(), Value::from(&*meta.coords.topic));
        }
        if let Some(f) = &self.partition {
            map.insert(f.clone(), Value::from(meta.coords.partition));
        }
        if let Some(f) = &self.offset {
            map.insert(f.clone(), Value::from(meta.coords.offset));
        }
        if let (Some(f), Some(ts)) = (&self.timestamp, meta.timestamp) {
            map.insert(f.clone(), Value::from(ts));
        }
        if let Some((f, v)) = &self.static_field {
            map.insert(f.clone(), Value::from(v.as_str()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::record::test_record;
    use crate::transform::test_support::configure;
    use serde_json::json;

    #[test]
    fn inserts_metadata_and_static_fields() {
        let t = configure(
            &[
                ("topic.field", "t!"),
                ("partition.field", "p?"),
                ("offset.field", "o"),
                ("timestamp.field", "ts"),
                ("static.field", "_ObjectType"),
                ("static.value", "Lead"),
            ],
            InsertField::configure,
        )
        .unwrap();
        let mut r = test_record(json!({"a": 1}));
        t.apply(&mut r.value, Part::Value, &r.meta).unwrap();
        assert_eq!(
            r.value,
            json!({"a": 1, "t": "leads", "p": 0, "o": 7, "ts": 1000, "_ObjectType": "Lead"})
        );
    }

    #[test]
    fn no_timestamp_means_no_field_and_null_passes() {
        let t = configure(&[("timestamp.field", "ts")], InsertField::configure).unwrap();
        let mut r = test_record(json!({}));
        r.meta.timestamp = None;
        t.apply(&mut r.value, Part::Value, &r.meta).unwrap();
        assert_eq!(r.value, json!({}));
        let mut null = Value::Null;
        t.apply(&mut null, Part::Value, &r.meta).unwrap();
        assert_eq!(null, Value::Null);
        let e = t.apply(&mut json!([1]), Part::Value, &r.meta).unwrap_err();
        assert!(matches!(e, RecordError::NotAnObject { .. }));
    }

    #[test]
    fn configuration_rules() {
        let e = configure(&[], InsertField::configure).unwrap_err();
        assert!(e[0].1.contains("no field insertion configured"), "{e:?}");
        let e = configure(&[("static.field", "x")], InsertField::configure).unwrap_err();
        assert!(e[0].0.ends_with("static.value"), "{e:?}");
        let e = configure(&[("static.value", "x")], InsertField::configure).unwrap_err();
        assert!(e[0].0.ends_with("static.value"), "{e:?}");
        let e = configure(&[("topic.field", "!")], InsertField::configure).unwrap_err();
        assert!(e[0].0.ends_with("topic.field"), "{e:?}");
    }
}
