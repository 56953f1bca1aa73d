//! sobject-sink: streams Salesforce record changes from Kafka into a Salesforce org.
//!
//! The crate is one library with two thin binaries: `sobject-sink` (the connector
//! service) and `salesforce-sim` (a Salesforce org simulator used by every test,
//! benchmark and demo). Each folder below is one concern:
//!
//! - [`config`]: `.properties` parsing, connector and worker configuration, validation.
//! - [`record`]: decoding PushTopic-format Kafka records (Connect JSON, logical types).
//! - [`salesforce`]: the Salesforce REST client: login, describe, sObject Collections,
//!   outcome classification, Bulk API 2.0, record Ids.
//! - [`sim`]: the Salesforce org simulator.

pub mod config;
pub mod record;
pub mod salesforce;
pub mod sim;
