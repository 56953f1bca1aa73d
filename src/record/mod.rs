//! Input records: what one Kafka record says about one SObject row.
//!
//! A [`SinkRecord`] is the decoded form of a PushTopic-format record: the source
//! org's `Id`, the `_ObjectType` and `_EventType` metadata, and every other field with
//! Connect logical types already turned into the JSON Salesforce expects.

use std::sync::Arc;

pub mod avro;
mod avro_bounds;
pub(crate) mod cdc;
pub(crate) mod converters;
pub mod decode;
pub(crate) mod error;
pub mod fields;
pub(crate) mod logical;
pub mod registry;
mod schema;
mod schema_cache;
pub(crate) mod wire;

pub use converters::RecordConverters;
pub use decode::{decode, decode_with, DecodeOptions, RawRecord};
pub use error::{DecodeError, Part};
pub use fields::{FieldName, Fields};

/// Where a record sits in Kafka; every error about a record names these.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordCoords {
    /// Topic the record was read from.
    pub topic: Arc<str>,
    /// Partition within the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

impl std::fmt::Display for RecordCoords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}@{}", self.topic, self.partition, self.offset)
    }
}

/// The change that happened to the row in the source org (`_EventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `created`
    Created,
    /// `updated`
    Updated,
    /// `deleted`
    Deleted,
    /// `undeleted`
    Undeleted,
}

/// One decoded input record.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkRecord {
    /// Topic, partition and offset.
    pub coords: RecordCoords,
    /// Kafka timestamp (epoch ms), when the record carries one.
    pub timestamp: Option<i64>,
    /// The row's `Id` in the source org (from the value, else from the key).
    pub id: Option<String>,
    /// `_ObjectType`, e.g. `Lead`.
    pub object_type: Option<String>,
    /// `_EventType`; `None` when the record carries none.
    pub event_type: Option<EventType>,
    /// Every other field of the value by API name, in record order. Logical types are
    /// already converted (Date → `"YYYY-MM-DD"`, Timestamp → ISO-8601 UTC with
    /// milliseconds, Decimal → JSON number). Struct values (compound fields such as
    /// `Address`, relationship values such as `Parent__r`) stay JSON objects.
    pub fields: Fields,
}
