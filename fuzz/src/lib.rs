//! What the fuzz targets share: how one fuzz input is cut into the parts of a Kafka
//! record or a Bulk job, and the checks every decoded record goes through.
//!
//! A target passes when nothing panics, every error renders as a message, and decoding
//! the same bytes twice gives the same answer (the decoder reuses per-thread buffers,
//! so a leak of state between records would show here).

use std::sync::Arc;

use sobject_sink::record::registry::BatchSchemas;
use sobject_sink::record::{decode_with, DecodeOptions, RawRecord, RecordCoords};
use sobject_sink::salesforce::id;

/// Splits `data` at its first NUL byte: `(before, after)`. JSON text holds no raw NUL,
/// so seeds write a record as `value NUL key`.
pub fn split_at_nul(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    }
}

/// Decodes `value NUL key` with `opts` (no registry schemas) and checks the answer.
pub fn check_record(data: &[u8], opts: &DecodeOptions) {
    let (value, key) = split_at_nul(data);
    check_decoded(value, key, opts, &BatchSchemas::default());
}

/// Decodes the record (`value`, `key`) with `opts`, its writer schemas looked up in
/// `schemas`, and checks the answer.
pub fn check_decoded(
    value: &[u8],
    key: Option<&[u8]>,
    opts: &DecodeOptions,
    schemas: &BatchSchemas,
) {
    let raw = || RawRecord {
        coords: RecordCoords {
            topic: Arc::from("fuzz"),
            partition: 0,
            offset: 0,
        },
        timestamp: None,
        key,
        value: Some(value),
    };
    let first = decode_with(raw(), opts, schemas);
    let second = decode_with(raw(), opts, schemas);
    assert_eq!(first, second, "the same bytes decoded twice differ");
    match first {
        Ok(record) => {
            if let Some(record_id) = &record.id {
                // The writer normalises Ids before use; it must refuse, not panic.
                let _ = id::normalize(record_id).map_err(|e| e.to_string());
            }
            let text = serde_json::to_string(&record.fields).expect("fields serialise");
            assert!(text.starts_with('{'));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// Cuts `data` into at most `N` parts at NUL bytes; missing parts are empty.
pub fn parts<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out = [&data[..0]; N];
    let mut rest = data;
    for (i, slot) in out.iter_mut().enumerate() {
        if i + 1 == N {
            *slot = rest;
            break;
        }
        let (head, tail) = split_at_nul(rest);
        *slot = head;
        match tail {
            Some(tail) => rest = tail,
            None => break,
        }
    }
    out
}
