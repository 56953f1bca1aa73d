//! Kafka Connect converters end to end: converter settings that live only in the
//! worker file, a connector overriding them, Confluent's AvroConverter against a Schema
//! Registry (with basic auth, and while it is down for a while), bad wire-format
//! records, a converter the sink does not have, and the registry's password kept out
//! of every answer. Each test checks the rows in the simulated org, the committed
//! offsets, the dead-letter topic or the task's status.

mod support;

use serde_json::{json, Value};
use sobject_sink::config::WorkerConfig;
use sobject_sink::connect::worker::WorkerHandle;
use sobject_sink::demo::lead_stream::{generate, LeadStream, StreamRecord, StreamSpec};
use sobject_sink::record::avro::AvroSchema;
use sobject_sink::record::registry::{BatchSchemas, Lookup, WriterSchema};
use sobject_sink::record::{decode, decode_with, DecodeOptions, Part, RawRecord, RecordCoords};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::avro::{wire, AvroEncoder, LogicalStyle};
use support::registry::{AvroRecoder, TestRegistry};
use support::{ends_of, World};

const AVRO: &str = "io.confluent.connect.avro.AvroConverter";
const JSON: &str = "org.apache.kafka.connect.json.JsonConverter";
const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";
const PROTOBUF: &str = "io.confluent.connect.protobuf.ProtobufConverter";
const PLUGIN: &str = "io.confluent.salesforce.SalesforceSObjectSinkConnector";

fn small_stream(tag: &str, envelope: bool) -> LeadStream {
    generate(&StreamSpec {
        leads: 40,
        updates: (0, 2),
        delete_ratio: 0.1,
        partitions: 2,
        seed: 11,
        schema_envelope: envelope,
        tag: tag.into(),
    })
}

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The quickstart connector without any converter key of its own.
fn bare_connector(w: &World, name: &str, topic: &str) -> BTreeMap<String, String> {
    let mut c = w.connector(name, topic);
    c.retain(|k, _| !k.starts_with("key.converter") && !k.starts_with("value.converter"));
    c
}

/// A worker with `extra` keys in its file, running `connectors`.
fn worker_with(
    w: &World,
    extra: &[(String, String)],
    connectors: Vec<BTreeMap<String, String>>,
) -> WorkerHandle {
    let mut map = w.worker_map();
    map.extend(extra.iter().cloned());
    let worker = WorkerConfig::from_map(&map).expect("worker config");
    WorkerHandle::start(worker, connectors).expect("worker starts")
}

/// Every record of `stream` with key and value re-encoded as Confluent Avro.
fn as_avro(
    w: &World,
    registry: &TestRegistry,
    topic: &str,
    stream: &LeadStream,
) -> Vec<StreamRecord> {
    let mut recoder = AvroRecoder::new(registry, LogicalStyle::Both);
    stream
        .records
        .iter()
        .map(|r| StreamRecord {
            key: recoder.recode(&w.rt, &format!("{topic}-key"), &r.key),
            value: recoder.recode(&w.rt, &format!("{topic}-value"), &r.value),
            ..r.clone()
        })
        .collect()
}

fn avro_worker_keys(url: &str, user_info: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for side in ["key.converter", "value.converter"] {
        out.push((side.to_string(), AVRO.to_string()));
        out.push((format!("{side}.schema.registry.url"), url.to_string()));
        if let Some(info) = user_info {
            out.push((
                format!("{side}.basic.auth.credentials.source"),
                "USER_INFO".to_string(),
            ));
            out.push((format!("{side}.basic.auth.user.info"), info.to_string()));
        }
    }
    out
}

fn failed_trace(w: &World, rest: &str, name: &str) -> String {
    let task = w.wait_task(rest, name, "the task to fail", |t| t["state"] == "FAILED");
    task["trace"].as_str().unwrap_or_default().to_string()
}

#[test]
fn avro_and_json_records_of_the_same_leads_decode_to_the_same_sink_records() {
    let stream = small_stream("eq", true);
    for style in [LogicalStyle::Both, LogicalStyle::ConnectNameOnly] {
        let first_value: Value = serde_json::from_slice(&stream.records[0].value).unwrap();
        let first_key: Value = serde_json::from_slice(&stream.records[0].key).unwrap();
        let value_encoder = AvroEncoder::for_connect_schema(&first_value["schema"], style);
        let key_encoder = AvroEncoder::for_connect_schema(&first_key["schema"], style);
        let mut schemas = BatchSchemas::default();
        for (part, id, text) in [
            (Part::Value, 1, &value_encoder.schema_text),
            (Part::Key, 2, &key_encoder.schema_text),
        ] {
            let parsed = AvroSchema::parse(text).expect("AvroData schema parses");
            schemas.insert(
                part,
                id,
                Lookup::Found(Arc::new(WriterSchema::Avro(Box::new(parsed)))),
            );
        }
        let avro_opts = DecodeOptions {
            key_converter: sobject_sink::config::converter::ConverterClass::Avro,
            value_converter: sobject_sink::config::converter::ConverterClass::Avro,
            ..DecodeOptions::default()
        };
        for (offset, r) in stream.records.iter().enumerate() {
            let coords = RecordCoords {
                topic: Arc::from("t"),
                partition: 0,
                offset: offset as i64,
            };
            let envelope: Value = serde_json::from_slice(&r.value).unwrap();
            let key_envelope: Value = serde_json::from_slice(&r.key).unwrap();
            let avro_value = wire(1, &value_encoder.body(&envelope["payload"]));
            let avro_key = wire(2, &key_encoder.body(&key_envelope["payload"]));
            let from_json = decode(
                RawRecord {
                    coords: coords.clone(),
                    timestamp: Some(5),
                    key: Some(&r.key),
                    value: Some(&r.value),
                },
                &DecodeOptions::default(),
            )
            .expect("JSON decodes");
            let from_avro = decode_with(
                RawRecord {
                    coords,
                    timestamp: Some(5),
                    key: Some(&avro_key),
                    value: Some(&avro_value),
                },
                &avro_opts,
                &schemas,
            )
            .expect("Avro decodes");
            assert_eq!(from_avro, from_json, "record {offset} ({style:?})");
        }
    }
}

#[test]
fn plain_json_with_schemas_off_in_the_worker_file_syncs_every_lead() {
    let w = World::new();
    let topic = "conv-worker-plain";
    let stream = small_stream("wp", false);
    w.produce_stream(topic, 2, &stream);
    let handle = worker_with(
        &w,
        &pairs(&[
            ("key.converter", JSON),
            ("key.converter.schemas.enable", "false"),
            ("value.converter", JSON),
            ("value.converter.schemas.enable", "false"),
        ]),
        vec![bare_connector(&w, "wplain", topic)],
    );
    w.wait_committed(
        &handle.rest_url,
        "wplain",
        topic,
        &ends_of(&stream.records, 2),
    );
    w.assert_rows_match(&stream);
    handle.shutdown(Duration::from_secs(10));
}

/// An envelope record with `Id` taken out of its schema and payload: the Id must
/// then come from the key.
fn without_value_id(envelope: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(envelope).unwrap();
    if let Some(fields) = v["schema"]["fields"].as_array_mut() {
        fields.retain(|f| f["field"] != "Id");
    }
    if let Some(payload) = v["payload"].as_object_mut() {
        payload.remove("Id");
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn schema_envelope_values_and_string_keys_set_in_the_worker_file_sync_every_lead() {
    let w = World::new();
    let topic = "conv-worker-envelope";
    let stream = small_stream("we", true);
    // Ids only in the keys, as plain text: a JSON key converter could not read them.
    let records: Vec<StreamRecord> = stream
        .records
        .iter()
        .map(|r| StreamRecord {
            key: r.id.as_bytes().to_vec(),
            value: without_value_id(&r.value),
            ..r.clone()
        })
        .collect();
    w.produce_records(topic, 2, &records);
    let handle = worker_with(
        &w,
        &pairs(&[
            ("key.converter", STRING),
            ("value.converter", JSON),
            ("value.converter.schemas.enable", "true"),
        ]),
        vec![bare_connector(&w, "wenv", topic)],
    );
    w.wait_committed(&handle.rest_url, "wenv", topic, &ends_of(&records, 2));
    w.assert_rows_match(&stream);
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn avro_from_a_registry_with_basic_auth_set_in_the_worker_file_syncs_every_lead() {
    let w = World::new();
    let registry = TestRegistry::start(&w.rt, Some("sr-user:sr-pass-1"));
    let topic = "conv-worker-avro";
    let stream = small_stream("wa", true);
    let records = as_avro(&w, &registry, topic, &stream);
    w.produce_records(topic, 2, &records);
    let handle = worker_with(
        &w,
        &avro_worker_keys(&registry.url, Some("sr-user:sr-pass-1")),
        vec![bare_connector(&w, "wavro", topic)],
    );
    w.wait_committed(&handle.rest_url, "wavro", topic, &ends_of(&records, 2));
    w.assert_rows_match(&stream);
    assert_eq!(registry.refused_answers(), 0);
    // Schemas are cached: a handful of reads for thousands of bytes of records.
    assert!(registry.schema_reads() <= 4, "{}", registry.schema_reads());
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn json_schema_values_from_a_registry_with_basic_auth_sync_every_lead() {
    let w = World::new();
    let registry = TestRegistry::start(&w.rt, Some("sr-user:sr-pass-2"));
    let topic = "conv-json-schema";
    let stream = small_stream("js", false);
    let schema = r#"{"type":"object","title":"Lead","properties":{"Id":{"type":"string"},"LastName":{"type":["string","null"]}}}"#;
    let id = registry.register(&w.rt, &format!("{topic}-value"), schema, "JSON");
    let records: Vec<StreamRecord> = stream
        .records
        .iter()
        .map(|r| StreamRecord {
            value: wire(id, &r.value),
            ..r.clone()
        })
        .collect();
    w.produce_records(topic, 2, &records);
    let mut c = bare_connector(&w, "jschema", topic);
    c.extend(pairs(&[
        ("key.converter", JSON),
        ("key.converter.schemas.enable", "false"),
        (
            "value.converter",
            "io.confluent.connect.json.JsonSchemaConverter",
        ),
        ("value.converter.schema.registry.url", &registry.url),
        ("value.converter.basic.auth.credentials.source", "USER_INFO"),
        ("value.converter.basic.auth.user.info", "sr-user:sr-pass-2"),
    ]));
    let handle = worker_with(&w, &[], vec![c]);
    w.wait_committed(&handle.rest_url, "jschema", topic, &ends_of(&records, 2));
    w.assert_rows_match(&stream);
    assert_eq!(registry.refused_answers(), 0);
    assert!(registry.schema_reads() <= 2, "{}", registry.schema_reads());
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_connectors_own_converter_overrides_the_worker_file() {
    let w = World::new();
    let topic = "conv-override";
    let stream = small_stream("ov", false);
    w.produce_stream(topic, 2, &stream);
    let mut connector = bare_connector(&w, "override", topic);
    for (k, v) in [
        ("key.converter", JSON),
        ("key.converter.schemas.enable", "false"),
        ("value.converter", JSON),
        ("value.converter.schemas.enable", "false"),
    ] {
        connector.insert(k.into(), v.into());
    }
    // The worker reads Avro from a registry that does not even exist.
    let handle = worker_with(
        &w,
        &avro_worker_keys("http://127.0.0.1:9", None),
        vec![connector],
    );
    w.wait_committed(
        &handle.rest_url,
        "override",
        topic,
        &ends_of(&stream.records, 2),
    );
    w.assert_rows_match(&stream);
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_registry_down_for_a_few_seconds_delays_records_and_loses_none() {
    let w = World::new();
    let registry = TestRegistry::start(&w.rt, None);
    let topic = "conv-registry-down";
    let dlq = "conv-registry-down-dlq";
    let stream = small_stream("rd", true);
    let records = as_avro(&w, &registry, topic, &stream);
    w.produce_records(topic, 2, &records);
    let mut connector = bare_connector(&w, "rdown", topic);
    // Any record wrongly taken for a bad one would land here.
    connector.insert("errors.tolerance".into(), "all".into());
    connector.insert("errors.deadletterqueue.topic.name".into(), dlq.into());
    registry.go_down_for(Duration::from_secs(4));
    let handle = worker_with(&w, &avro_worker_keys(&registry.url, None), vec![connector]);
    w.wait_committed(&handle.rest_url, "rdown", topic, &ends_of(&records, 2));
    assert!(
        registry.unavailable_answers() > 0,
        "the sink asked while the registry was down"
    );
    w.assert_rows_match(&stream);
    assert!(
        w.kafka.read_all(dlq).is_empty(),
        "no record was dead-lettered"
    );
    let (_, status) = w.rest_get(&format!("{}/connectors/rdown/status", handle.rest_url));
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
    handle.shutdown(Duration::from_secs(10));
}

/// Two good Avro Leads around records the Avro converter cannot read: one naming a
/// schema id the registry lacks, one that is plain JSON (no wire-format header).
fn good_and_bad_avro(
    w: &World,
    registry: &TestRegistry,
    topic: &str,
) -> Vec<(i32, Option<Vec<u8>>, Vec<u8>)> {
    let stream = generate(&StreamSpec {
        leads: 2,
        updates: (0, 0),
        delete_ratio: 0.0,
        partitions: 1,
        seed: 3,
        schema_envelope: true,
        tag: format!("bad{topic}"),
    });
    let avro = as_avro(w, registry, topic, &stream);
    let unknown = {
        let mut v = avro[0].value.clone();
        v[1..5].copy_from_slice(&999u32.to_be_bytes());
        v
    };
    vec![
        (0, Some(avro[0].key.clone()), avro[0].value.clone()),
        (0, None, unknown),
        (0, None, stream.records[1].value.clone()),
        (0, Some(avro[1].key.clone()), avro[1].value.clone()),
    ]
}

#[test]
fn a_record_naming_an_unknown_schema_id_halts_the_task_naming_the_record() {
    let w = World::new();
    let registry = TestRegistry::start(&w.rt, None);
    let topic = "conv-unknown-id";
    let records = good_and_bad_avro(&w, &registry, topic);
    w.produce_raw(topic, 1, &records);
    let handle = worker_with(
        &w,
        &avro_worker_keys(&registry.url, None),
        vec![bare_connector(&w, "unknownid", topic)],
    );
    let trace = failed_trace(&w, &handle.rest_url, "unknownid");
    assert!(trace.contains("BAD_RECORD"), "{trace}");
    assert!(
        trace.contains(&format!("topic={topic} partition=0 offset=1")),
        "{trace}"
    );
    assert!(trace.contains("schema id 999"), "{trace}");
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn unreadable_avro_records_go_to_the_dead_letter_queue_with_tolerance_all() {
    use rdkafka::Message;
    let w = World::new();
    let registry = TestRegistry::start(&w.rt, None);
    let topic = "conv-bad-avro-dlq";
    let dlq = "conv-bad-avro-dlq-letters";
    let records = good_and_bad_avro(&w, &registry, topic);
    w.produce_raw(topic, 1, &records);
    let mut connector = bare_connector(&w, "badavro", topic);
    connector.insert("errors.tolerance".into(), "all".into());
    connector.insert("errors.deadletterqueue.topic.name".into(), dlq.into());
    let handle = worker_with(&w, &avro_worker_keys(&registry.url, None), vec![connector]);
    w.wait_committed(&handle.rest_url, "badavro", topic, &[4]);
    assert_eq!(w.leads_by_source().len(), 2, "the good Leads were written");
    let letters = w.kafka.read_all(dlq);
    assert_eq!(letters.len(), 2, "both unreadable records dead-lettered");
    assert_eq!(letters[0].payload(), Some(records[1].2.as_slice()));
    assert_eq!(letters[1].payload(), Some(records[2].2.as_slice()));
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn protobuf_is_refused_at_validate_and_at_create_naming_the_class() {
    let w = World::new();
    let handle = worker_with(&w, &[], Vec::new());
    let mut config = bare_connector(&w, "proto", "conv-proto");
    config.insert("value.converter".into(), PROTOBUF.into());
    let body = w.rt.block_on(async {
        w.http
            .put(format!(
                "{}/connector-plugins/{PLUGIN}/config/validate",
                handle.rest_url
            ))
            .json(&config)
            .send()
            .await
            .expect("validate answers")
            .json::<Value>()
            .await
            .expect("validate JSON")
    });
    assert!(body["error_count"].as_u64().unwrap_or(0) >= 1, "{body}");
    let entry = body["configs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["value"]["name"] == "value.converter")
        .expect("value.converter is described");
    let errors = entry["value"]["errors"].to_string();
    assert!(errors.contains(PROTOBUF), "{errors}");

    let (status, answer) = w.rt.block_on(async {
        let r = w
            .http
            .post(format!("{}/connectors", handle.rest_url))
            .json(&json!({"name": "proto", "config": config}))
            .send()
            .await
            .expect("create answers");
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )
    });
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].to_string().contains(PROTOBUF), "{answer}");
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn the_registry_password_never_shows_in_rest_answers_or_the_status() {
    let w = World::new();
    let password = "Sr-Pa55word-7";
    let registry = TestRegistry::start(&w.rt, Some(&format!("sr-user:{password}")));
    let topic = "conv-secret";
    let stream = small_stream("sc", true);
    let records = as_avro(&w, &registry, topic, &stream);
    w.produce_records(topic, 2, &records);
    let port = registry.url.trim_start_matches("http://");
    let mut good = bare_connector(&w, "secret", topic);
    for (k, v) in [
        ("key.converter", AVRO.to_string()),
        (
            "key.converter.schema.registry.url",
            format!("http://sr-user:{password}@{port}"),
        ),
        ("value.converter", AVRO.to_string()),
        ("value.converter.schema.registry.url", registry.url.clone()),
        (
            "value.converter.basic.auth.credentials.source",
            "USER_INFO".to_string(),
        ),
        (
            "value.converter.basic.auth.user.info",
            format!("sr-user:{password}"),
        ),
    ] {
        good.insert(k.into(), v);
    }
    // The same with a wrong password: the task fails, and says why without it.
    let wrong_password = "Wr0ng-Pa55-8";
    let mut wrong = good.clone();
    wrong.insert("name".into(), "wrongpw".into());
    wrong.insert("topics".into(), format!("{topic}-wrong"));
    wrong.insert(
        "value.converter.basic.auth.user.info".into(),
        format!("sr-user:{wrong_password}"),
    );
    w.produce_records(&format!("{topic}-wrong"), 2, &records[..1]);
    let handle = worker_with(&w, &[], vec![good, wrong]);
    w.wait_committed(&handle.rest_url, "secret", topic, &ends_of(&records, 2));
    w.assert_rows_match(&stream);
    let trace = failed_trace(&w, &handle.rest_url, "wrongpw");
    assert!(
        trace.contains("refused") && trace.contains("401"),
        "{trace}"
    );
    for name in ["secret", "wrongpw"] {
        for path in ["", "/config", "/status", "/tasks"] {
            let (code, body) = w.rest_get(&format!("{}/connectors/{name}{path}", handle.rest_url));
            assert_eq!(code, 200, "{path}: {body}");
            let text = body.to_string();
            assert!(
                !text.contains(password) && !text.contains(wrong_password),
                "{name}{path} shows a registry password: {text}"
            );
        }
    }
    let (_, config) = w.rest_get(&format!("{}/connectors/secret/config", handle.rest_url));
    assert_eq!(config["value.converter.basic.auth.user.info"], "[hidden]");
    assert_eq!(
        config["key.converter.schema.registry.url"],
        format!("http://[hidden]@{port}")
    );
    handle.shutdown(Duration::from_secs(10));
}
