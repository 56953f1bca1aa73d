//! The actor pipeline of one connector task.
//!
//! ```text
//!  PartitionReader ─RecordBatch→ Decoder ─Submit→ Sequencer ─WriteBatch→ SObjectWriter
//!        ↑ Register                                  │ ↑ outcomes          │ GetSchema → SchemaCache
//!        └──────────── OffsetTracker ←──── Ack ──────┘ │                   │ Acquire   → RateGovernor
//!                                     Reporter (success/error topics, DLQ) │
//!                                     HaltActor (fail-fast) ←──────────────┘
//! ```

pub mod decoder;
pub mod governor;
pub mod halt;
pub mod messages;
pub mod offset_tracker;
pub mod ordering;
pub mod plan;
pub mod reader;
pub mod reporter;
pub mod schema_cache;
pub mod sequencer;
pub mod task;
pub mod writer;
