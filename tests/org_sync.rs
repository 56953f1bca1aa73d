//! Org-to-org sync end to end: Change Data Capture records in the format of Confluent's
//! Salesforce CDC Source connector go through a real `tansu` broker and the sink into
//! the simulated org B, and every assertion reads the rows (and their write history)
//! back from the simulator.

mod support;

use serde_json::{json, Value};
use sobject_sink::sim::SimRow;
use std::collections::BTreeMap;
use std::time::Duration;
use support::World;

/// The sample CDC record of a Contact update (`shared/samples/contact-cdc-update.json`).
const SAMPLE: &str = include_str!("fixtures/contact-cdc-update.json");

fn sid(id15: &str) -> String {
    sobject_sink::salesforce::id::to_18(id15).expect("valid 15-character Id")
}

/// One CDC event about `ids` (the first is the value's `Id`): the sample's schema, every
/// row field null except `fields`.
fn cdc(change: &str, ids: &[&str], changed: &[&str], client: &str, fields: Value) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(SAMPLE).expect("sample is JSON");
    let payload = v["payload"].as_object_mut().expect("payload");
    for (name, value) in payload.iter_mut() {
        if !matches!(
            name.as_str(),
            "ChangeEventHeader" | "ReplayId" | "_ObjectType" | "_EventType"
        ) {
            *value = Value::Null;
        }
    }
    payload.insert("Id".into(), json!(ids[0]));
    let header = payload["ChangeEventHeader"]
        .as_object_mut()
        .expect("header");
    header.insert("changeType".into(), json!(change));
    header.insert("recordIds".into(), json!(ids));
    header.insert("changedFields".into(), json!(changed));
    header.insert(
        "changeOrigin".into(),
        json!(format!("com/salesforce/api/rest/62.0;client={client}")),
    );
    for (name, value) in fields.as_object().expect("fields").clone() {
        payload.insert(name, value);
    }
    serde_json::to_vec(&v).expect("serialises")
}

/// A connector writing Contacts by External ID, with the given extra keys.
fn connector(
    w: &World,
    name: &str,
    topic: &str,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let keys = [&[("salesforce.object", "Contact")][..], extra].concat();
    w.connector_with(name, topic, &keys)
}

/// Live Contact rows by their External ID (the org A Id).
fn contacts(w: &World) -> BTreeMap<String, SimRow> {
    w.rt.block_on(w.admin.live_rows("Contact"))
        .expect("rows")
        .into_iter()
        .filter_map(|r| Some((r.str("CustomId__c")?.to_string(), r)))
        .collect()
}

fn metric(w: &World, rest: &str, series: &str) -> f64 {
    let text = w.rt.block_on(async {
        reqwest::get(format!("{rest}/metrics"))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    });
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_cdc_stream_creates_updates_only_changed_fields_merges_deletes_and_skips_its_own_writes() {
    let w = World::new();
    let topic = "org-cdc";
    let (c1, c2, c3) = (
        sid("0035e00000Cdc01"),
        sid("0035e00000Cdc02"),
        sid("0035e00000Cdc03"),
    );
    let own = "org-b-sync";
    let other = "marketing-app";
    let records = [
        cdc(
            "CREATE",
            &[&c1],
            &[],
            other,
            json!({"Name": {"FirstName": "Ada", "LastName": "Lovelace"}, "Title": "Engineer",
                   "Department": "R&D", "Email": "ada@example.org",
                   "MailingAddress": {"Street": "1 Main St", "City": "London"}}),
        ),
        cdc(
            "CREATE",
            &[&c2],
            &[],
            other,
            json!({"Name": {"LastName": "Hopper"}, "Title": "Admiral"}),
        ),
        cdc(
            "CREATE",
            &[&c3],
            &[],
            other,
            json!({"Name": {"LastName": "Turing"}, "Title": "Scientist"}),
        ),
        // A partial update: Department cleared, Email (null: unchanged) kept.
        cdc(
            "UPDATE",
            &[&c1],
            &[
                "Title",
                "Department",
                "Name.FirstName",
                "MailingAddress.City",
                "LastModifiedDate",
            ],
            other,
            json!({"Title": "CTO", "Name": {"FirstName": "Augusta"},
                   "MailingAddress": {"City": "Paris"}, "LastModifiedDate": 1_764_585_121_000_i64}),
        ),
        // A merged event: both rows get the change.
        cdc(
            "UPDATE",
            &[&c2, &c3],
            &["Department"],
            other,
            json!({"Department": "Navy"}),
        ),
        cdc("DELETE", &[&c3], &[], other, json!({})),
        // This sink's own write coming back from the other org: skipped.
        cdc("UPDATE", &[&c2], &["Title"], own, json!({"Title": "ECHO"})),
        cdc(
            "UPDATE",
            &[&c2],
            &["Phone"],
            other,
            json!({"Phone": "555-0100"}),
        ),
    ];
    let produced: Vec<_> = records.into_iter().map(|v| (0, None, v)).collect();
    w.produce_raw(topic, 1, &produced);
    let handle = w.start_worker(connector(
        &w,
        "cdc",
        topic,
        &[("sink.input.format", "cdc"), ("sink.client.id", own)],
    ));
    w.wait_committed(&handle.rest_url, "cdc", topic, &[8]);

    let rows = contacts(&w);
    assert_eq!(rows.len(), 2, "c3 was deleted: {:?}", rows.keys());
    let r1 = &rows[&c1];
    assert_eq!(r1.get("FirstName"), &json!("Augusta"));
    assert_eq!(r1.get("LastName"), &json!("Lovelace"));
    assert_eq!(r1.get("Title"), &json!("CTO"));
    assert_eq!(r1.get("Department"), &Value::Null, "a changed null clears");
    assert_eq!(r1.get("Email"), &json!("ada@example.org"), "unchanged kept");
    assert_eq!(r1.get("MailingCity"), &json!("Paris"));
    assert_eq!(r1.get("MailingStreet"), &json!("1 Main St"));
    let r2 = &rows[&c2];
    assert_eq!(r2.get("Department"), &json!("Navy"), "merged event");
    assert_eq!(
        r2.get("Title"),
        &json!("Admiral"),
        "the echo was not written"
    );
    assert_eq!(r2.get("Phone"), &json!("555-0100"));
    let deleted = w.rt.block_on(w.admin.rows("Contact")).expect("rows");
    assert!(
        deleted
            .iter()
            .any(|r| r.str("CustomId__c") == Some(c3.as_str()) && r.is_deleted()),
        "c3 was created, got the merged change, then was deleted"
    );

    // The update sent exactly its changed fields, and every write named the client.
    let history =
        w.rt.block_on(w.admin.history("Contact", r1.id()))
            .expect("history");
    let update = history.last().expect("writes recorded");
    for sent in ["Title", "Department", "FirstName", "MailingCity"] {
        assert!(
            update.fields.contains_key(sent),
            "{sent} not sent: {update:?}"
        );
    }
    for unchanged in ["Email", "LastName", "MailingStreet", "Phone", "Salutation"] {
        assert!(
            !update.fields.contains_key(unchanged),
            "{unchanged} was sent: {update:?}"
        );
    }
    assert!(
        history.iter().all(|h| h.client.as_deref() == Some(own)),
        "Sforce-Call-Options client on every write: {history:?}"
    );
    let echoes = metric(
        &w,
        &handle.rest_url,
        "sobject_sink_cdc_echoes_skipped_total{connector=\"cdc\"}",
    );
    assert_eq!(echoes, 1.0);
    handle.shutdown(Duration::from_secs(10));
}

/// A create, a gap for the same row, then an update of it.
fn gap_stream(w: &World, topic: &str, id: &str) {
    let records = [
        cdc(
            "CREATE",
            &[id],
            &[],
            "a",
            json!({"Name": {"LastName": "Gap"}, "Title": "Before"}),
        ),
        cdc("GAP_UPDATE", &[id], &[], "a", json!({})),
        cdc("UPDATE", &[id], &["Title"], "a", json!({"Title": "After"})),
    ];
    let produced: Vec<_> = records.into_iter().map(|v| (0, None, v)).collect();
    w.produce_raw(topic, 1, &produced);
}

#[test]
fn a_gap_event_halts_by_default_with_a_resync_trace() {
    let w = World::new();
    let topic = "org-gap-fail";
    let id = sid("0035e00000Gap01");
    gap_stream(&w, topic, &id);
    let handle = w.start_worker(connector(&w, "gapfail", topic, &[]));
    let task = w.wait_task(&handle.rest_url, "gapfail", "FAILED", |t| {
        t["state"] == "FAILED"
    });
    let trace = task["trace"].as_str().unwrap_or_default();
    for part in ["CDC_GAP", "GAP_UPDATE", &id, "offset=1", "resync"] {
        assert!(
            trace.contains(part),
            "{part} missing from the trace: {trace}"
        );
    }
    let committed = w.kafka.committed("connect-gapfail", topic, 1);
    assert_eq!(committed[0], Some(1), "nothing committed past the gap");
    let rows = contacts(&w);
    assert_eq!(rows[&id].get("Title"), &json!("Before"), "the update waits");
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn a_gap_event_is_dead_lettered_and_passed_with_skip() {
    let w = World::new();
    let topic = "org-gap-skip";
    let dlq = "org-gap-skip-dlq";
    let id = sid("0035e00000Gap02");
    gap_stream(&w, topic, &id);
    let handle = w.start_worker(connector(
        &w,
        "gapskip",
        topic,
        &[
            ("sink.cdc.gap.behavior", "skip"),
            ("errors.tolerance", "all"),
            ("errors.deadletterqueue.topic.name", dlq),
        ],
    ));
    w.wait_committed(&handle.rest_url, "gapskip", topic, &[3]);
    assert_eq!(contacts(&w)[&id].get("Title"), &json!("After"));
    let letters = w.kafka.read_all(dlq);
    assert_eq!(letters.len(), 1, "the gap is dead-lettered");
    let payload = rdkafka::Message::payload(&letters[0]).expect("payload");
    let letter: Value = serde_json::from_slice(payload).expect("JSON");
    assert_eq!(
        letter["payload"]["ChangeEventHeader"]["changeType"],
        json!("GAP_UPDATE")
    );
    handle.shutdown(Duration::from_secs(10));
}

/// A PushTopic-format record (schemaless JSON) about `id`.
fn pushtopic(object: &str, id: &str, event: &str, fields: Value) -> Vec<u8> {
    let mut v = fields;
    v["Id"] = json!(id);
    v["_ObjectType"] = json!(object);
    v["_EventType"] = json!(event);
    serde_json::to_vec(&v).expect("serialises")
}

/// A connector for `object` that carries lookups by External ID; parents are looked
/// for again every 0.2 to 1 s.
fn reference_connector(
    w: &World,
    name: &str,
    topic: &str,
    object: &str,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let references = [
        ("salesforce.object", object),
        ("salesforce.ignore.reference.fields", "false"),
        ("sink.references", "external.id"),
        ("sink.retry.backoff.initial.ms", "200"),
        ("sink.retry.backoff.max.ms", "1000"),
        ("value.converter.schemas.enable", "false"),
        ("key.converter.schemas.enable", "false"),
    ];
    w.connector_with(name, topic, &[&references[..], extra].concat())
}

/// Live rows of `object` by their External ID (the org A Id).
fn rows_of(w: &World, object: &str) -> BTreeMap<String, SimRow> {
    w.rt.block_on(w.admin.live_rows(object))
        .expect("rows")
        .into_iter()
        .filter_map(|r| Some((r.str("CustomId__c")?.to_string(), r)))
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + support::PATIENCE;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn children_produced_before_their_parents_point_at_the_right_rows_through_two_connectors() {
    let w = World::new();
    let (accounts, contacts) = ("org-ref-accounts", "org-ref-contacts");
    let (a1, a2) = (sid("0015e00000Ref01"), sid("0015e00000Ref02"));
    let (k1, k2, k3) = (
        sid("0035e00000Ref01"),
        sid("0035e00000Ref02"),
        sid("0035e00000Ref03"),
    );
    let owner = sid("0055e00000Own01");
    // Contacts first: every one waits for its Account; k1 then moves to a2.
    let contact_records = [
        pushtopic(
            "Contact",
            &k1,
            "created",
            json!({"LastName": "One", "AccountId": a1, "OwnerId": owner}),
        ),
        pushtopic(
            "Contact",
            &k2,
            "created",
            json!({"LastName": "Two", "AccountId": a2}),
        ),
        pushtopic("Contact", &k1, "updated", json!({"AccountId": a2})),
        pushtopic(
            "Contact",
            &k3,
            "created",
            json!({"LastName": "Three", "AccountId": a1}),
        ),
    ];
    let produced: Vec<_> = contact_records.into_iter().map(|v| (0, None, v)).collect();
    w.produce_raw(contacts, 1, &produced);
    let contact_sink = w.start_worker(reference_connector(
        &w,
        "refcontacts",
        contacts,
        "Contact",
        &[],
    ));
    let waiting = "sobject_sink_records_waiting_for_parent{connector=\"refcontacts\"}";
    wait_for("contacts waiting for their accounts", || {
        metric(&w, &contact_sink.rest_url, waiting) >= 3.0
    });
    assert!(
        rows_of(&w, "Contact").is_empty(),
        "no child without its parent"
    );
    assert_eq!(
        w.kafka.committed("connect-refcontacts", contacts, 1)[0].unwrap_or(0),
        0,
        "nothing committed past a waiting child"
    );

    // The Accounts, the child of the hierarchy before its parent.
    let account_records = [
        pushtopic(
            "Account",
            &a2,
            "created",
            json!({"Name": "Two Ltd", "ParentId": a1}),
        ),
        pushtopic("Account", &a1, "created", json!({"Name": "One Inc"})),
    ];
    let produced: Vec<_> = account_records.into_iter().map(|v| (0, None, v)).collect();
    w.produce_raw(accounts, 1, &produced);
    let account_sink = w.start_worker(reference_connector(
        &w,
        "refaccounts",
        accounts,
        "Account",
        &[],
    ));
    w.wait_committed(&account_sink.rest_url, "refaccounts", accounts, &[2]);
    w.wait_committed(&contact_sink.rest_url, "refcontacts", contacts, &[4]);

    let accts = rows_of(&w, "Account");
    let id_of = |source: &str| json!(accts[source].id());
    assert_eq!(accts[&a2].get("ParentId"), &id_of(&a1), "hierarchy");
    assert_eq!(accts[&a1].get("ParentId"), &Value::Null);
    let cons = rows_of(&w, "Contact");
    assert_eq!(
        cons[&k1].get("AccountId"),
        &id_of(&a2),
        "moved by the update"
    );
    assert_eq!(cons[&k2].get("AccountId"), &id_of(&a2));
    assert_eq!(cons[&k3].get("AccountId"), &id_of(&a1));
    assert_ne!(
        cons[&k1].get("OwnerId"),
        &json!(owner),
        "org A's owner is not sent"
    );
    let dropped = metric(
        &w,
        &contact_sink.rest_url,
        "sobject_sink_references_dropped_total{connector=\"refcontacts\",field=\"OwnerId\"}",
    );
    // Counted per request sent: k1's create was sent again while it waited.
    assert!(dropped >= 1.0, "OwnerId drops counted: {dropped}");
    assert_eq!(metric(&w, &contact_sink.rest_url, waiting), 0.0);
    contact_sink.shutdown(Duration::from_secs(10));
    account_sink.shutdown(Duration::from_secs(10));
}

#[test]
fn a_parent_that_never_arrives_fails_the_task_naming_it_after_the_wait() {
    let w = World::new();
    let topic = "org-ref-orphan";
    let (k1, k2) = (sid("0035e00000Orp01"), sid("0035e00000Orp02"));
    let missing = sid("0015e00000Orp09");
    let records = [
        pushtopic("Contact", &k1, "created", json!({"LastName": "Fine"})),
        pushtopic(
            "Contact",
            &k2,
            "created",
            json!({"LastName": "Orphan", "AccountId": missing}),
        ),
    ];
    let produced: Vec<_> = records.into_iter().map(|v| (0, None, v)).collect();
    w.produce_raw(topic, 1, &produced);
    let handle = w.start_worker(reference_connector(
        &w,
        "reforphan",
        topic,
        "Contact",
        &[("sink.references.wait.ms", "3000")],
    ));
    let task = w.wait_task(&handle.rest_url, "reforphan", "FAILED", |t| {
        t["state"] == "FAILED"
    });
    let trace = task["trace"].as_str().unwrap_or_default();
    for part in [
        "PARENT_NOT_FOUND",
        missing.as_str(),
        "Account",
        "offset=1",
        "sink.references.wait.ms",
    ] {
        assert!(
            trace.contains(part),
            "{part} missing from the trace: {trace}"
        );
    }
    assert_eq!(w.kafka.committed("connect-reforphan", topic, 1)[0], Some(1));
    let rows = rows_of(&w, "Contact");
    assert!(rows.contains_key(&k1) && !rows.contains_key(&k2));
    handle.shutdown(Duration::from_secs(10));
}

#[test]
fn one_connector_listing_both_sobjects_links_children_to_parents_from_one_topic() {
    let w = World::new();
    let topic = "org-ref-graph";
    let dlq = "org-ref-graph-dlq";
    let (a1, a2) = (sid("0015e00000Grf01"), sid("0015e00000Grf02"));
    let (k1, k2) = (sid("0035e00000Grf01"), sid("0035e00000Grf02"));
    let opp = sid("0065e00000Grf01");
    let records = [
        pushtopic(
            "Contact",
            &k1,
            "created",
            json!({"LastName": "One", "AccountId": a1}),
        ),
        pushtopic(
            "Contact",
            &k2,
            "created",
            json!({"LastName": "Two", "AccountId": a1}),
        ),
        pushtopic("Contact", &k1, "updated", json!({"AccountId": a2})),
        pushtopic(
            "Opportunity",
            &opp,
            "created",
            json!({"Name": "Not listed"}),
        ),
        pushtopic(
            "Account",
            &a2,
            "created",
            json!({"Name": "Two Ltd", "ParentId": a1}),
        ),
        pushtopic("Account", &a1, "created", json!({"Name": "One Inc"})),
    ];
    let produced: Vec<_> = records.into_iter().map(|v| (0, None, v)).collect();
    w.produce_raw(topic, 1, &produced);
    let handle = w.start_worker(reference_connector(
        &w,
        "refgraph",
        topic,
        "Account,Contact",
        &[
            ("errors.tolerance", "all"),
            ("errors.deadletterqueue.topic.name", dlq),
        ],
    ));
    w.wait_committed(&handle.rest_url, "refgraph", topic, &[6]);
    let accts = rows_of(&w, "Account");
    let id_of = |source: &str| json!(accts[source].id());
    assert_eq!(accts[&a2].get("ParentId"), &id_of(&a1));
    let cons = rows_of(&w, "Contact");
    assert_eq!(
        cons[&k1].get("AccountId"),
        &id_of(&a2),
        "moved by the update"
    );
    assert_eq!(cons[&k2].get("AccountId"), &id_of(&a1));
    assert!(rows_of(&w, "Opportunity").is_empty());
    let letters = w.kafka.read_all(dlq);
    assert_eq!(letters.len(), 1, "the Opportunity is a bad record");
    let letter: Value =
        serde_json::from_slice(rdkafka::Message::payload(&letters[0]).expect("payload"))
            .expect("JSON");
    assert_eq!(letter["_ObjectType"], json!("Opportunity"));
    handle.shutdown(Duration::from_secs(10));
}

/// `salesforce.object=*`: one connector starts a writer for each SObject as its first
/// record comes, children still wait for their parents, and every lookup lands.
#[test]
fn every_sobject_a_record_names_gets_a_writer_when_its_first_record_comes() {
    let w = World::new();
    let topic = "org-ref-every";
    let account = sid("0015e00000Evr01");
    let contact = sid("0035e00000Evr01");
    let opportunity = sid("0065e00000Evr01");
    let records = [
        pushtopic(
            "Contact",
            &contact,
            "created",
            json!({"LastName": "Early", "AccountId": account}),
        ),
        pushtopic(
            "Opportunity",
            &opportunity,
            "created",
            json!({"Name": "Big deal", "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": account}),
        ),
        pushtopic("Account", &account, "created", json!({"Name": "Every Inc"})),
    ];
    let produced: Vec<_> = records.into_iter().map(|v| (0, None, v)).collect();
    w.produce_raw(topic, 1, &produced);
    let handle = w.start_worker(reference_connector(&w, "refevery", topic, "*", &[]));
    w.wait_committed(&handle.rest_url, "refevery", topic, &[3]);
    let accounts = rows_of(&w, "Account");
    let account_row = json!(accounts[&account].id());
    assert_eq!(
        rows_of(&w, "Contact")[&contact].get("AccountId"),
        &account_row
    );
    assert_eq!(
        rows_of(&w, "Opportunity")[&opportunity].get("AccountId"),
        &account_row
    );
    handle.shutdown(Duration::from_secs(10));
}
