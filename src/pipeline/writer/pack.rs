//! Composite packing: the sObject Collections calls of a writer's batches leave together,
//! up to `sink.composite.collections` of them in one Composite call, which counts once
//! against the org's daily API allocation.
//!
//! A batch hands its Collections call here as a subrequest and waits for the answer
//! the plain call would have given; it settles that answer itself, on the same retry,
//! split, halt and dead-letter paths as a plain call. Packing adds no wait at low load:
//! with no call out, a composite leaves with whatever subrequests are waiting, even
//! just one (the batches handed over together are all in by then). While calls are
//! out, a free call slot (`sink.max.in.flight.requests`) takes only a full composite;
//! a partial one waits for a call to come back (see [`may_leave`]). No order key (Id)
//! appears twice in one composite. A composite that fails as a whole is retried as a whole, or, when it was
//! too much work for one transaction of the org (Apex CPU time, DML statements, the
//! org's time limit), sent again as smaller composites; the writer then keeps the
//! smaller size for a while ([`SHRINK_HOLD`]), shown by the `sobject_sink_composite_size`
//! gauge. What a failure means is decided by `retry::decide_composite`.

use super::{Permits, WriterSettings};
use crate::metrics::metrics;
use crate::salesforce::client::SalesforceClient;
use crate::salesforce::composite::Subrequest;
use crate::salesforce::retry::{decide_composite, CompositeAction, Retries};
use crate::salesforce::wire::{CallError, RecordResult};
use parking_lot::Mutex;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long a smaller composite size holds after a composite was too much for one
/// transaction; each quiet period after that grows it back by one subrequest.
pub(super) const SHRINK_HOLD: Duration = Duration::from_secs(120);

/// What a subrequest's batch gets back: what the plain Collections call would answer.
pub(super) type Answer = Result<Vec<RecordResult>, CallError>;

/// The most subrequests the next composite may carry.
#[derive(Debug)]
struct PackSize {
    max: usize,
    current: usize,
    /// When the size last changed.
    since: Instant,
}

impl PackSize {
    fn new(max: usize, now: Instant) -> PackSize {
        PackSize {
            max,
            current: max,
            since: now,
        }
    }

    /// The size at `now`: one subrequest more per [`SHRINK_HOLD`] since it last
    /// changed, up to the configured size.
    fn at(&mut self, now: Instant) -> usize {
        while self.current < self.max && now >= self.since + SHRINK_HOLD {
            self.current += 1;
            self.since += SHRINK_HOLD;
        }
        self.current
    }

    /// A composite of `carried` subrequests was too much for one transaction: the
    /// next ones carry at most half as many.
    fn shrink(&mut self, carried: usize, now: Instant) -> usize {
        self.current = self.current.min((carried / 2).max(1));
        self.since = now;
        self.current
    }
}

/// A subrequest waiting for a composite, with the order keys of its changes.
struct Pending {
    sub: Subrequest,
    keys: Vec<String>,
    reply: oneshot::Sender<Answer>,
}

/// Takes up to `size` waiting subrequests, oldest first, never two that share an order
/// key; the others keep their place in the queue.
fn take(queue: &mut VecDeque<Pending>, size: usize) -> Vec<Pending> {
    let mut taken = Vec::with_capacity(size);
    let mut keys: HashSet<String> = HashSet::new();
    let mut kept = VecDeque::with_capacity(queue.len());
    while let Some(pending) = queue.pop_front() {
        if taken.len() < size && pending.keys.iter().all(|k| !keys.contains(k)) {
            keys.extend(pending.keys.iter().cloned());
            taken.push(pending);
        } else {
            kept.push_back(pending);
        }
        if taken.len() == size {
            break;
        }
    }
    kept.append(queue);
    *queue = kept;
    taken
}

/// Whether a composite may leave now, with `busy` of `slots` call slots taken (of
/// which `backing_off` wait to try their call again) and `waiting` subrequests queued
/// for composites of `size`. With no call on the wire, whatever waits leaves at once,
/// so packing adds no latency at low load, nor behind a call waiting out a retry
/// backoff. While calls are on the wire, only a full composite leaves: a partial one
/// waits for a call to come back, and the batches that become ready meanwhile (often
/// the next changes of the Ids that call carried) join it. Sending partial composites
/// into free slots instead would spend an API call on every few batches while the org
/// is busy anyway.
fn may_leave(busy: usize, backing_off: usize, slots: usize, waiting: usize, size: usize) -> bool {
    busy < slots && waiting > 0 && (busy == backing_off || waiting >= size)
}

struct State {
    queue: VecDeque<Pending>,
    /// Composites in flight (each holds a call slot).
    busy: usize,
    /// Of those, the ones waiting out a retry backoff (no call on the wire).
    backing_off: usize,
    size: PackSize,
    /// A pump is scheduled and has not run yet.
    pump_scheduled: bool,
}

/// How a composite ended for its subrequests.
enum Outcome {
    /// Each subrequest got its own answer.
    Answered(Vec<Answer>),
    /// Every subrequest takes this error as its own answer.
    Each(CallError),
    /// Too much for one transaction: send again in smaller composites.
    Shrink,
}

/// Packs a writer's Collections calls into Composite calls.
pub(super) struct Packer {
    state: Mutex<State>,
    /// Composites in flight at once (`sink.max.in.flight.requests`).
    slots: usize,
    settings: WriterSettings,
    client: SalesforceClient,
    permits: Permits,
}

impl Packer {
    /// A packer of up to `settings.composite` subrequests per composite.
    pub(super) fn new(
        settings: WriterSettings,
        client: SalesforceClient,
        permits: Permits,
    ) -> Self {
        let size = PackSize::new(settings.composite.max(1), Instant::now());
        metrics()
            .composite_size
            .with_label_values(&[&settings.connector])
            .set(size.current as i64);
        Packer {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                busy: 0,
                backing_off: 0,
                size,
                pump_scheduled: false,
            }),
            slots: settings.max_in_flight.max(1),
            settings,
            client,
            permits,
        }
    }

    /// Sends `sub` in the next composite that has room; `keys` are the order keys of
    /// its changes. Answers what the plain Collections call would have answered.
    pub(super) async fn submit(self: &Arc<Self>, sub: Subrequest, keys: Vec<String>) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.state
            .lock()
            .queue
            .push_back(Pending { sub, keys, reply });
        self.schedule_pump();
        answer.await.unwrap_or_else(|_| {
            Err(CallError::Transport {
                endpoint: "composite",
                message: "the composite call carrying this batch ended without an answer".into(),
            })
        })
    }

    /// Pumps once the batches that are ready at this moment have all handed in their
    /// subrequests: a batch is a task of its own, and the batches the sequencer sent
    /// together run before a task spawned now, so they share a composite. This waits
    /// for no timer.
    fn schedule_pump(self: &Arc<Self>) {
        {
            let mut st = self.state.lock();
            if st.pump_scheduled {
                return;
            }
            st.pump_scheduled = true;
        }
        let packer = self.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            packer.state.lock().pump_scheduled = false;
            packer.pump();
        });
    }

    /// Starts a composite per free call slot while subrequests wait.
    fn pump(self: &Arc<Self>) {
        loop {
            let items = {
                let mut st = self.state.lock();
                let size = st.size.at(Instant::now());
                if !may_leave(st.busy, st.backing_off, self.slots, st.queue.len(), size) {
                    return;
                }
                self.show_size(size);
                let items = take(&mut st.queue, size);
                if items.is_empty() {
                    return;
                }
                st.busy += 1;
                items
            };
            let packer = self.clone();
            tokio::spawn(async move {
                packer.send(items).await;
                packer.state.lock().busy -= 1;
                packer.pump();
            });
        }
    }

    /// Waits out one retry backoff of a composite; partial composites that were
    /// waiting for it to come back may leave meanwhile. False when the retry budget
    /// is spent.
    async fn back_off(self: &Arc<Self>, retries: &mut Retries) -> bool {
        /// Counts a composite as backing off while it lives.
        struct BackingOff<'a>(&'a Mutex<State>);
        impl Drop for BackingOff<'_> {
            fn drop(&mut self) {
                self.0.lock().backing_off -= 1;
            }
        }
        self.state.lock().backing_off += 1;
        let _counted = BackingOff(&self.state);
        self.schedule_pump();
        retries.wait().await
    }

    fn show_size(&self, size: usize) {
        metrics()
            .composite_size
            .with_label_values(&[&self.settings.connector])
            .set(size as i64);
    }

    /// Sends `items` in one composite (or smaller ones after a shrink) and hands each
    /// its answer.
    async fn send(self: &Arc<Self>, items: Vec<Pending>) {
        let mut retries = Retries::new(self.settings.retry_budget, self.settings.backoff());
        let mut stack = vec![items];
        while let Some(items) = stack.pop() {
            match self.call(&items, &mut retries).await {
                Outcome::Answered(answers) => {
                    for (pending, answer) in items.into_iter().zip(answers) {
                        let _ = pending.reply.send(answer);
                    }
                }
                Outcome::Each(err) => {
                    for pending in items {
                        let _ = pending.reply.send(Err(err.clone()));
                    }
                }
                Outcome::Shrink => {
                    let size = {
                        let mut st = self.state.lock();
                        st.size.shrink(items.len(), Instant::now())
                    };
                    self.show_size(size);
                    let mut rest = items;
                    let mut smaller = Vec::new();
                    while !rest.is_empty() {
                        let tail = rest.split_off(size.min(rest.len()));
                        smaller.push(rest);
                        rest = tail;
                    }
                    // Oldest first off the stack.
                    stack.extend(smaller.into_iter().rev());
                }
            }
        }
    }

    /// One composite call with its whole-call retries.
    async fn call(self: &Arc<Self>, items: &[Pending], retries: &mut Retries) -> Outcome {
        let s = &self.settings;
        let subs: Vec<&Subrequest> = items.iter().map(|p| &p.sub).collect();
        let records: usize = subs.iter().map(|sub| sub.records()).sum();
        loop {
            self.permits.take().await;
            let answer = self.client.composite(&subs).await;
            self.permits.give_back(1);
            let err = match answer {
                Ok(answers) => {
                    retries.reset();
                    return Outcome::Answered(answers);
                }
                Err(err) => err,
            };
            match decide_composite(&s.policy, subs.len(), records, &err) {
                CompositeAction::Retry { reason } => {
                    let label = if err.status() == Some(401) {
                        "session"
                    } else {
                        "transient"
                    };
                    metrics()
                        .retries
                        .with_label_values(&[&s.connector, label])
                        .inc();
                    tracing::debug!(connector = %s.connector, "{reason}; retrying the composite: {err}");
                    if !self.back_off(retries).await {
                        return Outcome::Each(err);
                    }
                }
                CompositeAction::PauseForBudget { .. } => self.permits.allocation_spent(),
                CompositeAction::Shrink { reason } => {
                    tracing::warn!(
                        connector = %s.connector,
                        "a composite of {} subrequests ({records} records) was too much for one transaction; sending smaller composites: {reason}",
                        subs.len()
                    );
                    return Outcome::Shrink;
                }
                CompositeAction::PerSubrequest => return Outcome::Each(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(keys: &[&str]) -> (Pending, oneshot::Receiver<Answer>) {
        let (reply, rx) = oneshot::channel();
        let sub = Subrequest::delete(
            &keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            false,
        )
        .expect("a small delete");
        let keys = keys.iter().map(|k| k.to_string()).collect();
        (Pending { sub, keys, reply }, rx)
    }

    fn keys_of(items: &[Pending]) -> Vec<Vec<String>> {
        items.iter().map(|p| p.keys.clone()).collect()
    }

    #[test]
    fn a_composite_takes_the_oldest_waiting_and_never_one_id_twice() {
        let mut queue = VecDeque::new();
        let mut answers = Vec::new();
        for keys in [&["A", "B"][..], &["C"], &["B", "D"], &["E"], &["F"], &["G"]] {
            let (p, rx) = pending(keys);
            queue.push_back(p);
            answers.push(rx);
        }
        let first = take(&mut queue, 3);
        // ["B","D"] shares B with the first subrequest: it waits for the next composite.
        assert_eq!(
            keys_of(&first),
            [vec!["A", "B"], vec!["C"], vec!["E"]]
                .map(|k| k.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        );
        let second = take(&mut queue, 3);
        assert_eq!(second[0].keys, ["B", "D"], "it keeps its place in line");
        assert_eq!(second.len(), 3);
        assert!(queue.is_empty());
    }

    #[test]
    fn with_a_call_out_only_a_full_composite_leaves() {
        // Nothing out: whatever waits leaves, even one subrequest.
        assert!(may_leave(0, 0, 8, 1, 5));
        assert!(!may_leave(0, 0, 8, 0, 5), "nothing to send");
        // A call out: a partial composite waits for it; a full one takes a free slot.
        assert!(!may_leave(1, 0, 8, 4, 5));
        assert!(may_leave(1, 0, 8, 5, 5));
        assert!(may_leave(7, 0, 8, 12, 5));
        // The only call out waits out a retry backoff: nothing is on the wire, so a
        // partial composite does not wait for it.
        assert!(may_leave(1, 1, 8, 1, 5));
        assert!(!may_leave(2, 1, 8, 1, 5), "another call is on the wire");
        // Every slot taken: nothing leaves, full or not.
        assert!(!may_leave(8, 0, 8, 12, 5));
        assert!(!may_leave(8, 8, 8, 12, 5));
        // After a shrink to one subrequest per composite, every waiting one is full.
        assert!(may_leave(3, 0, 8, 1, 1));
    }

    #[test]
    fn a_shrunk_size_holds_and_then_grows_back_one_step_per_quiet_period() {
        let t0 = Instant::now();
        let mut size = PackSize::new(5, t0);
        assert_eq!(size.at(t0), 5);
        assert_eq!(size.shrink(5, t0), 2);
        assert_eq!(size.at(t0 + SHRINK_HOLD / 2), 2, "held");
        // A second composite failing at the old size does not undo the first shrink.
        assert_eq!(size.shrink(5, t0), 2);
        assert_eq!(size.shrink(2, t0), 1);
        assert_eq!(size.shrink(1, t0), 1, "never below one");
        assert_eq!(size.at(t0 + SHRINK_HOLD), 2);
        assert_eq!(size.at(t0 + SHRINK_HOLD * 3), 4);
        assert_eq!(
            size.at(t0 + SHRINK_HOLD * 100),
            5,
            "up to the configured size"
        );
    }
}
