//! Which offsets may be committed: the contiguous done prefix of each partition.
//!
//! Records of one partition finish out of order (different Ids run in parallel), but
//! Kafka keeps a single position per partition. A position may only move past a record
//! once that record, and every record before it, has a final outcome. This file keeps,
//! per partition, the offsets still in flight and answers "up to where is it safe?".
//! It holds no Kafka handles, so it is unit-tested on its own; the offset-tracker
//! actor wraps it and stores the answers in the consumer.

use crate::record::RecordCoords;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// The partition a record was read from.
    pub fn of(coords: &RecordCoords) -> Self {
        TopicPartition {
            topic: coords.topic.clone(),
            partition: coords.partition,
        }
    }
}

/// Partition `p` of topic `topic`, for tests.
#[cfg(test)]
pub(crate) fn test_partition(topic: &str, p: i32) -> TopicPartition {
    TopicPartition {
        topic: Arc::from(topic),
        partition: p,
    }
}

#[derive(Debug, Default)]
struct PartitionState {
    /// Offsets handed to the pipeline whose outcome is not final yet, with how many
    /// changes of each are still open (more than one for a merged CDC event).
    in_flight: BTreeMap<i64, usize>,
    /// The next offset after the highest one ever registered.
    next_unseen: Option<i64>,
    /// The last position reported as committable, to report only changes.
    last_reported: Option<i64>,
}

/// Per-partition bookkeeping of in-flight offsets.
#[derive(Debug, Default)]
pub struct OffsetLedger {
    partitions: HashMap<TopicPartition, PartitionState>,
}

impl OffsetLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that `offset` of `tp` entered the pipeline; registered again, it waits
    /// for one more [`OffsetLedger::complete`] (one record carrying several changes).
    pub fn register(&mut self, tp: &TopicPartition, offset: i64) {
        let state = self.partitions.entry(tp.clone()).or_default();
        *state.in_flight.entry(offset).or_default() += 1;
        let next = offset + 1;
        if state.next_unseen.is_none_or(|n| next > n) {
            state.next_unseen = Some(next);
        }
    }

    /// Notes that one change of `offset` of `tp` has its final outcome; true when
    /// that was the record's last open change. Unknown offsets (for example of a
    /// partition revoked meanwhile) are ignored.
    pub fn complete(&mut self, tp: &TopicPartition, offset: i64) -> bool {
        let Some(state) = self.partitions.get_mut(tp) else {
            return false;
        };
        let Some(open) = state.in_flight.get_mut(&offset) else {
            return false;
        };
        *open -= 1;
        if *open == 0 {
            state.in_flight.remove(&offset);
            true
        } else {
            false
        }
    }

    /// The position (next offset to read, Kafka's commit convention) that may be
    /// committed for `tp`: the lowest in-flight offset, or one past the highest seen
    /// when nothing is in flight. `None` when nothing was ever registered.
    pub fn committable(&self, tp: &TopicPartition) -> Option<i64> {
        let state = self.partitions.get(tp)?;
        match state.in_flight.first_key_value() {
            Some((lowest, _)) => Some(*lowest),
            None => state.next_unseen,
        }
    }

    /// Positions that moved since the last call, for every partition.
    pub fn take_changes(&mut self) -> Vec<(TopicPartition, i64)> {
        let mut changes = Vec::new();
        for (tp, state) in &mut self.partitions {
            let position = match state.in_flight.first_key_value() {
                Some((lowest, _)) => Some(*lowest),
                None => state.next_unseen,
            };
            if let Some(position) = position {
                if state.last_reported != Some(position) {
                    state.last_reported = Some(position);
                    changes.push((tp.clone(), position));
                }
            }
        }
        changes.sort();
        changes
    }

    /// How many records are in flight over all partitions.
    #[cfg(test)]
    pub fn total_in_flight(&self) -> usize {
        self.partitions.values().map(|s| s.in_flight.len()).sum()
    }

    /// The partitions the ledger knows.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    /// Forgets a partition (after it was revoked); returns how many of its records
    /// were still in flight.
    pub fn forget(&mut self, tp: &TopicPartition) -> usize {
        self.partitions.remove(tp).map_or(0, |s| s.in_flight.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        test_partition("leads", p)
    }

    #[test]
    fn position_stops_at_the_lowest_unfinished_record() {
        let mut ledger = OffsetLedger::new();
        for o in 10..15 {
            ledger.register(&tp(0), o);
        }
        ledger.complete(&tp(0), 12);
        ledger.complete(&tp(0), 13);
        assert_eq!(ledger.committable(&tp(0)), Some(10));
        ledger.complete(&tp(0), 10);
        assert_eq!(ledger.committable(&tp(0)), Some(11));
        ledger.complete(&tp(0), 11);
        assert_eq!(ledger.committable(&tp(0)), Some(14));
        ledger.complete(&tp(0), 14);
        assert_eq!(
            ledger.committable(&tp(0)),
            Some(15),
            "one past the last record"
        );
    }

    #[test]
    fn a_failed_record_holds_back_its_partition_only() {
        let mut ledger = OffsetLedger::new();
        ledger.register(&tp(0), 0);
        ledger.register(&tp(0), 1);
        ledger.register(&tp(1), 0);
        ledger.complete(&tp(0), 1);
        ledger.complete(&tp(1), 0);
        assert_eq!(ledger.committable(&tp(0)), Some(0));
        assert_eq!(ledger.committable(&tp(1)), Some(1));
    }

    #[test]
    fn changes_are_reported_once() {
        let mut ledger = OffsetLedger::new();
        ledger.register(&tp(0), 5);
        assert_eq!(ledger.take_changes(), vec![(tp(0), 5)]);
        assert!(ledger.take_changes().is_empty());
        ledger.complete(&tp(0), 5);
        assert_eq!(ledger.take_changes(), vec![(tp(0), 6)]);
    }

    #[test]
    fn unknown_and_forgotten_partitions_are_ignored() {
        let mut ledger = OffsetLedger::new();
        ledger.complete(&tp(3), 1);
        assert_eq!(ledger.committable(&tp(3)), None);
        ledger.register(&tp(3), 1);
        assert_eq!(ledger.forget(&tp(3)), 1);
        assert_eq!(ledger.total_in_flight(), 0);
    }

    #[test]
    fn a_record_registered_twice_is_done_after_its_second_completion() {
        let mut ledger = OffsetLedger::new();
        for o in [0, 1, 2] {
            ledger.register(&tp(0), o);
        }
        // Offset 1 carries two changes (a merged CDC event).
        ledger.register(&tp(0), 1);
        assert!(ledger.complete(&tp(0), 0));
        assert!(!ledger.complete(&tp(0), 1), "one change of 1 is still open");
        assert!(ledger.complete(&tp(0), 2));
        assert_eq!(ledger.committable(&tp(0)), Some(1));
        assert!(ledger.complete(&tp(0), 1));
        assert_eq!(ledger.committable(&tp(0)), Some(3));
        assert!(
            !ledger.complete(&tp(0), 1),
            "an extra completion changes nothing"
        );
    }
}
