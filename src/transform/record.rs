//! The Connect-like record transforms work on, built from the raw bytes through the
//! converters, and turned back into the sink's [`SinkRecord`] once the chain is done.
//!
//! The sink's own rules (routing of `Id`, `_ObjectType`, `_EventType`; the key's `Id`
//! when the value has none; tombstones refused) run on the transformed record, so a
//! transform can supply any of them.

use serde_json::Value;

use super::chain::{Outcome, TransformChain};
use super::TransformError;
use crate::record::decode::{assemble, decode_key_value, decode_value_object, key_id};
use crate::record::registry::BatchSchemas;
use crate::record::{DecodeError, DecodeOptions, RawRecord, RecordCoords, SinkRecord};

/// What a record carries besides key and value.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordMeta {
    /// Topic, partition and offset.
    pub coords: RecordCoords,
    /// Kafka timestamp (epoch ms).
    pub timestamp: Option<i64>,
    /// Header names, in record order (read only when a `HasHeaderKey` predicate is
    /// configured; header values are not kept).
    pub header_keys: Vec<String>,
}

/// One record as Connect's transforms see it, in schemaless form.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRecord {
    /// Topic, partition, offset, timestamp, header names.
    pub meta: RecordMeta,
    /// The key; `None` while it is left undecoded because no transform reads it.
    pub key: Option<Value>,
    /// The value; `null` for a tombstone.
    pub value: Value,
}

/// Why a record could not go through the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The converters could not read it, or the result breaks the sink's rules.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A transform failed on it.
    #[error(transparent)]
    Transform(#[from] TransformError),
}

/// What the chain made of one raw record.
#[derive(Debug, Clone, PartialEq)]
pub enum Transformed {
    /// The record to write.
    Record(SinkRecord),
    /// A `Filter` dropped it.
    Filtered {
        /// The alias of that transform.
        alias: String,
    },
}

impl TransformChain {
    /// Decodes `raw` (wire-format records find their writer schema in `schemas`), runs
    /// the chain on it and builds the record to write.
    pub fn run(
        &self,
        raw: RawRecord<'_>,
        header_keys: Vec<String>,
        opts: &DecodeOptions,
        schemas: &BatchSchemas,
    ) -> Result<Transformed, ChainError> {
        let value = decode_value_object(raw.value, opts, schemas)?;
        let key = match (self.reads_key(), raw.key) {
            (false, _) => None,
            (true, None) => Some(Value::Null),
            (true, Some(bytes)) => Some(decode_key_value(bytes, opts, schemas)?),
        };
        let mut record = ConnectRecord {
            meta: RecordMeta {
                coords: raw.coords,
                timestamp: raw.timestamp,
                header_keys,
            },
            key,
            value,
        };
        if let Outcome::Filtered { alias } = self.apply(&mut record)? {
            return Ok(Transformed::Filtered { alias });
        }
        let ConnectRecord { meta, key, value } = record;
        let raw_key = raw.key;
        let sink = assemble(meta.coords, meta.timestamp, value, || match key {
            Some(k) => key_id(k),
            None => match raw_key {
                Some(bytes) => key_id(decode_key_value(bytes, opts, schemas)?),
                None => Ok(None),
            },
        })?;
        Ok(Transformed::Record(sink))
    }
}

/// A record on topic `leads`, partition 0, offset 7, timestamp 1000, no headers and
/// no key, with `value`.
#[cfg(test)]
pub(crate) fn test_record(value: Value) -> ConnectRecord {
    ConnectRecord {
        meta: RecordMeta {
            coords: RecordCoords {
                topic: "leads".into(),
                partition: 0,
                offset: 7,
            },
            timestamp: Some(1000),
            header_keys: Vec::new(),
        },
        key: None,
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::converter::ConverterClass;
    use crate::record::EventType;
    use crate::transform::config::read;
    use std::collections::BTreeMap;

    const T: &str = "org.apache.kafka.connect.transforms.";

    fn chain(pairs: &[(&str, &str)]) -> TransformChain {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        read(&map).unwrap()
    }

    fn plain() -> DecodeOptions {
        DecodeOptions {
            value_schemas_enable: false,
            key_schemas_enable: false,
            ..DecodeOptions::default()
        }
    }

    fn raw<'a>(key: Option<&'a str>, value: Option<&'a str>) -> RawRecord<'a> {
        RawRecord {
            coords: RecordCoords {
                topic: "leads".into(),
                partition: 2,
                offset: 9,
            },
            timestamp: Some(5),
            key: key.map(str::as_bytes),
            value: value.map(str::as_bytes),
        }
    }

    #[test]
    fn a_rename_to_id_and_an_inserted_object_type_reach_the_sink_rules() {
        let c = chain(&[
            ("transforms", "rename,object"),
            ("transforms.rename.type", &format!("{T}ReplaceField$Value")),
            ("transforms.rename.renames", "LeadKey:Id,Kind:_EventType"),
            ("transforms.object.type", &format!("{T}InsertField$Value")),
            ("transforms.object.static.field", "_ObjectType"),
            ("transforms.object.static.value", "Lead"),
        ]);
        let out = c
            .run(
                raw(
                    None,
                    Some(r#"{"LeadKey":"00Q1","Kind":"updated","LastName":"X"}"#),
                ),
                vec![],
                &plain(),
                &BatchSchemas::default(),
            )
            .unwrap();
        let Transformed::Record(r) = out else {
            panic!("kept")
        };
        assert_eq!(r.id.as_deref(), Some("00Q1"));
        assert_eq!(r.object_type.as_deref(), Some("Lead"));
        assert_eq!(r.event_type, Some(EventType::Updated));
        assert_eq!(r.fields.len(), 1);
        assert_eq!(r.coords.offset, 9);
    }

    #[test]
    fn an_undecoded_key_still_supplies_the_id() {
        let c = chain(&[
            ("transforms", "h"),
            ("transforms.h.type", &format!("{T}Flatten$Value")),
        ]);
        let opts = DecodeOptions {
            key_converter: ConverterClass::String,
            ..plain()
        };
        let Transformed::Record(r) = c
            .run(
                raw(Some("00QKEY"), Some(r#"{"A":{"B":1}}"#)),
                vec![],
                &opts,
                &BatchSchemas::default(),
            )
            .unwrap()
        else {
            panic!("kept")
        };
        assert_eq!(r.id.as_deref(), Some("00QKEY"));
        assert_eq!(r.fields["A.B"], 1);
    }

    #[test]
    fn tombstones_reach_the_chain_and_stay_bad_records_if_kept() {
        let c = chain(&[
            ("transforms", "drop"),
            ("transforms.drop.type", &format!("{T}Filter")),
            ("transforms.drop.predicate", "t"),
            ("predicates", "t"),
            (
                "predicates.t.type",
                &format!("{T}predicates.TopicNameMatches"),
            ),
            ("predicates.t.pattern", "other"),
        ]);
        let e = c
            .run(raw(None, None), vec![], &plain(), &BatchSchemas::default())
            .unwrap_err();
        assert_eq!(e, ChainError::Decode(DecodeError::Tombstone));
        let c = chain(&[
            ("transforms", "drop"),
            ("transforms.drop.type", &format!("{T}Filter")),
            ("transforms.drop.predicate", "t"),
            ("predicates", "t"),
            (
                "predicates.t.type",
                &format!("{T}predicates.RecordIsTombstone"),
            ),
        ]);
        assert_eq!(
            c.run(
                raw(None, Some("null")),
                vec![],
                &plain(),
                &BatchSchemas::default()
            ),
            Ok(Transformed::Filtered {
                alias: "drop".into()
            })
        );
    }

    #[test]
    fn a_key_transform_decodes_the_key_first() {
        let c = chain(&[
            ("transforms", "k"),
            ("transforms.k.type", &format!("{T}ExtractField$Key")),
            ("transforms.k.field", "LeadId"),
        ]);
        let Transformed::Record(r) = c
            .run(
                raw(Some(r#"{"LeadId":"00QK"}"#), Some(r#"{"A":1}"#)),
                vec![],
                &plain(),
                &BatchSchemas::default(),
            )
            .unwrap()
        else {
            panic!("kept")
        };
        assert_eq!(r.id.as_deref(), Some("00QK"));
        let e = c
            .run(
                raw(Some("{bad"), Some(r#"{"A":1}"#)),
                vec![],
                &plain(),
                &BatchSchemas::default(),
            )
            .unwrap_err();
        assert!(
            matches!(e, ChainError::Decode(DecodeError::NotJson { .. })),
            "{e}"
        );
    }
}
