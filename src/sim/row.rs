//! One SObject's rows as the store keeps them: each value at its field's position in the
//! SObject's field list, with the field names held once per table ([`Columns`]) instead
//! of once per row, and the conversions to and from the JSON map a row is read out as
//! (admin API, snapshots) or loaded from.

use crate::sim::fast_hash::FastMap;
use crate::sim::schema::SObjectDef;
use crate::sim::store::{Row, WriteRecord};
use serde_json::{Map, Value};

/// The field names of one SObject's rows, in the SObject's field order.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    names: Vec<String>,
    positions: FastMap<String, usize>,
}

/// Where a named field is kept in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// At this position of the SObject's fields.
    Column(usize),
    /// Under a name that is no field of the SObject.
    Extra(String),
}

impl Columns {
    /// The columns of an SObject's fields.
    pub fn new(sobject: &SObjectDef) -> Columns {
        let mut columns = Columns::default();
        columns.follow(sobject);
        columns
    }

    /// Takes the SObject's current field names (fields are only ever added or replaced in
    /// place). Returns the positions whose name changed, with the former name.
    pub fn follow(&mut self, sobject: &SObjectDef) -> Vec<(usize, String)> {
        let mut renamed = Vec::new();
        for (i, f) in sobject.fields.iter().enumerate() {
            match self.names.get_mut(i) {
                Some(name) if *name == f.name => {}
                Some(name) => renamed.push((i, std::mem::replace(name, f.name.clone()))),
                None => self.names.push(f.name.clone()),
            }
        }
        self.positions = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        renamed
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the SObject has no field.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The column of a field, by its exact name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.positions.get(name).copied()
    }

    /// Where a field of this exact name is kept.
    pub fn slot(&self, name: &str) -> Slot {
        match self.position(name) {
            Some(i) => Slot::Column(i),
            None => Slot::Extra(name.to_string()),
        }
    }
}

/// One row as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    /// 18-character Id.
    pub id: String,
    /// Creation order within the org.
    pub seq: u64,
    /// In the Recycle Bin.
    pub deleted: bool,
    /// Values by column, `None` where never set; shorter than the columns when fields were
    /// added after the row was written.
    values: Vec<Option<Value>>,
    /// Values under names that are no column: rows loaded from a snapshot of another
    /// schema, or kept under a field's former name.
    extra: Vec<(String, Value)>,
    /// Writes so far, when history recording is on.
    pub history: Vec<WriteRecord>,
}

impl StoredRow {
    /// A row with values by column.
    pub fn new(id: String, seq: u64, values: Vec<Option<Value>>) -> StoredRow {
        StoredRow {
            id,
            seq,
            deleted: false,
            values,
            extra: Vec::new(),
            history: Vec::new(),
        }
    }

    /// A row from its JSON form: fields named like a column go there, others are kept
    /// under their names.
    pub fn from_row(row: Row, columns: &Columns) -> StoredRow {
        let mut values = vec![None; columns.len()];
        let mut extra = Vec::new();
        for (name, value) in row.fields {
            match columns.position(&name).and_then(|i| values.get_mut(i)) {
                Some(slot) => *slot = Some(value),
                None => extra.push((name, value)),
            }
        }
        StoredRow {
            id: row.id,
            seq: row.seq,
            deleted: row.deleted,
            values,
            extra,
            history: row.history,
        }
    }

    /// The value in a column.
    pub fn value(&self, column: usize) -> Option<&Value> {
        self.values.get(column).and_then(Option::as_ref)
    }

    /// The value kept under a name that is no column.
    fn extra_value(&self, name: &str) -> Option<&Value> {
        self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The value in a slot.
    pub fn get(&self, slot: &Slot) -> Option<&Value> {
        match slot {
            Slot::Column(i) => self.value(*i),
            Slot::Extra(name) => self.extra_value(name),
        }
    }

    /// Sets (`Some`) or clears (`None`) a slot, returning what it held.
    pub fn replace(&mut self, slot: &Slot, value: Option<Value>) -> Option<Value> {
        match slot {
            Slot::Column(i) => {
                if *i >= self.values.len() && value.is_some() {
                    self.values.resize(*i + 1, None);
                }
                let cell = self.values.get_mut(*i)?;
                std::mem::replace(cell, value)
            }
            Slot::Extra(name) => {
                let at = self.extra.iter().position(|(n, _)| n == name);
                match (at, value) {
                    (Some(i), Some(v)) => self
                        .extra
                        .get_mut(i)
                        .map(|(_, old)| std::mem::replace(old, v)),
                    (Some(i), None) => Some(self.extra.remove(i).1),
                    (None, Some(v)) => {
                        self.extra.push((name.clone(), v));
                        None
                    }
                    (None, None) => None,
                }
            }
        }
    }

    /// Follows renamed columns (see [`Columns::follow`]): values of a renamed column stay
    /// under their former name, and values kept under a name that is now a column move
    /// into it.
    pub fn follow(&mut self, renamed: &[(usize, String)], columns: &Columns) {
        for (i, former) in renamed {
            if let Some(v) = self.values.get_mut(*i).and_then(Option::take) {
                self.extra.push((former.clone(), v));
            }
        }
        let kept = std::mem::take(&mut self.extra);
        for (name, value) in kept {
            match columns.position(&name) {
                Some(i) if self.value(i).is_none() => {
                    self.replace(&Slot::Column(i), Some(value));
                }
                _ => self.extra.push((name, value)),
            }
        }
    }
}

/// A stored row read together with its table's column names.
#[derive(Debug, Clone, Copy)]
pub struct RowView<'a> {
    columns: &'a Columns,
    row: &'a StoredRow,
}

impl<'a> RowView<'a> {
    /// Reads `row` with the names of `columns`.
    pub fn new(columns: &'a Columns, row: &'a StoredRow) -> RowView<'a> {
        RowView { columns, row }
    }

    /// 18-character Id.
    pub fn id(&self) -> &'a str {
        &self.row.id
    }

    /// In the Recycle Bin.
    pub fn deleted(&self) -> bool {
        self.row.deleted
    }

    /// Writes so far, when history recording is on.
    pub fn history(&self) -> &'a [WriteRecord] {
        &self.row.history
    }

    /// The value in a column.
    pub fn value(&self, column: usize) -> Option<&'a Value> {
        self.row.value(column)
    }

    /// A field's value by its exact name; `None` when never set.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        match self.columns.position(name) {
            Some(i) => self.row.value(i),
            None => self.row.extra_value(name),
        }
    }

    /// Every value set, under its name: columns in field order, then other names.
    pub fn fields(&self) -> Map<String, Value> {
        let mut m = Map::with_capacity(self.row.values.len() + self.row.extra.len());
        for (name, value) in self.columns.names.iter().zip(&self.row.values) {
            if let Some(v) = value {
                m.insert(name.clone(), v.clone());
            }
        }
        for (name, value) in &self.row.extra {
            m.insert(name.clone(), value.clone());
        }
        m
    }

    /// A copy of the row in its JSON form.
    pub fn to_row(self) -> Row {
        Row {
            id: self.row.id.clone(),
            seq: self.row.seq,
            deleted: self.row.deleted,
            fields: self.fields(),
            history: self.row.history.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::schema::{FieldDef, FieldType};
    use serde_json::json;

    fn contact() -> SObjectDef {
        let mut s: SObjectDef = serde_json::from_value(json!({
            "name": "Contact",
            "key_prefix": "003",
            "fields": [],
        }))
        .unwrap();
        for (name, t) in [
            ("Id", FieldType::Id),
            ("LastName", FieldType::String),
            ("Email", FieldType::Email),
            ("Title", FieldType::String),
        ] {
            s.add_field(FieldDef::new(name, t));
        }
        s
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn row(fields: Value) -> Row {
        Row {
            id: "003000000000001AAA".into(),
            seq: 7,
            deleted: false,
            fields: map(fields),
            history: vec![],
        }
    }

    #[test]
    fn a_row_reads_out_as_it_was_written_with_nulls_kept_and_unset_fields_absent() {
        let columns = Columns::new(&contact());
        let written = json!({"LastName": "Okafor", "Email": null, "Id": "003000000000001AAA"});
        let stored = StoredRow::from_row(row(written.clone()), &columns);
        let view = RowView::new(&columns, &stored);
        assert_eq!(Value::Object(view.fields()), written);
        assert_eq!(view.get("Email"), Some(&Value::Null));
        assert_eq!(view.get("Title"), None);
        assert_eq!(
            view.get("lastname"),
            None,
            "names are exact, as map keys were"
        );
        assert_eq!(view.to_row(), row(written));
    }

    #[test]
    fn names_that_are_no_field_are_kept_and_read_out() {
        let columns = Columns::new(&contact());
        let written = json!({"LastName": "A", "Gone__c": 3, "email": "a@x.example"});
        let stored = StoredRow::from_row(row(written.clone()), &columns);
        let view = RowView::new(&columns, &stored);
        assert_eq!(view.get("Gone__c"), Some(&json!(3)));
        assert_eq!(view.get("email"), Some(&json!("a@x.example")));
        assert_eq!(view.get("Email"), None);
        assert_eq!(Value::Object(view.fields()), written);
    }

    #[test]
    fn replacing_and_clearing_slots_returns_what_they_held() {
        let columns = Columns::new(&contact());
        let mut stored = StoredRow::new("003000000000001AAA".into(), 1, vec![None; 4]);
        let title = columns.slot("Title");
        assert_eq!(title, Slot::Column(3));
        assert_eq!(stored.replace(&title, Some(json!("CTO"))), None);
        assert_eq!(
            stored.replace(&title, Some(json!("CEO"))),
            Some(json!("CTO"))
        );
        assert_eq!(stored.replace(&title, None), Some(json!("CEO")));
        let odd = columns.slot("Odd");
        assert_eq!(odd, Slot::Extra("Odd".into()));
        assert_eq!(stored.replace(&odd, Some(json!(1))), None);
        assert_eq!(stored.get(&odd), Some(&json!(1)));
        assert_eq!(stored.replace(&odd, None), Some(json!(1)));
        assert!(RowView::new(&columns, &stored).fields().is_empty());
    }

    #[test]
    fn added_and_renamed_fields_keep_every_value_under_its_name() {
        let mut def = contact();
        let mut columns = Columns::new(&def);
        let written = json!({"LastName": "A", "Email": "a@x.example", "Phone": "1"});
        let mut stored = StoredRow::from_row(row(written), &columns);
        // A new field picks up a value loaded under its name; a field replaced under another
        // spelling leaves the old values under the old name.
        def.add_field(FieldDef::new("Phone", FieldType::Phone));
        def.add_field(FieldDef::new("EMAIL", FieldType::Email));
        let renamed = columns.follow(&def);
        assert_eq!(renamed, vec![(2, "Email".to_string())]);
        stored.follow(&renamed, &columns);
        let view = RowView::new(&columns, &stored);
        assert_eq!(view.get("Phone"), Some(&json!("1")));
        assert_eq!(view.value(4), Some(&json!("1")));
        assert_eq!(view.get("EMAIL"), None);
        assert_eq!(view.get("Email"), Some(&json!("a@x.example")));
        // A column past the row's end is absent until written.
        def.add_field(FieldDef::new("Fax", FieldType::Phone));
        let renamed = columns.follow(&def);
        stored.follow(&renamed, &columns);
        assert_eq!(RowView::new(&columns, &stored).get("Fax"), None);
        stored.replace(&columns.slot("Fax"), Some(json!("2")));
        assert_eq!(
            RowView::new(&columns, &stored).get("Fax"),
            Some(&json!("2"))
        );
    }

    #[test]
    fn the_json_map_carries_id_and_deleted_from_the_row() {
        let mut r = row(json!({"LastName": "A", "Id": "stale"}));
        r.deleted = true;
        assert_eq!(
            Value::Object(r.into_json_map()),
            json!({"LastName": "A", "Id": "003000000000001AAA", "IsDeleted": true})
        );
    }
}
