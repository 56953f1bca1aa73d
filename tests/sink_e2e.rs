//! The sink end to end: a real `tansu` broker, the simulator over real HTTP, and the
//! sink's worker. Each test asserts what an operator cares about: the rows in the
//! org, the committed offsets, the task's status.

mod support;

use serde_json::{json, Value};
use sobject_sink::demo::lead_stream::{self, generate, same_value, StreamRecord, StreamSpec};
use std::time::Duration;
use support::processes::{worker_file, SinkProcess};
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
    use rdkafka::message::Headers;
    use rdkafka::Message;
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
    let mut c = plain(w.connector("badnone", topic));
    c.insert(
        "reporter.bootstrap.servers".into(),
        w.kafka.bootstrap.clone(),
    );
    c.insert(
        "reporter.error.topic.name".into(),
        "e2e-bad-none-errors".into(),
    );
    c.insert("reporter.result.topic.name".into(), String::new());
    let handle = w.start_worker(c);
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
    // The record that halted the task is in the error topic, naming where it sits.
    let reports = w.kafka.read_all("e2e-bad-none-errors");
    assert_eq!(reports.len(), 1, "one error report: the halted record");
    let report: Value = serde_json::from_slice(reports[0].payload().unwrap_or_default())
        .expect("error report is JSON");
    assert_eq!(report["code"], "BAD_RECORD", "{report}");
    let offset = reports[0]
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == "input_record_offset"))
        .and_then(|h| h.value);
    assert_eq!(offset, Some(&b"1"[..]));
    handle.shutdown(Duration::from_secs(10));
}

/// Produces to `topic`: a good Lead (offset 0), a 3 MB value that is not JSON (1, more
/// than a producer may send by default), and another good Lead (2).
fn produce_around_a_huge_bad_record(w: &World, topic: &str, tag: &str) {
    let good = |n: usize| {
        single(
            0,
            &sid(&format!("00Q5e00000{tag}0{n}")),
            "created",
            lead(&format!("Good{n}"), &format!("{tag}{n}@example.org")),
        )
    };
    let (g1, g2) = (good(1), good(2));
    let mut huge = b"\xff".to_vec();
    huge.resize(3 * 1024 * 1024, b'x');
    let producer: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &w.kafka.bootstrap)
        .set("message.max.bytes", "8000000")
        .create()
        .expect("producer");
    w.rt.block_on(async {
        w.kafka.create_topic(topic, 1).await;
        sobject_sink::demo::broker::produce_with(
            &producer,
            topic,
            &[
                (0, Some(g1.key.clone()), g1.value.clone()),
                (0, None, huge),
                (0, Some(g2.key.clone()), g2.value.clone()),
            ],
        )
        .await;
    });
}

fn tolerant(
    mut c: std::collections::BTreeMap<String, String>,
    dlq: &str,
) -> std::collections::BTreeMap<String, String> {
    c.insert("errors.tolerance".into(), "all".into());
    c.insert("errors.deadletterqueue.topic.name".into(), dlq.into());
    plain(c)
}

#[test]
fn a_record_the_dead_letter_queue_refuses_halts_the_task_naming_it() {
    let w = World::new();
    let topic = "e2e-dlq-refuses";
    produce_around_a_huge_bad_record(&w, topic, "Big");
    let c = tolerant(w.connector("dlqrefuses", topic), "e2e-dlq-refuses-dlq");
    let handle = w.start_worker(c);
    let trace = failed_trace(&w, &handle.rest_url, "dlqrefuses");
    assert!(
        trace.contains("SET_ASIDE_FAILED")
            && trace.contains("topic=e2e-dlq-refuses")
            && trace.contains("offset=1")
            && trace.contains("max.request.size"),
        "{trace}"
    );
    assert_eq!(
        w.kafka.committed("connect-dlqrefuses", topic, 1),
        vec![Some(1)],
        "nothing committed past the record that could not be set aside"
    );
    assert!(w.kafka.read_all("e2e-dlq-refuses-dlq").is_empty());
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn dead_letters_go_to_the_workers_cluster_and_reports_to_the_reporters() {
    use rdkafka::Message;
    let w = World::new();
    // A second cluster for the reporter: librdkafka's in-process mock broker.
    let reporter_cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    reporter_cluster
        .create_topic("e2e-two-clusters-errors", 1, 1)
        .expect("error topic on the reporter's cluster");
    reporter_cluster
        .create_topic("e2e-two-clusters-results", 1, 1)
        .expect("result topic on the reporter's cluster");
    let reporter_bootstrap = reporter_cluster.bootstrap_servers();
    let topic = "e2e-two-clusters";
    let good = single(
        0,
        &sid("00Q5e00000Two01"),
        "created",
        lead("Good", "two1@example.org"),
    );
    w.produce_raw(
        topic,
        1,
        &[
            (0, Some(good.key.clone()), good.value.clone()),
            (0, None, b"{not json".to_vec()),
        ],
    );
    let mut c = tolerant(w.connector("twoclusters", topic), "e2e-two-clusters-dlq");
    c.insert(
        "reporter.bootstrap.servers".into(),
        reporter_bootstrap.clone(),
    );
    c.insert(
        "reporter.error.topic.name".into(),
        "e2e-two-clusters-errors".into(),
    );
    c.insert(
        "reporter.result.topic.name".into(),
        "e2e-two-clusters-results".into(),
    );
    let handle = w.start_worker(c);
    w.wait_committed(&handle.rest_url, "twoclusters", topic, &[2]);
    let letters = w.kafka.read_all("e2e-two-clusters-dlq");
    assert_eq!(
        letters.len(),
        1,
        "the dead letter is on the worker's cluster"
    );
    assert_eq!(letters[0].payload(), Some(&b"{not json"[..]));
    // Reads `topic` on the reporter's cluster until `want` records came or a few
    // seconds passed (a record that should not be there gets that long to show up).
    let on_reporter_cluster = |topic: &str, want: usize| -> usize {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &reporter_bootstrap)
            .set("group.id", "e2e-two-clusters-reader")
            .create()
            .expect("reader");
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
        let mut seen = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while seen < want.max(1) && std::time::Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(_)) => seen += 1,
                Some(Err(e)) => eprintln!("reading {topic} on the reporter's cluster: {e}"),
                None => {}
            }
        }
        seen
    };
    assert_eq!(
        on_reporter_cluster("e2e-two-clusters-errors", 1),
        1,
        "the error report is on the reporter's cluster"
    );
    assert_eq!(
        on_reporter_cluster("e2e-two-clusters-results", 1),
        1,
        "the written record's success report is on the reporter's cluster"
    );
    assert_eq!(
        on_reporter_cluster("e2e-two-clusters-dlq", 0),
        0,
        "no dead letter on the reporter's cluster"
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn the_worker_files_producer_settings_reach_the_dead_letter_producer() {
    use rdkafka::Message;
    let w = World::new();
    let topic = "e2e-dlq-big";
    produce_around_a_huge_bad_record(&w, topic, "Bog");
    let mut map = w.worker_map();
    // Java's name, translated for librdkafka (message.max.bytes).
    map.insert("producer.max.request.size".into(), "8000000".into());
    let worker = sobject_sink::config::WorkerConfig::from_map(&map).expect("worker config");
    let c = tolerant(w.connector("dlqbig", topic), "e2e-dlq-big-dlq");
    let handle =
        sobject_sink::connect::worker::WorkerHandle::start(worker, vec![c]).expect("worker starts");
    w.wait_committed(&handle.rest_url, "dlqbig", topic, &[3]);
    let letters = w.kafka.read_all("e2e-dlq-big-dlq");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].payload().map(<[u8]>::len), Some(3 * 1024 * 1024));
    assert_eq!(w.leads_by_source().len(), 2, "both good records flowed");
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn behavior_on_api_errors_log_skips_a_rejected_record_without_tolerance() {
    use rdkafka::Message;
    let w = World::new();
    let topic = "e2e-api-log";
    let a = &sid("00Q5e00000Log01");
    let b = &sid("00Q5e00000Log02");
    let c = &sid("00Q5e00000Log03");
    let recs = vec![
        single(0, a, "created", lead("First", "first@example.org")),
        // Longer than Lead.LastName's 80 characters: Salesforce refuses this one row.
        single(
            0,
            b,
            "created",
            lead(&"Long".repeat(30), "second@example.org"),
        ),
        single(0, c, "created", lead("Third", "third@example.org")),
    ];
    w.produce_records(topic, 1, &recs);
    let mut conn = plain(w.connector("apilog", topic));
    conn.insert("behavior.on.api.errors".into(), "log".into());
    conn.insert(
        "reporter.bootstrap.servers".into(),
        w.kafka.bootstrap.clone(),
    );
    conn.insert(
        "reporter.error.topic.name".into(),
        "e2e-api-log-errors".into(),
    );
    conn.insert("reporter.result.topic.name".into(), String::new());
    let handle = w.start_worker(conn);
    w.wait_committed(&handle.rest_url, "apilog", topic, &[3]);
    let rows = w.leads_by_source();
    assert!(rows.contains_key(a) && rows.contains_key(c) && !rows.contains_key(b));
    let reports = w.kafka.read_all("e2e-api-log-errors");
    assert_eq!(reports.len(), 1, "the rejected record is reported");
    let report: Value = serde_json::from_slice(reports[0].payload().unwrap_or_default())
        .expect("error report is JSON");
    assert_eq!(report["code"], "STRING_TOO_LONG", "{report}");
    let (_, status) = w.rest_get(&format!("{}/connectors/apilog/status", handle.rest_url));
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
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
    let connector = dir.path().join("connector.properties");
    write_properties(&connector, &w.connector("kill9", topic));
    // Each run gets a port that is free when it starts: the first run's port may be
    // taken by another test's client in the seconds between the kill and the restart.
    let start = |label: &str| {
        let (worker, rest) = worker_file(dir.path(), label, &w.kafka.bootstrap, w.worker_tuning);
        let sink = SinkProcess::start(
            dir.path(),
            label,
            "standalone",
            &[worker, connector.clone()],
            &rest,
        );
        sink.wait_rest(&w.rt);
        sink
    };

    let mut first = start("first");
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
    first.kill9();
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
    let mut second = start("second");
    let rest = second.rest.clone();
    w.wait_committed(&rest, "kill9", topic, &ends_of(&stream.records, 4));
    let (_, status) = w.rest_get(&format!("{rest}/connectors/kill9/status"));
    assert_eq!(
        status["tasks"][0]["state"], "RUNNING",
        "replays did not halt the task: {status}"
    );
    w.assert_rows_match(&stream);
    // SIGTERM drains and exits 0.
    let code = second.terminate();
    assert!(
        code.success(),
        "graceful shutdown exits 0: {code:?}; log:\n{}",
        second.log_text()
    );
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

/// The value of a gauge or counter line of the worker's `/metrics` for `connector`.
fn metric(w: &World, rest_url: &str, name: &str, connector: &str) -> Option<f64> {
    let text = w.rt.block_on(async {
        reqwest::get(format!("{rest_url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let labels = format!("connector=\"{connector}\"");
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&labels))
        .find_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
}

/// Write calls the org counted: Composite calls and plain Collections calls.
fn write_calls(w: &World) -> (u64, u64) {
    let counters = w.rt.block_on(w.admin.counters()).expect("counters");
    let collections = counters
        .calls
        .iter()
        .filter(|(k, _)| k.starts_with("collections."))
        .map(|(_, n)| *n)
        .sum();
    (counters.of("composite"), collections)
}

/// 1,000 new Leads on one partition, tagged `tag`.
fn thousand_inserts(tag: &str) -> lead_stream::LeadStream {
    generate(&StreamSpec {
        partitions: 1,
        updates: (0, 0),
        delete_ratio: 0.0,
        ..spec(tag, 1000)
    })
}

#[test]
fn composite_packing_writes_every_row_for_a_fraction_of_the_calls() {
    // Composite packing is on by default.
    let w = World::new();
    let topic = "e2e-composite";
    let stream = thousand_inserts("cp");
    w.produce_stream(topic, 1, &stream);
    let handle = w.start_worker(w.connector("composite", topic));
    w.wait_committed(
        &handle.rest_url,
        "composite",
        topic,
        &ends_of(&stream.records, 1),
    );
    w.assert_rows_match(&stream);
    let (composites, collections) = write_calls(&w);
    assert_eq!(
        metric(
            &w,
            &handle.rest_url,
            "sobject_sink_composite_size",
            "composite"
        ),
        Some(5.0)
    );
    handle.shutdown(Duration::from_secs(10));

    // The same load as plain sObject Collections calls, on purpose.
    let plain_world = World::new();
    let topic = "e2e-composite-off";
    let stream = thousand_inserts("cq");
    plain_world.produce_stream(topic, 1, &stream);
    let mut c = plain_world.connector("nocomposite", topic);
    c.insert("sink.composite.collections".into(), "1".into());
    let handle = plain_world.start_worker(c);
    plain_world.wait_committed(
        &handle.rest_url,
        "nocomposite",
        topic,
        &ends_of(&stream.records, 1),
    );
    plain_world.assert_rows_match(&stream);
    let (plain_composites, plain_collections) = write_calls(&plain_world);
    handle.shutdown(Duration::from_secs(10));

    eprintln!(
        "1,000 records: {composites} composite + {collections} collections calls packed, \
         {plain_composites} + {plain_collections} plain"
    );
    assert_eq!(collections, 0, "every write went in a composite");
    assert!(
        (1..=2).contains(&composites),
        "1,000 records in at most two calls: {composites}"
    );
    assert_eq!(plain_composites, 0);
    assert!(
        plain_collections >= 5,
        "plain Collections calls carry 200 records each: {plain_collections}"
    );
}

#[test]
fn a_failing_record_inside_a_composite_halts_naming_it_or_is_dead_lettered() {
    let w = World::new();
    // Ten Leads in batches of three (four subrequests of one composite); the seventh
    // has no Company, which the org requires.
    let records = |tag: &str| -> Vec<StreamRecord> {
        (0..10)
            .map(|i| {
                let mut payload = lead(&format!("Sub{i}"), &format!("{tag}{i}@example.org"));
                if i == 6 {
                    payload.remove("Company");
                }
                single(
                    0,
                    &sid(&format!("00Q5e00000{tag}{i:02}")),
                    "created",
                    payload,
                )
            })
            .collect()
    };
    let topic = "e2e-composite-halt";
    let recs = records("Cph");
    w.produce_records(topic, 1, &recs);
    let mut c = plain(w.connector("comphalt", topic));
    c.insert("sink.batch.max.records".into(), "3".into());
    let handle = w.start_worker(c);
    let trace = failed_trace(&w, &handle.rest_url, "comphalt");
    for part in [
        "REQUIRED_FIELD_MISSING",
        "topic=e2e-composite-halt",
        "offset=6",
        recs[6].id.as_str(),
    ] {
        assert!(trace.contains(part), "{part} missing in trace: {trace}");
    }
    assert_eq!(
        w.kafka.committed("connect-comphalt", topic, 1),
        vec![Some(6)],
        "commit stops just before the failed record"
    );
    let rows = w.leads_by_source();
    assert!(!rows.contains_key(&recs[6].id));
    assert!(
        rows.contains_key(&recs[5].id) && rows.contains_key(&recs[9].id),
        "the composite's other records are written"
    );
    let (composites, collections) = write_calls(&w);
    assert!(
        composites >= 1 && collections == 0,
        "{composites} {collections}"
    );
    handle.shutdown(Duration::from_secs(10));

    // Tolerated: the record goes to the dead-letter queue and everything is committed.
    let topic = "e2e-composite-dlq";
    let dlq = "e2e-composite-dlq-letters";
    let recs = records("Cpd");
    w.produce_records(topic, 1, &recs);
    let mut c = plain(w.connector("compdlq", topic));
    c.insert("sink.batch.max.records".into(), "3".into());
    c.insert("behavior.on.api.errors".into(), "log".into());
    c.insert("errors.tolerance".into(), "all".into());
    c.insert("errors.deadletterqueue.topic.name".into(), dlq.into());
    let handle = w.start_worker(c);
    w.wait_committed(&handle.rest_url, "compdlq", topic, &[10]);
    let letters = w.kafka.read_all(dlq);
    use rdkafka::Message;
    assert_eq!(letters.len(), 1, "the one bad record is dead-lettered");
    assert_eq!(letters[0].payload(), Some(recs[6].value.as_slice()));
    let rows = w.leads_by_source();
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(rows.contains_key(&r.id), i != 6, "record {i}");
    }
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_composite_that_fails_as_a_whole_is_retried_and_every_row_ends_right() {
    let w = World::new();
    let topic = "e2e-composite-outage";
    let stream = generate(&StreamSpec {
        partitions: 2,
        ..spec("co", 300)
    });
    w.produce_stream(topic, 2, &stream);
    let fault = |nth: u64, fault| sobject_sink::sim::ScriptedFault {
        endpoint: "composite".into(),
        nth,
        times: 1,
        fault,
    };
    use sobject_sink::sim::FaultKind;
    w.rt.block_on(w.admin.set_faults(&sobject_sink::sim::FaultPlan {
        scripts: vec![
            fault(1, FaultKind::ServerUnavailable),
            fault(2, FaultKind::ConnectionReset),
            fault(4, FaultKind::UnknownException),
            fault(6, FaultKind::BadGatewayHtml),
        ],
        ..Default::default()
    }))
    .expect("fault plan");
    let mut c = w.connector("compoutage", topic);
    c.insert("connection.timeout".into(), "5000".into());
    c.insert("sink.retry.backoff.initial.ms".into(), "100".into());
    c.insert("sink.retry.backoff.max.ms".into(), "1000".into());
    let handle = w.start_worker(c);
    w.wait_committed(
        &handle.rest_url,
        "compoutage",
        topic,
        &ends_of(&stream.records, 2),
    );
    w.assert_rows_match(&stream);
    let (_, status) = w.rest_get(&format!("{}/connectors/compoutage/status", handle.rest_url));
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "no halt: {status}");
    let retries = metric(
        &w,
        &handle.rest_url,
        "sobject_sink_retries_total",
        "compoutage",
    );
    assert!(
        retries.is_some_and(|n| n >= 4.0),
        "retries counted: {retries:?}"
    );
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_composite_over_the_org_s_transaction_limits_is_split_without_a_halt() {
    // The org's triggers manage 500 records per transaction: a full composite of 1,000
    // fails as a whole, and its batches go again in smaller composites.
    let w = World::new();
    let topic = "e2e-composite-limit";
    let stream = thousand_inserts("cl");
    w.rt.block_on(w.admin.set_faults(&sobject_sink::sim::FaultPlan {
        transaction_record_limit: Some(500),
        ..Default::default()
    }))
    .expect("fault plan");
    w.produce_stream(topic, 1, &stream);
    let handle = w.start_worker(w.connector("complimit", topic));
    w.wait_committed(
        &handle.rest_url,
        "complimit",
        topic,
        &ends_of(&stream.records, 1),
    );
    w.assert_rows_match(&stream);
    let (_, status) = w.rest_get(&format!("{}/connectors/complimit/status", handle.rest_url));
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "no halt: {status}");
    let size = metric(
        &w,
        &handle.rest_url,
        "sobject_sink_composite_size",
        "complimit",
    );
    assert_eq!(
        size,
        Some(2.0),
        "the task keeps composites of two for a while"
    );
    handle.shutdown(Duration::from_secs(10));
}
