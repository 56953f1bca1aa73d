//! The worker's supervisor: the connectors this worker runs, and their tasks.
//!
//! Every change to a connector (create, reconfigure, pause, resume, stop, restart,
//! delete) is a message to this actor, so the REST API (on its own threads) and the
//! command line share one owner of that state. Tasks start asynchronously: a connector
//! is created at once, its tasks turn `RUNNING` once logged in and subscribed, or
//! `FAILED` with the reason.

use crate::config::{ConnectorConfig, WorkerConfig};
use crate::connect::cluster::{ClusterLink, ConfigEvent};
use crate::connect::status::{State, TaskStatus, TaskStatusCell};
use crate::pipeline::task::{start_task, RunningTask, TaskSpec};
use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, ResponseActFuture, WrapFuture,
};
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
}

struct ConnectorEntry {
    raw: BTreeMap<String, String>,
    config: Arc<ConnectorConfig>,
    target: TargetState,
    tasks: Vec<TaskSlot>,
}

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

/// The supervisor actor.
pub struct Supervisor {
    worker: Arc<WorkerConfig>,
    worker_id: String,
    connectors: BTreeMap<String, ConnectorEntry>,
    cluster: Option<Arc<ClusterLink>>,
}

/// Join the cluster: from now on, changes go through the config topic and statuses
/// are shared through the status topic.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachCluster(pub Arc<ClusterLink>);

fn invalid(e: &crate::config::ConfigErrors) -> ApiFailure {
    ApiFailure {
        status: 400,
        message: format!(
            "Connector configuration is invalid and contains the following {} error(s):\n{e}",
            e.len()
        ),
    }
}

impl Supervisor {
    /// A supervisor for a worker reachable at `worker_id` (its REST `host:port`).
    pub fn new(worker: Arc<WorkerConfig>, worker_id: String) -> Self {
        Self {
            worker,
            worker_id,
            connectors: BTreeMap::new(),
            cluster: None,
        }
    }

    /// Every task of a connector, this worker's and (in distributed mode) the other
    /// live workers', numbered 0.. in (worker, task) order. Each entry keeps the
    /// worker's own task number for restarts.
    fn all_tasks(&self, name: &str, e: &ConnectorEntry) -> Vec<(TaskStatus, u32)> {
        let mut tasks: Vec<TaskStatus> = e.tasks.iter().map(|t| t.status.get()).collect();
        if let Some(c) = &self.cluster {
            tasks.extend(c.remote_tasks(name));
        }
        tasks.sort_by(|a, b| (a.worker_id.as_str(), a.id).cmp(&(b.worker_id.as_str(), b.id)));
        tasks
            .into_iter()
            .enumerate()
            .map(|(i, mut t)| {
                let local = t.id;
                t.id = i as u32;
                (t, local)
            })
            .collect()
    }

    fn publish(
        &self,
        ctx: &mut Context<Self>,
        events: Vec<ConfigEvent>,
    ) -> ResponseActFuture<Self, Result<(), ApiFailure>> {
        let Some(cluster) = self.cluster.clone() else {
            return Box::pin(actix::fut::ready(Ok(())));
        };
        let _ = ctx;
        Box::pin(
            async move {
                for ev in &events {
                    cluster.publish(ev).await.map_err(|e| ApiFailure {
                        status: 500,
                        message: format!("could not write to the config topic: {e}"),
                    })?;
                }
                Ok(())
            }
            .into_actor(self),
        )
    }

    fn publish_statuses(&self, ctx: &mut Context<Self>) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        let snapshot: Vec<(String, Vec<TaskStatus>)> = self
            .connectors
            .iter()
            .map(|(n, e)| (n.clone(), e.tasks.iter().map(|t| t.status.get()).collect()))
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

    fn info(&self, name: &str, e: &ConnectorEntry) -> ConnectorInfo {
        ConnectorInfo {
            name: name.to_string(),
            config: ConnectorConfig::redacted_map(&e.raw),
            tasks: (0..e.tasks.len() as u32)
                .map(|task| TaskId {
                    connector: name.to_string(),
                    task,
                })
                .collect(),
            kind: "sink",
        }
    }

    fn status(&self, name: &str, e: &ConnectorEntry) -> ConnectorStatus {
        let tasks: Vec<TaskStatus> = self
            .all_tasks(name, e)
            .into_iter()
            .map(|(t, _)| t)
            .collect();
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
            tasks,
            kind: "sink",
        }
    }

    fn start_slot(&mut self, name: &str, index: usize, ctx: &mut Context<Self>) {
        let Some(entry) = self.connectors.get_mut(name) else {
            return;
        };
        let Some(slot) = entry.tasks.get_mut(index) else {
            return;
        };
        slot.generation += 1;
        let generation = slot.generation;
        slot.status.reset(State::Unassigned);
        let spec = TaskSpec {
            config: entry.config.clone(),
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
            ctx.spawn(task.stop().into_actor(self));
        }
    }

    fn create(
        &mut self,
        name: &str,
        raw: BTreeMap<String, String>,
        target: TargetState,
        ctx: &mut Context<Self>,
    ) -> Result<(), ApiFailure> {
        let config = self
            .worker
            .connector_config(&raw)
            .map_err(|e| invalid(&e))?;
        for key in config.ignored_keys() {
            tracing::info!(connector = %name, "configuration key {key} is accepted and ignored");
        }
        let tasks = (0..config.tasks_max)
            .map(|i| TaskSlot {
                status: TaskStatusCell::new(name, i, &self.worker_id),
                running: None,
                generation: 0,
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
        if target == TargetState::Stopped {
            for slot in self.connectors.get(name).into_iter().flat_map(|e| &e.tasks) {
                slot.status.reset(State::Stopped);
            }
            return Ok(());
        }
        let n = self.connectors.get(name).map_or(0, |e| e.tasks.len());
        for i in 0..n {
            self.start_slot(name, i, ctx);
        }
        Ok(())
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(std::time::Duration::from_secs(1), |act, ctx| {
            act.publish_statuses(ctx)
        });
    }
}

impl Handler<AttachCluster> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: AttachCluster, _ctx: &mut Self::Context) {
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
    /// Stop every task gracefully (shutdown).
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
    /// Committable positions: (topic, partition, offset).
    Offsets(Vec<(String, i32, i64)>),
}

type Answer = ResponseActFuture<Supervisor, Result<Reply, ApiFailure>>;

fn ready(r: Result<Reply, ApiFailure>) -> Answer {
    Box::pin(actix::fut::ready(r))
}

impl Supervisor {
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
                let parsed = match self.worker.connector_config(&config) {
                    Ok(p) => p,
                    Err(e) => return Ok(ready(Err(invalid(&e)))),
                };
                let info = ConnectorInfo {
                    name: name.clone(),
                    config: ConnectorConfig::redacted_map(&config),
                    tasks: (0..parsed.tasks_max)
                        .map(|task| TaskId {
                            connector: name.clone(),
                            task,
                        })
                        .collect(),
                    kind: "sink",
                };
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
                    self.publish(ctx, evs)
                        .map(move |r, _, _| r.map(|_| Reply::Info(info, true))),
                ));
            }
            Request::PutConfig { name, mut config } => {
                config.insert("name".into(), name.clone());
                let parsed = match self.worker.connector_config(&config) {
                    Ok(p) => p,
                    Err(e) => return Ok(ready(Err(invalid(&e)))),
                };
                let created = !exists(self, &name);
                let info = ConnectorInfo {
                    name: name.clone(),
                    config: ConnectorConfig::redacted_map(&config),
                    tasks: (0..parsed.tasks_max)
                        .map(|task| TaskId {
                            connector: name.clone(),
                            task,
                        })
                        .collect(),
                    kind: "sink",
                };
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
                    self.publish(ctx, evs)
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
                let Some((task, local)) = self.all_tasks(&name, entry).into_iter().nth(id as usize)
                else {
                    return Ok(ready(Err(ApiFailure {
                        status: 404,
                        message: format!("Task {name}-{id} not found"),
                    })));
                };
                if task.worker_id == self.worker_id {
                    return Err(Request::RestartTask(name, local));
                }
                vec![ConfigEvent::RestartTask {
                    name,
                    worker: task.worker_id,
                    task: local,
                }]
            }
            Request::Apply(ev) => return Ok(self.apply(ev, ctx)),
            other => return Err(other),
        };
        Ok(Box::pin(
            self.publish(ctx, events)
                .map(|r, _, _| r.map(|_| Reply::Done)),
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
                if let (Some(c), Some(e)) = (self.cluster.clone(), self.connectors.get(&name)) {
                    let n = e.tasks.len() as u32;
                    let connector = name.clone();
                    ctx.spawn(async move { c.clear_status(&connector, n).await }.into_actor(self));
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
}

impl Handler<Request> for Supervisor {
    type Result = Answer;

    fn handle(&mut self, msg: Request, ctx: &mut Self::Context) -> Self::Result {
        let msg = if self.cluster.is_some() {
            match self.handle_distributed(msg, ctx) {
                Ok(answer) => return answer,
                Err(local) => local,
            }
        } else {
            msg
        };
        self.handle_local(msg, ctx)
    }
}

impl Supervisor {
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
                if let Err(e) = self.worker.connector_config(&config) {
                    return ready(Err(invalid(&e)));
                }
                if existed {
                    let n = self.connectors[&name].tasks.len();
                    for i in 0..n {
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
                    .map(|e| Reply::Config(ConnectorConfig::redacted_map(&e.raw)))
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
                let futures: Vec<_> = e
                    .tasks
                    .iter()
                    .filter_map(|t| t.running.as_ref().map(|r| r.positions_future()))
                    .collect();
                Box::pin(
                    async move {
                        let mut out = Vec::new();
                        for f in futures {
                            for (tp, pos) in f.await {
                                out.push((tp.topic.to_string(), tp.partition, pos));
                            }
                        }
                        out.sort();
                        Ok(Reply::Offsets(out))
                    }
                    .into_actor(self),
                )
            }
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
                    let n = e.tasks.len();
                    for i in 0..n {
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
                let n = e.tasks.len();
                for i in 0..n {
                    self.stop_slot(&name, i, ctx, State::Stopped);
                }
                ready(Ok(Reply::Done))
            }
            Request::Restart {
                name,
                include_tasks,
                only_failed,
            } => {
                let Some(e) = self.connectors.get(&name) else {
                    return ready(Err(ApiFailure::not_found(&name)));
                };
                if include_tasks {
                    let which: Vec<usize> = e
                        .tasks
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| !only_failed || t.status.get().state == State::Failed)
                        .map(|(i, _)| i)
                        .collect();
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
                if id as usize >= e.tasks.len() {
                    return ready(Err(ApiFailure {
                        status: 404,
                        message: format!("Task {name}-{id} not found"),
                    }));
                }
                self.stop_slot(&name, id as usize, ctx, State::Restarting);
                self.start_slot(&name, id as usize, ctx);
                ready(Ok(Reply::Done))
            }
            Request::Delete(name) => {
                let Some(e) = self.connectors.get(&name) else {
                    return ready(Err(ApiFailure::not_found(&name)));
                };
                let n = e.tasks.len();
                for i in 0..n {
                    self.stop_slot(&name, i, ctx, State::Unassigned);
                }
                self.connectors.remove(&name);
                ready(Ok(Reply::Done))
            }
            Request::StopAll => {
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
