//! Connector and task states, as Kafka Connect reports them.
//!
//! The pipeline's actors write here (a task turns `FAILED` with a trace, pauses for the
//! API budget, resumes); the REST API reads here. States and body shapes follow Kafka
//! Connect so that existing scripts keep working.

use parking_lot::RwLock;
use serde::Serialize;
use std::sync::Arc;

/// A connector's or a task's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Not (yet) running on any worker.
    Unassigned,
    /// Consuming and writing.
    Running,
    /// Paused by an operator, or waiting for the org's daily API allocation.
    Paused,
    /// Stopped by an operator.
    Stopped,
    /// Stopped by an error; `trace` says which and what to do.
    Failed,
    /// Being restarted.
    Restarting,
}

impl State {
    /// Every state, for metrics that set one to 1 and the others to 0.
    pub const ALL: [State; 6] = [
        State::Unassigned,
        State::Running,
        State::Paused,
        State::Stopped,
        State::Failed,
        State::Restarting,
    ];

    /// The Connect spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Stopped => "STOPPED",
            State::Failed => "FAILED",
            State::Restarting => "RESTARTING",
        }
    }
}

/// The status of one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    /// Task number within the connector.
    pub id: u32,
    /// Current state.
    pub state: State,
    /// The worker running it (`host:port` of its REST listener).
    pub worker_id: String,
    /// Why it failed or paused; absent while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// A task's status cell, shared by the task's actors (writers) and the REST API (readers).
#[derive(Debug, Clone)]
pub struct TaskStatusCell {
    inner: Arc<RwLock<TaskStatus>>,
    connector: Arc<str>,
}

impl TaskStatusCell {
    /// A cell for task `id` of `connector` on `worker_id`, starting `UNASSIGNED`.
    pub fn new(connector: &str, id: u32, worker_id: &str) -> Self {
        let cell = Self {
            inner: Arc::new(RwLock::new(TaskStatus {
                id,
                state: State::Unassigned,
                worker_id: worker_id.to_string(),
                trace: None,
            })),
            connector: Arc::from(connector),
        };
        cell.publish_metric(State::Unassigned);
        cell
    }

    /// A copy of the current status.
    pub fn get(&self) -> TaskStatus {
        self.inner.read().clone()
    }

    /// Moves to `state` with an optional trace. A `FAILED` task stays failed (its
    /// trace names the first error) until it is restarted with [`Self::reset`].
    pub fn set(&self, state: State, trace: Option<String>) {
        {
            let mut s = self.inner.write();
            if s.state == State::Failed && state != State::Failed {
                return;
            }
            if s.state == State::Failed {
                return;
            }
            s.state = state;
            s.trace = trace;
        }
        self.publish_metric(state);
    }

    /// Clears a failure before a restart.
    pub fn reset(&self, state: State) {
        {
            let mut s = self.inner.write();
            s.state = state;
            s.trace = None;
        }
        self.publish_metric(state);
    }

    fn publish_metric(&self, current: State) {
        let task = self.inner.read().id.to_string();
        for st in State::ALL {
            crate::metrics::metrics()
                .task_state
                .with_label_values(&[self.connector.as_ref(), task.as_str(), st.as_str()])
                .set(i64::from(st == current));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_task_keeps_its_first_trace() {
        let cell = TaskStatusCell::new("c", 0, "w");
        cell.set(State::Running, None);
        cell.set(State::Failed, Some("first".into()));
        cell.set(State::Failed, Some("second".into()));
        cell.set(State::Running, None);
        let s = cell.get();
        assert_eq!(
            (s.state, s.trace.as_deref()),
            (State::Failed, Some("first"))
        );
        cell.reset(State::Running);
        assert_eq!(cell.get().state, State::Running);
    }

    #[test]
    fn states_serialize_as_connect_spells_them() {
        let json = serde_json::to_string(&State::Unassigned).unwrap();
        assert_eq!(json, "\"UNASSIGNED\"");
    }
}
