//! The sequencer: per-Id order, batching, and the fate of every change.
//!
//! Decoded changes arrive here. [`OrderingQueues`] keeps one change per Id in flight
//! and forms batches per kind of write; the sequencer sends a batch to the writer
//! whenever a call slot is free (`sink.max.in.flight.requests`, times the batches one
//! Composite call carries, `sink.composite.collections`), holding partial
//! batches back for `sink.batch.linger.ms`. When a batch comes back, each change's
//! outcome decides what follows: acknowledge the offset, report, hand to the reporter
//! or DLQ, or halt.
//!
//! One case waits for more of the stream: an update whose row is missing or deleted.
//! After a crash the sink replays records it had already written, and such an update
//! may find its row deleted by a later change that is about to be replayed too. So the
//! update is held: if a delete of the same Id follows, the update is superseded (the end
//! state is the same); if the reader reaches the end of what is there to read first,
//! it halts the task like any unexpected error.
//!
//! Another waits for the target org: a record whose parent (named by External ID,
//! `sink.references=external.id`) is not there yet. It is sent again with backoff
//! while other Ids flow, its key stays busy so later changes of the same Id wait
//! behind it, and its offset is not acknowledged; `salesforce/retry.rs` decides when
//! the wait (`sink.references.wait.ms`) is over and what that means.

use crate::kafka::in_flight::InFlight;
use crate::kafka::offsets::TopicPartition;
use crate::kafka::ownership::Ownership;
use crate::metrics::metrics;
use crate::pipeline::messages::{
    Ack, BulkMode, Change, Drain, Halt, HaltReason, ReaderIdle, Report, Shutdown, Submit,
    WriteBatch, Written,
};
use crate::pipeline::ordering::{Flush, OrderingQueues, Pending};
use crate::pipeline::plan::WriteGroup;
use crate::record::RecordCoords;
use crate::salesforce::retry::{decide_parent_wait, Action, Backoff, Cause, Policy};
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Recipient,
    ResponseActFuture, SpawnHandle, WrapFuture,
};
use rand::SeedableRng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Submits the sequencer takes on before the decoder's `send` waits. Each holds up to
/// one poll of records (1,000), and the in-flight gate bounds the records anyway; a
/// short queue keeps the decoder just ahead of the sequencer.
const SEQUENCER_MAILBOX: usize = 64;

/// Sequencer settings.
#[derive(Debug, Clone)]
pub struct SequencerSettings {
    /// Connector name (metrics label).
    pub connector: String,
    /// Records per call, at most 200.
    pub max_batch: usize,
    /// How long a partial batch may wait for more records.
    pub linger: Duration,
    /// Calls in flight at once.
    pub max_in_flight: usize,
    /// Collections batches one call may carry (`sink.composite.collections`): the
    /// writer packs up to this many into one Composite call, so as many batches per
    /// call slot may be out at once.
    pub batches_per_call: usize,
    /// Changes in one Bulk API 2.0 job while working through a backlog; `None` when
    /// Bulk is off.
    pub bulk_batch: Option<usize>,
    /// What the configuration says about errors (a parent that never arrives).
    pub policy: Policy,
    /// Whether written changes go to the reporter, for the success topic
    /// (`reporter.result.topic.name`); without one they end here, so the reporter
    /// gets no message per record.
    pub report_deliveries: bool,
    /// `sink.references.wait.ms`.
    pub parent_wait: Duration,
    /// `sink.retry.backoff.initial.ms` and `.max.ms`: the pace of sending a record
    /// again while its parent is missing.
    pub backoff: (Duration, Duration),
    /// The partitions' assignments: a held update whose partition moved on is not
    /// this task's to halt on.
    pub ownership: Arc<Ownership>,
}

/// Where the sequencer's batches, acknowledgements, reports and halts go.
pub struct SequencerTargets {
    /// The SObject writer.
    pub writer: Recipient<WriteBatch>,
    /// The offset tracker.
    pub tracker: Recipient<Ack>,
    /// The halt actor.
    pub halt: Recipient<Halt>,
    /// The reporter.
    pub reporter: Recipient<Report>,
}

/// The sequencer actor.
pub struct Sequencer {
    settings: SequencerSettings,
    queues: OrderingQueues<WriteGroup, Change>,
    writer: Recipient<WriteBatch>,
    tracker: Recipient<Ack>,
    halt: Recipient<Halt>,
    reporter: Recipient<Report>,
    in_flight: usize,
    linger_timer: Option<(Instant, SpawnHandle)>,
    /// Updates whose row is missing, waiting for a later delete of the same Id.
    held: HashMap<String, (Change, Cause)>,
    /// Keys whose change waits for its parent: since when, and its backoff.
    parent_waits: HashMap<String, (Instant, Backoff)>,
    drain_waiters: Vec<oneshot::Sender<()>>,
    draining: bool,
    last_submit: Instant,
    /// The reader's admission gate: when it is full, no more records come until
    /// some are done, so waiting for fuller bulk batches is pointless.
    gate: Arc<InFlight>,
}

/// In bulk mode, how long input must pause before a partial bulk batch goes.
const BULK_QUIET: Duration = Duration::from_secs(1);

impl Sequencer {
    /// A sequencer sending batches to `targets.writer`.
    pub fn new(
        settings: SequencerSettings,
        targets: SequencerTargets,
        gate: Arc<InFlight>,
    ) -> Self {
        let queues = OrderingQueues::new(settings.max_batch);
        let queues = match settings.bulk_batch {
            Some(size) => queues.with_bulk_batch(size),
            None => queues,
        };
        Self {
            queues,
            settings,
            writer: targets.writer,
            tracker: targets.tracker,
            halt: targets.halt,
            reporter: targets.reporter,
            in_flight: 0,
            linger_timer: None,
            held: HashMap::new(),
            parent_waits: HashMap::new(),
            drain_waiters: Vec::new(),
            draining: false,
            last_submit: Instant::now(),
            gate,
        }
    }

    /// Which partial batches may go out now. Every call costs one unit of the org's
    /// allocation whatever its size, so a partial batch waits while more changes are
    /// on their way: records still arriving from the reader, or calls in flight whose
    /// outcomes free Ids whose next changes will join it. Once input is quiet and
    /// nothing is in flight, the largest partial batch goes after one linger; under
    /// load no partial batch waits more than four lingers.
    ///
    /// In bulk mode (a backlog) batches fill up to the bulk size, since every job costs
    /// several calls whatever its size. A partial one goes when the buffer is full (no
    /// more records can come until some are done) or input paused for [`BULK_QUIET`]
    /// (the reader caught up).
    fn flush_policy(&self, now: Instant) -> Flush {
        let quiet = self.input_quiet_since(now, self.settings.linger).is_some();
        if self.draining {
            Flush::All
        } else if self.queues.bulk_mode() {
            if self.gate.is_full() {
                Flush::Largest(Duration::ZERO)
            } else if self.input_quiet_since(now, BULK_QUIET).is_some() {
                Flush::Largest(self.settings.linger)
            } else {
                Flush::FullOnly
            }
        } else if self.in_flight == 0 && quiet {
            Flush::Largest(self.settings.linger)
        } else {
            Flush::Stale(self.settings.linger * 4)
        }
    }

    /// When input became quiet (no records for `pause`), if it is.
    fn input_quiet_since(&self, now: Instant, pause: Duration) -> Option<Instant> {
        let quiet_at = self.last_submit + pause;
        (now >= quiet_at).then_some(quiet_at)
    }

    fn next_deadline(&self) -> Option<Instant> {
        if self.queues.bulk_mode() {
            let due = self.queues.next_deadline(self.settings.linger)?;
            Some(due.max(self.last_submit + BULK_QUIET))
        } else if self.in_flight == 0 {
            let due = self.queues.next_deadline(self.settings.linger)?;
            Some(due.max(self.last_submit + self.settings.linger))
        } else {
            self.queues.next_deadline(self.settings.linger * 4)
        }
    }

    /// Batches that may be out at once: one per call slot for Bulk jobs, as many as a
    /// Composite call carries otherwise.
    fn max_batches_out(&self) -> usize {
        if self.queues.bulk_mode() {
            self.settings.max_in_flight
        } else {
            self.settings.max_in_flight * self.settings.batches_per_call.max(1)
        }
    }

    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        while self.in_flight < self.max_batches_out() {
            let Some(batch) = self.queues.next_batch(now, self.flush_policy(now)) else {
                break;
            };
            self.in_flight += 1;
            let group = batch.group;
            tracing::trace!(
                connector = %self.settings.connector,
                "batch {group:?} of {} (in flight {}, ready {}, waiting {})",
                batch.items.len(),
                self.in_flight,
                self.queues.ready_len(),
                self.queues.waiting_len()
            );
            let changes: Vec<Change> = batch.items.into_iter().map(|p| p.payload).collect();
            // Kept in case the writer is gone and the batch with it: the halt names
            // the batch's first record.
            let first = changes
                .first()
                .map(|c| (c.record.coords.clone(), c.record.id.clone()));
            let request = self.writer.send(WriteBatch { group, changes });
            ctx.spawn(request.into_actor(self).map(move |res, act, ctx| {
                act.in_flight -= 1;
                match res {
                    Ok(written) => act.settle(written, ctx),
                    Err(e) => {
                        let (coords, record_id) = first.unzip();
                        act.halt.do_send(Halt(HaltReason {
                            cause: Cause::new(
                                "WRITER_STOPPED",
                                format!("the SObject writer stopped with a batch in flight: {e}"),
                            ),
                            coords,
                            record_id: record_id.flatten(),
                        }));
                    }
                }
                act.dispatch(ctx);
                act.check_drained();
            }));
        }
        self.arm_linger(ctx);
    }

    fn arm_linger(&mut self, ctx: &mut Context<Self>) {
        let Some(deadline) = self.next_deadline() else {
            return;
        };
        if let Some((at, _)) = &self.linger_timer {
            if *at <= deadline {
                return;
            }
        }
        if let Some((_, handle)) = self.linger_timer.take() {
            ctx.cancel_future(handle);
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(wait, |act, ctx| {
            act.linger_timer = None;
            act.dispatch(ctx);
        });
        self.linger_timer = Some((deadline, handle));
    }

    /// Acts on each change's final action: acknowledge, report, hold, halt, or wait
    /// for a missing parent.
    fn settle(&mut self, written: Written, ctx: &mut Context<Self>) {
        let mut out = Settled {
            now: Instant::now(),
            now_ms: chrono::Utc::now().timestamp_millis(),
            acks: Vec::with_capacity(written.changes.len()),
            reports: Vec::new(),
            outcomes: Tally::default(),
            latency: metrics()
                .record_latency
                .with_label_values(&[&self.settings.connector]),
        };
        for (change, action) in written.changes.into_iter().zip(written.outcomes) {
            match action {
                Action::ParentMissing(cause) => {
                    if let Some((change, action)) = self.wait_for_parent(change, cause, ctx) {
                        self.settle_one(change, action, &mut out);
                    }
                }
                other => {
                    if !self.parent_waits.is_empty() {
                        self.parent_waits.remove(&change.order_key());
                    }
                    self.settle_one(change, other, &mut out);
                }
            }
        }
        out.outcomes.publish(&self.settings.connector);
        let Settled { acks, reports, .. } = out;
        metrics()
            .records_waiting_for_parent
            .with_label_values(&[&self.settings.connector])
            .set(self.parent_waits.len() as i64);
        self.forward(reports, acks, ctx);
    }

    /// A change whose parent is missing: sent again after a backoff while the wait
    /// lasts (`None`), else handed back with its final action.
    fn wait_for_parent(
        &mut self,
        change: Change,
        cause: Cause,
        ctx: &mut Context<Self>,
    ) -> Option<(Change, Action)> {
        let key = change.order_key();
        let s = &self.settings;
        let (since, backoff) = self.parent_waits.entry(key.clone()).or_insert_with(|| {
            (
                Instant::now(),
                Backoff::with_rng(s.backoff.0, s.backoff.1, rand::rngs::StdRng::from_entropy()),
            )
        });
        let waited = since.elapsed();
        match decide_parent_wait(&s.policy, &cause, waited, s.parent_wait) {
            Action::Retry { reason } => {
                let left = s.parent_wait.saturating_sub(waited);
                let delay = backoff.next_delay().min(left);
                tracing::debug!(
                    connector = %s.connector,
                    "{} Id={key}: {reason} ({}); again in {delay:?}",
                    change.record.coords,
                    cause.message
                );
                let group = change.group;
                ctx.run_later(delay, move |act, ctx| {
                    act.queues.retry(
                        Pending {
                            key,
                            group,
                            payload: change,
                        },
                        Instant::now(),
                    );
                    act.dispatch(ctx);
                });
                None
            }
            action => {
                self.parent_waits.remove(&key);
                Some((change, action))
            }
        }
    }

    /// Acts on one change's final action.
    fn settle_one(&mut self, change: Change, action: Action, out: &mut Settled) {
        let now = out.now;
        let key = change.order_key();
        let op = change.group.as_str();
        {
            match action {
                Action::Done { id, created } => {
                    out.outcomes.add(op, "written");
                    if let Some(ts) = change.record.timestamp {
                        let age_ms = (out.now_ms - ts).max(0);
                        out.latency.observe(age_ms as f64 / 1000.0);
                    }
                    out.acks.push(change.record.coords.clone());
                    if self.settings.report_deliveries {
                        out.reports.push(Report::Delivered {
                            change: Box::new(change),
                            id,
                            created,
                        });
                    }
                    self.queues.finish(&key, now);
                }
                Action::AlreadyGone => {
                    out.outcomes.add(op, "already_gone");
                    out.acks.push(change.record.coords.clone());
                    if self.settings.report_deliveries {
                        out.reports.push(Report::Delivered {
                            change: Box::new(change),
                            id: None,
                            created: Some(false),
                        });
                    }
                    self.queues.finish(&key, now);
                }
                Action::RowMissing(cause) => {
                    if self.queues.waiting_for(&key).any(|p| p.group.is_delete()) {
                        out.outcomes.add(op, "superseded");
                        out.acks.push(change.record.coords.clone());
                        self.queues.finish(&key, now);
                    } else {
                        self.held.insert(key, (change, cause));
                    }
                }
                Action::Reject(cause) => {
                    out.outcomes.add(op, "failed");
                    // The reporter acknowledges the offset once the error report (and
                    // the dead letter, when configured) is safely in Kafka.
                    out.reports.push(Report::Rejected {
                        change: Box::new(change),
                        cause,
                    });
                    self.queues.finish(&key, now);
                }
                Action::Halt(cause) => {
                    self.halt
                        .do_send(Halt(HaltReason::for_change(&change, cause)));
                }
                Action::Revoked => {
                    // Not acknowledged, so no offset is committed for it; the Id is
                    // free for the changes behind it, which the fence also turns back
                    // unless they were read under a newer assignment.
                    out.outcomes.add(op, "revoked");
                    self.queues.finish(&key, now);
                }
                // The writer settles these itself; one reaching here is a defect, and
                // the record must not be acknowledged.
                unsettled @ (Action::Retry { .. }
                | Action::Split
                | Action::PauseForBudget { .. }
                | Action::ParentMissing(_)) => {
                    let cause = Cause::new(
                        "UNSETTLED_OUTCOME",
                        format!("the writer handed back an unsettled outcome: {unsettled:?}"),
                    );
                    self.halt
                        .do_send(Halt(HaltReason::for_change(&change, cause)));
                }
            }
        }
    }

    /// Hands reports to the reporter and acknowledgements to the tracker, waiting for
    /// each to be taken on: while the reporter is saturated (a slow result topic) the
    /// sequencer takes on no new work, so nothing piles up without bound.
    fn forward(&mut self, reports: Vec<Report>, acks: Vec<RecordCoords>, ctx: &mut Context<Self>) {
        if reports.is_empty() && acks.is_empty() {
            return;
        }
        let reporter = self.reporter.clone();
        let tracker = self.tracker.clone();
        ctx.wait(
            async move {
                for report in reports {
                    let _ = reporter.send(report).await;
                }
                if !acks.is_empty() {
                    let _ = tracker.send(Ack(acks)).await;
                }
            }
            .into_actor(self),
        );
    }

    fn release_held_for(&mut self, key: &str, ctx: &mut Context<Self>) {
        let superseded = self.queues.waiting_for(key).any(|p| p.group.is_delete());
        if superseded {
            if let Some((change, _)) = self.held.remove(key) {
                count_outcome(
                    &self.settings.connector,
                    change.group.as_str(),
                    "superseded",
                );
                self.forward(Vec::new(), vec![change.record.coords.clone()], ctx);
                self.queues.finish(key, Instant::now());
            }
        }
    }

    /// Halts on the updates held for a row that is missing. One whose partition was
    /// revoked since it was read is the next owner's to settle (it replays it from the
    /// committed offset): it is dropped as revoked, unacknowledged.
    fn halt_held(&mut self) {
        let now = Instant::now();
        for (key, (change, cause)) in std::mem::take(&mut self.held) {
            let partition = TopicPartition::of(&change.record.coords);
            if self.settings.ownership.is_current(&partition, change.epoch) {
                self.halt
                    .do_send(Halt(HaltReason::for_change(&change, cause)));
            } else {
                count_outcome(&self.settings.connector, change.group.as_str(), "revoked");
                self.queues.finish(&key, now);
            }
        }
    }

    fn check_drained(&mut self) {
        if self.in_flight == 0 && self.queues.ready_len() == 0 && !self.drain_waiters.is_empty() {
            for w in self.drain_waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }
}

/// What settling one written batch hands on, and the clock and metrics it shares.
struct Settled {
    now: Instant,
    /// Wall-clock milliseconds, for the records' Kafka timestamps.
    now_ms: i64,
    acks: Vec<RecordCoords>,
    reports: Vec<Report>,
    outcomes: Tally,
    /// `sobject_sink_record_latency_seconds` of this connector.
    latency: prometheus::Histogram,
}

/// Final outcomes counted per (operation, outcome) while a batch is settled, added to
/// `sobject_sink_records_total` once per batch instead of once per record.
#[derive(Default)]
struct Tally(Vec<(&'static str, &'static str, u64)>);

impl Tally {
    fn add(&mut self, operation: &'static str, outcome: &'static str) {
        match self
            .0
            .iter_mut()
            .find(|(op, what, _)| *op == operation && *what == outcome)
        {
            Some((_, _, n)) => *n += 1,
            None => self.0.push((operation, outcome, 1)),
        }
    }

    fn publish(self, connector: &str) {
        for (operation, outcome, n) in self.0 {
            metrics()
                .records
                .with_label_values(&[connector, operation, outcome])
                .inc_by(n);
        }
    }
}

/// Counts one record's final outcome (`sobject_sink_records_total`).
fn count_outcome(connector: &str, operation: &str, outcome: &str) {
    metrics()
        .records
        .with_label_values(&[connector, operation, outcome])
        .inc();
}

impl Actor for Sequencer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(SEQUENCER_MAILBOX);
    }
}

impl Handler<Submit> for Sequencer {
    type Result = ();

    fn handle(&mut self, msg: Submit, ctx: &mut Self::Context) {
        let now = Instant::now();
        self.last_submit = now;
        for change in msg.0 {
            let key = change.order_key();
            let group = change.group;
            // A delete releases an update held for its Id (looked up only then).
            let releases = (group.is_delete() && self.held.contains_key(&key)).then(|| key.clone());
            self.queues.push(
                Pending {
                    key,
                    group,
                    payload: change,
                },
                now,
            );
            if let Some(key) = releases {
                self.release_held_for(&key, ctx);
            }
        }
        self.dispatch(ctx);
    }
}

impl Handler<BulkMode> for Sequencer {
    type Result = ();

    fn handle(&mut self, msg: BulkMode, ctx: &mut Self::Context) {
        if msg.0 != self.queues.bulk_mode() {
            tracing::info!(
                connector = %self.settings.connector,
                "{}",
                if msg.0 {
                    "backlog over sink.bulk.threshold.records: writing through Bulk API 2.0 jobs"
                } else {
                    "backlog worked off: writing through sObject Collections calls"
                }
            );
            self.queues.set_bulk_mode(msg.0);
            self.dispatch(ctx);
        }
    }
}

impl Handler<ReaderIdle> for Sequencer {
    type Result = ();

    fn handle(&mut self, _msg: ReaderIdle, _ctx: &mut Self::Context) {
        if !self.held.is_empty() && self.in_flight == 0 && self.queues.ready_len() == 0 {
            self.halt_held();
        }
    }
}

impl Handler<Drain> for Sequencer {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Drain, ctx: &mut Self::Context) -> Self::Result {
        self.draining = true;
        if msg.halt_held {
            self.halt_held();
        }
        self.dispatch(ctx);
        let (tx, rx) = oneshot::channel();
        self.drain_waiters.push(tx);
        self.check_drained();
        Box::pin(
            async move {
                let _ = rx.await;
            }
            .into_actor(self),
        )
    }
}

impl Handler<Shutdown> for Sequencer {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Operation;
    use actix::{Addr, Handler};
    use parking_lot::Mutex;

    /// What the fake actors saw.
    #[derive(Default)]
    struct Log {
        /// Offsets of each batch the writer got, in order.
        batches: Vec<Vec<i64>>,
        acks: Vec<i64>,
        /// `delivered@offset` / `rejected@offset`.
        reports: Vec<String>,
        /// `code@offset`.
        halts: Vec<String>,
        /// Batches the writer had got when the first acknowledgement came.
        out_at_first_ack: Option<usize>,
    }

    type Script = Box<dyn Fn(&Change) -> Action>;

    /// A writer answering each change as the test's script says, and the tracker,
    /// reporter and halt actor in one, writing down what they get.
    struct Fake {
        log: Arc<Mutex<Log>>,
        script: Script,
    }

    impl Actor for Fake {
        type Context = Context<Self>;
    }

    impl Handler<WriteBatch> for Fake {
        type Result = actix::MessageResult<WriteBatch>;
        fn handle(&mut self, msg: WriteBatch, _: &mut Context<Self>) -> Self::Result {
            let offsets = msg.changes.iter().map(|c| c.record.coords.offset).collect();
            self.log.lock().batches.push(offsets);
            let outcomes = msg.changes.iter().map(|c| (self.script)(c)).collect();
            actix::MessageResult(Written {
                changes: msg.changes,
                outcomes,
            })
        }
    }

    impl Handler<Ack> for Fake {
        type Result = ();
        fn handle(&mut self, msg: Ack, _: &mut Context<Self>) {
            let mut log = self.log.lock();
            if log.out_at_first_ack.is_none() {
                log.out_at_first_ack = Some(log.batches.len());
            }
            log.acks.extend(msg.0.iter().map(|c| c.offset));
        }
    }

    impl Handler<Report> for Fake {
        type Result = ();
        fn handle(&mut self, msg: Report, _: &mut Context<Self>) {
            let line = match msg {
                Report::Delivered { change, .. } => {
                    format!("delivered@{}", change.record.coords.offset)
                }
                Report::Rejected { change, .. } => {
                    format!("rejected@{}", change.record.coords.offset)
                }
                Report::BadRecord { raw, .. } => format!("bad@{}", raw.coords.offset),
                Report::Halted(r) => format!("halted@{:?}", r.coords.map(|c| c.offset)),
            };
            self.log.lock().reports.push(line);
        }
    }

    impl Handler<Halt> for Fake {
        type Result = ();
        fn handle(&mut self, msg: Halt, _: &mut Context<Self>) {
            let offset = msg.0.coords.map(|c| c.offset).unwrap_or(-1);
            self.log
                .lock()
                .halts
                .push(format!("{}@{offset}", msg.0.cause.code));
        }
    }

    const LINGER: Duration = Duration::from_millis(100);

    fn start(max_in_flight: usize, script: Script) -> (Addr<Sequencer>, Arc<Mutex<Log>>) {
        start_packing(max_in_flight, 1, script)
    }

    fn start_packing(
        max_in_flight: usize,
        batches_per_call: usize,
        script: Script,
    ) -> (Addr<Sequencer>, Arc<Mutex<Log>>) {
        start_owned(max_in_flight, batches_per_call, script, leads_0_assigned())
    }

    /// `leads` partition 0.
    fn leads_0() -> TopicPartition {
        crate::kafka::offsets::test_partition("leads", 0)
    }

    /// A fence whose first assignment, epoch 1 (the test changes' epoch), is `leads`
    /// partition 0.
    fn leads_0_assigned() -> Arc<Ownership> {
        let ownership = Arc::new(Ownership::default());
        ownership.assign(&[leads_0()]);
        ownership
    }

    fn start_owned(
        max_in_flight: usize,
        batches_per_call: usize,
        script: Script,
        ownership: Arc<Ownership>,
    ) -> (Addr<Sequencer>, Arc<Mutex<Log>>) {
        start_reporting(max_in_flight, batches_per_call, script, ownership, true)
    }

    /// A sequencer that hands written changes to the reporter when
    /// `report_deliveries` (a success topic is configured).
    fn start_reporting(
        max_in_flight: usize,
        batches_per_call: usize,
        script: Script,
        ownership: Arc<Ownership>,
        report_deliveries: bool,
    ) -> (Addr<Sequencer>, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let fake = Fake {
            log: log.clone(),
            script,
        }
        .start();
        let sequencer = Sequencer::new(
            SequencerSettings {
                connector: "seq-test".into(),
                max_batch: 10,
                linger: LINGER,
                max_in_flight,
                batches_per_call,
                bulk_batch: None,
                policy: Policy::default(),
                report_deliveries,
                parent_wait: PARENT_WAIT,
                backoff: (Duration::from_millis(10), Duration::from_millis(40)),
                ownership,
            },
            SequencerTargets {
                writer: fake.clone().recipient(),
                tracker: fake.clone().recipient(),
                halt: fake.clone().recipient(),
                reporter: fake.recipient(),
            },
            Arc::new(InFlight::new(10_000)),
        )
        .start();
        (sequencer, log)
    }

    fn change(offset: i64, id: &str, operation: Operation) -> Change {
        let group = WriteGroup::for_operation(operation, false);
        Change::lead(offset, Some(id), operation, group, Default::default())
    }

    fn done() -> Script {
        Box::new(|_| Action::Done {
            id: None,
            created: None,
        })
    }

    /// Lets the actors run, moving the clock by `by`.
    async fn run_for(by: Duration) {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::advance(by).await;
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[actix_rt::test]
    async fn written_changes_go_to_the_reporter_only_when_a_success_topic_wants_them() {
        tokio::time::pause();
        for (report_deliveries, reported) in [(true, 10), (false, 0)] {
            let (sequencer, log) =
                start_reporting(4, 1, done(), leads_0_assigned(), report_deliveries);
            let ten = (0..10)
                .map(|i| change(i, &format!("A{i}"), Operation::Update))
                .collect();
            sequencer.send(Submit(ten)).await.unwrap();
            run_for(Duration::ZERO).await;
            let log = log.lock();
            assert_eq!(
                log.acks,
                (0..10).collect::<Vec<_>>(),
                "every change acknowledged"
            );
            assert_eq!(log.reports.len(), reported, "{:?}", log.reports);
        }
    }

    #[actix_rt::test]
    async fn a_partial_batch_waits_one_linger_and_a_full_one_goes_at_once() {
        tokio::time::pause();
        let (sequencer, log) = start(4, done());
        let three = (0..3)
            .map(|i| change(i, &format!("A{i}"), Operation::Update))
            .collect();
        sequencer.send(Submit(three)).await.unwrap();
        run_for(LINGER / 2).await;
        assert!(log.lock().batches.is_empty(), "still lingering");
        run_for(LINGER).await;
        assert_eq!(log.lock().batches, [vec![0, 1, 2]]);

        let ten = (10..20)
            .map(|i| change(i, &format!("B{i}"), Operation::Update))
            .collect();
        sequencer.send(Submit(ten)).await.unwrap();
        run_for(Duration::ZERO).await;
        assert_eq!(log.lock().batches.len(), 2, "a full batch does not linger");
        assert_eq!(log.lock().acks.len(), 13);
    }

    #[actix_rt::test]
    async fn a_call_slot_takes_as_many_batches_as_one_composite_carries() {
        tokio::time::pause();
        // The first answer frees a slot and the next batch leaves before that answer's
        // acknowledgement: one more batch than a call carries is out by then.
        for (per_call, out) in [(1, 2), (3, 4)] {
            let (sequencer, log) = start_packing(1, per_call, done());
            let changes = (0..100)
                .map(|i| change(i, &format!("P{i}"), Operation::Update))
                .collect();
            sequencer.send(Submit(changes)).await.unwrap();
            run_for(LINGER).await;
            let log = log.lock();
            assert_eq!(log.out_at_first_ack, Some(out), "{per_call} per call");
            assert_eq!(log.acks.len(), 100);
        }
    }

    #[actix_rt::test]
    async fn changes_to_one_id_go_one_at_a_time_in_order() {
        tokio::time::pause();
        let (sequencer, log) = start(4, done());
        let changes = vec![
            change(0, "A", Operation::Update),
            change(1, "A", Operation::Update),
            change(2, "B", Operation::Update),
            change(3, "A", Operation::Update),
        ];
        sequencer.send(Submit(changes)).await.unwrap();
        for _ in 0..10 {
            run_for(LINGER).await;
        }
        let log = log.lock();
        assert_eq!(log.acks.len(), 4);
        let batch_of = |offset: i64| {
            log.batches
                .iter()
                .position(|b| b.contains(&offset))
                .unwrap()
        };
        assert!(
            batch_of(0) < batch_of(1) && batch_of(1) < batch_of(3),
            "{:?}",
            log.batches
        );
        assert_eq!(batch_of(0), batch_of(2), "different Ids share a call");
        // Every written change is reported and acknowledged.
        assert_eq!(log.reports.len(), 4);
    }

    #[actix_rt::test]
    async fn a_revoked_change_is_neither_acknowledged_nor_reported_and_frees_its_id() {
        tokio::time::pause();
        // The change at offset 0 was read under an assignment that has ended; the one
        // behind it (same Id) under the current one.
        let script: Script = Box::new(|c| match c.record.coords.offset {
            0 => Action::Revoked,
            _ => Action::Done {
                id: None,
                created: None,
            },
        });
        let (sequencer, log) = start(4, script);
        let changes = vec![
            change(0, "A", Operation::Update),
            change(1, "A", Operation::Update),
        ];
        sequencer.send(Submit(changes)).await.unwrap();
        for _ in 0..5 {
            run_for(LINGER).await;
        }
        let log = log.lock();
        assert_eq!(log.acks, [1], "the revoked change is not acknowledged");
        assert_eq!(log.reports, ["delivered@1"], "nor reported");
        assert!(log.halts.is_empty(), "{:?}", log.halts);
    }

    #[actix_rt::test]
    async fn an_update_of_a_missing_row_is_superseded_by_a_later_delete() {
        tokio::time::pause();
        let script: Script = Box::new(|c| match c.operation {
            Operation::Update => Action::RowMissing(Cause::new("ENTITY_IS_DELETED", "deleted")),
            _ => Action::AlreadyGone,
        });
        let (sequencer, log) = start(4, script);
        sequencer
            .send(Submit(vec![change(0, "A", Operation::Update)]))
            .await
            .unwrap();
        run_for(LINGER * 2).await;
        assert!(
            log.lock().acks.is_empty(),
            "the update is held, not acknowledged"
        );
        sequencer
            .send(Submit(vec![change(1, "A", Operation::Delete)]))
            .await
            .unwrap();
        run_for(LINGER * 2).await;
        let log = log.lock();
        let mut acks = log.acks.clone();
        acks.sort();
        assert_eq!(acks, [0, 1]);
        assert!(log.halts.is_empty(), "{:?}", log.halts);
    }

    #[actix_rt::test]
    async fn a_drain_after_a_halt_halts_held_updates_and_ends_when_nothing_is_in_flight() {
        tokio::time::pause();
        let script: Script = Box::new(|c| {
            if c.record.coords.offset == 0 {
                Action::RowMissing(Cause::new("NOT_FOUND", "no row"))
            } else {
                Action::Reject(Cause::new("STRING_TOO_LONG", "too long"))
            }
        });
        let (sequencer, log) = start(4, script);
        let changes = vec![
            change(0, "A", Operation::Update),
            change(1, "B", Operation::Update),
        ];
        sequencer.send(Submit(changes)).await.unwrap();
        run_for(LINGER * 2).await;
        let drained = actix_rt::spawn(sequencer.send(Drain { halt_held: true }));
        run_for(Duration::ZERO).await;
        assert!(drained.await.unwrap().is_ok());
        let log = log.lock();
        assert_eq!(log.halts, ["NOT_FOUND@0"]);
        // A rejected change is reported; its offset is the reporter's to acknowledge.
        assert_eq!(log.reports, ["rejected@1"]);
        assert!(log.acks.is_empty(), "{:?}", log.acks);
    }

    const PARENT_WAIT: Duration = Duration::from_millis(500);

    fn parent_missing() -> Action {
        Action::ParentMissing(Cause::new(
            "INVALID_FIELD",
            "Foreign key external ID: 001P not found for field CustomId__c in entity Account",
        ))
    }

    #[actix_rt::test]
    async fn a_child_waits_for_its_parent_while_other_ids_flow_and_its_later_changes_wait() {
        tokio::time::pause();
        let parent_there = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let there = parent_there.clone();
        let script: Script = Box::new(move |c| {
            if c.record.id.as_deref() == Some("C")
                && !there.load(std::sync::atomic::Ordering::SeqCst)
            {
                parent_missing()
            } else {
                Action::Done {
                    id: None,
                    created: None,
                }
            }
        });
        let (sequencer, log) = start(4, script);
        let changes = vec![
            change(0, "C", Operation::Insert),
            change(1, "B", Operation::Update),
            change(2, "C", Operation::Update),
        ];
        sequencer.send(Submit(changes)).await.unwrap();
        for _ in 0..5 {
            run_for(LINGER).await;
        }
        {
            let log = log.lock();
            assert_eq!(log.acks, [1], "B flows; C and its update wait");
            assert!(
                log.batches.len() >= 3,
                "C was sent again: {:?}",
                log.batches
            );
            assert!(
                log.batches.iter().all(|b| !b.contains(&2)),
                "{:?}",
                log.batches
            );
        }
        parent_there.store(true, std::sync::atomic::Ordering::SeqCst);
        for _ in 0..5 {
            run_for(LINGER).await;
        }
        let log = log.lock();
        assert_eq!(log.acks, [1, 0, 2]);
        assert!(log.halts.is_empty(), "{:?}", log.halts);
    }

    #[actix_rt::test]
    async fn a_parent_that_never_arrives_halts_naming_it_after_the_wait() {
        tokio::time::pause();
        let (sequencer, log) = start(4, Box::new(|_| parent_missing()));
        sequencer
            .send(Submit(vec![change(4, "C", Operation::Insert)]))
            .await
            .unwrap();
        for _ in 0..4 {
            run_for(LINGER).await;
        }
        assert!(log.lock().halts.is_empty(), "still within the wait");
        for _ in 0..10 {
            run_for(LINGER).await;
        }
        let log = log.lock();
        assert_eq!(log.halts, ["PARENT_NOT_FOUND@4"]);
        assert!(log.acks.is_empty());
    }

    #[actix_rt::test]
    async fn a_held_update_halts_once_the_reader_is_idle() {
        tokio::time::pause();
        let script: Script = Box::new(|_| Action::RowMissing(Cause::new("NOT_FOUND", "no row")));
        let (sequencer, log) = start(4, script);
        sequencer
            .send(Submit(vec![change(7, "A", Operation::Update)]))
            .await
            .unwrap();
        run_for(LINGER * 2).await;
        assert!(log.lock().halts.is_empty());
        sequencer.send(ReaderIdle).await.unwrap();
        run_for(Duration::ZERO).await;
        assert_eq!(log.lock().halts, ["NOT_FOUND@7"]);
    }

    #[actix_rt::test]
    async fn a_held_update_whose_partition_was_revoked_is_left_to_the_next_owner() {
        tokio::time::pause();
        let script: Script = Box::new(|_| Action::RowMissing(Cause::new("NOT_FOUND", "no row")));
        let ownership = leads_0_assigned();
        let (sequencer, log) = start_owned(4, 1, script, ownership.clone());
        sequencer
            .send(Submit(vec![change(7, "A", Operation::Update)]))
            .await
            .unwrap();
        run_for(LINGER * 2).await;
        // A rebalance gives the partition to another member (and maybe back).
        assert!(ownership.revoke(&[leads_0()], std::time::Instant::now()));
        ownership.assign(&[leads_0()]);
        sequencer.send(ReaderIdle).await.unwrap();
        run_for(Duration::ZERO).await;
        let log = log.lock();
        assert!(log.halts.is_empty(), "no halt: {:?}", log.halts);
        assert!(log.acks.is_empty(), "not acknowledged either");
    }
}
