//! Which assignment of a partition a record was read under, and a fence that keeps a
//! revoked partition's records off the wire.
//!
//! A revoke waits a bounded time (`task.shutdown.graceful.timeout.ms`) for the
//! partition's records to finish. When that wait runs out, records of the partition are
//! still inside the task: queued behind an Id, or waiting to retry after a 503. The
//! next owner replays the same Ids from the committed offset, so a late write of this
//! task could land after the new owner's newer one and leave an older value in the org.
//!
//! Every assignment of a partition is an epoch. The reader stamps each record with the
//! epoch it was read under. A writer boards a record (checks its epoch is still the
//! partition's current one and counts it on the wire, in one step) before each call,
//! retries included, and lands it when the call has answered. A revoke ends the epoch,
//! so nothing of it boards again, and then waits for what is on the wire to land.
//!
//! The same state is what the task owns, so `sobject_sink_assigned_partitions`
//! follows it: a gauge moved by the rebalance callbacks alone kept the partitions of
//! an assignment that arrived while the task's consumer was closing, and counted
//! them twice once the next owner took them.

use crate::kafka::offsets::TopicPartition;
use crate::kafka::revoke_wait::wait_until;
use parking_lot::{Condvar, Mutex};
use prometheus::IntGauge;
use std::collections::HashMap;
use std::time::Instant;

/// The assignment a record was read under. Epoch 0 is never current: a record that
/// was not read from an assigned partition (a test's, say) carries it only when the
/// task runs without a fence.
pub type Epoch = u64;

#[derive(Debug, Default)]
struct PartitionState {
    /// The current assignment's epoch, or `None` while the partition is not assigned.
    current: Option<Epoch>,
    /// Records boarded and not yet landed.
    on_wire: usize,
}

#[derive(Debug, Default)]
struct Inner {
    next_epoch: Epoch,
    partitions: HashMap<TopicPartition, PartitionState>,
    /// Set once the task has let go of its consumer: nothing is assigned any more.
    released: bool,
}

impl Inner {
    fn assigned(&self) -> i64 {
        self.partitions
            .values()
            .filter(|p| p.current.is_some())
            .count() as i64
    }
}

/// The task's partition epochs and its calls on the wire.
#[derive(Debug, Default)]
pub struct Ownership {
    inner: Mutex<Inner>,
    landed: Condvar,
    /// Mirrors how many partitions are assigned (the connector's share of it).
    assigned_gauge: Option<IntGauge>,
}

impl Ownership {
    /// No partition assigned yet; `gauge` is moved by every change of how many
    /// partitions are assigned.
    pub fn counted_in(gauge: IntGauge) -> Self {
        Self {
            assigned_gauge: Some(gauge),
            ..Self::default()
        }
    }

    /// Runs `change` on the state and moves the gauge by what it changed.
    fn change<T>(&self, change: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock();
        let before = inner.assigned();
        let out = change(&mut inner);
        if let Some(gauge) = &self.assigned_gauge {
            gauge.add(inner.assigned() - before);
        }
        out
    }

    /// Starts a new epoch for each of `tps` (an assignment). Once the task has
    /// [released](Ownership::release_all) its consumer, an assignment that still
    /// reaches it is not taken: nothing of it would be read.
    pub fn assign(&self, tps: &[TopicPartition]) {
        self.change(|inner| {
            if inner.released {
                return;
            }
            for tp in tps {
                inner.next_epoch += 1;
                let epoch = inner.next_epoch;
                inner.partitions.entry(tp.clone()).or_default().current = Some(epoch);
            }
        })
    }

    /// Ends every epoch for good: the task has closed (or given up on closing) its
    /// consumer, so whatever the rebalance callbacks last said, it owns nothing.
    pub fn release_all(&self) {
        self.change(|inner| {
            inner.released = true;
            for p in inner.partitions.values_mut() {
                p.current = None;
            }
        })
    }

    /// The epoch `tp` is read under now (0 when it is not assigned).
    pub fn epoch(&self, tp: &TopicPartition) -> Epoch {
        self.inner
            .lock()
            .partitions
            .get(tp)
            .and_then(|p| p.current)
            .unwrap_or(0)
    }

    /// Whether `epoch` is still `tp`'s current assignment.
    pub fn is_current(&self, tp: &TopicPartition, epoch: Epoch) -> bool {
        self.inner
            .lock()
            .partitions
            .get(tp)
            .is_some_and(|p| p.current == Some(epoch))
    }

    /// Boards the records `(partition, epoch)` whose epoch is still current, counting
    /// them on the wire; returns, per record, whether it boarded. Records that did not
    /// board must not be sent: their partition has moved on.
    pub fn board<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a TopicPartition, Epoch)>,
    ) -> Vec<bool> {
        let mut inner = self.inner.lock();
        records
            .into_iter()
            .map(|(tp, epoch)| match inner.partitions.get_mut(tp) {
                Some(p) if p.current == Some(epoch) => {
                    p.on_wire += 1;
                    true
                }
                _ => false,
            })
            .collect()
    }

    /// Lands records boarded by [`Ownership::board`] (their call answered or failed).
    pub fn land<'a>(&self, records: impl IntoIterator<Item = &'a TopicPartition>) {
        let mut inner = self.inner.lock();
        for tp in records {
            if let Some(p) = inner.partitions.get_mut(tp) {
                p.on_wire = p.on_wire.saturating_sub(1);
            }
        }
        drop(inner);
        self.landed.notify_all();
    }

    /// Ends the current epoch of each of `tps`, then blocks until their boarded
    /// records have landed or until `deadline`. Returns whether they all landed.
    pub fn revoke(&self, tps: &[TopicPartition], deadline: Instant) -> bool {
        self.change(|inner| {
            for tp in tps {
                if let Some(p) = inner.partitions.get_mut(tp) {
                    p.current = None;
                }
            }
        });
        let mut inner = self.inner.lock();
        wait_until(&mut inner, &self.landed, deadline, |inner| {
            tps.iter()
                .all(|tp| inner.partitions.get(tp).is_none_or(|p| p.on_wire == 0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::offsets::test_partition;
    use std::sync::Arc;
    use std::time::Duration;

    fn tp(p: i32) -> TopicPartition {
        test_partition("t", p)
    }

    #[test]
    fn a_record_of_an_ended_epoch_does_not_board_even_when_its_partition_comes_back() {
        let own = Ownership::default();
        own.assign(&[tp(0), tp(1)]);
        let old = own.epoch(&tp(0));
        assert_ne!(old, 0);
        assert_eq!(own.board([(&tp(0), old)]), vec![true]);
        own.land([&tp(0)]);
        assert!(own.revoke(&[tp(0)], Instant::now()));
        assert_eq!(own.epoch(&tp(0)), 0, "a revoked partition has no epoch");
        assert_eq!(own.board([(&tp(0), old)]), vec![false]);
        own.assign(&[tp(0)]);
        let new = own.epoch(&tp(0));
        assert_ne!(new, old, "a new assignment is a new epoch");
        assert_eq!(
            own.board([(&tp(0), old), (&tp(0), new), (&tp(1), own.epoch(&tp(1)))]),
            vec![false, true, true]
        );
    }

    #[test]
    fn the_gauge_counts_each_assigned_partition_once_and_nothing_after_release() {
        let gauge = IntGauge::new("assigned", "test").unwrap();
        let own = Ownership::counted_in(gauge.clone());
        own.assign(&[tp(0), tp(1)]);
        own.assign(&[tp(1), tp(2)]);
        assert_eq!(gauge.get(), 3, "a partition assigned again is still one");
        assert!(own.revoke(&[tp(0), tp(3)], Instant::now()));
        assert_eq!(gauge.get(), 2, "only what was assigned is taken off");
        own.release_all();
        assert_eq!(gauge.get(), 0);
        own.assign(&[tp(0)]);
        assert_eq!(
            gauge.get(),
            0,
            "an assignment reaching a closed task is not taken"
        );
        assert_eq!(own.epoch(&tp(0)), 0);
    }

    #[test]
    fn a_revoke_waits_for_boarded_records_to_land() {
        let own = Arc::new(Ownership::default());
        own.assign(&[tp(0), tp(1)]);
        let epoch = own.epoch(&tp(0));
        assert_eq!(own.board([(&tp(0), epoch)]), vec![true]);
        let other = own.epoch(&tp(1));
        assert_eq!(own.board([(&tp(1), other)]), vec![true]);
        let o = own.clone();
        let lander = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            o.land([&tp(0)]);
        });
        assert!(own.revoke(&[tp(0)], Instant::now() + Duration::from_secs(30)));
        lander.join().unwrap();
        assert!(
            !own.revoke(&[tp(1)], Instant::now()),
            "partition 1 still has a record on the wire"
        );
    }
}
