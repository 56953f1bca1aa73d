//! The worker configuration (the first file of `sobject-sink standalone`, or the only
//! one of a distributed worker): Kafka connection and security, the REST listener and
//! its protection, logging, and distributed-mode topics.
//!
//! Kafka client settings are written the Java way (as in a Connect worker file) and
//! translated to librdkafka property names by [`WorkerConfig::kafka_client_config`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::client_keys::{split_prefixed, translate, ClientProperties, ClientRole, IgnoredKey};
use super::connector::{shown_value, ConnectorConfig};
use super::converter::{read_converter, with_worker_defaults, Side};
use super::definitions::edit_distance_within;
use super::error::ConfigErrors;
use super::providers::ConfigProviders;
use super::secret::Secret;

/// Keys this module reads (used for typo suggestions on `rest.*` and `log.*`).
const WORKER_KEYS: &[&str] = &[
    "bootstrap.servers",
    "listeners",
    "group.id",
    "config.storage.topic",
    "status.storage.topic",
    "offset.storage.topic",
    "config.storage.replication.factor",
    "status.storage.replication.factor",
    "offset.storage.replication.factor",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "rest.auth.basic.username",
    "rest.auth.basic.password",
    "rest.auth.bearer.token",
    "rest.tls.cert.path",
    "rest.tls.key.path",
    "log.format",
    "log.level",
    "task.shutdown.graceful.timeout.ms",
    "client.id",
    "security.protocol",
    "sasl.mechanism",
    "sasl.jaas.config",
    "sasl.username",
    "sasl.password",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.truststore.type",
    "ssl.ca.location",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.keystore.type",
    "ssl.key.password",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.endpoint.identification.algorithm",
];

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// Human-readable lines (default).
    Human,
    /// One JSON object per line.
    Json,
}

/// Distributed mode: connectors and status shared through Kafka topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributedConfig {
    /// `group.id` shared by all workers of the cluster.
    pub group_id: String,
    /// `config.storage.topic` (default `connect-configs`).
    pub config_topic: String,
    /// `status.storage.topic` (default `connect-status`).
    pub status_topic: String,
    /// `offset.storage.topic` (default `connect-offsets`; accepted, sink offsets live in
    /// the consumer group).
    pub offset_topic: String,
    /// `config.storage.replication.factor` (default 3, -1 for the broker default).
    pub config_replication_factor: i16,
    /// `status.storage.replication.factor`.
    pub status_replication_factor: i16,
    /// `offset.storage.replication.factor`.
    pub offset_replication_factor: i16,
    /// `session.timeout.ms` (default 10000, as in Connect): how long a worker may be
    /// silent before the others take its tasks over.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 1000; Connect's is 3000): how often this
    /// worker publishes its heartbeat and its tasks' states. Below `session.timeout.ms`.
    pub heartbeat_interval: Duration,
}

/// How REST callers must authenticate (no setting means an open API).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestAuth {
    /// `rest.auth.basic.username` / `rest.auth.basic.password`.
    pub basic: Option<(String, Secret)>,
    /// `rest.auth.bearer.token`.
    pub bearer_token: Option<Secret>,
}

/// TLS for the REST listener (needed by an `https://` listener).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestTls {
    /// `rest.tls.cert.path`: PEM certificate chain.
    pub cert_path: PathBuf,
    /// `rest.tls.key.path`: PEM private key.
    pub key_path: PathBuf,
}

/// A validated worker configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// `listeners` (default `http://127.0.0.1:8083`).
    pub listeners: Vec<Url>,
    /// Set when `group.id` is present.
    pub distributed: Option<DistributedConfig>,
    /// REST authentication.
    pub rest_auth: RestAuth,
    /// REST TLS.
    pub rest_tls: Option<RestTls>,
    /// `log.format`.
    pub log_format: LogFormat,
    /// `log.level`: a tracing filter directive such as `info` or `sobject_sink=debug`.
    pub log_level: String,
    /// `task.shutdown.graceful.timeout.ms` (default 5000).
    pub task_shutdown_graceful_timeout: Duration,
    /// `config.providers` and `config.providers.*`: how `${...}` placeholders in
    /// connector values are resolved when a task starts.
    pub config_providers: ConfigProviders,
    client: ClientProperties,
    consumer: ClientProperties,
    producer: ClientProperties,
    connector_defaults: ConnectorDefaults,
    ignored: Vec<String>,
    client_ignored: Vec<IgnoredKey>,
}

/// The worker's converter keys; `Debug` hides credentials (registry passwords).
#[derive(Clone, PartialEq, Eq, Default)]
struct ConnectorDefaults(BTreeMap<String, String>);

impl fmt::Debug for ConnectorDefaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, shown_value(k, v))))
            .finish()
    }
}

struct WorkerReader<'a> {
    map: &'a BTreeMap<String, String>,
    errors: ConfigErrors,
}

impl WorkerReader<'_> {
    fn error(&mut self, key: &str, message: impl Into<String>) {
        let shown = self.map.get(key).map(|v| shown_value(key, v));
        self.errors.push(key, shown, message);
    }

    fn string(&self, key: &str) -> Option<String> {
        self.map
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn secret(&self, key: &str) -> Option<Secret> {
        self.map
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(v.clone()))
    }

    fn int(&mut self, key: &str, default: i64, min: i64, max: i64) -> i64 {
        let Some(raw) = self.string(key) else {
            return default;
        };
        match raw.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => v,
            _ => {
                self.error(
                    key,
                    format!("must be a whole number between {min} and {max}"),
                );
                default
            }
        }
    }

    fn replication_factor(&mut self, key: &str) -> i16 {
        let v = self.int(key, 3, -1, i16::MAX as i64);
        if v == 0 {
            self.error(key, "must be -1 (broker default) or at least 1");
        }
        v as i16
    }
}

impl WorkerConfig {
    /// Parses and validates a worker map, collecting every problem.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<WorkerConfig, ConfigErrors> {
        let mut r = WorkerReader {
            map,
            errors: ConfigErrors::default(),
        };
        let mut ignored = Vec::new();
        let mut client_ignored = Vec::new();
        let consumer = prefixed_client_keys(
            &mut r,
            "consumer.",
            ClientRole::Consumer,
            &mut client_ignored,
        );
        let producer = prefixed_client_keys(
            &mut r,
            "producer.",
            ClientRole::Producer,
            &mut client_ignored,
        );
        let mut connector_defaults = BTreeMap::new();
        for (key, value) in map {
            if WORKER_KEYS.contains(&key.as_str())
                || key.starts_with("consumer.")
                || key.starts_with("producer.")
                || key == "config.providers"
                || key.starts_with("config.providers.")
            {
                continue;
            }
            if key.starts_with("key.converter") || key.starts_with("value.converter") {
                // As in Connect, worker converter settings are defaults for connectors.
                connector_defaults.insert(key.clone(), value.clone());
            } else if key.starts_with("rest.") || key.starts_with("log.") {
                let closest = WORKER_KEYS
                    .iter()
                    .filter_map(|k| edit_distance_within(key, k, 4).map(|d| (d, *k)))
                    .min_by_key(|&(d, _)| d);
                let message = match closest {
                    Some((_, k)) => format!("unknown key; did you mean {k}?"),
                    None => "unknown key".to_string(),
                };
                r.error(key, message);
            } else {
                ignored.push(key.clone());
            }
        }

        // A converter the sink cannot run is refused here, naming the worker's key,
        // rather than at every connector start.
        for side in [Side::Key, Side::Value] {
            if connector_defaults.contains_key(side.prefix()) {
                for p in read_converter(&connector_defaults, side).problems {
                    r.error(&p.key, p.message);
                }
            }
        }

        let bootstrap_servers = r.string("bootstrap.servers").unwrap_or_else(|| {
            r.error("bootstrap.servers", "is required");
            String::new()
        });
        let listeners = read_listeners(&mut r);
        let session_ms = r.int("session.timeout.ms", 10_000, 1_000, 3_600_000);
        let heartbeat_ms = r.int("heartbeat.interval.ms", 1_000, 100, 3_600_000);
        if heartbeat_ms >= session_ms {
            r.error(
                "heartbeat.interval.ms",
                format!(
                    "must be below session.timeout.ms ({session_ms}), or every worker \
                     would be taken for gone between two heartbeats"
                ),
            );
        }
        if r.string("group.id").is_none() {
            for key in ["session.timeout.ms", "heartbeat.interval.ms"] {
                if r.string(key).is_some() {
                    r.error(
                        key,
                        "only applies to distributed workers (set group.id), where it \
                         governs how soon a silent worker's tasks move",
                    );
                }
            }
        }
        let distributed = r.string("group.id").map(|group_id| DistributedConfig {
            group_id,
            config_topic: r
                .string("config.storage.topic")
                .unwrap_or_else(|| "connect-configs".into()),
            status_topic: r
                .string("status.storage.topic")
                .unwrap_or_else(|| "connect-status".into()),
            offset_topic: r
                .string("offset.storage.topic")
                .unwrap_or_else(|| "connect-offsets".into()),
            config_replication_factor: r.replication_factor("config.storage.replication.factor"),
            status_replication_factor: r.replication_factor("status.storage.replication.factor"),
            offset_replication_factor: r.replication_factor("offset.storage.replication.factor"),
            session_timeout: Duration::from_millis(session_ms.max(0) as u64),
            heartbeat_interval: Duration::from_millis(heartbeat_ms.max(0) as u64),
        });
        let rest_auth = read_rest_auth(&mut r);
        let rest_tls = read_rest_tls(&mut r, &listeners);
        let log_format = match r
            .string("log.format")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(_) => {
                r.error("log.format", "must be human or json");
                LogFormat::Human
            }
        };
        let log_level = r.string("log.level").unwrap_or_else(|| "info".into());
        let timeout = r.int("task.shutdown.graceful.timeout.ms", 5000, 0, 3_600_000);
        let mut client = vec![("bootstrap.servers".to_string(), bootstrap_servers.clone())];
        read_kafka_security(&mut r, &mut client);
        let config_providers = ConfigProviders::from_worker(map).unwrap_or_else(|problems| {
            for (key, message) in problems {
                r.error(&key, message);
            }
            ConfigProviders::default()
        });

        if !r.errors.is_empty() {
            return Err(r.errors);
        }
        Ok(WorkerConfig {
            bootstrap_servers,
            listeners,
            distributed,
            rest_auth,
            rest_tls,
            log_format,
            log_level,
            task_shutdown_graceful_timeout: Duration::from_millis(timeout.max(0) as u64),
            config_providers,
            client: ClientProperties(client),
            consumer: ClientProperties(consumer),
            producer: ClientProperties(producer),
            connector_defaults: ConnectorDefaults(connector_defaults),
            ignored,
            client_ignored,
        })
    }

    /// librdkafka properties shared by every consumer and producer of this worker:
    /// `bootstrap.servers` plus the translated security settings. Contains credentials
    /// in clear for librdkafka; never log the result.
    pub fn kafka_client_config(&self) -> Vec<(String, String)> {
        self.client.0.clone()
    }

    /// `consumer.*` keys with the prefix removed, applied on top of
    /// [`Self::kafka_client_config`] for consumers (librdkafka names expected).
    pub fn consumer_overrides(&self) -> Vec<(String, String)> {
        self.consumer.0.clone()
    }

    /// `producer.*` keys with the prefix removed, for the reporter/DLQ producer.
    pub fn producer_overrides(&self) -> Vec<(String, String)> {
        self.producer.0.clone()
    }

    /// Worker-level `key.converter*` / `value.converter*` keys, which (as in Kafka
    /// Connect) are defaults for connectors that do not set them.
    pub fn connector_defaults(&self) -> &BTreeMap<String, String> {
        &self.connector_defaults.0
    }

    /// A connector's own map with this worker's converter defaults under it (see
    /// [`with_worker_defaults`]): what a task of the connector runs with.
    pub fn effective_connector_map(
        &self,
        map: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        with_worker_defaults(map, &self.connector_defaults.0)
    }

    /// Parses a connector's map as this worker runs it: its own keys over the worker's
    /// converter defaults. Every start path and `validate` go through here.
    pub fn connector_config(
        &self,
        map: &BTreeMap<String, String>,
    ) -> Result<ConnectorConfig, ConfigErrors> {
        ConnectorConfig::from_map(&self.effective_connector_map(map))
    }

    /// Keys accepted but not used (e.g. `plugin.path`), for one log line at startup.
    pub fn ignored_keys(&self) -> &[String] {
        &self.ignored
    }

    /// `consumer.*` / `producer.*` keys with Java client names that librdkafka has no
    /// equivalent for, with the reason, for one log line each at startup.
    pub fn ignored_client_keys(&self) -> &[IgnoredKey] {
        &self.client_ignored
    }
}

/// Reads the keys under `prefix` (`consumer.`, `producer.`, or a connector's
/// `consumer.override.`-style prefix) into librdkafka properties: security keys through
/// the same translation as the worker's own, the rest through [`translate`]. Keys with
/// no librdkafka equivalent go to `ignored`; unusable values are errors naming the
/// prefixed key. Consumer keys that the sink owns are refused.
fn prefixed_client_keys(
    r: &mut WorkerReader<'_>,
    prefix: &str,
    role: ClientRole,
    ignored: &mut Vec<IgnoredKey>,
) -> Vec<(String, String)> {
    let (properties, found_ignored, errors) = client_keys_under(r.map, prefix, role);
    ignored.extend(found_ignored);
    for (key, message) in errors {
        r.error(&key, message);
    }
    properties
}

/// librdkafka properties, name and value.
pub(crate) type Properties = Vec<(String, String)>;
/// `(key, message)` for each key that cannot be used.
pub(crate) type KeyErrors = Vec<(String, String)>;

/// The security keys under `prefix` (`reporter.security.protocol`, `reporter.sasl.*`,
/// ...) translated for librdkafka as the worker's own are: `(properties, errors)`,
/// each error naming the prefixed key.
pub(crate) fn security_properties_under(
    map: &BTreeMap<String, String>,
    prefix: &str,
) -> (Properties, KeyErrors) {
    let (security, _) = split_prefixed(map, prefix);
    let mut properties = Vec::new();
    let mut errors = Vec::new();
    if !security.is_empty() {
        let mut sr = WorkerReader {
            map: &security,
            errors: ConfigErrors::default(),
        };
        read_kafka_security(&mut sr, &mut properties);
        for e in sr.errors.iter() {
            errors.push((format!("{prefix}{}", e.key), e.message.clone()));
        }
    }
    (properties, errors)
}

/// [`prefixed_client_keys`] over any map: `(properties, ignored, errors)`; shared with
/// the connector's `*.override.*` keys.
pub(crate) fn client_keys_under(
    map: &BTreeMap<String, String>,
    prefix: &str,
    role: ClientRole,
) -> (Properties, Vec<IgnoredKey>, KeyErrors) {
    let (_, rest) = split_prefixed(map, prefix);
    let mut errors = Vec::new();
    let mut owned = Vec::new();
    let rest: Vec<(&str, &str)> = rest
        .into_iter()
        .filter(|(k, _)| {
            let sink_owned =
                role == ClientRole::Consumer && super::SINK_OWNED_CONSUMER_KEYS.contains(k);
            if sink_owned {
                owned.push(format!("{prefix}{k}"));
            }
            !sink_owned
        })
        .collect();
    for key in owned {
        errors.push((key, super::SINK_OWNED_MESSAGE.to_string()));
    }
    let translated = translate(role, prefix, rest);
    let (mut properties, security_errors) = security_properties_under(map, prefix);
    errors.extend(security_errors);
    properties.extend(translated.properties);
    errors.extend(translated.errors);
    (properties, translated.ignored, errors)
}

fn read_listeners(r: &mut WorkerReader<'_>) -> Vec<Url> {
    let raw = r
        .string("listeners")
        .unwrap_or_else(|| "http://127.0.0.1:8083".into());
    let mut out = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match Url::parse(item) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => out.push(u),
            Ok(_) => r.error(
                "listeners",
                format!("{item} must be http://host:port or https://host:port"),
            ),
            Err(e) => r.error("listeners", format!("{item} is not a URL: {e}")),
        }
    }
    if out.is_empty() && r.errors.messages_for("listeners").is_empty() {
        r.error("listeners", "needs at least one listener");
    }
    out
}

fn read_rest_auth(r: &mut WorkerReader<'_>) -> RestAuth {
    let user = r.string("rest.auth.basic.username");
    let password = r.secret("rest.auth.basic.password");
    let basic = match (user, password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        (Some(_), None) => {
            r.error(
                "rest.auth.basic.password",
                "is required with rest.auth.basic.username",
            );
            None
        }
        (None, Some(_)) => {
            r.error(
                "rest.auth.basic.username",
                "is required with rest.auth.basic.password",
            );
            None
        }
    };
    RestAuth {
        basic,
        bearer_token: r.secret("rest.auth.bearer.token"),
    }
}

fn read_rest_tls(r: &mut WorkerReader<'_>, listeners: &[Url]) -> Option<RestTls> {
    let cert = r.string("rest.tls.cert.path");
    let key = r.string("rest.tls.key.path");
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some(RestTls {
            cert_path: c.into(),
            key_path: k.into(),
        }),
        (None, None) => None,
        (Some(_), None) => {
            r.error("rest.tls.key.path", "is required with rest.tls.cert.path");
            None
        }
        (None, Some(_)) => {
            r.error("rest.tls.cert.path", "is required with rest.tls.key.path");
            None
        }
    };
    if tls.is_none() && listeners.iter().any(|u| u.scheme() == "https") {
        r.error(
            "listeners",
            "an https listener needs rest.tls.cert.path and rest.tls.key.path",
        );
    }
    tls
}

/// Java truststore/keystore kind, from `*.type` or else the file extension.
fn store_kind(r: &WorkerReader<'_>, type_key: &str, location: &str) -> String {
    if let Some(t) = r.string(type_key) {
        return t.to_ascii_uppercase();
    }
    let lower = location.to_ascii_lowercase();
    if [".pem", ".crt", ".cer"].iter().any(|e| lower.ends_with(e)) {
        "PEM".into()
    } else if [".p12", ".pfx"].iter().any(|e| lower.ends_with(e)) {
        "PKCS12".into()
    } else {
        // Java's default store type.
        "JKS".into()
    }
}

/// Username and password out of a PLAIN or SCRAM `sasl.jaas.config`.
fn parse_jaas(text: &str) -> Result<(&'static str, String, String), String> {
    let module = text.split_whitespace().next().unwrap_or_default();
    let kind = if module.ends_with("PlainLoginModule") {
        "PLAIN"
    } else if module.ends_with("ScramLoginModule") {
        "SCRAM"
    } else {
        return Err(
            "only PlainLoginModule and ScramLoginModule are supported; or set sasl.username and sasl.password"
                .into(),
        );
    };
    let mut username = None;
    let mut password = None;
    let mut rest = text.get(module.len()..).unwrap_or_default();
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq].split_whitespace().last().unwrap_or_default();
        let after = rest[eq + 1..].trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        other => value.push(other),
                    }
                }
                let end = end.ok_or("has an unterminated quoted value")?;
                (value, &quoted[end..])
            }
            None => {
                let end = after
                    .find(|c: char| c.is_whitespace() || c == ';')
                    .unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            }
        };
        match name {
            "username" => username = Some(value),
            "password" => password = Some(value),
            _ => {}
        }
        rest = remaining;
    }
    match (username, password) {
        (Some(u), Some(p)) => Ok((kind, u, p)),
        _ => Err("must set both username and password".into()),
    }
}

fn read_kafka_security(r: &mut WorkerReader<'_>, out: &mut Vec<(String, String)>) {
    let mut push = |k: &str, v: String| out.push((k.to_string(), v));
    if let Some(id) = r.string("client.id") {
        push("client.id", id);
    }
    if let Some(p) = r.string("security.protocol") {
        let lower = p.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "plaintext" | "ssl" | "sasl_plaintext" | "sasl_ssl"
        ) {
            push("security.protocol", lower);
        } else {
            r.error(
                "security.protocol",
                "must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
            );
        }
    }
    let mut mechanism = r.string("sasl.mechanism").map(|m| m.to_ascii_uppercase());
    if let Some(m) = &mechanism {
        let known = [
            "PLAIN",
            "SCRAM-SHA-256",
            "SCRAM-SHA-512",
            "GSSAPI",
            "OAUTHBEARER",
        ];
        if !known.contains(&m.as_str()) {
            r.error(
                "sasl.mechanism",
                format!("must be one of {}", known.join(", ")),
            );
        }
    }
    let mut username = r.string("sasl.username");
    let mut password = r.secret("sasl.password");
    if let Some(jaas) = r.map.get("sasl.jaas.config") {
        match parse_jaas(jaas) {
            Ok((kind, u, p)) => {
                if kind == "PLAIN" && mechanism.is_none() {
                    mechanism = Some("PLAIN".into());
                }
                if kind == "SCRAM" && !mechanism.as_deref().is_some_and(|m| m.starts_with("SCRAM"))
                {
                    r.error(
                        "sasl.mechanism",
                        "a ScramLoginModule needs sasl.mechanism=SCRAM-SHA-256 or SCRAM-SHA-512",
                    );
                }
                username.get_or_insert(u);
                password.get_or_insert(Secret::new(p));
            }
            Err(msg) => r.error("sasl.jaas.config", msg),
        }
    }
    if let Some(m) = mechanism {
        push("sasl.mechanisms", m);
    }
    if let Some(u) = username {
        push("sasl.username", u);
    }
    if let Some(p) = password {
        push("sasl.password", p.expose().to_string());
    }

    if let Some(ca) = r.string("ssl.ca.location") {
        push("ssl.ca.location", ca);
    }
    if let Some(loc) = r.string("ssl.truststore.location") {
        match store_kind(r, "ssl.truststore.type", &loc).as_str() {
            "PEM" => push("ssl.ca.location", loc),
            kind => r.error(
                "ssl.truststore.location",
                format!("a {kind} truststore cannot be read by librdkafka; export the CA certificates as PEM and set ssl.ca.location (keytool -exportcert -rfc -keystore {loc} -alias <alias> > ca.pem)"),
            ),
        }
    }
    if let Some(loc) = r.string("ssl.keystore.location") {
        match store_kind(r, "ssl.keystore.type", &loc).as_str() {
            "PKCS12" => {
                push("ssl.keystore.location", loc);
                if let Some(p) = r.secret("ssl.keystore.password") {
                    push("ssl.keystore.password", p.expose().to_string());
                }
            }
            kind => r.error(
                "ssl.keystore.location",
                format!("a {kind} keystore cannot be read by librdkafka; use a PKCS#12 file ({}), or ssl.certificate.location and ssl.key.location with PEM files", super::connector::keytool_to_pkcs12(&loc)),
            ),
        }
    }
    for key in ["ssl.certificate.location", "ssl.key.location"] {
        if let Some(v) = r.string(key) {
            push(key, v);
        }
    }
    if let Some(p) = r.secret("ssl.key.password") {
        push("ssl.key.password", p.expose().to_string());
    }
    if let Some(raw) = r.map.get("ssl.endpoint.identification.algorithm") {
        // Java spells "no hostname check" as an empty value.
        let v = match raw.trim().to_ascii_lowercase().as_str() {
            "" | "none" => "none",
            "https" => "https",
            _ => {
                r.error(
                    "ssl.endpoint.identification.algorithm",
                    "must be https or empty",
                );
                "https"
            }
        };
        push("ssl.endpoint.identification.algorithm", v.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::string_map as map;

    fn prop<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
        props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn minimal_worker_takes_defaults() {
        let w = WorkerConfig::from_map(&map(&[("bootstrap.servers", "localhost:9092")])).unwrap();
        assert_eq!(w.listeners[0].as_str(), "http://127.0.0.1:8083/");
        assert!(w.distributed.is_none());
        assert_eq!(w.log_format, LogFormat::Human);
        assert_eq!(w.log_level, "info");
        assert_eq!(
            w.task_shutdown_graceful_timeout,
            Duration::from_millis(5000)
        );
        assert_eq!(
            w.kafka_client_config(),
            vec![(
                "bootstrap.servers".to_string(),
                "localhost:9092".to_string()
            )]
        );
    }

    #[test]
    fn bootstrap_servers_is_required() {
        let e = WorkerConfig::from_map(&map(&[])).unwrap_err();
        assert_eq!(e.messages_for("bootstrap.servers"), vec!["is required"]);
    }

    #[test]
    fn group_id_turns_on_distributed_mode_with_topic_defaults() {
        let w = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            ("group.id", "sinks"),
            ("status.storage.topic", "sink-status"),
            ("config.storage.replication.factor", "1"),
        ]))
        .unwrap();
        let d = w.distributed.unwrap();
        assert_eq!(d.group_id, "sinks");
        assert_eq!(d.config_topic, "connect-configs");
        assert_eq!(d.status_topic, "sink-status");
        assert_eq!(d.config_replication_factor, 1);
        assert_eq!(d.status_replication_factor, 3);
        assert_eq!(d.session_timeout, Duration::from_secs(10));
        assert_eq!(d.heartbeat_interval, Duration::from_secs(1));
    }

    #[test]
    fn worker_session_and_heartbeat_set_how_soon_tasks_move_and_are_checked() {
        let base = [("bootstrap.servers", "b:9092"), ("group.id", "sinks")];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            WorkerConfig::from_map(&map(&pairs))
        };
        let d = with(&[
            ("session.timeout.ms", "4000"),
            ("heartbeat.interval.ms", "500"),
        ])
        .unwrap()
        .distributed
        .unwrap();
        assert_eq!(d.session_timeout, Duration::from_secs(4));
        assert_eq!(d.heartbeat_interval, Duration::from_millis(500));
        let e = with(&[
            ("session.timeout.ms", "3000"),
            ("heartbeat.interval.ms", "3000"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("heartbeat.interval.ms") && e.contains("below"),
            "{e}"
        );
        let e = with(&[("session.timeout.ms", "soon")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("session.timeout.ms"), "{e}");
        let e = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            ("session.timeout.ms", "4000"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("session.timeout.ms") && e.contains("group.id"),
            "{e}"
        );
    }

    #[test]
    fn plain_jaas_config_becomes_librdkafka_username_and_password() {
        let w = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9093"),
            ("security.protocol", "SASL_SSL"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="p\"w d";"#,
            ),
            ("ssl.ca.location", "/etc/ca.pem"),
        ]))
        .unwrap();
        let props = w.kafka_client_config();
        assert_eq!(prop(&props, "security.protocol"), Some("sasl_ssl"));
        assert_eq!(prop(&props, "sasl.mechanisms"), Some("PLAIN"));
        assert_eq!(prop(&props, "sasl.username"), Some("alice"));
        assert_eq!(prop(&props, "sasl.password"), Some("p\"w d"));
        assert_eq!(prop(&props, "ssl.ca.location"), Some("/etc/ca.pem"));
        let dbg = format!("{w:?}");
        assert!(!dbg.contains("p\\\"w d") && !dbg.contains("w d"), "{dbg}");
    }

    #[test]
    fn scram_jaas_needs_a_scram_mechanism() {
        let jaas = r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="p";"#;
        let e = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9093"),
            ("sasl.jaas.config", jaas),
        ]))
        .unwrap_err();
        assert!(!e.messages_for("sasl.mechanism").is_empty());
        let w = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9093"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.jaas.config", jaas),
        ]))
        .unwrap();
        assert_eq!(
            prop(&w.kafka_client_config(), "sasl.mechanisms"),
            Some("SCRAM-SHA-512")
        );
    }

    #[test]
    fn jks_truststore_is_rejected_with_a_pem_hint_and_pem_passes_through() {
        let e = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9093"),
            ("ssl.truststore.location", "/etc/kafka/truststore.jks"),
        ]))
        .unwrap_err();
        assert!(e.messages_for("ssl.truststore.location")[0].contains("ssl.ca.location"));
        let w = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9093"),
            ("ssl.truststore.location", "/etc/kafka/ca.pem"),
        ]))
        .unwrap();
        assert_eq!(
            prop(&w.kafka_client_config(), "ssl.ca.location"),
            Some("/etc/kafka/ca.pem")
        );
    }

    #[test]
    fn consumer_keys_that_would_commit_unwritten_records_are_refused() {
        let e = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            ("consumer.enable.auto.offset.store", "true"),
            ("consumer.group.id", "other"),
        ]))
        .unwrap_err();
        for key in ["consumer.enable.auto.offset.store", "consumer.group.id"] {
            assert_eq!(
                e.messages_for(key),
                vec![crate::config::SINK_OWNED_MESSAGE.to_string()],
                "{key}"
            );
        }
    }

    #[test]
    fn consumer_and_producer_overrides_lose_their_prefix() {
        let w = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            ("consumer.fetch.min.bytes", "1024"),
            ("producer.linger.ms", "5"),
            ("plugin.path", "/usr/share/java"),
            ("value.converter.schemas.enable", "false"),
        ]))
        .unwrap();
        assert_eq!(
            w.consumer_overrides(),
            vec![("fetch.min.bytes".into(), "1024".into())]
        );
        assert_eq!(
            w.producer_overrides(),
            vec![("linger.ms".into(), "5".into())]
        );
        assert_eq!(w.ignored_keys(), ["plugin.path"]);
        assert_eq!(
            w.connector_defaults()
                .get("value.converter.schemas.enable")
                .map(String::as_str),
            Some("false")
        );
    }

    #[test]
    fn worker_converter_keys_are_every_connectors_defaults() {
        let w = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            (
                "value.converter",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            ("value.converter.schemas.enable", "false"),
        ]))
        .unwrap();
        let text = include_str!("../../config/connector-lead-upsert.properties");
        let mut own = crate::config::properties::parse_map(text).unwrap();
        own.retain(|k, _| !k.contains("converter"));
        let c = w.connector_config(&own).unwrap();
        assert!(!c.value_converter.schemas_enable);
        assert_eq!(
            c.key_converter.class,
            crate::config::converter::ConverterClass::String
        );
        own.insert("value.converter.schemas.enable".into(), "true".into());
        assert!(
            w.connector_config(&own)
                .unwrap()
                .value_converter
                .schemas_enable
        );
    }

    #[test]
    fn worker_converters_the_sink_lacks_are_refused_and_registry_secrets_hidden() {
        let e = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            (
                "value.converter",
                "io.confluent.connect.protobuf.ProtobufConverter",
            ),
        ]))
        .unwrap_err();
        assert!(e.messages_for("value.converter")[0]
            .starts_with("io.confluent.connect.protobuf.ProtobufConverter"));
        let w = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            ("value.converter", "io.confluent.connect.avro.AvroConverter"),
            (
                "value.converter.schema.registry.url",
                "http://u:url-secret@registry:8081",
            ),
            ("key.converter", "io.confluent.connect.avro.AvroConverter"),
            ("key.converter.schema.registry.url", "http://registry:8081"),
            ("key.converter.basic.auth.credentials.source", "USER_INFO"),
            ("key.converter.basic.auth.user.info", "u:info-secret"),
        ]))
        .unwrap();
        let dbg = format!("{w:?}");
        assert!(
            !dbg.contains("url-secret") && !dbg.contains("info-secret"),
            "{dbg}"
        );
    }

    #[test]
    fn rest_settings_are_checked_in_pairs_and_typos_caught() {
        let e = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            ("rest.auth.basic.username", "admin"),
            ("listeners", "https://0.0.0.0:8443"),
            ("rest.tls.cert.pth", "/x"),
            ("log.format", "xml"),
        ]))
        .unwrap_err();
        assert!(!e.messages_for("rest.auth.basic.password").is_empty());
        assert!(!e.messages_for("listeners").is_empty());
        assert_eq!(
            e.messages_for("rest.tls.cert.pth"),
            vec!["unknown key; did you mean rest.tls.cert.path?"]
        );
        assert!(!e.messages_for("log.format").is_empty());
        let w = WorkerConfig::from_map(&map(&[
            ("bootstrap.servers", "b:9092"),
            ("rest.auth.bearer.token", "tok-123"),
            ("log.format", "JSON"),
        ]))
        .unwrap();
        assert_eq!(w.log_format, LogFormat::Json);
        assert!(!format!("{w:?}").contains("tok-123"));
    }

    #[test]
    fn shipped_example_worker_validates() {
        let text = include_str!("../../config/worker.properties");
        let map = crate::config::properties::parse_map(text).unwrap();
        let w = WorkerConfig::from_map(&map).unwrap();
        assert_eq!(w.bootstrap_servers, "127.0.0.1:9092");
        assert!(w.ignored_keys().is_empty(), "{:?}", w.ignored_keys());
    }
}
