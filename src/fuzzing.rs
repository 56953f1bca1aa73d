//! Entry points for the fuzz targets in `fuzz/`: the parsers of Salesforce answers
//! that the client otherwise only reaches after an HTTP call, each followed by the
//! decision the writer takes on what was read (`salesforce/retry.rs`). Hidden from the
//! docs and not meant for anything else; the record decoder and the `.properties`
//! reader are public already and are fuzzed through their own functions.

use bytes::Bytes;

use crate::salesforce::bulk::{read_result_files, ResultFiles};
use crate::salesforce::client::http_error;
use crate::salesforce::collections::parse_results;
use crate::salesforce::composite::read_answer;
use crate::salesforce::retry::{
    decide_call, decide_composite, decide_record, Call, Policy, RecordOp,
};
use crate::salesforce::wire::{Endpoint, RecordResult};

/// Every combination of the settings that change a decision.
fn policies() -> impl Iterator<Item = Policy> {
    (0..32u8).map(|bits| Policy {
        strict_deletes: bits & 1 != 0,
        skip_api_errors: bits & 2 != 0,
        tolerate_bad_records: bits & 4 != 0,
        all_or_none: bits & 8 != 0,
        skip_cdc_gaps: bits & 16 != 0,
    })
}

const OPS: [RecordOp; 4] = [
    RecordOp::Insert,
    RecordOp::Update,
    RecordOp::Upsert,
    RecordOp::Delete,
];

/// Decides `results` under every operation and policy, as the writer would.
fn decide_all(results: &[RecordResult]) {
    for result in results {
        for policy in policies() {
            for op in OPS {
                let _ = decide_record(&policy, op, result);
            }
        }
    }
}

/// Reads an sObject Collections answer to a write of `expected` records and decides
/// each result. `Ok` holds how many results were read; `Err` the error's message.
pub fn collections_results(body: &[u8], expected: usize) -> Result<usize, String> {
    let results =
        parse_results(Endpoint::CollectionsCreate, body, expected).map_err(|e| e.to_string())?;
    decide_all(&results);
    Ok(results.len())
}

/// The Collections endpoint each of [`OPS`] writes through.
const OP_ENDPOINTS: [Endpoint; 4] = [
    Endpoint::CollectionsCreate,
    Endpoint::CollectionsUpdate,
    Endpoint::CollectionsUpsert,
    Endpoint::CollectionsDelete,
];

/// Reads the answer (HTTP `status`, `body`) to a Composite call whose subrequests are
/// `subrequests`, each `(operation, records)` with the operation an index into insert,
/// update, upsert, delete (taken modulo 4). A whole-call error (`status` ≥ 400) is
/// decided as the writer decides a failed composite; otherwise each subrequest's
/// answer is read and decided: its results record by record, its error as a failed
/// write call. `Ok` holds, per subrequest, how many results it read or its error's
/// message; `Err` the message of the call's error.
pub fn composite_answer(
    status: u16,
    subrequests: &[(usize, usize)],
    body: &[u8],
) -> Result<Vec<Result<usize, String>>, String> {
    let shapes: Vec<(Endpoint, usize)> = subrequests
        .iter()
        .map(|&(op, records)| (OP_ENDPOINTS[op % OPS.len()], records))
        .collect();
    let records: usize = shapes.iter().map(|&(_, records)| records).sum();
    let answers = if status >= 400 {
        Err(http_error(Endpoint::Composite, status, body))
    } else {
        read_answer(&shapes, body)
    };
    let answers = match answers {
        Ok(answers) => answers,
        Err(error) => {
            for policy in policies() {
                let _ = decide_composite(&policy, shapes.len(), records, &error);
            }
            return Err(error.to_string());
        }
    };
    Ok(answers
        .into_iter()
        .zip(&shapes)
        .map(|(answer, &(_, records))| match answer {
            Ok(results) => {
                decide_all(&results);
                Ok(results.len())
            }
            Err(error) => {
                for policy in policies() {
                    let _ = decide_call(&policy, Call::Write { records }, &error);
                }
                Err(error.to_string())
            }
        })
        .collect())
}

/// Reads the body of an error answer (`status` ≥ 400) as the client does and decides
/// the call under every policy. Returns the status the error carries and its message.
pub fn error_answer(status: u16, body: &[u8]) -> (Option<u16>, String) {
    let error = http_error(Endpoint::CollectionsCreate, status, body);
    for policy in policies() {
        let _ = decide_call(&policy, Call::Read, &error);
        for records in [1, 2, 200] {
            let _ = decide_call(&policy, Call::Write { records }, &error);
        }
    }
    (error.status(), error.to_string())
}

/// Reads the three result files of a Bulk API 2.0 job whose uploaded rows had the keys
/// `row_keys` in the columns `key_columns`, and decides each row's result. `Ok` holds
/// how many results were read.
pub fn bulk_results(
    key_columns: &[String],
    row_keys: &[String],
    successful: &[u8],
    failed: &[u8],
    unprocessed: &[u8],
) -> Result<usize, String> {
    let files = ResultFiles {
        successful: Bytes::copy_from_slice(successful),
        failed: Bytes::copy_from_slice(failed),
        unprocessed: Bytes::copy_from_slice(unprocessed),
    };
    let results = read_result_files(key_columns, row_keys, &files).map_err(|e| e.to_string())?;
    decide_all(&results);
    Ok(results.len())
}
