//! Change Data Capture events, in the format of Confluent's Salesforce CDC Source
//! connector, turned into the row changes the sink writes.
//!
//! Such a value carries `Id`, `ReplayId`, a `ChangeEventHeader` struct (`entityName`,
//! `recordIds`, `changeType`, `changedFields`, `changeOrigin`, ...), then the SObject's
//! fields with compound ones (`Name`, `BillingAddress`) nested as structs. An UPDATE
//! carries null for every field it did not change, so only `changedFields` may be
//! written: writing the rest would wipe the row. The fields of a change come out
//! flat, a compound component under its dotted name (`Name.FirstName`,
//! `MailingAddress.City`), which the request builder maps to the SObject's own field
//! through describe.
//!
//! One event may name several rows (`recordIds`, merged events): each gets the change.
//! A `GAP_*` event carries no data, and an event whose `changeOrigin` names this sink's
//! client id is the sink's own write coming back from the other org.

use serde_json::{Map, Value};

use super::{EventType, Fields, SinkRecord};

/// The field that makes a record a CDC event.
pub const HEADER_FIELD: &str = "ChangeEventHeader";

/// Fields of a CDC value that describe the event rather than the row.
const EVENT_FIELDS: &[&str] = &[HEADER_FIELD, "ReplayId", "_EventType", "_ObjectType"];

/// What a CDC event asks of the sink.
#[derive(Debug, Clone, PartialEq)]
pub enum CdcEvent {
    /// Row changes to write, one per Id the event names.
    Changes(Vec<SinkRecord>),
    /// The sink's own write, reflected back by the other org: nothing to do.
    Echo {
        /// The `changeOrigin` that named the sink.
        origin: String,
    },
    /// A gap: Salesforce could not describe these changes, the stream does not carry them.
    Gap {
        /// `GAP_CREATE`, `GAP_UPDATE`, `GAP_DELETE`, `GAP_UNDELETE` or `GAP_OVERFLOW`.
        change_type: String,
        /// `entityName`.
        entity: String,
        /// The rows concerned (empty for an overflow).
        record_ids: Vec<String>,
    },
}

/// Why a CDC event cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdcError {
    /// The header lacks a field the event needs, or has it in another type.
    #[error("ChangeEventHeader.{field} {problem}")]
    Header {
        /// The header field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A `changeType` this reader does not know.
    #[error("ChangeEventHeader.changeType {0:?} is not CREATE, UPDATE, DELETE, UNDELETE or GAP_*")]
    UnknownChangeType(String),
    /// `sink.input.format=cdc` and the record is not a CDC event.
    #[error("the record has no ChangeEventHeader struct, which sink.input.format=cdc requires")]
    NotCdc,
}

/// True when the record carries a `ChangeEventHeader` struct.
pub fn is_cdc(record: &SinkRecord) -> bool {
    record
        .fields
        .get(HEADER_FIELD)
        .is_some_and(Value::is_object)
}

/// The header fields this reader uses.
struct Header {
    entity: String,
    record_ids: Vec<String>,
    change_type: String,
    changed_fields: Vec<String>,
    origin: Option<String>,
}

fn strings(header: &Map<String, Value>, field: &'static str) -> Result<Vec<String>, CdcError> {
    match header.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(CdcError::Header {
                    field,
                    problem: "must hold only strings",
                }),
            })
            .collect(),
        Some(_) => Err(CdcError::Header {
            field,
            problem: "must be an array of strings",
        }),
    }
}

fn string(header: &Map<String, Value>, field: &'static str) -> Result<Option<String>, CdcError> {
    match header.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CdcError::Header {
            field,
            problem: "must be a string",
        }),
    }
}

fn read_header(record: &SinkRecord) -> Result<Header, CdcError> {
    let Some(Value::Object(h)) = record.fields.get(HEADER_FIELD) else {
        return Err(CdcError::NotCdc);
    };
    let required = |field: &'static str| {
        string(h, field)?.ok_or(CdcError::Header {
            field,
            problem: "is missing",
        })
    };
    Ok(Header {
        entity: required("entityName")?,
        change_type: required("changeType")?,
        record_ids: strings(h, "recordIds")?,
        changed_fields: strings(h, "changedFields")?,
        origin: string(h, "changeOrigin")?,
    })
}

/// True when `origin` (a `changeOrigin` such as
/// `com/salesforce/api/rest/62.0;client=sobject-sink`) names `client_id` as its client.
pub fn names_client(origin: &str, client_id: &str) -> bool {
    origin
        .split(';')
        .filter_map(|part| part.trim().strip_prefix("client="))
        .any(|c| c == client_id)
}

/// Reads one CDC event. `client_id` is `sink.client.id`: an event whose
/// `changeOrigin` names it is an [`CdcEvent::Echo`].
pub fn read_event(record: SinkRecord, client_id: &str) -> Result<CdcEvent, CdcError> {
    let header = read_header(&record)?;
    if let Some(origin) = &header.origin {
        if names_client(origin, client_id) {
            return Ok(CdcEvent::Echo {
                origin: origin.clone(),
            });
        }
    }
    let kind = header.change_type.to_ascii_uppercase();
    if kind.starts_with("GAP_") {
        return Ok(CdcEvent::Gap {
            change_type: kind,
            entity: header.entity,
            record_ids: header.record_ids,
        });
    }
    let event_type = match kind.as_str() {
        "CREATE" => EventType::Created,
        "UPDATE" => EventType::Updated,
        "DELETE" => EventType::Deleted,
        "UNDELETE" => EventType::Undeleted,
        _ => return Err(CdcError::UnknownChangeType(header.change_type)),
    };
    let fields = match event_type {
        EventType::Updated => changed_fields(&record.fields, &header.changed_fields),
        EventType::Deleted => Fields::new(),
        EventType::Created | EventType::Undeleted => set_fields(&record.fields),
    };
    let ids: Vec<Option<String>> = if header.record_ids.is_empty() {
        vec![record.id.clone()]
    } else {
        header.record_ids.into_iter().map(Some).collect()
    };
    let changes = ids
        .into_iter()
        .map(|id| SinkRecord {
            coords: record.coords.clone(),
            timestamp: record.timestamp,
            id,
            object_type: Some(header.entity.clone()),
            event_type: Some(event_type),
            fields: fields.clone(),
        })
        .collect();
    Ok(CdcEvent::Changes(changes))
}

/// The row's fields of a value, without the event's own.
fn row_fields(fields: &Fields) -> impl Iterator<Item = (&str, &Value)> {
    fields
        .iter()
        .filter(|(name, _)| !EVENT_FIELDS.contains(name))
}

/// A create or undelete: every field that has a value, compound components flat.
fn set_fields(fields: &Fields) -> Fields {
    let mut out = Fields::new();
    for (name, value) in row_fields(fields) {
        match value {
            Value::Null => {}
            Value::Object(parts) => {
                for (part, v) in parts.iter().filter(|(_, v)| !v.is_null()) {
                    out.insert(format!("{name}.{part}"), v.clone());
                }
            }
            other => {
                out.insert(name.to_string(), other.clone());
            }
        }
    }
    out
}

/// An update: exactly the fields in `changed`, null included (it clears the field).
/// A changed field the value does not carry at all is left out: its new value is
/// unknown, and sending null would clear it.
fn changed_fields(fields: &Fields, changed: &[String]) -> Fields {
    let mut out = Fields::new();
    for name in changed {
        if EVENT_FIELDS.contains(&name.as_str()) {
            continue;
        }
        match name.split_once('.') {
            Some((compound, part)) => match fields.get(compound) {
                Some(Value::Object(parts)) => {
                    let v = parts.get(part).cloned().unwrap_or(Value::Null);
                    out.insert(name.clone(), v);
                }
                Some(Value::Null) => {
                    out.insert(name.clone(), Value::Null);
                }
                _ => {}
            },
            None => match fields.get(name) {
                Some(Value::Object(parts)) => {
                    for (part, v) in parts {
                        out.insert(format!("{name}.{part}"), v.clone());
                    }
                }
                Some(v) => {
                    out.insert(name.clone(), v.clone());
                }
                None => {}
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{decode, DecodeOptions, RawRecord, RecordCoords};
    use serde_json::json;
    use std::sync::Arc;

    const SAMPLE: &str = include_str!("../../tests/fixtures/contact-cdc-update.json");

    fn sample_with(edit: impl FnOnce(&mut Value)) -> SinkRecord {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        edit(&mut v["payload"]);
        let text = v.to_string();
        decode(
            RawRecord {
                coords: RecordCoords {
                    topic: Arc::from("cdc"),
                    partition: 0,
                    offset: 3,
                },
                timestamp: Some(5),
                key: None,
                value: Some(text.as_bytes()),
            },
            &DecodeOptions::default(),
        )
        .unwrap()
    }

    fn changes(event: CdcEvent) -> Vec<SinkRecord> {
        match event {
            CdcEvent::Changes(c) => c,
            other => panic!("not changes: {other:?}"),
        }
    }

    #[test]
    fn the_sample_update_carries_exactly_its_changed_fields() {
        let record = sample_with(|_| {});
        assert!(is_cdc(&record));
        assert_eq!(record.event_type, None, "_EventType is a schema id here");
        let out = changes(read_event(record, "sobject-sink").unwrap());
        assert_eq!(out.len(), 1);
        let c = &out[0];
        assert_eq!(c.id.as_deref(), Some("0035e00000QZ3xQAAT"));
        assert_eq!(c.object_type.as_deref(), Some("Contact"));
        assert_eq!(c.event_type, Some(EventType::Updated));
        assert_eq!(
            Value::Object(c.fields.clone().into()),
            json!({
                "Title": "VP Operations",
                "Department": null,
                "Name.FirstName": "Grace",
                "MailingAddress.City": "Lagos",
                "LastModifiedDate": "2025-12-01T10:32:01.000Z"
            })
        );
    }

    #[test]
    fn a_create_carries_every_set_field_flat_and_no_nulls() {
        let record = sample_with(|p| {
            p["ChangeEventHeader"]["changeType"] = json!("CREATE");
            p["Name"]["LastName"] = json!("Hopper");
            p["Email"] = json!("grace@example.com");
        });
        let c = &changes(read_event(record, "sobject-sink").unwrap())[0];
        assert_eq!(c.event_type, Some(EventType::Created));
        assert_eq!(c.fields["Name.LastName"], json!("Hopper"));
        assert_eq!(c.fields["Email"], json!("grace@example.com"));
        assert!(!c.fields.contains_key("Phone") && !c.fields.contains_key("Name.Salutation"));
        assert!(!c.fields.contains_key(HEADER_FIELD) && !c.fields.contains_key("ReplayId"));
        assert!(!c.fields.contains_key("_EventType"));
    }

    #[test]
    fn a_merged_event_gives_every_record_id_the_change() {
        let record = sample_with(|p| {
            p["ChangeEventHeader"]["recordIds"] = json!(["003A", "003B", "003C"]);
        });
        let out = changes(read_event(record, "sobject-sink").unwrap());
        let ids: Vec<_> = out.iter().map(|c| c.id.clone().unwrap()).collect();
        assert_eq!(ids, ["003A", "003B", "003C"]);
        assert!(out
            .iter()
            .all(|c| c.fields["Title"] == json!("VP Operations")));
    }

    #[test]
    fn deletes_and_undeletes_map_to_their_event_types() {
        let del = sample_with(|p| p["ChangeEventHeader"]["changeType"] = json!("DELETE"));
        let c = &changes(read_event(del, "x").unwrap())[0];
        assert_eq!(c.event_type, Some(EventType::Deleted));
        assert!(c.fields.is_empty());
        let und = sample_with(|p| p["ChangeEventHeader"]["changeType"] = json!("UNDELETE"));
        let c = &changes(read_event(und, "x").unwrap())[0];
        assert_eq!(c.event_type, Some(EventType::Undeleted));
        assert_eq!(c.fields["Title"], json!("VP Operations"));
    }

    #[test]
    fn the_sinks_own_writes_are_echoes_and_other_clients_are_not() {
        let own = sample_with(|p| {
            p["ChangeEventHeader"]["changeOrigin"] =
                json!("com/salesforce/api/rest/62.0;client=org-a-sync");
        });
        assert!(matches!(
            read_event(own.clone(), "org-a-sync").unwrap(),
            CdcEvent::Echo { .. }
        ));
        // A longer name that starts alike is someone else.
        assert!(matches!(
            read_event(own, "org-a").unwrap(),
            CdcEvent::Changes(_)
        ));
        assert!(!names_client(
            "com/salesforce/api/soap/62.0",
            "sobject-sink"
        ));
    }

    #[test]
    fn gaps_carry_their_kind_and_ids() {
        let gap = sample_with(|p| p["ChangeEventHeader"]["changeType"] = json!("GAP_UPDATE"));
        assert_eq!(
            read_event(gap, "x").unwrap(),
            CdcEvent::Gap {
                change_type: "GAP_UPDATE".into(),
                entity: "Contact".into(),
                record_ids: vec!["0035e00000QZ3xQAAT".into()],
            }
        );
    }

    #[test]
    fn broken_headers_are_named() {
        let bad = sample_with(|p| p["ChangeEventHeader"]["changeType"] = json!("MERGE"));
        assert_eq!(
            read_event(bad, "x").unwrap_err(),
            CdcError::UnknownChangeType("MERGE".into())
        );
        let mut record = sample_with(|_| {});
        record
            .fields
            .insert(HEADER_FIELD, json!({"changeType": "UPDATE"}));
        let e = read_event(record, "x").unwrap_err();
        assert!(e.to_string().contains("entityName is missing"), "{e}");
        let mut plain = sample_with(|_| {});
        plain.fields.remove(HEADER_FIELD);
        assert!(!is_cdc(&plain));
        assert_eq!(read_event(plain, "x").unwrap_err(), CdcError::NotCdc);
    }

    #[test]
    fn a_changed_field_the_value_lacks_is_not_sent_and_a_whole_compound_is_flattened() {
        let fields = json!({
            "Title": null,
            "MailingAddress": {"Street": "1 Main", "City": null}
        });
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        let out = changed_fields(
            &fields.into(),
            &["Title".into(), "Gone__c".into(), "MailingAddress".into()],
        );
        assert_eq!(
            Value::Object(out.into()),
            json!({"Title": null, "MailingAddress.Street": "1 Main", "MailingAddress.City": null})
        );
    }
}
