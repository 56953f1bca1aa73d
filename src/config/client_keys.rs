//! Kafka client settings written with the Java client's names, turned into librdkafka's.
//!
//! A Connect worker file carries `consumer.*` and `producer.*` keys, and a connector
//! `consumer.override.*`, `producer.override.*` and `admin.override.*` keys, all named
//! as the Java clients name them. librdkafka shares most of those names; some it spells
//! differently (`fetch.max.wait.ms` is its `fetch.wait.max.ms`), some take a different
//! value (`partition.assignment.strategy` names Java classes), and some have no
//! equivalent at all (`max.poll.records`). This file sorts each key into one of three
//! outcomes: a librdkafka property, an ignored key with the reason (logged once by the
//! caller, never failing a task), or an error naming the key (a value librdkafka would
//! refuse). Security keys (`security.protocol`, `sasl.*`, `ssl.*`) under a prefix go
//! through the same translation as the worker's own, in `worker.rs`.

use std::collections::BTreeMap;
use std::fmt;

use super::connector::is_password_key;
use super::secret::HIDDEN;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

/// librdkafka properties, credentials included in clear for librdkafka; `Debug` hides
/// the values of credential properties, so a logged configuration never shows them.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ClientProperties(pub Vec<(String, String)>);

impl std::ops::Deref for ClientProperties {
    type Target = [(String, String)];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_password_key(k) {
                    HIDDEN
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// Which client a prefixed key configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientRole {
    /// A consumer (`consumer.*`, `consumer.override.*`).
    Consumer,
    /// A producer (`producer.*`, `producer.override.*`): the reporter and the DLQ.
    Producer,
    /// An admin client (`admin.override.*`): topic creation.
    Admin,
}

/// A key accepted without effect, and why; the runtime logs each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    /// The key as written, prefix included.
    pub key: String,
    /// Why it has no effect here.
    pub reason: &'static str,
}

/// The outcome of translating the keys under one prefix.
#[derive(Debug, Default)]
pub(crate) struct Translation {
    /// librdkafka properties, in key order.
    pub properties: Vec<(String, String)>,
    /// Keys with no librdkafka equivalent.
    pub ignored: Vec<IgnoredKey>,
    /// `(key, message)` for values that cannot be used.
    pub errors: Vec<(String, String)>,
}

/// Java client settings that only make sense inside a JVM, or that librdkafka has no
/// counterpart for, with the reason shown in the log.
const NO_EQUIVALENT: &[(&str, &str)] = &[
    ("max.poll.records", "librdkafka hands records over one at a time; the sink's own batching is sink.batch.max.records"),
    ("default.api.timeout.ms", "librdkafka has no default API timeout"),
    ("key.deserializer", "the sink reads raw bytes and decodes them with key.converter"),
    ("value.deserializer", "the sink reads raw bytes and decodes them with value.converter"),
    ("key.serializer", "reports and dead letters are written as bytes"),
    ("value.serializer", "reports and dead letters are written as bytes"),
    ("interceptor.classes", "Java interceptors cannot run in this process"),
    ("metric.reporters", "metrics are served on /metrics"),
    ("metrics.num.samples", "metrics are served on /metrics"),
    ("metrics.sample.window.ms", "metrics are served on /metrics"),
    ("metrics.recording.level", "metrics are served on /metrics"),
    ("auto.include.jmx.reporter", "there is no JMX; metrics are served on /metrics"),
    ("enable.metrics.push", "metrics are served on /metrics"),
    ("exclude.internal.topics", "librdkafka never matches internal topics with a pattern"),
    ("client.dns.lookup", "librdkafka resolves every address of a name itself"),
    ("max.block.ms", "sends wait for the broker's answer within the producer's delivery timeout"),
    ("partitioner.class", "Java partitioners cannot run in this process"),
    ("internal.leave.group.on.close", "librdkafka always leaves the group on close"),
    ("socket.connection.setup.timeout.max.ms", "librdkafka has a single connection setup timeout"),
    ("security.providers", "librdkafka uses OpenSSL"),
    ("ssl.protocol", "OpenSSL negotiates the protocol version"),
    ("ssl.enabled.protocols", "OpenSSL negotiates the protocol version"),
    ("ssl.keymanager.algorithm", "a JVM setting"),
    ("ssl.trustmanager.algorithm", "a JVM setting"),
    ("ssl.secure.random.implementation", "a JVM setting"),
    ("ssl.provider", "a JVM setting"),
];

/// Java names librdkafka spells differently.
const RENAMED: &[(&str, &str)] = &[
    ("fetch.max.wait.ms", "fetch.wait.max.ms"),
    ("max.request.size", "message.max.bytes"),
    ("receive.buffer.bytes", "socket.receive.buffer.bytes"),
    ("send.buffer.bytes", "socket.send.buffer.bytes"),
    ("buffer.memory", "queue.buffering.max.kbytes"),
];

/// Security keys are translated by the worker's security reader, not here.
pub(crate) fn is_security_key(key: &str) -> bool {
    key == "security.protocol" || key.starts_with("sasl.") || key.starts_with("ssl.")
}

/// Translates `entries` (keys without their prefix, values as written). `prefix` is put
/// back in front of every key that an ignored entry or an error names. Security keys
/// must have been taken out by the caller.
pub(crate) fn translate<'a>(
    role: ClientRole,
    prefix: &str,
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Translation {
    let mut out = Translation::default();
    for (key, value) in entries {
        let full = format!("{prefix}{key}");
        if key == "plugin.library.paths" {
            // librdkafka loads the named libraries as soon as the setting is made,
            // which validation itself does: never let a configuration load code.
            out.errors.push((
                full,
                "librdkafka plugins cannot be loaded through a worker or connector setting"
                    .to_string(),
            ));
            continue;
        }
        if let Some((_, reason)) = NO_EQUIVALENT.iter().find(|(k, _)| *k == key) {
            out.ignored.push(IgnoredKey { key: full, reason });
            continue;
        }
        let (name, value) = match java_to_librdkafka(key, value.trim()) {
            Ok(Some(pair)) => pair,
            Ok(None) => {
                out.ignored.push(IgnoredKey {
                    key: full,
                    reason: "none of the listed Java assignors has a librdkafka equivalent",
                });
                continue;
            }
            Err(message) => {
                out.errors.push((full, message));
                continue;
            }
        };
        match check_with_librdkafka(role, &name, &value) {
            Check::Valid => out.properties.push((name, value)),
            Check::Unknown => out.ignored.push(IgnoredKey {
                key: full,
                reason: "librdkafka has no such setting",
            }),
            Check::Invalid(reason) => out.errors.push((full, reason)),
        }
    }
    out
}

/// The librdkafka name and value for one Java key: `Ok(None)` when the value itself has
/// no equivalent, `Err` for a value that cannot be read.
fn java_to_librdkafka(key: &str, value: &str) -> Result<Option<(String, String)>, String> {
    let name = RENAMED
        .iter()
        .find(|(java, _)| *java == key)
        .map_or(key, |(_, ours)| ours)
        .to_string();
    let value = match key {
        "auto.offset.reset" if value.eq_ignore_ascii_case("none") => "error".to_string(),
        // Java's "-1" means the operating system's default; librdkafka's is 0.
        "receive.buffer.bytes" | "send.buffer.bytes" if value == "-1" => "0".to_string(),
        "buffer.memory" => {
            let bytes: u64 = value
                .parse()
                .map_err(|_| "must be a whole number of bytes".to_string())?;
            bytes.div_ceil(1024).max(1).to_string()
        }
        "partition.assignment.strategy" => {
            let names: Vec<&str> = value
                .split(',')
                .filter_map(|class| assignor_name(class.trim()))
                .collect();
            if names.is_empty() {
                return Ok(None);
            }
            names.join(",")
        }
        _ => value.to_string(),
    };
    Ok(Some((name, value)))
}

/// librdkafka's name for a Java assignor class (or an already librdkafka name).
fn assignor_name(class: &str) -> Option<&'static str> {
    let simple = class.rsplit('.').next().unwrap_or(class);
    match simple {
        "RangeAssignor" | "range" => Some("range"),
        "RoundRobinAssignor" | "roundrobin" => Some("roundrobin"),
        "CooperativeStickyAssignor" | "cooperative-sticky" => Some("cooperative-sticky"),
        _ => None,
    }
}

enum Check {
    Valid,
    Unknown,
    Invalid(String),
}

/// Asks librdkafka itself whether it knows `name` and accepts `value`.
fn check_with_librdkafka(role: ClientRole, name: &str, value: &str) -> Check {
    match rdkafka::ClientConfig::new()
        .set(name, value)
        .create_native_config()
    {
        Ok(_) => Check::Valid,
        Err(KafkaError::ClientConfig(RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN, ..)) => Check::Unknown,
        Err(KafkaError::ClientConfig(_, reason, ..)) => Check::Invalid(format!(
            "is not a valid {} setting: {reason}",
            role_name(role)
        )),
        Err(e) => Check::Invalid(e.to_string()),
    }
}

fn role_name(role: ClientRole) -> &'static str {
    match role {
        ClientRole::Consumer => "consumer",
        ClientRole::Producer => "producer",
        ClientRole::Admin => "admin client",
    }
}

/// The entries of `map` under `prefix`, prefix removed, split into security keys (as a
/// map for the worker's security reader) and the rest.
pub(crate) fn split_prefixed<'a>(
    map: &'a BTreeMap<String, String>,
    prefix: &str,
) -> (BTreeMap<String, String>, Vec<(&'a str, &'a str)>) {
    let mut security = BTreeMap::new();
    let mut rest = Vec::new();
    for (key, value) in map.iter() {
        let Some(k) = key.strip_prefix(prefix) else {
            continue;
        };
        if is_security_key(k) {
            security.insert(k.to_string(), value.clone());
        } else {
            rest.push((k, value.as_str()));
        }
    }
    (security, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(role: ClientRole, pairs: &[(&str, &str)]) -> Translation {
        translate(role, "consumer.", pairs.iter().copied())
    }

    #[test]
    fn librdkafka_names_pass_through_unchanged() {
        let t = run(
            ClientRole::Consumer,
            &[("fetch.min.bytes", "1024"), ("session.timeout.ms", "20000")],
        );
        assert_eq!(
            t.properties,
            [
                ("fetch.min.bytes".to_string(), "1024".to_string()),
                ("session.timeout.ms".to_string(), "20000".to_string())
            ]
        );
        assert!(t.ignored.is_empty() && t.errors.is_empty());
    }

    #[test]
    fn java_only_names_are_ignored_with_a_reason_and_never_an_error() {
        let t = run(
            ClientRole::Consumer,
            &[
                ("max.poll.records", "100"),
                ("some.future.java.setting", "x"),
            ],
        );
        assert!(t.properties.is_empty() && t.errors.is_empty());
        let keys: Vec<&str> = t.ignored.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "consumer.max.poll.records",
                "consumer.some.future.java.setting"
            ]
        );
        assert!(t.ignored[0].reason.contains("sink.batch.max.records"));
    }

    #[test]
    fn renamed_java_names_reach_librdkafka_under_its_name() {
        let t = translate(
            ClientRole::Producer,
            "producer.",
            [
                ("max.request.size", "2097152"),
                ("buffer.memory", "33554432"),
                ("send.buffer.bytes", "-1"),
            ],
        );
        assert!(t.errors.is_empty(), "{:?}", t.errors);
        assert_eq!(
            t.properties,
            [
                ("message.max.bytes".to_string(), "2097152".to_string()),
                (
                    "queue.buffering.max.kbytes".to_string(),
                    "32768".to_string()
                ),
                ("socket.send.buffer.bytes".to_string(), "0".to_string()),
            ]
        );
        let t = run(ClientRole::Consumer, &[("fetch.max.wait.ms", "50")]);
        assert_eq!(
            t.properties,
            [("fetch.wait.max.ms".to_string(), "50".to_string())]
        );
    }

    #[test]
    fn java_values_are_translated() {
        let t = run(
            ClientRole::Consumer,
            &[
                ("auto.offset.reset", "none"),
                (
                    "partition.assignment.strategy",
                    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
                ),
            ],
        );
        assert!(t.errors.is_empty(), "{:?}", t.errors);
        assert_eq!(
            t.properties,
            [
                ("auto.offset.reset".to_string(), "error".to_string()),
                (
                    "partition.assignment.strategy".to_string(),
                    "cooperative-sticky".to_string()
                ),
            ]
        );
        let sticky = run(
            ClientRole::Consumer,
            &[(
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.StickyAssignor",
            )],
        );
        assert!(sticky.properties.is_empty());
        assert_eq!(sticky.ignored.len(), 1);
    }

    #[test]
    fn a_value_librdkafka_refuses_names_the_prefixed_key() {
        let t = run(ClientRole::Consumer, &[("fetch.min.bytes", "lots")]);
        assert_eq!(t.errors.len(), 1);
        assert_eq!(t.errors[0].0, "consumer.fetch.min.bytes");
        assert!(t.errors[0].1.contains("consumer setting"));
    }

    #[test]
    fn librdkafka_plugins_are_refused_before_librdkafka_sees_them() {
        let t = run(
            ClientRole::Consumer,
            &[("plugin.library.paths", "/tmp/not-a-plugin.so")],
        );
        assert!(t.properties.is_empty() && t.ignored.is_empty());
        assert_eq!(t.errors.len(), 1);
        assert_eq!(t.errors[0].0, "consumer.plugin.library.paths");
        assert!(t.errors[0].1.contains("plugins cannot be loaded"));
    }

    #[test]
    fn every_rename_target_is_a_librdkafka_setting() {
        for (_, ours) in RENAMED {
            assert!(
                !matches!(
                    check_with_librdkafka(ClientRole::Producer, ours, "1"),
                    Check::Unknown
                ),
                "{ours}"
            );
        }
    }

    #[test]
    fn security_keys_are_split_off_for_the_security_reader() {
        let map: BTreeMap<String, String> = [
            ("consumer.override.sasl.jaas.config", "x"),
            ("consumer.override.max.poll.records", "5"),
            ("producer.override.acks", "all"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (security, rest) = split_prefixed(&map, "consumer.override.");
        assert_eq!(security.keys().collect::<Vec<_>>(), ["sasl.jaas.config"]);
        assert_eq!(rest, [("max.poll.records", "5")]);
    }
}
