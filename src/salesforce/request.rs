//! Turning one input record into the JSON body of one sObject Collections record
//! (connector spec §4 "Body"), and a batch of bodies into the request payload.
//!
//! The rules: drop `Id`, `_ObjectType`, `_EventType`, the ignored fields, reference
//! fields when asked, relationship structs when `skip.relationship.fields=true`,
//! compound fields, and read-only fields (by the target org's describe, silently);
//! report fields the target SObject does not have; coerce values Salesforce would
//! reject into the shape its type wants; address the row (`id` for update by Id, the
//! External ID field set to the source Id for upsert and for insert with a custom id).

use chrono::{DateTime, NaiveDate};
use serde_json::Value;
use std::borrow::Cow;

use super::body::Body;
use super::describe::{FieldType, SObjectSchema};
use super::json_text::WriteJson;
use crate::record::{RecordCoords, SinkRecord};

/// The concrete REST write that carries a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WriteKind {
    /// `POST /composite/sobjects`
    Create,
    /// `PATCH /composite/sobjects`; the body carries `id` = the record's Id.
    UpdateById,
    /// `PATCH /composite/sobjects/{T}/{field}`; the body carries `field` = the source Id.
    UpsertByExternalId {
        /// The External ID field.
        field: String,
    },
    /// `SalesforceClient::update_by_external_id`: the External ID (set to the source
    /// Id in the body, like an upsert) is resolved to the row's Id, which is then
    /// updated by Id, so an update never creates a row.
    UpdateByExternalId {
        /// The External ID field.
        field: String,
    },
    /// `DELETE /composite/sobjects?ids=` (no body).
    DeleteById,
    /// `SalesforceClient::delete_by_external_id` with the source Ids (no body).
    DeleteByExternalId {
        /// The External ID field.
        field: String,
    },
}

/// Which fields never go to Salesforce (from the connector configuration).
#[derive(Debug, Clone, Default)]
pub struct BodyRules {
    /// `salesforce.ignore.fields` (matched case-insensitively, by a scan: the list is
    /// short).
    pub ignore_fields: Vec<String>,
    /// `salesforce.ignore.reference.fields`
    pub ignore_reference_fields: bool,
    /// `skip.relationship.fields`
    pub skip_relationship_fields: bool,
    /// `salesforce.custom.id.field.name` when `salesforce.use.custom.id.field=true`.
    pub custom_id_field: Option<String>,
}

impl BodyRules {
    /// Asked for every field of every record: the list is short, so a scan without
    /// hashing is the cheaper test.
    fn is_ignored(&self, name: &str) -> bool {
        self.ignore_fields
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
    }
}

/// One record's body.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltBody<'r> {
    /// The JSON object, `"attributes":{"type":T}` first, borrowing the record's values.
    pub fields: Body<'r>,
    /// Fields of the record that the target SObject does not have (dropped).
    pub unknown_fields: Vec<String>,
}

/// Why no body could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The write needs the record's `Id` and the record has none.
    #[error("record at {coords} has no Id, which a {write} needs")]
    MissingId {
        /// Where the record is.
        coords: RecordCoords,
        /// The write that needed it.
        write: &'static str,
    },
    /// Deletes are sent as Ids, not bodies.
    #[error("a delete has no body; send the Id")]
    DeleteHasNoBody,
}

/// Fields that describe the record rather than the row.
const METADATA_FIELDS: &[&str] = &["Id", "_ObjectType", "_EventType", "attributes"];

/// Builds the body of one record for `op` against the target `schema`.
pub fn record_body<'r>(
    op: &WriteKind,
    record: &'r SinkRecord,
    schema: &'r SObjectSchema,
    rules: &BodyRules,
) -> Result<BuiltBody<'r>, BodyError> {
    let missing_id = |write| BodyError::MissingId {
        coords: record.coords.clone(),
        write,
    };
    let mut fields = Body::of_sobject(&schema.name, record.fields.len() + 1);

    // The addressing field goes right after `attributes`; the record's own value of
    // the External ID field is never used, the sink owns that field.
    let (for_insert, address_field) = match op {
        WriteKind::Create => (true, rules.custom_id_field.as_deref()),
        WriteKind::UpdateById => {
            let id = record
                .id
                .as_ref()
                .ok_or_else(|| missing_id("update by Id"))?;
            fields.push_new("id", Cow::Owned(Value::String(id.clone())));
            (false, None)
        }
        WriteKind::UpsertByExternalId { field } | WriteKind::UpdateByExternalId { field } => {
            (false, Some(field.as_str()))
        }
        WriteKind::DeleteById | WriteKind::DeleteByExternalId { .. } => {
            return Err(BodyError::DeleteHasNoBody)
        }
    };
    if let Some(field) = address_field {
        let id = record
            .id
            .as_ref()
            .ok_or_else(|| missing_id("write by External ID"))?;
        let canonical = schema
            .field(field)
            .map_or_else(|| field.to_string(), |f| f.name.clone());
        fields.push_new(canonical, Cow::Owned(Value::String(id.clone())));
    }
    let owned_field = rules.custom_id_field.as_deref().or(address_field);

    // A record's names are unique, and a name written as describe spells it is a new
    // field of the body. Only a name describe spells otherwise (another case, a
    // compound component's dotted name, a relationship) can meet a field already
    // there, and from then on every field is set through the checked insert.
    let mut renamed = false;
    let mut unknown_fields = Vec::new();
    for (name, value) in &record.fields {
        if METADATA_FIELDS.iter().any(|m| m.eq_ignore_ascii_case(name))
            || rules.is_ignored(name)
            || owned_field.is_some_and(|f| f.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let writable = |f: &super::describe::FieldInfo| {
            if for_insert {
                f.createable
            } else {
                f.updateable
            }
        };
        // A compound component under its dotted name (from a CDC event) is written
        // as the component field describe names for it. No field name holds a dot, so
        // the name is looked for as a field first, sparing most names the search.
        let field = schema
            .field(name)
            .or_else(|| name.contains('.').then(|| schema.component(name)).flatten());
        if let Some(field) = field {
            if field.field_type.is_compound()
                || (field.name != *name && rules.is_ignored(&field.name))
                || (rules.ignore_reference_fields && field.field_type == FieldType::Reference)
                || !writable(field)
                || (value.is_object() && rules.skip_relationship_fields)
            {
                continue;
            }
            let value = coerce(value, &field.field_type);
            if renamed || field.name != *name {
                renamed = true;
                fields.insert(field.name.as_str(), value);
            } else {
                fields.push_new(field.name.as_str(), value);
            }
        } else if let Some(reference) = schema.relationship(name) {
            // `Owner: {...}` sets the lookup through the parent's External ID.
            if rules.skip_relationship_fields
                || rules.ignore_reference_fields
                || !value.is_object()
                || !writable(reference)
            {
                continue;
            }
            if let Some(rel) = &reference.relationship_name {
                renamed = true;
                fields.insert(rel.as_str(), Cow::Borrowed(value));
            }
        } else if value.is_object() && rules.skip_relationship_fields {
            // A relationship struct of an object the describe does not link: skipped
            // like any other relationship value.
            continue;
        } else {
            unknown_fields.push(name.to_string());
        }
    }
    Ok(BuiltBody {
        fields,
        unknown_fields,
    })
}

/// Converts a value into the JSON shape Salesforce accepts for `field_type`. Values
/// that are already acceptable (including numeric strings for number fields, which
/// Salesforce parses itself) are left alone; `null` stays `null`.
pub fn coerce<'v>(value: &'v Value, field_type: &FieldType) -> Cow<'v, Value> {
    Cow::Owned(match (field_type, value) {
        (_, Value::Null) => return Cow::Borrowed(value),
        (FieldType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Value::Bool(true)
        }
        (FieldType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Value::Bool(false)
        }
        (FieldType::Boolean, Value::Number(n)) => Value::Bool(n.as_f64().is_some_and(|f| f != 0.0)),
        (FieldType::Int | FieldType::Long, Value::Number(n)) if !n.is_i64() && !n.is_u64() => {
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
                _ => return Cow::Borrowed(value),
            }
        }
        (
            FieldType::Int
            | FieldType::Long
            | FieldType::Double
            | FieldType::Currency
            | FieldType::Percent
            | FieldType::Date
            | FieldType::DateTime
            | FieldType::Time,
            Value::String(s),
        ) if s.trim().is_empty() => Value::Null,
        (FieldType::Date, Value::String(s)) => match s.get(..10) {
            // A timestamp given to a date field: keep its calendar day.
            Some(day) if s.len() > 10 && NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok() => {
                Value::String(day.into())
            }
            _ => return Cow::Borrowed(value),
        },
        (FieldType::Date, Value::Number(n)) => match n.as_i64().and_then(date_from_number) {
            Some(day) => Value::String(day),
            None => return Cow::Borrowed(value),
        },
        (FieldType::DateTime, Value::Number(n)) => {
            match n.as_i64().and_then(DateTime::from_timestamp_millis) {
                Some(ts) => Value::String(ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
                None => return Cow::Borrowed(value),
            }
        }
        (FieldType::MultiPicklist, Value::Array(items)) => {
            let parts: Vec<String> = items.iter().map(text_of).collect();
            Value::String(parts.join(";"))
        }
        (t, Value::Number(_) | Value::Bool(_)) if t.is_text() => Value::String(text_of(value)),
        _ => return Cow::Borrowed(value),
    })
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Connect's Date is days since the epoch; a schemaless producer may send epoch
/// milliseconds instead. Day counts stay below a million (year 4707), milliseconds of
/// any date after 1970-01-12 are above it.
fn date_from_number(n: i64) -> Option<String> {
    let date = if n.abs() < 1_000_000 {
        NaiveDate::from_num_days_from_ce_opt(i32::try_from(n).ok()?.checked_add(719_163)?)?
    } else {
        DateTime::from_timestamp_millis(n)?.date_naive()
    };
    Some(date.format("%Y-%m-%d").to_string())
}

/// The sObject Collections payload `{"allOrNone":b,"records":[...]}`, written once.
pub fn collections_body(all_or_none: bool, records: &[impl WriteJson]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + records.len() * 512);
    out.extend_from_slice(if all_or_none {
        b"{\"allOrNone\":true,\"records\":["
    } else {
        b"{\"allOrNone\":false,\"records\":["
    });
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let before = out.len();
        record.write_json(&mut out);
        if i == 0 {
            // The records of a batch are alike: room for the rest at the first's size.
            let size = out.len() - before + 1;
            out.reserve(size * (records.len() - 1) + 2);
        }
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::EventType;
    use crate::salesforce::describe::tests::lead_schema;
    use serde_json::json;
    use std::sync::Arc;

    fn record(id: Option<&str>, fields: Value) -> SinkRecord {
        SinkRecord {
            coords: RecordCoords {
                topic: Arc::from("leads"),
                partition: 0,
                offset: 7,
            },
            timestamp: None,
            id: id.map(str::to_string),
            object_type: Some("Lead".into()),
            event_type: Some(EventType::Created),
            fields: fields.as_object().unwrap().clone().into(),
        }
    }

    fn rules() -> BodyRules {
        BodyRules {
            skip_relationship_fields: true,
            ..Default::default()
        }
    }

    fn keys<'a>(body: &'a BuiltBody<'_>) -> Vec<&'a str> {
        body.fields.keys().collect()
    }

    #[test]
    fn insert_drops_metadata_read_only_and_compound_fields_and_puts_attributes_first() {
        let schema = lead_schema();
        let r = record(
            Some("00Q5500000B2zFDEAZ"),
            json!({"Id": "00Q5500000B2zFDEAZ", "_ObjectType": "Lead", "_EventType": "created",
                   "LastName": "Doe", "Name": "John Doe", "CreatedDate": "2024-01-01T00:00:00.000Z",
                   "Address": {"City": "Paris"}, "City": "Paris", "Company": "ACME", "Notes__c": "n"}),
        );
        let body = record_body(&WriteKind::Create, &r, &schema, &rules()).unwrap();
        assert_eq!(
            keys(&body),
            ["attributes", "LastName", "City", "Company", "Notes__c"]
        );
        assert_eq!(body.fields.to_json()["attributes"], json!({"type": "Lead"}));
        assert!(body.unknown_fields.is_empty());
    }

    #[test]
    fn dotted_compound_components_become_their_fields_and_nulls_clear() {
        let schema = crate::salesforce::describe::tests::compound_schema();
        let r = record(
            Some("001A"),
            json!({"BillingAddress.Street": "1 Main", "BillingAddress.City": null,
                   "Name.FirstName": "Ada", "Orbit.Height": 3}),
        );
        let body = record_body(&WriteKind::UpdateById, &r, &schema, &rules()).unwrap();
        assert_eq!(
            keys(&body),
            [
                "attributes",
                "id",
                "BillingStreet",
                "BillingCity",
                "FirstName"
            ]
        );
        assert_eq!(body.fields["BillingCity"], Value::Null);
        assert_eq!(body.unknown_fields, ["Orbit.Height"]);
    }

    #[test]
    fn update_by_id_carries_the_id_and_drops_non_updateable_fields() {
        let schema = lead_schema();
        let r = record(Some("00QA"), json!({"LastName": "Doe", "Notes__c": "n"}));
        let body = record_body(&WriteKind::UpdateById, &r, &schema, &rules()).unwrap();
        assert_eq!(keys(&body), ["attributes", "id", "LastName"]);
        assert_eq!(body.fields["id"], "00QA");
        let no_id = record(None, json!({"LastName": "Doe"}));
        assert!(matches!(
            record_body(&WriteKind::UpdateById, &no_id, &schema, &rules()),
            Err(BodyError::MissingId { .. })
        ));
    }

    #[test]
    fn upsert_sets_the_external_id_to_the_source_id_over_the_records_own_value() {
        let schema = lead_schema();
        let r = record(
            Some("00Q5500000B2zFDEAZ"),
            json!({"LastName": "Doe", "CustomId__c": "stale"}),
        );
        let op = WriteKind::UpsertByExternalId {
            field: "customid__c".into(),
        };
        let body = record_body(
            &op,
            &r,
            &schema,
            &BodyRules {
                custom_id_field: Some("CustomId__c".into()),
                ..rules()
            },
        )
        .unwrap();
        assert_eq!(keys(&body), ["attributes", "CustomId__c", "LastName"]);
        assert_eq!(body.fields["CustomId__c"], "00Q5500000B2zFDEAZ");
    }

    #[test]
    fn insert_with_custom_id_writes_the_source_id_into_it() {
        let schema = lead_schema();
        let r = record(Some("00Qsrc"), json!({"LastName": "Doe"}));
        let rules = BodyRules {
            custom_id_field: Some("CustomId__c".into()),
            ..rules()
        };
        let body = record_body(&WriteKind::Create, &r, &schema, &rules).unwrap();
        assert_eq!(body.fields["CustomId__c"], "00Qsrc");
    }

    #[test]
    fn ignored_and_reference_fields_are_dropped_when_configured() {
        let schema = lead_schema();
        let r = record(
            Some("x"),
            json!({"LastName": "Doe", "OwnerId": "005A", "cleanstatus": "5", "Phone": "1"}),
        );
        let keep_refs = BodyRules {
            ignore_fields: ["CleanStatus".to_string()].into(),
            ..rules()
        };
        let body = record_body(&WriteKind::Create, &r, &schema, &keep_refs).unwrap();
        assert_eq!(keys(&body), ["attributes", "LastName", "OwnerId", "Phone"]);
        let drop_refs = BodyRules {
            ignore_reference_fields: true,
            ..keep_refs
        };
        let body = record_body(&WriteKind::Create, &r, &schema, &drop_refs).unwrap();
        assert_eq!(keys(&body), ["attributes", "LastName", "Phone"]);
        assert!(
            body.unknown_fields.is_empty(),
            "ignored fields are not unknown"
        );
    }

    #[test]
    fn relationship_structs_are_skipped_or_sent_under_their_relationship_name() {
        let schema = lead_schema();
        let r = record(
            Some("x"),
            json!({"LastName": "Doe", "owner": {"Email": "a@b.c"}, "Parent__r": {"Ext__c": "1"}}),
        );
        let body = record_body(&WriteKind::Create, &r, &schema, &rules()).unwrap();
        assert_eq!(keys(&body), ["attributes", "LastName"]);
        assert!(body.unknown_fields.is_empty());
        let send = BodyRules {
            skip_relationship_fields: false,
            ..rules()
        };
        let body = record_body(&WriteKind::Create, &r, &schema, &send).unwrap();
        assert_eq!(keys(&body), ["attributes", "LastName", "Owner"]);
        assert_eq!(body.unknown_fields, ["Parent__r"]);
    }

    #[test]
    fn names_describe_spells_otherwise_set_one_field_and_the_last_value_wins() {
        let schema = lead_schema();
        let r = record(
            Some("x"),
            json!({"lastname": "early", "Company": "ACME", "LastName": "late", "COMPANY": "Co"}),
        );
        let body = record_body(&WriteKind::Create, &r, &schema, &rules()).unwrap();
        assert_eq!(keys(&body), ["attributes", "LastName", "Company"]);
        assert_eq!(body.fields["LastName"], "late");
        assert_eq!(body.fields["Company"], "Co");
    }

    #[test]
    fn unknown_fields_are_dropped_and_reported() {
        let schema = lead_schema();
        let r = record(
            Some("x"),
            json!({"LastName": "Doe", "Foo__c": 1, "Bar__c": null}),
        );
        let body = record_body(&WriteKind::Create, &r, &schema, &rules()).unwrap();
        assert_eq!(keys(&body), ["attributes", "LastName"]);
        assert_eq!(body.unknown_fields, ["Foo__c", "Bar__c"]);
    }

    #[test]
    fn nulls_stay_null_and_values_take_their_field_type() {
        let schema = lead_schema();
        let r = record(
            Some("x"),
            json!({"FirstName": null, "HasOptedOutOfEmail": "TRUE", "NumberOfEmployees": 12.0,
                   "AnnualRevenue": "1234.50", "LastTransferDate": "2024-03-05T10:00:00.000Z",
                   "EmailBouncedDate": 1709632800123i64, "Phone": 5551234, "Interests__c": ["a", "b"],
                   "City": ""}),
        );
        let body = record_body(&WriteKind::Create, &r, &schema, &rules()).unwrap();
        let f = &body.fields;
        assert_eq!(f["FirstName"], Value::Null);
        assert_eq!(f["HasOptedOutOfEmail"], true);
        assert_eq!(f["NumberOfEmployees"], json!(12));
        assert_eq!(f["AnnualRevenue"], "1234.50");
        assert_eq!(f["LastTransferDate"], "2024-03-05");
        assert_eq!(f["EmailBouncedDate"], "2024-03-05T10:00:00.123Z");
        assert_eq!(f["Phone"], "5551234");
        assert_eq!(f["Interests__c"], "a;b");
        assert_eq!(f["City"], "");
    }

    #[test]
    fn dates_as_day_counts_or_millis_become_calendar_days() {
        assert_eq!(
            coerce(&json!(19787), &FieldType::Date).into_owned(),
            json!("2024-03-05")
        );
        assert_eq!(
            coerce(&json!(1709632800123i64), &FieldType::Date).into_owned(),
            json!("2024-03-05")
        );
        assert_eq!(
            coerce(&json!(""), &FieldType::Double).into_owned(),
            Value::Null
        );
    }

    #[test]
    fn update_by_external_id_body_carries_the_field_and_only_updateable_fields() {
        let schema = lead_schema();
        let r = record(Some("00Qsrc"), json!({"LastName": "Doe", "Notes__c": "n"}));
        let op = WriteKind::UpdateByExternalId {
            field: "CustomId__c".into(),
        };
        let body = record_body(&op, &r, &schema, &rules()).unwrap();
        assert_eq!(keys(&body), ["attributes", "CustomId__c", "LastName"]);
        let del = WriteKind::DeleteByExternalId {
            field: "CustomId__c".into(),
        };
        assert_eq!(
            record_body(&del, &r, &schema, &rules()),
            Err(BodyError::DeleteHasNoBody)
        );
    }

    #[test]
    fn collections_payload_is_valid_json_in_order() {
        let a = json!({"attributes": {"type": "Lead"}, "LastName": "a\"b"})
            .as_object()
            .unwrap()
            .clone();
        let b = json!({"attributes": {"type": "Lead"}, "LastName": "c"})
            .as_object()
            .unwrap()
            .clone();
        let bytes = collections_body(true, &[a, b]);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["allOrNone"], true);
        assert_eq!(v["records"][0]["LastName"], "a\"b");
        assert_eq!(v["records"][1]["LastName"], "c");
        assert_eq!(
            collections_body(false, &[] as &[Value]),
            br#"{"allOrNone":false,"records":[]}"#
        );
    }
}
