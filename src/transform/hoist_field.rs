//! `HoistField$Key` / `$Value`: wrap the key or value (null included) in an object
//! with one field. Key: `field` (required).

use serde_json::{Map, Value};

use super::config::Settings;

/// A configured `HoistField`.
#[derive(Debug, Clone, PartialEq)]
pub struct HoistField {
    field: String,
}

impl HoistField {
    /// Reads the sub-keys; `None` when one was refused.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let field = s.required("field")?;
        Some(HoistField { field })
    }

    /// Wraps `target`.
    pub fn apply(&self, target: &mut Value) {
        let inner = std::mem::take(target);
        let mut map = Map::with_capacity(1);
        map.insert(self.field.clone(), inner);
        *target = Value::Object(map);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::configure;
    use serde_json::json;

    #[test]
    fn wraps_anything() {
        let t = configure(&[("field", "line")], HoistField::configure).unwrap();
        for (input, output) in [
            (json!(42), json!({"line": 42})),
            (json!({"a": 1}), json!({"line": {"a": 1}})),
            (Value::Null, json!({"line": null})),
        ] {
            let mut v = input;
            t.apply(&mut v);
            assert_eq!(v, output);
        }
        assert!(configure(&[], HoistField::configure).is_err());
    }
}
