//! The one bounded wait of a revoke: the consumer's thread blocks until the revoked
//! partitions' state says they are done (records drained, calls landed), or until the
//! deadline (`task.shutdown.graceful.timeout.ms`) passes.

use parking_lot::{Condvar, MutexGuard};
use std::time::{Duration, Instant};

/// Longest single sleep, so that a missed notification costs at most this.
const RECHECK: Duration = Duration::from_millis(200);

/// Waits on `changed`, with `guard` held between checks, until `done` holds for the
/// guarded state or `deadline` passes. Returns whether `done` held.
pub fn wait_until<T>(
    guard: &mut MutexGuard<'_, T>,
    changed: &Condvar,
    deadline: Instant,
    done: impl Fn(&T) -> bool,
) -> bool {
    loop {
        if done(guard) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        changed.wait_for(guard, (deadline - now).min(RECHECK));
    }
}
