//! The Kafka side: the task's consumer, offset bookkeeping, the admission gate, and
//! the reports and dead letters written back to Kafka.

pub mod consumer;
pub mod in_flight;
pub mod offsets;
pub mod report;
pub mod topics;
