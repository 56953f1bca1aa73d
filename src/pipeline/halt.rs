//! The fail-fast halt: stop the task on an unexpected error, losing nothing.
//!
//! Whether an error halts is decided in `salesforce/retry.rs`; this actor carries the
//! halt out. The first halt wins: it stops intake, lets the work already admitted drain
//! (bounded by a deadline), commits the offsets of everything finished (never past the
//! failed record, which is not acknowledged), writes that record to the error topic, and
//! marks the task `FAILED` with a trace a person can act on. A restart resumes at the
//! failed record.

use crate::pipeline::messages::{DrainTargets, Halt, Report, Shutdown, WireHalt};
use crate::pipeline::status::{State, TaskStatusCell};
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Recipient, WrapFuture,
};

/// The halt actor.
pub struct HaltActor {
    connector: String,
    status: TaskStatusCell,
    targets: Option<(DrainTargets, Recipient<Report>)>,
    halted: bool,
}

impl HaltActor {
    /// A halt actor for the task whose status is `status`.
    pub fn new(connector: &str, status: TaskStatusCell) -> Self {
        Self {
            connector: connector.to_string(),
            status,
            targets: None,
            halted: false,
        }
    }
}

impl Actor for HaltActor {
    type Context = Context<Self>;
}

impl Handler<WireHalt> for HaltActor {
    type Result = ();

    fn handle(&mut self, msg: WireHalt, _ctx: &mut Self::Context) {
        self.targets = Some((msg.drain, msg.reporter));
    }
}

impl Handler<Halt> for HaltActor {
    type Result = ();

    fn handle(&mut self, msg: Halt, ctx: &mut Self::Context) {
        let reason = msg.0;
        crate::metrics::metrics()
            .halts
            .with_label_values(&[&self.connector, &reason.cause.code])
            .inc();
        if self.halted {
            tracing::warn!(connector = %self.connector, "further error while halting: {reason}");
            return;
        }
        self.halted = true;
        tracing::error!(connector = %self.connector, "task halts: {reason}");
        let Some((targets, reporter)) = self.targets.clone() else {
            self.status.set(State::Failed, Some(reason.to_string()));
            return;
        };
        let halted = reason.clone();
        let work = async move {
            targets.drain_and_commit(true).await;
            let _ = reporter.send(Report::Halted(halted)).await;
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
