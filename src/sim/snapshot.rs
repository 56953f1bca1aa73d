//! The optional snapshot file: every org's rows (deleted ones too) as JSON, loaded at
//! start when the file exists and written at shutdown, so a demo org survives restarts.

use crate::salesforce::id;
use crate::sim::org::Org;
use crate::sim::store::Row;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

/// Why a snapshot could not be read or written.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// File I/O failed.
    #[error("snapshot file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a snapshot.
    #[error("snapshot file {path} is not valid JSON: {source}")]
    Format {
        /// The file.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Rows per org name, then per SObject name.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Snapshot {
    orgs: BTreeMap<String, BTreeMap<String, Vec<Map<String, Value>>>>,
}

/// Decodes a base-62 string (`0-9A-Za-z`).
fn decode_base62(s: &str) -> Option<u64> {
    s.bytes().try_fold(0u64, |acc, b| {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            b'a'..=b'z' => b - b'a' + 36,
            _ => return None,
        };
        acc.checked_mul(62)?.checked_add(u64::from(d))
    })
}

/// Writes every org's rows to `path`.
pub fn save(path: &Path, orgs: &[(String, Arc<Org>)]) -> Result<(), SnapshotError> {
    let mut snap = Snapshot::default();
    for (name, org) in orgs {
        let data = org.data.lock();
        let mut tables = BTreeMap::new();
        for (t, table) in &data.tables {
            let rows: Vec<Map<String, Value>> = table
                .rows_in_order()
                .into_iter()
                .map(|r| r.to_row().into_json_map())
                .collect();
            tables.insert(t.clone(), rows);
        }
        snap.orgs.insert(name.clone(), tables);
    }
    let shown = path.display().to_string();
    let bytes = serde_json::to_vec_pretty(&snap).map_err(|source| SnapshotError::Format {
        path: shown.clone(),
        source,
    })?;
    std::fs::write(path, bytes).map_err(|source| SnapshotError::Io {
        path: shown,
        source,
    })
}

/// Loads rows from `path` into the orgs of the same names (unknown orgs and SObjects are skipped).
pub fn load(path: &Path, orgs: &[(String, Arc<Org>)]) -> Result<usize, SnapshotError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io {
        path: shown.clone(),
        source,
    })?;
    let snap: Snapshot =
        serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Format {
            path: shown,
            source,
        })?;
    let mut loaded = 0;
    for (name, org) in orgs {
        let Some(tables) = snap.orgs.get(name) else {
            continue;
        };
        let mut data = org.data.lock();
        for (t, rows) in tables {
            for fields in rows {
                let Some(row_id) = fields
                    .get("Id")
                    .and_then(Value::as_str)
                    .and_then(|s| id::normalize(s).ok())
                else {
                    continue;
                };
                // Keep minted Ids clear of loaded ones: they share the counter's format.
                if let Some(n) = row_id.get(6..15).and_then(decode_base62) {
                    data.next_id = data.next_id.max(n);
                }
                let deleted = fields
                    .get("IsDeleted")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let seq = data.next_seq();
                let row = Row {
                    id: row_id,
                    seq,
                    deleted,
                    fields: fields.clone(),
                    history: Vec::new(),
                };
                if let Some(table) = data.tables.get_mut(t) {
                    table.insert(row);
                    loaded += 1;
                }
            }
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_round_trips() {
        assert_eq!(
            decode_base62(&id::base62(123_456_789, 9)),
            Some(123_456_789)
        );
        assert_eq!(decode_base62("!"), None);
    }
}
