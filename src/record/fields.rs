//! A record's fields by API name, in record order.
//!
//! Every record decoded fills one of these with some tens of fields and every record
//! written walks it once, while lookups by name are few (transforms, CDC, tests). A
//! plain list does the first two without the hashing and the index table a map
//! builds per record; the names of a schema the decoder has learned are shared, not
//! copied, so neither decoding nor freeing a record touches them.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashSet;

/// A field's API name: shared when it comes from a learned schema, else owned.
pub type FieldName = Cow<'static, str>;

/// A record's fields, in record order, names unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    entries: Vec<(FieldName, Value)>,
}

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// No fields yet, room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no field.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|(n, _)| n == name)
    }

    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).map(|at| &self.entries[at].1)
    }

    /// Whether the record has the field.
    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    /// Sets a field, in its place when the record has it (returning the old value),
    /// else at the end.
    pub fn insert(&mut self, name: impl Into<FieldName>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.position(&name) {
            Some(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            None => {
                self.entries.push((name, value));
                None
            }
        }
    }

    /// Appends a field without looking for one of the same name: for decoders, which
    /// call [`Fields::settle_duplicates`] once the record is complete.
    pub(crate) fn push(&mut self, name: FieldName, value: Value) {
        self.entries.push((name, value));
    }

    /// Makes names unique after [`Fields::push`]: a name given twice keeps its first
    /// place and its last value, as a JSON object read into a map does.
    pub(crate) fn settle_duplicates(&mut self) {
        let n = self.entries.len();
        let duplicated = if n <= 16 {
            (1..n).any(|i| {
                self.entries[..i]
                    .iter()
                    .any(|(m, _)| *m == self.entries[i].0)
            })
        } else {
            let mut seen: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
            seen.reserve(n);
            !self.entries.iter().all(|(m, _)| seen.insert(m))
        };
        if duplicated {
            let entries = std::mem::take(&mut self.entries);
            for (name, value) in entries {
                self.insert(name, value);
            }
        }
    }

    /// Takes a field out, keeping the others in order.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let at = self.position(name)?;
        Some(self.entries.remove(at).1)
    }

    /// Names and values in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(n, v)| (n.as_ref(), v))
    }

    /// Names in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_ref())
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (FieldName, Value)>,
        fn(&'a (FieldName, Value)) -> (&'a str, &'a Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(n, v)| (n.as_ref(), v))
    }
}

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Self {
        Self {
            entries: map.into_iter().map(|(n, v)| (Cow::Owned(n), v)).collect(),
        }
    }
}

impl From<Fields> for Map<String, Value> {
    fn from(fields: Fields) -> Self {
        fields
            .entries
            .into_iter()
            .map(|(n, v)| (n.into_owned(), v))
            .collect()
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = Value;

    /// A field's value, `null` when the record does not have it (as `serde_json::Map`).
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (name, value) in &self.entries {
            map.serialize_entry(name.as_ref(), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_name_pushed_twice_keeps_its_first_place_and_its_last_value() {
        for extra in [0, 20] {
            let mut fields = Fields::new();
            fields.push(Cow::Borrowed("A"), json!(1));
            fields.push(Cow::Borrowed("B"), json!(2));
            for i in 0..extra {
                fields.push(Cow::Owned(format!("F{i}")), json!(i));
            }
            fields.push(Cow::Owned("A".to_string()), json!(3));
            fields.settle_duplicates();
            assert_eq!(fields.len(), 2 + extra);
            assert_eq!(fields.keys().take(2).collect::<Vec<_>>(), ["A", "B"]);
            assert_eq!(fields["A"], json!(3));
        }
    }

    #[test]
    fn fields_read_like_the_json_object_they_came_from() {
        let object = json!({"LastName": "Ng", "Title": null, "Address": {"City": "Oslo"}});
        let mut fields = Fields::from(object.as_object().cloned().unwrap());
        assert_eq!(serde_json::to_value(&fields).unwrap(), object);
        assert_eq!(fields.insert("Title", json!("CTO")), Some(Value::Null));
        assert_eq!(fields.remove("LastName"), Some(json!("Ng")));
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["Title", "Address"]);
        assert_eq!(fields["Missing"], Value::Null);
        assert_eq!(
            Map::from(fields),
            json!({"Title": "CTO", "Address": {"City": "Oslo"}})
                .as_object()
                .cloned()
                .unwrap()
        );
    }
}
