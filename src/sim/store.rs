//! In-memory rows of one SObject: a map from 18-character Id to row, plus one index per
//! unique / External ID / Id-lookup field and per duplicate rule. Deleted rows stay (as
//! in the Recycle Bin) but leave every index, so they match no upsert or rule.

use crate::sim::fast_hash::FastMap;
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
}

/// One stored row.
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

/// Which fields an index covers and how values are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// Canonical field names.
    pub fields: Vec<String>,
    /// Lower-case values before comparing.
    pub fold_case: bool,
}

#[derive(Debug, Clone)]
struct Index {
    spec: IndexSpec,
    map: FastMap<String, Vec<String>>,
}

/// The rows of one SObject with their indexes.
#[derive(Debug, Clone)]
pub struct Table {
    rows: FastMap<String, Row>,
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
            rows: FastMap::default(),
            indexes: Table::index_specs(sobject, rules)
                .into_iter()
                .map(|spec| Index {
                    spec,
                    map: FastMap::default(),
                })
                .collect(),
        }
    }

    fn index_specs(sobject: &SObjectDef, rules: &[&DuplicateRule]) -> Vec<IndexSpec> {
        let mut specs: Vec<IndexSpec> = Vec::new();
        for f in &sobject.fields {
            if f.field_type != FieldType::Id && (f.unique || f.external_id || f.id_lookup) {
                specs.push(IndexSpec {
                    fields: vec![f.name.clone()],
                    fold_case: f.folds_case(),
                });
            }
        }
        for r in rules {
            let fields: Vec<String> = r
                .fields
                .iter()
                .filter_map(|n| sobject.field(n).map(|f| f.name.clone()))
                .collect();
            let spec = IndexSpec {
                fields,
                fold_case: true,
            };
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
        specs
    }

    /// Rebuilds the indexes after a schema change.
    pub fn reindex(&mut self, sobject: &SObjectDef, rules: &[&DuplicateRule]) {
        self.indexes = Table::index_specs(sobject, rules)
            .into_iter()
            .map(|spec| Index {
                spec,
                map: FastMap::default(),
            })
            .collect();
        let ids: Vec<String> = self.rows.keys().cloned().collect();
        for id in ids {
            self.index_row(&id, true);
        }
    }

    fn index_row(&mut self, id: &str, add: bool) {
        let Some(row) = self.rows.get(id) else { return };
        if row.deleted {
            return;
        }
        for index in &mut self.indexes {
            let Some(key) = index_key(
                index.spec.fields.iter().map(|f| row.fields.get(f)),
                index.spec.fold_case,
            ) else {
                continue;
            };
            if add {
                let ids = index.map.entry(key).or_default();
                if !ids.iter().any(|x| x == id) {
                    ids.push(id.to_string());
                }
            } else if let Some(ids) = index.map.get_mut(&key) {
                ids.retain(|x| x != id);
                if ids.is_empty() {
                    index.map.remove(&key);
                }
            }
        }
    }

    /// A row by 18-character Id.
    pub fn get(&self, id: &str) -> Option<&Row> {
        self.rows.get(id)
    }

    /// Every row, deleted ones too, in creation order.
    pub fn rows_in_order(&self) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self.rows.values().collect();
        rows.sort_by_key(|r| r.seq);
        rows
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
        let Some(key) = index_key(values.iter().copied(), index.spec.fold_case) else {
            return Some(Vec::new());
        };
        Some(index.map.get(&key).cloned().unwrap_or_default())
    }

    /// Adds a new row.
    pub fn insert(&mut self, row: Row) {
        let id = row.id.clone();
        self.rows.insert(id.clone(), row);
        self.index_row(&id, true);
    }

    /// Removes a row entirely (used to roll back an insert).
    pub fn remove(&mut self, id: &str) -> Option<Row> {
        self.index_row(id, false);
        self.rows.remove(id)
    }

    /// Changes a row in place, keeping the indexes right.
    pub fn modify<T>(&mut self, id: &str, change: impl FnOnce(&mut Row) -> T) -> Option<T> {
        let before = self.index_keys(id);
        let out = self.rows.get_mut(id).map(change);
        let after = self.index_keys(id);
        // Most updates leave indexed values alone; only moved keys touch the index maps.
        for (i, (old, new)) in before.into_iter().zip(after).enumerate() {
            if old == new {
                continue;
            }
            let Some(index) = self.indexes.get_mut(i) else {
                continue;
            };
            if let Some(key) = old {
                if let Some(ids) = index.map.get_mut(&key) {
                    ids.retain(|x| x != id);
                    if ids.is_empty() {
                        index.map.remove(&key);
                    }
                }
            }
            if let Some(key) = new {
                let ids = index.map.entry(key).or_default();
                if !ids.iter().any(|x| x == id) {
                    ids.push(id.to_string());
                }
            }
        }
        out
    }

    /// The key of a row in each index (`None` where it is not indexed, or deleted).
    fn index_keys(&self, id: &str) -> Vec<Option<String>> {
        let row = self.rows.get(id).filter(|r| !r.deleted);
        self.indexes
            .iter()
            .map(|index| {
                row.and_then(|r| {
                    index_key(
                        index.spec.fields.iter().map(|f| r.fields.get(f)),
                        index.spec.fold_case,
                    )
                })
            })
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
