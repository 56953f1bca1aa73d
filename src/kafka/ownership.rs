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

use crate::kafka::offsets::TopicPartition;
use crate::kafka::revoke_wait::wait_until;
use parking_lot::{Condvar, Mutex};
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
}

/// The task's partition epochs and its calls on the wire.
#[derive(Debug, Default)]
pub struct Ownership {
    inner: Mutex<Inner>,
    landed: Condvar,
}

impl Ownership {
    /// No partition assigned yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new epoch for each of `tps` (an assignment).
    pub fn assign(&self, tps: &[TopicPartition]) {
        let mut inner = self.inner.lock();
        for tp in tps {
            inner.next_epoch += 1;
            let epoch = inner.next_epoch;
            inner.partitions.entry(tp.clone()).or_default().current = Some(epoch);
        }
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
        let mut inner = self.inner.lock();
        for tp in tps {
            if let Some(p) = inner.partitions.get_mut(tp) {
                p.current = None;
            }
        }
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
        let own = Ownership::new();
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
    fn a_revoke_waits_for_boarded_records_to_land() {
        let own = Arc::new(Ownership::new());
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
