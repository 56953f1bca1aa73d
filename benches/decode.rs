//! Decoding throughput: ~2 KB Lead records, in the JsonConverter schema envelope, as
//! plain JSON and as Confluent Avro (AvroConverter, writer schema already cached),
//! reported both as records/s and as bytes/s.
//!
//! Run: `cargo bench --bench decode` (add `-- --quick` for a short run). With
//! `BENCH_ITERATIONS=N BENCH_CASE=envelope|plain|avro` it decodes that case N times
//! without criterion, for counting instructions (`benches/instructions.sh`).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, Criterion, Throughput};
use serde_json::{json, Value};
use sobject_sink::config::converter::ConverterClass;
use sobject_sink::record::avro::AvroSchema;
use sobject_sink::record::registry::{BatchSchemas, Lookup, WriterSchema};
use sobject_sink::record::{decode_with, DecodeOptions, Part, RawRecord, RecordCoords};

/// The test producer of Confluent's wire format.
#[path = "../tests/support/avro.rs"]
#[allow(dead_code)]
mod avro;

// The sink's own allocator, so that allocation costs what it costs in the sink.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CREATED: &str = include_str!("../tests/fixtures/lead-created.schema.json");
const KEY: &str = include_str!("../tests/fixtures/lead-key.schema.json");

/// One decode benchmark: its name, the value bytes, the options, the key bytes.
type DecodeCase<'a> = (&'a str, &'a [u8], DecodeOptions, Option<&'a [u8]>);

/// The sample Lead with a Description field (payload about 2 KB, 5 KB with its
/// schema envelope): the envelope text and the plain payload text.
fn lead_records() -> (String, String) {
    let (envelope, plain) = lead_envelope();
    (envelope.to_string(), plain)
}

/// The envelope (as a value) and the plain payload text.
fn lead_envelope() -> (Value, String) {
    let mut envelope: Value = serde_json::from_str(CREATED).expect("fixture is JSON");
    let description =
        "Met at the data summit; interested in streaming sync between two orgs. ".repeat(12);
    if let Some(fields) = envelope["schema"]["fields"].as_array_mut() {
        fields.insert(
            fields.len() - 2,
            json!({"field": "Description", "type": "string", "optional": true}),
        );
    }
    if let Some(payload) = envelope["payload"].as_object_mut() {
        payload.insert("Description".into(), Value::String(description));
    }
    let plain = envelope["payload"].to_string();
    (envelope, plain)
}

/// The same Lead as AvroConverter writes it (value and key), with the schemas the
/// registry would return for ids 1 and 2.
fn avro_records() -> (Vec<u8>, Vec<u8>, BatchSchemas) {
    let (envelope, _) = lead_envelope();
    let key: Value = serde_json::from_str(KEY).expect("key fixture is JSON");
    let value_encoder =
        avro::AvroEncoder::for_connect_schema(&envelope["schema"], avro::LogicalStyle::Both);
    let key_encoder =
        avro::AvroEncoder::for_connect_schema(&key["schema"], avro::LogicalStyle::Both);
    let mut schemas = BatchSchemas::default();
    for (part, id, text) in [
        (Part::Value, 1, &value_encoder.schema_text),
        (Part::Key, 2, &key_encoder.schema_text),
    ] {
        let parsed = AvroSchema::parse(text).expect("schema parses");
        schemas.insert(
            part,
            id,
            Lookup::Found(Arc::new(WriterSchema::Avro(Box::new(parsed)))),
        );
    }
    (
        avro::wire(1, &value_encoder.body(&envelope["payload"])),
        avro::wire(2, &key_encoder.body(&key["payload"])),
        schemas,
    )
}

/// The three cases: name, value bytes, options, key bytes (the bytes are owned by the
/// caller's strings).
fn cases<'a>(
    with_schema: &'a str,
    plain: &'a str,
    avro_value: &'a [u8],
    avro_key: &'a [u8],
) -> [DecodeCase<'a>; 3] {
    let plain_opts = DecodeOptions {
        key_schemas_enable: false,
        value_schemas_enable: false,
        ..DecodeOptions::default()
    };
    let avro_opts = DecodeOptions {
        key_converter: ConverterClass::Avro,
        value_converter: ConverterClass::Avro,
        ..DecodeOptions::default()
    };
    [
        (
            "envelope",
            with_schema.as_bytes(),
            DecodeOptions::default(),
            Some(KEY.as_bytes()),
        ),
        ("plain", plain.as_bytes(), plain_opts, None),
        ("avro", avro_value, avro_opts, Some(avro_key)),
    ]
}

fn coords() -> RecordCoords {
    RecordCoords {
        topic: Arc::from("sfdc-pushtopic-leads"),
        partition: 0,
        offset: 0,
    }
}

fn decode_once(
    coords: &RecordCoords,
    value: &[u8],
    opts: &DecodeOptions,
    key: Option<&[u8]>,
    schemas: &BatchSchemas,
) {
    let raw = RawRecord {
        coords: coords.clone(),
        timestamp: Some(0),
        key,
        value: Some(value),
    };
    black_box(decode_with(black_box(raw), opts, schemas).expect("record decodes"));
}

fn bench_decode(c: &mut Criterion) {
    let (with_schema, plain) = lead_records();
    let coords = coords();
    let (avro_value, avro_key, schemas) = avro_records();
    for (name, value, opts, key) in cases(&with_schema, &plain, &avro_value, &avro_key) {
        let run = |b: &mut criterion::Bencher<'_>| {
            b.iter(|| decode_once(&coords, value, &opts, key, &schemas))
        };
        let mut group = c.benchmark_group(format!("decode_lead_{name}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("records", run);
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function("bytes", run);
        group.finish();
    }
}

/// `BENCH_ITERATIONS=N BENCH_CASE=name`: decodes that case N times and nothing else.
fn count_mode() -> bool {
    let Some(n) = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return false;
    };
    let wanted = std::env::var("BENCH_CASE").unwrap_or_else(|_| "envelope".into());
    let (with_schema, plain) = lead_records();
    let coords = coords();
    let (avro_value, avro_key, schemas) = avro_records();
    let all = cases(&with_schema, &plain, &avro_value, &avro_key);
    let (_, value, opts, key) = all
        .iter()
        .find(|(name, ..)| *name == wanted)
        .expect("BENCH_CASE is envelope, plain or avro");
    for _ in 0..n {
        decode_once(&coords, value, opts, *key, &schemas);
    }
    true
}

criterion_group!(benches, bench_decode);

fn main() {
    if count_mode() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
