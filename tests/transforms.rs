//! Single Message Transforms end to end: a real `tansu` broker, the simulated org over
//! HTTP and the sink's worker. Asserts what an operator sees: the rows a chain of
//! Connect transforms produces, the offsets committed for dropped records, the
//! filtered-records metric, the failure naming the transform, and the refusal of a
//! transform class that is not built in.

mod support;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use serde_json::{json, Value};
use sobject_sink::connect::worker::WorkerHandle;
use std::collections::BTreeMap;
use std::time::Duration;
use support::{send_json, World};

const T: &str = "org.apache.kafka.connect.transforms.";

/// One record to produce: its value (`None`: a tombstone) and header names.
struct Input {
    value: Option<Value>,
    headers: &'static [&'static str],
}

/// Creates `topic` (one partition) and produces `inputs` in order, without keys.
fn produce(w: &World, topic: &str, inputs: &[Input]) {
    w.rt.block_on(async {
        w.kafka.create_topic(topic, 1).await;
        let producer = w.kafka.producer();
        for input in inputs {
            let body = input.value.as_ref().map(|v| v.to_string());
            let mut headers = OwnedHeaders::new();
            for name in input.headers {
                headers = headers.insert(Header {
                    key: name,
                    value: Some("1"),
                });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(topic).partition(0).headers(headers);
            if let Some(b) = &body {
                record = record.payload(b.as_bytes());
            }
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map_err(|(e, _)| e)
                .expect("broker acknowledges");
        }
    });
}

/// The quickstart connector reading plain JSON, plus `extra` keys.
fn connector(
    w: &World,
    name: &str,
    topic: &str,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let plain_json = [
        ("value.converter.schemas.enable", "false"),
        ("key.converter.schemas.enable", "false"),
    ];
    w.connector_with(name, topic, &[&plain_json[..], extra].concat())
}

fn sid(id15: &str) -> String {
    sobject_sink::salesforce::id::to_18(id15).expect("valid 15-character Id")
}

/// A source-org change in the producer's own field names.
fn change(sid: &str, last: &str) -> Value {
    json!({
        "LeadKey": sid,
        "Kind": "created",
        "LastName": last,
        "Company": "Acme",
        "Title": "CEO",
        "Phone": "+44 113 496 0000",
        "Headcount": 140.7,
        "Unread": "TRUE",
    })
}

fn metrics_text(w: &World, handle: &WorkerHandle) -> String {
    w.rt.block_on(async {
        reqwest::get(format!("{}/metrics", handle.rest_url))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    })
}

#[test]
fn a_transform_chain_shapes_the_rows_and_dropped_records_are_committed() {
    let w = World::new();
    let topic = "tx-chain";
    let (a, b, dropped) = (
        &sid("00Q5e00000TxA01"),
        &sid("00Q5e00000TxB02"),
        &sid("00Q5e00000TxC03"),
    );
    produce(
        &w,
        topic,
        &[
            Input {
                value: Some(change(a, "Ames")),
                headers: &[],
            },
            Input {
                value: Some(change(dropped, "Test")),
                headers: &["test-record"],
            },
            Input {
                value: None,
                headers: &[],
            },
            Input {
                value: Some(change(b, "Bell")),
                headers: &["trace-id"],
            },
            Input {
                value: Some(change(dropped, "Test again")),
                headers: &["trace-id", "test-record"],
            },
        ],
    );
    let type_of = |class: &str| format!("{T}{class}");
    let config = connector(
        &w,
        "tx-chain",
        topic,
        &[
            (
                "transforms",
                "dropTests,dropTombstones,rename,source,mask,cast",
            ),
            ("transforms.dropTests.type", &type_of("Filter")),
            ("transforms.dropTests.predicate", "isTest"),
            ("transforms.dropTombstones.type", &type_of("Filter")),
            ("transforms.dropTombstones.predicate", "isTombstone"),
            ("transforms.rename.type", &type_of("ReplaceField$Value")),
            (
                "transforms.rename.renames",
                "LeadKey:Id,Kind:_EventType,Headcount:NumberOfEmployees,Unread:IsUnreadByOwner",
            ),
            ("transforms.rename.exclude", "Title"),
            ("transforms.source.type", &type_of("InsertField$Value")),
            ("transforms.source.static.field", "LeadSource"),
            ("transforms.source.static.value", "Web"),
            ("transforms.mask.type", &type_of("MaskField$Value")),
            ("transforms.mask.fields", "Phone"),
            ("transforms.mask.replacement", "REDACTED"),
            ("transforms.cast.type", &type_of("Cast$Value")),
            (
                "transforms.cast.spec",
                "NumberOfEmployees:int32,IsUnreadByOwner:boolean",
            ),
            ("predicates", "isTest,isTombstone"),
            (
                "predicates.isTest.type",
                &type_of("predicates.HasHeaderKey"),
            ),
            ("predicates.isTest.name", "test-record"),
            (
                "predicates.isTombstone.type",
                &type_of("predicates.RecordIsTombstone"),
            ),
        ],
    );
    let handle = w.start_worker(config);
    // Every offset finishes, the three dropped records included.
    w.wait_committed(&handle.rest_url, "tx-chain", topic, &[5]);

    let rows = w.leads_by_source();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        expected,
        "the filtered records wrote nothing"
    );
    for (sid, last) in [(a, "Ames"), (b, "Bell")] {
        let row = &rows[sid.as_str()];
        assert_eq!(row["LastName"], json!(last), "{sid}");
        assert_eq!(
            row["Title"],
            Value::Null,
            "{sid}: excluded field was written"
        );
        assert_eq!(row["LeadSource"], json!("Web"), "{sid}: inserted field");
        assert_eq!(row["Phone"], json!("REDACTED"), "{sid}: masked field");
        assert_eq!(
            row["NumberOfEmployees"],
            json!(140),
            "{sid}: renamed and cast"
        );
        assert_eq!(
            row["IsUnreadByOwner"],
            json!(true),
            "{sid}: renamed and cast"
        );
    }
    let metrics = metrics_text(&w, &handle);
    for line in [
        r#"sobject_sink_records_filtered_total{connector="tx-chain",transform="dropTests"} 2"#,
        r#"sobject_sink_records_filtered_total{connector="tx-chain",transform="dropTombstones"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_transform_failing_on_a_record_halts_the_task_naming_it() {
    let w = World::new();
    let topic = "tx-fail";
    let mut bad = change(&sid("00Q5e00000TxD04"), "Dunn");
    bad["Headcount"] = json!("lots");
    produce(
        &w,
        topic,
        &[Input {
            value: Some(bad),
            headers: &[],
        }],
    );
    let config = connector(
        &w,
        "tx-fail",
        topic,
        &[
            ("transforms", "rename,toInt"),
            ("transforms.rename.type", &format!("{T}ReplaceField$Value")),
            ("transforms.rename.renames", "LeadKey:Id,Kind:_EventType"),
            ("transforms.toInt.type", &format!("{T}Cast$Value")),
            ("transforms.toInt.spec", "Headcount:int32"),
        ],
    );
    let handle = w.start_worker(config);
    let task = w.wait_task(&handle.rest_url, "tx-fail", "FAILED", |t| {
        t["state"] == "FAILED"
    });
    let trace = task["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("topic=tx-fail partition=0 offset=0")
            && trace.contains("transform toInt (org.apache.kafka.connect.transforms.Cast$Value)")
            && trace.contains("field Headcount"),
        "{trace}"
    );
    assert!(!trace.contains("lots"), "record contents leaked: {trace}");
    let committed = w.kafka.committed("connect-tx-fail", topic, 1);
    assert!(
        matches!(committed[..], [None] | [Some(0)]),
        "the failed record's offset must not be passed: {committed:?}"
    );
    assert!(w.leads_by_source().is_empty());
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_transform_class_that_is_not_built_in_is_refused_at_validate_and_create() {
    let w = World::new();
    let worker =
        sobject_sink::config::WorkerConfig::from_map(&w.worker_map()).expect("worker config");
    let handle = WorkerHandle::start(worker, vec![]).expect("worker starts");
    let base = handle.rest_url.clone();
    let class = "io.debezium.transforms.ExtractNewRecordState";
    let config = connector(
        &w,
        "tx-refused",
        "tx-refused",
        &[("transforms", "unwrap"), ("transforms.unwrap.type", class)],
    );

    let (code, v) = send_json(
        &w,
        reqwest::Method::PUT,
        &format!(
            "{base}/connector-plugins/io.confluent.salesforce.SalesforceSObjectSinkConnector/config/validate"
        ),
        &json!(config),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["error_count"], json!(1), "{v}");
    let errors: Vec<String> = v["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .find(|c| c["value"]["name"] == "transforms.unwrap.type")
        .and_then(|c| c["value"]["errors"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect();
    assert_eq!(errors.len(), 1, "{v}");
    assert!(
        errors[0].contains("transform unwrap") && errors[0].contains(class),
        "{errors:?}"
    );

    let (code, body) = send_json(
        &w,
        reqwest::Method::POST,
        &format!("{base}/connectors"),
        &json!({"name": "tx-refused", "config": config}),
    );
    assert_eq!(code, 400, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("transforms.unwrap.type") && message.contains(class),
        "{message}"
    );
    let (code, _) = w.rest_get(&format!("{base}/connectors/tx-refused"));
    assert_eq!(code, 404, "a refused connector is not created");
    handle.shutdown(Duration::from_secs(10));
}
