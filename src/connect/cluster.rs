//! Distributed mode: workers with the same `group.id` share state through Kafka.
//!
//! Two compacted topics carry what workers must agree on, the way Kafka Connect does:
//! - the config topic: `connector-<name>` → `{"properties": {...}}` (a tombstone
//!   deletes), `target-state-<name>` → `{"state": "STARTED"|"PAUSED"|"STOPPED"}`, and
//!   restart requests. Every worker reads it from the beginning and applies each
//!   record, so a connector created through any worker runs on all of them.
//! - the status topic: `status-task-<name>-<worker>-<n>` → a task's state and trace,
//!   and `worker-<id>` heartbeats, so any worker's REST API can show every task.
//!
//! Reads are consistent with writes on every worker, as in Connect: a worker reads the
//! config topic up to its end (the high watermark) before it answers a request, so a
//! change written through one worker is seen by the next request on any worker.
//!
//! Membership is the set of workers whose heartbeat in the status topic is recent; a
//! worker that shuts down deletes its heartbeat so the others react at once. Every
//! worker derives the same task assignment from that set (see the supervisor), so no
//! worker leads; the tasks of a connector share the consumer group `connect-<name>`,
//! which spreads the partitions over them.

use crate::config::WorkerConfig;
use crate::connect::status::{State, TaskStatus};
use crate::kafka::topics::{ensure_topic, TopicSpec};
use parking_lot::RwLock;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a request waits for this worker to read the config topic to its end.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// A change every worker applies, read from the config topic.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigEvent {
    /// A connector's configuration; `None` deletes it.
    Connector {
        /// Connector name.
        name: String,
        /// Its configuration.
        config: Option<BTreeMap<String, String>>,
    },
    /// What the connector should be doing.
    TargetState {
        /// Connector name.
        name: String,
        /// `STARTED`, `PAUSED` or `STOPPED`.
        state: String,
    },
    /// Restart a connector's tasks.
    Restart {
        /// Connector name.
        name: String,
        /// Only the failed ones.
        only_failed: bool,
    },
    /// Restart one task of one worker.
    RestartTask {
        /// Connector name.
        name: String,
        /// The worker running it.
        worker: String,
        /// The task's number on that worker.
        task: u32,
    },
}

impl ConfigEvent {
    fn to_record(&self) -> (String, Option<Value>) {
        match self {
            ConfigEvent::Connector { name, config } => (
                format!("connector-{name}"),
                config.as_ref().map(|c| json!({ "properties": c })),
            ),
            ConfigEvent::TargetState { name, state } => (
                format!("target-state-{name}"),
                Some(json!({ "state": state })),
            ),
            ConfigEvent::Restart { name, only_failed } => (
                format!("restart-connector-{name}"),
                Some(
                    json!({ "include-tasks": true, "only-failed": only_failed, "nonce": nonce() }),
                ),
            ),
            ConfigEvent::RestartTask { name, worker, task } => (
                format!("restart-task-{name}-{worker}-{task}"),
                Some(json!({ "nonce": nonce() })),
            ),
        }
    }

    /// Reads a config topic record; unknown keys (Connect's own task records) are skipped.
    pub fn from_record(key: &str, value: Option<&[u8]>) -> Option<ConfigEvent> {
        let value: Option<Value> = value.and_then(|v| serde_json::from_slice(v).ok());
        if let Some(name) = key.strip_prefix("connector-") {
            let config = match value {
                None => None,
                Some(v) => {
                    let props = v.get("properties")?.as_object()?;
                    Some(
                        props
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                                )
                            })
                            .collect(),
                    )
                }
            };
            return Some(ConfigEvent::Connector {
                name: name.to_string(),
                config,
            });
        }
        if let Some(name) = key.strip_prefix("target-state-") {
            let state = value?.get("state")?.as_str()?.to_string();
            return Some(ConfigEvent::TargetState {
                name: name.to_string(),
                state,
            });
        }
        if let Some(name) = key.strip_prefix("restart-connector-") {
            let only_failed = value?
                .get("only-failed")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            return Some(ConfigEvent::Restart {
                name: name.to_string(),
                only_failed,
            });
        }
        if let Some(rest) = key.strip_prefix("restart-task-") {
            // <name>-<worker host:port>-<task>; the worker id has no '-' of its own.
            let (head, task) = rest.rsplit_once('-')?;
            let (name, worker) = head.rsplit_once('-')?;
            return Some(ConfigEvent::RestartTask {
                name: name.to_string(),
                worker: worker.to_string(),
                task: task.parse().ok()?,
            });
        }
        None
    }
}

fn nonce() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What this worker knows of the other workers' tasks.
#[derive(Debug, Default)]
struct StatusView {
    heartbeats: HashMap<String, i64>,
    tasks: BTreeMap<String, Value>,
}

/// This worker's link to the cluster's shared topics.
pub struct ClusterLink {
    worker_id: String,
    /// The worker's `session.timeout.ms`: how long a worker may be silent before it
    /// is taken for gone.
    session_timeout_ms: i64,
    /// The worker's `heartbeat.interval.ms`.
    heartbeat_interval: Duration,
    config_topic: String,
    status_topic: String,
    producer: FutureProducer,
    view: Arc<RwLock<StatusView>>,
    bootstrap: String,
    client_config: Vec<(String, String)>,
    /// The next config topic offset this worker will read (everything before it has
    /// been handed to the supervisor).
    config_read: Arc<watch::Sender<i64>>,
    /// The same for the status topic.
    status_read: Arc<watch::Sender<i64>>,
    /// A client for the topics' high watermarks.
    watermarks: Arc<BaseConsumer>,
}

fn client(bootstrap: &str, extra: &[(String, String)]) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap);
    for (k, v) in extra {
        cfg.set(k, v);
    }
    cfg
}

impl ClusterLink {
    /// Connects to the cluster topics named by the worker file, creating them
    /// (compacted) when missing.
    pub async fn connect(worker: &WorkerConfig, worker_id: &str) -> Result<ClusterLink, String> {
        let dist = worker
            .distributed
            .as_ref()
            .ok_or_else(|| "group.id is not set: not a distributed worker".to_string())?;
        let client_config = worker.kafka_client_config();
        for (topic, rf) in [
            (&dist.config_topic, dist.config_replication_factor),
            (&dist.status_topic, dist.status_replication_factor),
        ] {
            let spec = TopicSpec {
                name: topic,
                partitions: 1,
                replication: i32::from(rf),
                configs: &[("cleanup.policy", "compact")],
            };
            ensure_topic(&worker.bootstrap_servers, &client_config, &spec).await?;
        }
        let producer: FutureProducer = client(&worker.bootstrap_servers, &client_config)
            .set("linger.ms", "0")
            .create()
            .map_err(|e| e.to_string())?;
        let watermarks: BaseConsumer = client(&worker.bootstrap_servers, &client_config)
            .set("group.id", format!("sobject-sink-watermarks-{worker_id}"))
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| e.to_string())?;
        Ok(ClusterLink {
            worker_id: worker_id.to_string(),
            session_timeout_ms: i64::try_from(dist.session_timeout.as_millis()).unwrap_or(i64::MAX),
            heartbeat_interval: dist.heartbeat_interval,
            config_topic: dist.config_topic.clone(),
            status_topic: dist.status_topic.clone(),
            producer,
            view: Arc::new(RwLock::new(StatusView::default())),
            bootstrap: worker.bootstrap_servers.clone(),
            client_config,
            config_read: Arc::new(watch::channel(0).0),
            status_read: Arc::new(watch::channel(0).0),
            watermarks: Arc::new(watermarks),
        })
    }

    /// Waits until this worker has read the config topic up to its current end, so
    /// that whatever any worker wrote before this call is applied here.
    pub async fn config_caught_up(&self) -> Result<(), String> {
        self.caught_up(&self.config_topic, &self.config_read).await
    }

    /// Waits until this worker's view of the status topic (heartbeats, task states)
    /// covers everything written before this call.
    pub async fn status_caught_up(&self) -> Result<(), String> {
        self.caught_up(&self.status_topic, &self.status_read).await
    }

    async fn caught_up(&self, topic: &str, read: &watch::Sender<i64>) -> Result<(), String> {
        let consumer = self.watermarks.clone();
        let name = topic.to_string();
        let (_, high) = tokio::task::spawn_blocking(move || {
            consumer.fetch_watermarks(&name, 0, Duration::from_secs(10))
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("reading the end of {topic}: {e}"))?;
        let mut rx = read.subscribe();
        let waited = tokio::time::timeout(CATCH_UP_TIMEOUT, async {
            rx.wait_for(|p| *p >= high).await.map(|_| ())
        })
        .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(format!("{topic} is no longer read")),
            Err(_) => Err(format!(
                "{topic} not read up to offset {high} within {}s",
                CATCH_UP_TIMEOUT.as_secs()
            )),
        }
    }

    /// Writes a record; returns its offset.
    async fn send(&self, topic: &str, key: &str, value: Option<Value>) -> Result<i64, String> {
        let bytes = value.map(|v| v.to_string().into_bytes());
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).key(key);
        if let Some(b) = &bytes {
            record = record.payload(b.as_slice());
        }
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map(|d| d.offset)
            .map_err(|(e, _)| e.to_string())
    }

    /// Publishes a change for every worker to apply, and returns once this worker has
    /// read it back (so its answer and any later request see the change).
    pub async fn publish(&self, event: &ConfigEvent) -> Result<(), String> {
        let (key, value) = event.to_record();
        let offset = self.send(&self.config_topic, &key, value).await?;
        let mut rx = self.config_read.subscribe();
        let waited = tokio::time::timeout(CATCH_UP_TIMEOUT, async {
            rx.wait_for(|p| *p > offset).await.map(|_| ())
        })
        .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(format!(
                "written at offset {offset} but not read back within {}s",
                CATCH_UP_TIMEOUT.as_secs()
            )),
        }
    }

    /// Publishes this worker's tasks of `connector` and a heartbeat.
    pub async fn publish_status(&self, connector: &str, tasks: &[TaskStatus]) {
        for t in tasks {
            let key = format!("status-task-{connector}-{}-{}", self.worker_id, t.id);
            let value = json!({"state": t.state, "trace": t.trace, "worker_id": self.worker_id, "ts": now_ms()});
            if let Err(e) = self.send(&self.status_topic, &key, Some(value)).await {
                tracing::debug!("status not published: {e}");
            }
        }
    }

    /// Publishes that this worker is alive.
    pub async fn heartbeat(&self) {
        let key = format!("worker-{}", self.worker_id);
        if let Err(e) = self
            .send(&self.status_topic, &key, Some(json!({"ts": now_ms()})))
            .await
        {
            tracing::debug!("heartbeat not published: {e}");
        }
    }

    /// Publishes that this worker leaves the cluster (on shutdown), so the others take
    /// over its tasks at once instead of after the heartbeat timeout.
    pub async fn leave(&self) {
        let key = format!("worker-{}", self.worker_id);
        if let Err(e) = self.send(&self.status_topic, &key, None).await {
            tracing::warn!("leaving the cluster not published: {e}");
        }
    }

    /// How often this worker publishes its heartbeat and its tasks' states.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// Removes this worker's status of tasks it no longer runs.
    pub async fn clear_status(&self, connector: &str, tasks: &[u32]) {
        for n in tasks {
            let key = format!("status-task-{connector}-{}-{n}", self.worker_id);
            let _ = self.send(&self.status_topic, &key, None).await;
        }
    }

    /// The live workers of the cluster (heartbeat within the timeout), this one
    /// included, sorted.
    pub fn live_workers(&self) -> Vec<String> {
        let view = self.view.read();
        let now = now_ms();
        let timeout = self.session_timeout_ms;
        let mut out: Vec<String> = view
            .heartbeats
            .iter()
            .filter(|(_, ts)| now - **ts < timeout)
            .map(|(w, _)| w.clone())
            .collect();
        if !out.contains(&self.worker_id) {
            out.push(self.worker_id.clone());
        }
        out.sort();
        out
    }

    /// Task `task` of `connector` as `worker` last published it, if that worker is
    /// alive and has published it.
    pub fn remote_task(&self, connector: &str, worker: &str, task: u32) -> Option<TaskStatus> {
        let view = self.view.read();
        let alive = view
            .heartbeats
            .get(worker)
            .is_some_and(|ts| now_ms() - ts < self.session_timeout_ms);
        if !alive {
            return None;
        }
        let v = view
            .tasks
            .get(&format!("status-task-{connector}-{worker}-{task}"))?;
        let state = match v.get("state").and_then(Value::as_str) {
            Some("RUNNING") => State::Running,
            Some("PAUSED") => State::Paused,
            Some("STOPPED") => State::Stopped,
            Some("FAILED") => State::Failed,
            Some("RESTARTING") => State::Restarting,
            _ => State::Unassigned,
        };
        Some(TaskStatus {
            id: task,
            state,
            worker_id: worker.to_string(),
            trace: v.get("trace").and_then(Value::as_str).map(str::to_string),
        })
    }

    fn reader(&self, topic: &str) -> Result<BaseConsumer, String> {
        let consumer: BaseConsumer = client(&self.bootstrap, &self.client_config)
            .set(
                "group.id",
                format!("sobject-sink-reader-{}", self.worker_id),
            )
            .set("enable.auto.commit", "false")
            // A change must reach every worker quickly, also from a broker that holds
            // a fetch for its whole wait even when records are ready.
            .set("fetch.wait.max.ms", "100")
            .create()
            .map_err(|e| e.to_string())?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(|e| e.to_string())?;
        consumer.assign(&tpl).map_err(|e| e.to_string())?;
        Ok(consumer)
    }

    /// Reads the config topic from the beginning, forever, on a thread of its own,
    /// handing every change to `apply`.
    pub fn follow_config(
        &self,
        apply: impl Fn(ConfigEvent) + Send + 'static,
    ) -> Result<(), String> {
        let consumer = self.reader(&self.config_topic)?;
        let read = self.config_read.clone();
        let topic = self.config_topic.clone();
        std::thread::Builder::new()
            .name("config-log".into())
            .spawn(move || loop {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => {
                        let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
                        if let Some(ev) = ConfigEvent::from_record(&key, m.payload()) {
                            apply(ev);
                        }
                        advance(&read, m.offset() + 1);
                    }
                    Some(Err(e)) => tracing::debug!("config topic: {e}"),
                    None => advance_to_position(&consumer, &topic, &read),
                }
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Reads the status topic on a thread of its own, keeping the view current.
    pub fn follow_status(&self) -> Result<(), String> {
        let consumer = self.reader(&self.status_topic)?;
        let view = self.view.clone();
        let read = self.status_read.clone();
        let topic = self.status_topic.clone();
        std::thread::Builder::new()
            .name("status-log".into())
            .spawn(move || loop {
                let polled = consumer.poll(Duration::from_millis(200));
                if polled.is_none() {
                    advance_to_position(&consumer, &topic, &read);
                }
                if let Some(Ok(m)) = polled {
                    let offset = m.offset();
                    let key = m
                        .key()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default()
                        .to_string();
                    let value: Option<Value> =
                        m.payload().and_then(|p| serde_json::from_slice(p).ok());
                    {
                        let mut v = view.write();
                        if let Some(worker) = key.strip_prefix("worker-") {
                            match value
                                .as_ref()
                                .and_then(|v| v.get("ts"))
                                .and_then(Value::as_i64)
                            {
                                Some(ts) => {
                                    v.heartbeats.insert(worker.to_string(), ts);
                                }
                                // A worker that left.
                                None => {
                                    v.heartbeats.remove(worker);
                                }
                            }
                        } else {
                            match value {
                                Some(val) => {
                                    v.tasks.insert(key, val);
                                }
                                None => {
                                    v.tasks.remove(&key);
                                }
                            }
                        }
                    }
                    advance(&read, offset + 1);
                }
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Records that everything before `next` has been read.
fn advance(read: &watch::Sender<i64>, next: i64) {
    read.send_if_modified(|p| {
        let moved = next > *p;
        if moved {
            *p = next;
        }
        moved
    });
}

/// After an empty poll, the consumer's fetch position is the next offset to read
/// (past compacted-away records and control records).
fn advance_to_position(consumer: &BaseConsumer, topic: &str, read: &watch::Sender<i64>) {
    if let Ok(tpl) = consumer.position() {
        if let Some(Offset::Offset(next)) = tpl.find_partition(topic, 0).map(|e| e.offset()) {
            advance(read, next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_records_round_trip() {
        let events = vec![
            ConfigEvent::Connector {
                name: "leads".into(),
                config: Some(
                    [("topics".to_string(), "t".to_string())]
                        .into_iter()
                        .collect(),
                ),
            },
            ConfigEvent::Connector {
                name: "leads".into(),
                config: None,
            },
            ConfigEvent::TargetState {
                name: "leads".into(),
                state: "PAUSED".into(),
            },
            ConfigEvent::Restart {
                name: "leads".into(),
                only_failed: true,
            },
            ConfigEvent::RestartTask {
                name: "lead-sync".into(),
                worker: "127.0.0.1:8083".into(),
                task: 2,
            },
        ];
        for ev in events {
            let (key, value) = ev.to_record();
            let bytes = value.map(|v| v.to_string().into_bytes());
            assert_eq!(ConfigEvent::from_record(&key, bytes.as_deref()), Some(ev));
        }
        assert_eq!(ConfigEvent::from_record("task-leads-0", Some(b"{}")), None);
    }
}
