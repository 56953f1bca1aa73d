//! Drives one batch to a final outcome per change: resolve External IDs, build the
//! bodies, send (through the governor), and apply the [`Action`] that
//! `salesforce/retry.rs` decides for each answer.
//!
//! Only what failed is sent again: the records that failed transiently, with
//! exponential backoff and full jitter, within `request.max.retries.time.ms`. A call
//! refused as a whole for one bad record is split in halves until the culprit stands
//! alone, so the others still go through. A spent daily allocation pauses the batch at
//! the governor without using up the retry budget.
//!
//! Before each call, retries included, the changes board at the fence
//! (`kafka/ownership.rs`): a change whose partition was revoked since it was read is
//! not sent again and comes back [`Action::Revoked`].
//!
//! With Composite packing on, a Collections call goes out as a subrequest of the
//! writer's next Composite call (`pack.rs`); its answer is settled here exactly as the
//! plain call's would be.

use super::{body, bulk, resolve, Shared};
use crate::config::Operation;
use crate::kafka::offsets::TopicPartition;
use crate::kafka::ownership::Ownership;
use crate::metrics::metrics;
use crate::pipeline::messages::Change;
use crate::pipeline::plan::WriteGroup;
use crate::salesforce::body::Body;
use crate::salesforce::collections::MAX_COLLECTION_RECORDS;
use crate::salesforce::composite::Subrequest;
use crate::salesforce::describe::{DescribeError, SObjectSchema};
use crate::salesforce::retry::{
    decide_call, decide_record, retries_exhausted, Action, Call, Cause, RecordOp, Retries,
};
use crate::salesforce::wire::{ApiError, CallError, RecordResult, RESULT_MISSING_CODE};
use std::sync::Arc;

fn record_op(op: Operation) -> RecordOp {
    match op {
        Operation::Insert => RecordOp::Insert,
        Operation::Update => RecordOp::Update,
        Operation::Upsert => RecordOp::Upsert,
        Operation::Delete => RecordOp::Delete,
    }
}

/// One final action per change, in order.
pub(super) async fn write_batch(
    shared: &Shared,
    group: WriteGroup,
    changes: &[Change],
) -> Vec<Action> {
    let s = &shared.settings;
    let n = changes.len();
    let mut retries = Retries::new(s.retry_budget, s.backoff());
    let schema = match schema(shared, &mut retries).await {
        Ok(schema) => schema,
        Err(action) => return vec![action; n],
    };
    if let Some(references) = &shared.references {
        if let Err(action) = references.prepare(shared, &schema, &mut retries).await {
            return vec![action; n];
        }
    }
    let mut outcomes: Vec<Option<Action>> = vec![None; n];

    // Target Ids for writes addressed by External ID that need the row's own Id.
    let mut targets: Vec<Option<String>> = changes.iter().map(|c| c.record.id.clone()).collect();
    if matches!(
        group,
        WriteGroup::UpdateByExternalId | WriteGroup::DeleteByExternalId
    ) {
        let resolved = match resolve::targets(shared, changes, &mut retries).await {
            Ok(resolved) => resolved,
            Err(action) => return vec![action; n],
        };
        let field = s.custom_id_field.as_deref().unwrap_or("?");
        for (i, (change, target)) in changes.iter().zip(resolved).enumerate() {
            if target.is_none() {
                // No row has this External ID: read like Salesforce's own answer for
                // a row that does not exist.
                let source = change.record.id.as_deref().unwrap_or_default();
                let missing = RecordResult {
                    errors: vec![ApiError {
                        status_code: "NOT_FOUND".into(),
                        message: format!("no {} row has {field}={source}", s.sobject),
                        fields: vec![field.to_string()],
                    }],
                    ..RecordResult::failed("NOT_FOUND", "")
                };
                let action = decide_record(&s.policy, record_op(change.operation), &missing);
                shared.ids.learn(group, change, &action);
                outcomes[i] = Some(action);
            }
            targets[i] = target;
        }
    }

    // Chunks still to send; a chunk refused as a whole is split in halves.
    let mut stack: Vec<Vec<usize>> = vec![(0..n).filter(|i| outcomes[*i].is_none()).collect()];
    while let Some(mut chunk) = stack.pop() {
        while !chunk.is_empty() {
            let boarded = Boarded::board(shared, changes, &mut chunk, &mut outcomes);
            if chunk.is_empty() {
                break;
            }
            let bodies = body::build(
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
            let answer = send(shared, group, changes, bodies, &targets, &chunk).await;
            drop(boarded);
            let err = match answer {
                Ok(results) => {
                    chunk = apply_results(shared, group, changes, &chunk, &results, &mut outcomes);
                    if chunk.is_empty() {
                        retries.reset();
                    } else if !retries.wait().await {
                        let last =
                            "per-record transient errors outlasted request.max.retries.time.ms";
                        settle(&mut outcomes, &chunk, retries_exhausted(last));
                        chunk.clear();
                    }
                    continue;
                }
                Err(err) => err,
            };
            match decide_call(
                &s.policy,
                Call::Write {
                    records: chunk.len(),
                },
                &err,
            ) {
                Action::Retry { reason } => {
                    let label = if err.status() == Some(401) {
                        "session"
                    } else {
                        "transient"
                    };
                    count_retry(shared, label);
                    tracing::debug!(connector = %s.connector, "{reason}; retrying: {err}");
                    if !retries.wait().await {
                        settle(&mut outcomes, &chunk, retries_exhausted(err.to_string()));
                        chunk.clear();
                    }
                }
                Action::PauseForBudget { .. } => shared.permits.allocation_spent(),
                Action::Split => {
                    let second = chunk.split_off(chunk.len() / 2);
                    stack.push(second);
                    stack.push(std::mem::take(&mut chunk));
                }
                action => {
                    settle(&mut outcomes, &chunk, action);
                    chunk.clear();
                }
            }
        }
    }
    let outcomes: Vec<Action> = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| retries_exhausted("no outcome")))
        .collect();
    if outcomes
        .iter()
        .any(|a| matches!(a, Action::Halt(c) if c.schema_changed()))
    {
        // The org's schema changed under us: the next describe is read afresh.
        if let Err(e) = shared.schemas.refresh(&shared.client, &s.sobject).await {
            tracing::warn!("describe of {} could not be refreshed: {e}", s.sobject);
        }
    }
    outcomes
}

/// The SObject's describe, read again while it fails transiently.
async fn schema(shared: &Shared, retries: &mut Retries) -> Result<Arc<SObjectSchema>, Action> {
    let s = &shared.settings;
    loop {
        let e = match shared
            .schemas
            .get_or_fetch(&shared.client, &s.sobject)
            .await
        {
            Ok(schema) => return Ok(schema),
            Err(e) => e,
        };
        let action = match &e {
            DescribeError::Call { source, .. } => decide_call(&s.policy, Call::Read, source),
            DescribeError::UnknownSObject { code, .. } => {
                Action::Halt(Cause::new(code, e.to_string()))
            }
        };
        match action {
            Action::Retry { .. } if retries.wait().await => {}
            Action::Retry { .. } => {
                return Err(retries_exhausted(format!(
                    "describe of {} failed: {e}",
                    s.sobject
                )))
            }
            other => return Err(other),
        }
    }
}

/// Changes counted on the wire at the fence, landed when dropped (after their call
/// answered, or when the batch is given up).
struct Boarded<'a> {
    ownership: &'a Ownership,
    partitions: Vec<TopicPartition>,
}

impl<'a> Boarded<'a> {
    /// Boards the changes at `chunk`'s positions; those whose partition was revoked
    /// since they were read leave the chunk as [`Action::Revoked`].
    fn board(
        shared: &'a Shared,
        changes: &[Change],
        chunk: &mut Vec<usize>,
        outcomes: &mut [Option<Action>],
    ) -> Self {
        let ownership = &*shared.settings.ownership;
        let partitions: Vec<TopicPartition> = chunk
            .iter()
            .map(|pos| TopicPartition::of(&changes[*pos].record.coords))
            .collect();
        let aboard = ownership.board(
            partitions
                .iter()
                .zip(chunk.iter())
                .map(|(tp, pos)| (tp, changes[*pos].epoch)),
        );
        let mut kept = Vec::with_capacity(chunk.len());
        let mut on_wire = Vec::with_capacity(chunk.len());
        for ((pos, tp), aboard) in chunk.iter().zip(partitions).zip(aboard) {
            if aboard {
                kept.push(*pos);
                on_wire.push(tp);
            } else {
                outcomes[*pos] = Some(Action::Revoked);
            }
        }
        *chunk = kept;
        Boarded {
            ownership,
            partitions: on_wire,
        }
    }
}

impl Drop for Boarded<'_> {
    fn drop(&mut self) {
        self.ownership.land(self.partitions.iter());
    }
}

/// Gives every change at `chunk`'s positions the same final action.
fn settle(outcomes: &mut [Option<Action>], chunk: &[usize], action: Action) {
    for pos in chunk {
        outcomes[*pos] = Some(action.clone());
    }
}

fn count_retry(shared: &Shared, reason: &str) {
    metrics()
        .retries
        .with_label_values(&[&shared.settings.connector, reason])
        .inc();
}

/// Applies one result per change of `chunk`; returns the positions to send again.
fn apply_results(
    shared: &Shared,
    group: WriteGroup,
    changes: &[Change],
    chunk: &[usize],
    results: &[RecordResult],
    outcomes: &mut [Option<Action>],
) -> Vec<usize> {
    let missing = RecordResult::failed(
        RESULT_MISSING_CODE,
        "Salesforce returned fewer results than records",
    );
    let mut again = Vec::new();
    for (k, pos) in chunk.iter().enumerate() {
        let change = &changes[*pos];
        let result = results.get(k).unwrap_or(&missing);
        match decide_record(&shared.settings.policy, record_op(change.operation), result) {
            Action::Retry { reason } => {
                count_retry(shared, &reason);
                again.push(*pos);
            }
            action => {
                shared.ids.learn(group, change, &action);
                outcomes[*pos] = Some(action);
            }
        }
    }
    again
}

/// Sends the changes at `chunk`'s positions in one call (or one Bulk job), with a
/// governor permit, or as a subrequest of the next Composite call (which takes the
/// permit).
async fn send(
    shared: &Shared,
    group: WriteGroup,
    changes: &[Change],
    bodies: Vec<Body<'_>>,
    targets: &[Option<String>],
    chunk: &[usize],
) -> Result<Vec<RecordResult>, CallError> {
    let s = &shared.settings;
    metrics()
        .batches
        .with_label_values(&[&s.connector, group.as_str()])
        .inc();
    metrics()
        .batch_size
        .with_label_values(&[&s.connector])
        .observe(chunk.len() as f64);
    let bulk = s.bulk && chunk.len() > MAX_COLLECTION_RECORDS;
    if let (Some(packer), false) = (&shared.packer, bulk) {
        let sub = subrequest(shared, group, &bodies, targets, chunk)?;
        let keys = chunk.iter().map(|pos| changes[*pos].order_key()).collect();
        return packer.submit(sub, keys).await;
    }
    shared.permits.take().await;
    let answer = if bulk {
        bulk::send(shared, group, bodies, targets, chunk).await
    } else {
        collections(shared, group, &bodies, targets, chunk).await
    };
    shared.permits.give_back(1);
    answer
}

/// The sObject Collections call of [`collections`], as a Composite subrequest.
fn subrequest(
    shared: &Shared,
    group: WriteGroup,
    bodies: &[Body<'_>],
    targets: &[Option<String>],
    chunk: &[usize],
) -> Result<Subrequest, CallError> {
    let s = &shared.settings;
    let all_or_none = s.policy.all_or_none;
    match group {
        WriteGroup::Insert => Subrequest::create(bodies, all_or_none),
        WriteGroup::UpsertByExternalId => {
            let field = s.custom_id_field.as_deref().unwrap_or_default();
            Subrequest::upsert(&s.sobject, field, bodies, all_or_none)
        }
        WriteGroup::UpdateById | WriteGroup::UpdateByExternalId => {
            Subrequest::update(bodies, all_or_none)
        }
        WriteGroup::DeleteById | WriteGroup::DeleteByExternalId => {
            Subrequest::delete(&body::target_ids(targets, chunk), all_or_none)
        }
    }
}

/// One sObject Collections call.
async fn collections(
    shared: &Shared,
    group: WriteGroup,
    bodies: &[Body<'_>],
    targets: &[Option<String>],
    chunk: &[usize],
) -> Result<Vec<RecordResult>, CallError> {
    let s = &shared.settings;
    let c = &shared.client;
    let all_or_none = s.policy.all_or_none;
    match group {
        WriteGroup::Insert => c.create(bodies, all_or_none).await,
        WriteGroup::UpsertByExternalId => {
            let field = s.custom_id_field.as_deref().unwrap_or_default();
            c.upsert(&s.sobject, field, bodies, all_or_none).await
        }
        WriteGroup::UpdateById | WriteGroup::UpdateByExternalId => {
            c.update(bodies, all_or_none).await
        }
        WriteGroup::DeleteById | WriteGroup::DeleteByExternalId => {
            c.delete(&body::target_ids(targets, chunk), all_or_none)
                .await
        }
    }
}
