//! Running connectors the way Kafka Connect does: a worker, its supervisor, the
//! connector and task states, and the Connect-compatible REST API.

pub mod cluster;
pub mod offsets;
pub mod rest;
pub mod status;
pub mod supervisor;
pub mod tls;
pub mod worker;
