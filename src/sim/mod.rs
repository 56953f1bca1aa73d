//! The Salesforce org simulator.
