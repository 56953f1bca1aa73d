//! The actor pipeline of one connector task.
//!
//! ```text
//!  PartitionReader ─RecordBatch→ Decoder ─Submit→ Sequencer ─WriteBatch→ SObjectWriter
//!        ↑ Register                                  │ ↑ Written            │ Acquire → RateGovernor
//!        └──────────── OffsetTracker ←──── Ack ──────┘ │                    │
//!                                     Reporter (success/error topics, DLQ) │
//!                                     HaltActor (fail-fast) ←── Halt ───────┘
//! ```
//!
//! Every message is in `messages.rs`; actors hold `Recipient`s of them, wired in
//! `task.rs`. With several SObjects (`salesforce.object=Account,Contact`) the
//! sequencer's batches go through the `SObjectRouter` to one writer per SObject.
//! What a Salesforce answer means (retry, skip, halt) is decided in
//! `salesforce/retry.rs`; the actors carry the decision out.

pub mod decoder;
pub mod governor;
pub mod halt;
pub mod messages;
pub mod offset_tracker;
pub mod ordering;
pub mod plan;
pub mod reader;
pub mod reporter;
pub mod router;
pub mod sequencer;
pub mod status;
pub mod task;
pub mod writer;
