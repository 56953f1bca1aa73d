//! The answer to an sObject Collections write: one result per record, each read as
//! the writer reads it for every kind of operation. Input: one byte for the number of
//! records sent, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::fuzzing::collections_results;

fuzz_target!(|data: &[u8]| {
    let Some((&count, body)) = data.split_first() else {
        return;
    };
    match collections_results(body, usize::from(count)) {
        Ok(read) => assert_eq!(read, usize::from(count), "one result per record"),
        Err(message) => assert!(!message.is_empty()),
    }
});
