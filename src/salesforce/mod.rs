//! The Salesforce side: record Ids, login, the REST client, describe, request building,
//! sObject Collections, Composite and Bulk API 2.0. `retry.rs` decides what every answer means;
//! `wire.rs` holds the shapes answers and failures take, at the bottom of the folder.

pub(crate) mod auth;
pub mod body;
pub(crate) mod bulk;
pub(crate) mod client;
pub(crate) mod collections;
pub(crate) mod composite;
pub mod describe;
pub mod id;
pub mod json_text;
pub mod request;
pub(crate) mod retry;
#[cfg(test)]
mod test_org;
pub(crate) mod wire;
