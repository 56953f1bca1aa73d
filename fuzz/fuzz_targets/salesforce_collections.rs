//! The answer to an sObject Collections write: one result per record, each read as
//! the writer reads it for every kind of operation. Input: one byte for the number of
//! records sent, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::fuzzing::collections_results;
use sobject_sink::salesforce::outcome::{classify_record, RecordOp};

fuzz_target!(|data: &[u8]| {
    let Some((&count, body)) = data.split_first() else {
        return;
    };
    match collections_results(body, usize::from(count)) {
        Ok(results) => {
            assert_eq!(results.len(), usize::from(count));
            for result in &results {
                for op in [
                    RecordOp::Insert,
                    RecordOp::Update,
                    RecordOp::Upsert,
                    RecordOp::Delete,
                ] {
                    let _ = classify_record(op, result, false);
                    let _ = classify_record(op, result, true);
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
