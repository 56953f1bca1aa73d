//! Salesforce record Ids.
