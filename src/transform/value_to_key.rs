//! `ValueToKey`: the key becomes an object of the listed value fields (a missing field
//! gives null). Keys: `fields` (required), `replace.null.with.default`. The value must
//! be an object.

use serde_json::{Map, Value};

use super::config::Settings;
use super::{require_object, Part, RecordError};

/// A configured `ValueToKey`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueToKey {
    fields: Vec<String>,
}

impl ValueToKey {
    /// Reads the sub-keys; `None` when one was refused.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let fields = s.list("fields");
        if fields.is_empty() {
            s.error("fields", "is required: the value fields that form the key");
        }
        s.replace_null_with_default();
        (!s.failed()).then_some(ValueToKey { fields })
    }

    /// The new key, built from `value`.
    pub fn apply(&self, value: &mut Value) -> Result<Value, RecordError> {
        let map = require_object(value, Part::Value, "copying fields from value to key")?;
        let mut key = Map::with_capacity(self.fields.len());
        for f in &self.fields {
            key.insert(f.clone(), map.get(f).cloned().unwrap_or(Value::Null));
        }
        Ok(Value::Object(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::configure;
    use serde_json::json;

    #[test]
    fn builds_the_key_from_value_fields() {
        let t = configure(&[("fields", "Id,Missing")], ValueToKey::configure).unwrap();
        let mut v = json!({"Id": "00Q1", "Name": "x"});
        assert_eq!(
            t.apply(&mut v).unwrap(),
            json!({"Id": "00Q1", "Missing": null})
        );
        assert_eq!(v, json!({"Id": "00Q1", "Name": "x"}));
        assert!(t.apply(&mut Value::Null).is_err());
        assert!(configure(&[], ValueToKey::configure).is_err());
    }
}
