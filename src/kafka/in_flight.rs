//! How many records are inside the pipeline, per partition: the admission gate.
//!
//! The partition reader admits records only while fewer than a maximum are in flight,
//! so a slow Salesforce slows the consumer instead of filling memory. The offset
//! tracker lowers the counts as records reach their final outcome. A rebalance that
//! revokes partitions waits here, on the consumer's thread, until their in-flight
//! records are done, so a new owner never races this worker's writes to the same Ids.

use crate::kafka::offsets::TopicPartition;
use crate::kafka::revoke_wait::wait_until;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::time::Instant;

/// Shared in-flight counts.
#[derive(Debug)]
pub struct InFlight {
    counts: Mutex<HashMap<TopicPartition, usize>>,
    changed: Condvar,
    max_records: usize,
}

impl InFlight {
    /// A gate admitting at most `max_records` records at once.
    pub fn new(max_records: usize) -> Self {
        Self {
            counts: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
            max_records: max_records.max(1),
        }
    }

    /// Records `n` more records of `tp` as in flight.
    pub fn admit(&self, tp: &TopicPartition, n: usize) {
        let mut counts = self.counts.lock();
        *counts.entry(tp.clone()).or_default() += n;
    }

    /// Records that `n` records of `tp` reached their final outcome.
    pub fn release(&self, tp: &TopicPartition, n: usize) {
        let mut counts = self.counts.lock();
        if let Some(c) = counts.get_mut(tp) {
            *c = c.saturating_sub(n);
            if *c == 0 {
                counts.remove(tp);
            }
        }
        drop(counts);
        self.changed.notify_all();
    }

    /// Forgets `tp` entirely (its records will never be acknowledged).
    pub fn clear(&self, tp: &TopicPartition) {
        self.counts.lock().remove(tp);
        self.changed.notify_all();
    }

    /// Forgets every partition: the task is stopping and what is still counted (a
    /// failed record, changes queued behind it) will never be acknowledged.
    pub fn clear_all(&self) {
        self.counts.lock().clear();
        self.changed.notify_all();
    }

    /// Records in flight over all partitions.
    pub fn total(&self) -> usize {
        self.counts.lock().values().sum()
    }

    /// Whether the gate is full.
    pub fn is_full(&self) -> bool {
        self.total() >= self.max_records
    }

    /// Whether the gate has room again (below half of the maximum, so that the
    /// consumer does not flap between paused and resumed).
    pub fn has_room(&self) -> bool {
        self.total() <= self.max_records / 2
    }

    /// Blocks the calling thread until none of `tps` has records in flight, or until
    /// `deadline`. Returns whether they drained.
    pub fn wait_drained(&self, tps: &[TopicPartition], deadline: Instant) -> bool {
        let mut counts = self.counts.lock();
        wait_until(&mut counts, &self.changed, deadline, |counts| {
            tps.iter().all(|tp| counts.get(tp).is_none_or(|c| *c == 0))
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
    fn the_gate_closes_when_full_and_opens_at_half() {
        let gate = InFlight::new(4);
        gate.admit(&tp(0), 4);
        assert!(gate.is_full());
        gate.release(&tp(0), 1);
        assert!(!gate.is_full() && !gate.has_room());
        gate.release(&tp(0), 1);
        assert!(gate.has_room());
    }

    #[test]
    fn a_revoke_waits_until_its_partitions_drain() {
        let gate = Arc::new(InFlight::new(10));
        gate.admit(&tp(0), 2);
        gate.admit(&tp(1), 1);
        let g = gate.clone();
        let releaser = std::thread::spawn(move || {
            g.release(&tp(0), 2);
        });
        let drained = gate.wait_drained(&[tp(0)], Instant::now() + Duration::from_secs(30));
        releaser.join().unwrap();
        assert!(drained);
        let not_drained = gate.wait_drained(&[tp(1)], Instant::now());
        assert!(!not_drained, "partition 1 still has a record in flight");
    }
}
