//! The Kafka side: the task's consumer, offset bookkeeping, the admission gate, the
//! fence for revoked partitions, and the reports and dead letters written back to Kafka.

pub mod consumer;
pub mod in_flight;
pub mod offsets;
pub mod ownership;
pub mod report;
pub mod revoke_wait;
pub mod topics;
