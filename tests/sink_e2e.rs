//! The sink end to end: a real `tansu` broker, the simulator over real HTTP, and the
//! sink's worker. Each test asserts what an operator cares about: the rows in the
//! org, the committed offsets, the task's status.

mod support;

use serde_json::{json, Value};
use sobject_sink::demo::lead_stream::{self, generate, same_value, StreamRecord, StreamSpec};
use std::time::Duration;
use support::{ends_of, write_properties, World};

fn spec(tag: &str, leads: usize) -> StreamSpec {
    StreamSpec {
        leads,
        tag: tag.into(),
        ..StreamSpec::default()
    }
}

#[test]
fn org_a_to_org_b_sync_leaves_every_row_in_its_last_state() {
    let w = World::new();
    let topic = "e2e-sync";
    let stream = generate(&StreamSpec {
        leads: 1000,
        updates: (0, 4),
        delete_ratio: 0.15,
        partitions: 4,
        tag: "s1".into(),
        ..StreamSpec::default()
    });
    w.produce_stream(topic, 4, &stream);
    let handle = w.start_worker(w.connector("sync", topic));
    w.wait_committed(
        &handle.rest_url,
        "sync",
        topic,
        &ends_of(&stream.records, 4),
    );

    let rows = w.leads_by_source();
    let mut live = 0;
    for (sid, expected) in &stream.expected {
        match expected {
            None => assert!(
                !rows.contains_key(sid),
                "{sid} was deleted in org A but is live in org B"
            ),
            Some(fields) => {
                live += 1;
                let row = rows
                    .get(sid)
                    .unwrap_or_else(|| panic!("{sid} missing in org B"));
                for (k, v) in fields {
                    assert!(
                        same_value(v, &row[k]),
                        "{sid}.{k}: expected {v}, org has {}",
                        row[k]
                    );
                }
                // Read-only, reference, ignored and compound fields never came from the record.
                assert_ne!(
                    row["OwnerId"],
                    json!("0055e000001XyZaAAK"),
                    "reference field was sent"
                );
                assert_ne!(row["CreatedDate"], json!("2025-11-27T00:00:00.000+0000"));
                assert_ne!(row["CleanStatus"], json!("5"), "ignored field was sent");
                assert!(
                    !row["Id"].as_str().unwrap_or_default().eq(sid),
                    "source Id was written"
                );
            }
        }
    }
    assert_eq!(rows.len(), live, "no extra rows");

    // API calls: within 2 × max(ceil(records / 200), most changes to one Id).
    let counters = w.rt.block_on(w.admin.counters()).expect("counters");
    let records = stream.records.len() as u64;
    let bound = 2 * std::cmp::max(records.div_ceil(200), stream.max_changes_per_id as u64);
    let spent = counters.api_units_used;
    eprintln!(
        "{spent} API calls for {records} records (bound {bound}): {:?}",
        counters.calls
    );
    assert!(
        spent <= bound,
        "{spent} API calls for {records} records; bound {bound}; calls {:?}",
        counters.calls
    );
    let metrics = w.rt.block_on(async {
        reqwest::get(format!("{}/metrics", handle.rest_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains("sobject_sink_records_total"),
        "metrics are served"
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn changes_to_one_id_are_applied_in_kafka_order() {
    let w = World::new();
    let topic = "e2e-order";
    // 50 Ids × 100 updates, keyed by Id over 4 partitions, interleaved.
    let stream = generate(&StreamSpec {
        leads: 50,
        updates: (99, 99),
        delete_ratio: 0.0,
        partitions: 4,
        tag: "o2".into(),
        ..StreamSpec::default()
    });
    w.produce_stream(topic, 4, &stream);
    let handle = w.start_worker(w.connector("order", topic));
    w.wait_committed(
        &handle.rest_url,
        "order",
        topic,
        &ends_of(&stream.records, 4),
    );
    let rows = w.leads_by_source();
    assert_eq!(rows.len(), 50);
    for (sid, row) in rows {
        let id = row["Id"].as_str().unwrap().to_string();
        let history =
            w.rt.block_on(w.admin.history("Lead", &id))
                .expect("history");
        // Each change stamps its version into Title ("... vN"): the org must have seen
        // v0, v1, ..., v99 in that order.
        let versions: Vec<u32> = history
            .iter()
            .filter_map(|h| h.fields.get("Title").and_then(Value::as_str))
            .filter_map(|t| t.rsplit('v').next()?.parse().ok())
            .collect();
        assert_eq!(
            versions,
            (0..100).collect::<Vec<_>>(),
            "write order of {sid}"
        );
    }
    handle.shutdown(Duration::from_secs(10));
}

fn sid(id15: &str) -> String {
    sobject_sink::salesforce::id::to_18(id15).expect("valid 15-character Id")
}

fn failed_trace(w: &World, rest: &str, name: &str) -> String {
    let task = w.wait_task(rest, name, "FAILED", |t| t["state"] == "FAILED");
    task["trace"].as_str().unwrap_or_default().to_string()
}

fn single(
    partition: i32,
    sid: &str,
    event: &'static str,
    payload: serde_json::Map<String, Value>,
) -> StreamRecord {
    let mut p = payload;
    p.insert("Id".into(), json!(sid));
    p.insert("_EventType".into(), json!(event));
    StreamRecord {
        partition,
        key: lead_stream::encode_key(sid, false),
        value: lead_stream::encode_value(&p, false),
        id: sid.to_string(),
        event,
    }
}

fn lead(last: &str, email: &str) -> serde_json::Map<String, Value> {
    json!({"LastName": last, "Company": "Acme", "Email": email, "Status": "Open - Not Contacted", "_ObjectType": "Lead"})
        .as_object()
        .cloned()
        .unwrap()
}

fn plain(
    mut c: std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    c.insert("value.converter.schemas.enable".into(), "false".into());
    c.insert("key.converter.schemas.enable".into(), "false".into());
    c
}

#[test]
fn insert_rejected_by_a_duplicate_rule_halts_and_resumes_after_the_fix() {
    let w = World::new();
    let topic = "e2e-dup-rule";
    let a = &sid("00Q5e00000Dup01");
    let b = &sid("00Q5e00000Dup02");
    let c = &sid("00Q5e00000Dup03");
    let recs = vec![
        single(0, a, "created", lead("First", "same@example.org")),
        single(0, b, "created", lead("Second", "same@example.org")),
        single(0, c, "created", lead("Third", "third@example.org")),
    ];
    w.produce_records(topic, 1, &recs);
    let handle = w.start_worker(plain(w.connector("duprule", topic)));
    let trace = failed_trace(&w, &handle.rest_url, "duprule");
    for part in [
        "DUPLICATES_DETECTED",
        "topic=e2e-dup-rule",
        "partition=0",
        "offset=1",
        b,
    ] {
        assert!(trace.contains(part), "{part} missing in trace: {trace}");
    }
    let group = "connect-duprule";
    assert_eq!(
        w.kafka.committed(group, topic, 1),
        vec![Some(1)],
        "commit stops before the failed record"
    );

    // The operator removes the first row, then restarts the task: it resumes at record 1.
    let rows = w.leads_by_source();
    let first_id = rows[a]["Id"].as_str().unwrap().to_string();
    delete_in_org(&w, &first_id);
    let code = w.rest_send(
        reqwest::Method::POST,
        &format!("{}/connectors/duprule/tasks/0/restart", handle.rest_url),
    );
    assert_eq!(code, 204);
    w.wait_committed(&handle.rest_url, "duprule", topic, &[3]);
    let rows = w.leads_by_source();
    assert!(rows.contains_key(b) && rows.contains_key(c));
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn duplicate_insert_without_external_id_halts_on_duplicate_value() {
    let w = World::new();
    let topic = "e2e-dup-value";
    let mut first = lead("One", "one@example.org");
    first.insert("CustomId__c".into(), json!("same-external-id"));
    let mut second = lead("Two", "two@example.org");
    second.insert("CustomId__c".into(), json!("same-external-id"));
    let recs = vec![
        single(0, &sid("00Q5e00000Val01"), "created", first),
        single(0, &sid("00Q5e00000Val02"), "created", second),
    ];
    w.produce_records(topic, 1, &recs);
    let mut c = plain(w.connector("dupvalue", topic));
    c.insert("salesforce.use.custom.id.field".into(), "false".into());
    c.remove("salesforce.custom.id.field.name");
    let handle = w.start_worker(c);
    let trace = failed_trace(&w, &handle.rest_url, "dupvalue");
    assert!(trace.contains("DUPLICATE_VALUE"), "{trace}");
    assert!(trace.contains("offset=1"), "{trace}");
    assert_eq!(
        w.kafka.committed("connect-dupvalue", topic, 1),
        vec![Some(1)]
    );
    handle.shutdown(Duration::from_secs(10));
}

/// Creates a Lead directly in the org and returns its Id.
fn create_in_org(w: &World, last: &str, email: &str) -> String {
    let token = w.sim_token();
    w.rt.block_on(async {
        let v: Value = w
            .http
            .post(format!("{}/services/data/v62.0/sobjects/Lead/", w.org_url))
            .bearer_auth(&token)
            .json(&json!({"LastName": last, "Company": "Acme", "Email": email}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["id"].as_str().expect("created").to_string()
    })
}

fn delete_in_org(w: &World, id: &str) {
    let token = w.sim_token();
    w.rt.block_on(async {
        let r = w
            .http
            .delete(format!(
                "{}/services/data/v62.0/sobjects/Lead/{id}",
                w.org_url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
    });
}

fn by_id_connector(
    w: &World,
    name: &str,
    topic: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut c = plain(w.connector(name, topic));
    c.insert("salesforce.use.custom.id.field".into(), "false".into());
    c.remove("salesforce.custom.id.field.name");
    c
}

#[test]
fn update_of_an_unknown_id_halts_with_not_found() {
    let w = World::new();
    let topic = "e2e-unknown-id";
    let live = create_in_org(&w, "Known", "known@example.org");
    let unknown = sid("00Q5e00000Zzz99");
    let recs = vec![
        single(0, &live, "updated", lead("Known2", "known@example.org")),
        single(0, &unknown, "updated", lead("Ghost", "ghost@example.org")),
    ];
    w.produce_records(topic, 1, &recs);
    let handle = w.start_worker(by_id_connector(&w, "unknownid", topic));
    let trace = failed_trace(&w, &handle.rest_url, "unknownid");
    assert!(trace.contains("NOT_FOUND"), "{trace}");
    assert!(
        trace.contains(&unknown) && trace.contains("offset=1"),
        "{trace}"
    );
    assert_eq!(
        w.kafka.committed("connect-unknownid", topic, 1),
        vec![Some(1)]
    );
    let row = w.rt.block_on(w.admin.row("Lead", &live)).unwrap().unwrap();
    assert_eq!(
        row.str("LastName"),
        Some("Known2"),
        "the record before the failure was written"
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn update_of_a_deleted_id_halts_with_entity_is_deleted_and_resumes_after_restart() {
    let w = World::new();
    let topic = "e2e-deleted-id";
    let gone = create_in_org(&w, "Gone", "gone@example.org");
    delete_in_org(&w, &gone);
    let other = create_in_org(&w, "Other", "other@example.org");
    let recs = vec![
        single(0, &gone, "updated", lead("Gone2", "gone@example.org")),
        single(0, &other, "updated", lead("Other2", "other@example.org")),
    ];
    w.produce_records(topic, 1, &recs);
    let handle = w.start_worker(by_id_connector(&w, "deletedid", topic));
    let trace = failed_trace(&w, &handle.rest_url, "deletedid");
    assert!(
        trace.contains("ENTITY_IS_DELETED") && trace.contains(&gone) && trace.contains("offset=0"),
        "{trace}"
    );
    assert_eq!(
        w.kafka.committed("connect-deletedid", topic, 1),
        vec![Some(0)]
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_missing_external_id_field_fails_the_task_at_start_naming_the_field() {
    let w = World::new();
    let topic = "e2e-missing-ext";
    w.produce_records(
        topic,
        1,
        &[single(
            0,
            &sid("00Q5e00000Ext01"),
            "created",
            lead("X", "x@example.org"),
        )],
    );
    let mut c = w.connector("missingext", topic);
    c.insert(
        "salesforce.custom.id.field.name".into(),
        "Missing__c".into(),
    );
    let handle = w.start_worker(c);
    let trace = failed_trace(&w, &handle.rest_url, "missingext");
    assert!(trace.contains("Missing__c"), "{trace}");
    assert!(w.leads_by_source().is_empty(), "nothing was written");
    assert_eq!(
        w.kafka.committed("connect-missingext", topic, 1),
        vec![None]
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_bad_record_fails_the_task_without_tolerance() {
    let w = World::new();
    let topic = "e2e-bad-none";
    let good = single(
        0,
        &sid("00Q5e00000Bad01"),
        "created",
        lead("Good", "good1@example.org"),
    );
    w.produce_raw(
        topic,
        1,
        &[
            (0, Some(good.key.clone()), good.value.clone()),
            (0, None, b"{not json".to_vec()),
        ],
    );
    let handle = w.start_worker(plain(w.connector("badnone", topic)));
    let trace = failed_trace(&w, &handle.rest_url, "badnone");
    assert!(
        trace.contains("BAD_RECORD")
            && trace.contains("topic=e2e-bad-none")
            && trace.contains("offset=1"),
        "{trace}"
    );
    assert_eq!(
        w.kafka.committed("connect-badnone", topic, 1),
        vec![Some(1)]
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn bad_records_go_to_the_dead_letter_queue_with_tolerance_all() {
    use rdkafka::message::Headers;
    use rdkafka::Message;
    let w = World::new();
    let topic = "e2e-bad-all";
    let dlq = "e2e-bad-all-dlq";
    let envelope = |id: &str, last: &str, email: &str| {
        let mut p = lead(last, email);
        p.insert("Id".into(), json!(id));
        p.insert("_EventType".into(), json!("created"));
        lead_stream::encode_value(&p, true)
    };
    let g1 = envelope(&sid("00Q5e00000Dlq01"), "Good1", "dlq1@example.org");
    let g2 = envelope(&sid("00Q5e00000Dlq02"), "Good2", "dlq2@example.org");
    // An update without Id: the schema says Id is required.
    let mut no_id_payload = lead("NoId", "noid@example.org");
    no_id_payload.insert("Id".into(), Value::Null);
    no_id_payload.insert("_EventType".into(), json!("updated"));
    let no_id = lead_stream::encode_value(&no_id_payload, true);
    // A number field carrying text, against its int32 schema.
    let mut wrong = lead("Wrong", "wrong@example.org");
    wrong.insert("Id".into(), json!(sid("00Q5e00000Dlq03")));
    wrong.insert("_EventType".into(), json!("created"));
    wrong.insert("NumberOfEmployees".into(), json!("many"));
    let wrong_type = lead_stream::encode_value(&wrong, true);
    w.produce_raw(
        topic,
        1,
        &[
            (0, None, g1),
            (0, Some(b"k1".to_vec()), b"\xffnot json".to_vec()),
            (0, None, no_id.clone()),
            (0, None, wrong_type.clone()),
            (0, None, g2),
        ],
    );
    let mut c = w.connector("badall", topic);
    c.insert("errors.tolerance".into(), "all".into());
    c.insert("errors.deadletterqueue.topic.name".into(), dlq.into());
    c.insert(
        "errors.deadletterqueue.context.headers.enable".into(),
        "true".into(),
    );
    let handle = w.start_worker(c);
    w.wait_committed(&handle.rest_url, "badall", topic, &[5]);
    let rows = w.leads_by_source();
    assert_eq!(rows.len(), 2, "good records flowed on");
    let letters = w.kafka.read_all(dlq);
    assert_eq!(letters.len(), 3, "three bad records dead-lettered");
    assert_eq!(
        letters[0].payload(),
        Some(&b"\xffnot json"[..]),
        "original bytes kept"
    );
    assert_eq!(letters[0].key(), Some(&b"k1"[..]));
    let headers = letters[0].headers().expect("error headers");
    let offset = headers
        .iter()
        .find(|h| h.key == "__connect.errors.offset")
        .and_then(|h| h.value)
        .expect("offset header");
    assert_eq!(offset, b"1");
    assert_eq!(letters[1].payload(), Some(no_id.as_slice()));
    assert_eq!(letters[2].payload(), Some(wrong_type.as_slice()));
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn transient_faults_are_retried_until_every_row_is_right() {
    let w = World::new();
    let topic = "e2e-transient";
    let stream = generate(&StreamSpec {
        partitions: 2,
        ..spec("t4", 300)
    });
    w.rt.block_on(w.admin.set_faults(&sobject_sink::sim::FaultPlan {
        server_unavailable_rate: 0.3,
        connection_reset_rate: 0.05,
        unable_to_lock_row_rate: 0.1,
        seed: 4,
        ..Default::default()
    }))
    .expect("fault plan");
    w.produce_stream(topic, 2, &stream);
    let mut c = w.connector("transient", topic);
    c.insert("connection.timeout".into(), "5000".into());
    // With a fault on about a third of the calls, a batch can fail six times running;
    // at the default backoff (1 s doubling to 60 s) that alone waits minutes.
    c.insert("sink.retry.backoff.initial.ms".into(), "100".into());
    c.insert("sink.retry.backoff.max.ms".into(), "2000".into());
    let handle = w.start_worker(c);
    w.wait_committed(
        &handle.rest_url,
        "transient",
        topic,
        &ends_of(&stream.records, 2),
    );
    w.assert_rows_match(&stream);
    let (_, status) = w.rest_get(&format!("{}/connectors/transient/status", handle.rest_url));
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "no halt: {status}");
    let metrics = w.rt.block_on(async {
        reqwest::get(format!("{}/metrics", handle.rest_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(
        metrics.contains("sobject_sink_retries_total"),
        "retries are counted"
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_spent_retry_budget_fails_the_task() {
    let w = World::new();
    let topic = "e2e-budget-spent";
    let stream = generate(&StreamSpec {
        partitions: 1,
        ..spec("t4b", 5)
    });
    let mut c = w.connector("spent", topic);
    c.insert("request.max.retries.time.ms".into(), "1500".into());
    w.produce_records(topic, 1, &[]);
    let handle = w.start_worker(c);
    w.wait_task(&handle.rest_url, "spent", "RUNNING", |t| {
        t["state"] == "RUNNING"
    });
    // The org goes down for good once the task runs.
    w.rt.block_on(w.admin.set_faults(&sobject_sink::sim::FaultPlan {
        server_unavailable_rate: 1.0,
        ..Default::default()
    }))
    .expect("fault plan");
    w.produce_stream(topic, 1, &stream);
    let trace = failed_trace(&w, &handle.rest_url, "spent");
    assert!(
        trace.contains("RETRIES_EXHAUSTED") && trace.contains("offset=0"),
        "{trace}"
    );
    let committed = w.kafka.committed("connect-spent", topic, 1)[0];
    assert!(
        matches!(committed, None | Some(0)),
        "nothing past the failed record is committed: {committed:?}"
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_revoked_token_costs_one_login_and_loses_nothing() {
    let w = World::new();
    let topic = "e2e-revoked";
    let stream = generate(&StreamSpec {
        partitions: 1,
        ..spec("t5", 200)
    });
    let half = stream.records.len() / 2;
    w.produce_records(topic, 1, &stream.records[..half]);
    let handle = w.start_worker(w.connector("revoked", topic));
    w.wait_committed(&handle.rest_url, "revoked", topic, &[half as i64]);
    let logins_before = w.rt.block_on(w.admin.counters()).unwrap().of("oauth.token");
    let revoked = w.rt.block_on(w.admin.revoke_tokens()).expect("revoke");
    assert!(revoked >= 1);
    w.produce_records(topic, 1, &stream.records[half..]);
    w.wait_committed(
        &handle.rest_url,
        "revoked",
        topic,
        &[stream.records.len() as i64],
    );
    let logins_after = w.rt.block_on(w.admin.counters()).unwrap().of("oauth.token");
    assert_eq!(logins_after - logins_before, 1, "exactly one new login");
    let rows = w.leads_by_source();
    let live = stream.expected.values().filter(|e| e.is_some()).count();
    assert_eq!(rows.len(), live);
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_nearly_spent_allocation_pauses_the_task_until_it_is_raised() {
    let w = World::new();
    let topic = "e2e-allocation";
    let stream = generate(&StreamSpec {
        partitions: 1,
        updates: (3, 3),
        ..spec("t6", 400)
    });
    w.produce_stream(topic, 1, &stream);
    // 10% reserve of 1,000 = 100 calls kept back; 880 used leaves 20 for the sink.
    w.rt.block_on(w.admin.set_limits(&sobject_sink::sim::admin::LimitsUpdate {
        max: Some(1000),
        used: Some(880),
    }))
    .expect("limits");
    let mut c = w.connector("allocation", topic);
    c.insert("sink.api.daily.reserve.percent".into(), "10".into());
    c.insert("sink.api.budget.poll.ms".into(), "200".into());
    c.insert("sink.batch.max.records".into(), "10".into());
    let handle = w.start_worker(c);
    let task = w.wait_task(
        &handle.rest_url,
        "allocation",
        "PAUSED for the API budget",
        |t| t["state"] == "PAUSED",
    );
    assert!(
        task["trace"]
            .as_str()
            .unwrap_or_default()
            .contains("allocation"),
        "{task}"
    );
    // While paused the task reads `/limits` every poll interval, and each read is a
    // call Salesforce counts. Everything else stopped at the reserve's edge.
    let (used, polls) = w.rt.block_on(async {
        let used = w.admin.limits().await.unwrap();
        let counters = w.admin.counters().await.unwrap();
        (used, counters.of("limits"))
    });
    assert!(
        used.used - polls <= 900,
        "writes respected the reserve: {used:?} with {polls} polls"
    );
    w.rt.block_on(w.admin.set_limits(&sobject_sink::sim::admin::LimitsUpdate {
        max: Some(100_000),
        used: None,
    }))
    .expect("raise");
    w.wait_committed(
        &handle.rest_url,
        "allocation",
        topic,
        &ends_of(&stream.records, 1),
    );
    let counters = w.rt.block_on(w.admin.counters()).unwrap();
    assert!(counters.api_units_used <= counters.api_units_max);
    let metrics = w.rt.block_on(async {
        reqwest::get(format!("{}/metrics", handle.rest_url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let refused: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("sobject_sink_api_calls_total") && l.contains("status=\"403\""))
        .collect();
    assert!(
        refused.is_empty(),
        "the sink never triggered REQUEST_LIMIT_EXCEEDED: {refused:?}"
    );
    assert!(
        metrics.contains("sobject_sink_api_calls_total{connector=\"allocation\""),
        "calls are counted by status"
    );
    handle.shutdown(Duration::from_secs(10));
}

/// A sink process that is killed when the test lets go of it (also when it fails).
struct SinkProcess(std::process::Child);

impl Drop for SinkProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_sink(dir: &std::path::Path) -> SinkProcess {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sobject-sink"))
        .arg("standalone")
        .arg(dir.join("worker.properties"))
        .arg(dir.join("connector.properties"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("the sobject-sink binary starts");
    SinkProcess(child)
}

#[test]
fn a_killed_sink_replays_without_halting_and_every_row_ends_right() {
    let w = World::new();
    let topic = "e2e-kill9";
    let stream = generate(&StreamSpec {
        leads: 5500,
        updates: (1, 4),
        delete_ratio: 0.2,
        partitions: 4,
        tag: "k8".into(),
        ..StreamSpec::default()
    });
    assert!(
        stream.records.len() >= 18_000,
        "about 20,000 records: {}",
        stream.records.len()
    );
    w.produce_stream(topic, 4, &stream);
    // Every call takes 100 ms, so the run lasts seconds on any machine and the kill
    // lands in the middle of it rather than after the last commit.
    w.rt.block_on(w.admin.set_faults(&sobject_sink::sim::FaultPlan {
        latency_ms: 100,
        ..Default::default()
    }))
    .expect("fault plan");
    let dir = tempfile::tempdir().unwrap();
    let port = sobject_sink::demo::broker::free_port();
    let rest = format!("http://127.0.0.1:{port}");
    let mut worker = w.worker_map();
    worker.insert("listeners".into(), rest.clone());
    write_properties(&dir.path().join("worker.properties"), &worker);
    write_properties(
        &dir.path().join("connector.properties"),
        &w.connector("kill9", topic),
    );

    let mut first = spawn_sink(dir.path());
    // Kill it in the middle: once a quarter of the records are committed.
    let group = "connect-kill9";
    let total = stream.records.len() as i64;
    let deadline = std::time::Instant::now() + support::PATIENCE;
    loop {
        let committed: i64 = w
            .kafka
            .committed(group, topic, 4)
            .into_iter()
            .flatten()
            .sum();
        if committed >= total / 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first run made no progress"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    first.0.kill().expect("kill -9");
    let _ = first.0.wait();
    let committed: i64 = w
        .kafka
        .committed(group, topic, 4)
        .into_iter()
        .flatten()
        .sum();
    assert!(
        committed < total,
        "killed in the middle ({committed} of {total} committed)"
    );

    // A restart after the dead consumer's session timeout (10 s), as an operator's
    // restart would be: tansu drops a dead member only when another joins after that
    // timeout, and a member joining sooner can wait forever for it to rejoin.
    std::thread::sleep(Duration::from_secs(11));
    let mut second = spawn_sink(dir.path());
    w.wait_committed(&rest, "kill9", topic, &ends_of(&stream.records, 4));
    let (_, status) = w.rest_get(&format!("{rest}/connectors/kill9/status"));
    assert_eq!(
        status["tasks"][0]["state"], "RUNNING",
        "replays did not halt the task: {status}"
    );
    w.assert_rows_match(&stream);
    // SIGTERM drains and exits 0.
    unsafe {
        libc::kill(second.0.id() as i32, libc::SIGTERM);
    }
    let code = second.0.wait().expect("exit");
    assert!(code.success(), "graceful shutdown exits 0: {code:?}");
}

/// The sink's own counter `sobject_sink_bulk_jobs_total` for `connector` and `state`.
fn bulk_jobs(w: &World, rest_url: &str, connector: &str, state: &str) -> u64 {
    let text = w.rt.block_on(async {
        reqwest::get(format!("{rest_url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let labels = format!("connector=\"{connector}\"");
    let state = format!("state=\"{state}\"");
    text.lines()
        .filter(|l| l.starts_with("sobject_sink_bulk_jobs_total{"))
        .filter(|l| l.contains(&labels) && l.contains(&state))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_backlog_goes_through_bulk_jobs_and_a_bad_row_in_a_job_halts_naming_it() {
    let w = World::new();
    // Calls take 100 ms, as they would across the internet.
    w.rt.block_on(w.admin.set_faults(&sobject_sink::sim::FaultPlan {
        latency_ms: 100,
        ..Default::default()
    }))
    .expect("fault plan");
    let bulk_connector = |name: &str, topic: &str| {
        let mut c = w.connector(name, topic);
        c.insert("sink.bulk.threshold.records".into(), "400".into());
        c.insert("sink.max.in.flight.requests".into(), "1".into());
        c
    };

    // Creates, updates and deletes of 1,500 Leads: a backlog of about 4,000 records,
    // over the threshold of 400.
    let topic = "e2e-bulk";
    let stream = generate(&StreamSpec {
        partitions: 1,
        updates: (1, 2),
        ..spec("bk", 1500)
    });
    w.produce_stream(topic, 1, &stream);
    let handle = w.start_worker(bulk_connector("bulk", topic));
    w.wait_committed(
        &handle.rest_url,
        "bulk",
        topic,
        &ends_of(&stream.records, 1),
    );
    w.assert_rows_match(&stream);
    assert!(
        bulk_jobs(&w, &handle.rest_url, "bulk", "JobComplete") >= 1,
        "the backlog went through at least one completed job"
    );
    let uploads = w.rt.block_on(w.admin.counters()).unwrap().of("bulk.upload");
    assert!(uploads >= 1, "CSV was uploaded to the org");
    handle.shutdown(Duration::from_secs(10));

    // 700 new Leads; the one at offset 500 matches a row already in the org by the
    // Lead duplicate rule (same Email), and it travels in a bulk job.
    let topic = "e2e-bulk-halt";
    create_in_org(&w, "Existing", "taken@example.org");
    let recs: Vec<StreamRecord> = (0..700)
        .map(|i| {
            let email = if i == 500 {
                "taken@example.org".to_string()
            } else {
                format!("bulk{i}@example.org")
            };
            single(
                0,
                &sid(&format!("00Q5e0000Bk{i:04}")),
                "created",
                lead(&format!("Bulk{i}"), &email),
            )
        })
        .collect();
    w.produce_records(topic, 1, &recs);
    let handle = w.start_worker(plain(bulk_connector("bulkhalt", topic)));
    let trace = failed_trace(&w, &handle.rest_url, "bulkhalt");
    let bad = &recs[500].id;
    for part in [
        "DUPLICATES_DETECTED",
        "topic=e2e-bulk-halt",
        "partition=0",
        "offset=500",
        bad.as_str(),
    ] {
        assert!(trace.contains(part), "{part} missing in trace: {trace}");
    }
    assert_eq!(
        w.kafka.committed("connect-bulkhalt", topic, 1),
        vec![Some(500)],
        "commit stops just before the failed record"
    );
    assert!(
        bulk_jobs(&w, &handle.rest_url, "bulkhalt", "JobComplete") >= 1,
        "the failed row came back from a bulk job"
    );
    let rows = w.leads_by_source();
    assert!(
        rows.contains_key(&recs[499].id) && rows.contains_key(&recs[699].id),
        "the job's other rows are written"
    );
    assert!(!rows.contains_key(bad));
    handle.shutdown(Duration::from_secs(10));
}
