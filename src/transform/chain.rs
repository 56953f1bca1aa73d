//! The transform chain: the configured transforms in the order of `transforms`, each
//! applied only when its predicate (if any) holds, negated on request.
//!
//! `Filter` ends the chain for a record: it is dropped, as a Connect transform
//! returning `null` drops it, and the caller acknowledges its offset.

use serde_json::Value;

use super::predicate::Predicate;
use super::record::ConnectRecord;
use super::{
    cast::Cast, extract_field::ExtractField, flatten::Flatten, hoist_field::HoistField,
    insert_field::InsertField, mask_field::MaskField, replace_field::ReplaceField,
    timestamp_converter::TimestampConverter, value_to_key::ValueToKey, Part, RecordError,
    TransformError,
};

/// One configured transform.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// `ReplaceField$Key` / `$Value`.
    ReplaceField(Part, ReplaceField),
    /// `InsertField$Key` / `$Value`.
    InsertField(Part, InsertField),
    /// `MaskField$Key` / `$Value`.
    MaskField(Part, MaskField),
    /// `Cast$Key` / `$Value`.
    Cast(Part, Cast),
    /// `TimestampConverter$Key` / `$Value`.
    TimestampConverter(Part, TimestampConverter),
    /// `ExtractField$Key` / `$Value`.
    ExtractField(Part, ExtractField),
    /// `HoistField$Key` / `$Value`.
    HoistField(Part, HoistField),
    /// `Flatten$Key` / `$Value`.
    Flatten(Part, Flatten),
    /// `ValueToKey`.
    ValueToKey(ValueToKey),
    /// `Filter`.
    Filter,
}

impl Step {
    /// The key or value this step works on (`None` for `Filter` and `ValueToKey`,
    /// which read the value and write the key).
    fn part(&self) -> Option<Part> {
        match self {
            Step::ReplaceField(p, _)
            | Step::InsertField(p, _)
            | Step::MaskField(p, _)
            | Step::Cast(p, _)
            | Step::TimestampConverter(p, _)
            | Step::ExtractField(p, _)
            | Step::HoistField(p, _)
            | Step::Flatten(p, _) => Some(*p),
            Step::ValueToKey(_) | Step::Filter => None,
        }
    }

    /// Applies the step; `Ok(false)` means the record is dropped.
    fn apply(&self, record: &mut ConnectRecord) -> Result<bool, RecordError> {
        if let Step::Filter = self {
            return Ok(false);
        }
        if let Step::ValueToKey(t) = self {
            record.key = Some(t.apply(&mut record.value)?);
            return Ok(true);
        }
        let part = self.part().unwrap_or(Part::Value);
        let meta = &record.meta;
        let target: &mut Value = match part {
            Part::Value => &mut record.value,
            // The chain decodes the key whenever a step works on it; an undecoded
            // key here can only be absent.
            Part::Key => record.key.get_or_insert(Value::Null),
        };
        match self {
            Step::ReplaceField(_, t) => t.apply(target, part),
            Step::InsertField(_, t) => t.apply(target, part, meta),
            Step::MaskField(_, t) => t.apply(target, part),
            Step::Cast(_, t) => t.apply(target, part),
            Step::TimestampConverter(_, t) => t.apply(target, part),
            Step::ExtractField(_, t) => t.apply(target, part),
            Step::HoistField(_, t) => {
                t.apply(target);
                Ok(())
            }
            Step::Flatten(_, t) => t.apply(target, part),
            Step::ValueToKey(_) | Step::Filter => Ok(()),
        }?;
        Ok(true)
    }
}

/// A predicate guarding a transform.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    /// The predicate (`predicates.<name>`).
    pub(crate) predicate: Predicate,
    /// `transforms.<alias>.negate`.
    pub(crate) negate: bool,
}

/// One entry of `transforms`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stage {
    /// Its alias.
    pub(crate) alias: String,
    /// Its class name as configured.
    pub(crate) class: String,
    /// What it does.
    pub(crate) step: Step,
    /// When it applies (always when `None`).
    pub(crate) condition: Option<Condition>,
}

/// What became of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It went through every stage and is to be written.
    Kept,
    /// A `Filter` stage dropped it.
    Filtered {
        /// The alias of that stage.
        alias: String,
    },
}

/// The configured transforms, in order. Empty when `transforms` is not set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransformChain {
    stages: Vec<Stage>,
}

impl TransformChain {
    pub(crate) fn new(stages: Vec<Stage>) -> Self {
        TransformChain { stages }
    }

    /// True when no transform is configured (records then skip this module).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The aliases, in order.
    pub fn aliases(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.alias.as_str()).collect()
    }

    /// True when some stage reads the record key (a `$Key` transform), so the key
    /// must be decoded before the chain runs.
    pub fn reads_key(&self) -> bool {
        self.stages.iter().any(|s| s.step.part() == Some(Part::Key))
    }

    /// True when some predicate tests header names (`HasHeaderKey`).
    pub fn needs_header_keys(&self) -> bool {
        self.stages.iter().any(|s| {
            s.condition
                .as_ref()
                .is_some_and(|c| matches!(c.predicate, Predicate::HasHeaderKey(_)))
        })
    }

    /// Runs every stage on `record`, in order.
    pub fn apply(&self, record: &mut ConnectRecord) -> Result<Outcome, TransformError> {
        for stage in &self.stages {
            if let Some(c) = &stage.condition {
                if c.predicate.test(record) == c.negate {
                    continue;
                }
            }
            match stage.step.apply(record) {
                Ok(true) => {}
                Ok(false) => {
                    return Ok(Outcome::Filtered {
                        alias: stage.alias.clone(),
                    })
                }
                Err(reason) => {
                    return Err(TransformError {
                        alias: stage.alias.clone(),
                        class: stage.class.clone(),
                        reason,
                    })
                }
            }
        }
        Ok(Outcome::Kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::config::read;
    use crate::transform::record::test_record;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn chain(pairs: &[(&str, &str)]) -> TransformChain {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        read(&map).unwrap()
    }

    const T: &str = "org.apache.kafka.connect.transforms.";

    #[test]
    fn stages_apply_in_order() {
        let c = chain(&[
            ("transforms", "rename,cast"),
            ("transforms.rename.type", &format!("{T}ReplaceField$Value")),
            ("transforms.rename.renames", "Count:N"),
            ("transforms.cast.type", &format!("{T}Cast$Value")),
            ("transforms.cast.spec", "N:string"),
        ]);
        let mut r = test_record(json!({"Count": 4}));
        assert_eq!(c.apply(&mut r), Ok(Outcome::Kept));
        assert_eq!(r.value, json!({"N": "4"}));
    }

    #[test]
    fn filter_under_a_predicate_drops_only_matching_records() {
        let c = chain(&[
            ("transforms", "drop"),
            ("transforms.drop.type", &format!("{T}Filter")),
            ("transforms.drop.predicate", "tomb"),
            ("predicates", "tomb"),
            (
                "predicates.tomb.type",
                &format!("{T}predicates.RecordIsTombstone"),
            ),
        ]);
        let mut tomb = test_record(Value::Null);
        assert_eq!(
            c.apply(&mut tomb),
            Ok(Outcome::Filtered {
                alias: "drop".into()
            })
        );
        let mut live = test_record(json!({"A": 1}));
        assert_eq!(c.apply(&mut live), Ok(Outcome::Kept));
    }

    #[test]
    fn negate_inverts_the_predicate() {
        let c = chain(&[
            ("transforms", "keepLeads"),
            ("transforms.keepLeads.type", &format!("{T}Filter")),
            ("transforms.keepLeads.predicate", "leads"),
            ("transforms.keepLeads.negate", "true"),
            ("predicates", "leads"),
            (
                "predicates.leads.type",
                &format!("{T}predicates.TopicNameMatches"),
            ),
            ("predicates.leads.pattern", "lead.*"),
        ]);
        // test_record's topic is "leads": the predicate holds, negated it does not.
        let mut r = test_record(json!({}));
        assert_eq!(c.apply(&mut r), Ok(Outcome::Kept));
        let mut other = test_record(json!({}));
        other.meta.coords.topic = "contacts".into();
        assert!(matches!(c.apply(&mut other), Ok(Outcome::Filtered { .. })));
    }

    #[test]
    fn a_failing_stage_names_alias_and_class() {
        let c = chain(&[
            ("transforms", "toInt"),
            ("transforms.toInt.type", &format!("{T}Cast$Value")),
            ("transforms.toInt.spec", "N:int32"),
        ]);
        let mut r = test_record(json!({"N": "abc"}));
        let e = c.apply(&mut r).unwrap_err();
        assert_eq!(e.alias, "toInt");
        let text = e.to_string();
        assert!(
            text.starts_with(
                "transform toInt (org.apache.kafka.connect.transforms.Cast$Value) failed: field N"
            ),
            "{text}"
        );
        assert!(
            !text.contains("abc"),
            "no record contents in errors: {text}"
        );
    }

    #[test]
    fn value_to_key_then_a_key_transform() {
        let c = chain(&[
            ("transforms", "vk,ek"),
            ("transforms.vk.type", &format!("{T}ValueToKey")),
            ("transforms.vk.fields", "LeadKey"),
            ("transforms.ek.type", &format!("{T}ExtractField$Key")),
            ("transforms.ek.field", "LeadKey"),
        ]);
        assert!(c.reads_key());
        let mut r = test_record(json!({"LeadKey": "00Q1", "A": 1}));
        c.apply(&mut r).unwrap();
        assert_eq!(r.key, Some(json!("00Q1")));
        assert_eq!(r.value, json!({"LeadKey": "00Q1", "A": 1}));
    }
}
