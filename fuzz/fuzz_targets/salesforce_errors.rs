//! The body of an error answer (HTTP 400-599): Salesforce's error array, a gateway's
//! HTML page, or anything else, read and classified as the client and writer do.
//! Input: two bytes that pick the status, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::fuzzing::error_answer;
use sobject_sink::salesforce::outcome::{classify_call, classify_failed_call_record, RecordOp};

fuzz_target!(|data: &[u8]| {
    let [high, low, body @ ..] = data else {
        return;
    };
    let status = 400 + u16::from_be_bytes([*high, *low]) % 200;
    let error = error_answer(status, body);
    assert_eq!(error.status(), Some(status));
    assert!(!error.to_string().is_empty());
    let _ = classify_call(&error);
    for op in [
        RecordOp::Insert,
        RecordOp::Update,
        RecordOp::Upsert,
        RecordOp::Delete,
    ] {
        let _ = classify_failed_call_record(op, error.api_errors(), false);
    }
});
