//! The fields of one incoming record, in the order the client sent them. They behave as
//! the JSON object they came from (a repeated name keeps its first place and its last
//! value; removing a field moves the last one into its place, as `serde_json::Map::remove`
//! does) but sit in a plain list: a record is read front to back once, so hashing every
//! name into a table, as a `Map` does while parsing, is wasted work.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// One record's fields, in the client's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordFields(Vec<(String, Value)>);

impl RecordFields {
    /// Sets a field: in place when the exact name is there, else at the end.
    pub fn insert(&mut self, name: String, value: Value) {
        match self.0.iter_mut().find(|(n, _)| same_name(n, &name)) {
            Some((_, slot)) => *slot = value,
            None => self.0.push((name, value)),
        }
    }

    /// Removes the field of this exact name; the last field takes its place.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.swap_remove(i).1)
    }

    /// The fields in order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The value of the first field whose name matches ignoring ASCII case.
    pub fn get_ignore_case(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Removes the first field whose name matches ignoring ASCII case; the last field
    /// takes its place.
    pub fn remove_ignore_case(&mut self, name: &str) -> Option<(String, Value)> {
        let i = self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(self.0.swap_remove(i))
    }
}

/// Exact name equality, settled by length and last byte for most pairs of a record's
/// names, so the scan for a repeated name rarely calls `memcmp`.
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b
}

impl From<Map<String, Value>> for RecordFields {
    fn from(m: Map<String, Value>) -> Self {
        RecordFields(m.into_iter().collect())
    }
}

impl IntoIterator for RecordFields {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// One element of a `records` array: an object's fields, or any other JSON value, which
/// the caller refuses once the whole body has parsed (as when records were plain values).
#[derive(Debug, Clone, PartialEq)]
pub enum RecordInput {
    /// A JSON object.
    Object(RecordFields),
    /// Anything else.
    NotObject,
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = RecordInput;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordInput, A::Error> {
        let mut fields = RecordFields(Vec::with_capacity(map.size_hint().unwrap_or(32)));
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            fields.insert(name, value);
        }
        Ok(RecordInput::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RecordInput, A::Error> {
        // Read the elements as values, so malformed ones fail exactly as before.
        while seq.next_element::<Value>()?.is_some() {}
        Ok(RecordInput::NotObject)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RecordInput, E> {
        Ok(RecordInput::NotObject)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RecordInput, E> {
        Ok(RecordInput::NotObject)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RecordInput, E> {
        Ok(RecordInput::NotObject)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RecordInput, E> {
        Ok(RecordInput::NotObject)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<RecordInput, E> {
        Ok(RecordInput::NotObject)
    }

    fn visit_unit<E: de::Error>(self) -> Result<RecordInput, E> {
        Ok(RecordInput::NotObject)
    }
}

impl<'de> Deserialize<'de> for RecordInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RecordInput, D::Error> {
        deserializer.deserialize_any(RecordVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> RecordInput {
        serde_json::from_str(text).unwrap()
    }

    fn fields(text: &str) -> RecordFields {
        match parse(text) {
            RecordInput::Object(f) => f,
            RecordInput::NotObject => panic!("object expected"),
        }
    }

    fn as_map(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    fn pairs(f: &RecordFields) -> Vec<(String, Value)> {
        f.clone().into_iter().collect()
    }

    #[test]
    fn an_object_parses_in_order_like_a_map_with_repeated_names() {
        let text = r#"{"B": 1, "a": {"x": [1]}, "B": null, "c": "s"}"#;
        let f = fields(text);
        assert_eq!(pairs(&f), pairs(&RecordFields::from(as_map(text))));
        assert_eq!(
            pairs(&f),
            vec![
                ("B".to_string(), Value::Null),
                ("a".to_string(), json!({"x": [1]})),
                ("c".to_string(), json!("s")),
            ]
        );
    }

    #[test]
    fn removing_moves_the_last_field_into_the_gap_as_map_remove_does() {
        let text = r#"{"attributes": {}, "A": 1, "B": 2, "C": 3}"#;
        let mut f = fields(text);
        let mut m = as_map(text);
        assert_eq!(f.remove("attributes"), m.remove("attributes"));
        assert_eq!(pairs(&f), pairs(&RecordFields::from(m.clone())));
        assert_eq!(f.remove_ignore_case("a"), Some(("A".to_string(), json!(1))));
        m.remove("A");
        assert_eq!(pairs(&f), pairs(&RecordFields::from(m.clone())));
        f.insert("B".into(), json!(5));
        f.insert("D".into(), json!(6));
        m.insert("B".into(), json!(5));
        m.insert("D".into(), json!(6));
        assert_eq!(pairs(&f), pairs(&RecordFields::from(m)));
        assert_eq!(f.get_ignore_case("d"), Some(&json!(6)));
        assert_eq!(f.remove("nope"), None);
    }

    #[test]
    fn values_that_are_no_object_parse_as_not_object_and_bad_ones_still_fail() {
        for text in ["1", "-1", "1.5", "\"s\"", "true", "null", "[1, {\"a\": 2}]"] {
            assert_eq!(parse(text), RecordInput::NotObject, "{text}");
        }
        let bad = "[1e400]";
        let as_value = serde_json::from_str::<Value>(bad).unwrap_err().to_string();
        let as_record = serde_json::from_str::<RecordInput>(bad)
            .unwrap_err()
            .to_string();
        assert_eq!(as_record, as_value);
    }
}
