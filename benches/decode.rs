//! Decoding throughput: ~2 KB Lead records, in the JsonConverter schema envelope and as
//! plain JSON, reported both as records/s and as bytes/s.
//!
//! Run: `cargo bench --bench decode` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use sobject_sink::record::{decode, DecodeOptions, RawRecord, RecordCoords};

const CREATED: &str = include_str!("../tests/fixtures/lead-created.schema.json");
const KEY: &str = include_str!("../tests/fixtures/lead-key.schema.json");

/// The sample Lead with a Description field, so the plain payload is about 2 KB.
fn lead_records() -> (String, String) {
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
    (envelope.to_string(), plain)
}

fn bench_decode(c: &mut Criterion) {
    let (with_schema, plain) = lead_records();
    let coords = RecordCoords {
        topic: Arc::from("sfdc-pushtopic-leads"),
        partition: 0,
        offset: 0,
    };
    let envelope_opts = DecodeOptions::default();
    let plain_opts = DecodeOptions {
        key_schemas_enable: false,
        value_schemas_enable: false,
        ..DecodeOptions::default()
    };
    let cases = [
        ("envelope", with_schema.as_str(), envelope_opts, Some(KEY)),
        ("plain", plain.as_str(), plain_opts, None),
    ];
    for (name, value, opts, key) in cases {
        let run = |b: &mut criterion::Bencher<'_>| {
            b.iter(|| {
                let raw = RawRecord {
                    coords: coords.clone(),
                    timestamp: Some(0),
                    key: key.map(str::as_bytes),
                    value: Some(value.as_bytes()),
                };
                black_box(decode(black_box(raw), &opts).expect("record decodes"))
            })
        };
        let mut group = c.benchmark_group(format!("decode_lead_{name}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("records", run);
        group.throughput(Throughput::Bytes(value.len() as u64));
        group.bench_function("bytes", run);
        group.finish();
    }
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
