//! Black-box tests of the Salesforce org simulator: each test starts its own simulator
//! in-process on port 0 and talks to it over real HTTP, as a client library would. One test
//! binary, one module per topic.

mod admin;
mod auth;
mod bulk;
mod collections;
mod composite;
mod describe;
mod faults;
mod harness;
mod latency;
mod limits;
mod orgs;
mod query;
mod records;
mod references;
mod rules;
