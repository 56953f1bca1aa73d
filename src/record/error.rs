//! Why a Kafka record could not be decoded. Messages name the field and the rule, never
//! field contents (records carry personal data); the pipeline prefixes
//! topic/partition/offset.

use std::fmt;

/// Which half of the Kafka record a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The record key.
    Key,
    /// The record value.
    Value,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Key => "key",
            Part::Value => "value",
        })
    }
}

/// A record that cannot be turned into a [`super::SinkRecord`] (a "bad record").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not JSON.
    #[error("the record {part} is not valid JSON (byte {position}: {reason})")]
    NotJson {
        /// Key or value.
        part: Part,
        /// Byte offset where parsing failed.
        position: usize,
        /// The parser's reason.
        reason: String,
    },
    /// A StringConverter key that is not UTF-8 text.
    #[error("the record {part} is not UTF-8 text")]
    NotUtf8 {
        /// Key or value.
        part: Part,
    },
    /// `schemas.enable=true` but the JSON is not a `{"schema", "payload"}` envelope.
    #[error("the record {part} is not a {{\"schema\": …, \"payload\": …}} envelope, which {part}.converter.schemas.enable=true requires; set {part}.converter.schemas.enable=false to read plain JSON")]
    MissingEnvelope {
        /// Key or value.
        part: Part,
    },
    /// The Connect schema itself cannot be understood.
    #[error("the record {part} has an invalid Connect schema at {path}: {reason}")]
    InvalidSchema {
        /// Key or value.
        part: Part,
        /// Where in the schema (field path, `(root)` for the top).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The value is not a JSON object / Connect struct.
    #[error("the record {part} must be a JSON object (one SObject row), but it is {found}")]
    NotAnObject {
        /// Key or value.
        part: Part,
        /// What it is instead.
        found: &'static str,
    },
    /// A null value: a deletion marker, which carries no row to write.
    #[error("the record value is null (a tombstone); a change record with _EventType=deleted is needed to delete a row")]
    Tombstone,
    /// A payload value contradicts its declared Connect type.
    #[error("field {field}: the schema declares {expected}, but the value is {found}")]
    SchemaMismatch {
        /// Field path, e.g. `Address.City`.
        field: String,
        /// The declared type.
        expected: String,
        /// What the value is.
        found: String,
    },
    /// `_EventType` is not one of the four PushTopic events.
    #[error("_EventType {value:?} is not one of created, updated, deleted, undeleted")]
    UnknownEventType {
        /// The value found (cut to 40 characters).
        value: String,
    },
    /// A logical-type value that cannot be converted (e.g. a date out of range).
    #[error("field {field}: {reason} (Connect logical type {logical})")]
    BadLogicalValue {
        /// Field path.
        field: String,
        /// The logical type name.
        logical: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A Confluent converter's record without the wire-format header.
    #[error("the record {part} does not start with Confluent's wire-format header (magic byte 0 and a 4-byte schema id), which {part}.converter={converter} reads")]
    NotWireFormat {
        /// Key or value.
        part: Part,
        /// The converter class.
        converter: &'static str,
    },
    /// The header names a schema id the Schema Registry does not have.
    #[error("the record {part} names schema id {id}, which the Schema Registry does not have")]
    UnknownSchemaId {
        /// Key or value.
        part: Part,
        /// The schema id.
        id: u32,
    },
    /// The registry has the id, but its schema cannot read this record.
    #[error("the record {part} names schema id {id}, but {reason}")]
    UnusableSchema {
        /// Key or value.
        part: Part,
        /// The schema id.
        id: u32,
        /// Why the schema cannot be used.
        reason: String,
    },
    /// An Avro body that does not match its writer schema.
    #[error("the record {part} does not match its Avro schema (id {id}): {reason}")]
    AvroBody {
        /// Key or value.
        part: Part,
        /// The schema id.
        id: u32,
        /// What is wrong (never a field's content).
        reason: String,
    },
    /// Nesting beyond what any SObject record has; refused to bound stack use.
    #[error("the record {part} nests deeper than {limit} levels")]
    TooDeep {
        /// Key or value.
        part: Part,
        /// The limit.
        limit: usize,
    },
}
