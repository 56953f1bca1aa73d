//! The messages that move between the pipeline's actors.
//!
//! Data flows reader → decoder → sequencer → writer and back as outcomes; offsets are
//! acknowledged to the offset tracker, which alone owns them. Every message carries
//! owned data, never borrowed consumer memory.

use crate::config::Operation;
use crate::pipeline::plan::WriteGroup;
use crate::record::{RecordCoords, SinkRecord};
use actix::Message;

/// One Kafka record as read, before decoding.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Where it sits.
    pub coords: RecordCoords,
    /// Its Kafka timestamp.
    pub timestamp: Option<i64>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Header names, read only when a transform predicate needs them (else empty).
    pub header_keys: Vec<String>,
}

/// Records read from Kafka, in partition order (reader → decoder).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecordBatch(pub Vec<RawMessage>);

/// A decoded record with the operation it asks for.
#[derive(Debug, Clone)]
pub struct Change {
    /// The decoded record.
    pub record: SinkRecord,
    /// The logical operation (from `_EventType` or the override).
    pub operation: Operation,
    /// How it will be written.
    pub group: WriteGroup,
    /// Input key bytes, kept for reports and dead letters.
    pub raw_key: Option<Vec<u8>>,
    /// Input value bytes, kept for dead letters (only when a DLQ is configured).
    pub raw_value: Option<Vec<u8>>,
}

impl Change {
    /// The ordering key: the source `Id`, or the record's position when it has none
    /// (an insert without Id has nothing to be ordered with).
    pub fn order_key(&self) -> String {
        match &self.record.id {
            Some(id) => id.clone(),
            None => format!("@{}", self.record.coords),
        }
    }
}

/// Decoded changes (decoder → sequencer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Submit(pub Vec<Change>);

/// A record that could not be decoded.
#[derive(Debug, Clone)]
pub struct BadRecord {
    /// The raw record.
    pub raw: RawMessage,
    /// Why it could not be used.
    pub reason: String,
}

/// What happened to one change in Salesforce.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeOutcome {
    /// Salesforce accepted it.
    Written {
        /// The target row's Id.
        id: Option<String>,
        /// Whether a row was created.
        created: Option<bool>,
    },
    /// A delete whose row was already deleted or absent: its end state holds.
    AlreadyGone,
    /// An update (or delete under strict deletes) whose row does not exist or is
    /// deleted. It halts the task, unless a later change in the stream deletes the row
    /// anyway (a replay after a crash): the sequencer decides.
    RowMissing {
        /// `NOT_FOUND` or `ENTITY_IS_DELETED`.
        code: String,
        /// Salesforce's message.
        message: String,
    },
    /// An unexpected error: the fail-fast halt.
    Halt {
        /// Salesforce error code.
        code: String,
        /// Salesforce's message.
        message: String,
        /// Fields named by the error.
        fields: Vec<String>,
    },
    /// A permanent per-record error, tolerated by configuration (`behavior.on.api.errors`).
    Rejected {
        /// Salesforce error code.
        code: String,
        /// Salesforce's message.
        message: String,
        /// Fields named by the error.
        fields: Vec<String>,
    },
    /// The retry budget ran out (the task fails).
    RetriesExhausted {
        /// The last error seen.
        last_error: String,
    },
}

/// A batch for a writer (sequencer → writer); the answer hands the changes back with
/// one outcome each.
#[derive(Message)]
#[rtype(result = "Written")]
pub struct WriteBatch {
    /// How every change of the batch is written.
    pub group: WriteGroup,
    /// The changes, pairwise different Ids.
    pub changes: Vec<Change>,
}

/// A written batch handed back (writer → sequencer): the changes, moved rather than
/// copied, with one outcome each, in the same order.
pub struct Written {
    /// The batch's changes.
    pub changes: Vec<Change>,
    /// `outcomes[i]` is the fate of `changes[i]`.
    pub outcomes: Vec<ChangeOutcome>,
}

/// Records whose outcome is final (→ offset tracker).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Ack(pub Vec<RecordCoords>);

/// Offsets that entered the pipeline (reader → offset tracker, before the data moves on).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Register(pub Vec<RecordCoords>);

/// Stop the actor now (the task is being stopped; its work has drained).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;
