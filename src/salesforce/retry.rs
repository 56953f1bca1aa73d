//! The one place that decides what a Salesforce answer means (connector spec §5): which
//! failures are retried, which records are set aside, and which halt the task.
//!
//! Every answer becomes an [`Action`]. A failed HTTP call goes through [`decide_call`],
//! one record's result inside a successful sObject Collections or Bulk call through
//! [`decide_record`], a Composite call that failed as a whole through
//! [`decide_composite`] (its subrequests' answers are read like plain Collections
//! answers), a failed login attempt through [`decide_login`], and a record the
//! sink cannot turn into a write through [`decide_bad_record`]. What the configuration
//! says about errors is one [`Policy`]. A halt carries its [`Cause`], whose
//! [`Cause::remedy`] tells the operator what to do.
//!
//! [`Backoff`], [`RetryBudget`] and [`Retries`] are the timing side of "retry":
//! exponential backoff with full jitter, bounded by a time budget.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::wire::{ApiError, CallError, RecordResult, RESULT_MISSING_CODE, UNPROCESSED_CODE};

/// What the connector configuration says about errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// `sink.strict.deletes`: a delete of a row that is already gone halts the task.
    pub strict_deletes: bool,
    /// `behavior.on.api.errors=log|ignore`: a permanent per-record error is reported
    /// and the record skipped, instead of halting the task.
    pub skip_api_errors: bool,
    /// `errors.tolerance=all`: a record that cannot be decoded or turned into a write
    /// is set aside (error report, dead-letter queue) instead of halting the task.
    pub tolerate_bad_records: bool,
    /// `sink.all.or.none`: a call's records are written all together or not at all
    /// (records rolled back for another's error come back as a retry).
    pub all_or_none: bool,
    /// `sink.cdc.gap.behavior=skip`: a CDC gap event is reported and set aside
    /// instead of halting the task.
    pub skip_cdc_gaps: bool,
}

/// The logical operation a record asked for (from `_EventType` or the override),
/// as opposed to the concrete REST write used to carry it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordOp {
    /// Insert a new row (with a custom id field this is written as an upsert).
    Insert,
    /// Update an existing row.
    Update,
    /// Upsert by the External ID field.
    Upsert,
    /// Delete a row.
    Delete,
}

/// An error code with what Salesforce (or the sink) said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Error code, e.g. `DUPLICATES_DETECTED`, `BAD_RECORD`, `RETRIES_EXHAUSTED`.
    pub code: String,
    /// What was said.
    pub message: String,
    /// Fields named by the error.
    pub fields: Vec<String>,
}

impl Cause {
    /// A cause without fields.
    pub fn new(code: &str, message: impl Into<String>) -> Cause {
        Cause {
            code: code.to_string(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    fn from_api(error: &ApiError) -> Cause {
        Cause {
            code: error.status_code.clone(),
            message: error.message.clone(),
            fields: error.fields.clone(),
        }
    }

    /// True when Salesforce refused a field the cached describe allowed: the org's
    /// schema changed, and the describe should be read again.
    pub fn schema_changed(&self) -> bool {
        self.code == "INVALID_FIELD"
    }

    /// What the operator can do about a halt with this cause.
    pub fn remedy(&self) -> &'static str {
        match self.code.as_str() {
            "DUPLICATES_DETECTED" | "DUPLICATE_VALUE" => {
                "the target org already has a row that matches this one (duplicate rule or \
                 unique field); merge or remove it, or change the rule, then restart the task"
            }
            "NOT_FOUND" | "ENTITY_IS_DELETED" => {
                "the row this change addresses does not exist (or was deleted) in the target \
                 org; restore or create it, or skip the record by resetting the consumer group \
                 offset, then restart the task"
            }
            "INVALID_FIELD" => {
                "the target SObject lacks a field this change needs (check \
                 salesforce.custom.id.field.name and the org's schema), then restart the task"
            }
            BAD_RECORD => {
                "fix the producer, or set errors.tolerance=all with \
                 errors.deadletterqueue.topic.name to set bad records aside, then restart the task"
            }
            RETRIES_EXHAUSTED => {
                "check the org's availability and the network, raise \
                 request.max.retries.time.ms if outages are expected, then restart the task"
            }
            CDC_GAP => {
                "Salesforce could not describe these changes in the CDC stream, so the target \
                 org misses them: resync the rows named (or the whole SObject, for \
                 GAP_OVERFLOW) from the source org, for example by exporting them and \
                 producing them as CREATE events or with a one-off PushTopic/Bulk export, \
                 then reset the consumer group past this record and restart the task; or \
                 set sink.cdc.gap.behavior=skip to report gaps and go on"
            }
            PARENT_NOT_FOUND => {
                "the parent row named above never reached the target org: sync it (check that \
                 its connector runs and that its SObject has the External ID field), or raise \
                 sink.references.wait.ms if parents arrive later, then restart the task; it \
                 resumes at this record"
            }
            SCHEMA_REGISTRY_UNAVAILABLE => {
                "make the Schema Registry reachable with the configured credentials, then \
                 restart the task; it resumes at this record"
            }
            SET_ASIDE_FAILED => {
                "the dead-letter queue or error topic would not take this record (too large \
                 for the topic or producer, topic missing, or no access): raise the topic's \
                 max.message.bytes and producer.override.max.request.size, or fix the topic's \
                 access, then restart the task; it resumes at this record"
            }
            _ => "fix the cause named above, then restart the task; it resumes at this record",
        }
    }
}

/// The code of a record the sink cannot use (undecodable, or not writable as a body).
pub const BAD_RECORD: &str = "BAD_RECORD";
/// The code of a Change Data Capture gap event (`GAP_*`): changes the stream does not
/// carry.
pub const CDC_GAP: &str = "CDC_GAP";
/// The code of a record whose parent (named by External ID) did not reach the target
/// org within `sink.references.wait.ms`.
pub const PARENT_NOT_FOUND: &str = "PARENT_NOT_FOUND";
/// The code of a halt after transient failures outlasted the retry budget.
pub const RETRIES_EXHAUSTED: &str = "RETRIES_EXHAUSTED";
/// The code of a halt because the Schema Registry stayed unusable past the retry
/// budget (the records themselves are not bad).
pub const SCHEMA_REGISTRY_UNAVAILABLE: &str = "SCHEMA_REGISTRY_UNAVAILABLE";

/// The code of a halt because a record set aside (dead-letter queue, error topic) could
/// not be written there after the producer's retries: skipping it would lose it.
pub const SET_ASIDE_FAILED: &str = "SET_ASIDE_FAILED";

/// What to do about an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Written. `created` is known for upserts (and Bulk results).
    Done {
        /// The target org's record Id, when Salesforce gave one.
        id: Option<String>,
        /// Whether a row was created.
        created: Option<bool>,
    },
    /// A delete of a row that is already deleted or absent: its end state is reached.
    AlreadyGone,
    /// Send again after a backoff, within the retry budget (only the records that
    /// failed, when it is about records).
    Retry {
        /// Why, for logs and the retry metric.
        reason: String,
    },
    /// A call refused as a whole for one of its records: split it in halves until the
    /// culprit stands alone, so the others still go through.
    Split,
    /// An update whose row does not exist or is deleted. It halts the task unless a
    /// later change of the stream deletes the row anyway (a replay after a crash).
    RowMissing(Cause),
    /// A permanent error the configuration tolerates: report the record (error topic,
    /// dead-letter queue), skip it, and let its offset be committed.
    Reject(Cause),
    /// An unexpected error: stop the task (fail-fast) without committing this record.
    Halt(Cause),
    /// The org's daily API allocation is spent: pause writes until it frees up, then
    /// send again (this does not use up the retry budget).
    PauseForBudget {
        /// Salesforce's message.
        message: String,
    },
    /// The record names its parent by External ID and the target org has no such
    /// parent yet: send it again later, while other records flow, within
    /// `sink.references.wait.ms` (see [`decide_parent_wait`]).
    ParentMissing(Cause),
    /// The record's partition was revoked (another member owns it now) before the
    /// record could be sent: it is neither sent nor acknowledged nor reported, and the
    /// next owner replays it from the committed offset.
    Revoked,
}

/// What a failed call was doing, which decides what a permanent failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A write of `records` records.
    Write {
        /// How many records the call carried.
        records: usize,
    },
    /// A read (versions, describe, query, a Bulk job's state): nothing to split or
    /// skip, so a permanent failure halts.
    Read,
}

/// Per-record codes that succeed when the record is simply sent again.
const RETRYABLE_RECORD_CODES: &[&str] = &[
    "UNABLE_TO_LOCK_ROW",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "PROCESSING_HALTED",
    "SERVER_UNAVAILABLE",
    // Our own codes for Bulk rows that Salesforce never processed or never reported on.
    UNPROCESSED_CODE,
    RESULT_MISSING_CODE,
];

/// Whole-call error codes that are worth a retry whatever the HTTP status.
const RETRYABLE_CALL_CODES: &[&str] = &[
    "SERVER_UNAVAILABLE",
    "UNABLE_TO_LOCK_ROW",
    "UNKNOWN_EXCEPTION",
];

/// Decides what a failed call means.
pub fn decide_call(policy: &Policy, call: Call, error: &CallError) -> Action {
    let retry = |reason: String| Action::Retry { reason };
    match error {
        CallError::Timeout { message, .. } => retry(format!("timeout: {message}")),
        CallError::Connect { message, .. } => retry(format!("connect: {message}")),
        CallError::Transport { message, .. } => retry(format!("transport: {message}")),
        // A body we could not read is most often a proxy or gateway page.
        CallError::Decode { message, .. } => retry(format!("unreadable response: {message}")),
        // A refused login is no verdict on the records: it halts whatever the call was.
        CallError::Login { source, .. } if source.is_permanent() => {
            Action::Halt(Cause::from_api(&source.as_api_error()))
        }
        CallError::Login { source, .. } => retry(format!("login: {source}")),
        CallError::InvalidRequest(message) => {
            permanent_call(policy, call, Cause::new("INVALID_REQUEST", message.clone()))
        }
        CallError::Http { status, errors, .. } => {
            let status = *status;
            let first = errors.first();
            let code = first.map(|e| e.status_code.as_str()).unwrap_or("");
            let message = first.map(|e| e.message.as_str()).unwrap_or("");
            if code == "REQUEST_LIMIT_EXCEEDED" {
                // The daily allocation and the concurrent-request limit share one code;
                // only the message tells them apart ("TotalRequests Limit exceeded." vs
                // "ConcurrentRequests ...").
                return if message.contains("TotalRequests") {
                    Action::PauseForBudget {
                        message: message.to_string(),
                    }
                } else {
                    retry(format!("REQUEST_LIMIT_EXCEEDED: {message}"))
                };
            }
            if status == 401 {
                // The client already logged in again once for this call; the next try
                // may log in once more.
                return retry(format!("HTTP 401 {code}: session refused"));
            }
            // Every 5xx is server trouble, not a verdict on our request.
            if status >= 500 || status == 429 || RETRYABLE_CALL_CODES.contains(&code) {
                return retry(if code.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status} {code}: {message}")
                });
            }
            let cause = match first {
                Some(e) => Cause::from_api(e),
                None => Cause::new(&format!("HTTP_{status}"), error.to_string()),
            };
            permanent_call(policy, call, cause)
        }
    }
}

/// What to do about a Composite call that failed as a whole, before any subrequest
/// got an answer of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompositeAction {
    /// Send the same composite again after a backoff (server trouble, a dropped
    /// connection, a refused session).
    Retry {
        /// Why, for logs and the retry metric.
        reason: String,
    },
    /// The org's per-transaction limits (Apex CPU time, DML statements) or its time
    /// limit cover the whole composite: send its subrequests in smaller composites, and
    /// keep composites smaller for a while.
    Shrink {
        /// Why, for logs.
        reason: String,
    },
    /// The org's daily API allocation is spent: pause writes until it frees up, then
    /// send the composite again.
    PauseForBudget {
        /// Salesforce's message.
        message: String,
    },
    /// Nothing about the composite as such: every subrequest takes the error as its own
    /// answer, and is settled as a plain sObject Collections call with that answer.
    PerSubrequest,
}

/// True for the failure of a transaction that ran into one of the org's Apex governor
/// limits (CPU time, DML statements): a trigger of the target org refused the amount of
/// work, not any one record (`System.LimitException` in the message).
fn transaction_limit(error: &CallError) -> bool {
    matches!(error, CallError::Http { status, .. } if (400..500).contains(status))
        && error
            .api_errors()
            .iter()
            .any(|e| e.message.contains("LimitException"))
}

/// Decides what a Composite call that failed as a whole means. `subrequests` and
/// `records` are what it carried. With more than one subrequest, a timeout (the
/// client's, or the org's `QUERY_TIMEOUT`) or a governor-limit failure shrinks the
/// composite; the rest reads like a plain write call that failed: server trouble is
/// retried as a whole, a spent allocation pauses, and anything else becomes each
/// subrequest's own answer.
pub fn decide_composite(
    policy: &Policy,
    subrequests: usize,
    records: usize,
    error: &CallError,
) -> CompositeAction {
    let org_timeout = error
        .api_errors()
        .first()
        .is_some_and(|e| e.status_code == "QUERY_TIMEOUT");
    let too_much = matches!(error, CallError::Timeout { .. }) || org_timeout;
    if subrequests > 1 && (too_much || transaction_limit(error)) {
        return CompositeAction::Shrink {
            reason: error.to_string(),
        };
    }
    match decide_call(policy, Call::Write { records }, error) {
        Action::Retry { reason } => CompositeAction::Retry { reason },
        Action::PauseForBudget { message } => CompositeAction::PauseForBudget { message },
        _ => CompositeAction::PerSubrequest,
    }
}

/// A call refused as a whole, for good.
fn permanent_call(policy: &Policy, call: Call, cause: Cause) -> Action {
    match call {
        Call::Write { records, .. } if records > 1 => Action::Split,
        // One record alone: the verdict is about it. Row-level meanings (a gone row)
        // are not read into a whole-call error, which may as well be a wrong URL.
        Call::Write { .. } => permanent_record(policy, cause),
        Call::Read => Action::Halt(cause),
    }
}

/// A permanent error about one record: skipped when the configuration says so, except
/// a field the org lacks, which every later record would hit too.
fn permanent_record(policy: &Policy, cause: Cause) -> Action {
    if policy.skip_api_errors && !cause.schema_changed() {
        Action::Reject(cause)
    } else {
        Action::Halt(cause)
    }
}

/// Decides what one record's result means.
pub fn decide_record(policy: &Policy, op: RecordOp, result: &RecordResult) -> Action {
    if result.success {
        return Action::Done {
            id: result.id.clone(),
            created: result.created,
        };
    }
    let cause = match result.errors.first() {
        Some(e) => Cause::from_api(e),
        None => Cause::new(
            "UNKNOWN_ERROR",
            "Salesforce reported a failure without an error",
        ),
    };
    if RETRYABLE_RECORD_CODES.contains(&cause.code.as_str()) {
        return Action::Retry { reason: cause.code };
    }
    // Salesforce's answer for a relationship naming a parent by an External ID value
    // that no row has (yet): the parent may still be on its way.
    if cause.code == "INVALID_FIELD"
        && op != RecordOp::Delete
        && cause.message.starts_with("Foreign key external ID:")
        && cause.message.contains(" not found for field ")
    {
        return Action::ParentMissing(cause);
    }
    let gone = matches!(cause.code.as_str(), "NOT_FOUND" | "ENTITY_IS_DELETED");
    let duplicate = matches!(
        cause.code.as_str(),
        "DUPLICATE_VALUE" | "DUPLICATES_DETECTED"
    );
    match op {
        RecordOp::Delete if gone && !policy.strict_deletes => Action::AlreadyGone,
        RecordOp::Delete if gone => Action::Halt(cause),
        RecordOp::Update if gone => Action::RowMissing(cause),
        // An upsert never meets a gone row unless its External ID points at one.
        RecordOp::Upsert if gone => Action::Halt(cause),
        // A duplicate on insert or upsert is a replay against a changed org, or a rule
        // the stream breaks: no record after it can be trusted to land.
        RecordOp::Insert | RecordOp::Upsert if duplicate => Action::Halt(cause),
        // An upsert whose record lacks the External ID value, or names an External ID
        // field that the org does not have, is a configuration problem.
        RecordOp::Insert | RecordOp::Upsert if cause.code == "MISSING_ARGUMENT" => {
            Action::Halt(cause)
        }
        _ => permanent_record(policy, cause),
    }
}

/// Decides what one failed login attempt means: `status` is the token endpoint's
/// HTTP status (`None` when no answer came), `oauth_error` its `error` field.
pub fn decide_login(status: Option<u16>, oauth_error: &str, description: &str) -> Action {
    let retry = match status {
        None => true,
        Some(s) => s >= 500 || s == 429 || oauth_error == "rate_limit_exceeded",
    };
    if retry {
        Action::Retry {
            reason: match status {
                None => description.to_string(),
                Some(s) if oauth_error.is_empty() || oauth_error.starts_with("http_") => {
                    format!("HTTP {s}")
                }
                Some(s) => format!("HTTP {s} {oauth_error}"),
            },
        }
    } else {
        Action::Halt(Cause::new(oauth_error, description))
    }
}

/// Decides about a record the sink cannot use: it cannot be decoded, or cannot be
/// turned into a request body. `reason` names the record and what is wrong with it.
pub fn decide_bad_record(policy: &Policy, reason: String) -> Action {
    set_aside_or_halt(policy.tolerate_bad_records, Cause::new(BAD_RECORD, reason))
}

/// A record the configuration allows to set aside is rejected (error report,
/// dead-letter queue); any other halts the task.
fn set_aside_or_halt(allowed: bool, cause: Cause) -> Action {
    if allowed {
        Action::Reject(cause)
    } else {
        Action::Halt(cause)
    }
}

/// Decides about a record to be set aside whose dead letter or error report the broker
/// refused after the producer's own retries: the task halts, as Connect's does when its
/// dead-letter producer fails, so the record is neither lost nor committed past.
pub fn set_aside_failed(error: impl Into<String>) -> Action {
    Action::Halt(Cause::new(SET_ASIDE_FAILED, error))
}

/// Decides about a CDC gap event: `reason` names the record, the gap's kind and the
/// rows it concerns. Halts unless `sink.cdc.gap.behavior=skip`, which sets it aside
/// (error report, dead-letter queue) like a tolerated bad record.
pub fn decide_cdc_gap(policy: &Policy, reason: String) -> Action {
    set_aside_or_halt(policy.skip_cdc_gaps, Cause::new(CDC_GAP, reason))
}

/// Decides about a record whose parent is missing ([`Action::ParentMissing`]) after it
/// has waited `waited` of `limit` (`sink.references.wait.ms`): send it again, or, once
/// the wait is over, a permanent error naming the parent that halts the task unless
/// `errors.tolerance=all` sets it aside.
pub fn decide_parent_wait(
    policy: &Policy,
    cause: &Cause,
    waited: Duration,
    limit: Duration,
) -> Action {
    if waited < limit {
        return Action::Retry {
            reason: "parent not in the target org yet".into(),
        };
    }
    let cause = Cause {
        code: PARENT_NOT_FOUND.to_string(),
        message: format!(
            "the parent did not reach the target org within sink.references.wait.ms={} ms: {}",
            limit.as_millis(),
            cause.message
        ),
        fields: cause.fields.clone(),
    };
    if policy.tolerate_bad_records {
        Action::Reject(cause)
    } else {
        Action::Halt(cause)
    }
}

/// The halt after transient failures outlasted the retry budget.
pub fn retries_exhausted(last_error: impl Into<String>) -> Action {
    Action::Halt(Cause::new(RETRIES_EXHAUSTED, last_error))
}

/// One retry loop's timing: backoff delays, cut to what is left of the budget.
#[derive(Debug)]
pub struct Retries {
    budget: RetryBudget,
    backoff: Backoff,
}

impl Retries {
    /// Retries within `budget` from now, waiting by `backoff`.
    pub fn new(budget: Duration, backoff: Backoff) -> Self {
        Retries {
            budget: RetryBudget::new(budget),
            backoff,
        }
    }

    /// Waits before the next try. `false` when the budget is spent: give up.
    pub async fn wait(&mut self) -> bool {
        match self.budget.allow(self.backoff.next_delay()) {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                true
            }
            None => false,
        }
    }

    /// A try succeeded: the next failure starts from the initial delay again.
    pub fn reset(&mut self) {
        self.backoff.reset();
    }

    /// How many delays were waited since the last reset.
    pub fn attempts(&self) -> u32 {
        self.backoff.attempts()
    }
}

/// Exponential backoff with full jitter: the n-th delay is uniform in
/// `[0, min(cap, initial × 2ⁿ)]`. Full jitter spreads the retries of many writers
/// that failed at the same moment, so they do not come back in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
    attempt: u32,
    rng: StdRng,
}

impl Backoff {
    /// Initial 200 ms, doubling, capped at 30 s, seeded from the OS.
    pub fn new() -> Self {
        Self::with_rng(
            Duration::from_millis(200),
            Duration::from_secs(30),
            StdRng::from_entropy(),
        )
    }

    /// The same with a fixed seed: the delays are then reproducible.
    #[cfg(test)]
    pub fn seeded(seed: u64) -> Self {
        Self::with_rng(
            Duration::from_millis(200),
            Duration::from_secs(30),
            StdRng::seed_from_u64(seed),
        )
    }

    /// Custom bounds (tests and Bulk polling use shorter ones).
    pub fn with_rng(initial: Duration, cap: Duration, rng: StdRng) -> Self {
        Backoff {
            initial,
            cap,
            attempt: 0,
            rng,
        }
    }

    /// The upper bound of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// The next delay; each call doubles the ceiling until the cap.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.gen_range(0..=nanos))
    }

    /// Starts over from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// The time allowed for retrying one failing request (`request.max.retries.time.ms`).
/// Uses tokio's clock so tests can pause and advance time.
#[derive(Debug, Clone, Copy)]
pub struct RetryBudget {
    deadline: Instant,
}

impl RetryBudget {
    /// A budget that ends `budget` from now.
    pub fn new(budget: Duration) -> Self {
        RetryBudget {
            deadline: Instant::now() + budget,
        }
    }

    /// Time left (zero when spent).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The delay to wait before the next try, cut to what is left; `None` when the
    /// budget is spent and the caller must give up.
    pub fn allow(&self, delay: Duration) -> Option<Duration> {
        let left = self.remaining();
        if left.is_zero() {
            None
        } else {
            Some(delay.min(left))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::wire::AuthError;

    const STRICT: Policy = Policy {
        strict_deletes: true,
        skip_api_errors: false,
        tolerate_bad_records: false,
        all_or_none: false,
        skip_cdc_gaps: false,
    };
    const FAIL: Policy = Policy {
        strict_deletes: false,
        skip_api_errors: false,
        tolerate_bad_records: false,
        all_or_none: false,
        skip_cdc_gaps: false,
    };
    const SKIP: Policy = Policy {
        strict_deletes: false,
        skip_api_errors: true,
        tolerate_bad_records: true,
        all_or_none: false,
        skip_cdc_gaps: false,
    };

    fn err(code: &str, message: &str) -> ApiError {
        ApiError {
            status_code: code.into(),
            message: message.into(),
            fields: vec![],
        }
    }

    fn http(status: u16, code: &str, message: &str) -> CallError {
        CallError::Http {
            endpoint: "test",
            status,
            errors: if code.is_empty() {
                vec![]
            } else {
                vec![err(code, message)]
            },
            body: String::new(),
        }
    }

    fn failed(code: &str) -> RecordResult {
        RecordResult::failed(code, "msg")
    }

    /// The action's kind, so a table row reads as one word.
    fn kind(a: &Action) -> &'static str {
        match a {
            Action::Done { .. } => "done",
            Action::AlreadyGone => "gone",
            Action::Retry { .. } => "retry",
            Action::Split => "split",
            Action::RowMissing(_) => "missing",
            Action::Reject(_) => "reject",
            Action::Halt(_) => "halt",
            Action::PauseForBudget { .. } => "pause",
            Action::ParentMissing(_) => "parent",
            Action::Revoked => "revoked",
        }
    }

    use super::RecordOp::{Delete, Insert, Update, Upsert};

    /// One row per per-record error code of the simulator spec §4 (and the codes the
    /// sink treats specially): code, operation, then the action under
    /// `behavior.on.api.errors=fail`, under `log|ignore`, and with strict deletes.
    const RECORD_TABLE: &[(&str, RecordOp, &str, &str, &str)] = &[
        ("INVALID_FIELD", Insert, "halt", "halt", "halt"),
        ("INVALID_FIELD", Update, "halt", "halt", "halt"),
        ("INVALID_FIELD", Delete, "halt", "halt", "halt"),
        (
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            Insert,
            "halt",
            "reject",
            "halt",
        ),
        ("REQUIRED_FIELD_MISSING", Insert, "halt", "reject", "halt"),
        ("STRING_TOO_LONG", Update, "halt", "reject", "halt"),
        (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            Insert,
            "halt",
            "reject",
            "halt",
        ),
        ("JSON_PARSER_ERROR", Insert, "halt", "reject", "halt"),
        ("DUPLICATE_VALUE", Insert, "halt", "halt", "halt"),
        ("DUPLICATE_VALUE", Upsert, "halt", "halt", "halt"),
        // A unique-field clash on update is a data problem, not a replay.
        ("DUPLICATE_VALUE", Update, "halt", "reject", "halt"),
        ("DUPLICATES_DETECTED", Insert, "halt", "halt", "halt"),
        ("DUPLICATES_DETECTED", Upsert, "halt", "halt", "halt"),
        ("NOT_FOUND", Delete, "gone", "gone", "halt"),
        ("NOT_FOUND", Update, "missing", "missing", "missing"),
        ("NOT_FOUND", Upsert, "halt", "halt", "halt"),
        ("MALFORMED_ID", Update, "halt", "reject", "halt"),
        ("MALFORMED_ID", Delete, "halt", "reject", "halt"),
        ("ENTITY_IS_DELETED", Delete, "gone", "gone", "halt"),
        ("ENTITY_IS_DELETED", Update, "missing", "missing", "missing"),
        ("ENTITY_IS_DELETED", Upsert, "halt", "halt", "halt"),
        (
            "INVALID_CROSS_REFERENCE_KEY",
            Insert,
            "halt",
            "reject",
            "halt",
        ),
        (
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            Insert,
            "halt",
            "reject",
            "halt",
        ),
        ("MISSING_ARGUMENT", Upsert, "halt", "halt", "halt"),
        ("SOMETHING_NEW", Insert, "halt", "reject", "halt"),
        ("UNABLE_TO_LOCK_ROW", Update, "retry", "retry", "retry"),
        (
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            Insert,
            "retry",
            "retry",
            "retry",
        ),
        ("PROCESSING_HALTED", Delete, "retry", "retry", "retry"),
        ("SERVER_UNAVAILABLE", Upsert, "retry", "retry", "retry"),
        (UNPROCESSED_CODE, Insert, "retry", "retry", "retry"),
        (RESULT_MISSING_CODE, Update, "retry", "retry", "retry"),
    ];

    #[test]
    fn every_record_error_code_has_one_action_per_policy() {
        for (code, op, fail, skip, strict) in RECORD_TABLE {
            let r = failed(code);
            for (policy, want) in [(FAIL, fail), (SKIP, skip), (STRICT, strict)] {
                let got = decide_record(&policy, *op, &r);
                assert_eq!(kind(&got), *want, "{code} {op:?} under {policy:?}: {got:?}");
            }
        }
    }

    fn timeout() -> CallError {
        CallError::Timeout {
            endpoint: "t",
            message: "x".into(),
        }
    }

    fn login(permanent: bool) -> CallError {
        CallError::Login {
            endpoint: "t",
            source: if permanent {
                AuthError::Rejected {
                    status: 400,
                    error: "invalid_grant".into(),
                    description: "authentication failure".into(),
                }
            } else {
                AuthError::Unavailable {
                    attempts: 3,
                    last: "HTTP 503".into(),
                }
            },
        }
    }

    #[test]
    fn every_transport_failure_and_whole_call_error_has_one_action() {
        let one = Call::Write { records: 1 };
        let many = Call::Write { records: 7 };
        let table: Vec<(&str, CallError, Call, &str)> = vec![
            ("timeout", timeout(), many, "retry"),
            (
                "connect refused",
                CallError::Connect {
                    endpoint: "t",
                    message: "refused".into(),
                },
                many,
                "retry",
            ),
            (
                "connection reset",
                CallError::Transport {
                    endpoint: "t",
                    message: "connection reset".into(),
                },
                many,
                "retry",
            ),
            (
                "proxy page",
                CallError::Decode {
                    endpoint: "t",
                    message: "<html>".into(),
                },
                one,
                "retry",
            ),
            ("500", http(500, "", ""), many, "retry"),
            ("502", http(502, "", ""), many, "retry"),
            (
                "503",
                http(503, "SERVER_UNAVAILABLE", "down"),
                many,
                "retry",
            ),
            ("504", http(504, "", ""), Call::Read, "retry"),
            ("599", http(599, "", ""), one, "retry"),
            ("429", http(429, "", ""), one, "retry"),
            (
                "400 lock",
                http(400, "UNABLE_TO_LOCK_ROW", "lock"),
                one,
                "retry",
            ),
            (
                "401",
                http(401, "INVALID_SESSION_ID", "Session expired or invalid"),
                many,
                "retry",
            ),
            (
                "403 concurrent",
                http(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                ),
                many,
                "retry",
            ),
            (
                "403 daily",
                http(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "TotalRequests Limit exceeded.",
                ),
                many,
                "pause",
            ),
            ("login unavailable", login(false), many, "retry"),
            ("login refused", login(true), many, "halt"),
            (
                "400 parse, many",
                http(400, "JSON_PARSER_ERROR", "m"),
                many,
                "split",
            ),
            (
                "400 parse, one",
                http(400, "JSON_PARSER_ERROR", "m"),
                one,
                "halt",
            ),
            (
                "400 field, one",
                http(400, "INVALID_FIELD", "m"),
                one,
                "halt",
            ),
            ("404 read", http(404, "NOT_FOUND", "m"), Call::Read, "halt"),
            (
                "404 delete of one",
                http(404, "NOT_FOUND", "m"),
                Call::Write { records: 1 },
                "halt",
            ),
            (
                "403 disabled",
                http(403, "API_DISABLED_FOR_ORG", "m"),
                Call::Read,
                "halt",
            ),
            (
                "too many records",
                CallError::InvalidRequest("201 records".into()),
                one,
                "halt",
            ),
        ];
        for (name, error, call, want) in table {
            let got = decide_call(&FAIL, call, &error);
            assert_eq!(kind(&got), want, "{name}: {got:?}");
        }
    }

    #[test]
    fn every_whole_composite_failure_has_one_action() {
        let limit = http(
            400,
            "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
            "LeadTrigger: System.LimitException: Apex CPU time limit exceeded",
        );
        let org_timeout = http(
            400,
            "QUERY_TIMEOUT",
            "Your request was running for too long, and has been stopped.",
        );
        let composite_kind = |a: &CompositeAction| match a {
            CompositeAction::Retry { .. } => "retry",
            CompositeAction::Shrink { .. } => "shrink",
            CompositeAction::PauseForBudget { .. } => "pause",
            CompositeAction::PerSubrequest => "each",
        };
        // (case, error, subrequests, action)
        let table: Vec<(&str, CallError, usize, &str)> = vec![
            ("governor limit, five", limit.clone(), 5, "shrink"),
            ("governor limit, two", limit.clone(), 2, "shrink"),
            // One subrequest left: its answer is the plain call's (split in halves).
            ("governor limit, one", limit, 1, "each"),
            ("client timeout, five", timeout(), 5, "shrink"),
            ("client timeout, one", timeout(), 1, "retry"),
            ("org timeout, three", org_timeout.clone(), 3, "shrink"),
            ("org timeout, one", org_timeout, 1, "each"),
            ("503", http(503, "SERVER_UNAVAILABLE", "down"), 5, "retry"),
            ("500", http(500, "UNKNOWN_EXCEPTION", "oops"), 5, "retry"),
            ("502 proxy page", http(502, "", ""), 5, "retry"),
            (
                "connection reset",
                CallError::Transport {
                    endpoint: "t",
                    message: "connection reset".into(),
                },
                5,
                "retry",
            ),
            (
                "unreadable answer",
                CallError::Decode {
                    endpoint: "t",
                    message: "<html>".into(),
                },
                5,
                "retry",
            ),
            (
                "401",
                http(401, "INVALID_SESSION_ID", "Session expired or invalid"),
                5,
                "retry",
            ),
            (
                "403 daily",
                http(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "TotalRequests Limit exceeded.",
                ),
                5,
                "pause",
            ),
            ("login refused", login(true), 5, "each"),
            (
                "400 input",
                http(400, "INVALID_API_INPUT", "Invalid referenceId"),
                5,
                "each",
            ),
            (
                "400 limit of subrequests",
                http(400, "LIMIT_EXCEEDED", "at most 5"),
                5,
                "each",
            ),
        ];
        for (name, error, subrequests, want) in table {
            let got = decide_composite(&FAIL, subrequests, 1000, &error);
            assert_eq!(composite_kind(&got), want, "{name}: {got:?}");
        }
    }

    #[test]
    fn tolerated_whole_call_errors_reject_the_record_but_never_a_missing_field() {
        let one = Call::Write { records: 1 };
        let parse = decide_call(
            &SKIP,
            one,
            &http(400, "JSON_PARSER_ERROR", "Cannot deserialize"),
        );
        assert_eq!(
            parse,
            Action::Reject(Cause::new("JSON_PARSER_ERROR", "Cannot deserialize"))
        );
        let field = decide_call(&SKIP, one, &http(400, "INVALID_FIELD", "No such column"));
        assert!(matches!(field, Action::Halt(c) if c.schema_changed()));
        // A refused login is never a record's fault.
        assert_eq!(kind(&decide_call(&SKIP, one, &login(true))), "halt");
    }

    #[test]
    fn a_whole_call_error_without_items_names_the_status() {
        let one = Call::Write { records: 1 };
        match decide_call(&FAIL, one, &http(418, "", "")) {
            Action::Halt(c) => assert_eq!(c.code, "HTTP_418"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_daily_limit_pauses_with_salesforce_s_message() {
        let daily = http(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        );
        assert_eq!(
            decide_call(&FAIL, Call::Read, &daily),
            Action::PauseForBudget {
                message: "TotalRequests Limit exceeded.".into()
            }
        );
    }

    #[test]
    fn success_is_done_with_id_and_created_flag() {
        let r = RecordResult {
            id: Some("00Q1".into()),
            success: true,
            created: Some(true),
            errors: vec![],
        };
        assert_eq!(
            decide_record(&FAIL, Upsert, &r),
            Action::Done {
                id: Some("00Q1".into()),
                created: Some(true)
            }
        );
        let none = RecordResult {
            id: None,
            success: false,
            created: None,
            errors: vec![],
        };
        assert_eq!(kind(&decide_record(&FAIL, Insert, &none)), "halt");
        assert_eq!(kind(&decide_record(&SKIP, Insert, &none)), "reject");
    }

    #[test]
    fn login_attempts_retry_outages_and_throttling_but_not_verdicts() {
        assert_eq!(kind(&decide_login(None, "", "connection refused")), "retry");
        assert_eq!(kind(&decide_login(Some(503), "", "")), "retry");
        assert_eq!(kind(&decide_login(Some(429), "", "")), "retry");
        assert_eq!(
            kind(&decide_login(Some(400), "rate_limit_exceeded", "slow down")),
            "retry"
        );
        assert_eq!(
            decide_login(Some(400), "invalid_grant", "authentication failure"),
            Action::Halt(Cause::new("invalid_grant", "authentication failure"))
        );
    }

    #[test]
    fn bad_records_halt_unless_tolerated() {
        assert_eq!(kind(&decide_bad_record(&FAIL, "not JSON".into())), "halt");
        assert_eq!(kind(&decide_bad_record(&SKIP, "not JSON".into())), "reject");
        let exhausted = retries_exhausted("HTTP 503");
        assert!(matches!(&exhausted, Action::Halt(c) if c.code == RETRIES_EXHAUSTED));
        if let Action::Halt(c) = exhausted {
            assert!(c.remedy().contains("request.max.retries.time.ms"));
        }
    }

    /// Salesforce's answers about relationships by External ID: operation, message,
    /// then the action.
    const PARENT_TABLE: &[(RecordOp, &str, &str)] = &[
        (
            Insert,
            "Foreign key external ID: 001A not found for field CustomId__c in entity Account",
            "parent",
        ),
        (
            Upsert,
            "Foreign key external ID: 001A not found for field CustomId__c in entity Account",
            "parent",
        ),
        (
            Update,
            "Foreign key external ID: 001A not found for field CustomId__c in entity Account",
            "parent",
        ),
        // Several parents match, or the field is no External ID: waiting cannot help.
        (
            Upsert,
            "Foreign key external ID: 001A matches more than one record for field CustomId__c in entity Account",
            "halt",
        ),
        (
            Insert,
            "Foreign key external ID field Nope__c does not exist or is not an External ID on Account",
            "halt",
        ),
    ];

    #[test]
    fn a_missing_parent_waits_and_then_halts_or_is_set_aside_naming_it() {
        for (op, message, want) in PARENT_TABLE {
            let r = RecordResult::failed("INVALID_FIELD", *message);
            let got = decide_record(&FAIL, *op, &r);
            assert_eq!(kind(&got), *want, "{op:?} {message}: {got:?}");
        }
        let cause = Cause::new(
            "INVALID_FIELD",
            "Foreign key external ID: 001A not found for field CustomId__c in entity Account",
        );
        let limit = Duration::from_secs(600);
        let early = decide_parent_wait(&FAIL, &cause, Duration::from_secs(1), limit);
        assert_eq!(kind(&early), "retry");
        match decide_parent_wait(&FAIL, &cause, limit, limit) {
            Action::Halt(c) => {
                assert_eq!(c.code, PARENT_NOT_FOUND);
                assert!(c.message.contains("001A") && c.message.contains("Account"));
                assert!(c.message.contains("sink.references.wait.ms=600000"));
                assert!(c.remedy().contains("sink.references.wait.ms"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            kind(&decide_parent_wait(&SKIP, &cause, limit, limit)),
            "reject"
        );
    }

    #[test]
    fn cdc_gaps_halt_with_a_resync_remedy_unless_skipped() {
        let halt = decide_cdc_gap(&FAIL, "GAP_UPDATE of Contact 003A".into());
        match &halt {
            Action::Halt(c) => {
                assert_eq!(c.code, CDC_GAP);
                assert!(c.remedy().contains("resync"), "{}", c.remedy());
                assert!(c.remedy().contains("sink.cdc.gap.behavior=skip"));
            }
            other => panic!("{other:?}"),
        }
        let skip = Policy {
            skip_cdc_gaps: true,
            ..FAIL
        };
        assert_eq!(
            kind(&decide_cdc_gap(&skip, "GAP_OVERFLOW".into())),
            "reject"
        );
    }

    #[test]
    fn backoff_doubles_its_ceiling_up_to_the_cap() {
        let mut b = Backoff::seeded(7);
        let mut ceilings = vec![];
        for _ in 0..10 {
            ceilings.push(b.ceiling());
            let d = b.next_delay();
            assert!(d <= *ceilings.last().unwrap());
        }
        assert_eq!(ceilings[0], Duration::from_millis(200));
        assert_eq!(ceilings[1], Duration::from_millis(400));
        assert_eq!(ceilings[4], Duration::from_millis(3200));
        assert_eq!(ceilings[9], Duration::from_secs(30));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(200));
    }

    #[test]
    fn seeded_backoffs_repeat_their_delays() {
        let mut a = Backoff::seeded(42);
        let mut b = Backoff::seeded(42);
        let da: Vec<_> = (0..8).map(|_| a.next_delay()).collect();
        let db: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        assert_eq!(da, db);
        // Full jitter: not every delay sits at its ceiling.
        assert!(da.iter().any(|d| *d < Duration::from_millis(200) * 4));
    }

    #[test]
    fn retry_budget_cuts_delays_to_what_is_left_and_ends() {
        let long = RetryBudget::new(Duration::from_secs(3600));
        assert_eq!(
            long.allow(Duration::from_millis(300)),
            Some(Duration::from_millis(300))
        );
        assert!(!long.remaining().is_zero());
        let short = RetryBudget::new(Duration::from_millis(100));
        let cut = short.allow(Duration::from_secs(10));
        assert!(
            cut.is_none() || cut.is_some_and(|d| d <= Duration::from_millis(100)),
            "{cut:?}"
        );
        let spent = RetryBudget::new(Duration::ZERO);
        assert!(spent.remaining().is_zero());
        assert_eq!(spent.allow(Duration::from_millis(300)), None);
    }
}
