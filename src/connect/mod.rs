//! Running connectors the way Kafka Connect does: a worker, its supervisor, the
//! connector and task states, and the Connect-compatible REST API.

pub mod cluster;
pub mod offsets;
pub mod rest;
/// Connector and task states (they live with the pipeline, which sets them).
pub use crate::pipeline::status;
pub mod supervisor;
pub mod tls;
pub mod worker;
