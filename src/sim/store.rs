//! In-memory rows of one SObject: a map from 18-character Id to row, plus one index per
//! unique / External ID / Id-lookup field and per duplicate rule. Deleted rows stay (as
//! in the Recycle Bin) but leave every index, so they match no upsert or rule. Rows are
//! kept by field position (`row.rs`); they enter and leave as [`Row`], a JSON map.

use crate::sim::fast_hash::FastMap;
use crate::sim::row::{Columns, RowView, StoredRow};
use crate::sim::schema::{DuplicateRule, FieldType, SObjectDef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One entry of a row's write history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteRecord {
    /// Org-wide sequence number of the write.
    pub seq: u64,
    /// `create`, `update`, `upsert` or `delete`.
    pub operation: String,
    /// The fields the write set (after coercion).
    pub fields: Map<String, Value>,
    /// The `client` named by the call's `Sforce-Call-Options` header, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// A row as it enters or leaves the store: its fields as a JSON map under their names.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 18-character Id.
    pub id: String,
    /// Creation order within the org.
    pub seq: u64,
    /// In the Recycle Bin.
    pub deleted: bool,
    /// Every field value, under canonical names (system fields included).
    pub fields: Map<String, Value>,
    /// Writes so far, when history recording is on.
    pub history: Vec<WriteRecord>,
}

impl Row {
    /// The fields with `Id` and `IsDeleted` set from the row itself, as the admin API and
    /// snapshots show a row.
    pub fn into_json_map(self) -> Map<String, Value> {
        let mut m = self.fields;
        m.insert("Id".into(), Value::String(self.id));
        m.insert("IsDeleted".into(), Value::Bool(self.deleted));
        m
    }
}

/// Which fields an index covers and how values are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// Canonical field names.
    pub fields: Vec<String>,
    /// Positions of those fields in the SObject's field list.
    pub positions: Vec<usize>,
    /// Lower-case values before comparing.
    pub fold_case: bool,
}

#[derive(Debug, Clone)]
struct Index {
    spec: IndexSpec,
    map: FastMap<String, Vec<String>>,
}

impl Index {
    fn add(&mut self, key: String, id: &str) {
        let ids = self.map.entry(key).or_default();
        if !ids.iter().any(|x| x == id) {
            ids.push(id.to_string());
        }
    }

    fn remove(&mut self, key: &str, id: &str) {
        if let Some(ids) = self.map.get_mut(key) {
            ids.retain(|x| x != id);
            if ids.is_empty() {
                self.map.remove(key);
            }
        }
    }

    /// The row's key in this index (`None` when a value is missing, null or empty).
    fn key_of(&self, row: &StoredRow) -> Option<String> {
        index_key(
            self.spec.positions.iter().map(|i| row.value(*i)),
            self.spec.fold_case,
        )
    }
}

/// The rows of one SObject with their indexes.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Columns,
    rows: FastMap<String, StoredRow>,
    indexes: Vec<Index>,
}

/// The index key of a value set; `None` when a value is missing, null or empty.
pub fn index_key<'a>(
    values: impl Iterator<Item = Option<&'a Value>>,
    fold_case: bool,
) -> Option<String> {
    let mut key = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            key.push('\u{1f}');
        }
        match v? {
            Value::String(s) if !s.is_empty() => {
                if fold_case && s.is_ascii() {
                    // The common case, without the per-character Unicode tables.
                    let start = key.len();
                    key.push_str(s);
                    if let Some(tail) = key.get_mut(start..) {
                        tail.make_ascii_lowercase();
                    }
                } else if fold_case {
                    key.extend(s.chars().flat_map(char::to_lowercase));
                } else {
                    key.push_str(s);
                }
            }
            Value::Number(n) => key.push_str(&n.to_string()),
            Value::Bool(b) => key.push_str(if *b { "true" } else { "false" }),
            _ => return None,
        }
    }
    Some(key)
}

impl Table {
    /// An empty table indexed for this SObject and its duplicate rules.
    pub fn new(sobject: &SObjectDef, rules: &[&DuplicateRule]) -> Table {
        Table {
            columns: Columns::new(sobject),
            rows: FastMap::default(),
            indexes: Table::indexes(sobject, rules),
        }
    }

    fn indexes(sobject: &SObjectDef, rules: &[&DuplicateRule]) -> Vec<Index> {
        let mut specs: Vec<IndexSpec> = Vec::new();
        for (i, f) in sobject.fields.iter().enumerate() {
            if f.field_type != FieldType::Id && (f.unique || f.external_id || f.id_lookup) {
                specs.push(IndexSpec {
                    fields: vec![f.name.clone()],
                    positions: vec![i],
                    fold_case: f.folds_case(),
                });
            }
        }
        for r in rules {
            let (fields, positions) = r
                .fields
                .iter()
                .filter_map(|n| {
                    let i = sobject.position(n)?;
                    Some((sobject.fields.get(i)?.name.clone(), i))
                })
                .unzip();
            let spec = IndexSpec {
                fields,
                positions,
                fold_case: true,
            };
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
        specs
            .into_iter()
            .map(|spec| Index {
                spec,
                map: FastMap::default(),
            })
            .collect()
    }

    /// Follows a schema change: new or renamed columns, rebuilt indexes.
    pub fn reindex(&mut self, sobject: &SObjectDef, rules: &[&DuplicateRule]) {
        let renamed = self.columns.follow(sobject);
        self.indexes = Table::indexes(sobject, rules);
        for row in self.rows.values_mut() {
            row.follow(&renamed, &self.columns);
            if row.deleted {
                continue;
            }
            for index in &mut self.indexes {
                if let Some(key) = index.key_of(row) {
                    index.add(key, &row.id);
                }
            }
        }
    }

    /// The field names of the rows.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// A row by 18-character Id, read in place.
    pub fn view(&self, id: &str) -> Option<RowView<'_>> {
        self.rows.get(id).map(|r| RowView::new(&self.columns, r))
    }

    /// A copy of a row by 18-character Id.
    pub fn get(&self, id: &str) -> Option<Row> {
        self.view(id).map(|v| v.to_row())
    }

    /// True when a row with this Id exists and is not deleted.
    pub fn is_live(&self, id: &str) -> bool {
        self.rows.get(id).is_some_and(|r| !r.deleted)
    }

    /// Every row, deleted ones too, in creation order.
    pub fn rows_in_order(&self) -> Vec<RowView<'_>> {
        let mut rows: Vec<&StoredRow> = self.rows.values().collect();
        rows.sort_by_key(|r| r.seq);
        rows.into_iter()
            .map(|r| RowView::new(&self.columns, r))
            .collect()
    }

    /// Number of rows, deleted ones too.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the table holds no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Live rows whose `fields` equal `values` under the index covering exactly those
    /// fields; `None` when no such index exists.
    pub fn lookup(&self, fields: &[String], values: &[Option<&Value>]) -> Option<Vec<String>> {
        let index = self.indexes.iter().find(|i| i.spec.fields == fields)?;
        Some(Table::matches(index, values).to_vec())
    }

    /// Like [`Table::lookup`], with the fields given by position; the Ids are borrowed.
    pub fn lookup_at(&self, positions: &[usize], values: &[Option<&Value>]) -> Option<&[String]> {
        let index = self
            .indexes
            .iter()
            .find(|i| i.spec.positions == positions)?;
        Some(Table::matches(index, values))
    }

    fn matches<'a>(index: &'a Index, values: &[Option<&Value>]) -> &'a [String] {
        index_key(values.iter().copied(), index.spec.fold_case)
            .and_then(|key| index.map.get(&key))
            .map_or(&[], Vec::as_slice)
    }

    /// Adds a row given in its JSON form.
    pub fn insert(&mut self, row: Row) {
        let row = StoredRow::from_row(row, &self.columns);
        self.insert_stored(row);
    }

    /// Adds a new row.
    pub fn insert_stored(&mut self, row: StoredRow) {
        if !row.deleted {
            for index in &mut self.indexes {
                if let Some(key) = index.key_of(&row) {
                    index.add(key, &row.id);
                }
            }
        }
        self.rows.insert(row.id.clone(), row);
    }

    /// Removes a row entirely (used to roll back an insert).
    pub fn remove(&mut self, id: &str) {
        let Some(row) = self.rows.remove(id) else {
            return;
        };
        if row.deleted {
            return;
        }
        for index in &mut self.indexes {
            if let Some(key) = index.key_of(&row) {
                index.remove(&key, id);
            }
        }
    }

    /// Changes a row in place, keeping the indexes right.
    pub fn modify<T>(&mut self, id: &str, change: impl FnOnce(&mut StoredRow) -> T) -> Option<T> {
        let row = self.rows.get_mut(id)?;
        let before = Table::index_keys(&self.indexes, row);
        let out = change(row);
        let after = Table::index_keys(&self.indexes, row);
        // Most updates leave indexed values alone; only moved keys touch the index maps.
        for ((index, old), new) in self.indexes.iter_mut().zip(before).zip(after) {
            if old == new {
                continue;
            }
            if let Some(key) = old {
                index.remove(&key, id);
            }
            if let Some(key) = new {
                index.add(key, id);
            }
        }
        Some(out)
    }

    /// The key of a row in each index (`None` where it is not indexed, or deleted).
    fn index_keys(indexes: &[Index], row: &StoredRow) -> Vec<Option<String>> {
        indexes
            .iter()
            .map(|index| if row.deleted { None } else { index.key_of(row) })
            .collect()
    }

    /// Drops every row.
    pub fn clear(&mut self) {
        self.rows.clear();
        for i in &mut self.indexes {
            i.map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::OrgConfig;
    use serde_json::json;

    fn lead_table() -> (Table, SObjectDef) {
        let org = OrgConfig::named("b", "127.0.0.1:0".parse().unwrap());
        let lead = org.schema.sobject("Lead").unwrap().clone();
        let rules: Vec<&DuplicateRule> = org.schema.rules_for("Lead").collect();
        (Table::new(&lead, &rules), lead)
    }

    fn row(id: &str, ext: &str) -> Row {
        let mut fields = Map::new();
        fields.insert("CustomId__c".into(), json!(ext));
        Row {
            id: id.into(),
            seq: 1,
            deleted: false,
            fields,
            history: vec![],
        }
    }

    #[test]
    fn external_id_lookup_ignores_case_and_skips_deleted_rows() {
        let (mut t, _) = lead_table();
        t.insert(row("00Q000000000001AAA", "Ext-1"));
        let key = vec!["CustomId__c".to_string()];
        assert_eq!(
            t.lookup(&key, &[Some(&json!("ext-1"))]).unwrap(),
            vec!["00Q000000000001AAA".to_string()]
        );
        t.modify("00Q000000000001AAA", |r| r.deleted = true);
        assert!(t.lookup(&key, &[Some(&json!("ext-1"))]).unwrap().is_empty());
        assert_eq!(t.len(), 1);
    }
}
