//! The Kafka consumer of one connector task, set up for at-least-once delivery.
//!
//! Offsets are never stored automatically (`enable.auto.offset.store=false`): the
//! offset tracker stores a partition's position only when every record before it has
//! a final outcome, and librdkafka commits stored positions in the background and on
//! rebalance. Before partitions are revoked, the consumer's thread waits (bounded by a
//! deadline) until their in-flight records are done, ends the partitions' epoch at
//! the fence (`ownership.rs`) so nothing of them is sent after the revoke, then commits
//! synchronously, so the next owner starts exactly after the last finished record.

use crate::kafka::in_flight::InFlight;
use crate::kafka::offsets::TopicPartition;
use crate::kafka::ownership::Ownership;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientContext, TopicPartitionList};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The consumer type every task uses.
pub type TaskConsumer = BaseConsumer<TaskConsumerContext>;

/// Called with the partitions a rebalance takes away, once they are drained.
pub type OnRevoke = Box<dyn Fn(&[TopicPartition]) + Send + Sync>;

/// What the consumer needs to know about the pipeline during a rebalance.
pub struct TaskConsumerContext {
    in_flight: Arc<InFlight>,
    ownership: Arc<Ownership>,
    drain_timeout: Duration,
    connector: Arc<str>,
    on_revoke: OnRevoke,
}

impl TaskConsumerContext {
    /// A context that drains revoked partitions for at most `drain_timeout`, ends
    /// their epoch in `ownership` (waiting up to `drain_timeout` again for calls
    /// already on the wire), then calls `on_revoke` so the pipeline forgets them.
    pub fn new(
        connector: &str,
        in_flight: Arc<InFlight>,
        ownership: Arc<Ownership>,
        drain_timeout: Duration,
        on_revoke: OnRevoke,
    ) -> Self {
        Self {
            in_flight,
            ownership,
            drain_timeout,
            connector: Arc::from(connector),
            on_revoke,
        }
    }
}

/// The partitions of a list, in our own type.
pub fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition {
            topic: Arc::from(e.topic()),
            partition: e.partition(),
        })
        .collect()
}

impl ClientContext for TaskConsumerContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        // Reaching the end of a partition is how the reader learns it is caught up,
        // not an error. librdkafka reports it per partition or, through this
        // callback, as a global error code.
        if matches!(
            error,
            rdkafka::error::KafkaError::PartitionEOF(_)
                | rdkafka::error::KafkaError::Global(
                    rdkafka::error::RDKafkaErrorCode::PartitionEOF
                )
        ) {
            return;
        }
        tracing::warn!(connector = %self.connector, "kafka: {error}: {reason}");
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(connector = %self.connector, facility = fac, "kafka: {log_message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(connector = %self.connector, facility = fac, "kafka: {log_message}")
            }
            _ => {
                tracing::debug!(connector = %self.connector, facility = fac, "kafka: {log_message}")
            }
        }
    }
}

impl ConsumerContext for TaskConsumerContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked = partitions_of(tpl);
            if revoked.is_empty() {
                return;
            }
            let drained = self
                .in_flight
                .wait_drained(&revoked, Instant::now() + self.drain_timeout);
            // Nothing of these partitions boards a call from here on; what is still
            // queued or waiting to retry comes back to the sequencer as revoked.
            let landed = self
                .ownership
                .revoke(&revoked, Instant::now() + self.drain_timeout);
            if !drained {
                tracing::warn!(
                    connector = %self.connector,
                    "partitions revoked before their in-flight records finished; \
                     they are not sent any more and the next owner replays them \
                     (at-least-once)"
                );
            }
            if !landed {
                tracing::warn!(
                    connector = %self.connector,
                    "calls of revoked partitions were still unanswered after \
                     task.shutdown.graceful.timeout.ms; their writes may land after \
                     the next owner's"
                );
            }
            if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(connector = %self.connector, "commit on revoke: {e}");
            }
            for tp in &revoked {
                self.in_flight.clear(tp);
            }
            (self.on_revoke)(&revoked);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.ownership.assign(&partitions_of(tpl));
                let parts: Vec<String> = partitions_of(tpl)
                    .iter()
                    .map(|tp| format!("{}-{}", tp.topic, tp.partition))
                    .collect();
                tracing::info!(connector = %self.connector, partitions = ?parts, "partitions assigned");
            }
            Rebalance::Error(e) => {
                tracing::warn!(connector = %self.connector, "rebalance error: {e}")
            }
            Rebalance::Revoke(_) => {}
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            tracing::debug!(connector = %self.connector, "offset commit: {e}");
        }
    }
}

/// Settings for [`build_consumer`].
pub struct ConsumerSettings<'a> {
    /// `bootstrap.servers`.
    pub bootstrap_servers: &'a str,
    /// The consumer group, `connect-<connector name>`.
    pub group_id: String,
    /// Client security and other librdkafka properties from the worker file.
    pub client_config: Vec<(String, String)>,
    /// `consumer.*` overrides from the worker file, and `consumer.override.*` from the
    /// connector, already stripped of their prefix.
    pub overrides: Vec<(String, String)>,
}

/// Builds the task's consumer (not yet subscribed).
pub fn build_consumer(
    settings: &ConsumerSettings<'_>,
    context: TaskConsumerContext,
) -> KafkaResult<TaskConsumer> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", settings.bootstrap_servers)
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "300000")
        .set("fetch.wait.max.ms", "100")
        // librdkafka prefetches up to 64 MB by default; the pipeline's own buffer
        // (sink.max.buffered.records) is what keeps writers busy, so a smaller
        // prefetch keeps the memory bound without slowing a backlog drain.
        .set("queued.max.messages.kbytes", "16384")
        // Topics created after the connector (or matching topics.regex) are picked up
        // within seconds, not the client default of five minutes.
        .set("topic.metadata.refresh.interval.ms", "5000")
        .set("client.id", format!("{}-consumer", settings.group_id));
    for (k, v) in settings.client_config.iter().chain(&settings.overrides) {
        cfg.set(k, v);
    }
    cfg.create_with_context(context)
}
