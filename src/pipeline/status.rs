//! Connector and task states, as Kafka Connect reports them.
//!
//! The pipeline's actors write here (a task turns `FAILED` with a trace, pauses for the
//! API budget, resumes); the REST API reads here (`connect` re-exports this file).
//! States and body shapes follow Kafka Connect so that existing scripts keep working.
//!
//! A task can be paused for two reasons at once, kept apart so neither clears the
//! other: an operator's pause, and a pause for the org's daily API allocation. It shows
//! `PAUSED` while either holds (with the budget's reason as its trace), and goes back to
//! its own state when both are over.

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
    inner: Arc<RwLock<Cell>>,
    connector: Arc<str>,
}

/// The state a task was set to, and the pauses laid over it.
#[derive(Debug)]
struct Cell {
    status: TaskStatus,
    operator_paused: bool,
    /// Why writes wait for the daily API allocation, while they do.
    budget_paused: Option<String>,
}

impl Cell {
    /// What the REST API shows: a failure first, then a pause, then the state set.
    fn shown(&self) -> TaskStatus {
        let mut shown = self.status.clone();
        if shown.state == State::Running || shown.state == State::Paused {
            if let Some(why) = &self.budget_paused {
                shown.state = State::Paused;
                shown.trace = Some(why.clone());
            } else if self.operator_paused {
                shown.state = State::Paused;
            }
        }
        shown
    }
}

impl TaskStatusCell {
    /// A cell for task `id` of `connector` on `worker_id`, starting `UNASSIGNED`.
    pub fn new(connector: &str, id: u32, worker_id: &str) -> Self {
        let cell = Self {
            inner: Arc::new(RwLock::new(Cell {
                status: TaskStatus {
                    id,
                    state: State::Unassigned,
                    worker_id: worker_id.to_string(),
                    trace: None,
                },
                operator_paused: false,
                budget_paused: None,
            })),
            connector: Arc::from(connector),
        };
        cell.publish_metric();
        cell
    }

    /// A copy of the current status.
    pub fn get(&self) -> TaskStatus {
        self.inner.read().shown()
    }

    /// Moves to `state` with an optional trace. A `FAILED` task stays failed (its
    /// trace names the first error) until it is restarted with [`Self::reset`].
    pub fn set(&self, state: State, trace: Option<String>) {
        {
            let mut c = self.inner.write();
            if c.status.state == State::Failed {
                return;
            }
            c.status.state = state;
            c.status.trace = trace;
        }
        self.publish_metric();
    }

    /// An operator paused (`true`) or resumed (`false`) the task. A pause for the
    /// API budget, if any, stays.
    pub fn set_operator_paused(&self, paused: bool) {
        self.inner.write().operator_paused = paused;
        self.publish_metric();
    }

    /// Writes wait for the daily API allocation (`Some(why)`), or no longer do
    /// (`None`). An operator's pause, if any, stays.
    pub fn set_budget_paused(&self, why: Option<String>) {
        self.inner.write().budget_paused = why;
        self.publish_metric();
    }

    /// Clears a failure and both pauses before a restart.
    pub fn reset(&self, state: State) {
        {
            let mut c = self.inner.write();
            c.status.state = state;
            c.status.trace = None;
            c.operator_paused = false;
            c.budget_paused = None;
        }
        self.publish_metric();
    }

    fn publish_metric(&self) {
        let (task, current) = {
            let c = self.inner.read();
            (c.status.id.to_string(), c.shown().state)
        };
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
    fn operator_and_budget_pauses_do_not_clear_each_other() {
        let cell = TaskStatusCell::new("c", 0, "w");
        cell.set(State::Running, None);
        cell.set_operator_paused(true);
        cell.set_budget_paused(Some("allocation nearly spent".into()));
        assert_eq!(cell.get().state, State::Paused);
        assert_eq!(cell.get().trace.as_deref(), Some("allocation nearly spent"));
        // The allocation frees up: the operator's pause holds.
        cell.set_budget_paused(None);
        assert_eq!(cell.get().state, State::Paused);
        assert_eq!(cell.get().trace, None);
        // Paused for the budget again, then resumed by the operator: the budget holds.
        cell.set_budget_paused(Some("again".into()));
        cell.set_operator_paused(false);
        assert_eq!(cell.get().state, State::Paused);
        cell.set_budget_paused(None);
        assert_eq!(cell.get().state, State::Running);
        // A failure shows over any pause.
        cell.set_budget_paused(Some("x".into()));
        cell.set(State::Failed, Some("boom".into()));
        assert_eq!(cell.get().state, State::Failed);
        assert_eq!(cell.get().trace.as_deref(), Some("boom"));
    }

    #[test]
    fn states_serialize_as_connect_spells_them() {
        let json = serde_json::to_string(&State::Unassigned).unwrap();
        assert_eq!(json, "\"UNASSIGNED\"");
    }
}
