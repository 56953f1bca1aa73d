//! The fail-fast halt: stop the task on an unexpected error, losing nothing.
//!
//! The first halt wins. The halt actor stops intake, lets the work already admitted
//! drain (bounded by a deadline), commits the offsets of everything finished (never
//! past the failed record, which is not acknowledged), and marks the task `FAILED`
//! with a trace a person can act on. A restart resumes at the failed record.

use crate::connect::status::{State, TaskStatusCell};
use crate::pipeline::messages::Shutdown;
use crate::pipeline::offset_tracker::{CommitNow, OffsetTracker};
use crate::pipeline::reader::{PartitionReader, StopIntake};
use crate::pipeline::sequencer::{Drain, Sequencer};
use crate::record::RecordCoords;
use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, WrapFuture,
};
use std::fmt;
use std::time::Duration;

/// Why a task halts.
#[derive(Debug, Clone, PartialEq)]
pub struct HaltReason {
    /// The error code (`DUPLICATES_DETECTED`, `ENTITY_IS_DELETED`, `BAD_RECORD`,
    /// `RETRIES_EXHAUSTED`, ...).
    pub code: String,
    /// What was said about it.
    pub message: String,
    /// The record it is about, when there is one.
    pub coords: Option<RecordCoords>,
    /// The record's source `Id`, when it has one.
    pub record_id: Option<String>,
    /// Fields named by the error.
    pub fields: Vec<String>,
    /// What the operator can do.
    pub remedy: String,
}

impl fmt::Display for HaltReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if !self.fields.is_empty() {
            write!(f, " (fields: {})", self.fields.join(", "))?;
        }
        if let Some(c) = &self.coords {
            write!(
                f,
                "\n  record: topic={} partition={} offset={}",
                c.topic, c.partition, c.offset
            )?;
        }
        if let Some(id) = &self.record_id {
            write!(f, " Id={id}")?;
        }
        if !self.remedy.is_empty() {
            write!(f, "\n  what to do: {}", self.remedy)?;
        }
        Ok(())
    }
}

/// Halt the task.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Halt(pub HaltReason);

/// Where the halt actor sends its orders.
pub struct HaltTargets {
    /// The partition reader (stops intake).
    pub reader: Addr<PartitionReader>,
    /// The sequencer (drains).
    pub sequencer: Addr<Sequencer>,
    /// The offset tracker (commits).
    pub tracker: Addr<OffsetTracker>,
}

/// The halt actor.
pub struct HaltActor {
    connector: String,
    status: TaskStatusCell,
    targets: Option<HaltTargets>,
    halted: bool,
    drain_timeout: Duration,
}

/// Wire the halt actor to the actors it stops (they are created after it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect(pub HaltTargets);

impl HaltActor {
    /// A halt actor for the task whose status is `status`.
    pub fn new(connector: &str, status: TaskStatusCell, drain_timeout: Duration) -> Self {
        Self {
            connector: connector.to_string(),
            status,
            targets: None,
            halted: false,
            drain_timeout,
        }
    }
}

impl Actor for HaltActor {
    type Context = Context<Self>;
}

impl Handler<Connect> for HaltActor {
    type Result = ();

    fn handle(&mut self, msg: Connect, _ctx: &mut Self::Context) {
        self.targets = Some(msg.0);
    }
}

impl Handler<Halt> for HaltActor {
    type Result = ();

    fn handle(&mut self, msg: Halt, ctx: &mut Self::Context) {
        let reason = msg.0;
        crate::metrics::metrics()
            .halts
            .with_label_values(&[&self.connector, &reason.code])
            .inc();
        if self.halted {
            tracing::warn!(connector = %self.connector, "further error while halting: {reason}");
            return;
        }
        self.halted = true;
        tracing::error!(connector = %self.connector, "task halts: {reason}");
        let Some(targets) = &self.targets else {
            self.status.set(State::Failed, Some(reason.to_string()));
            return;
        };
        let reader = targets.reader.clone();
        let sequencer = targets.sequencer.clone();
        let tracker = targets.tracker.clone();
        let deadline = self.drain_timeout;
        let work = async move {
            let _ = reader.send(StopIntake).await;
            let _ = tokio::time::timeout(deadline, sequencer.send(Drain { halt_held: true })).await;
            let _ = tracker.send(CommitNow).await;
        };
        ctx.wait(work.into_actor(self).map(move |_, act, _| {
            act.status.set(State::Failed, Some(reason.to_string()));
        }));
    }
}

impl Handler<Shutdown> for HaltActor {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_trace_names_code_record_and_remedy() {
        let r = HaltReason {
            code: "ENTITY_IS_DELETED".into(),
            message: "entity is deleted".into(),
            coords: Some(RecordCoords {
                topic: Arc::from("leads"),
                partition: 3,
                offset: 17,
            }),
            record_id: Some("00Q5e00000AbCdEEAV".into()),
            fields: vec![],
            remedy: "restore the row, then restart the task".into(),
        };
        let s = r.to_string();
        for part in [
            "ENTITY_IS_DELETED",
            "topic=leads",
            "partition=3",
            "offset=17",
            "Id=00Q5e00000AbCdEEAV",
            "restart",
        ] {
            assert!(s.contains(part), "{part} missing from {s}");
        }
    }
}
