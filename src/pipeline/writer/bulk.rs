//! A batch written as one Bulk API 2.0 ingest job (more than 200 changes, formed by the
//! sequencer while it works through a backlog over `sink.bulk.threshold.records`).
//!
//! Its rows come back with the same per-record results as a Collections call, one per
//! change in order, and are decided about the same way; what is left to retry goes
//! again, as a job while it is more than 200 changes and as one Collections call once
//! it is not.

use super::body::target_ids;
use super::Shared;
use crate::metrics::metrics;
use crate::pipeline::plan::WriteGroup;
use crate::salesforce::body::Body;
use crate::salesforce::bulk::{BulkOperation, BulkOptions};
use crate::salesforce::wire::{CallError, RecordResult};
use serde_json::{Map, Value};

/// Calls a Bulk API 2.0 job makes at the least after creating it (upload, close, a
/// poll, three result files).
const BULK_CALLS_BEYOND_FIRST: usize = 6;

/// Writes the changes at `chunk`'s positions as one job. The caller took one permit;
/// this takes one for each further call a job makes at the least, so pacing and the
/// daily reserve count them (extra polls are seen only in `Sforce-Limit-Info`).
pub(super) async fn send(
    shared: &Shared,
    group: WriteGroup,
    bodies: Vec<Body<'_>>,
    targets: &[Option<String>],
    chunk: &[usize],
) -> Result<Vec<RecordResult>, CallError> {
    let s = &shared.settings;
    // A job keeps its rows while it runs: they are owned from here on.
    let bodies: Vec<Map<String, Value>> = bodies.into_iter().map(Body::into_map).collect();
    let (op, rows) = match group {
        WriteGroup::Insert => (BulkOperation::Insert, bodies),
        WriteGroup::UpsertByExternalId => (
            BulkOperation::Upsert {
                external_id_field: s.custom_id_field.clone().unwrap_or_default(),
            },
            bodies,
        ),
        WriteGroup::UpdateById | WriteGroup::UpdateByExternalId => (BulkOperation::Update, bodies),
        WriteGroup::DeleteById | WriteGroup::DeleteByExternalId => {
            let rows = target_ids(targets, chunk)
                .into_iter()
                .map(|id| Map::from_iter([("Id".to_string(), Value::String(id))]))
                .collect();
            (BulkOperation::Delete, rows)
        }
    };
    let n = rows.len();
    shared.permits.take_many(BULK_CALLS_BEYOND_FIRST).await;
    let answer = shared
        .client
        .bulk_ingest(&s.sobject, &op, rows, &BulkOptions::default())
        .await;
    shared.permits.give_back(BULK_CALLS_BEYOND_FIRST);
    let state = match &answer {
        Ok(report) => report.state.as_str(),
        Err(_) => "error",
    };
    metrics()
        .bulk_jobs
        .with_label_values(&[&s.connector, group.as_str(), state])
        .inc();
    let report = answer?;
    if report.state != "JobComplete" {
        tracing::warn!(
            connector = %s.connector,
            "bulk job {} for {} {} records ended {}: {}; its unprocessed rows are retried",
            report.job_id,
            n,
            group.as_str(),
            report.state,
            report.error_message.as_deref().unwrap_or("no message")
        );
    }
    Ok(report.results)
}
