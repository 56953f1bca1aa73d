//! The partition reader: pulls records from Kafka and admits them into the pipeline.
//!
//! It runs on an arbiter (thread) of its own, because librdkafka runs rebalance
//! callbacks inside `poll`, and a revoke waits there until the revoked partitions'
//! in-flight records are done; the rest of the pipeline keeps working meanwhile.
//! Records are admitted only while the in-flight gate has room: when it is full the
//! reader pauses its partitions but keeps polling, so the consumer stays in its group.
//! Each batch is registered with the offset tracker before it moves on, so an
//! acknowledgement can never overtake its registration.
//!
//! It also measures the backlog (records not yet read, plus records in the pipeline):
//! as consumer-lag metrics, and, when `sink.bulk.threshold.records` is set, to tell the
//! sequencer when to write through Bulk API 2.0 jobs.

use crate::kafka::consumer::TaskConsumer;
use crate::kafka::in_flight::InFlight;
use crate::kafka::offsets::TopicPartition;
use crate::kafka::ownership::Ownership;
use crate::metrics::metrics;
use crate::pipeline::messages::{
    BulkMode, RawMessage, ReaderIdle, RecordBatch, Register, SetPaused, Shutdown, StopIntake,
};
use crate::record::RecordCoords;
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient,
    WrapFuture,
};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::Message as KafkaMessage;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Message)]
#[rtype(result = "()")]
struct PollOnce;

/// Reader settings.
#[derive(Debug, Clone)]
pub struct ReaderSettings {
    /// Connector name (metrics label).
    pub connector: String,
    /// Most records handed on at once.
    pub max_batch: usize,
    /// How long one poll may block when nothing is there.
    pub poll_timeout: Duration,
    /// `sink.bulk.threshold.records`: the backlog from which Bulk API 2.0 is used.
    pub bulk_threshold: Option<usize>,
    /// Whether header names are read (a `HasHeaderKey` predicate tests them).
    pub read_header_keys: bool,
    /// The partitions' epochs, stamped on each record as it is read.
    pub ownership: Arc<Ownership>,
}

/// Where the reader's records and signals go.
pub struct ReaderTargets {
    /// The offset tracker (registrations).
    pub tracker: Recipient<Register>,
    /// The decoder (records).
    pub decoder: Recipient<RecordBatch>,
    /// The sequencer (bulk mode on or off).
    pub bulk_mode: Recipient<BulkMode>,
    /// The sequencer (nothing more to read for now).
    pub idle: Recipient<ReaderIdle>,
}

/// The partition reader actor.
pub struct PartitionReader {
    settings: ReaderSettings,
    consumer: Arc<TaskConsumer>,
    gate: Arc<InFlight>,
    targets: ReaderTargets,
    topics: HashMap<String, Arc<str>>,
    stopped: bool,
    operator_paused: bool,
    partitions_paused: bool,
    /// When the backlog was last measured (`None`: not yet).
    last_lag_check: Option<Instant>,
    /// Whether the sequencer was last told to use Bulk API 2.0.
    bulk_mode: bool,
}

impl PartitionReader {
    /// A reader for an already subscribed `consumer`.
    pub fn new(
        settings: ReaderSettings,
        consumer: Arc<TaskConsumer>,
        gate: Arc<InFlight>,
        targets: ReaderTargets,
    ) -> Self {
        Self {
            settings,
            consumer,
            gate,
            targets,
            topics: HashMap::new(),
            stopped: false,
            operator_paused: false,
            partitions_paused: false,
            last_lag_check: None,
            bulk_mode: false,
        }
    }

    fn topic(&mut self, name: &str) -> Arc<str> {
        if let Some(t) = self.topics.get(name) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(name);
        self.topics.insert(name.to_string(), t.clone());
        t
    }

    fn apply_pause(&mut self) {
        let want = self.stopped
            || self.operator_paused
            || if self.partitions_paused {
                !self.gate.has_room()
            } else {
                self.gate.is_full()
            };
        if want == self.partitions_paused {
            return;
        }
        match self.consumer.assignment() {
            Ok(assignment) => {
                let res = if want {
                    self.consumer.pause(&assignment)
                } else {
                    self.consumer.resume(&assignment)
                };
                match res {
                    Ok(()) => self.partitions_paused = want,
                    Err(e) => tracing::debug!("pause/resume: {e}"),
                }
            }
            Err(e) => tracing::debug!("reading the assignment: {e}"),
        }
    }

    /// Measures the backlog: every 5 s for the lag metrics, every second when Bulk API
    /// 2.0 depends on it.
    fn measure_backlog(&mut self, just_read: usize) {
        let every = match self.settings.bulk_threshold {
            Some(_) => Duration::from_secs(1),
            None => Duration::from_secs(5),
        };
        if self.last_lag_check.is_some_and(|at| at.elapsed() < every) {
            return;
        }
        let Ok(positions) = self.consumer.position() else {
            return;
        };
        let mut unread: i64 = 0;
        for e in positions.elements() {
            let rdkafka::Offset::Offset(pos) = e.offset() else {
                continue;
            };
            // Measured once a partition has a position: the first records read.
            self.last_lag_check = Some(Instant::now());
            if let Ok((_, high)) =
                self.consumer
                    .fetch_watermarks(e.topic(), e.partition(), Duration::from_millis(500))
            {
                let lag = (high - pos).max(0);
                unread += lag;
                metrics()
                    .consumer_lag
                    .with_label_values(&[
                        &self.settings.connector,
                        e.topic(),
                        &e.partition().to_string(),
                    ])
                    .set(lag);
            }
        }
        if let Some(threshold) = self.settings.bulk_threshold {
            let backlog = unread.max(0) as usize + self.gate.total() + just_read;
            let bulk = backlog >= threshold;
            if bulk != self.bulk_mode {
                self.bulk_mode = bulk;
                self.targets.bulk_mode.do_send(BulkMode(bulk));
            }
        }
    }

    /// Polls up to one batch of records.
    fn poll_batch(&mut self) -> Vec<RawMessage> {
        let mut batch = Vec::new();
        let mut timeout = self.settings.poll_timeout;
        while batch.len() < self.settings.max_batch {
            let consumer = self.consumer.clone();
            match consumer.poll(timeout) {
                Some(Ok(m)) => {
                    let topic = self.topic(m.topic());
                    // Read now, on the consumer's thread: a rebalance runs inside a
                    // later poll, so this is the assignment the record came from.
                    let epoch = self.settings.ownership.epoch(&TopicPartition {
                        topic: topic.clone(),
                        partition: m.partition(),
                    });
                    batch.push(RawMessage {
                        epoch,
                        coords: RecordCoords {
                            topic,
                            partition: m.partition(),
                            offset: m.offset(),
                        },
                        timestamp: m.timestamp().to_millis(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        header_keys: if self.settings.read_header_keys {
                            header_keys(&m)
                        } else {
                            Vec::new()
                        },
                    });
                    timeout = Duration::ZERO;
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    timeout = Duration::ZERO;
                }
                Some(Err(e)) => {
                    tracing::warn!(connector = %self.settings.connector, "kafka: {e}");
                    break;
                }
                None => break,
            }
        }
        batch
    }
}

/// The names of a record's headers, in order.
fn header_keys(m: &rdkafka::message::BorrowedMessage<'_>) -> Vec<String> {
    use rdkafka::message::Headers as _;
    m.headers()
        .map(|h| h.iter().map(|h| h.key.to_string()).collect())
        .unwrap_or_default()
}

impl Actor for PartitionReader {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.notify(PollOnce);
    }
}

impl Handler<PollOnce> for PartitionReader {
    type Result = ();

    fn handle(&mut self, _msg: PollOnce, ctx: &mut Self::Context) {
        tracing::trace!(
            paused = self.partitions_paused,
            stopped = self.stopped,
            "poll"
        );
        self.apply_pause();
        let batch = self.poll_batch();
        self.measure_backlog(batch.len());
        if self.stopped {
            // Polled only to serve the group protocol; anything fetched before the
            // pause took effect is left for the next owner or the restart.
            if !batch.is_empty() {
                tracing::debug!("dropping {} records read after intake stopped", batch.len());
            }
            ctx.run_later(self.settings.poll_timeout, |_, ctx| ctx.notify(PollOnce));
            return;
        }
        if batch.is_empty() {
            self.targets.idle.do_send(ReaderIdle);
            ctx.notify(PollOnce);
            return;
        }
        metrics()
            .records_read
            .with_label_values(&[&self.settings.connector])
            .inc_by(batch.len() as u64);
        tracing::trace!(connector = %self.settings.connector, "read {} records", batch.len());
        let mut per_partition: HashMap<TopicPartition, usize> = HashMap::new();
        for m in &batch {
            *per_partition
                .entry(TopicPartition::of(&m.coords))
                .or_default() += 1;
        }
        for (tp, n) in &per_partition {
            self.gate.admit(tp, *n);
        }
        let coords: Vec<RecordCoords> = batch.iter().map(|m| m.coords.clone()).collect();
        let tracker = self.targets.tracker.clone();
        let decoder = self.targets.decoder.clone();
        let hand_on = async move {
            let _ = tracker.send(Register(coords)).await;
            let _ = decoder.send(RecordBatch(batch)).await;
        };
        ctx.wait(
            hand_on
                .into_actor(self)
                .map(|_, _, ctx| ctx.notify(PollOnce)),
        );
    }
}

impl Handler<StopIntake> for PartitionReader {
    type Result = ();

    fn handle(&mut self, _msg: StopIntake, _ctx: &mut Self::Context) {
        self.stopped = true;
        self.apply_pause();
    }
}

impl Handler<SetPaused> for PartitionReader {
    type Result = ();

    fn handle(&mut self, msg: SetPaused, _ctx: &mut Self::Context) {
        self.operator_paused = msg.0;
        self.apply_pause();
    }
}

impl Handler<Shutdown> for PartitionReader {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
