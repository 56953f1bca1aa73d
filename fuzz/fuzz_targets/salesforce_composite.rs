//! The answer to a Composite call carrying up to five sObject Collections writes: read
//! as a whole, then subrequest by subrequest, each decided as the writer decides it.
//! Input: a status byte (below 128: the call answered 200; otherwise it failed with
//! status 400 + (byte - 128)), a byte for the number of subrequests (1 to 5), one byte
//! per subrequest (low two bits: insert, update, upsert or delete; the other six: the
//! records it wrote, minus one), then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::fuzzing::composite_answer;

fuzz_target!(|data: &[u8]| {
    let [status, count, rest @ ..] = data else {
        return;
    };
    let status = if *status < 128 {
        200
    } else {
        400 + u16::from(*status - 128)
    };
    let count = 1 + usize::from(*count) % 5;
    if rest.len() < count {
        return;
    }
    let (shapes, body) = rest.split_at(count);
    let subrequests: Vec<(usize, usize)> = shapes
        .iter()
        .map(|&b| (usize::from(b & 3), 1 + usize::from(b >> 2)))
        .collect();
    let first = composite_answer(status, &subrequests, body);
    assert_eq!(
        first,
        composite_answer(status, &subrequests, body),
        "the same answer read twice differs"
    );
    match first {
        Ok(answers) => {
            assert!(status < 400, "a failed call read as answered");
            assert_eq!(answers.len(), count, "one answer per subrequest");
            for (answer, &(_, records)) in answers.iter().zip(&subrequests) {
                match answer {
                    Ok(read) => assert_eq!(*read, records, "one result per record"),
                    Err(message) => assert!(!message.is_empty()),
                }
            }
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
