//! The record decoder with JsonConverter's `schemas.enable=true` on key and value: a
//! `{"schema", "payload"}` envelope, logical types, nested structs. Input: `value NUL key`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::record::DecodeOptions;
use sobject_sink_fuzz::check_record;

fuzz_target!(|data: &[u8]| {
    check_record(data, &DecodeOptions::default());
});
