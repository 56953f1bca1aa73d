//! The record decoder with Confluent's AvroConverter (and JsonSchemaConverter) on key
//! and value: wire-format records whose writer schemas are already cached, and the
//! registry's schema text itself, which the sink parses after fetching it.
//!
//! Input: a mode byte, then
//! - low bit 0: a key length byte (0: no key), the key, then the value, both in the
//!   wire format (magic 0, schema id, body). Bit 1 of the mode reads the value with
//!   JsonSchemaConverter instead of AvroConverter, bit 2 the key. Cached for key and
//!   value alike: id 1 the Lead as AvroData writes it, 2 its key, 3 a record with every
//!   Avro type the decoder maps, 4 unknown to the registry, 5 not usable, 6 a JSON
//!   Schema;
//! - low bit 1: `schema text NUL body`: the text parsed as a registry schema, and if it
//!   parses, the body decoded as a value written with it (id 1).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sobject_sink::config::converter::{ConverterClass, DecimalFormat};
use sobject_sink::record::avro::AvroSchema;
use sobject_sink::record::registry::{BatchSchemas, Lookup, WriterSchema};
use sobject_sink::record::{DecodeOptions, Part};
use sobject_sink_fuzz::{check_decoded, split_at_nul};

/// The writer schemas cached for ids 1 to 3.
const AVRO_SCHEMAS: [&str; 3] = [
    include_str!("../schemas/lead-value.avsc"),
    include_str!("../schemas/lead-key.avsc"),
    include_str!("../schemas/wide.avsc"),
];

fn cached() -> &'static BatchSchemas {
    static SCHEMAS: OnceLock<BatchSchemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut schemas = BatchSchemas::default();
        for part in [Part::Key, Part::Value] {
            for (id, text) in (1..).zip(AVRO_SCHEMAS) {
                let parsed = AvroSchema::parse(text).expect("a fuzz schema parses");
                let found = WriterSchema::Avro(Box::new(parsed));
                schemas.insert(part, id, Lookup::Found(Arc::new(found)));
            }
            schemas.insert(part, 4, Lookup::Missing);
            schemas.insert(part, 5, Lookup::Unusable("a Protobuf schema".into()));
            schemas.insert(part, 6, Lookup::Found(Arc::new(WriterSchema::Json)));
        }
        schemas
    })
}

fn options(mode: u8) -> DecodeOptions {
    let converter = |json_schema: bool| {
        if json_schema {
            ConverterClass::JsonSchema
        } else {
            ConverterClass::Avro
        }
    };
    DecodeOptions {
        key_converter: converter(mode & 4 != 0),
        value_converter: converter(mode & 2 != 0),
        key_schemas_enable: false,
        value_schemas_enable: false,
        decimal_format: DecimalFormat::Base64,
    }
}

fn wire(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let Some((&key_len, rest)) = rest.split_first() else {
            return;
        };
        let key_len = usize::from(key_len);
        if rest.len() < key_len {
            return;
        }
        let (key, value) = rest.split_at(key_len);
        let key = (key_len > 0).then_some(key);
        check_decoded(value, key, &options(mode), cached());
        return;
    }
    let (text, body) = split_at_nul(rest);
    let text = String::from_utf8_lossy(text);
    let parsed = AvroSchema::parse(&text);
    assert_eq!(
        parsed.as_ref().err(),
        AvroSchema::parse(&text).as_ref().err(),
        "the same schema text parsed twice differs"
    );
    let schema = match parsed {
        Ok(schema) => schema,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    let mut schemas = BatchSchemas::default();
    let found = WriterSchema::Avro(Box::new(schema));
    schemas.insert(Part::Value, 1, Lookup::Found(Arc::new(found)));
    let value = wire(1, body.unwrap_or_default());
    check_decoded(&value, None, &options(0), &schemas);
});
