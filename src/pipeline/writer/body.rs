//! Request bodies for a batch: one JSON body per change, built from the record and the
//! SObject's describe (`salesforce/request.rs` holds the rules).
//!
//! A change whose body cannot be built gets its final action here (a bad record, as
//! `salesforce/retry.rs` decides) and leaves the batch. Fields the SObject does not
//! have are dropped, counted, and warned about once per field.

use super::Shared;
use crate::metrics::metrics;
use crate::pipeline::messages::Change;
use crate::pipeline::plan::WriteGroup;
use crate::salesforce::body::Body;
use crate::salesforce::describe::SObjectSchema;
use crate::salesforce::request::{record_body, WriteKind};
use crate::salesforce::retry::{decide_bad_record, Action};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;

/// The REST write that carries a group's changes.
fn write_kind(group: WriteGroup, field: Option<&str>) -> WriteKind {
    match group {
        WriteGroup::Insert => WriteKind::Create,
        WriteGroup::UpsertByExternalId => WriteKind::UpsertByExternalId {
            field: field.unwrap_or_default().to_string(),
        },
        WriteGroup::UpdateById | WriteGroup::UpdateByExternalId => WriteKind::UpdateById,
        WriteGroup::DeleteById | WriteGroup::DeleteByExternalId => WriteKind::DeleteById,
    }
}

/// The request bodies for the changes at `chunk`'s positions (none for a delete). A
/// change whose body cannot be built gets its outcome and leaves the chunk.
pub(super) fn build<'r>(
    shared: &Shared,
    group: WriteGroup,
    changes: &'r [Change],
    targets: &[Option<String>],
    chunk: &mut Vec<usize>,
    outcomes: &mut [Option<Action>],
    schema: &'r SObjectSchema,
) -> Vec<Body<'r>> {
    if group.is_delete() {
        return Vec::new();
    }
    let s = &shared.settings;
    let kind = write_kind(group, s.custom_id_field.as_deref());
    let addressed_by_id = matches!(
        group,
        WriteGroup::UpdateById | WriteGroup::UpdateByExternalId
    );
    let mut unknown: HashSet<String> = HashSet::new();
    let mut bodies = Vec::with_capacity(chunk.len());
    chunk.retain(
        |pos| match record_body(&kind, &changes[*pos].record, schema, &s.rules) {
            Ok(built) => {
                let mut body = built.fields;
                if let Some(references) = &shared.references {
                    references.rewrite(&mut body, &s.connector);
                }
                if addressed_by_id {
                    if let Some(t) = &targets[*pos] {
                        body.insert("id", Cow::Owned(Value::String(t.clone())));
                    }
                }
                unknown.extend(built.unknown_fields);
                bodies.push(body);
                true
            }
            Err(e) => {
                outcomes[*pos] = Some(decide_bad_record(&s.policy, e.to_string()));
                false
            }
        },
    );
    for field in unknown {
        metrics()
            .unknown_fields
            .with_label_values(&[&s.connector, &field])
            .inc();
        if shared.warned_unknown.insert(field.clone(), ()).is_none() {
            tracing::warn!(
                connector = %s.connector,
                "records carry field {field}, which {} does not have; it is dropped",
                s.sobject
            );
        }
    }
    bodies
}

/// The target Ids of the changes at `chunk`'s positions (what a delete addresses).
pub(super) fn target_ids(targets: &[Option<String>], chunk: &[usize]) -> Vec<String> {
    chunk
        .iter()
        .map(|pos| targets[*pos].clone().unwrap_or_default())
        .collect()
}
