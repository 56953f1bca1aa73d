//! Per-Id ordering and batch formation: the state machine inside the sequencer.
//!
//! Two rules shape every batch. A record `Id` has at most one change in flight, and
//! later changes to a busy Id wait, in arrival order, until the earlier one has an
//! outcome; so two changes to one Id never share a batch and Kafka order holds per Id.
//! Changes whose Id is free are grouped by the kind of call they need (one sObject
//! Collections call serves one SObject and one operation) into batches of at most
//! `max_batch` records. While the sink works through a backlog (bulk mode, switched
//! by the sequencer), a batch holds up to the bulk batch size instead, for one Bulk API
//! 2.0 job.
//!
//! The state machine is generic over the payload and free of timers and I/O; the
//! sequencer actor drives it (arrivals, outcomes, linger deadlines, writer slots).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;
use tokio::time::Instant;

/// The most changes one bulk batch takes (about 50 MB of CSV for 5 KB records, under
/// Bulk API 2.0's 100 MB upload).
pub const MAX_BULK_BATCH: usize = 10_000;

/// One change waiting for, or taking part in, a call.
#[derive(Debug)]
pub struct Pending<G, T> {
    /// The ordering key (the record `Id`, or a unique key for Id-less inserts).
    pub key: String,
    /// Which kind of call the change needs.
    pub group: G,
    /// The change itself.
    pub payload: T,
}

/// Which partial batches may go out (full ones always may).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Only full batches.
    FullOnly,
    /// The largest partial batch, once any partial batch has waited this long.
    Largest(Duration),
    /// Any partial batch that has waited this long.
    Stale(Duration),
    /// Every partial batch now (draining).
    All,
}

/// A set of changes that go out in one call.
#[derive(Debug)]
pub struct ReadyBatch<G, T> {
    /// The kind of call.
    pub group: G,
    /// The changes, at most `max_batch`, with pairwise different keys.
    pub items: Vec<Pending<G, T>>,
}

#[derive(Debug)]
struct Group<G, T> {
    items: Vec<Pending<G, T>>,
    /// When the oldest change of this group became ready.
    since: Option<Instant>,
}

/// Ordering and batching state.
#[derive(Debug)]
pub struct OrderingQueues<G, T> {
    max_batch: usize,
    /// Changes in one bulk batch, when bulk batches are allowed.
    bulk_batch: Option<usize>,
    /// Whether batches are formed at the bulk size now.
    bulk_mode: bool,
    /// Keys with a change in flight (or ready), each with the changes that wait for it.
    /// Hashed with foldhash: one insert and one removal per change, on Ids from the
    /// stream, where the standard SipHash costs several times more.
    busy: HashMap<String, VecDeque<Pending<G, T>>, foldhash::fast::RandomState>,
    /// Changes whose key is free, grouped by call kind, in arrival order.
    ready: Vec<Group<G, T>>,
    ready_index: HashMap<G, usize>,
    waiting: usize,
}

impl<G: Clone + Eq + Hash, T> OrderingQueues<G, T> {
    /// Empty queues producing batches of at most `max_batch` changes.
    pub fn new(max_batch: usize) -> Self {
        Self {
            max_batch: max_batch.max(1),
            bulk_batch: None,
            bulk_mode: false,
            busy: HashMap::default(),
            ready: Vec::new(),
            ready_index: HashMap::new(),
            waiting: 0,
        }
    }

    /// Allows bulk mode, with batches of up to `size` changes (at most
    /// [`MAX_BULK_BATCH`]).
    pub fn with_bulk_batch(mut self, size: usize) -> Self {
        self.bulk_batch = Some(size.clamp(self.max_batch, MAX_BULK_BATCH));
        self
    }

    /// Switches bulk mode on or off (it stays off unless bulk batches are allowed).
    pub fn set_bulk_mode(&mut self, on: bool) {
        self.bulk_mode = on && self.bulk_batch.is_some();
    }

    /// Whether batches are formed at the bulk size now.
    pub fn bulk_mode(&self) -> bool {
        self.bulk_mode
    }

    fn batch_limit(&self) -> usize {
        match self.bulk_batch {
            Some(size) if self.bulk_mode => size,
            _ => self.max_batch,
        }
    }

    /// Adds a change that arrived at `now`.
    pub fn push(&mut self, change: Pending<G, T>, now: Instant) {
        if let Some(queue) = self.busy.get_mut(&change.key) {
            queue.push_back(change);
            self.waiting += 1;
            return;
        }
        self.busy.insert(change.key.clone(), VecDeque::new());
        self.make_ready(change, now);
    }

    fn make_ready(&mut self, change: Pending<G, T>, now: Instant) {
        let idx = match self.ready_index.get(&change.group) {
            Some(i) => *i,
            None => {
                self.ready.push(Group {
                    items: Vec::new(),
                    since: None,
                });
                let i = self.ready.len() - 1;
                self.ready_index.insert(change.group.clone(), i);
                i
            }
        };
        if let Some(group) = self.ready.get_mut(idx) {
            if group.items.is_empty() {
                group.since = Some(now);
            }
            group.items.push(change);
        }
    }

    /// The change to `key` has its final outcome: frees the key, or makes the next
    /// waiting change to it ready.
    pub fn finish(&mut self, key: &str, now: Instant) {
        let next = match self.busy.get_mut(key) {
            Some(queue) => queue.pop_front(),
            None => return,
        };
        match next {
            Some(change) => {
                self.waiting -= 1;
                self.make_ready(change, now);
            }
            None => {
                self.busy.remove(key);
            }
        }
    }

    /// Makes a change ready again whose key is still busy with it: its earlier try had
    /// no final outcome (a parent that had not arrived), and the changes waiting
    /// behind it keep waiting.
    pub fn retry(&mut self, change: Pending<G, T>, now: Instant) {
        self.busy.entry(change.key.clone()).or_default();
        self.make_ready(change, now);
    }

    /// The changes waiting behind the in-flight change to `key`.
    pub fn waiting_for(&self, key: &str) -> impl Iterator<Item = &Pending<G, T>> {
        self.busy.get(key).into_iter().flatten()
    }

    /// Takes the next batch that `flush` allows at `now`, if any.
    pub fn next_batch(&mut self, now: Instant, flush: Flush) -> Option<ReadyBatch<G, T>> {
        let max = self.batch_limit();
        let age = |g: &Group<G, T>| g.since.map_or(Duration::ZERO, |s| now.duration_since(s));
        let full = self.ready.iter().position(|g| g.items.len() >= max);
        let pick = full.or_else(|| match flush {
            Flush::FullOnly => None,
            Flush::All => self.ready.iter().position(|g| !g.items.is_empty()),
            Flush::Stale(min_age) => self
                .ready
                .iter()
                .position(|g| !g.items.is_empty() && age(g) >= min_age),
            Flush::Largest(min_age) => {
                let any_due = self
                    .ready
                    .iter()
                    .any(|g| !g.items.is_empty() && age(g) >= min_age);
                any_due
                    .then(|| {
                        self.ready
                            .iter()
                            .enumerate()
                            .filter(|(_, g)| !g.items.is_empty())
                            .max_by_key(|(_, g)| g.items.len())
                            .map(|(i, _)| i)
                    })
                    .flatten()
            }
        })?;
        let group = self.ready.get_mut(pick)?;
        let take = group.items.len().min(max);
        let items: Vec<_> = group.items.drain(..take).collect();
        group.since = if group.items.is_empty() {
            None
        } else {
            Some(now)
        };
        let kind = items.first().map(|p| p.group.clone())?;
        Some(ReadyBatch { group: kind, items })
    }

    /// When the earliest partial batch will have waited `linger`, if any change is ready.
    pub fn next_deadline(&self, linger: Duration) -> Option<Instant> {
        self.ready
            .iter()
            .filter(|g| !g.items.is_empty())
            .filter_map(|g| g.since)
            .min()
            .map(|s| s + linger)
    }

    /// Changes ready to go out (not waiting for their key).
    pub fn ready_len(&self) -> usize {
        self.ready.iter().map(|g| g.items.len()).sum()
    }

    /// Changes waiting for an earlier change to the same key.
    pub fn waiting_len(&self) -> usize {
        self.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str, group: &'static str, n: u32) -> Pending<&'static str, u32> {
        Pending {
            key: key.to_string(),
            group,
            payload: n,
        }
    }

    #[test]
    fn a_busy_id_waits_and_keeps_arrival_order() {
        let now = Instant::now();
        let mut q = OrderingQueues::new(10);
        q.push(change("a", "upd", 1), now);
        q.push(change("a", "upd", 2), now);
        q.push(change("a", "del", 3), now);
        q.push(change("b", "upd", 4), now);
        let first = q.next_batch(now, Flush::All).unwrap();
        let got: Vec<u32> = first.items.iter().map(|p| p.payload).collect();
        assert_eq!(got, vec![1, 4], "one change per Id in a batch");
        assert!(q.next_batch(now, Flush::All).is_none(), "2 waits for 1");
        q.finish("a", now);
        assert_eq!(q.next_batch(now, Flush::All).unwrap().items[0].payload, 2);
        q.finish("a", now);
        let del = q.next_batch(now, Flush::All).unwrap();
        assert_eq!((del.group, del.items[0].payload), ("del", 3));
        q.finish("a", now);
        q.finish("b", now);
        assert!(q.busy.is_empty());
    }

    #[test]
    fn full_batches_go_before_linger_and_partial_ones_after() {
        let t0 = Instant::now();
        let ms50 = Duration::from_millis(50);
        let mut q = OrderingQueues::new(2);
        q.push(change("a", "ins", 1), t0);
        assert!(
            q.next_batch(t0, Flush::Stale(ms50)).is_none(),
            "partial batch lingers"
        );
        assert_eq!(q.next_deadline(ms50), Some(t0 + ms50));
        q.push(change("b", "ins", 2), t0);
        q.push(change("c", "ins", 3), t0);
        assert_eq!(q.next_batch(t0, Flush::Stale(ms50)).unwrap().items.len(), 2);
        assert!(q.next_batch(t0, Flush::Stale(ms50)).is_none());
        let later = t0 + Duration::from_millis(60);
        assert_eq!(
            q.next_batch(later, Flush::Stale(ms50)).unwrap().items[0].payload,
            3
        );
    }

    #[test]
    fn the_largest_partial_batch_goes_first_once_one_is_due() {
        let t0 = Instant::now();
        let ms50 = Duration::from_millis(50);
        let mut q = OrderingQueues::new(10);
        q.push(change("a", "del", 1), t0);
        q.push(change("b", "upd", 2), t0 + ms50);
        q.push(change("c", "upd", 3), t0 + ms50);
        let later = t0 + ms50;
        let first = q.next_batch(later, Flush::Largest(ms50)).unwrap();
        assert_eq!(
            (first.group, first.items.len()),
            ("upd", 2),
            "the fuller group, although younger"
        );
        assert!(q.next_batch(later, Flush::FullOnly).is_none());
    }

    #[test]
    fn bulk_mode_forms_bulk_sized_batches_with_one_change_per_id() {
        let now = Instant::now();
        let mut q = OrderingQueues::new(2).with_bulk_batch(5);
        for (i, key) in ["a", "b", "c", "d"].iter().enumerate() {
            q.push(change(key, "ups", i as u32), now);
        }
        q.push(change("a", "ups", 9), now);
        assert_eq!(
            q.next_batch(now, Flush::FullOnly).unwrap().items.len(),
            2,
            "outside bulk mode: ordinary batches"
        );
        q.set_bulk_mode(true);
        assert!(q.bulk_mode());
        for key in ["e", "f", "g", "h"] {
            q.push(change(key, "ups", 20), now);
        }
        let bulk = q.next_batch(now, Flush::FullOnly).unwrap();
        assert_eq!(
            (bulk.group, bulk.items.len()),
            ("ups", 5),
            "a full bulk batch"
        );
        let mut keys: Vec<&str> = bulk.items.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 5, "one change per Id, also in bulk");
        assert!(
            q.next_batch(now, Flush::FullOnly).is_none(),
            "one left: not full at the bulk size"
        );
        assert_eq!(q.waiting_len(), 1, "the second change to a still waits");
        q.set_bulk_mode(false);
        assert!(q.next_batch(now, Flush::All).is_some());
        let mut plain = OrderingQueues::<&str, u32>::new(2);
        plain.set_bulk_mode(true);
        assert!(!plain.bulk_mode(), "no bulk mode without a bulk batch size");
    }

    #[test]
    fn groups_never_mix() {
        let now = Instant::now();
        let mut q = OrderingQueues::new(10);
        q.push(change("a", "ins", 1), now);
        q.push(change("b", "del", 2), now);
        let b1 = q.next_batch(now, Flush::All).unwrap();
        let b2 = q.next_batch(now, Flush::All).unwrap();
        assert_ne!(b1.group, b2.group);
        assert_eq!(b1.items.len() + b2.items.len(), 2);
    }

    #[test]
    fn waiting_changes_are_visible() {
        let now = Instant::now();
        let mut q = OrderingQueues::new(10);
        q.push(change("a", "upd", 1), now);
        q.push(change("a", "del", 2), now);
        assert_eq!(
            q.waiting_for("a").map(|p| p.group).collect::<Vec<_>>(),
            vec!["del"]
        );
        assert_eq!(q.waiting_len(), 1);
    }
}
