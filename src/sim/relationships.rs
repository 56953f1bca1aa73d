//! Relationship references by External ID: a record may set a reference field through its
//! relationship, naming the parent by one of the parent's indexed fields instead of its
//! Id (`"Account": {"CustomId__c": "A-1"}` sets `AccountId`; a polymorphic relationship
//! names its SObject in `attributes.type`). Each reference is turned into the reference
//! field and the parent's Id before the record's rules are checked.

use crate::sim::record::RecordFields;
use crate::sim::rules::{self, RecordError};
use crate::sim::schema::{FieldDef, FieldType, OrgSchema, SObjectDef};
use crate::sim::store::Table;
use crate::sim::writes::WriteError;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn invalid_field(message: String) -> WriteError {
    WriteError::Record(RecordError::new("INVALID_FIELD", message, vec![]))
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The reference field whose relationship is called `name`, when `name` is no field of its
/// own.
fn relationship<'d>(def: &'d SObjectDef, name: &str) -> Option<&'d FieldDef> {
    if def.field(name).is_some() {
        return None;
    }
    def.reference_fields().map(|(_, f)| f).find(|f| {
        f.relationship_name
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(name))
    })
}

/// True when a parent field can identify its row in a reference: an External ID, or a
/// standard field with `idLookup`.
fn indexed(field: &FieldDef) -> bool {
    field.external_id || (field.id_lookup && field.field_type != FieldType::Id)
}

/// The Id of the one live row of `target` whose indexed field `key` equals `value`.
fn parent_id(
    schema: &OrgSchema,
    tables: &HashMap<String, Table>,
    target: &str,
    key: &str,
    value: Value,
) -> Result<String, WriteError> {
    let not_indexed = || {
        invalid_field(format!(
            "Foreign key external ID field {key} does not exist or is not an External ID on {target}"
        ))
    };
    let def = schema.sobject(target).ok_or_else(not_indexed)?;
    let position = def.position(key).ok_or_else(not_indexed)?;
    let field = def
        .fields
        .get(position)
        .filter(|f| indexed(f))
        .ok_or_else(not_indexed)?;
    let value = rules::coerce(field, value)?;
    let matches = tables
        .get(&def.name)
        .and_then(|t| t.lookup_at(&[position], &[Some(&value)]))
        .unwrap_or_default();
    match matches {
        [one] => Ok(one.clone()),
        [] => Err(invalid_field(format!(
            "Foreign key external ID: {} not found for field {} in entity {}",
            shown(&value),
            field.name,
            def.name
        ))),
        _ => Err(invalid_field(format!(
            "Foreign key external ID: {} matches more than one record for field {} in entity {}",
            shown(&value),
            field.name,
            def.name
        ))),
    }
}

/// Resolves one relationship value into the parent's Id.
fn resolve_one(
    schema: &OrgSchema,
    tables: &HashMap<String, Table>,
    name: &str,
    field: &FieldDef,
    value: Value,
) -> Result<String, WriteError> {
    let Value::Object(mut reference) = value else {
        return Err(invalid_field(format!(
            "Relationship {name} must be an object naming the parent by one External ID field; set {} to null to clear the lookup",
            field.name
        )));
    };
    let given_type = reference
        .remove("attributes")
        .and_then(|a| a.get("type").and_then(Value::as_str).map(str::to_string));
    let target = match given_type {
        Some(t) => field
            .reference_to
            .iter()
            .find(|r| r.eq_ignore_ascii_case(&t))
            .cloned()
            .ok_or_else(|| {
                invalid_field(format!(
                    "Relationship {name} cannot point to {t}; it points to {}",
                    field.reference_to.join(", ")
                ))
            })?,
        None => match field.reference_to.as_slice() {
            [only] => only.clone(),
            many => {
                return Err(invalid_field(format!(
                    "Relationship {name} is polymorphic: give the parent's SObject ({}) as attributes.type",
                    many.join(", ")
                )))
            }
        },
    };
    let mut keys = reference.into_iter();
    match (keys.next(), keys.next()) {
        (Some((key, value)), None) => parent_id(schema, tables, &target, &key, value),
        _ => Err(invalid_field(format!(
            "Relationship {name} must name the parent by exactly one External ID field"
        ))),
    }
}

/// Replaces each relationship reference of a record by its reference field and the
/// parent's Id. Records without any object value are returned as they came.
pub fn resolve(
    schema: &OrgSchema,
    tables: &HashMap<String, Table>,
    def: &SObjectDef,
    input: RecordFields,
) -> Result<RecordFields, WriteError> {
    let has_reference = input
        .iter()
        .any(|(name, value)| !value.is_string() && relationship(def, name).is_some());
    if !has_reference {
        return Ok(input);
    }
    let mut out = RecordFields::default();
    let direct: HashSet<&str> = input
        .iter()
        .filter_map(|(name, _)| def.field(name).map(|f| f.name.as_str()))
        .collect();
    for (name, value) in input {
        let Some(field) = relationship(def, &name) else {
            out.insert(name, value);
            continue;
        };
        if direct.contains(field.name.as_str()) {
            return Err(invalid_field(format!(
                "Cannot specify both an external ID reference {name} and a salesforce id, {}",
                field.name
            )));
        }
        let id = resolve_one(schema, tables, &name, field, value)?;
        out.insert(field.name.clone(), Value::String(id));
    }
    Ok(out)
}
