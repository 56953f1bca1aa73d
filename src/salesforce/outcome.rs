//! The one place that decides what a Salesforce outcome means (connector spec §5).
//!
//! A failed HTTP call as a whole is a [`CallOutcome`]: retry it (transient), log in
//! again (session), pause for the daily allocation (budget), or give up (permanent).
//! One record's result inside a successful sObject Collections or Bulk call is a
//! [`RecordOutcome`]: done, already gone, retry, halt the task, or a permanent
//! per-record error that `behavior.on.api.errors` decides about. Every caller goes
//! through [`classify_call`] and [`classify_record`] so the table lives only here.
//!
//! [`Backoff`] and [`RetryBudget`] are the timing side of "retry": exponential backoff
//! with full jitter, bounded by `request.max.retries.time.ms`.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::client::CallError;
use super::collections::{ApiError, RecordResult};

/// What to do about a whole HTTP call that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Retry the call (or the records it carried) after a backoff, within the budget.
    Transient(String),
    /// The session was refused even after the client logged in again once; retry the
    /// call later (each retry may log in once more).
    Session,
    /// The org's daily API allocation is spent: pause, do not retry soon.
    Budget(String),
    /// Retrying will not help.
    Permanent {
        /// HTTP status (0 when the call never reached Salesforce).
        status: u16,
        /// The errors Salesforce gave, if any.
        errors: Vec<ApiError>,
    },
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

/// What one record's result means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Written. `created` is known for upserts (and Bulk results).
    Done {
        /// The target org's record Id, when Salesforce gave one.
        id: Option<String>,
        /// Whether a row was created.
        created: Option<bool>,
    },
    /// A delete of a row that is already deleted or absent: its end state is reached.
    AlreadyGone,
    /// A transient per-record failure: resend this record alone after a backoff.
    Retry(String),
    /// An unexpected error that must stop the task (fail-fast).
    Halt {
        /// Salesforce status code, e.g. `DUPLICATE_VALUE`.
        code: String,
        /// Salesforce message.
        message: String,
        /// Fields named by the error.
        fields: Vec<String>,
    },
    /// A permanent per-record error; `behavior.on.api.errors` decides.
    Permanent {
        /// Salesforce status code, e.g. `REQUIRED_FIELD_MISSING`.
        code: String,
        /// Salesforce message.
        message: String,
        /// Fields named by the error.
        fields: Vec<String>,
    },
}

/// Per-record codes that succeed when the record is simply sent again.
const RETRYABLE_RECORD_CODES: &[&str] = &[
    "UNABLE_TO_LOCK_ROW",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "PROCESSING_HALTED",
    "SERVER_UNAVAILABLE",
    // Our own codes for Bulk rows that Salesforce never processed or never reported on.
    super::bulk::UNPROCESSED_CODE,
    super::bulk::RESULT_MISSING_CODE,
];

/// Whole-call error codes that are worth a retry whatever the HTTP status.
const RETRYABLE_CALL_CODES: &[&str] = &[
    "SERVER_UNAVAILABLE",
    "UNABLE_TO_LOCK_ROW",
    "UNKNOWN_EXCEPTION",
];

/// Classifies a failed call.
pub fn classify_call(error: &CallError) -> CallOutcome {
    match error {
        CallError::Timeout { message, .. } => CallOutcome::Transient(format!("timeout: {message}")),
        CallError::Connect { message, .. } => CallOutcome::Transient(format!("connect: {message}")),
        CallError::Transport { message, .. } => {
            CallOutcome::Transient(format!("transport: {message}"))
        }
        // A body we could not read is most often a proxy or gateway page.
        CallError::Decode { message, .. } => {
            CallOutcome::Transient(format!("unreadable response: {message}"))
        }
        CallError::Login { source, .. } => {
            if source.is_permanent() {
                CallOutcome::Permanent {
                    status: 0,
                    errors: vec![source.as_api_error()],
                }
            } else {
                CallOutcome::Transient(format!("login: {source}"))
            }
        }
        CallError::InvalidRequest(message) => CallOutcome::Permanent {
            status: 0,
            errors: vec![ApiError {
                status_code: "INVALID_REQUEST".into(),
                message: message.clone(),
                fields: Vec::new(),
            }],
        },
        CallError::Http { status, errors, .. } => classify_http(*status, errors),
    }
}

fn classify_http(status: u16, errors: &[ApiError]) -> CallOutcome {
    let first = errors.first();
    let code = first.map(|e| e.status_code.as_str()).unwrap_or("");
    let message = first.map(|e| e.message.as_str()).unwrap_or("");
    if code == "REQUEST_LIMIT_EXCEEDED" {
        // The daily allocation and the concurrent-request limit share one code; only the
        // message tells them apart ("TotalRequests Limit exceeded." vs "ConcurrentRequests ...").
        return if message.contains("TotalRequests") {
            CallOutcome::Budget(message.to_string())
        } else {
            CallOutcome::Transient(format!("REQUEST_LIMIT_EXCEEDED: {message}"))
        };
    }
    if status == 401 {
        return CallOutcome::Session;
    }
    if matches!(status, 500 | 502 | 503 | 504 | 429) || RETRYABLE_CALL_CODES.contains(&code) {
        return CallOutcome::Transient(if code.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status} {code}: {message}")
        });
    }
    if status >= 500 {
        // Other 5xx answers are server trouble too, not a verdict on our request.
        return CallOutcome::Transient(format!("HTTP {status}"));
    }
    CallOutcome::Permanent {
        status,
        errors: errors.to_vec(),
    }
}

/// Classifies one record's result. `strict_deletes` is `sink.strict.deletes`.
pub fn classify_record(
    kind: RecordOp,
    result: &RecordResult,
    strict_deletes: bool,
) -> RecordOutcome {
    if result.success {
        return RecordOutcome::Done {
            id: result.id.clone(),
            created: result.created,
        };
    }
    let (code, message, fields) = match result.errors.first() {
        Some(e) => (e.status_code.clone(), e.message.clone(), e.fields.clone()),
        None => (
            "UNKNOWN_ERROR".to_string(),
            "Salesforce reported a failure without an error".to_string(),
            Vec::new(),
        ),
    };
    if RETRYABLE_RECORD_CODES.contains(&code.as_str()) {
        return RecordOutcome::Retry(code);
    }
    let gone = matches!(code.as_str(), "NOT_FOUND" | "ENTITY_IS_DELETED");
    let halt = match kind {
        RecordOp::Delete if gone => {
            if !strict_deletes {
                return RecordOutcome::AlreadyGone;
            }
            true
        }
        RecordOp::Update | RecordOp::Upsert if gone => true,
        RecordOp::Insert | RecordOp::Upsert
            if matches!(code.as_str(), "DUPLICATE_VALUE" | "DUPLICATES_DETECTED") =>
        {
            true
        }
        // An upsert whose record lacks the External ID value, or names an External ID
        // field that the org does not have, is a configuration problem.
        RecordOp::Insert | RecordOp::Upsert if code == "MISSING_ARGUMENT" => true,
        _ => code == "INVALID_FIELD",
    };
    if halt {
        RecordOutcome::Halt {
            code,
            message,
            fields,
        }
    } else {
        RecordOutcome::Permanent {
            code,
            message,
            fields,
        }
    }
}

/// The outcome of one record of a call that failed as a whole with
/// [`CallOutcome::Permanent`] (e.g. 400 `INVALID_FIELD` or `JSON_PARSER_ERROR`): read
/// by the same table as a per-record error, so `INVALID_FIELD` still halts. In a batch
/// of several records the error may belong to only one of them; the caller splits
/// the batch to find it before acting on a `Permanent` for all.
pub fn classify_failed_call_record(
    kind: RecordOp,
    errors: &[ApiError],
    strict_deletes: bool,
) -> RecordOutcome {
    let result = RecordResult {
        id: None,
        success: false,
        created: None,
        errors: errors.to_vec(),
    };
    classify_record(kind, &result, strict_deletes)
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

    /// True when no time is left.
    pub fn is_spent(&self) -> bool {
        self.remaining().is_zero()
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
        RecordResult {
            id: None,
            success: false,
            created: None,
            errors: vec![err(code, "msg")],
        }
    }

    fn is_transient(o: &CallOutcome) -> bool {
        matches!(o, CallOutcome::Transient(_))
    }

    #[test]
    fn timeouts_connect_errors_and_resets_are_transient() {
        for e in [
            CallError::Timeout {
                endpoint: "t",
                message: "x".into(),
            },
            CallError::Connect {
                endpoint: "t",
                message: "refused".into(),
            },
            CallError::Transport {
                endpoint: "t",
                message: "connection reset".into(),
            },
        ] {
            assert!(is_transient(&classify_call(&e)), "{e}");
        }
    }

    #[test]
    fn gateway_and_server_statuses_are_transient() {
        for status in [500, 502, 503, 504] {
            assert!(
                is_transient(&classify_call(&http(status, "", ""))),
                "{status}"
            );
        }
        assert!(is_transient(&classify_call(&http(
            503,
            "SERVER_UNAVAILABLE",
            "Server Unavailable"
        ))));
        assert!(is_transient(&classify_call(&http(
            400,
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain"
        ))));
    }

    #[test]
    fn concurrent_request_limit_is_transient_but_daily_limit_is_budget() {
        let concurrent = http(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
        );
        assert!(is_transient(&classify_call(&concurrent)));
        let daily = http(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        );
        assert_eq!(
            classify_call(&daily),
            CallOutcome::Budget("TotalRequests Limit exceeded.".into())
        );
    }

    #[test]
    fn unauthorized_is_session() {
        assert_eq!(
            classify_call(&http(
                401,
                "INVALID_SESSION_ID",
                "Session expired or invalid"
            )),
            CallOutcome::Session
        );
    }

    #[test]
    fn other_client_errors_are_permanent() {
        for (status, code) in [
            (400, "JSON_PARSER_ERROR"),
            (404, "NOT_FOUND"),
            (400, "EXCEEDED_ID_LIMIT"),
            (403, "API_DISABLED_FOR_ORG"),
        ] {
            match classify_call(&http(status, code, "m")) {
                CallOutcome::Permanent { status: s, errors } => {
                    assert_eq!(s, status);
                    assert_eq!(errors[0].status_code, code);
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_requests_are_permanent() {
        let o = classify_call(&CallError::InvalidRequest("201 records".into()));
        assert!(matches!(o, CallOutcome::Permanent { status: 0, .. }));
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
            classify_record(RecordOp::Upsert, &r, false),
            RecordOutcome::Done {
                id: Some("00Q1".into()),
                created: Some(true)
            }
        );
    }

    #[test]
    fn lock_contention_rollbacks_and_unavailability_retry_the_record() {
        for code in [
            "UNABLE_TO_LOCK_ROW",
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "PROCESSING_HALTED",
            "SERVER_UNAVAILABLE",
        ] {
            for op in [
                RecordOp::Insert,
                RecordOp::Update,
                RecordOp::Upsert,
                RecordOp::Delete,
            ] {
                assert_eq!(
                    classify_record(op, &failed(code), false),
                    RecordOutcome::Retry(code.into())
                );
            }
        }
    }

    #[test]
    fn duplicates_on_insert_or_upsert_halt() {
        for code in ["DUPLICATE_VALUE", "DUPLICATES_DETECTED"] {
            for op in [RecordOp::Insert, RecordOp::Upsert] {
                assert!(
                    matches!(
                        classify_record(op, &failed(code), false),
                        RecordOutcome::Halt { .. }
                    ),
                    "{code} {op:?}"
                );
            }
        }
    }

    #[test]
    fn missing_or_deleted_rows_halt_updates_and_upserts() {
        for code in ["NOT_FOUND", "ENTITY_IS_DELETED"] {
            for op in [RecordOp::Update, RecordOp::Upsert] {
                assert!(matches!(
                    classify_record(op, &failed(code), false),
                    RecordOutcome::Halt { .. }
                ));
            }
        }
    }

    #[test]
    fn delete_of_a_gone_row_is_done_unless_strict() {
        for code in ["NOT_FOUND", "ENTITY_IS_DELETED"] {
            assert_eq!(
                classify_record(RecordOp::Delete, &failed(code), false),
                RecordOutcome::AlreadyGone
            );
            match classify_record(RecordOp::Delete, &failed(code), true) {
                RecordOutcome::Halt { code: c, .. } => assert_eq!(c, code),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn invalid_field_and_missing_external_id_halt() {
        for op in [
            RecordOp::Insert,
            RecordOp::Update,
            RecordOp::Upsert,
            RecordOp::Delete,
        ] {
            assert!(matches!(
                classify_record(op, &failed("INVALID_FIELD"), false),
                RecordOutcome::Halt { .. }
            ));
        }
        assert!(matches!(
            classify_record(RecordOp::Upsert, &failed("MISSING_ARGUMENT"), false),
            RecordOutcome::Halt { .. }
        ));
    }

    #[test]
    fn data_errors_are_permanent_per_record() {
        for code in [
            "REQUIRED_FIELD_MISSING",
            "STRING_TOO_LONG",
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "MALFORMED_ID",
            "INVALID_CROSS_REFERENCE_KEY",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "SOMETHING_NEW",
        ] {
            assert!(
                matches!(
                    classify_record(RecordOp::Insert, &failed(code), false),
                    RecordOutcome::Permanent { .. }
                ),
                "{code}"
            );
        }
        // A unique-field clash on update is a data problem, not a replay.
        assert!(matches!(
            classify_record(RecordOp::Update, &failed("DUPLICATE_VALUE"), false),
            RecordOutcome::Permanent { .. }
        ));
        let none = RecordResult {
            id: None,
            success: false,
            created: None,
            errors: vec![],
        };
        assert!(matches!(
            classify_record(RecordOp::Insert, &none, false),
            RecordOutcome::Permanent { .. }
        ));
    }

    #[test]
    fn whole_call_errors_read_by_the_record_table() {
        let invalid = [err(
            "INVALID_FIELD",
            "No such column 'Foo__c' on sobject of type Lead",
        )];
        assert!(matches!(
            classify_failed_call_record(RecordOp::Insert, &invalid, false),
            RecordOutcome::Halt { .. }
        ));
        let parse = [err("JSON_PARSER_ERROR", "Cannot deserialize")];
        assert!(matches!(
            classify_failed_call_record(RecordOp::Update, &parse, false),
            RecordOutcome::Permanent { .. }
        ));
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
        assert!(!long.is_spent());
        let short = RetryBudget::new(Duration::from_millis(100));
        let cut = short.allow(Duration::from_secs(10));
        assert!(
            cut.is_none() || cut.is_some_and(|d| d <= Duration::from_millis(100)),
            "{cut:?}"
        );
        let spent = RetryBudget::new(Duration::ZERO);
        assert!(spent.is_spent());
        assert_eq!(spent.allow(Duration::from_millis(300)), None);
    }
}
