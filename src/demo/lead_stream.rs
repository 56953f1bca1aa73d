//! A realistic stream of Lead changes in the PushTopic source's format, and the state
//! each row must end in.
//!
//! The quickstart, the load benchmark and the end-to-end tests all need the same thing:
//! Leads of "org A" (real-looking 18-character Ids) that are created, updated several
//! times and sometimes deleted, serialised the way Confluent's PushTopic source writes
//! them (JsonConverter with the schema envelope, ~2 KB each, with read-only system
//! fields, a reference `OwnerId`, the compound `Address`, and the odd `CleanStatus`
//! value), keyed by Id, and interleaved across Ids while each Id's changes stay in
//! order. Next to the records it returns the expected final state per Id.

use crate::salesforce::id;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What to generate.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Distinct Leads.
    pub leads: usize,
    /// Updates per Lead, drawn uniformly from this range (inclusive).
    pub updates: (usize, usize),
    /// Share of Leads deleted at the end of their history.
    pub delete_ratio: f64,
    /// Partitions to spread the Ids over (by Id).
    pub partitions: i32,
    /// Random seed: the same spec gives the same stream.
    pub seed: u64,
    /// Write the schema envelope (`schemas.enable=true`) or the bare payload.
    pub schema_envelope: bool,
    /// A prefix for Ids and e-mail addresses, so that streams of different tests
    /// never collide in one org.
    pub tag: String,
}

impl Default for StreamSpec {
    fn default() -> Self {
        Self {
            leads: 1000,
            updates: (1, 4),
            delete_ratio: 0.1,
            partitions: 4,
            seed: 7,
            schema_envelope: true,
            tag: "a".into(),
        }
    }
}

/// One Kafka record to produce.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// Target partition.
    pub partition: i32,
    /// Key bytes (`{"Id": ...}` in the envelope format when values have one).
    pub key: Vec<u8>,
    /// Value bytes.
    pub value: Vec<u8>,
    /// The Lead's source Id.
    pub id: String,
    /// `created`, `updated` or `deleted`.
    pub event: &'static str,
}

/// A generated stream and the end state it implies.
#[derive(Debug, Clone)]
pub struct LeadStream {
    /// Records in production order.
    pub records: Vec<StreamRecord>,
    /// Per source Id: the writable fields of its last change, or `None` if deleted.
    pub expected: BTreeMap<String, Option<Map<String, Value>>>,
    /// The most changes any one Id has.
    pub max_changes_per_id: usize,
}

/// The fields a sync writes to the target org (createable and updateable on Lead),
/// which the expected state lists.
pub const WRITTEN_FIELDS: &[&str] = &[
    "LastName",
    "FirstName",
    "Salutation",
    "Title",
    "Company",
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "Phone",
    "Email",
    "Website",
    "LeadSource",
    "Status",
    "Industry",
    "AnnualRevenue",
    "NumberOfEmployees",
];

const FIRST: &[&str] = &[
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim",
];
const LAST: &[&str] = &[
    "Okafor", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman",
    "Berners",
];
const TITLES: &[&str] = &[
    "Head of Data",
    "VP Data",
    "CTO",
    "Engineer",
    "Analyst",
    "Director of IT",
];
const STATUSES: &[&str] = &[
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Not Converted",
];
const SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
const INDUSTRIES: &[&str] = &["Technology", "Finance", "Healthcare", "Retail", "Energy"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Leeds", "LS1 4AB", "United Kingdom"),
    ("Lyon", "69002", "France"),
    ("Austin", "78701", "United States"),
    ("Porto", "4000-322", "Portugal"),
];

fn schema_fields() -> Value {
    let s = |name: &str| json!({"field": name, "type": "string", "optional": true});
    let ts = |name: &str| json!({"field": name, "type": "int64", "optional": true, "name": "org.apache.kafka.connect.data.Timestamp", "version": 1});
    let address = json!({"field": "Address", "type": "struct", "optional": true, "name": "io.confluent.salesforce.Address", "fields": [
        s("GeocodeAccuracy"), s("State"), s("Street"), s("PostalCode"), s("Country"),
        {"field": "Latitude", "type": "double", "optional": true}, s("City"),
        {"field": "Longitude", "type": "double", "optional": true}, s("CountryCode"), s("StateCode")]});
    json!([
        {"field": "Id", "type": "string", "optional": false},
        {"field": "IsDeleted", "type": "boolean", "optional": true},
        s("MasterRecordId"), s("LastName"), s("FirstName"), s("Salutation"), s("Name"), s("Title"),
        s("Company"), s("Street"), s("City"), s("State"), s("PostalCode"), s("Country"),
        {"field": "Latitude", "type": "double", "optional": true},
        {"field": "Longitude", "type": "double", "optional": true},
        address, s("Phone"), s("Email"), s("Website"), s("LeadSource"), s("Status"), s("Industry"),
        s("AnnualRevenue"),
        {"field": "NumberOfEmployees", "type": "int32", "optional": true},
        s("OwnerId"),
        {"field": "IsConverted", "type": "boolean", "optional": true},
        {"field": "ConvertedDate", "type": "int32", "optional": true, "name": "org.apache.kafka.connect.data.Date", "version": 1},
        {"field": "IsUnreadByOwner", "type": "boolean", "optional": true},
        ts("CreatedDate"), s("CreatedById"), ts("LastModifiedDate"), s("LastModifiedById"), ts("SystemModstamp"),
        s("CleanStatus"), s("CustomId__c"), s("_ObjectType"), s("_EventType")
    ])
}

fn source_id(tag: &str, n: usize) -> String {
    // 15 characters: key prefix 00Q, a pod-like "5e", the tag's first letters, digits.
    let t: String = tag
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain(std::iter::repeat('x'))
        .take(2)
        .collect();
    let id15 = format!("00Q5e{t}{n:08}");
    id::to_18(&id15).unwrap_or(id15)
}

fn lead_payload(
    rng: &mut StdRng,
    sid: &str,
    tag: &str,
    n: usize,
    version: usize,
    event: &str,
    ts: i64,
) -> Map<String, Value> {
    let first = FIRST[rng.gen_range(0..FIRST.len())];
    let last = LAST[rng.gen_range(0..LAST.len())];
    let (city, postal, country) = CITIES[rng.gen_range(0..CITIES.len())];
    let street = format!("{} Harbour Road", rng.gen_range(1..400));
    let owner = "0055e000001XyZaAAK";
    let mut p = Map::new();
    let mut put = |k: &str, v: Value| {
        p.insert(k.to_string(), v);
    };
    put("Id", json!(sid));
    put("IsDeleted", json!(false));
    put("MasterRecordId", Value::Null);
    put("LastName", json!(format!("{last}-{tag}{n}")));
    put("FirstName", json!(first));
    put(
        "Salutation",
        json!(["Mr.", "Ms.", "Dr."][rng.gen_range(0..3)]),
    );
    put("Name", json!(format!("{first} {last}")));
    put(
        "Title",
        json!(format!(
            "{} v{version}",
            TITLES[rng.gen_range(0..TITLES.len())]
        )),
    );
    put("Company", json!(format!("Company {tag}{n}")));
    put("Street", json!(street));
    put("City", json!(city));
    put("State", Value::Null);
    put("PostalCode", json!(postal));
    put("Country", json!(country));
    put("Latitude", Value::Null);
    put("Longitude", Value::Null);
    put(
        "Address",
        json!({"GeocodeAccuracy": null, "State": null, "Street": street, "PostalCode": postal,
               "Country": country, "Latitude": null, "City": city, "Longitude": null,
               "CountryCode": null, "StateCode": null}),
    );
    put(
        "Phone",
        json!(format!("+44 113 496 {:04}", rng.gen_range(0..10000))),
    );
    // Unique per Lead: the target org's duplicate rule matches on Email.
    put("Email", json!(format!("lead{n}.{tag}@example.org")));
    put("Website", json!(format!("https://{tag}{n}.example.org")));
    put(
        "LeadSource",
        json!(SOURCES[rng.gen_range(0..SOURCES.len())]),
    );
    put("Status", json!(STATUSES[rng.gen_range(0..STATUSES.len())]));
    put(
        "Industry",
        json!(INDUSTRIES[rng.gen_range(0..INDUSTRIES.len())]),
    );
    put(
        "AnnualRevenue",
        json!(format!("{}", rng.gen_range(1..500) * 10_000)),
    );
    put("NumberOfEmployees", json!(rng.gen_range(1..5000)));
    put("OwnerId", json!(owner));
    put("IsConverted", json!(false));
    put("ConvertedDate", Value::Null);
    put("IsUnreadByOwner", json!(version == 0));
    put("CreatedDate", json!(1_764_201_600_000i64));
    put("CreatedById", json!(owner));
    put("LastModifiedDate", json!(ts));
    put("LastModifiedById", json!(owner));
    put("SystemModstamp", json!(ts));
    put("CleanStatus", json!("5"));
    put("CustomId__c", Value::Null);
    put("_ObjectType", json!("Lead"));
    put("_EventType", json!(event));
    p
}

fn deleted_payload(sid: &str) -> Map<String, Value> {
    let mut p = Map::new();
    for f in schema_fields().as_array().into_iter().flatten() {
        if let Some(name) = f.get("field").and_then(Value::as_str) {
            p.insert(name.to_string(), Value::Null);
        }
    }
    p.insert("Id".into(), json!(sid));
    p.insert("_ObjectType".into(), json!("Lead"));
    p.insert("_EventType".into(), json!("deleted"));
    p
}

fn written(payload: &Map<String, Value>) -> Map<String, Value> {
    WRITTEN_FIELDS
        .iter()
        .map(|f| {
            (
                f.to_string(),
                payload.get(*f).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The partition a source Id goes to (stable; keyed records in the same partition).
pub fn partition_for(source_id: &str, partitions: i32) -> i32 {
    let h = source_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (h % partitions.max(1) as u64) as i32
}

/// Serialises a payload as its Kafka value.
pub fn encode_value(payload: &Map<String, Value>, envelope: bool) -> Vec<u8> {
    let body = if envelope {
        json!({"schema": {"type": "struct", "name": "io.confluent.salesforce.Lead", "optional": false,
                          "fields": schema_fields()},
               "payload": payload})
    } else {
        Value::Object(payload.clone())
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Serialises an Id as the record key.
pub fn encode_key(source_id: &str, envelope: bool) -> Vec<u8> {
    let body = if envelope {
        json!({"schema": {"type": "struct", "name": "io.confluent.salesforce.LeadKey", "optional": false,
                          "fields": [{"field": "Id", "type": "string", "optional": false}]},
               "payload": {"Id": source_id}})
    } else {
        json!({"Id": source_id})
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Generates a stream.
pub fn generate(spec: &StreamSpec) -> LeadStream {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    type Change = (String, &'static str, Map<String, Value>);
    let mut histories: Vec<Vec<Change>> = Vec::with_capacity(spec.leads);
    let mut expected = BTreeMap::new();
    let mut max_changes = 0;
    let mut ts = 1_764_201_600_000i64;
    for n in 0..spec.leads {
        let sid = source_id(&spec.tag, n);
        let mut h = Vec::new();
        let created = lead_payload(&mut rng, &sid, &spec.tag, n, 0, "created", ts);
        let mut last = written(&created);
        h.push((sid.clone(), "created", created));
        let updates = rng.gen_range(spec.updates.0..=spec.updates.1.max(spec.updates.0));
        for v in 1..=updates {
            ts += 1000;
            let p = lead_payload(&mut rng, &sid, &spec.tag, n, v, "updated", ts);
            last = written(&p);
            h.push((sid.clone(), "updated", p));
        }
        let deleted = rng.gen_bool(spec.delete_ratio.clamp(0.0, 1.0));
        if deleted {
            h.push((sid.clone(), "deleted", deleted_payload(&sid)));
        }
        max_changes = max_changes.max(h.len());
        expected.insert(sid, if deleted { None } else { Some(last) });
        histories.push(h);
    }
    // Interleave: repeatedly take the next change of a random Lead that has one left.
    let mut cursors: Vec<usize> = vec![0; histories.len()];
    let mut live: Vec<usize> = (0..histories.len()).collect();
    let mut records = Vec::new();
    while !live.is_empty() {
        let pick = rng.gen_range(0..live.len());
        let lead = live[pick];
        let (sid, event, payload) = &histories[lead][cursors[lead]];
        records.push(StreamRecord {
            partition: partition_for(sid, spec.partitions),
            key: encode_key(sid, spec.schema_envelope),
            value: encode_value(payload, spec.schema_envelope),
            id: sid.clone(),
            event,
        });
        cursors[lead] += 1;
        if cursors[lead] == histories[lead].len() {
            live.swap_remove(pick);
        }
    }
    LeadStream {
        records,
        expected,
        max_changes_per_id: max_changes,
    }
}

/// Whether an org value equals an expected one, treating numbers and numeric
/// strings alike (PushTopic sends currency as text; the org stores a number).
pub fn same_value(expected: &Value, actual: &Value) -> bool {
    if expected == actual {
        return true;
    }
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    matches!((num(expected), num(actual)), (Some(a), Some(b)) if (a - b).abs() < 1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_id_keeps_its_order_and_one_partition() {
        let s = generate(&StreamSpec {
            leads: 50,
            ..StreamSpec::default()
        });
        let mut seen: BTreeMap<String, (i32, Vec<&str>)> = BTreeMap::new();
        for r in &s.records {
            let e = seen
                .entry(r.id.clone())
                .or_insert((r.partition, Vec::new()));
            assert_eq!(e.0, r.partition);
            e.1.push(r.event);
        }
        for (_, (_, events)) in seen {
            assert_eq!(events[0], "created");
            assert!(events[1..].iter().all(|e| *e != "created"));
            if let Some(i) = events.iter().position(|e| *e == "deleted") {
                assert_eq!(i, events.len() - 1);
            }
        }
    }

    #[test]
    fn records_are_lead_sized_and_ids_are_valid() {
        let s = generate(&StreamSpec {
            leads: 3,
            ..StreamSpec::default()
        });
        let created = s.records.iter().find(|r| r.event == "created").unwrap();
        assert!(
            created.value.len() > 1500,
            "about 2 KB: {}",
            created.value.len()
        );
        assert_eq!(created.id.len(), 18);
        assert_eq!(id::normalize(&created.id).unwrap(), created.id);
    }

    #[test]
    fn numbers_and_numeric_strings_compare_equal() {
        assert!(same_value(&json!("2500000"), &json!(2500000.0)));
        assert!(!same_value(&json!("x"), &json!(1)));
    }
}
