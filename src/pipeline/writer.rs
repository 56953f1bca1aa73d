//! The SObject writer: turns a batch of changes into sObject Collections calls.
//!
//! One writer serves one SObject. The sequencer decides how many batches run at once;
//! the writer runs each to its final outcome: it resolves External IDs to target Ids
//! where an update or delete needs them, builds the bodies from the describe, takes a
//! permit from the rate governor per call, and retries what failed transiently (only
//! the records that failed, with exponential backoff and full jitter, within
//! `request.max.retries.time.ms`). A call refused as a whole for one bad record
//! (`JSON_PARSER_ERROR`, ...) is split in halves until the culprit stands alone, so
//! the others still go through.
//!
//! A bulk batch (more than 200 changes, formed by the sequencer while it works through
//! a backlog over `sink.bulk.threshold.records`) goes as one Bulk API 2.0 ingest job
//! instead. Its rows come back with the same per-record results as a Collections call
//! and are settled the same way; what is left to retry goes again, as a job while it is
//! more than 200 changes and as one Collections call once it is not.

use crate::config::Operation;
use crate::metrics::metrics;
use crate::pipeline::governor::{Acquire, AllocationSpent, RateGovernor, Release};
use crate::pipeline::messages::{Change, ChangeOutcome, WriteBatch, Written};
use crate::pipeline::plan::WriteGroup;
use crate::pipeline::schema_cache::{GetSchema, RefreshSchema, SchemaCache};
use crate::salesforce::bulk::{BulkOperation, BulkOptions};
use crate::salesforce::client::{CallError, SalesforceClient};
use crate::salesforce::collections::{RecordResult, MAX_COLLECTION_RECORDS};
use crate::salesforce::describe::SObjectSchema;
use crate::salesforce::outcome::{
    classify_call, classify_record, Backoff, CallOutcome, RecordOp, RecordOutcome, RetryBudget,
};
use crate::salesforce::request::{record_body, BodyRules, WriteKind};
use actix::{Actor, Addr, Context, Handler, ResponseFuture};
use dashmap::DashMap;
use rand::SeedableRng;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// What every batch of a writer shares.
pub struct WriterSettings {
    /// Connector name (metrics label).
    pub connector: String,
    /// The target SObject.
    pub sobject: String,
    /// The External ID field, when records are addressed by it.
    pub custom_id_field: Option<String>,
    /// Field filtering rules.
    pub rules: BodyRules,
    /// `sink.all.or.none`.
    pub all_or_none: bool,
    /// `sink.strict.deletes`.
    pub strict_deletes: bool,
    /// Permanent per-record errors are tolerated (`behavior.on.api.errors` is not `fail`).
    pub tolerate_api_errors: bool,
    /// `request.max.retries.time.ms`.
    pub retry_budget: Duration,
    /// Most External ID → target Id pairs remembered.
    pub id_cache_max: usize,
    /// First retry delay (`sink.retry.backoff.initial.ms`).
    pub backoff_initial: Duration,
    /// Longest retry delay (`sink.retry.backoff.max.ms`).
    pub backoff_max: Duration,
    /// Bulk API 2.0 is on (`sink.bulk.threshold.records`): a batch too big for one
    /// Collections call goes as one job.
    pub bulk: bool,
}

impl WriterSettings {
    /// Whether `n` changes go as one Bulk API 2.0 job.
    fn is_bulk(&self, n: usize) -> bool {
        self.bulk && n > MAX_COLLECTION_RECORDS
    }
}

/// A fresh backoff with the configured delays.
fn backoff_for(settings: &WriterSettings) -> Backoff {
    Backoff::with_rng(
        settings.backoff_initial,
        settings.backoff_max,
        rand::rngs::StdRng::from_entropy(),
    )
}

struct Shared {
    settings: WriterSettings,
    client: SalesforceClient,
    schema: Addr<SchemaCache>,
    governor: Addr<RateGovernor>,
    /// Source Id (External ID value) → target org Id, learnt from upserts and queries.
    ids: DashMap<String, String>,
    warned_unknown: DashMap<String, ()>,
}

/// The SObject writer actor.
pub struct SObjectWriter {
    shared: Arc<Shared>,
}

impl SObjectWriter {
    /// A writer for `settings.sobject`.
    pub fn new(
        settings: WriterSettings,
        client: SalesforceClient,
        schema: Addr<SchemaCache>,
        governor: Addr<RateGovernor>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                client,
                schema,
                governor,
                ids: DashMap::new(),
                warned_unknown: DashMap::new(),
            }),
        }
    }
}

impl Actor for SObjectWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
    }
}

impl Handler<WriteBatch> for SObjectWriter {
    type Result = ResponseFuture<Written>;

    fn handle(&mut self, msg: WriteBatch, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move {
            let outcomes = write_batch(&shared, msg.group, &msg.changes).await;
            Written {
                changes: msg.changes,
                outcomes,
            }
        })
    }
}

fn record_op(op: Operation) -> RecordOp {
    match op {
        Operation::Insert => RecordOp::Insert,
        Operation::Update => RecordOp::Update,
        Operation::Upsert => RecordOp::Upsert,
        Operation::Delete => RecordOp::Delete,
    }
}

/// Takes a governor permit, asking again after a budget pause.
async fn permit(shared: &Shared) {
    loop {
        match shared.governor.send(Acquire).await {
            Ok(true) | Err(_) => return,
            Ok(false) => continue,
        }
    }
}

async fn write_batch(shared: &Shared, group: WriteGroup, changes: &[Change]) -> Vec<ChangeOutcome> {
    let s = &shared.settings;
    let n = changes.len();
    let budget = RetryBudget::new(s.retry_budget);
    let mut outcomes: Vec<Option<ChangeOutcome>> = vec![None; n];

    let schema = loop {
        match shared.schema.send(GetSchema(s.sobject.clone())).await {
            Ok(Ok(schema)) => break schema,
            Ok(Err(e)) if budget.is_spent() => {
                let last_error = format!("describe of {} failed: {e}", s.sobject);
                return vec![ChangeOutcome::RetriesExhausted { last_error }; n];
            }
            Err(e) => {
                let last_error = format!("schema cache stopped: {e}");
                return vec![ChangeOutcome::RetriesExhausted { last_error }; n];
            }
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };

    // Target Ids for writes addressed by External ID that need the row's own Id.
    let mut targets: Vec<Option<String>> = changes.iter().map(|c| c.record.id.clone()).collect();
    if matches!(
        group,
        WriteGroup::UpdateByExternalId | WriteGroup::DeleteByExternalId
    ) {
        match resolve_ids(shared, changes, &budget).await {
            Ok(resolved) => {
                for (i, c) in changes.iter().enumerate() {
                    let source = c.record.id.clone().unwrap_or_default();
                    match resolved.get(i).cloned().flatten() {
                        Some(target) => targets[i] = Some(target),
                        None => {
                            targets[i] = None;
                            let field = s.custom_id_field.as_deref().unwrap_or("?");
                            let message = format!("no {} row has {field}={source}", s.sobject);
                            outcomes[i] = Some(if group.is_delete() {
                                if s.strict_deletes {
                                    ChangeOutcome::Halt {
                                        code: "NOT_FOUND".into(),
                                        message,
                                        fields: vec![field.to_string()],
                                    }
                                } else {
                                    ChangeOutcome::AlreadyGone
                                }
                            } else {
                                ChangeOutcome::RowMissing {
                                    code: "NOT_FOUND".into(),
                                    message,
                                }
                            });
                        }
                    }
                }
            }
            Err(last_error) => return vec![ChangeOutcome::RetriesExhausted { last_error }; n],
        }
    }

    // Chunks still to send; a chunk refused as a whole is split in halves.
    let mut stack: Vec<Vec<usize>> = vec![(0..n).filter(|i| outcomes[*i].is_none()).collect()];
    let mut backoff = backoff_for(&shared.settings);
    while let Some(mut chunk) = stack.pop() {
        while !chunk.is_empty() {
            let bulk = s.is_bulk(chunk.len());
            let bodies = build_bodies(
                shared,
                group,
                changes,
                &targets,
                &mut chunk,
                &mut outcomes,
                &schema,
            );
            if chunk.is_empty() {
                break;
            }
            permit(shared).await;
            metrics()
                .batches
                .with_label_values(&[&s.connector, group.as_str()])
                .inc();
            metrics()
                .batch_size
                .with_label_values(&[&s.connector])
                .observe(chunk.len() as f64);
            let result = if bulk {
                send_bulk(shared, group, bodies, &targets, &chunk).await
            } else {
                send(shared, group, &bodies, &targets, &chunk).await
            };
            shared.governor.do_send(Release);
            match result {
                Ok(results) => {
                    let mut again = Vec::new();
                    for (pos, r) in chunk.iter().zip(results.iter()) {
                        let change = &changes[*pos];
                        match settle_record(shared, group, change, r) {
                            Settled::Final(o) => outcomes[*pos] = Some(o),
                            Settled::Retry(code) => {
                                metrics()
                                    .retries
                                    .with_label_values(&[&s.connector, &code])
                                    .inc();
                                again.push(*pos);
                            }
                        }
                    }
                    if results.len() < chunk.len() {
                        // Fewer results than records: treat the rest as transient.
                        again.extend(chunk.iter().skip(results.len()));
                    }
                    if !again.is_empty() {
                        match budget.allow(backoff.next_delay()) {
                            Some(d) => tokio::time::sleep(d).await,
                            None => {
                                for pos in &again {
                                    outcomes[*pos] = Some(ChangeOutcome::RetriesExhausted {
                                        last_error: "per-record transient errors outlasted request.max.retries.time.ms".into(),
                                    });
                                }
                                again.clear();
                            }
                        }
                    } else {
                        backoff.reset();
                    }
                    chunk = again;
                }
                Err(err) => match classify_call(&err) {
                    outcome @ (CallOutcome::Transient(_) | CallOutcome::Session) => {
                        let reason = match &outcome {
                            CallOutcome::Session => "session",
                            _ => "transient",
                        };
                        metrics()
                            .retries
                            .with_label_values(&[&s.connector, reason])
                            .inc();
                        tracing::debug!(connector = %s.connector, "{reason} failure, retrying: {err}");
                        match budget.allow(backoff.next_delay()) {
                            Some(d) => tokio::time::sleep(d).await,
                            None => {
                                for pos in &chunk {
                                    outcomes[*pos] = Some(ChangeOutcome::RetriesExhausted {
                                        last_error: err.to_string(),
                                    });
                                }
                                chunk.clear();
                            }
                        }
                    }
                    CallOutcome::Budget(_) => {
                        shared.governor.do_send(AllocationSpent);
                    }
                    CallOutcome::Permanent { status, errors } => {
                        if chunk.len() > 1 {
                            let half = chunk.len() / 2;
                            let second = chunk.split_off(half);
                            stack.push(second);
                            stack.push(std::mem::take(&mut chunk));
                        } else {
                            let (code, message, fields) = match errors.first() {
                                Some(e) => {
                                    (e.status_code.clone(), e.message.clone(), e.fields.clone())
                                }
                                None => (format!("HTTP_{status}"), err.to_string(), vec![]),
                            };
                            for pos in &chunk {
                                outcomes[*pos] =
                                    Some(permanent(shared, &code, message.clone(), fields.clone()));
                            }
                            chunk.clear();
                        }
                    }
                },
            }
        }
    }
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or(ChangeOutcome::RetriesExhausted {
                last_error: "no outcome".into(),
            })
        })
        .collect()
}

enum Settled {
    Final(ChangeOutcome),
    Retry(String),
}

fn permanent(shared: &Shared, code: &str, message: String, fields: Vec<String>) -> ChangeOutcome {
    if code == "INVALID_FIELD" {
        shared
            .schema
            .do_send(RefreshSchema(shared.settings.sobject.clone()));
    }
    if shared.settings.tolerate_api_errors && code != "INVALID_FIELD" {
        ChangeOutcome::Rejected {
            code: code.to_string(),
            message,
            fields,
        }
    } else {
        ChangeOutcome::Halt {
            code: code.to_string(),
            message,
            fields,
        }
    }
}

fn settle_record(shared: &Shared, group: WriteGroup, change: &Change, r: &RecordResult) -> Settled {
    let s = &shared.settings;
    let outcome = classify_record(record_op(change.operation), r, s.strict_deletes);
    let source = change.record.id.clone().unwrap_or_default();
    match outcome {
        RecordOutcome::Done { id, created } => {
            match group {
                WriteGroup::UpsertByExternalId => {
                    if let Some(id) = &id {
                        remember(shared, &source, id);
                    }
                }
                WriteGroup::DeleteByExternalId => {
                    shared.ids.remove(&source);
                }
                _ => {}
            }
            Settled::Final(ChangeOutcome::Written { id, created })
        }
        RecordOutcome::AlreadyGone => {
            shared.ids.remove(&source);
            Settled::Final(ChangeOutcome::AlreadyGone)
        }
        RecordOutcome::Retry(code) => Settled::Retry(code),
        RecordOutcome::Halt {
            code,
            message,
            fields,
        } => {
            let missing = code == "NOT_FOUND" || code == "ENTITY_IS_DELETED";
            if missing {
                shared.ids.remove(&source);
            }
            if missing && change.operation == Operation::Update {
                Settled::Final(ChangeOutcome::RowMissing { code, message })
            } else {
                if code == "INVALID_FIELD" {
                    shared.schema.do_send(RefreshSchema(s.sobject.clone()));
                }
                Settled::Final(ChangeOutcome::Halt {
                    code,
                    message,
                    fields,
                })
            }
        }
        RecordOutcome::Permanent {
            code,
            message,
            fields,
        } => Settled::Final(permanent(shared, &code, message, fields)),
    }
}

fn remember(shared: &Shared, source: &str, target: &str) {
    if shared.ids.len() >= shared.settings.id_cache_max {
        shared.ids.clear();
    }
    shared.ids.insert(source.to_string(), target.to_string());
}

/// Target Ids per change (by position) for External-ID-addressed updates and deletes:
/// from the cache, else one query for all misses.
async fn resolve_ids(
    shared: &Shared,
    changes: &[Change],
    budget: &RetryBudget,
) -> Result<Vec<Option<String>>, String> {
    let s = &shared.settings;
    let Some(field) = s.custom_id_field.as_deref() else {
        return Ok(vec![None; changes.len()]);
    };
    let mut out: Vec<Option<String>> = Vec::with_capacity(changes.len());
    let mut misses: Vec<String> = Vec::new();
    for c in changes {
        let source = c.record.id.clone().unwrap_or_default();
        match shared.ids.get(&source) {
            Some(t) => out.push(Some(t.clone())),
            None => {
                misses.push(source);
                out.push(None);
            }
        }
    }
    if misses.is_empty() {
        return Ok(out);
    }
    let mut backoff = backoff_for(&shared.settings);
    let found = loop {
        permit(shared).await;
        let answer = shared
            .client
            .find_ids_by_external_id(&s.sobject, field, &misses)
            .await;
        shared.governor.do_send(Release);
        match answer {
            Ok(found) => break found,
            Err(e) => match classify_call(&e) {
                CallOutcome::Budget(_) => shared.governor.do_send(AllocationSpent),
                CallOutcome::Permanent { .. } => return Err(e.to_string()),
                CallOutcome::Transient(_) | CallOutcome::Session => {
                    match budget.allow(backoff.next_delay()) {
                        Some(d) => tokio::time::sleep(d).await,
                        None => return Err(e.to_string()),
                    }
                }
            },
        }
    };
    for (i, c) in changes.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let source = c.record.id.clone().unwrap_or_default();
        if let Some(target) = found.get(&source) {
            remember(shared, &source, target);
            out[i] = Some(target.clone());
        }
    }
    Ok(out)
}

fn write_kind(group: WriteGroup, field: Option<&str>) -> WriteKind {
    match group {
        WriteGroup::Insert => WriteKind::Create,
        WriteGroup::UpsertByExternalId => WriteKind::UpsertByExternalId {
            field: field.unwrap_or_default().to_string(),
        },
        WriteGroup::UpdateById | WriteGroup::UpdateByExternalId => WriteKind::UpdateById,
        WriteGroup::DeleteById | WriteGroup::DeleteByExternalId => WriteKind::DeleteById,
    }
}

/// The request bodies for the changes at `chunk`'s positions. A change whose body
/// cannot be built gets its outcome here and leaves the chunk.
fn build_bodies(
    shared: &Shared,
    group: WriteGroup,
    changes: &[Change],
    targets: &[Option<String>],
    chunk: &mut Vec<usize>,
    outcomes: &mut [Option<ChangeOutcome>],
    schema: &SObjectSchema,
) -> Vec<Map<String, Value>> {
    if group.is_delete() {
        return Vec::new();
    }
    let s = &shared.settings;
    let kind = write_kind(group, s.custom_id_field.as_deref());
    let mut unknown: HashSet<String> = HashSet::new();
    let mut bodies = Vec::with_capacity(chunk.len());
    chunk.retain(
        |pos| match record_body(&kind, &changes[*pos].record, schema, &s.rules) {
            Ok(built) => {
                let mut body = built.fields;
                if matches!(
                    group,
                    WriteGroup::UpdateById | WriteGroup::UpdateByExternalId
                ) {
                    if let Some(t) = &targets[*pos] {
                        body.insert("id".into(), Value::String(t.clone()));
                    }
                }
                unknown.extend(built.unknown_fields);
                bodies.push(body);
                true
            }
            Err(e) => {
                outcomes[*pos] = Some(ChangeOutcome::Halt {
                    code: "BAD_RECORD".into(),
                    message: e.to_string(),
                    fields: vec![],
                });
                false
            }
        },
    );
    for field in unknown {
        metrics()
            .unknown_fields
            .with_label_values(&[&s.connector, &field])
            .inc();
        if shared.warned_unknown.insert(field.clone(), ()).is_none() {
            tracing::warn!(
                connector = %s.connector,
                "records carry field {field}, which {} does not have; it is dropped",
                s.sobject
            );
        }
    }
    bodies
}

/// The target Ids of the changes at `chunk`'s positions (what a delete addresses).
fn target_ids(targets: &[Option<String>], chunk: &[usize]) -> Vec<String> {
    chunk
        .iter()
        .map(|pos| targets[*pos].clone().unwrap_or_default())
        .collect()
}

async fn send(
    shared: &Shared,
    group: WriteGroup,
    bodies: &[Map<String, Value>],
    targets: &[Option<String>],
    chunk: &[usize],
) -> Result<Vec<RecordResult>, CallError> {
    let s = &shared.settings;
    let c = &shared.client;
    match group {
        WriteGroup::Insert => c.create(bodies, s.all_or_none).await,
        WriteGroup::UpsertByExternalId => {
            let field = s.custom_id_field.as_deref().unwrap_or_default();
            c.upsert(&s.sobject, field, bodies, s.all_or_none).await
        }
        WriteGroup::UpdateById | WriteGroup::UpdateByExternalId => {
            c.update(bodies, s.all_or_none).await
        }
        WriteGroup::DeleteById | WriteGroup::DeleteByExternalId => {
            c.delete(&target_ids(targets, chunk), s.all_or_none).await
        }
    }
}

/// Calls a Bulk API 2.0 job makes at the least after creating it.
const BULK_CALLS_BEYOND_FIRST: usize = 6;

/// Writes the changes at `chunk`'s positions as one Bulk API 2.0 ingest job; one result
/// per change, in order, as a Collections call would give them. It takes a governor
/// permit for each call a job makes at the least, so pacing and the daily reserve
/// count them; extra polls are seen only in `Sforce-Limit-Info`.
async fn send_bulk(
    shared: &Shared,
    group: WriteGroup,
    bodies: Vec<Map<String, Value>>,
    targets: &[Option<String>],
    chunk: &[usize],
) -> Result<Vec<RecordResult>, CallError> {
    let s = &shared.settings;
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
    // The caller took one permit; a job makes at least this many more calls (upload,
    // close, a poll, three result files), and the governor should see them coming.
    for _ in 0..BULK_CALLS_BEYOND_FIRST {
        permit(shared).await;
    }
    let answer = shared
        .client
        .bulk_ingest(&s.sobject, &op, rows, &BulkOptions::default())
        .await;
    for _ in 0..BULK_CALLS_BEYOND_FIRST {
        shared.governor.do_send(Release);
    }
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
