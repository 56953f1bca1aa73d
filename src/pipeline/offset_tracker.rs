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
use crate::pipeline::messages::{Ack, CommitNow, Forget, Positions, Register, Shutdown};
use actix::{Actor, ActorContext, Context, Handler};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;

/// Registrations and acknowledgements waiting for the tracker. Both are cheap to
/// handle; the queue absorbs bursts from the reader, the sequencer and the reporter
/// (each sends one message per batch, not per record).
const TRACKER_MAILBOX: usize = 1024;

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
        ctx.set_mailbox_capacity(TRACKER_MAILBOX);
    }
}

impl Handler<Register> for OffsetTracker {
    type Result = ();

    fn handle(&mut self, msg: Register, _ctx: &mut Self::Context) {
        for c in &msg.0 {
            self.ledger.register(&TopicPartition::of(c), c.offset);
        }
    }
}

impl Handler<Ack> for OffsetTracker {
    type Result = ();

    fn handle(&mut self, msg: Ack, _ctx: &mut Self::Context) {
        let mut released: HashMap<TopicPartition, usize> = HashMap::new();
        for c in &msg.0 {
            let tp = TopicPartition::of(c);
            if self.ledger.complete(&tp, c.offset) {
                *released.entry(tp).or_default() += 1;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::consumer::{build_consumer, ConsumerSettings, TaskConsumerContext};
    use crate::record::RecordCoords;
    use std::time::Duration;

    fn coords(offsets: &[i64]) -> Vec<RecordCoords> {
        offsets
            .iter()
            .map(|o| RecordCoords {
                topic: Arc::from("leads"),
                partition: 0,
                offset: *o,
            })
            .collect()
    }

    #[actix_rt::test]
    async fn acks_out_of_order_move_the_position_over_the_contiguous_prefix_only() {
        let gate = Arc::new(InFlight::new(100));
        // A consumer that never connects: storing positions in it fails quietly, and
        // the tracker's own answer is what this test reads.
        let context = TaskConsumerContext::new(
            "tracker-test",
            gate.clone(),
            Arc::new(crate::kafka::ownership::Ownership::default()),
            Duration::ZERO,
            Box::new(|_: &[TopicPartition]| {}),
        );
        let consumer = build_consumer(
            &ConsumerSettings {
                bootstrap_servers: "127.0.0.1:9",
                group_id: "tracker-test".into(),
                client_config: Vec::new(),
                overrides: Vec::new(),
            },
            context,
        )
        .expect("consumer");
        let tracker = OffsetTracker::new(Arc::new(consumer), gate.clone()).start();
        let tp = TopicPartition {
            topic: Arc::from("leads"),
            partition: 0,
        };
        gate.admit(&tp, 5);
        tracker
            .send(Register(coords(&[0, 1, 2, 3, 4])))
            .await
            .unwrap();
        let position = |m: HashMap<TopicPartition, i64>| m.get(&tp).copied();

        tracker.send(Ack(coords(&[3, 1]))).await.unwrap();
        assert_eq!(position(tracker.send(Positions).await.unwrap()), Some(0));
        tracker.send(Ack(coords(&[0]))).await.unwrap();
        assert_eq!(
            position(tracker.send(Positions).await.unwrap()),
            Some(2),
            "0 and 1 are done, 2 is not"
        );
        tracker.send(Ack(coords(&[2, 4]))).await.unwrap();
        assert_eq!(position(tracker.send(Positions).await.unwrap()), Some(5));
        assert_eq!(gate.total(), 0, "every acknowledged record left the gate");

        // A revoked partition is forgotten; late acks for it change nothing.
        tracker.send(Forget(vec![tp.clone()])).await.unwrap();
        tracker.send(Ack(coords(&[9]))).await.unwrap();
        assert_eq!(position(tracker.send(Positions).await.unwrap()), None);
    }
}
