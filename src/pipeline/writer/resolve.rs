//! External ID resolution: the target org's Id of each row an update or delete
//! addresses by External ID (`<field> = <source Id>`).
//!
//! Ids learnt from upserts and earlier queries are remembered (up to
//! `sink.id.cache.max.entries`); the rest are found with one SOQL query per batch. The
//! query is retried as `salesforce/retry.rs` decides, within the batch's retry budget.

use super::Shared;
use crate::pipeline::messages::Change;
use crate::pipeline::plan::WriteGroup;
use crate::salesforce::retry::{decide_call, retries_exhausted, Action, Call, Retries};
use dashmap::DashMap;

/// Source Id (External ID value) → target org Id.
pub(super) struct IdCache {
    ids: DashMap<String, String>,
    max: usize,
}

impl IdCache {
    pub(super) fn new(max: usize) -> Self {
        IdCache {
            ids: DashMap::new(),
            max,
        }
    }

    fn get(&self, source: &str) -> Option<String> {
        self.ids.get(source).map(|t| t.clone())
    }

    fn remember(&self, source: &str, target: &str) {
        if self.ids.len() >= self.max {
            self.ids.clear();
        }
        self.ids.insert(source.to_string(), target.to_string());
    }

    /// Learns from a change's final action: an upsert tells the row's Id; a row found
    /// gone (or deleted by this change) is forgotten.
    pub(super) fn learn(&self, group: WriteGroup, change: &Change, action: &Action) {
        let Some(source) = change.record.id.as_deref() else {
            return;
        };
        match action {
            Action::Done { id: Some(id), .. } if group == WriteGroup::UpsertByExternalId => {
                self.remember(source, id);
            }
            Action::Done { .. } if group == WriteGroup::DeleteByExternalId => {
                self.ids.remove(source);
            }
            Action::AlreadyGone | Action::RowMissing(_) => {
                self.ids.remove(source);
            }
            Action::Halt(c) if matches!(c.code.as_str(), "NOT_FOUND" | "ENTITY_IS_DELETED") => {
                self.ids.remove(source);
            }
            _ => {}
        }
    }
}

/// Target Ids per change (by position), `None` where no row has the External ID:
/// from the cache, else one query for all misses. `Err` carries the action for the
/// whole batch when the query cannot be made.
pub(super) async fn targets(
    shared: &Shared,
    changes: &[Change],
    retries: &mut Retries,
) -> Result<Vec<Option<String>>, Action> {
    let s = &shared.settings;
    let Some(field) = s.custom_id_field.as_deref() else {
        return Ok(vec![None; changes.len()]);
    };
    let sources: Vec<String> = changes
        .iter()
        .map(|c| c.record.id.clone().unwrap_or_default())
        .collect();
    let mut out: Vec<Option<String>> = sources.iter().map(|s| shared.ids.get(s)).collect();
    let misses: Vec<String> = sources
        .iter()
        .zip(&out)
        .filter(|(_, t)| t.is_none())
        .map(|(s, _)| s.clone())
        .collect();
    if misses.is_empty() {
        return Ok(out);
    }
    let found = loop {
        shared.permits.take().await;
        let answer = shared
            .client
            .find_ids_by_external_id(&s.sobject, field, &misses)
            .await;
        shared.permits.give_back(1);
        let e = match answer {
            Ok(found) => break found,
            Err(e) => e,
        };
        match decide_call(&s.policy, Call::Read, &e) {
            Action::PauseForBudget { .. } => shared.permits.allocation_spent(),
            Action::Retry { .. } => {
                if !retries.wait().await {
                    return Err(retries_exhausted(e.to_string()));
                }
            }
            other => return Err(other),
        }
    };
    retries.reset();
    for (i, source) in sources.iter().enumerate() {
        if out[i].is_none() {
            if let Some(target) = found.get(source) {
                shared.ids.remember(source, target);
                out[i] = Some(target.clone());
            }
        }
    }
    Ok(out)
}
