//! The fault plan: latency, random failure rates and deterministic scripts ("the 3rd
//! collections call answers 503"), and the seeded state that decides, call by call,
//! which fault (if any) a request meets. Seeded so that tests are repeatable.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a faulted call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 503 `SERVER_UNAVAILABLE`.
    ServerUnavailable,
    /// 500 `UNKNOWN_EXCEPTION`.
    UnknownException,
    /// 502 with an HTML body, as a proxy in front of the org would answer.
    BadGatewayHtml,
    /// The connection is closed without an answer.
    ConnectionReset,
    /// The call hangs far longer than any client timeout (until shutdown).
    Stall,
    /// 403 `REQUEST_LIMIT_EXCEEDED` for too many concurrent long requests.
    ConcurrentLimit,
    /// 403 `REQUEST_LIMIT_EXCEEDED` as if the daily allocation were spent.
    DailyLimit,
    /// 401 `INVALID_SESSION_ID`, as if the token had just been revoked.
    InvalidSession,
    /// Every record of the call fails with `UNABLE_TO_LOCK_ROW` (400 on single-record calls).
    UnableToLockRow,
    /// The call runs for `timeout_after_ms`, writes nothing and answers 400
    /// `QUERY_TIMEOUT`, as a request past the org's time limit does (a composite's limit
    /// covers all its subrequests).
    Timeout,
}

/// A deterministic fault: calls number `nth` .. `nth + times - 1` of an endpoint class
/// (counted since the plan was installed) answer `fault`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptedFault {
    /// Endpoint class: an exact counter key (`collections.upsert`), a prefix before a dot
    /// (`collections`, `sobject`, `bulk`), or `*` for every API call.
    pub endpoint: String,
    /// 1-based number of the first faulted call.
    pub nth: u64,
    /// How many consecutive calls fail.
    #[serde(default = "one")]
    pub times: u64,
    /// What they answer.
    pub fault: FaultKind,
}

fn one() -> u64 {
    1
}

fn default_stall_secs() -> u64 {
    600
}

fn default_timeout_after_ms() -> u64 {
    1_000
}

/// The whole fault plan of an org. All rates are probabilities in 0..=1 per call (per
/// record for `unable_to_lock_row_rate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Fixed delay before every API call is answered.
    pub latency_ms: u64,
    /// Extra random delay, uniform in 0..=latency_jitter_ms.
    pub latency_jitter_ms: u64,
    /// Delay per record a call writes (Collections, composite, single-record writes, Bulk
    /// jobs), in microseconds, on top of the per-call latency.
    pub latency_per_record_us: u64,
    /// Most records one call may carry in its transaction (a Collections call, or all the
    /// subrequests of a composite): more fails the whole call the way a trigger hitting
    /// the org's per-transaction Apex limits does. `None`: no limit.
    pub transaction_record_limit: Option<u64>,
    /// How long a call meeting a `timeout` fault runs before it is answered.
    pub timeout_after_ms: u64,
    /// Share of calls answered 503 `SERVER_UNAVAILABLE`.
    pub server_unavailable_rate: f64,
    /// Share answered 500 `UNKNOWN_EXCEPTION`.
    pub unknown_exception_rate: f64,
    /// Share answered 502 with an HTML page.
    pub bad_gateway_rate: f64,
    /// Share whose connection is dropped.
    pub connection_reset_rate: f64,
    /// Share that stall for `stall_secs`.
    pub stall_rate: f64,
    /// Share answered 403 concurrent `REQUEST_LIMIT_EXCEEDED`.
    pub concurrent_limit_rate: f64,
    /// Share of records inside Collections that fail with `UNABLE_TO_LOCK_ROW`.
    pub unable_to_lock_row_rate: f64,
    /// How long a stall lasts (cut short by shutdown).
    pub stall_secs: u64,
    /// Seed of the random decisions.
    pub seed: u64,
    /// Deterministic faults.
    pub scripts: Vec<ScriptedFault>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            latency_ms: 0,
            latency_jitter_ms: 0,
            latency_per_record_us: 0,
            transaction_record_limit: None,
            timeout_after_ms: default_timeout_after_ms(),
            server_unavailable_rate: 0.0,
            unknown_exception_rate: 0.0,
            bad_gateway_rate: 0.0,
            connection_reset_rate: 0.0,
            stall_rate: 0.0,
            concurrent_limit_rate: 0.0,
            unable_to_lock_row_rate: 0.0,
            stall_secs: default_stall_secs(),
            seed: 42,
            scripts: Vec::new(),
        }
    }
}

impl FaultPlan {
    /// A plan with one script: call `nth` of `endpoint` answers `fault`.
    pub fn scripted(endpoint: &str, nth: u64, fault: FaultKind) -> FaultPlan {
        FaultPlan {
            scripts: vec![ScriptedFault {
                endpoint: endpoint.to_string(),
                nth,
                times: 1,
                fault,
            }],
            ..FaultPlan::default()
        }
    }
}

/// What the fault state decided for one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallDecision {
    /// Delay before answering.
    pub delay: Duration,
    /// A fault to answer instead of the real result.
    pub fault: Option<FaultKind>,
    /// Per-record lock-failure probability for Collections.
    pub lock_rate: f64,
    /// Delay per record written.
    pub per_record: Duration,
    /// Most records one call's transaction may carry.
    pub record_limit: Option<u64>,
}

/// The live fault state of an org: the plan, its RNG and the script counters.
#[derive(Debug)]
pub struct FaultState {
    plan: FaultPlan,
    rng: StdRng,
    script_calls: Vec<u64>,
}

/// True when a counter key belongs to an endpoint class.
pub fn endpoint_matches(class: &str, key: &str) -> bool {
    class == "*"
        || class == key
        || (key.len() > class.len()
            && key.starts_with(class)
            && key.as_bytes().get(class.len()) == Some(&b'.'))
}

impl FaultState {
    /// Installs a plan, restarting its RNG and script counters.
    pub fn new(plan: FaultPlan) -> FaultState {
        let rng = StdRng::seed_from_u64(plan.seed);
        let script_calls = vec![0; plan.scripts.len()];
        FaultState {
            plan,
            rng,
            script_calls,
        }
    }

    /// The installed plan.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Decides the fate of one API call of endpoint `key`.
    pub fn decide(&mut self, key: &str) -> CallDecision {
        let mut fault = None;
        for (i, script) in self.plan.scripts.iter().enumerate() {
            if !endpoint_matches(&script.endpoint, key) {
                continue;
            }
            if let Some(n) = self.script_calls.get_mut(i) {
                *n += 1;
                if fault.is_none()
                    && *n >= script.nth
                    && *n < script.nth.saturating_add(script.times)
                {
                    fault = Some(script.fault);
                }
            }
        }
        let p = &self.plan;
        let jitter = if p.latency_jitter_ms > 0 {
            self.rng.gen_range(0..=p.latency_jitter_ms)
        } else {
            0
        };
        let delay = Duration::from_millis(p.latency_ms + jitter);
        if fault.is_none() {
            let rates = [
                (p.server_unavailable_rate, FaultKind::ServerUnavailable),
                (p.unknown_exception_rate, FaultKind::UnknownException),
                (p.bad_gateway_rate, FaultKind::BadGatewayHtml),
                (p.connection_reset_rate, FaultKind::ConnectionReset),
                (p.stall_rate, FaultKind::Stall),
                (p.concurrent_limit_rate, FaultKind::ConcurrentLimit),
            ];
            for (rate, kind) in rates {
                if rate > 0.0 && self.rng.gen_bool(rate.clamp(0.0, 1.0)) {
                    fault = Some(kind);
                    break;
                }
            }
        }
        CallDecision {
            delay,
            fault,
            lock_rate: self.plan.unable_to_lock_row_rate,
            per_record: Duration::from_micros(self.plan.latency_per_record_us),
            record_limit: self.plan.transaction_record_limit,
        }
    }

    /// Draws whether one record of a Collections call fails to lock.
    pub fn record_locked(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.rng.gen_bool(rate.clamp(0.0, 1.0))
    }

    /// How long a stall lasts.
    pub fn stall(&self) -> Duration {
        Duration::from_secs(self.plan.stall_secs)
    }

    /// How long a timed-out call runs before it is answered.
    pub fn timeout_after(&self) -> Duration {
        Duration::from_millis(self.plan.timeout_after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_collections_call_is_the_scripted_one() {
        let mut s = FaultState::new(FaultPlan::scripted(
            "collections",
            3,
            FaultKind::ServerUnavailable,
        ));
        assert_eq!(s.decide("collections.upsert").fault, None);
        assert_eq!(s.decide("sobject.create").fault, None);
        assert_eq!(s.decide("collections.create").fault, None);
        assert_eq!(
            s.decide("collections.upsert").fault,
            Some(FaultKind::ServerUnavailable)
        );
        assert_eq!(s.decide("collections.upsert").fault, None);
    }

    #[test]
    fn latency_is_the_fixed_part_plus_bounded_jitter() {
        let plan = FaultPlan {
            latency_ms: 50,
            latency_jitter_ms: 10,
            ..FaultPlan::default()
        };
        let mut s = FaultState::new(plan);
        for _ in 0..100 {
            let d = s.decide("sobject.get").delay;
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_millis(60),
                "{d:?}"
            );
        }
        assert_eq!(
            FaultState::new(FaultPlan::default()).decide("query").delay,
            Duration::ZERO
        );
    }

    #[test]
    fn endpoint_classes_match_by_dotted_prefix() {
        assert!(endpoint_matches("collections", "collections.delete"));
        assert!(endpoint_matches("*", "query"));
        assert!(!endpoint_matches("collections", "collectionsx"));
        assert!(!endpoint_matches("sobject", "sobjects.describe_global"));
    }

    #[test]
    fn same_seed_gives_same_random_faults() {
        let plan = FaultPlan {
            server_unavailable_rate: 0.5,
            seed: 7,
            ..FaultPlan::default()
        };
        let run = |mut s: FaultState| {
            (0..50)
                .map(|_| s.decide("query").fault.is_some())
                .collect::<Vec<_>>()
        };
        let a = run(FaultState::new(plan.clone()));
        let b = run(FaultState::new(plan));
        assert_eq!(a, b);
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }
}
