//! One record's JSON body as it goes to Salesforce: its fields in order, each name and
//! value borrowed from the record or the target's describe unless the sink changed it.
//!
//! A body lives only from its build until its call is serialised, while the record and
//! the describe it came from are held anyway; borrowing spares an allocation and a free
//! per field of every record written, and keeping the fields in a plain list spares the
//! hashing a map would do for lookups no one makes on the hot path.

use serde_json::{Map, Value};
use std::borrow::Cow;

use super::json_text::{write_members, write_str, WriteJson};

/// A JSON object body, fields in insertion order, names unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Body<'r> {
    /// The SObject written as `"attributes":{"type":T}`, before every field.
    sobject: Option<&'r str>,
    fields: Vec<(Cow<'r, str>, Cow<'r, Value>)>,
}

impl<'r> Body<'r> {
    /// An empty body of a Collections record of `sobject` (its `attributes` first).
    pub fn of_sobject(sobject: &'r str, n: usize) -> Self {
        Self {
            sobject: Some(sobject),
            fields: Vec::with_capacity(n),
        }
    }

    /// Number of fields (`attributes` not counted).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the body has no field (`attributes` aside).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends a field the caller knows is not in the body yet.
    pub fn push_new(&mut self, name: impl Into<Cow<'r, str>>, value: Cow<'r, Value>) {
        self.fields.push((name.into(), value));
    }

    /// Sets a field: in its place when the body has it, else at the end.
    pub fn insert(&mut self, name: impl Into<Cow<'r, str>>, value: Cow<'r, Value>) {
        let name = name.into();
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.fields.push((name, value)),
        }
    }

    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Takes a field out, keeping the others in order.
    pub fn remove(&mut self, name: &str) -> Option<Cow<'r, Value>> {
        let at = self.fields.iter().position(|(n, _)| n == name)?;
        Some(self.fields.remove(at).1)
    }

    /// Field names in order (`attributes` first when it has them).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.sobject
            .map(|_| ATTRIBUTES)
            .into_iter()
            .chain(self.fields.iter().map(|(n, _)| n.as_ref()))
    }

    /// The body as an owned JSON object (for a Bulk API job, which keeps its rows).
    pub fn into_map(self) -> Map<String, Value> {
        let attributes = self
            .sobject
            .map(|t| (ATTRIBUTES.to_string(), serde_json::json!({ "type": t })));
        attributes
            .into_iter()
            .chain(
                self.fields
                    .into_iter()
                    .map(|(n, v)| (n.into_owned(), v.into_owned())),
            )
            .collect()
    }
}

const ATTRIBUTES: &str = "attributes";

impl std::ops::Index<&str> for Body<'_> {
    type Output = Value;

    /// A field's value, `null` when the body does not have it (as `serde_json::Map`);
    /// `attributes` is not a field.
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl WriteJson for Body<'_> {
    /// `attributes` first, when the body has them, then every field in order.
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(t) = self.sobject {
            out.extend_from_slice(b"\"attributes\":{\"type\":");
            write_str(out, t);
            out.push(b'}');
        }
        let fields = self.fields.iter().map(|(n, v)| (n.as_ref(), v.as_ref()));
        write_members(out, fields, self.sobject.is_none());
        out.push(b'}');
    }
}

#[cfg(test)]
impl Body<'_> {
    /// The body's JSON text read back as a value, for tests to compare.
    pub(crate) fn to_json(&self) -> Value {
        let mut text = Vec::new();
        self.write_json(&mut text);
        serde_json::from_slice(&text).expect("a body writes JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_set_again_keeps_its_place_and_the_body_serialises_in_order() {
        let title = json!("VP");
        let mut body = Body::of_sobject("Lead", 3);
        body.push_new("Title", Cow::Borrowed(&title));
        body.insert("LastName", Cow::Owned(json!("Ng")));
        body.insert("Title", Cow::Owned(json!("CTO")));
        assert_eq!(
            body.keys().collect::<Vec<_>>(),
            ["attributes", "Title", "LastName"]
        );
        let mut text = Vec::new();
        body.write_json(&mut text);
        assert_eq!(
            String::from_utf8_lossy(&text),
            r#"{"attributes":{"type":"Lead"},"Title":"CTO","LastName":"Ng"}"#
        );
        let mut bare = Body::default();
        bare.push_new("Name", Cow::Owned(json!("a\"b")));
        text.clear();
        bare.write_json(&mut text);
        assert_eq!(text, br#"{"Name":"a\"b"}"#);
        assert_eq!(body.remove("Title").unwrap().as_ref(), &json!("CTO"));
        assert_eq!(body["Title"], Value::Null);
        assert_eq!(
            body.into_map(),
            json!({"attributes": {"type": "Lead"}, "LastName": "Ng"})
                .as_object()
                .unwrap()
                .clone()
        );
    }
}
