//! Lookups carried between orgs by External ID (`sink.references=external.id`).
//!
//! A reference field holds an Id of the source org, which means nothing in the target
//! org. When the field's target SObject has the External ID field the sink writes
//! (`salesforce.custom.id.field.name`, which holds each row's source Id), the value is
//! sent through the relationship instead: `"Account": {"CustomId__c": "<source Id>"}`,
//! and Salesforce finds the parent itself. A polymorphic field (`WhoId`, `WhatId`)
//! picks its target by the source Id's key prefix and names it in `attributes.type`.
//! `null` still clears the lookup. A field whose targets lack the External ID field
//! (`OwnerId` → User, `RecordTypeId`) is set from `sink.references.static`, or else
//! dropped, counted and logged once.
//!
//! The plan (which field goes how) is read once per writer from the describes of the
//! SObject and of every SObject its reference fields point to.

use super::Shared;
use crate::metrics::metrics;
use crate::salesforce::body::Body;
use crate::salesforce::describe::{DescribeError, FieldType, SObjectSchema};
use crate::salesforce::retry::{decide_call, retries_exhausted, Action, Call, Retries};
use dashmap::DashMap;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// What the configuration says about references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSettings {
    /// The External ID field every synced SObject carries the source Id in.
    pub external_id_field: String,
    /// `sink.references.static`: field → fixed Id of the target org.
    pub static_ids: Vec<(String, String)>,
}

/// How one reference field is written.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// Through the relationship, by External ID.
    Parents {
        /// The relationship name (`Account` for `AccountId`).
        relationship: String,
        /// The field may point to several SObjects: name the one in `attributes.type`.
        polymorphic: bool,
        /// The targets that have the External ID field, with their key prefixes.
        parents: Vec<(Option<String>, String)>,
    },
    /// Set to this fixed target-org Id.
    Static(String),
    /// Not written.
    Drop,
}

/// The references of one SObject and of the writer's configuration.
pub(super) struct ReferenceRules {
    settings: ReferenceSettings,
    plan: parking_lot::RwLock<Option<Arc<HashMap<String, Target>>>>,
    warned: DashMap<String, ()>,
}

impl ReferenceRules {
    pub(super) fn new(settings: ReferenceSettings) -> Self {
        ReferenceRules {
            settings,
            plan: parking_lot::RwLock::new(None),
            warned: DashMap::new(),
        }
    }

    /// Reads the describes the plan needs, once; transient failures are retried
    /// within the batch's budget.
    pub(super) async fn prepare(
        &self,
        shared: &Shared,
        schema: &SObjectSchema,
        retries: &mut Retries,
    ) -> Result<(), Action> {
        if self.plan.read().is_some() {
            return Ok(());
        }
        let mut plan = HashMap::new();
        for field in schema.fields.values() {
            if field.field_type != FieldType::Reference || !(field.createable || field.updateable) {
                continue;
            }
            let fixed = self
                .settings
                .static_ids
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(&field.name));
            if let Some((_, id)) = fixed {
                plan.insert(field.name.clone(), Target::Static(id.clone()));
                continue;
            }
            let mut parents = Vec::new();
            for target in &field.reference_to {
                if let Some(parent) = parent_schema(shared, target, retries).await? {
                    let has_field = parent
                        .field(&self.settings.external_id_field)
                        .is_some_and(|f| f.external_id);
                    if has_field {
                        parents.push((parent.key_prefix.clone(), parent.name.clone()));
                    }
                }
            }
            let target = match (&field.relationship_name, parents.is_empty()) {
                (Some(relationship), false) => Target::Parents {
                    relationship: relationship.clone(),
                    polymorphic: field.reference_to.len() > 1,
                    parents,
                },
                _ => Target::Drop,
            };
            plan.insert(field.name.clone(), target);
        }
        *self.plan.write() = Some(Arc::new(plan));
        Ok(())
    }

    /// Rewrites the reference fields of one body (after [`ReferenceRules::prepare`]).
    pub(super) fn rewrite(&self, body: &mut Body<'_>, connector: &str) {
        let Some(plan) = self.plan.read().clone() else {
            return;
        };
        let names: Vec<String> = body
            .keys()
            .filter(|k| plan.contains_key(*k))
            .map(str::to_string)
            .collect();
        for name in names {
            let Some(value) = body.remove(&name) else {
                continue;
            };
            match (&plan[&name], value.as_ref()) {
                (Target::Static(id), _) => {
                    body.insert(name, Cow::Owned(Value::String(id.clone())));
                }
                (Target::Parents { .. }, Value::Null) => {
                    body.insert(name, Cow::Owned(Value::Null));
                }
                (
                    Target::Parents {
                        relationship,
                        polymorphic,
                        parents,
                    },
                    Value::String(source),
                ) => match pick(parents, *polymorphic, source) {
                    Some(sobject) => {
                        let mut parent = Map::new();
                        if *polymorphic {
                            parent
                                .insert("attributes".into(), serde_json::json!({"type": sobject}));
                        }
                        parent.insert(
                            self.settings.external_id_field.clone(),
                            Value::String(source.clone()),
                        );
                        body.insert(relationship.clone(), Cow::Owned(Value::Object(parent)));
                    }
                    None => self.dropped(&name, connector),
                },
                _ => self.dropped(&name, connector),
            }
        }
    }

    fn dropped(&self, field: &str, connector: &str) {
        metrics()
            .references_dropped
            .with_label_values(&[connector, field])
            .inc();
        if self.warned.insert(field.to_string(), ()).is_none() {
            tracing::warn!(
                connector = %connector,
                "reference field {field} is dropped: its target SObject has no External ID \
                 field {} (set it with sink.references.static to write a fixed Id)",
                self.settings.external_id_field
            );
        }
    }
}

/// The target a source Id points to: the only one, or the one with its key prefix.
fn pick<'p>(
    parents: &'p [(Option<String>, String)],
    polymorphic: bool,
    source: &str,
) -> Option<&'p str> {
    if !polymorphic {
        return parents.first().map(|(_, name)| name.as_str());
    }
    let prefix = source.get(..3)?;
    parents
        .iter()
        .find(|(p, _)| p.as_deref() == Some(prefix))
        .map(|(_, name)| name.as_str())
}

/// A parent SObject's describe; `None` when the org has no such SObject (or hides it).
async fn parent_schema(
    shared: &Shared,
    sobject: &str,
    retries: &mut Retries,
) -> Result<Option<Arc<SObjectSchema>>, Action> {
    loop {
        match shared.schemas.get_or_fetch(&shared.client, sobject).await {
            Ok(schema) => return Ok(Some(schema)),
            Err(DescribeError::UnknownSObject { .. }) => return Ok(None),
            Err(DescribeError::Call { source, .. }) => {
                match decide_call(&shared.settings.policy, Call::Read, &source) {
                    Action::Retry { .. } if retries.wait().await => {}
                    Action::Retry { .. } => {
                        return Err(retries_exhausted(format!(
                            "describe of {sobject} failed: {source}"
                        )))
                    }
                    other => return Err(other),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(plan: Vec<(&str, Target)>) -> ReferenceRules {
        let r = ReferenceRules::new(ReferenceSettings {
            external_id_field: "CustomId__c".into(),
            static_ids: vec![],
        });
        *r.plan.write() = Some(Arc::new(
            plan.into_iter().map(|(k, t)| (k.to_string(), t)).collect(),
        ));
        r
    }

    fn parents(relationship: &str, list: &[(&str, &str)]) -> Target {
        Target::Parents {
            relationship: relationship.into(),
            polymorphic: list.len() > 1,
            parents: list
                .iter()
                .map(|(p, n)| (Some(p.to_string()), n.to_string()))
                .collect(),
        }
    }

    #[test]
    fn references_become_relationships_by_external_id_statics_or_nothing() {
        let r = rules(vec![
            ("AccountId", parents("Account", &[("001", "Account")])),
            ("ParentId", parents("Parent", &[("001", "Account")])),
            (
                "WhatId",
                parents("What", &[("001", "Account"), ("006", "Opportunity")]),
            ),
            ("WhoId", parents("Who", &[("003", "Contact")])),
            ("OwnerId", Target::Drop),
            ("RecordTypeId", Target::Static("012000000000001AAA".into())),
        ]);
        let mut body = body_of(json!({
            "attributes": {"type": "Task"}, "Subject": "Call",
            "AccountId": "0015e00000AAAAAAAA", "ParentId": null,
            "WhatId": "0065e00000BBBBBBBB", "OwnerId": "0055e00000CCCCCCCC",
            "RecordTypeId": "0125e00000DDDDDDDD"
        }));
        r.rewrite(&mut body, "refs-test");
        assert_eq!(
            body.to_json(),
            json!({
                "attributes": {"type": "Task"}, "Subject": "Call",
                "Account": {"CustomId__c": "0015e00000AAAAAAAA"},
                "ParentId": null,
                "What": {"attributes": {"type": "Opportunity"}, "CustomId__c": "0065e00000BBBBBBBB"},
                "RecordTypeId": "012000000000001AAA"
            })
        );
    }

    /// A body holding the fields of a JSON object.
    fn body_of(object: Value) -> Body<'static> {
        let mut body = Body::default();
        for (name, value) in object.as_object().cloned().unwrap_or_default() {
            body.push_new(name, Cow::Owned(value));
        }
        body
    }

    #[test]
    fn a_polymorphic_id_of_a_target_without_the_field_is_dropped() {
        let r = rules(vec![(
            "WhoId",
            Target::Parents {
                relationship: "Who".into(),
                polymorphic: true,
                parents: vec![(Some("003".into()), "Contact".into())],
            },
        )]);
        let mut body = body_of(json!({"WhoId": "00Q5e00000AAAAAAAA"}));
        r.rewrite(&mut body, "refs-test");
        assert!(body.is_empty(), "{body:?}");
    }
}
