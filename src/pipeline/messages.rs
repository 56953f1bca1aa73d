//! Every message that moves between the pipeline's actors.
//!
//! Data flows reader → decoder → sequencer → writer and back as outcomes; offsets are
//! acknowledged to the offset tracker, which alone owns them. Actors reach each other
//! only through `Recipient`s of these messages, handed to them when the task wires them
//! (`task.rs`), so each actor file depends on this file and not on another actor.
//! Every message carries owned data, never borrowed consumer memory.

use crate::config::Operation;
use crate::kafka::offsets::TopicPartition;
use crate::kafka::ownership::Epoch;
use crate::pipeline::plan::WriteGroup;
use crate::record::{RecordCoords, SinkRecord};
use crate::salesforce::client::ApiUsage;
use crate::salesforce::retry::{Action, Cause};
use actix::{Message, Recipient};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// One Kafka record as read, before decoding.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Where it sits.
    pub coords: RecordCoords,
    /// The assignment of its partition it was read under (see
    /// [`Ownership`](crate::kafka::ownership::Ownership)).
    pub epoch: Epoch,
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
    /// The assignment of its partition it was read under: it is sent only while that
    /// assignment lasts.
    pub epoch: Epoch,
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

#[cfg(test)]
impl Change {
    /// A Lead change at `leads/0@offset` with source `id` and `fields`, for the
    /// actors' tests. It was read under epoch 1, the first an
    /// [`Ownership`](crate::kafka::ownership::Ownership) hands out.
    pub(crate) fn lead(
        offset: i64,
        id: Option<&str>,
        operation: Operation,
        group: WriteGroup,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Change {
        Change {
            record: SinkRecord {
                coords: RecordCoords {
                    topic: std::sync::Arc::from("leads"),
                    partition: 0,
                    offset,
                },
                timestamp: None,
                id: id.map(str::to_string),
                object_type: Some("Lead".into()),
                event_type: None,
                fields: fields.into(),
            },
            operation,
            group,
            raw_key: None,
            raw_value: None,
            epoch: 1,
        }
    }
}

/// Decoded changes (decoder → sequencer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Submit(pub Vec<Change>);

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
/// copied, with one final [`Action`] each (done, already gone, row missing, reject or
/// halt), in the same order.
pub struct Written {
    /// The batch's changes.
    pub changes: Vec<Change>,
    /// `outcomes[i]` is the fate of `changes[i]`.
    pub outcomes: Vec<Action>,
}

/// Records whose outcome is final (→ offset tracker).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Ack(pub Vec<RecordCoords>);

/// Offsets that entered the pipeline (reader → offset tracker, before the data moves on).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Register(pub Vec<RecordCoords>);

/// Commit every stored position now, synchronously (→ offset tracker).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CommitNow;

/// Forget partitions that were revoked (→ offset tracker).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget(pub Vec<TopicPartition>);

/// The committable position of every partition the tracker knows.
#[derive(Message)]
#[rtype(result = "HashMap<TopicPartition, i64>")]
pub struct Positions;

/// Stop the actor now (the task is being stopped; its work has drained).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Stop admitting records for good (halt or shutdown); partitions are paused (→ reader).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopIntake;

/// Pause or resume intake at an operator's request (→ reader).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPaused(pub bool);

/// Wait until no batch is in flight and nothing is ready to go (→ sequencer, on halt
/// and shutdown; changes waiting behind a failed Id stay unacknowledged and are
/// replayed after a restart).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain {
    /// Whether held updates of missing rows halt now (on a halt) or are simply left
    /// for the replay (on a graceful shutdown).
    pub halt_held: bool,
}

/// Whether the task is working through a backlog (records waiting, in Kafka and in
/// the pipeline, at or above `sink.bulk.threshold.records`): batches then fill up to
/// the bulk size and go as Bulk API 2.0 jobs (reader → sequencer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct BulkMode(pub bool);

/// The reader has read everything there is for now (or cannot admit more): held
/// updates of missing rows will not be superseded and halt the task (reader →
/// sequencer).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReaderIdle;

/// Wait for permission to make one API call (writer → governor). The answer is `true`
/// when the permit is granted; `false` after a pause ended, and the caller asks again
/// (another caller may have taken the freed allocation meanwhile).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Acquire;

/// A call made with a permit has its answer (or failed): it no longer needs to be
/// counted as on its way (writer → governor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release;

/// Salesforce answered that the daily allocation is spent (writer → governor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AllocationSpent;

/// The org's API usage as the latest answer reported it (client → governor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UsageSeen(pub ApiUsage);

/// Something to report (→ reporter). The sender waits for the answer, which comes once
/// the reporter has taken the report on: that bounds how many reports can pile up.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Report {
    /// Salesforce accepted the change.
    Delivered {
        /// The change.
        change: Box<Change>,
        /// The target row's Id.
        id: Option<String>,
        /// Whether a row was created.
        created: Option<bool>,
    },
    /// The change was set aside (a Salesforce error or a body the sink cannot build)
    /// and configuration tolerates it.
    Rejected {
        /// The change.
        change: Box<Change>,
        /// Why.
        cause: Cause,
    },
    /// A record that could not be decoded, tolerated by `errors.tolerance=all`.
    BadRecord {
        /// The raw record.
        raw: Box<RawMessage>,
        /// Why.
        reason: String,
    },
    /// The task halts on this record: it goes to the error topic too (→ the halt actor,
    /// which waits for it before the task is marked failed).
    Halted(HaltReason),
}

/// Why a task halts.
#[derive(Debug, Clone, PartialEq)]
pub struct HaltReason {
    /// The cause: code (`DUPLICATES_DETECTED`, `ENTITY_IS_DELETED`, `BAD_RECORD`,
    /// `RETRIES_EXHAUSTED`, ...), message and fields.
    pub cause: Cause,
    /// The record it is about, when there is one.
    pub coords: Option<RecordCoords>,
    /// The record's source `Id`, when it has one.
    pub record_id: Option<String>,
}

impl HaltReason {
    /// The halt `cause` names for `change`.
    pub fn for_change(change: &Change, cause: Cause) -> HaltReason {
        HaltReason {
            cause,
            coords: Some(change.record.coords.clone()),
            record_id: change.record.id.clone(),
        }
    }
}

impl fmt::Display for HaltReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.cause;
        write!(f, "{}: {}", c.code, c.message)?;
        if !c.fields.is_empty() {
            write!(f, " (fields: {})", c.fields.join(", "))?;
        }
        if let Some(c) = &self.coords {
            write!(
                f,
                "\n  record: topic={} partition={} offset={}",
                c.topic, c.partition, c.offset
            )?;
        }
        if let Some(id) = &self.record_id {
            write!(f, " Id={id}")?;
        }
        write!(f, "\n  what to do: {}", c.remedy())
    }
}

/// Halt the task (→ halt actor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Halt(pub HaltReason);

/// The actors a task's work drains through, in order: the reader stops intake, the
/// sequencer drains (bounded by `timeout`), the tracker commits.
#[derive(Clone)]
pub struct DrainTargets {
    /// The reader.
    pub stop_intake: Recipient<StopIntake>,
    /// The sequencer.
    pub drain: Recipient<Drain>,
    /// The offset tracker.
    pub commit: Recipient<CommitNow>,
    /// `task.shutdown.graceful.timeout.ms`: how long the drain may take.
    pub timeout: Duration,
}

impl DrainTargets {
    /// The one drain-and-commit sequence, for a stop (`halt_held: false`: held updates
    /// are left for the replay) and a halt (`true`: they halt too). Nothing past an
    /// unfinished record is committed; a partition revoked meanwhile is drained by the
    /// consumer's own rebalance callback, which cannot wait on actors.
    pub async fn drain_and_commit(&self, halt_held: bool) {
        let _ = self.stop_intake.send(StopIntake).await;
        let drained = self.drain.send(Drain { halt_held });
        if tokio::time::timeout(self.timeout, drained).await.is_err() {
            tracing::warn!(
                "work still in flight after {:?}; committing what is finished",
                self.timeout
            );
        }
        let _ = self.commit.send(CommitNow).await;
    }
}

/// Tells the halt actor what to drain and where to report the halted record (task
/// wiring; the reader starts after it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct WireHalt {
    /// What a halt drains.
    pub drain: DrainTargets,
    /// The reporter, which writes the halted record to the error topic.
    pub reporter: Recipient<Report>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_trace_names_code_record_and_remedy() {
        let r = HaltReason {
            cause: Cause::new("ENTITY_IS_DELETED", "entity is deleted"),
            coords: Some(RecordCoords {
                topic: Arc::from("leads"),
                partition: 3,
                offset: 17,
            }),
            record_id: Some("00Q5e00000AbCdEEAV".into()),
        };
        let s = r.to_string();
        for part in [
            "ENTITY_IS_DELETED",
            "topic=leads",
            "partition=3",
            "offset=17",
            "Id=00Q5e00000AbCdEEAV",
            "restart",
        ] {
            assert!(s.contains(part), "{part} missing from {s}");
        }
    }
}
