//! The record decoder with `schemas.enable=false` on key and value: bare JSON payloads.
//! Input: `value NUL key`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sobject_sink::config::converter::{ConverterClass, DecimalFormat};
use sobject_sink::record::DecodeOptions;
use sobject_sink_fuzz::check_record;

const PLAIN: DecodeOptions = DecodeOptions {
    key_converter: ConverterClass::Json,
    value_converter: ConverterClass::Json,
    key_schemas_enable: false,
    value_schemas_enable: false,
    decimal_format: DecimalFormat::Base64,
};

fuzz_target!(|data: &[u8]| {
    check_record(data, &PLAIN);
});
