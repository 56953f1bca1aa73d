//! The Salesforce side: record Ids, login, the REST client, describe, request building,
//! sObject Collections and Bulk API 2.0. `retry.rs` decides what every answer means;
//! `wire.rs` holds the shapes answers and failures take, at the bottom of the folder.

pub mod auth;
pub mod bulk;
pub mod client;
pub mod collections;
pub mod describe;
pub mod id;
pub mod request;
pub mod retry;
#[cfg(test)]
mod test_org;
pub mod wire;
