//! The offset tracker: the single owner of a task's offsets.
//!
//! The reader registers each record before it moves on; the sequencer (and the
//! reporter, for dead-lettered records) acknowledges each record whose outcome is
//! final. After every acknowledgement the tracker stores, per partition, the position
//! just past the contiguous done prefix in the consumer; librdkafka commits stored
//! positions in the background, and [`CommitNow`] commits synchronously (on halt and
//! on shutdown).

use crate::kafka::consumer::TaskConsumer;
use crate::kafka::in_flight::InFlight;
use crate::kafka::offsets::{OffsetLedger, TopicPartition};
use crate::pipeline::messages::Shutdown;
use crate::pipeline::messages::{Ack, Register};
use actix::{Actor, ActorContext, Context, Handler, Message};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;

/// Commit every stored position now, synchronously.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CommitNow;

/// Forget partitions that were revoked.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget(pub Vec<TopicPartition>);

/// The committable position of every partition the tracker knows.
#[derive(Message)]
#[rtype(result = "HashMap<TopicPartition, i64>")]
pub struct Positions;

/// The offset tracker actor.
pub struct OffsetTracker {
    ledger: OffsetLedger,
    consumer: Arc<TaskConsumer>,
    in_flight: Arc<InFlight>,
}

impl OffsetTracker {
    /// A tracker storing positions in `consumer` and releasing `in_flight` permits.
    pub fn new(consumer: Arc<TaskConsumer>, in_flight: Arc<InFlight>) -> Self {
        Self {
            ledger: OffsetLedger::new(),
            consumer,
            in_flight,
        }
    }

    fn store_changes(&mut self) {
        let changes = self.ledger.take_changes();
        if changes.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (tp, position) in &changes {
            if tpl
                .add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*position))
                .is_err()
            {
                tracing::warn!(topic = %tp.topic, partition = tp.partition, "cannot store offset {position}");
            }
        }
        if let Err(e) = self.consumer.store_offsets(&tpl) {
            // A partition revoked meanwhile cannot be stored; the next owner replays.
            tracing::debug!("storing offsets: {e}");
        }
    }
}

impl Actor for OffsetTracker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
    }
}

fn tp_of(c: &crate::record::RecordCoords) -> TopicPartition {
    TopicPartition {
        topic: c.topic.clone(),
        partition: c.partition,
    }
}

impl Handler<Register> for OffsetTracker {
    type Result = ();

    fn handle(&mut self, msg: Register, _ctx: &mut Self::Context) {
        for c in &msg.0 {
            self.ledger.register(&tp_of(c), c.offset);
        }
    }
}

impl Handler<Ack> for OffsetTracker {
    type Result = ();

    fn handle(&mut self, msg: Ack, _ctx: &mut Self::Context) {
        let mut released: HashMap<TopicPartition, usize> = HashMap::new();
        for c in &msg.0 {
            let tp = tp_of(c);
            self.ledger.complete(&tp, c.offset);
            *released.entry(tp).or_default() += 1;
        }
        self.store_changes();
        for (tp, n) in released {
            self.in_flight.release(&tp, n);
        }
    }
}

impl Handler<CommitNow> for OffsetTracker {
    type Result = ();

    fn handle(&mut self, _msg: CommitNow, _ctx: &mut Self::Context) {
        self.store_changes();
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::debug!("offsets committed"),
            Err(e) => tracing::debug!("synchronous commit: {e}"),
        }
    }
}

impl Handler<Forget> for OffsetTracker {
    type Result = ();

    fn handle(&mut self, msg: Forget, _ctx: &mut Self::Context) {
        for tp in &msg.0 {
            self.ledger.forget(tp);
        }
    }
}

impl Handler<Positions> for OffsetTracker {
    type Result = actix::MessageResult<Positions>;

    fn handle(&mut self, _msg: Positions, _ctx: &mut Self::Context) -> Self::Result {
        let mut out = HashMap::new();
        for tp in self.ledger.partitions() {
            if let Some(p) = self.ledger.committable(&tp) {
                out.insert(tp, p);
            }
        }
        actix::MessageResult(out)
    }
}

impl Handler<Shutdown> for OffsetTracker {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
