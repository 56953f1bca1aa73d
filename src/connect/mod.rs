//! Running connectors the way Kafka Connect does: a worker, its supervisor, the
//! connector and task states, and the Connect-compatible REST API.

pub(crate) mod cluster;
pub(crate) mod offsets;
pub(crate) mod rest;
/// Connector and task states (they live with the pipeline, which sets them).
pub use crate::pipeline::status;
pub(crate) mod supervisor;
pub(crate) mod tls;
pub mod worker;
