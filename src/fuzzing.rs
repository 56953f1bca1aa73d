//! Entry points for the fuzz targets in `fuzz/`: the parsers of Salesforce answers
//! that the client otherwise only reaches after an HTTP call. Hidden from the docs and
//! not meant for anything else; the record decoder and the `.properties` reader are
//! public already and are fuzzed through their own functions.

use bytes::Bytes;

use crate::salesforce::bulk::{read_result_files, ResultFiles};
use crate::salesforce::client::http_error;
use crate::salesforce::collections::parse_results;
use crate::salesforce::wire::{CallError, Endpoint, RecordResult};

/// Reads an sObject Collections answer to a write of `expected` records.
pub fn collections_results(body: &[u8], expected: usize) -> Result<Vec<RecordResult>, CallError> {
    parse_results(Endpoint::CollectionsCreate, body, expected)
}

/// Reads the body of an error answer (`status` ≥ 400) as the client does.
pub fn error_answer(status: u16, body: &[u8]) -> CallError {
    http_error(Endpoint::CollectionsCreate, status, body)
}

/// Reads the three result files of a Bulk API 2.0 job whose uploaded rows had the keys
/// `row_keys` in the columns `key_columns`.
pub fn bulk_results(
    key_columns: &[String],
    row_keys: &[String],
    successful: &[u8],
    failed: &[u8],
    unprocessed: &[u8],
) -> Result<Vec<RecordResult>, CallError> {
    let files = ResultFiles {
        successful: Bytes::copy_from_slice(successful),
        failed: Bytes::copy_from_slice(failed),
        unprocessed: Bytes::copy_from_slice(unprocessed),
    };
    read_result_files(key_columns, row_keys, &files)
}
