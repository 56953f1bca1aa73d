//! The Salesforce side: record Ids, login, the REST client, describe, request building,
//! sObject Collections, outcome classification and Bulk API 2.0.

pub mod auth;
pub mod bulk;
pub mod client;
pub mod collections;
pub mod describe;
pub mod id;
pub mod outcome;
pub mod request;
pub mod secret;
#[cfg(test)]
mod test_org;
