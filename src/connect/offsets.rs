//! A sink connector's offsets, managed as Kafka Connect does since KIP-875: they are
//! the committed offsets of the connector's consumer group `connect-<name>`, read at
//! any time, and altered or reset from outside the group while the connector is
//! stopped (so no task of it is a member).
//!
//! The calls block on the broker; callers run them on a blocking thread.

use crate::config::connector::TopicSelection;
use crate::config::{ConnectorConfig, WorkerConfig};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// How long one broker call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an alter or reset waits for the group to be left by the stopped tasks.
const EMPTY_GROUP_PATIENCE: Duration = Duration::from_secs(30);

/// Why offsets could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    /// A broker call failed.
    #[error("consumer group {group}: {reason}")]
    Kafka {
        /// The group.
        group: String,
        /// What the broker or client said.
        reason: String,
    },
    /// The group still has members (tasks of the connector still run somewhere).
    #[error("consumer group {group} still has active members after {}s: {reason}", EMPTY_GROUP_PATIENCE.as_secs())]
    GroupNotEmpty {
        /// The group.
        group: String,
        /// What the broker said.
        reason: String,
    },
}

/// One partition's committed offset: the next record the connector will read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartitionOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

fn consumer(worker: &WorkerConfig, group: &str) -> Result<BaseConsumer, OffsetsError> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &worker.bootstrap_servers);
    for (k, v) in worker.kafka_client_config() {
        cfg.set(k, v);
    }
    cfg.set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| kafka(group, e))
}

fn kafka(group: &str, e: impl std::fmt::Display) -> OffsetsError {
    OffsetsError::Kafka {
        group: group.to_string(),
        reason: e.to_string(),
    }
}

/// The partitions of the topics the connector reads.
fn partitions(
    consumer: &BaseConsumer,
    config: &ConnectorConfig,
    group: &str,
) -> Result<TopicPartitionList, OffsetsError> {
    let metadata = consumer
        .fetch_metadata(None, CALL_TIMEOUT)
        .map_err(|e| kafka(group, e))?;
    let matches: Box<dyn Fn(&str) -> bool> = match &config.topics {
        TopicSelection::Topics(list) => {
            let list = list.clone();
            Box::new(move |t| list.iter().any(|l| l == t))
        }
        TopicSelection::Regex(re) => {
            let whole = regex::Regex::new(&format!("^(?:{re})$")).map_err(|e| kafka(group, e))?;
            Box::new(move |t| whole.is_match(t))
        }
    };
    let mut tpl = TopicPartitionList::new();
    for topic in metadata.topics().iter().filter(|t| matches(t.name())) {
        for p in topic.partitions() {
            tpl.add_partition(topic.name(), p.id());
        }
    }
    Ok(tpl)
}

/// The group's committed offsets on the connector's topics, sorted; partitions without
/// a committed offset are left out.
pub fn committed(
    worker: &WorkerConfig,
    config: &ConnectorConfig,
) -> Result<Vec<PartitionOffset>, OffsetsError> {
    let group = config.consumer_group();
    let consumer = consumer(worker, &group)?;
    let tpl = partitions(&consumer, config, &group)?;
    if tpl.count() == 0 {
        return Ok(Vec::new());
    }
    let committed = consumer
        .committed_offsets(tpl, CALL_TIMEOUT)
        .map_err(|e| kafka(&group, e))?;
    let mut out: Vec<PartitionOffset> = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(PartitionOffset {
                topic: e.topic().to_string(),
                partition: e.partition(),
                offset: o,
            }),
            _ => None,
        })
        .collect();
    out.sort();
    Ok(out)
}

/// True for the errors a broker gives while the group still has members.
fn group_busy(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NonEmptyGroup
                | RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::FencedInstanceId
        )
    )
}

/// Retries `op` while the group is still being left by stopped tasks.
fn while_busy<T>(
    group: &str,
    mut op: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, OffsetsError> {
    let deadline = Instant::now() + EMPTY_GROUP_PATIENCE;
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) if group_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) if group_busy(&e) => {
                return Err(OffsetsError::GroupNotEmpty {
                    group: group.to_string(),
                    reason: e.to_string(),
                })
            }
            Err(e) => return Err(kafka(group, e)),
        }
    }
}

/// Commits `offsets` for the connector's group (the connector must be stopped).
pub fn alter(
    worker: &WorkerConfig,
    config: &ConnectorConfig,
    offsets: &[PartitionOffset],
) -> Result<(), OffsetsError> {
    let group = config.consumer_group();
    let consumer = consumer(worker, &group)?;
    let mut tpl = TopicPartitionList::new();
    for o in offsets {
        tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset))
            .map_err(|e| kafka(&group, e))?;
    }
    while_busy(&group, || consumer.commit(&tpl, CommitMode::Sync))
}

/// Deletes the connector group's committed offsets, so that the next start reads each
/// partition from where `auto.offset.reset` says (the earliest record by default).
pub fn reset(worker: &WorkerConfig, config: &ConnectorConfig) -> Result<(), OffsetsError> {
    let group = config.consumer_group();
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &worker.bootstrap_servers);
    for (k, v) in worker.kafka_client_config() {
        cfg.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = cfg.create().map_err(|e| kafka(&group, e))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| kafka(&group, e))?;
    let options = AdminOptions::new().request_timeout(Some(CALL_TIMEOUT));
    while_busy(&group, || {
        let results = runtime.block_on(admin.delete_groups(&[group.as_str()], &options))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::GroupIdNotFound)) => {}
                Err((_, code)) => return Err(KafkaError::AdminOp(code)),
            }
        }
        Ok(())
    })
}
