//! The body of an error answer (HTTP 400-599): Salesforce's error array, a gateway's
//! HTML page, or anything else, read and classified as the client and writer do.
//! Input: two bytes that pick the status, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::fuzzing::error_answer;

fuzz_target!(|data: &[u8]| {
    let [high, low, body @ ..] = data else {
        return;
    };
    let status = 400 + u16::from_be_bytes([*high, *low]) % 200;
    let (read_status, message) = error_answer(status, body);
    assert_eq!(read_status, Some(status));
    assert!(!message.is_empty());
});
