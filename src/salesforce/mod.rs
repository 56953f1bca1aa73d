//! The Salesforce side: record Ids, and (later) the REST client.

pub mod id;
