//! The worker's supervisor: the connectors this worker knows, and the tasks it runs.
//!
//! Every change to a connector (create, reconfigure, pause, resume, stop, restart,
//! delete, offsets) is a message to this actor, so the REST API (on its own threads)
//! and the command line share one owner of that state. Tasks start asynchronously: a
//! connector is created at once, its tasks turn `RUNNING` once logged in and
//! subscribed, or `FAILED` with the reason.
//!
//! In distributed mode a request is answered only once this worker has read the config
//! topic to its end, and a change only once it has been read back, so every worker
//! answers with every change written before (read-your-writes, as in Connect). A
//! connector's `tasks.max` tasks are spread over the live workers: task `i` runs on
//! the `i mod n`-th of the `n` live workers in id order, which every worker computes
//! alike from the heartbeats in the status topic; when a worker joins or leaves, each
//! worker stops the tasks it lost and starts the ones it gained.

use crate::config::connector::{is_password_key, shown_value, TopicSelection};
use crate::config::providers::{has_placeholder, redacted_map};
use crate::config::secret::HIDDEN;
use crate::config::{ConfigErrors, ConnectorConfig, WorkerConfig};
use crate::connect::cluster::{ClusterLink, ConfigEvent};
use crate::connect::offsets::{self, PartitionOffset};
use crate::connect::status::{State, TaskStatus, TaskStatusCell};
use crate::pipeline::task::{start_task, RunningTask, TaskSpec};
use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture,
};
use futures::future::{LocalBoxFuture, Shared};
use futures::FutureExt;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A REST-shaped error: an HTTP status and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    /// HTTP status code.
    pub status: u16,
    /// What went wrong.
    pub message: String,
}

impl ApiFailure {
    fn not_found(name: &str) -> Self {
        Self {
            status: 404,
            message: format!("Connector {name} not found"),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            message: message.into(),
        }
    }
}

/// What an operator asked the connector to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Consuming and writing.
    Running,
    /// Paused: tasks stay assigned but read nothing.
    Paused,
    /// Stopped: tasks are shut down.
    Stopped,
}

struct TaskSlot {
    status: TaskStatusCell,
    running: Option<RunningTask>,
    generation: u64,
    /// Whether the assignment gives this task to this worker.
    owned: bool,
}

struct ConnectorEntry {
    raw: BTreeMap<String, String>,
    config: Arc<ConnectorConfig>,
    target: TargetState,
    tasks: Vec<TaskSlot>,
}

/// A task being stopped (drain, commit, leave the group); offsets may change only
/// once it is done.
type Stopping = Shared<LocalBoxFuture<'static, ()>>;

/// The status of a connector, in Connect's shape.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorStatus {
    /// Connector name.
    pub name: String,
    /// The connector's own state.
    pub connector: ConnectorState,
    /// Each task's status.
    pub tasks: Vec<TaskStatus>,
    /// Always `sink`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The connector part of a status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorState {
    /// State.
    pub state: State,
    /// Worker id.
    pub worker_id: String,
}

/// A connector's description, in Connect's shape (`GET /connectors/{name}`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectorInfo {
    /// Name.
    pub name: String,
    /// Configuration, passwords hidden.
    pub config: BTreeMap<String, String>,
    /// Task ids.
    pub tasks: Vec<TaskId>,
    /// Always `sink`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A task's id.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskId {
    /// Connector name.
    pub connector: String,
    /// Task number.
    pub task: u32,
}

/// The worker that runs task `task` among the live `members` (sorted, never empty).
fn owner(members: &[String], task: u32) -> &str {
    members
        .get(task as usize % members.len().max(1))
        .map_or("", String::as_str)
}

/// The supervisor actor.
pub struct Supervisor {
    worker: Arc<WorkerConfig>,
    worker_id: String,
    connectors: BTreeMap<String, ConnectorEntry>,
    cluster: Option<Arc<ClusterLink>>,
    /// The live workers, sorted (only this one outside distributed mode).
    members: Vec<String>,
    /// Tasks being stopped, by connector.
    stopping: BTreeMap<String, Vec<Stopping>>,
    /// Set on shutdown: no more heartbeats.
    leaving: bool,
}

/// Join the cluster: from now on, changes go through the config topic, statuses are
/// shared through the status topic, and tasks are spread over the live workers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachCluster(pub Arc<ClusterLink>);

/// A request whose turn has come: this worker has read the config topic to the end.
#[derive(Message)]
#[rtype(result = "Result<Reply, ApiFailure>")]
struct Synced(Request);

fn invalid(e: &ConfigErrors) -> ApiFailure {
    ApiFailure {
        status: 400,
        message: format!(
            "Connector configuration is invalid and contains the following {} error(s):\n{e}",
            e.len()
        ),
    }
}

fn not_stopped(name: &str) -> ApiFailure {
    ApiFailure {
        status: 400,
        message: format!(
            "Connector {name} must be STOPPED before its offsets can be changed: PUT /connectors/{name}/stop first"
        ),
    }
}

impl Supervisor {
    /// A supervisor for a worker reachable at `worker_id` (its REST `host:port`).
    pub fn new(worker: Arc<WorkerConfig>, worker_id: String) -> Self {
        Self {
            worker,
            members: vec![worker_id.clone()],
            worker_id,
            connectors: BTreeMap::new(),
            cluster: None,
            stopping: BTreeMap::new(),
            leaving: false,
        }
    }

    /// Validates a configuration, its placeholders resolved where this worker can
    /// (the tasks resolve them again when they start). Errors show a placeholder, not
    /// what it resolved to.
    fn parse(&self, raw: &BTreeMap<String, String>) -> Result<ConnectorConfig, ApiFailure> {
        let resolved = self.worker.config_providers.resolve_where_possible(raw);
        self.worker.connector_config(&resolved).map_err(|mut e| {
            for err in &mut e.0 {
                if let Some(original) = raw.get(&err.key).filter(|v| has_placeholder(v)) {
                    err.value = Some(original.clone());
                }
            }
            invalid(&e)
        })
    }

    /// A value sent back exactly as GET showed it (a secret as `[hidden]`, a URL with
    /// its `user:password@` as `[hidden]@`) keeps the stored value.
    fn restore_masked(
        &self,
        name: &str,
        config: &mut BTreeMap<String, String>,
    ) -> Result<(), ApiFailure> {
        let stored = self.connectors.get(name).map(|e| &e.raw);
        for (key, value) in config.iter_mut() {
            match stored.and_then(|s| s.get(key)) {
                Some(old) if value != old && *value == shown_value(key, old) => {
                    value.clone_from(old)
                }
                None if value == HIDDEN && is_password_key(key) => {
                    return Err(ApiFailure {
                        status: 400,
                        message: format!(
                            "{key} is {HIDDEN}, which stands for the value already stored, but connector {name} has no stored {key}: send the value itself"
                        ),
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn info_of(name: &str, raw: &BTreeMap<String, String>, tasks_max: u32) -> ConnectorInfo {
        ConnectorInfo {
            name: name.to_string(),
            config: redacted_map(raw),
            tasks: (0..tasks_max)
                .map(|task| TaskId {
                    connector: name.to_string(),
                    task,
                })
                .collect(),
            kind: "sink",
        }
    }

    fn info(&self, name: &str, e: &ConnectorEntry) -> ConnectorInfo {
        Self::info_of(name, &e.raw, e.tasks.len() as u32)
    }

    /// Every task of a connector with the worker that runs it: this worker's from
    /// their cells, the others' as their workers last published them.
    fn task_statuses(&self, name: &str, e: &ConnectorEntry) -> Vec<TaskStatus> {
        e.tasks
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let id = i as u32;
                if slot.owned {
                    return slot.status.get();
                }
                let worker = owner(&self.members, id);
                self.cluster
                    .as_ref()
                    .and_then(|c| c.remote_task(name, worker, id))
                    .unwrap_or_else(|| TaskStatus {
                        id,
                        state: State::Unassigned,
                        worker_id: worker.to_string(),
                        trace: None,
                    })
            })
            .collect()
    }

    fn status(&self, name: &str, e: &ConnectorEntry) -> ConnectorStatus {
        let state = match e.target {
            TargetState::Paused => State::Paused,
            TargetState::Stopped => State::Stopped,
            TargetState::Running => State::Running,
        };
        ConnectorStatus {
            name: name.to_string(),
            connector: ConnectorState {
                state,
                worker_id: self.worker_id.clone(),
            },
            tasks: self.task_statuses(name, e),
            kind: "sink",
        }
    }

    fn publish(&self, events: Vec<ConfigEvent>) -> ResponseActFuture<Self, Result<(), ApiFailure>> {
        let Some(cluster) = self.cluster.clone() else {
            return Box::pin(actix::fut::ready(Ok(())));
        };
        Box::pin(
            async move {
                for ev in &events {
                    cluster
                        .publish(ev)
                        .await
                        .map_err(|e| ApiFailure::internal(format!("config topic: {e}")))?;
                }
                Ok(())
            }
            .into_actor(self),
        )
    }

    /// Every second: heartbeat, follow the membership, publish this worker's tasks.
    /// Every second: forgets tasks that finished stopping and, in a cluster, moves
    /// tasks when the set of live workers changed.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        for list in self.stopping.values_mut() {
            list.retain(|f| f.peek().is_none());
        }
        self.stopping.retain(|_, list| !list.is_empty());
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        if self.leaving {
            return;
        }
        let live = cluster.live_workers();
        if live != self.members {
            tracing::info!("workers of the cluster: {}", live.join(", "));
            self.members = live;
            self.rebalance(ctx);
        }
    }

    /// Every `heartbeat.interval.ms` in a cluster: publishes this worker's heartbeat
    /// and the states of the tasks it runs.
    fn beat(&mut self, ctx: &mut Context<Self>) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        if self.leaving {
            return;
        }
        let snapshot: Vec<(String, Vec<TaskStatus>)> = self
            .connectors
            .iter()
            .map(|(n, e)| {
                let mine = e
                    .tasks
                    .iter()
                    .filter(|t| t.owned)
                    .map(|t| t.status.get())
                    .collect();
                (n.clone(), mine)
            })
            .collect();
        ctx.spawn(
            async move {
                cluster.heartbeat().await;
                for (name, tasks) in snapshot {
                    cluster.publish_status(&name, &tasks).await;
                }
            }
            .into_actor(self),
        );
    }

    /// Stops the tasks the current membership gives to other workers and starts the
    /// ones it gives to this one.
    fn rebalance(&mut self, ctx: &mut Context<Self>) {
        let names: Vec<String> = self.connectors.keys().cloned().collect();
        for name in names {
            let mut lost = Vec::new();
            let mut gained = Vec::new();
            let Some(entry) = self.connectors.get_mut(&name) else {
                continue;
            };
            for (i, slot) in entry.tasks.iter_mut().enumerate() {
                let mine = owner(&self.members, i as u32) == self.worker_id;
                if slot.owned && !mine {
                    lost.push(i);
                } else if !slot.owned && mine {
                    slot.owned = true;
                    gained.push(i);
                }
            }
            let target = entry.target;
            for &i in &lost {
                self.stop_slot(&name, i, ctx, State::Unassigned);
                if let Some(slot) = self
                    .connectors
                    .get_mut(&name)
                    .and_then(|e| e.tasks.get_mut(i))
                {
                    slot.owned = false;
                }
            }
            for &i in &gained {
                if target == TargetState::Stopped {
                    if let Some(slot) = self.connectors.get(&name).and_then(|e| e.tasks.get(i)) {
                        slot.status.reset(State::Stopped);
                    }
                } else {
                    self.start_slot(&name, i, ctx);
                }
            }
            if !lost.is_empty() || !gained.is_empty() {
                tracing::info!(connector = %name, "tasks moved: this worker gave up {lost:?} and took {gained:?}");
            }
            if let (Some(c), false) = (self.cluster.clone(), lost.is_empty()) {
                let ids: Vec<u32> = lost.iter().map(|&i| i as u32).collect();
                let connector = name.clone();
                ctx.spawn(async move { c.clear_status(&connector, &ids).await }.into_actor(self));
            }
        }
    }

    fn start_slot(&mut self, name: &str, index: usize, ctx: &mut Context<Self>) {
        let Some(entry) = self.connectors.get_mut(name) else {
            return;
        };
        let Some(slot) = entry.tasks.get_mut(index) else {
            return;
        };
        if !slot.owned {
            return;
        }
        slot.generation += 1;
        let generation = slot.generation;
        slot.status.reset(State::Unassigned);
        // Placeholders are resolved now, on the worker that runs the task; the stored
        // configuration keeps them.
        let config = if entry.raw.values().any(|v| has_placeholder(v)) {
            let resolved = self
                .worker
                .config_providers
                .resolve(&entry.raw)
                .map_err(|e| e.to_string())
                .and_then(|m| {
                    self.worker.connector_config(&m).map(Arc::new).map_err(|e| {
                        let keys: Vec<String> = e
                            .iter()
                            .map(|err| format!("{}: {}", err.key, err.message))
                            .collect();
                        format!(
                            "once its placeholders are resolved, the configuration is invalid: {}",
                            keys.join("; ")
                        )
                    })
                });
            match resolved {
                Ok(c) => c,
                Err(message) => {
                    tracing::error!(connector = %name, task = index, "task failed to start: {message}");
                    slot.status.set(State::Failed, Some(message));
                    return;
                }
            }
        } else {
            entry.config.clone()
        };
        let spec = TaskSpec {
            config,
            worker: self.worker.clone(),
            task_id: index as u32,
            status: slot.status.clone(),
        };
        let paused = entry.target == TargetState::Paused;
        let name = name.to_string();
        ctx.spawn(start_task(spec).into_actor(self).map(move |res, act, ctx| {
            let Some(slot) = act
                .connectors
                .get_mut(&name)
                .and_then(|e| e.tasks.get_mut(index))
            else {
                // Deleted meanwhile.
                if let Ok(task) = res {
                    ctx.spawn(task.stop().into_actor(act));
                }
                return;
            };
            if slot.generation != generation {
                if let Ok(task) = res {
                    ctx.spawn(task.stop().into_actor(act));
                }
                return;
            }
            match res {
                Ok(task) => {
                    let pause = paused.then(|| task.set_paused_future(true));
                    slot.running = Some(task);
                    if let Some(p) = pause {
                        ctx.spawn(p.into_actor(act));
                    }
                }
                Err(e) => {
                    tracing::error!(connector = %name, task = index, "task failed to start: {e}");
                    slot.status.set(State::Failed, Some(e.to_string()));
                }
            }
        }));
    }

    fn stop_slot(&mut self, name: &str, index: usize, ctx: &mut Context<Self>, state: State) {
        let running = match self
            .connectors
            .get_mut(name)
            .and_then(|e| e.tasks.get_mut(index))
        {
            Some(slot) => {
                slot.generation += 1;
                slot.status.reset(state);
                slot.running.take()
            }
            None => None,
        };
        if let Some(task) = running {
            let stopping: Stopping = task.stop().boxed_local().shared();
            ctx.spawn(stopping.clone().into_actor(self));
            self.stopping
                .entry(name.to_string())
                .or_default()
                .push(stopping);
        }
    }

    /// The indexes of this worker's tasks of `name`, filtered by `pick`.
    fn owned_slots(&self, name: &str, pick: impl Fn(&TaskSlot) -> bool) -> Vec<usize> {
        self.connectors
            .get(name)
            .into_iter()
            .flat_map(|e| e.tasks.iter().enumerate())
            .filter(|(_, t)| t.owned && pick(t))
            .map(|(i, _)| i)
            .collect()
    }

    fn create(
        &mut self,
        name: &str,
        raw: BTreeMap<String, String>,
        target: TargetState,
        ctx: &mut Context<Self>,
    ) -> Result<(), ApiFailure> {
        let config = self.parse(&raw)?;
        for key in config.ignored_keys() {
            tracing::info!(connector = %name, "configuration key {key} has no effect: {}", config.ignored_reason(key));
        }
        let tasks = (0..config.tasks_max)
            .map(|i| TaskSlot {
                status: TaskStatusCell::new(name, i, &self.worker_id),
                running: None,
                generation: 0,
                owned: owner(&self.members, i) == self.worker_id,
            })
            .collect();
        self.connectors.insert(
            name.to_string(),
            ConnectorEntry {
                raw,
                config: Arc::new(config),
                target,
                tasks,
            },
        );
        for i in self.owned_slots(name, |_| true) {
            if target == TargetState::Stopped {
                if let Some(slot) = self.connectors.get(name).and_then(|e| e.tasks.get(i)) {
                    slot.status.reset(State::Stopped);
                }
            } else {
                self.start_slot(name, i, ctx);
            }
        }
        Ok(())
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(std::time::Duration::from_secs(1), |act, ctx| act.tick(ctx));
    }
}

impl Handler<AttachCluster> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: AttachCluster, ctx: &mut Self::Context) {
        self.members = msg.0.live_workers();
        ctx.run_interval(msg.0.heartbeat_interval(), |act, ctx| act.beat(ctx));
        self.cluster = Some(msg.0);
    }
}

/// Operator requests, one message type with a reply per kind.
#[derive(Message)]
#[rtype(result = "Result<Reply, ApiFailure>")]
pub enum Request {
    /// `POST /connectors`.
    Create {
        /// Connector name.
        name: String,
        /// Its configuration.
        config: BTreeMap<String, String>,
    },
    /// `PUT /connectors/{name}/config`: create or reconfigure.
    PutConfig {
        /// Connector name.
        name: String,
        /// Its configuration.
        config: BTreeMap<String, String>,
    },
    /// `GET /connectors`.
    List,
    /// `GET /connectors/{name}`.
    Info(String),
    /// `GET /connectors/{name}/config`.
    Config(String),
    /// `GET /connectors/{name}/status`.
    Status(String),
    /// `GET /connectors/{name}/offsets`.
    Offsets(String),
    /// `PATCH /connectors/{name}/offsets`: commit these offsets (connector stopped).
    AlterOffsets {
        /// Connector name.
        name: String,
        /// The offsets to commit.
        offsets: Vec<PartitionOffset>,
    },
    /// `DELETE /connectors/{name}/offsets`: forget the committed offsets (stopped).
    ResetOffsets(String),
    /// `PUT /connectors/{name}/pause`.
    Pause(String),
    /// `PUT /connectors/{name}/resume`.
    Resume(String),
    /// `PUT /connectors/{name}/stop`.
    Stop(String),
    /// `POST /connectors/{name}/restart`.
    Restart {
        /// Connector name.
        name: String,
        /// Restart the tasks too.
        include_tasks: bool,
        /// Only the failed ones.
        only_failed: bool,
    },
    /// `POST /connectors/{name}/tasks/{id}/restart`.
    RestartTask(String, u32),
    /// `DELETE /connectors/{name}`.
    Delete(String),
    /// Stop every task gracefully and leave the cluster (shutdown).
    StopAll,
    /// A change read from the cluster's config topic, applied on this worker.
    Apply(ConfigEvent),
}

/// Replies to [`Request`]s.
#[derive(Debug)]
pub enum Reply {
    /// Nothing to say.
    Done,
    /// Connector names.
    Names(Vec<String>),
    /// One connector's description; `created` on PUT config.
    Info(ConnectorInfo, bool),
    /// A configuration (passwords hidden).
    Config(BTreeMap<String, String>),
    /// A status.
    Status(ConnectorStatus),
    /// Committed offsets.
    Offsets(Vec<PartitionOffset>),
    /// A sentence for the operator.
    Message(String),
}

type Answer = ResponseActFuture<Supervisor, Result<Reply, ApiFailure>>;

fn ready(r: Result<Reply, ApiFailure>) -> Answer {
    Box::pin(actix::fut::ready(r))
}

impl Handler<Request> for Supervisor {
    type Result = Answer;

    fn handle(&mut self, msg: Request, ctx: &mut Self::Context) -> Self::Result {
        let Some(cluster) = self.cluster.clone() else {
            return self.dispatch(msg, ctx);
        };
        if matches!(msg, Request::Apply(_) | Request::StopAll) {
            return self.dispatch(msg, ctx);
        }
        // Read the config topic to its end first; then queue the request behind the
        // changes that reading handed to this actor.
        let me = ctx.address();
        Box::pin(
            async move {
                cluster
                    .config_caught_up()
                    .await
                    .map_err(|e| ApiFailure::internal(format!("config topic: {e}")))?;
                me.send(Synced(msg))
                    .await
                    .map_err(|e| ApiFailure::internal(e.to_string()))?
            }
            .into_actor(self),
        )
    }
}

impl Handler<Synced> for Supervisor {
    type Result = Answer;

    fn handle(&mut self, msg: Synced, ctx: &mut Self::Context) -> Self::Result {
        self.dispatch(msg.0, ctx)
    }
}

impl Supervisor {
    fn dispatch(&mut self, msg: Request, ctx: &mut Context<Self>) -> Answer {
        let msg = match msg {
            Request::Create { name, mut config } => {
                if let Err(f) = self.restore_masked(&name, &mut config) {
                    return ready(Err(f));
                }
                Request::Create { name, config }
            }
            Request::PutConfig { name, mut config } => {
                if let Err(f) = self.restore_masked(&name, &mut config) {
                    return ready(Err(f));
                }
                Request::PutConfig { name, config }
            }
            other => other,
        };
        if self.cluster.is_some() {
            match self.handle_distributed(msg, ctx) {
                Ok(answer) => answer,
                Err(local) => self.handle_local(local, ctx),
            }
        } else {
            self.handle_local(msg, ctx)
        }
    }

    /// In distributed mode, a change is written to the config topic and applied when
    /// every worker (this one included) reads it back.
    fn handle_distributed(
        &mut self,
        msg: Request,
        ctx: &mut Context<Self>,
    ) -> Result<Answer, Request> {
        let exists = |s: &Self, n: &str| s.connectors.contains_key(n);
        let events = match msg {
            Request::Create { name, config } => {
                if exists(self, &name) {
                    return Ok(ready(Err(ApiFailure {
                        status: 409,
                        message: format!("Connector {name} already exists"),
                    })));
                }
                let parsed = match self.parse(&config) {
                    Ok(p) => p,
                    Err(f) => return Ok(ready(Err(f))),
                };
                let info = Self::info_of(&name, &config, parsed.tasks_max);
                let evs = vec![
                    ConfigEvent::TargetState {
                        name: name.clone(),
                        state: "STARTED".into(),
                    },
                    ConfigEvent::Connector {
                        name,
                        config: Some(config),
                    },
                ];
                return Ok(Box::pin(
                    self.publish(evs)
                        .map(move |r, _, _| r.map(|_| Reply::Info(info, true))),
                ));
            }
            Request::PutConfig { name, mut config } => {
                config.insert("name".into(), name.clone());
                let parsed = match self.parse(&config) {
                    Ok(p) => p,
                    Err(f) => return Ok(ready(Err(f))),
                };
                let created = !exists(self, &name);
                let info = Self::info_of(&name, &config, parsed.tasks_max);
                let mut evs = Vec::new();
                if created {
                    evs.push(ConfigEvent::TargetState {
                        name: name.clone(),
                        state: "STARTED".into(),
                    });
                }
                evs.push(ConfigEvent::Connector {
                    name,
                    config: Some(config),
                });
                return Ok(Box::pin(
                    self.publish(evs)
                        .map(move |r, _, _| r.map(|_| Reply::Info(info, created))),
                ));
            }
            Request::Delete(name) if exists(self, &name) => {
                vec![ConfigEvent::Connector { name, config: None }]
            }
            Request::Pause(name) if exists(self, &name) => vec![ConfigEvent::TargetState {
                name,
                state: "PAUSED".into(),
            }],
            Request::Resume(name) if exists(self, &name) => vec![ConfigEvent::TargetState {
                name,
                state: "STARTED".into(),
            }],
            Request::Stop(name) if exists(self, &name) => vec![ConfigEvent::TargetState {
                name,
                state: "STOPPED".into(),
            }],
            Request::Restart {
                name,
                include_tasks: true,
                only_failed,
            } if exists(self, &name) => vec![ConfigEvent::Restart { name, only_failed }],
            Request::RestartTask(name, id) if exists(self, &name) => {
                let entry = &self.connectors[&name];
                let Some(slot) = entry.tasks.get(id as usize) else {
                    return Ok(ready(Err(ApiFailure {
                        status: 404,
                        message: format!("Task {name}-{id} not found"),
                    })));
                };
                if slot.owned {
                    return Err(Request::RestartTask(name, id));
                }
                let worker = owner(&self.members, id).to_string();
                vec![ConfigEvent::RestartTask {
                    name,
                    worker,
                    task: id,
                }]
            }
            Request::Apply(ev) => return Ok(self.apply(ev, ctx)),
            other => return Err(other),
        };
        Ok(Box::pin(
            self.publish(events).map(|r, _, _| r.map(|_| Reply::Done)),
        ))
    }

    /// Applies a change read from the config topic on this worker.
    fn apply(&mut self, ev: ConfigEvent, ctx: &mut Context<Self>) -> Answer {
        let local = match ev {
            ConfigEvent::Connector {
                name,
                config: Some(config),
            } => {
                if self.connectors.get(&name).is_some_and(|e| e.raw == config) {
                    return ready(Ok(Reply::Done));
                }
                Request::PutConfig { name, config }
            }
            ConfigEvent::Connector { name, config: None } => {
                let mine: Vec<u32> = self
                    .owned_slots(&name, |_| true)
                    .into_iter()
                    .map(|i| i as u32)
                    .collect();
                if let Some(c) = self.cluster.clone() {
                    let connector = name.clone();
                    ctx.spawn(
                        async move { c.clear_status(&connector, &mine).await }.into_actor(self),
                    );
                }
                Request::Delete(name)
            }
            ConfigEvent::TargetState { name, state } => match state.as_str() {
                "PAUSED" => Request::Pause(name),
                "STOPPED" => Request::Stop(name),
                _ => Request::Resume(name),
            },
            ConfigEvent::Restart { name, only_failed } => Request::Restart {
                name,
                include_tasks: true,
                only_failed,
            },
            ConfigEvent::RestartTask { name, worker, task } => {
                if worker != self.worker_id {
                    return ready(Ok(Reply::Done));
                }
                Request::RestartTask(name, task)
            }
        };
        self.handle_local(local, ctx)
    }

    /// Pauses or resumes every running task of a connector.
    fn set_paused(&mut self, name: &str, paused: bool) -> Answer {
        let futs: Vec<_> = self
            .connectors
            .get(name)
            .into_iter()
            .flat_map(|e| &e.tasks)
            .filter_map(|t| t.running.as_ref().map(|r| r.set_paused_future(paused)))
            .collect();
        Box::pin(
            async move {
                for f in futs {
                    f.await;
                }
                Ok(Reply::Done)
            }
            .into_actor(self),
        )
    }

    /// Checks that `offsets` name partitions of the topics the connector reads.
    fn check_offsets(
        config: &ConnectorConfig,
        offsets: &[PartitionOffset],
    ) -> Result<(), ApiFailure> {
        let whole = match &config.topics {
            TopicSelection::Regex(re) => regex::Regex::new(&format!("^(?:{re})$")).ok(),
            TopicSelection::Topics(_) => None,
        };
        for o in offsets {
            let read = match &config.topics {
                TopicSelection::Topics(list) => list.iter().any(|t| t == &o.topic),
                TopicSelection::Regex(_) => whole.as_ref().is_some_and(|re| re.is_match(&o.topic)),
            };
            if !read {
                return Err(ApiFailure {
                    status: 400,
                    message: format!(
                        "topic {} (partition {}) is not read by connector {}",
                        o.topic, o.partition, config.name
                    ),
                });
            }
        }
        Ok(())
    }

    /// Alters (`Some`) or resets (`None`) a stopped connector's offsets, once its tasks
    /// on this worker have finished stopping.
    fn change_offsets(&mut self, name: String, offsets: Option<Vec<PartitionOffset>>) -> Answer {
        let Some(e) = self.connectors.get(&name) else {
            return ready(Err(ApiFailure::not_found(&name)));
        };
        if e.target != TargetState::Stopped {
            return ready(Err(not_stopped(&name)));
        }
        if let Some(list) = &offsets {
            if let Err(f) = Self::check_offsets(&e.config, list) {
                return ready(Err(f));
            }
        }
        let pending = self.stopping.get(&name).cloned().unwrap_or_default();
        let worker = self.worker.clone();
        let config = e.config.clone();
        Box::pin(
            async move {
                futures::future::join_all(pending).await;
                let altering = offsets.is_some();
                tokio::task::spawn_blocking(move || match offsets {
                    Some(list) => offsets::alter(&worker, &config, &list),
                    None => offsets::reset(&worker, &config),
                })
                .await
                .map_err(|e| ApiFailure::internal(e.to_string()))?
                .map_err(|e| ApiFailure::internal(e.to_string()))?;
                let done = if altering { "altered" } else { "reset" };
                Ok(Reply::Message(format!(
                    "The offsets of connector {name} (its consumer group connect-{name}) have been {done}; they take effect when it is resumed."
                )))
            }
            .into_actor(self),
        )
    }

    /// Carries out a request on this worker alone.
    fn handle_local(&mut self, msg: Request, ctx: &mut Context<Self>) -> Answer {
        match msg {
            Request::Create { name, config } => {
                if self.connectors.contains_key(&name) {
                    return ready(Err(ApiFailure {
                        status: 409,
                        message: format!("Connector {name} already exists"),
                    }));
                }
                let r = self
                    .create(&name, config, TargetState::Running, ctx)
                    .map(|_| {
                        let e = &self.connectors[&name];
                        Reply::Info(self.info(&name, e), true)
                    });
                ready(r)
            }
            Request::PutConfig { name, mut config } => {
                config.insert("name".into(), name.clone());
                let existed = self.connectors.contains_key(&name);
                let target = self
                    .connectors
                    .get(&name)
                    .map_or(TargetState::Running, |e| e.target);
                if let Err(f) = self.parse(&config) {
                    return ready(Err(f));
                }
                if existed {
                    for i in self.owned_slots(&name, |_| true) {
                        self.stop_slot(&name, i, ctx, State::Unassigned);
                    }
                    self.connectors.remove(&name);
                }
                let r = self.create(&name, config, target, ctx).map(|_| {
                    let e = &self.connectors[&name];
                    Reply::Info(self.info(&name, e), !existed)
                });
                ready(r)
            }
            Request::List => ready(Ok(Reply::Names(self.connectors.keys().cloned().collect()))),
            Request::Info(name) => ready(
                self.connectors
                    .get(&name)
                    .map(|e| Reply::Info(self.info(&name, e), false))
                    .ok_or_else(|| ApiFailure::not_found(&name)),
            ),
            Request::Config(name) => ready(
                self.connectors
                    .get(&name)
                    .map(|e| Reply::Config(redacted_map(&e.raw)))
                    .ok_or_else(|| ApiFailure::not_found(&name)),
            ),
            Request::Status(name) => ready(
                self.connectors
                    .get(&name)
                    .map(|e| Reply::Status(self.status(&name, e)))
                    .ok_or_else(|| ApiFailure::not_found(&name)),
            ),
            Request::Offsets(name) => {
                let Some(e) = self.connectors.get(&name) else {
                    return ready(Err(ApiFailure::not_found(&name)));
                };
                let worker = self.worker.clone();
                let config = e.config.clone();
                Box::pin(
                    async move {
                        tokio::task::spawn_blocking(move || offsets::committed(&worker, &config))
                            .await
                            .map_err(|e| ApiFailure::internal(e.to_string()))?
                            .map(Reply::Offsets)
                            .map_err(|e| ApiFailure::internal(e.to_string()))
                    }
                    .into_actor(self),
                )
            }
            Request::AlterOffsets { name, offsets } => self.change_offsets(name, Some(offsets)),
            Request::ResetOffsets(name) => self.change_offsets(name, None),
            Request::Pause(name) | Request::Resume(name)
                if !self.connectors.contains_key(&name) =>
            {
                ready(Err(ApiFailure::not_found(&name)))
            }
            Request::Pause(name) => {
                if let Some(e) = self.connectors.get_mut(&name) {
                    e.target = TargetState::Paused;
                }
                self.set_paused(&name, true)
            }
            Request::Resume(name) => {
                let Some(e) = self.connectors.get_mut(&name) else {
                    return ready(Err(ApiFailure::not_found(&name)));
                };
                let was_stopped = e.target == TargetState::Stopped;
                e.target = TargetState::Running;
                if was_stopped {
                    for i in self.owned_slots(&name, |_| true) {
                        self.start_slot(&name, i, ctx);
                    }
                    return ready(Ok(Reply::Done));
                }
                self.set_paused(&name, false)
            }
            Request::Stop(name) => {
                let Some(e) = self.connectors.get_mut(&name) else {
                    return ready(Err(ApiFailure::not_found(&name)));
                };
                e.target = TargetState::Stopped;
                for i in self.owned_slots(&name, |_| true) {
                    self.stop_slot(&name, i, ctx, State::Stopped);
                }
                ready(Ok(Reply::Done))
            }
            Request::Restart {
                name,
                include_tasks,
                only_failed,
            } => {
                if !self.connectors.contains_key(&name) {
                    return ready(Err(ApiFailure::not_found(&name)));
                }
                if include_tasks {
                    let which = self.owned_slots(&name, |t| {
                        !only_failed || t.status.get().state == State::Failed
                    });
                    for i in which {
                        self.stop_slot(&name, i, ctx, State::Restarting);
                        self.start_slot(&name, i, ctx);
                    }
                }
                ready(Ok(Reply::Done))
            }
            Request::RestartTask(name, id) => {
                let Some(e) = self.connectors.get(&name) else {
                    return ready(Err(ApiFailure::not_found(&name)));
                };
                if !e.tasks.get(id as usize).is_some_and(|t| t.owned) {
                    return ready(Err(ApiFailure {
                        status: 404,
                        message: format!("Task {name}-{id} not found on this worker"),
                    }));
                }
                self.stop_slot(&name, id as usize, ctx, State::Restarting);
                self.start_slot(&name, id as usize, ctx);
                ready(Ok(Reply::Done))
            }
            Request::Delete(name) => {
                if !self.connectors.contains_key(&name) {
                    return ready(Err(ApiFailure::not_found(&name)));
                }
                for i in self.owned_slots(&name, |_| true) {
                    self.stop_slot(&name, i, ctx, State::Unassigned);
                }
                self.connectors.remove(&name);
                ready(Ok(Reply::Done))
            }
            Request::StopAll => {
                // Leave first, so the other workers take the tasks over while these
                // drain (the consumer group hands the partitions on as they go).
                self.leaving = true;
                let leave = self.cluster.clone().map(|c| async move { c.leave().await });
                let mut stops = Vec::new();
                for e in self.connectors.values_mut() {
                    for t in &mut e.tasks {
                        t.generation += 1;
                        if let Some(r) = t.running.take() {
                            stops.push(r.stop());
                        }
                    }
                }
                Box::pin(
                    async move {
                        if let Some(leave) = leave {
                            leave.await;
                        }
                        futures::future::join_all(stops).await;
                        Ok(Reply::Done)
                    }
                    .into_actor(self),
                )
            }
            Request::Apply(ev) => self.apply(ev, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_go_round_the_live_workers_in_id_order() {
        let two = vec!["127.0.0.1:1".to_string(), "127.0.0.1:2".to_string()];
        assert_eq!(
            (0..4).map(|t| owner(&two, t)).collect::<Vec<_>>(),
            ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:2"]
        );
        let one = vec!["127.0.0.1:2".to_string()];
        assert!((0..3).all(|t| owner(&one, t) == "127.0.0.1:2"));
    }
}
