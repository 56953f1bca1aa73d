//! sobject-sink: streams Salesforce record changes from Kafka into a Salesforce org.
//!
//! The crate is one library with two thin binaries: `sobject-sink` (the connector
//! service) and `salesforce-sim` (a Salesforce org simulator used by every test,
//! benchmark and demo). Each folder below is one concern:
//!
//! - [`config`]: `.properties` parsing, connector and worker configuration, validation.
//! - [`record`]: decoding PushTopic-format Kafka records (Connect JSON, logical types).
//! - [`transform`]: Kafka Connect Single Message Transforms and predicates.
//! - [`salesforce`]: the Salesforce REST client: login, describe, sObject Collections,
//!   outcome classification, Bulk API 2.0, record Ids.
//! - [`kafka`]: the task's consumer, offset bookkeeping, reports and dead letters.
//! - [`pipeline`]: the actors of one connector task.
//! - [`connect`]: the worker, its supervisor, statuses and the Connect REST API.
//! - [`metrics`]: the Prometheus series.
//! - [`sim`]: the Salesforce org simulator.
//! - [`demo`]: the local broker, generated Lead streams, and the quickstart.
//!
//! A hidden `fuzzing` module gives the fuzz targets in `fuzz/` the parsers of
//! Salesforce answers that are otherwise reached only through HTTP calls.

pub mod config;
pub mod connect;
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod kafka;
pub(crate) mod metrics;
pub(crate) mod pipeline;
pub mod record;
pub mod salesforce;
pub mod sim;
pub(crate) mod transform;
