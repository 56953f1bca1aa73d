//! The rule engine's stateless half: checks one record's fields against its SObject's
//! describe (unknown fields, read-only fields, required fields, lengths, restricted
//! picklists, JSON types, Id syntax of references) and coerces values to the form the
//! store keeps. Rules that need other rows (uniqueness, duplicate rules, references to
//! existing rows) live in `writes.rs`.

use crate::salesforce::id;
use crate::sim::schema::{FieldDef, FieldType, OrgSchema, SObjectDef};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use thiserror::Error;

/// Key prefixes of types the simulated org knows without modelling them as SObjects.
pub const USER_KEY_PREFIX: &str = "005";
/// Queues and groups can own records too.
pub const GROUP_KEY_PREFIX: &str = "00G";
/// Record types: `RecordTypeId` points to them.
pub const RECORD_TYPE_KEY_PREFIX: &str = "012";

/// One record's failure, as Salesforce reports it (`errorCode`/`statusCode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// Salesforce error code, e.g. `REQUIRED_FIELD_MISSING`.
    pub code: String,
    /// Human message.
    pub message: String,
    /// Fields concerned.
    pub fields: Vec<String>,
}

impl RecordError {
    /// Builds an error.
    pub fn new(code: &str, message: impl Into<String>, fields: Vec<String>) -> RecordError {
        RecordError {
            code: code.to_string(),
            message: message.into(),
            fields,
        }
    }
}

/// A value whose JSON type cannot go into its field: the whole request fails with 400
/// `JSON_PARSER_ERROR`, as Salesforce's deserializer fails before any record is saved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct JsonParserError {
    /// Message in Salesforce's words.
    pub message: String,
}

/// Whether a record is being inserted or updated (upserts become one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A new row.
    Insert,
    /// Changes to an existing row.
    Update,
}

/// The fields a record sets, checked and coerced, by position in the SObject's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedFields {
    /// One slot per field of the SObject, `Some` where the record sets it.
    values: Vec<Option<Value>>,
    /// The positions set, in the record's order, with their canonical names.
    order: Vec<(usize, String)>,
}

impl CheckedFields {
    fn for_sobject(sobject: &SObjectDef) -> CheckedFields {
        CheckedFields {
            values: vec![None; sobject.fields.len()],
            order: Vec::new(),
        }
    }

    /// Sets a field; a field given twice keeps the later value.
    fn put(&mut self, position: usize, name: String, value: Value) {
        if let Some(slot) = self.values.get_mut(position) {
            if slot.is_none() {
                self.order.push((position, name));
            }
            *slot = Some(value);
        }
    }

    /// True when the record sets the field at `position`.
    pub fn contains(&self, position: usize) -> bool {
        self.value(position).is_some()
    }

    /// The value set for the field at `position`.
    pub fn value(&self, position: usize) -> Option<&Value> {
        self.values.get(position).and_then(Option::as_ref)
    }

    /// The value set for a field, by canonical name.
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&Value> {
        let (position, _) = self.order.iter().find(|(_, n)| n == name)?;
        self.value(*position)
    }

    /// Number of fields set.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// The fields under their names, in the record's order.
    pub fn to_map(&self) -> Map<String, Value> {
        self.order
            .iter()
            .filter_map(|(i, name)| Some((name.clone(), self.value(*i)?.clone())))
            .collect()
    }

    /// One slot per field of the SObject: the start of a new row.
    pub fn into_values(self) -> Vec<Option<Value>> {
        self.values
    }

    /// `(position, value)` of every field set, in the record's order.
    pub fn into_changes(self) -> impl Iterator<Item = (usize, Value)> {
        let mut values = self.values;
        self.order
            .into_iter()
            .filter_map(move |(i, _)| Some((i, values.get_mut(i)?.take()?)))
    }
}

/// The outcome of checking one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// Fields to write, by position, with coerced values.
    Accepted(CheckedFields),
    /// The record breaks a rule.
    Rejected(RecordError),
}

/// Checks one record's input fields (without `attributes` and without the locating `id`).
pub fn check_record(
    schema: &OrgSchema,
    sobject: &SObjectDef,
    op: Operation,
    input: impl IntoIterator<Item = (String, Value)>,
) -> Result<Checked, JsonParserError> {
    let mut out = CheckedFields::for_sobject(sobject);
    let mut unknown: Vec<String> = Vec::new();
    let mut read_only: Vec<String> = Vec::new();
    let mut nulled_required: Vec<String> = Vec::new();
    let mut first_value_error: Option<RecordError> = None;

    for (name, value) in input {
        if name == "attributes" {
            continue;
        }
        let Some((position, field)) = sobject
            .position(&name)
            .and_then(|i| Some((i, sobject.fields.get(i)?)))
        else {
            unknown.push(name);
            continue;
        };
        let writable = match op {
            Operation::Insert => field.createable,
            Operation::Update => field.updateable,
        };
        if !writable {
            read_only.push(field.name.clone());
            continue;
        }
        let value = coerce(field, value)?;
        if value.is_null() && !field.nillable {
            nulled_required.push(field.name.clone());
            continue;
        }
        if first_value_error.is_none() {
            first_value_error = check_value(schema, field, &value);
        }
        // Reuse the client's key when it already has the canonical spelling (the usual case).
        let key = if name == field.name {
            name
        } else {
            field.name.clone()
        };
        out.put(position, key, value);
    }

    if let Some(name) = unknown.into_iter().next() {
        return Ok(Checked::Rejected(RecordError::new(
            "INVALID_FIELD",
            format!(
                "No such column '{name}' on sobject of type {}",
                sobject.name
            ),
            vec![name],
        )));
    }
    if !read_only.is_empty() {
        return Ok(Checked::Rejected(RecordError::new(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                read_only.join(", ")
            ),
            read_only,
        )));
    }
    let mut missing = nulled_required;
    if op == Operation::Insert {
        for (i, f) in sobject.fields.iter().enumerate() {
            if f.required_on_insert() && !out.contains(i) && !missing.contains(&f.name) {
                missing.push(f.name.clone());
            }
        }
    }
    if !missing.is_empty() {
        return Ok(Checked::Rejected(RecordError::new(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{}]", missing.join(", ")),
            missing,
        )));
    }
    if let Some(e) = first_value_error {
        return Ok(Checked::Rejected(e));
    }
    Ok(Checked::Accepted(out))
}

/// Checks a coerced value against length, picklist and Id-syntax rules.
fn check_value(schema: &OrgSchema, field: &FieldDef, value: &Value) -> Option<RecordError> {
    let Value::String(s) = value else { return None };
    if field.field_type.is_text() && field.length > 0 && s.len() > field.length as usize {
        let chars = s.chars().count();
        if chars > field.length as usize {
            return Some(RecordError::new(
                "STRING_TOO_LONG",
                format!(
                    "{}: data value too large: {} (max length={})",
                    field.label,
                    truncate(s, 40),
                    field.length
                ),
                vec![field.name.clone()],
            ));
        }
    }
    if field.field_type == FieldType::Picklist
        && field.restricted_picklist
        && !field.picklist_values.iter().any(|v| v == s)
    {
        return Some(RecordError::new(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            format!(
                "{}: bad value for restricted picklist field: {s}",
                field.label
            ),
            vec![field.name.clone()],
        ));
    }
    if field.field_type == FieldType::Reference {
        let prefix = id::key_prefix(s).unwrap_or_default();
        let type_fits = id::is_valid(s)
            && field
                .reference_to
                .iter()
                .any(|t| reference_prefix(schema, t).as_deref() == Some(prefix));
        if !type_fits {
            return Some(RecordError::new(
                "MALFORMED_ID",
                format!("{}: id value of incorrect type: {s}", field.label),
                vec![field.name.clone()],
            ));
        }
    }
    None
}

/// The key prefix of a reference target type.
pub fn reference_prefix(schema: &OrgSchema, type_name: &str) -> Option<String> {
    match type_name {
        "User" => Some(USER_KEY_PREFIX.to_string()),
        "Group" => Some(GROUP_KEY_PREFIX.to_string()),
        "RecordType" => Some(RECORD_TYPE_KEY_PREFIX.to_string()),
        other => schema.sobject(other).map(|s| s.key_prefix.clone()),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let head: String = s.chars().take(max).collect();
        format!("{head}...")
    }
}

fn parser_error(field: &FieldDef, what: &str, value: &Value) -> JsonParserError {
    JsonParserError {
        message: format!(
            "Cannot deserialize instance of {what} from {} value {} or request may be missing a required field (field {})",
            json_kind(value),
            value,
            field.name
        ),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// Coerces a JSON value to what the field stores; a wrong JSON type is a parser error.
pub fn coerce(field: &FieldDef, value: Value) -> Result<Value, JsonParserError> {
    if value.is_null() {
        return Ok(if field.field_type == FieldType::Boolean {
            Value::Bool(false)
        } else {
            Value::Null
        });
    }
    match field.field_type {
        FieldType::Boolean => match value {
            Value::Bool(_) => Ok(value),
            other => Err(parser_error(field, "boolean", &other)),
        },
        FieldType::Int => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 => Ok(Value::from(f as i64)),
                _ => Err(parser_error(field, "int", &value)),
            },
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Value::from(i)),
                Err(_) => Err(parser_error(field, "int", &value)),
            },
            _ => Err(parser_error(field, "int", &value)),
        },
        FieldType::Double | FieldType::Currency | FieldType::Percent => match &value {
            Value::Number(_) => Ok(value),
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)),
                _ => Err(parser_error(field, "double", &value)),
            },
            _ => Err(parser_error(field, "double", &value)),
        },
        FieldType::Date => match &value {
            Value::String(s) => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(d) => Ok(Value::String(d.format("%Y-%m-%d").to_string())),
                Err(_) => Err(parser_error(field, "date", &value)),
            },
            _ => Err(parser_error(field, "date", &value)),
        },
        FieldType::Datetime => match &value {
            Value::String(s) => match parse_datetime(s) {
                Some(dt) => Ok(Value::String(format_datetime(dt))),
                None => Err(parser_error(field, "datetime", &value)),
            },
            _ => Err(parser_error(field, "datetime", &value)),
        },
        FieldType::Reference | FieldType::Id => match &value {
            // A non-Id string is a per-record MALFORMED_ID, not a parser error, so keep it as is
            // when it does not parse; `check_value` then reports the wrong type.
            Value::String(s) => Ok(Value::String(
                id::normalize(s).unwrap_or_else(|_| s.clone()),
            )),
            _ => Err(parser_error(field, "id", &value)),
        },
        FieldType::Address => Ok(value),
        _ => match value {
            Value::String(_) => Ok(value),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(parser_error(field, "string", &other)),
        },
    }
}

/// Parses the ISO-8601 forms clients send: RFC 3339, Salesforce's `+0000` offsets, or no
/// offset at all (taken as UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(dt.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Formats an instant as Salesforce answers it: `2024-05-01T10:00:00.000+0000`.
pub fn format_datetime(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::OrgConfig;
    use serde_json::json;

    fn org() -> OrgSchema {
        OrgConfig::named("b", "127.0.0.1:0".parse().unwrap()).schema
    }

    fn check(op: Operation, v: Value) -> Result<Checked, JsonParserError> {
        let schema = org();
        let lead = schema.sobject("Lead").unwrap().clone();
        let Value::Object(m) = v else {
            panic!("object expected")
        };
        check_record(&schema, &lead, op, m)
    }

    fn code(r: Result<Checked, JsonParserError>) -> String {
        match r {
            Ok(Checked::Rejected(e)) => e.code,
            Ok(Checked::Accepted(_)) => "ACCEPTED".into(),
            Err(_) => "JSON_PARSER_ERROR".into(),
        }
    }

    #[test]
    fn valid_lead_is_accepted_with_canonical_names() {
        let r = check(
            Operation::Insert,
            json!({"lastname": "Okafor", "Company": "Northwind", "AnnualRevenue": "2500000"}),
        );
        let Ok(Checked::Accepted(m)) = r else {
            panic!("accepted expected")
        };
        assert_eq!(m.get("LastName"), Some(&json!("Okafor")));
        assert_eq!(m.get("AnnualRevenue"), Some(&json!(2500000.0)));
    }

    #[test]
    fn each_rule_gives_its_error_code() {
        let base = |extra: Value| {
            let mut m = json!({"LastName": "X", "Company": "Y"});
            if let (Value::Object(a), Value::Object(b)) = (&mut m, extra) {
                a.extend(b);
            }
            m
        };
        assert_eq!(
            code(check(Operation::Insert, base(json!({"Nope__c": 1})))),
            "INVALID_FIELD"
        );
        assert_eq!(
            code(check(
                Operation::Insert,
                base(json!({"CreatedDate": "2024-01-01T00:00:00Z"}))
            )),
            "INVALID_FIELD_FOR_INSERT_UPDATE"
        );
        assert_eq!(
            code(check(
                Operation::Insert,
                base(json!({"Id": "00Q000000000001"}))
            )),
            "INVALID_FIELD_FOR_INSERT_UPDATE"
        );
        assert_eq!(
            code(check(Operation::Insert, json!({"Company": "Y"}))),
            "REQUIRED_FIELD_MISSING"
        );
        assert_eq!(
            code(check(
                Operation::Insert,
                base(json!({"FirstName": "x".repeat(41)}))
            )),
            "STRING_TOO_LONG"
        );
        assert_eq!(
            code(check(Operation::Insert, base(json!({"Status": "Bogus"})))),
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        );
        assert_eq!(
            code(check(
                Operation::Insert,
                base(json!({"NumberOfEmployees": "many"}))
            )),
            "JSON_PARSER_ERROR"
        );
        assert_eq!(
            code(check(
                Operation::Insert,
                base(json!({"IsUnreadByOwner": "true"}))
            )),
            "JSON_PARSER_ERROR"
        );
        assert_eq!(
            code(check(
                Operation::Insert,
                base(json!({"ConvertedDate": "2024-13-01"}))
            )),
            "INVALID_FIELD_FOR_INSERT_UPDATE"
        );
        assert_eq!(
            code(check(
                Operation::Insert,
                base(json!({"OwnerId": "not-an-id"}))
            )),
            "MALFORMED_ID"
        );
        assert_eq!(
            code(check(
                Operation::Insert,
                base(json!({"OwnerId": "001D000000IqhSL"}))
            )),
            "MALFORMED_ID"
        );
    }

    #[test]
    fn update_does_not_require_required_fields_but_refuses_nulling_them() {
        assert_eq!(
            code(check(Operation::Update, json!({"Title": "CTO"}))),
            "ACCEPTED"
        );
        assert_eq!(
            code(check(Operation::Update, json!({"LastName": null}))),
            "REQUIRED_FIELD_MISSING"
        );
    }

    #[test]
    fn datetimes_in_common_iso_forms_are_normalised() {
        for s in [
            "2024-05-01T10:00:00Z",
            "2024-05-01T10:00:00.000+0000",
            "2024-05-01T12:00:00+02:00",
            "2024-05-01T10:00:00",
        ] {
            let dt = parse_datetime(s).unwrap();
            assert_eq!(format_datetime(dt), "2024-05-01T10:00:00.000+0000");
        }
        assert!(parse_datetime("yesterday").is_none());
    }
}
