//! The sequencer: per-Id order, batching, and the fate of every change.
//!
//! Decoded changes arrive here. [`OrderingQueues`] keeps one change per Id in flight
//! and forms batches per kind of write; the sequencer sends a batch to the writer
//! whenever a call slot is free (`sink.max.in.flight.requests`), holding partial
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

use crate::kafka::in_flight::InFlight;
use crate::metrics::metrics;
use crate::pipeline::halt::{Halt, HaltActor, HaltReason};
use crate::pipeline::messages::Shutdown;
use crate::pipeline::messages::{Ack, Change, ChangeOutcome, Submit, WriteBatch};
use crate::pipeline::offset_tracker::OffsetTracker;
use crate::pipeline::ordering::{Flush, OrderingQueues, Pending};
use crate::pipeline::plan::WriteGroup;
use crate::pipeline::reporter::{Report, Reporter};
use crate::pipeline::writer::SObjectWriter;
use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message,
    ResponseActFuture, SpawnHandle, WrapFuture,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Wait until no batch is in flight and nothing is ready to go (used on halt and
/// shutdown; changes waiting behind a failed Id stay unacknowledged and are replayed
/// after a restart).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain {
    /// Whether held updates of missing rows halt now (on a halt) or are simply left
    /// for the replay (on a graceful shutdown).
    pub halt_held: bool,
}

/// Whether the task is working through a backlog (records waiting, in Kafka and in
/// the pipeline, at or above `sink.bulk.threshold.records`): batches then fill up to
/// the bulk size and go as Bulk API 2.0 jobs.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BulkMode(pub bool);

/// The reader has read everything there is for now (or cannot admit more): held
/// updates of missing rows will not be superseded and halt the task.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReaderIdle;

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
    /// Changes in one Bulk API 2.0 job while working through a backlog; `None` when
    /// Bulk is off.
    pub bulk_batch: Option<usize>,
}

/// The sequencer actor.
pub struct Sequencer {
    settings: SequencerSettings,
    queues: OrderingQueues<WriteGroup, Change>,
    writer: Addr<SObjectWriter>,
    tracker: Addr<OffsetTracker>,
    halt: Addr<HaltActor>,
    reporter: Addr<Reporter>,
    in_flight: usize,
    linger_timer: Option<(Instant, SpawnHandle)>,
    held: HashMap<String, (Change, String, String)>,
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
    /// A sequencer sending batches to `writer`.
    pub fn new(
        settings: SequencerSettings,
        writer: Addr<SObjectWriter>,
        tracker: Addr<OffsetTracker>,
        halt: Addr<HaltActor>,
        reporter: Addr<Reporter>,
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
            writer,
            tracker,
            halt,
            reporter,
            in_flight: 0,
            linger_timer: None,
            held: HashMap::new(),
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

    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        while self.in_flight < self.settings.max_in_flight {
            let Some(batch) = self.queues.next_batch(now, self.flush_policy(now)) else {
                break;
            };
            self.in_flight += 1;
            metrics()
                .in_flight
                .with_label_values(&[&self.settings.connector])
                .set(self.in_flight as i64);
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
                metrics()
                    .in_flight
                    .with_label_values(&[&act.settings.connector])
                    .set(act.in_flight as i64);
                match res {
                    Ok(written) => act.settle(written.changes, written.outcomes, ctx),
                    Err(e) => {
                        let (coords, record_id) = first.unzip();
                        act.halt.do_send(Halt(HaltReason {
                            code: "WRITER_STOPPED".into(),
                            message: format!(
                                "the SObject writer stopped with a batch in flight: {e}"
                            ),
                            coords,
                            record_id: record_id.flatten(),
                            fields: vec![],
                            remedy: "restart the task; it resumes at this record".into(),
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

    fn settle(
        &mut self,
        changes: Vec<Change>,
        outcomes: Vec<ChangeOutcome>,
        _ctx: &mut Context<Self>,
    ) {
        let now = Instant::now();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let connector = self.settings.connector.clone();
        let mut acks = Vec::new();
        for (change, outcome) in changes.into_iter().zip(outcomes) {
            let key = change.order_key();
            let op = change.group.as_str();
            match outcome {
                ChangeOutcome::Written { id, created } => {
                    metrics()
                        .records
                        .with_label_values(&[&connector, op, "written"])
                        .inc();
                    if let Some(ts) = change.record.timestamp {
                        let age_ms = (now_ms - ts).max(0);
                        metrics()
                            .record_latency
                            .with_label_values(&[&connector])
                            .observe(age_ms as f64 / 1000.0);
                    }
                    acks.push(change.record.coords.clone());
                    self.reporter.do_send(Report::Delivered {
                        change: Box::new(change),
                        id,
                        created,
                    });
                    self.queues.finish(&key, now);
                }
                ChangeOutcome::AlreadyGone => {
                    metrics()
                        .records
                        .with_label_values(&[&connector, op, "already_gone"])
                        .inc();
                    acks.push(change.record.coords.clone());
                    self.reporter.do_send(Report::Delivered {
                        change: Box::new(change),
                        id: None,
                        created: Some(false),
                    });
                    self.queues.finish(&key, now);
                }
                ChangeOutcome::RowMissing { code, message } => {
                    if self.queues.waiting_for(&key).any(|p| p.group.is_delete()) {
                        metrics()
                            .records
                            .with_label_values(&[&connector, op, "superseded"])
                            .inc();
                        acks.push(change.record.coords.clone());
                        self.queues.finish(&key, now);
                    } else {
                        self.held.insert(key, (change, code, message));
                    }
                }
                ChangeOutcome::Halt {
                    code,
                    message,
                    fields,
                } => {
                    self.halt
                        .do_send(Halt(halt_reason(&change, code, message, fields)));
                }
                ChangeOutcome::Rejected {
                    code,
                    message,
                    fields,
                } => {
                    metrics()
                        .records
                        .with_label_values(&[&connector, op, "failed"])
                        .inc();
                    // The reporter acknowledges the offset once the error report (and
                    // the dead letter, when configured) is safely in Kafka.
                    self.reporter.do_send(Report::Rejected {
                        change: Box::new(change),
                        code,
                        message,
                        fields,
                    });
                    self.queues.finish(&key, now);
                }
                ChangeOutcome::RetriesExhausted { last_error } => {
                    let remedy = "check the org's availability and the network, raise \
                                  request.max.retries.time.ms if outages are expected, then restart the task";
                    let mut reason =
                        halt_reason(&change, "RETRIES_EXHAUSTED".into(), last_error, vec![]);
                    reason.remedy = remedy.into();
                    self.halt.do_send(Halt(reason));
                }
            }
        }
        if !acks.is_empty() {
            self.tracker.do_send(Ack(acks));
        }
    }

    fn release_held_for(&mut self, key: &str) {
        let superseded = self.queues.waiting_for(key).any(|p| p.group.is_delete());
        if superseded {
            if let Some((change, _, _)) = self.held.remove(key) {
                metrics()
                    .records
                    .with_label_values(&[
                        &self.settings.connector,
                        change.group.as_str(),
                        "superseded",
                    ])
                    .inc();
                self.tracker
                    .do_send(Ack(vec![change.record.coords.clone()]));
                self.queues.finish(key, Instant::now());
            }
        }
    }

    fn halt_held(&mut self) {
        for (_, (change, code, message)) in self.held.drain() {
            self.halt
                .do_send(Halt(halt_reason(&change, code, message, vec![])));
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

fn halt_reason(change: &Change, code: String, message: String, fields: Vec<String>) -> HaltReason {
    let remedy = match code.as_str() {
        "DUPLICATES_DETECTED" | "DUPLICATE_VALUE" => {
            "the target org already has a row that matches this one (duplicate rule or unique \
             field); merge or remove it, or change the rule, then restart the task"
        }
        "NOT_FOUND" | "ENTITY_IS_DELETED" => {
            "the row this change addresses does not exist (or was deleted) in the target org; \
             restore or create it, or skip the record by resetting the consumer group offset, \
             then restart the task"
        }
        "INVALID_FIELD" => {
            "the target SObject lacks a field this change needs (check \
             salesforce.custom.id.field.name and the org's schema), then restart the task"
        }
        "BAD_RECORD" => {
            "fix the producer, or set errors.tolerance=all with a dead-letter queue to set bad \
             records aside, then restart the task"
        }
        _ => "fix the cause named above, then restart the task; it resumes at this record",
    };
    HaltReason {
        code,
        message,
        coords: Some(change.record.coords.clone()),
        record_id: change.record.id.clone(),
        fields,
        remedy: remedy.to_string(),
    }
}

impl Actor for Sequencer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(64);
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
            self.queues.push(
                Pending {
                    key: key.clone(),
                    group,
                    payload: change,
                },
                now,
            );
            if group.is_delete() && self.held.contains_key(&key) {
                self.release_held_for(&key);
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
