//! The SObject writer: turns a batch of changes into Salesforce calls.
//!
//! One writer serves one SObject; the sequencer decides how many batches run at once.
//! This file is the actor and what its batches share. The jobs live beside it:
//! `batch.rs` drives one batch to its final outcome (resolve → build → send → apply the
//! [`Action`](crate::salesforce::retry::Action) that `salesforce/retry.rs` decides),
//! `resolve.rs` turns External IDs into the target rows' Ids, `body.rs` builds the
//! request bodies, `bulk.rs` sends a batch as one Bulk API 2.0 ingest job, and
//! `references.rs` carries lookups between orgs by External ID, and `pack.rs` packs the
//! Collections calls of several batches into one Composite call.

mod batch;
mod body;
mod bulk;
mod pack;
mod references;
mod resolve;
#[cfg(test)]
mod tests;

use crate::kafka::ownership::Ownership;
use crate::pipeline::messages::{Acquire, AllocationSpent, Release, WriteBatch, Written};
use crate::salesforce::client::SalesforceClient;
use crate::salesforce::describe::DescribeCache;
use crate::salesforce::request::BodyRules;
use crate::salesforce::retry::{Backoff, Policy};
use actix::{Actor, Context, Handler, Recipient, ResponseFuture};
use dashmap::DashMap;
use prometheus::IntGauge;
use rand::SeedableRng;
pub use references::ReferenceSettings;
use std::sync::Arc;
use std::time::Duration;

/// Batches a writer takes on before the sequencer's `send` waits. The sequencer keeps
/// at most `sink.max.in.flight.requests` (≤ 100) batches out, so this never fills in
/// practice; it only bounds a sequencer that misbehaves.
const WRITER_MAILBOX: usize = 256;

/// What every batch of a writer shares.
#[derive(Debug, Clone)]
pub struct WriterSettings {
    /// Connector name (metrics label).
    pub connector: String,
    /// The target SObject.
    pub sobject: String,
    /// The External ID field, when records are addressed by it.
    pub custom_id_field: Option<String>,
    /// Field filtering rules.
    pub rules: BodyRules,
    /// What the configuration says about errors (`sink.all.or.none`,
    /// `sink.strict.deletes`, `behavior.on.api.errors`, `errors.tolerance`).
    pub policy: Policy,
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
    /// `sink.references=external.id`: how reference fields are carried.
    pub references: Option<ReferenceSettings>,
    /// `sink.composite.collections`: most Collections calls packed into one Composite
    /// call; 1 sends plain Collections calls.
    pub composite: usize,
    /// `sink.max.in.flight.requests`: Composite calls in flight at once.
    pub max_in_flight: usize,
    /// The fence: a change boards a call only while its partition's assignment lasts.
    pub ownership: Arc<Ownership>,
}

impl WriterSettings {
    /// A fresh backoff with the configured delays.
    fn backoff(&self) -> Backoff {
        Backoff::with_rng(
            self.backoff_initial,
            self.backoff_max,
            rand::rngs::StdRng::from_entropy(),
        )
    }
}

/// The writer's side of the rate governor: a permit per call.
#[derive(Clone)]
pub struct Permits {
    /// Asks for a permit.
    pub acquire: Recipient<Acquire>,
    /// Hands one back once its call answered.
    pub release: Recipient<Release>,
    /// Reports the daily allocation spent.
    pub spent: Recipient<AllocationSpent>,
    /// `sobject_sink_api_in_flight_requests` of this connector: permits held, that is
    /// calls on their way to Salesforce (a Bulk job holds one per call it will make).
    pub in_flight: IntGauge,
}

impl Permits {
    /// Takes a permit, asking again after a budget pause. A governor that stopped
    /// grants everything: the task is going down.
    async fn take(&self) {
        while let Ok(false) = self.acquire.send(Acquire).await {}
        self.in_flight.inc();
    }

    /// Takes `n` permits.
    async fn take_many(&self, n: usize) {
        for _ in 0..n {
            self.take().await;
        }
    }

    /// Hands back `n` permits. A control message, one per call made, so bounded by
    /// the calls in flight.
    fn give_back(&self, n: usize) {
        self.in_flight.sub(n as i64);
        for _ in 0..n {
            self.release.do_send(Release);
        }
    }

    /// Salesforce said the daily allocation is spent: the governor pauses, and the
    /// next [`Permits::take`] waits for the allocation to free up.
    fn allocation_spent(&self) {
        self.spent.do_send(AllocationSpent);
    }
}

/// What the writer's batches share.
struct Shared {
    settings: WriterSettings,
    client: SalesforceClient,
    schemas: Arc<DescribeCache>,
    permits: Permits,
    /// Source Id (External ID value) → target org Id, learnt from upserts and queries.
    ids: resolve::IdCache,
    /// Fields already warned about as unknown to the SObject.
    warned_unknown: DashMap<String, ()>,
    /// Reference fields carried by External ID, when configured.
    references: Option<references::ReferenceRules>,
    /// Packs Collections calls into Composite calls; `None` with
    /// `sink.composite.collections=1`.
    packer: Option<Arc<pack::Packer>>,
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
        schemas: Arc<DescribeCache>,
        permits: Permits,
    ) -> Self {
        let packer = (settings.composite > 1).then(|| {
            Arc::new(pack::Packer::new(
                settings.clone(),
                client.clone(),
                permits.clone(),
            ))
        });
        Self {
            shared: Arc::new(Shared {
                ids: resolve::IdCache::new(settings.id_cache_max),
                references: settings
                    .references
                    .clone()
                    .map(references::ReferenceRules::new),
                packer,
                settings,
                client,
                schemas,
                permits,
                warned_unknown: DashMap::new(),
            }),
        }
    }
}

impl Actor for SObjectWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(WRITER_MAILBOX);
    }
}

impl Handler<WriteBatch> for SObjectWriter {
    type Result = ResponseFuture<Written>;

    fn handle(&mut self, msg: WriteBatch, _ctx: &mut Self::Context) -> Self::Result {
        let shared = self.shared.clone();
        Box::pin(async move {
            let outcomes = batch::write_batch(&shared, msg.group, &msg.changes).await;
            Written {
                changes: msg.changes,
                outcomes,
            }
        })
    }
}
