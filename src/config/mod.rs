//! Configuration: the `.properties` reader, the connector and worker settings, and the
//! key definitions the REST `validate` endpoint and the README table are built from.
//!
//! Everything here is pure: callers read files or REST bodies themselves and hand the
//! resulting string maps in, so validation happens before any I/O.

pub(crate) mod client_keys;
pub(crate) mod connector;
pub mod converter;
pub(crate) mod definitions;
pub(crate) mod error;
pub(crate) mod operation;
pub mod properties;
pub(crate) mod providers;
pub(crate) mod secret;
pub(crate) mod sync;
pub mod worker;

/// Consumer properties the sink sets itself and no `consumer.*` or
/// `consumer.override.*` key may change: offsets are stored only once Salesforce has
/// accepted a record, and the group is what workers share.
pub(crate) const SINK_OWNED_CONSUMER_KEYS: &[&str] =
    &["group.id", "enable.auto.commit", "enable.auto.offset.store"];

/// The message for a `consumer.*` key that names one of [`SINK_OWNED_CONSUMER_KEYS`].
pub(crate) const SINK_OWNED_MESSAGE: &str =
    "is set by the sink (offsets are committed only after Salesforce accepts a record)";

/// A string map from `(key, value)` pairs, as the tests of configuration readers write
/// their input.
#[cfg(test)]
pub(crate) fn string_map(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub use client_keys::IgnoredKey;
pub use connector::ConnectorConfig;
pub use definitions::{config_definitions, markdown_table, ConfigKeyDef};
pub use error::{ConfigError, ConfigErrors};
pub use operation::Operation;
pub use secret::Secret;
pub use worker::WorkerConfig;
