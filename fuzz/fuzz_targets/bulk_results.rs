//! The three result files of a Bulk API 2.0 job, matched back to the uploaded rows.
//! Input: `keys NUL successful NUL failed NUL unprocessed`, where `keys` is the key
//! columns (comma-separated) on its first line and one uploaded row's key per further
//! line (its column values comma-separated, as `build_csv` keys them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::fuzzing::bulk_results;
use sobject_sink_fuzz::parts;

fuzz_target!(|data: &[u8]| {
    let [keys, successful, failed, unprocessed] = parts::<4>(data);
    let keys = String::from_utf8_lossy(keys);
    let mut lines = keys.lines();
    let key_columns: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect();
    let row_keys: Vec<String> = lines
        .map(|line| line.to_lowercase().replace(',', "\u{1f}"))
        .collect();
    match bulk_results(&key_columns, &row_keys, successful, failed, unprocessed) {
        Ok(read) => assert_eq!(read, row_keys.len(), "one result per row"),
        Err(message) => assert!(!message.is_empty()),
    }
});
