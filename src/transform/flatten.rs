//! `Flatten$Key` / `$Value`: nested objects become top-level fields named by joining
//! the names on the way with `delimiter` (default `.`). Arrays and their contents are
//! left as they are; nulls are kept; a null key or value passes unchanged.

use serde_json::{Map, Value};

use super::config::Settings;
use super::{require_object, Part, RecordError};

/// A configured `Flatten`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatten {
    delimiter: String,
}

impl Flatten {
    /// Reads the sub-keys.
    pub(crate) fn configure(s: &mut Settings<'_>) -> Option<Self> {
        let delimiter = s.raw("delimiter").unwrap_or(".").to_string();
        Some(Flatten { delimiter })
    }

    fn flatten_into(&self, prefix: &str, map: Map<String, Value>, out: &mut Map<String, Value>) {
        for (name, value) in map {
            let full = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}{}{name}", self.delimiter)
            };
            match value {
                Value::Object(inner) => self.flatten_into(&full, inner, out),
                other => {
                    out.insert(full, other);
                }
            }
        }
    }

    /// Flattens `target`.
    pub fn apply(&self, target: &mut Value, part: Part) -> Result<(), RecordError> {
        if target.is_null() {
            return Ok(());
        }
        let map = require_object(target, part, "flattening")?;
        let nested = std::mem::take(map);
        let mut out = Map::with_capacity(nested.len());
        self.flatten_into("", nested, &mut out);
        *map = out;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::configure;
    use serde_json::json;

    #[test]
    fn nested_objects_flatten_with_the_delimiter() {
        let t = configure(&[("delimiter", "_")], Flatten::configure).unwrap();
        let mut v = json!({"Address": {"City": "Leeds", "Geo": {"Lat": 1.5}}, "Tags": [{"a": 1}],
                           "N": null, "Empty": {}});
        t.apply(&mut v, Part::Value).unwrap();
        assert_eq!(
            v,
            json!({"Address_City": "Leeds", "Address_Geo_Lat": 1.5, "Tags": [{"a": 1}], "N": null})
        );
        let t = configure(&[], Flatten::configure).unwrap();
        let mut v = json!({"a": {"b": 1}});
        t.apply(&mut v, Part::Value).unwrap();
        assert_eq!(v, json!({"a.b": 1}));
        assert!(t.apply(&mut json!(3), Part::Value).is_err());
    }
}
