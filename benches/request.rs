//! Request building: from decoded Lead records to the bytes of one sObject Collections
//! upsert (the body rules of connector spec §4 against the target's describe, then
//! serialisation), for a full batch of 200 and for one record per request (the
//! per-record way of writing), reported as records/s.
//!
//! Run: `cargo bench --bench request` (add `-- --quick` for a short run). With
//! `BENCH_ITERATIONS=N` it builds the 200-record Collections request N times without
//! criterion, for counting instructions (`benches/instructions.sh`).

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;

use criterion::{criterion_group, Criterion, Throughput};
use sobject_sink::record::{decode, DecodeOptions, RawRecord, RecordCoords, SinkRecord};
use sobject_sink::salesforce::describe::SObjectSchema;
use sobject_sink::salesforce::request::{collections_body, record_body, BodyRules, WriteKind};
use sobject_sink::sim::OrgConfig;

// The sink's own allocator, so that allocation costs what it costs in the sink.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CREATED: &str = include_str!("../tests/fixtures/lead-created.schema.json");
const KEY: &str = include_str!("../tests/fixtures/lead-key.schema.json");

/// The simulator's default Lead, as the sink's describe cache would hold it.
fn lead_schema() -> SObjectSchema {
    let org = OrgConfig::named("b", SocketAddr::from(([127, 0, 0, 1], 0)));
    let describe = org
        .schema
        .sobject("Lead")
        .expect("the default org has Lead")
        .describe("v62.0");
    SObjectSchema::from_describe_json(&serde_json::to_vec(&describe).expect("describe is JSON"))
        .expect("the describe parses")
}

/// 200 decoded copies of the sample Lead change, each with its own Id.
fn records() -> Vec<SinkRecord> {
    (0..200)
        .map(|i| {
            let raw = RawRecord {
                coords: RecordCoords {
                    topic: Arc::from("sfdc-pushtopic-leads"),
                    partition: 0,
                    offset: i,
                },
                timestamp: Some(0),
                key: Some(KEY.as_bytes()),
                value: Some(CREATED.as_bytes()),
            };
            let mut r = decode(raw, &DecodeOptions::default()).expect("fixture decodes");
            r.id = Some(format!("00Q5e00000{i:05}AAA"));
            r
        })
        .collect()
}

/// Builds the bodies of `batch` and serialises them into one Collections upsert.
fn build(
    schema: &SObjectSchema,
    rules: &BodyRules,
    kind: &WriteKind,
    batch: &[SinkRecord],
) -> Vec<u8> {
    let bodies: Vec<_> = batch
        .iter()
        .map(|r| {
            record_body(kind, r, schema, rules)
                .expect("body builds")
                .fields
        })
        .collect();
    collections_body(false, &bodies)
}

fn upsert() -> (BodyRules, WriteKind) {
    (
        BodyRules {
            custom_id_field: Some("CustomId__c".into()),
            ..BodyRules::default()
        },
        WriteKind::UpsertByExternalId {
            field: "CustomId__c".into(),
        },
    )
}

fn bench_request(c: &mut Criterion) {
    let schema = lead_schema();
    let records = records();
    let (rules, kind) = upsert();
    let mut group = c.benchmark_group("upsert_request");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("collections_200", |b| {
        b.iter(|| black_box(build(&schema, &rules, &kind, &records)))
    });
    group.bench_function("per_record_200", |b| {
        b.iter(|| {
            for r in records.chunks(1) {
                black_box(build(&schema, &rules, &kind, r));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_request);

fn main() {
    if let Some(n) = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let schema = lead_schema();
        let records = records();
        let (rules, kind) = upsert();
        for _ in 0..n {
            black_box(build(&schema, &rules, &kind, &records));
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
