//! The connector configuration: every key of the spec (section 2) parsed into typed
//! fields with its default, and every rule checked before any I/O.
//!
//! [`ConnectorConfig::from_map`] collects all problems instead of stopping at the first,
//! so an operator (or the REST `validate` endpoint) sees the full list at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::client_keys::{is_security_key, ClientProperties, ClientRole, IgnoredKey};
use super::converter::{self, ConverterConfig, Side};
use super::definitions::{closest_key_with_distance, definition};
use super::error::ConfigErrors;
use super::operation::Operation;
use super::secret::{Secret, HIDDEN};
use super::sync::{
    check_client_id, parse_static_references, GapBehavior, InputFormat, References, SyncSettings,
    DEFAULT_CLIENT_ID,
};
use super::worker::{client_keys_under, security_properties_under};
use crate::record::EventType;
use crate::transform::config::is_transform_key;
use crate::transform::TransformChain;

/// The full class name of the connector we are compatible with.
pub const CONNECTOR_CLASS: &str = "io.confluent.salesforce.SalesforceSObjectSinkConnector";
/// The short class name Kafka Connect also accepts.
pub const CONNECTOR_CLASS_SHORT: &str = "SalesforceSObjectSinkConnector";

/// Where the input records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicSelection {
    /// `topics`: an explicit list.
    Topics(Vec<String>),
    /// `topics.regex`: a pattern (already checked to compile).
    Regex(String),
}

impl TopicSelection {
    /// What the consumer subscribes to. A `topics.regex` pattern must match a whole
    /// topic name, as Java's `Pattern.matches` (which Connect uses) does: librdkafka
    /// treats a subscription starting with `^` as a pattern that may match anywhere in
    /// the name, so the pattern is anchored at both ends here.
    pub fn subscription(&self) -> Vec<String> {
        match self {
            TopicSelection::Topics(topics) => topics.clone(),
            TopicSelection::Regex(pattern) => {
                let inner = pattern.strip_prefix('^').unwrap_or(pattern);
                let inner = match inner.strip_suffix('$') {
                    Some(rest) if !rest.ends_with('\\') => rest,
                    _ => inner,
                };
                vec![format!("^({inner})$")]
            }
        }
    }
}

/// `salesforce.version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVersion {
    /// The highest version the org advertises.
    Latest,
    /// A fixed version such as `62.0`.
    Fixed(String),
}

/// The OAuth 2.0 flow used to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// Username-password flow.
    Password,
    /// JWT bearer flow (signed assertion).
    JwtBearer,
    /// Client credentials flow (My Domain URL required).
    ClientCredentials,
}

impl GrantType {
    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PASSWORD" => Some(GrantType::Password),
            "JWT_BEARER" => Some(GrantType::JwtBearer),
            "CLIENT_CREDENTIALS" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantType::Password => "PASSWORD",
            GrantType::JwtBearer => "JWT_BEARER",
            GrantType::ClientCredentials => "CLIENT_CREDENTIALS",
        })
    }
}

/// Credentials for login; which fields are set depends on the grant type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The OAuth flow.
    pub grant_type: GrantType,
    /// `salesforce.username`.
    pub username: Option<String>,
    /// `salesforce.password`.
    pub password: Option<Secret>,
    /// `salesforce.password.token`, appended to the password.
    pub password_token: Option<Secret>,
    /// `salesforce.consumer.key` (client id).
    pub consumer_key: String,
    /// `salesforce.consumer.secret`.
    pub consumer_secret: Option<Secret>,
    /// `salesforce.jwt.keystore.path`.
    pub jwt_keystore_path: Option<PathBuf>,
    /// `salesforce.jwt.keystore.password`.
    pub jwt_keystore_password: Option<Secret>,
}

/// The outbound proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProxy {
    /// `host:port`.
    pub address: String,
    /// BASIC credentials, when `http.proxy.auth.scheme=BASIC`.
    pub basic_auth: Option<(String, Secret)>,
}

/// `behavior.on.api.errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiErrorBehavior {
    /// Stop the task (the default).
    Fail,
    /// Report, log and go on.
    Log,
    /// Report and go on without a log line.
    Ignore,
}

/// `errors.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorTolerance {
    /// The first bad record stops the task.
    None,
    /// Bad records are routed away and processing goes on.
    All,
}

/// Framework error handling (`errors.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorHandling {
    /// `errors.tolerance`.
    pub tolerance: ErrorTolerance,
    /// `errors.deadletterqueue.topic.name`, `None` when blank.
    pub dlq_topic: Option<String>,
    /// `errors.deadletterqueue.topic.replication.factor`.
    pub dlq_replication_factor: i16,
    /// `errors.deadletterqueue.context.headers.enable`.
    pub dlq_context_headers: bool,
    /// `errors.log.enable`.
    pub log_enable: bool,
    /// `errors.log.include.messages`.
    pub log_include_messages: bool,
    /// `errors.retry.timeout`: how long converter-stage lookups (the Schema Registry)
    /// are retried; `None` when unset (then `request.max.retries.time.ms` applies),
    /// `Duration::MAX` for -1 (without end).
    pub retry_timeout: Option<Duration>,
    /// `errors.retry.delay.max.ms`: the longest wait between two of those retries.
    pub retry_delay_max: Duration,
}

/// One reporter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReporterTopic {
    /// Topic name with `${connector}` already substituted.
    pub name: String,
    /// Replication factor used when creating it.
    pub replication_factor: i16,
    /// Partitions used when creating it.
    pub partitions: i32,
}

/// The result/error reporter, present when `reporter.bootstrap.servers` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReporterConfig {
    /// `reporter.bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Success topic, `None` when its name is blank.
    pub result_topic: Option<ReporterTopic>,
    /// Error topic, `None` when its name is blank.
    pub error_topic: Option<ReporterTopic>,
    /// librdkafka security properties from `reporter.security.protocol`,
    /// `reporter.sasl.*` and `reporter.ssl.*`, for the reporter's own cluster; `None`
    /// means the worker's security settings apply. Contains credentials in clear.
    pub security: Option<ClientProperties>,
}

/// Our own `sink.*` tuning keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkTuning {
    /// `sink.batch.max.records` (1..=200).
    pub batch_max_records: usize,
    /// `sink.batch.linger.ms`.
    pub batch_linger: Duration,
    /// `sink.max.in.flight.requests` (≥1).
    pub max_in_flight_requests: usize,
    /// `sink.composite.collections` (1..=5): Collections batches one Composite call
    /// carries; 1 means plain Collections calls.
    pub composite_collections: usize,
    /// `sink.api.requests.per.second`; `None` when 0 (no pacing).
    pub api_requests_per_second: Option<u32>,
    /// `sink.api.daily.reserve.percent` (0..=100).
    pub api_daily_reserve_percent: u8,
    /// `sink.bulk.threshold.records`; `None` when 0 (Bulk API off).
    pub bulk_threshold_records: Option<usize>,
    /// `sink.all.or.none`.
    pub all_or_none: bool,
    /// `sink.strict.deletes`.
    pub strict_deletes: bool,
    /// `sink.allow.insecure.http`.
    pub allow_insecure_http: bool,
    /// `sink.id.cache.max.entries`.
    pub id_cache_max_entries: usize,
    /// `sink.retry.backoff.initial.ms`.
    pub retry_backoff_initial: Duration,
    /// `sink.retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `sink.max.buffered.records`: records read but not yet final, at most.
    pub max_buffered_records: usize,
    /// `sink.api.budget.poll.ms`: how often `/limits` is read while paused for the budget.
    pub api_budget_poll_interval: Duration,
}

/// A validated connector configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorConfig {
    /// `name`.
    pub name: String,
    /// `connector.class` as given (one of the accepted names).
    pub connector_class: String,
    /// `tasks.max`.
    pub tasks_max: u32,
    /// `topics` or `topics.regex`.
    pub topics: TopicSelection,
    /// `salesforce.object`: the first (or only) SObject listed.
    pub salesforce_object: String,
    /// `salesforce.object`: every SObject listed; with several, each record goes to the
    /// one its `_ObjectType` (PushTopic) or `entityName` (CDC) names.
    pub salesforce_objects: Vec<String>,
    /// `salesforce.instance`.
    pub instance: Url,
    /// `salesforce.version`.
    pub version: ApiVersion,
    /// Login settings.
    pub credentials: Credentials,
    /// `salesforce.sink.object.operation`.
    pub sink_operation: Operation,
    /// `override.event.type`.
    pub override_event_type: bool,
    /// `salesforce.use.custom.id.field`.
    pub use_custom_id_field: bool,
    /// `salesforce.custom.id.field.name`.
    pub custom_id_field_name: Option<String>,
    /// `salesforce.ignore.fields` (trimmed, blanks dropped).
    pub ignore_fields: Vec<String>,
    /// `salesforce.ignore.reference.fields`.
    pub ignore_reference_fields: bool,
    /// `skip.relationship.fields`.
    pub skip_relationship_fields: bool,
    /// `request.max.retries.time.ms`.
    pub request_max_retries_time: Duration,
    /// `salesforce.auth.retries.time.ms`.
    pub auth_retries_time: Duration,
    /// `connection.timeout`.
    pub connection_timeout: Duration,
    /// `http.proxy*`.
    pub http_proxy: Option<HttpProxy>,
    /// `curl.logging`: log each Salesforce call as an equivalent `curl` command, with
    /// the token and the body left out.
    pub curl_logging: bool,
    /// `behavior.on.api.errors`.
    pub behavior_on_api_errors: ApiErrorBehavior,
    /// `errors.*`.
    pub errors: ErrorHandling,
    /// `reporter.*`.
    pub reporter: Option<ReporterConfig>,
    /// `key.converter*`.
    pub key_converter: ConverterConfig,
    /// `value.converter*`.
    pub value_converter: ConverterConfig,
    /// `sink.*`.
    pub sink: SinkTuning,
    /// `sink.input.format`, `sink.cdc.gap.behavior`, `sink.client.id`.
    pub sync: SyncSettings,
    /// `consumer.override.*` keys that librdkafka knows, prefix removed: applied to
    /// this connector's consumer on top of the worker's `consumer.*` settings, as Kafka
    /// Connect does. (Java-only names such as `max.poll.records` are listed as ignored.)
    pub consumer_overrides: ClientProperties,
    /// `producer.override.*`, translated the same way: applied to the reporter and
    /// dead-letter producers on top of the worker's `producer.*` settings.
    pub producer_overrides: ClientProperties,
    /// `admin.override.*`, translated the same way: applied to the admin client that
    /// creates the reporter and dead-letter topics.
    pub admin_overrides: ClientProperties,
    /// `transforms` and `predicates`: the Single Message Transforms applied to each
    /// record after decoding, in order (empty when none is configured).
    pub transforms: TransformChain,
    ignored: Vec<String>,
    client_ignored: Vec<IgnoredKey>,
}

/// Prefixes of keys sorted elsewhere: converter sub-keys (read, or refused, by
/// `read_converter`), and Confluent's licence keys, which configure a licence this
/// sink does not need (the connector's contract accepts them without effect).
const FRAMEWORK_PREFIXES: &[&str] = &[
    "key.converter.",
    "value.converter.",
    "confluent.license",
    "confluent.topic",
];

/// Prefixes of the per-connector Kafka client overrides, translated for librdkafka.
const CLIENT_OVERRIDE_PREFIXES: &[&str] = &[
    "consumer.override.",
    "producer.override.",
    "admin.override.",
];

/// Kafka's own header converters. The sink reads no header values (predicates read
/// header keys only), so each of them leaves the records it writes the same.
const HEADER_CONVERTERS: &[&str] = &[
    "org.apache.kafka.connect.storage.SimpleHeaderConverter",
    "org.apache.kafka.connect.storage.StringConverter",
    "org.apache.kafka.connect.json.JsonConverter",
    "org.apache.kafka.connect.converters.ByteArrayConverter",
];

/// Reads typed values out of the raw map, recording each problem.
struct MapReader<'a> {
    map: &'a BTreeMap<String, String>,
    errors: ConfigErrors,
}

impl<'a> MapReader<'a> {
    /// The value as shown in an error: hidden for password keys.
    fn shown(&self, key: &str) -> Option<String> {
        self.map.get(key).map(|v| shown_value(key, v))
    }

    fn error(&mut self, key: &str, message: impl Into<String>) {
        let shown = self.shown(key);
        self.errors.push(key, shown, message);
    }

    /// The raw value, or the definition's default; `None` when neither is set.
    fn raw(&self, key: &str) -> Option<&'a str> {
        match self.map.get(key) {
            Some(v) => Some(v.as_str()),
            None => definition(key).and_then(|d| d.default),
        }
    }

    /// A non-blank string (trimmed), or `None`.
    fn string(&self, key: &str) -> Option<String> {
        self.raw(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    fn required(&mut self, key: &str) -> Option<String> {
        let v = self.string(key);
        if v.is_none() {
            self.error(key, "is required");
        }
        v
    }

    fn secret(&self, key: &str) -> Option<Secret> {
        // Secrets are taken verbatim (no trimming): a password may end in a space.
        self.map
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| Secret::new(v.clone()))
    }

    fn bool(&mut self, key: &str) -> bool {
        let raw = self.raw(key).unwrap_or("false").trim();
        if raw.eq_ignore_ascii_case("true") {
            true
        } else if raw.eq_ignore_ascii_case("false") {
            false
        } else {
            self.error(key, "must be true or false");
            false
        }
    }

    fn int(&mut self, key: &str, min: i64, max: i64) -> i64 {
        let fallback = definition(key)
            .and_then(|d| d.default)
            .and_then(|d| d.parse().ok())
            .unwrap_or(min);
        let Some(raw) = self.raw(key) else {
            return fallback;
        };
        match raw.trim().parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => v,
            Ok(_) => {
                let range = if max == i64::MAX {
                    format!("at least {min}")
                } else {
                    format!("between {min} and {max}")
                };
                self.error(key, format!("must be {range}"));
                fallback
            }
            Err(_) => {
                self.error(key, "must be a whole number");
                fallback
            }
        }
    }

    fn millis(&mut self, key: &str, min: i64, max: i64) -> Duration {
        Duration::from_millis(self.int(key, min, max).max(0) as u64)
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.raw(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// True when `key`'s value must never be shown: a password-type connector key, or any
/// other key whose name says it holds a credential (framework and client overrides).
pub fn is_password_key(key: &str) -> bool {
    if let Some(d) = definition(key) {
        return d.password;
    }
    let lower = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "jaas.config",
        "credentials",
        "private.key",
        "user.info",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// A value as it may be shown (REST answers, errors, logs): `[hidden]` for a secret
/// key, and the userinfo of any URL in it (a Schema Registry URL may carry
/// `user:password@`) replaced by `[hidden]`.
pub fn shown_value(key: &str, value: &str) -> String {
    if is_password_key(key) {
        return HIDDEN.to_string();
    }
    if !value.contains('@') || !value.contains("://") {
        return value.to_string();
    }
    value
        .split(',')
        .map(|item| {
            // Everything between the scheme and the last `@` is userinfo, whatever
            // characters the password holds.
            match (item.find("://"), item.rfind('@')) {
                (Some(scheme), Some(at)) if at > scheme => {
                    format!("{}{HIDDEN}{}", &item[..scheme + 3], &item[at..])
                }
                _ => item.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// True for a plausible Salesforce API name (`Lead`, `Foo__c`, `ns__Bar__c`).
fn is_api_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

impl ConnectorConfig {
    /// Parses and validates a flat configuration map (a `.properties` file or a REST
    /// body). Returns every problem found, not just the first.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<ConnectorConfig, ConfigErrors> {
        let mut r = MapReader {
            map,
            errors: ConfigErrors::default(),
        };
        let mut ignored = check_unknown_keys(&mut r);
        let client_overrides = read_client_overrides(&mut r);
        ignored.extend(client_overrides.ignored.iter().map(|i| i.key.clone()));
        ignored.sort();

        let name = r.required("name").unwrap_or_default();
        let connector_class = r.string("connector.class").unwrap_or_default();
        if connector_class != CONNECTOR_CLASS && connector_class != CONNECTOR_CLASS_SHORT {
            r.error(
                "connector.class",
                format!("must be {CONNECTOR_CLASS} (this process runs no other connector)"),
            );
        }
        let tasks_max = r.int("tasks.max", 1, i32::MAX as i64) as u32;
        let topics = read_topics(&mut r);

        let salesforce_object = r.required("salesforce.object").unwrap_or_default();
        let salesforce_objects: Vec<String> = salesforce_object
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        let every = salesforce_objects.iter().any(|o| o == "*");
        if every && salesforce_objects.len() > 1 {
            r.error(
                "salesforce.object",
                "* (every SObject a record names) stands alone; or list the SObjects, e.g. Account,Contact",
            );
        } else if every {
            // Each record's `_ObjectType` (or CDC entityName) picks its SObject.
        } else if salesforce_objects.iter().any(|o| !is_api_name(o)) {
            r.error(
                "salesforce.object",
                "must be SObject API names (letters, digits and underscores, starting with a letter), comma-separated",
            );
        } else if salesforce_objects.iter().enumerate().any(|(i, o)| {
            salesforce_objects[..i]
                .iter()
                .any(|p| p.eq_ignore_ascii_case(o))
        }) {
            r.error("salesforce.object", "names an SObject twice");
        }
        let salesforce_object = salesforce_objects.first().cloned().unwrap_or_default();
        let allow_insecure_http = r.bool("sink.allow.insecure.http");
        let instance = read_instance(&mut r, allow_insecure_http);
        let version = read_version(&mut r);
        let credentials = read_credentials(&mut r, instance.as_ref());

        let sink_operation = match r.string("salesforce.sink.object.operation") {
            Some(v) => v.parse::<Operation>().unwrap_or_else(|msg| {
                r.error("salesforce.sink.object.operation", msg);
                Operation::Insert
            }),
            None => Operation::Insert,
        };
        let override_event_type = r.bool("override.event.type");
        let use_custom_id_field = r.bool("salesforce.use.custom.id.field");
        let custom_id_field_name = r.string("salesforce.custom.id.field.name");
        if let Some(field) = &custom_id_field_name {
            if !is_api_name(field) {
                r.error(
                    "salesforce.custom.id.field.name",
                    "must be a field API name such as CustomId__c",
                );
            }
        }
        if use_custom_id_field && custom_id_field_name.is_none() {
            r.error(
                "salesforce.custom.id.field.name",
                "is required when salesforce.use.custom.id.field=true",
            );
        }
        if override_event_type
            && sink_operation == Operation::Upsert
            && (!use_custom_id_field || custom_id_field_name.is_none())
        {
            r.error(
                "salesforce.sink.object.operation",
                "salesforce.sink.object.operation=upsert requires salesforce.use.custom.id.field=true and salesforce.custom.id.field.name",
            );
        }

        let ignore_fields = r.list("salesforce.ignore.fields");
        let ignore_reference_fields = r.bool("salesforce.ignore.reference.fields");
        let skip_relationship_fields = r.bool("skip.relationship.fields");
        let request_max_retries_time = r.millis("request.max.retries.time.ms", 1, i64::MAX);
        let auth_retries_time = r.millis("salesforce.auth.retries.time.ms", 0, i64::MAX);
        let connection_timeout = r.millis("connection.timeout", 1, 3_600_000);
        let http_proxy = read_proxy(&mut r);

        let behavior_on_api_errors = match r
            .string("behavior.on.api.errors")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("fail") => ApiErrorBehavior::Fail,
            Some("log") => ApiErrorBehavior::Log,
            Some("ignore") => ApiErrorBehavior::Ignore,
            Some(_) => {
                r.error("behavior.on.api.errors", "must be fail, log or ignore");
                ApiErrorBehavior::Fail
            }
        };
        // As in Confluent's connector, log and ignore work on their own: a rejected
        // record is reported and skipped whatever errors.tolerance says (that key
        // governs records that cannot be decoded, and the dead-letter queue).
        let errors = read_error_handling(&mut r);
        let curl_logging = read_framework_keys(&mut r);
        let reporter = read_reporter(&mut r, &name);
        let key_converter = read_converter(&mut r, Side::Key, &mut ignored);
        let value_converter = read_converter(&mut r, Side::Value, &mut ignored);
        let sink = read_sink(&mut r, allow_insecure_http);
        let sync = read_sync(
            &mut r,
            use_custom_id_field && custom_id_field_name.is_some(),
            ignore_reference_fields,
        );
        let transforms = read_transforms(&mut r);

        // An unreadable instance URL has already been reported.
        let instance = match instance {
            Some(url) if r.errors.is_empty() => url,
            _ => return Err(r.errors),
        };
        Ok(ConnectorConfig {
            name,
            connector_class,
            tasks_max,
            topics,
            salesforce_object,
            salesforce_objects,
            instance,
            version,
            credentials,
            sink_operation,
            override_event_type,
            use_custom_id_field,
            custom_id_field_name,
            ignore_fields,
            ignore_reference_fields,
            skip_relationship_fields,
            request_max_retries_time,
            auth_retries_time,
            connection_timeout,
            http_proxy,
            curl_logging,
            behavior_on_api_errors,
            errors,
            reporter,
            key_converter,
            value_converter,
            sink,
            sync,
            consumer_overrides: ClientProperties(client_overrides.consumer),
            producer_overrides: ClientProperties(client_overrides.producer),
            admin_overrides: ClientProperties(client_overrides.admin),
            transforms,
            ignored,
            client_ignored: client_overrides.ignored,
        })
    }

    /// Keys that were accepted but are not used by this sink (framework keys such as
    /// `confluent.*`), for the runtime to log once.
    pub fn ignored_keys(&self) -> &[String] {
        &self.ignored
    }

    /// Why an ignored key has no effect, for the log line: the librdkafka reason for a
    /// Java-only client setting, else that the key is a framework key this sink has no
    /// use for.
    pub fn ignored_reason(&self, key: &str) -> &'static str {
        self.client_ignored
            .iter()
            .find(|i| i.key == key)
            .map_or("this sink has no use for it", |i| i.reason)
    }

    /// The map with every credential's value replaced by `[hidden]` (REST responses).
    pub fn redacted_map(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        map.iter()
            .map(|(k, v)| (k.clone(), shown_value(k, v)))
            .collect()
    }

    /// The External ID field, when records are addressed through one.
    pub fn external_id_field(&self) -> Option<&str> {
        if self.use_custom_id_field {
            self.custom_id_field_name.as_deref()
        } else {
            None
        }
    }

    /// `salesforce.object=*`: every record goes to the SObject it names, each with a
    /// writer started when its first record comes.
    pub fn every_sobject(&self) -> bool {
        self.salesforce_objects.iter().any(|o| o == "*")
    }

    /// The Kafka consumer group of this connector (`connect-<name>`).
    pub fn consumer_group(&self) -> String {
        format!("connect-{}", self.name)
    }

    /// The write a record asks for (spec section 4, "Operation"): with
    /// `override.event.type=true` the configured operation; otherwise `created`→insert,
    /// `updated`→update, `deleted`→delete, `undeleted`→upsert when an External ID field
    /// is configured, else insert. A record without `_EventType` is an error then.
    pub fn operation_for(&self, event: Option<EventType>) -> Result<Operation, String> {
        if self.override_event_type {
            return Ok(self.sink_operation);
        }
        match event {
            Some(EventType::Created) => Ok(Operation::Insert),
            Some(EventType::Updated) => Ok(Operation::Update),
            Some(EventType::Deleted) => Ok(Operation::Delete),
            Some(EventType::Undeleted) => Ok(if self.external_id_field().is_some() {
                Operation::Upsert
            } else {
                Operation::Insert
            }),
            None => Err(
                "the record has no _EventType; set override.event.type=true and salesforce.sink.object.operation to say what to do with such records"
                    .to_string(),
            ),
        }
    }
}

/// Sorts every key into known, ignored (returned) or an error (typo protection).
fn check_unknown_keys(r: &mut MapReader<'_>) -> Vec<String> {
    let mut ignored = Vec::new();
    let keys: Vec<&String> = r.map.keys().collect();
    for key in keys {
        // `transforms*` and `predicates*` are checked by `read_transforms`.
        if definition(key).is_some() || is_transform_key(key) {
            continue;
        }
        if CLIENT_OVERRIDE_PREFIXES.iter().any(|p| key.starts_with(p)) {
            // Sorted by read_client_overrides.
            continue;
        }
        if let Some(k) = key.strip_prefix("reporter.") {
            // Read by read_reporter; the reporter has no other settings.
            if !(is_security_key(k) || is_report_format_key(key)) {
                let hint = match closest_key_with_distance(key) {
                    Some((s, _)) => format!("unknown key; did you mean {s}?"),
                    None => "unknown key: the reporter takes reporter.bootstrap.servers, the topic keys, and reporter.security.protocol, reporter.sasl.*, reporter.ssl.*".to_string(),
                };
                r.error(key, hint);
            }
            continue;
        }
        let converter_key =
            key.starts_with("key.converter.") || key.starts_with("value.converter.");
        let ours = key.starts_with("salesforce.")
            || key.starts_with("sink.")
            || key.starts_with("errors.")
            || key.starts_with("header.converter");
        let framework = FRAMEWORK_PREFIXES.iter().any(|p| key.starts_with(p));
        let suggestion = closest_key_with_distance(key);
        // One or two letters away from a key of ours is a typo even under a framework
        // prefix (`errors.tolerence`); further away, framework keys pass as ignored.
        let typo = match suggestion {
            Some((_, dist)) if ours || dist <= 2 => true,
            Some(_) => !framework,
            None => false,
        };
        if ours || typo {
            let hint = match suggestion {
                Some((s, _)) => format!("unknown key; did you mean {s}?"),
                None => "unknown key".to_string(),
            };
            r.error(key, hint);
        } else if framework && !converter_key {
            ignored.push(key.clone());
        } else if !framework {
            r.error(
                key,
                "unknown key: not a key of this connector, of Kafka Connect's framework, or \
                 of Confluent's connector",
            );
        }
    }
    ignored
}

/// The connector's client overrides (`consumer.override.*`, `producer.override.*`,
/// `admin.override.*`), translated from Java client names to librdkafka's the same
/// way as the worker's `consumer.*`/`producer.*` keys.
fn read_client_overrides(r: &mut MapReader<'_>) -> ClientOverrides {
    let mut overrides = ClientOverrides::default();
    for (prefix, role) in [
        ("consumer.override.", ClientRole::Consumer),
        ("producer.override.", ClientRole::Producer),
        ("admin.override.", ClientRole::Admin),
    ] {
        let (properties, ignored, errors) = client_keys_under(r.map, prefix, role);
        for (key, message) in errors {
            r.error(&key, message);
        }
        overrides.ignored.extend(ignored);
        match role {
            ClientRole::Consumer => overrides.consumer = properties,
            ClientRole::Producer => overrides.producer = properties,
            ClientRole::Admin => overrides.admin = properties,
        }
    }
    overrides
}

#[derive(Default)]
struct ClientOverrides {
    consumer: Vec<(String, String)>,
    producer: Vec<(String, String)>,
    admin: Vec<(String, String)>,
    ignored: Vec<IgnoredKey>,
}

/// The transform chain; each refused key is an error naming the alias and class.
fn read_transforms(r: &mut MapReader<'_>) -> TransformChain {
    match crate::transform::config::read(r.map) {
        Ok(chain) => chain,
        Err(problems) => {
            for p in problems {
                r.error(&p.key, p.message);
            }
            TransformChain::default()
        }
    }
}

fn read_topics(r: &mut MapReader<'_>) -> TopicSelection {
    let topics = r.list("topics");
    let regex = r.string("topics.regex");
    match (topics.is_empty(), regex) {
        (false, None) => TopicSelection::Topics(topics),
        (true, Some(pattern)) => {
            if let Err(e) = regex::Regex::new(&pattern) {
                r.error(
                    "topics.regex",
                    format!("is not a valid regular expression: {e}"),
                );
            }
            TopicSelection::Regex(pattern)
        }
        (false, Some(_)) => {
            r.error("topics", "set either topics or topics.regex, not both");
            TopicSelection::Topics(topics)
        }
        (true, None) => {
            r.error("topics", "one of topics or topics.regex is required");
            TopicSelection::Topics(Vec::new())
        }
    }
}

fn read_instance(r: &mut MapReader<'_>, allow_insecure_http: bool) -> Option<Url> {
    let raw = r.string("salesforce.instance").unwrap_or_default();
    let url = match Url::parse(&raw) {
        Ok(u) => u,
        Err(e) => {
            r.error("salesforce.instance", format!("is not a URL: {e}"));
            return None;
        }
    };
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) || allow_insecure_http => {}
        "http" => r.error(
            "salesforce.instance",
            "plain http is allowed only for loopback hosts (set sink.allow.insecure.http=true for a test setup)",
        ),
        _ => r.error("salesforce.instance", "must be an https:// URL"),
    }
    if url.host().is_none() {
        r.error("salesforce.instance", "has no host");
    }
    Some(url)
}

fn read_version(r: &mut MapReader<'_>) -> ApiVersion {
    let raw = r.string("salesforce.version").unwrap_or_default();
    if raw.eq_ignore_ascii_case("latest") {
        return ApiVersion::Latest;
    }
    let valid = raw.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty()
            && major.len() <= 3
            && minor.len() == 1
            && major.bytes().all(|b| b.is_ascii_digit())
            && minor.bytes().all(|b| b.is_ascii_digit())
    });
    if !valid {
        r.error(
            "salesforce.version",
            "must be latest or a version such as 62.0",
        );
    }
    ApiVersion::Fixed(raw)
}

/// True for a path named like a Java KeyStore, which neither OpenSSL nor librdkafka read.
pub(crate) fn is_java_keystore_path(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".jks")
}

/// The `keytool` command that turns the Java KeyStore at `path` into a PKCS#12 file.
pub(crate) fn keytool_to_pkcs12(path: &str) -> String {
    let stem = path
        .strip_suffix(".jks")
        .or_else(|| path.strip_suffix(".JKS"))
        .unwrap_or(path);
    format!("keytool -importkeystore -srckeystore {path} -destkeystore {stem}.p12 -deststoretype PKCS12")
}

fn read_credentials(r: &mut MapReader<'_>, instance: Option<&Url>) -> Credentials {
    let keystore = r.string("salesforce.jwt.keystore.path");
    let grant_type = match r.map.get("salesforce.grant.type").map(|v| v.trim()) {
        None | Some("") => {
            if keystore.is_some() {
                GrantType::JwtBearer
            } else {
                GrantType::Password
            }
        }
        Some(raw) => match GrantType::parse(raw) {
            // The keystore path picks JWT even over the default-looking PASSWORD, as the
            // Confluent connector documents.
            Some(GrantType::Password) if keystore.is_some() => GrantType::JwtBearer,
            Some(g) => g,
            None => {
                r.error(
                    "salesforce.grant.type",
                    "must be PASSWORD, JWT_BEARER or CLIENT_CREDENTIALS",
                );
                GrantType::Password
            }
        },
    };
    if let Some(path) = keystore.as_deref().filter(|p| is_java_keystore_path(p)) {
        r.error(
            "salesforce.jwt.keystore.path",
            format!(
                "a Java KeyStore (.jks) cannot be read here; use PKCS#12 or PEM. Convert it with: {}",
                keytool_to_pkcs12(path)
            ),
        );
    }
    let consumer_key = r.required("salesforce.consumer.key").unwrap_or_default();
    let c = Credentials {
        grant_type,
        username: r.string("salesforce.username"),
        password: r.secret("salesforce.password"),
        password_token: r.secret("salesforce.password.token"),
        consumer_key,
        consumer_secret: r.secret("salesforce.consumer.secret"),
        jwt_keystore_path: keystore.map(PathBuf::from),
        jwt_keystore_password: r.secret("salesforce.jwt.keystore.password"),
    };
    let needs = || format!("is required by salesforce.grant.type={grant_type}");
    match grant_type {
        GrantType::Password => {
            if c.username.is_none() {
                r.error("salesforce.username", needs());
            }
            if c.password.is_none() {
                r.error("salesforce.password", needs());
            }
            if c.consumer_secret.is_none() {
                r.error("salesforce.consumer.secret", needs());
            }
        }
        GrantType::JwtBearer => {
            if c.username.is_none() {
                r.error("salesforce.username", needs());
            }
            if c.jwt_keystore_path.is_none() {
                r.error("salesforce.jwt.keystore.path", needs());
            }
        }
        GrantType::ClientCredentials => {
            if c.consumer_secret.is_none() {
                r.error("salesforce.consumer.secret", needs());
            }
            if c.jwt_keystore_path.is_some() {
                r.error(
                    "salesforce.jwt.keystore.path",
                    "is only used by JWT_BEARER, but salesforce.grant.type=CLIENT_CREDENTIALS",
                );
            }
            let generic = matches!(
                instance.and_then(Url::host_str),
                Some("login.salesforce.com") | Some("test.salesforce.com")
            );
            if generic {
                r.error(
                    "salesforce.instance",
                    "CLIENT_CREDENTIALS needs the org's My Domain URL, not the generic login host",
                );
            }
        }
    }
    c
}

fn read_proxy(r: &mut MapReader<'_>) -> Option<HttpProxy> {
    let address = r.string("http.proxy")?;
    let valid = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !valid {
        r.error("http.proxy", "must be host:port");
    }
    let scheme = r
        .string("http.proxy.auth.scheme")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let basic_auth = match scheme.as_str() {
        "" | "NONE" => None,
        "BASIC" => {
            let user = r.string("http.proxy.user");
            let password = r.secret("http.proxy.password");
            if user.is_none() {
                r.error(
                    "http.proxy.user",
                    "is required by http.proxy.auth.scheme=BASIC",
                );
            }
            if password.is_none() {
                r.error(
                    "http.proxy.password",
                    "is required by http.proxy.auth.scheme=BASIC",
                );
            }
            user.zip(password)
        }
        "NTLM" => {
            r.error(
                "http.proxy.auth.scheme",
                "NTLM proxies are not supported; use NONE or BASIC",
            );
            None
        }
        _ => {
            r.error("http.proxy.auth.scheme", "must be NONE or BASIC");
            None
        }
    };
    Some(HttpProxy {
        address,
        basic_auth,
    })
}

fn read_error_handling(r: &mut MapReader<'_>) -> ErrorHandling {
    let tolerance = match r
        .string("errors.tolerance")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("none") => ErrorTolerance::None,
        Some("all") => ErrorTolerance::All,
        Some(_) => {
            r.error("errors.tolerance", "must be none or all");
            ErrorTolerance::None
        }
    };
    let dlq_topic = r.string("errors.deadletterqueue.topic.name");
    if dlq_topic.is_some() && tolerance != ErrorTolerance::All {
        r.error(
            "errors.deadletterqueue.topic.name",
            "a dead-letter topic requires errors.tolerance=all",
        );
    }
    ErrorHandling {
        tolerance,
        dlq_topic,
        dlq_replication_factor: read_replication_factor(
            r,
            "errors.deadletterqueue.topic.replication.factor",
        ),
        dlq_context_headers: r.bool("errors.deadletterqueue.context.headers.enable"),
        log_enable: r.bool("errors.log.enable"),
        log_include_messages: r.bool("errors.log.include.messages"),
        retry_timeout: r.raw("errors.retry.timeout").map(|_| {
            match r.int("errors.retry.timeout", -1, i64::MAX) {
                -1 => Duration::MAX,
                ms => Duration::from_millis(ms as u64),
            }
        }),
        retry_delay_max: r.millis("errors.retry.delay.max.ms", 0, i64::MAX),
    }
}

/// Kafka Connect and Confluent keys the sink checks but has little to do with:
/// `header.converter` (one of Kafka's own classes), `config.action.reload`
/// (`restart`|`none`), and the Confluent keys for features it does not have, refused
/// when set. Returns `curl.logging`.
fn read_framework_keys(r: &mut MapReader<'_>) -> bool {
    if let Some(class) = r.string("header.converter") {
        if !HEADER_CONVERTERS.contains(&class.as_str()) {
            r.error(
                "header.converter",
                format!(
                    "{class} is not one of Kafka's header converters ({}); the sink reads no \
                     header values, so any of those serves",
                    HEADER_CONVERTERS.join(", ")
                ),
            );
        }
    }
    let keys: Vec<String> = r
        .map
        .keys()
        .filter(|k| k.starts_with("header.converter."))
        .cloned()
        .collect();
    for key in keys {
        r.error(
            &key,
            "the sink reads no header values, so the header converter takes no settings; remove it",
        );
    }
    if let Some(v) = r.string("config.action.reload") {
        if !(v.eq_ignore_ascii_case("restart") || v.eq_ignore_ascii_case("none")) {
            r.error("config.action.reload", "must be restart or none");
        }
    }
    if r.string("http.proxy.auth.ntlm.domain").is_some() {
        r.error(
            "http.proxy.auth.ntlm.domain",
            "NTLM proxy authentication is not supported; use a proxy that takes \
             http.proxy.auth.scheme=BASIC, or none",
        );
    }
    if r.string("connection.max.message.size").is_some() {
        r.error(
            "connection.max.message.size",
            "limits the long-poll messages of Confluent's streaming source connectors; this \
             sink makes no long polls, so remove it",
        );
    }
    r.bool("curl.logging")
}

/// A replication factor: -1 (the broker's default) or 1..=32767.
fn read_replication_factor(r: &mut MapReader<'_>, key: &str) -> i16 {
    let v = r.int(key, -1, i16::MAX as i64);
    if v == 0 {
        r.error(key, "must be -1 (broker default) or at least 1");
    }
    v as i16
}

fn read_reporter(r: &mut MapReader<'_>, connector: &str) -> Option<ReporterConfig> {
    let bootstrap_servers = r.string("reporter.bootstrap.servers");
    let mut topic = |kind: &str| -> Option<ReporterTopic> {
        let name_key = format!("reporter.{kind}.topic.name");
        let replication_factor =
            read_replication_factor(r, &format!("reporter.{kind}.topic.replication.factor"));
        let partitions = r.int(
            &format!("reporter.{kind}.topic.partitions"),
            1,
            i32::MAX as i64,
        ) as i32;
        // A key given as blank disables the topic; an absent key takes the default.
        let name = r.string(&name_key)?.replace("${connector}", connector);
        Some(ReporterTopic {
            name,
            replication_factor,
            partitions,
        })
    };
    let result_topic = topic("result");
    let error_topic = topic("error");
    read_report_formats(r);
    let (security, errors) = security_properties_under(r.map, "reporter.");
    for (key, message) in errors {
        r.error(&key, message);
    }
    bootstrap_servers.map(|bootstrap_servers| ReporterConfig {
        bootstrap_servers,
        result_topic,
        error_topic,
        security: (!security.is_empty()).then_some(ClientProperties(security)),
    })
}

/// True for the keys [`read_report_formats`] reads:
/// `reporter.{result,error}.topic.{key,value}.format[.schemas.enable|.schemas.cache.size]`.
fn is_report_format_key(key: &str) -> bool {
    let Some(rest) = key
        .strip_prefix("reporter.result.topic.")
        .or_else(|| key.strip_prefix("reporter.error.topic."))
    else {
        return false;
    };
    let Some(tail) = rest
        .strip_prefix("key.format")
        .or_else(|| rest.strip_prefix("value.format"))
    else {
        return false;
    };
    matches!(tail, "" | ".schemas.enable" | ".schemas.cache.size")
}

/// The Confluent reporter's serialisation keys. Reports are written as JSON without a
/// schema envelope (the key is the input record's key bytes, unchanged), which is what
/// the defaults (`json`, `schemas.enable=false`) describe; other choices are refused
/// rather than silently written another way. With no schema written, the schema cache
/// size has nothing to hold; it is checked for range only.
fn read_report_formats(r: &mut MapReader<'_>) {
    for kind in ["result", "error"] {
        for part in ["key", "value"] {
            let format_key = format!("reporter.{kind}.topic.{part}.format");
            if let Some(v) = r.string(&format_key) {
                if !v.eq_ignore_ascii_case("json") {
                    r.error(
                        &format_key,
                        "only json is supported: reports are written as JSON",
                    );
                }
            }
            let schemas_key = format!("{format_key}.schemas.enable");
            if r.map.contains_key(&schemas_key) && r.bool(&schemas_key) {
                r.error(
                    &schemas_key,
                    "only false is supported: reports are written without a schema envelope",
                );
            }
            let cache_key = format!("{format_key}.schemas.cache.size");
            if let Some(v) = r.string(&cache_key) {
                if !v.parse::<i64>().is_ok_and(|n| (0..=2048).contains(&n)) {
                    r.error(&cache_key, "must be a whole number between 0 and 2048");
                }
            }
        }
    }
}

fn read_converter(r: &mut MapReader<'_>, side: Side, ignored: &mut Vec<String>) -> ConverterConfig {
    let reading = converter::read_converter(r.map, side);
    for p in reading.problems {
        r.error(&p.key, p.message);
    }
    ignored.extend(reading.ignored);
    ignored.sort();
    ignored.dedup();
    reading.config
}

/// The smallest `sink.max.buffered.records` that leaves room for Bulk API 2.0 jobs.
const MIN_BUFFER_FOR_BULK: usize = 1000;

fn read_sink(r: &mut MapReader<'_>, allow_insecure_http: bool) -> SinkTuning {
    let per_second = r.int("sink.api.requests.per.second", 0, u32::MAX as i64) as u32;
    let bulk = r.int("sink.bulk.threshold.records", 0, i64::MAX) as usize;
    let batch_max_records = r.int("sink.batch.max.records", 1, 200) as usize;
    let max_buffered_records = r.int("sink.max.buffered.records", 200, 10_000_000) as usize;
    if bulk > 0 && bulk <= batch_max_records {
        r.error(
            "sink.bulk.threshold.records",
            format!(
                "must be 0 (off) or above sink.batch.max.records ({batch_max_records}): a \
                 smaller backlog fits in one sObject Collections call"
            ),
        );
    }
    if bulk > 0 && max_buffered_records < MIN_BUFFER_FOR_BULK {
        // A job takes at most half the buffer; below this it would not beat Collections.
        r.error(
            "sink.max.buffered.records",
            format!(
                "must be at least {MIN_BUFFER_FOR_BULK} when sink.bulk.threshold.records is \
                 set (a Bulk API 2.0 job takes at most half the buffer), got \
                 {max_buffered_records}"
            ),
        );
    }
    let retry_backoff_initial = r.millis("sink.retry.backoff.initial.ms", 1, 3_600_000);
    let retry_backoff_max = r.millis("sink.retry.backoff.max.ms", 1, 3_600_000);
    if retry_backoff_max < retry_backoff_initial {
        r.error(
            "sink.retry.backoff.max.ms",
            "must not be below sink.retry.backoff.initial.ms",
        );
    }
    SinkTuning {
        batch_max_records,
        batch_linger: r.millis("sink.batch.linger.ms", 0, 60_000),
        max_in_flight_requests: r.int("sink.max.in.flight.requests", 1, 1024) as usize,
        composite_collections: r.int("sink.composite.collections", 1, 5) as usize,
        api_requests_per_second: (per_second > 0).then_some(per_second),
        api_daily_reserve_percent: r.int("sink.api.daily.reserve.percent", 0, 100) as u8,
        bulk_threshold_records: (bulk > 0).then_some(bulk),
        all_or_none: r.bool("sink.all.or.none"),
        strict_deletes: r.bool("sink.strict.deletes"),
        allow_insecure_http,
        id_cache_max_entries: r.int("sink.id.cache.max.entries", 0, i64::MAX) as usize,
        retry_backoff_initial,
        retry_backoff_max,
        max_buffered_records,
        api_budget_poll_interval: r.millis("sink.api.budget.poll.ms", 100, 3_600_000),
    }
}

fn read_sync(
    r: &mut MapReader<'_>,
    custom_id_field: bool,
    ignore_reference_fields: bool,
) -> SyncSettings {
    let input_format = match r.string("sink.input.format") {
        Some(v) => v.parse::<InputFormat>().unwrap_or_else(|msg| {
            r.error("sink.input.format", msg);
            InputFormat::Auto
        }),
        None => InputFormat::Auto,
    };
    let gap_behavior = match r.string("sink.cdc.gap.behavior") {
        Some(v) => v.parse::<GapBehavior>().unwrap_or_else(|msg| {
            r.error("sink.cdc.gap.behavior", msg);
            GapBehavior::Fail
        }),
        None => GapBehavior::Fail,
    };
    let client_id = r
        .string("sink.client.id")
        .unwrap_or_else(|| DEFAULT_CLIENT_ID.to_string());
    if let Err(msg) = check_client_id(&client_id) {
        r.error("sink.client.id", msg);
    }
    let references = match r.string("sink.references") {
        Some(v) => v.parse::<References>().unwrap_or_else(|msg| {
            r.error("sink.references", msg);
            References::Keep
        }),
        None => References::Keep,
    };
    if references == References::ExternalId && !custom_id_field {
        r.error(
            "sink.references",
            "sink.references=external.id needs salesforce.use.custom.id.field=true and \
             salesforce.custom.id.field.name (the parents are found by that field)",
        );
    }
    if references == References::ExternalId && ignore_reference_fields {
        r.error(
            "sink.references",
            "sink.references=external.id cannot work with \
             salesforce.ignore.reference.fields=true, which drops every reference field",
        );
    }
    let static_text = r.string("sink.references.static").unwrap_or_default();
    let static_references = parse_static_references(&static_text).unwrap_or_else(|msg| {
        r.error("sink.references.static", msg);
        Vec::new()
    });
    if !static_references.is_empty() && references != References::ExternalId {
        r.error(
            "sink.references.static",
            "is used only with sink.references=external.id",
        );
    }
    let references_wait = r.millis("sink.references.wait.ms", 0, i64::MAX);
    SyncSettings {
        input_format,
        gap_behavior,
        client_id,
        references,
        static_references,
        references_wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::converter::{ConverterClass, DecimalFormat};

    fn base() -> BTreeMap<String, String> {
        [
            ("name", "lead-sync"),
            ("connector.class", CONNECTOR_CLASS),
            ("topics", "leads"),
            ("salesforce.object", "Lead"),
            ("salesforce.username", "sync@example.com"),
            ("salesforce.password", "pw-value"),
            ("salesforce.consumer.key", "client-id"),
            ("salesforce.consumer.secret", "client-secret-value"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn with(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut m = base();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    fn errors(map: &BTreeMap<String, String>) -> ConfigErrors {
        ConnectorConfig::from_map(map).unwrap_err()
    }

    #[test]
    fn minimal_password_config_takes_the_spec_defaults() {
        let c = ConnectorConfig::from_map(&base()).unwrap();
        assert_eq!(c.tasks_max, 1);
        assert_eq!(c.topics, TopicSelection::Topics(vec!["leads".into()]));
        assert_eq!(c.instance.as_str(), "https://login.salesforce.com/");
        assert_eq!(c.version, ApiVersion::Latest);
        assert_eq!(c.credentials.grant_type, GrantType::Password);
        assert_eq!(c.sink_operation, Operation::Insert);
        assert!(!c.override_event_type);
        assert!(c.skip_relationship_fields);
        assert!(!c.ignore_reference_fields);
        assert_eq!(c.request_max_retries_time, Duration::from_millis(900_000));
        assert_eq!(c.auth_retries_time, Duration::from_millis(30_000));
        assert_eq!(c.connection_timeout, Duration::from_millis(30_000));
        assert_eq!(c.behavior_on_api_errors, ApiErrorBehavior::Fail);
        assert_eq!(c.errors.tolerance, ErrorTolerance::None);
        assert!(c.reporter.is_none());
        assert_eq!(c.key_converter, ConverterConfig::default());
        assert_eq!(c.value_converter, ConverterConfig::default());
        assert_eq!(c.sink.batch_max_records, 200);
        assert_eq!(c.sink.batch_linger, Duration::from_millis(50));
        assert_eq!(c.sink.max_in_flight_requests, 8);
        assert_eq!(c.sink.composite_collections, 5);
        assert_eq!(c.sink.api_requests_per_second, None);
        assert_eq!(c.sink.api_daily_reserve_percent, 10);
        assert_eq!(c.sink.bulk_threshold_records, None);
        assert_eq!(c.sink.id_cache_max_entries, 200_000);
        assert_eq!(c.consumer_group(), "connect-lead-sync");
    }

    #[test]
    fn all_problems_are_reported_together() {
        let mut m = with(&[("tasks.max", "0"), ("sink.batch.max.records", "500")]);
        m.remove("name");
        m.remove("salesforce.object");
        let e = errors(&m);
        for key in [
            "name",
            "salesforce.object",
            "tasks.max",
            "sink.batch.max.records",
        ] {
            assert!(!e.messages_for(key).is_empty(), "no error for {key}: {e}");
        }
        assert_eq!(
            e.messages_for("sink.batch.max.records"),
            vec!["must be between 1 and 200".to_string()]
        );
    }

    #[test]
    fn composite_packing_takes_one_to_five_collections_calls() {
        for bad in ["0", "6", "many"] {
            let e = errors(&with(&[("sink.composite.collections", bad)]));
            assert_eq!(e.len(), 1, "{bad}: {e}");
            assert!(
                !e.messages_for("sink.composite.collections").is_empty(),
                "{bad}: {e}"
            );
        }
        let plain = ConnectorConfig::from_map(&with(&[("sink.composite.collections", "1")]))
            .expect("1 is plain Collections");
        assert_eq!(plain.sink.composite_collections, 1);
    }

    #[test]
    fn short_connector_class_is_accepted_and_others_rejected() {
        assert!(
            ConnectorConfig::from_map(&with(&[("connector.class", CONNECTOR_CLASS_SHORT)])).is_ok()
        );
        let e = errors(&with(&[("connector.class", "io.other.Sink")]));
        assert_eq!(e.len(), 1);
        assert_eq!(e.0[0].value.as_deref(), Some("io.other.Sink"));
    }

    #[test]
    fn topics_and_topics_regex_are_exclusive_and_one_is_required() {
        let e = errors(&with(&[("topics.regex", "lead.*")]));
        assert!(e.messages_for("topics")[0].contains("not both"));
        let mut m = base();
        m.remove("topics");
        assert!(errors(&m).messages_for("topics")[0].contains("required"));
        m.insert("topics.regex".into(), "sfdc\\.lead.*".into());
        assert_eq!(
            ConnectorConfig::from_map(&m).unwrap().topics,
            TopicSelection::Regex("sfdc\\.lead.*".into())
        );
        assert_eq!(
            ConnectorConfig::from_map(&m).unwrap().topics.subscription(),
            ["^(sfdc\\.lead.*)$"]
        );
        for (written, subscribed) in [
            ("^lead$", "^(lead)$"),
            ("a|b", "^(a|b)$"),
            ("x\\$", "^(x\\$)$"),
        ] {
            assert_eq!(
                TopicSelection::Regex(written.into()).subscription(),
                [subscribed],
                "{written}"
            );
        }
        m.insert("topics.regex".into(), "(unclosed".into());
        assert!(!errors(&m).messages_for("topics.regex").is_empty());
        let c = ConnectorConfig::from_map(&with(&[("topics", " a, b ,,c ")])).unwrap();
        assert_eq!(
            c.topics,
            TopicSelection::Topics(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn plain_http_instance_is_only_for_loopback_unless_allowed() {
        for ok in [
            "http://127.0.0.1:8443",
            "http://localhost:1234",
            "http://[::1]:80",
        ] {
            assert!(
                ConnectorConfig::from_map(&with(&[("salesforce.instance", ok)])).is_ok(),
                "{ok}"
            );
        }
        let e = errors(&with(&[(
            "salesforce.instance",
            "http://sim.internal:8080",
        )]));
        assert!(e.messages_for("salesforce.instance")[0].contains("loopback"));
        assert!(ConnectorConfig::from_map(&with(&[
            ("salesforce.instance", "http://sim.internal:8080"),
            ("sink.allow.insecure.http", "TRUE"),
        ]))
        .is_ok());
        assert!(!errors(&with(&[("salesforce.instance", "not a url")]))
            .messages_for("salesforce.instance")
            .is_empty());
    }

    #[test]
    fn version_is_latest_or_major_dot_minor() {
        let c = ConnectorConfig::from_map(&with(&[("salesforce.version", "62.0")])).unwrap();
        assert_eq!(c.version, ApiVersion::Fixed("62.0".into()));
        assert!(ConnectorConfig::from_map(&with(&[("salesforce.version", "LATEST")])).is_ok());
        for bad in ["v62.0", "62", "62.0.1", "sixty"] {
            assert!(
                !errors(&with(&[("salesforce.version", bad)]))
                    .messages_for("salesforce.version")
                    .is_empty(),
                "{bad}"
            );
        }
    }

    #[test]
    fn password_grant_needs_username_password_and_secret() {
        let mut m = base();
        m.remove("salesforce.username");
        m.remove("salesforce.password");
        m.remove("salesforce.consumer.secret");
        let e = errors(&m);
        for key in [
            "salesforce.username",
            "salesforce.password",
            "salesforce.consumer.secret",
        ] {
            assert_eq!(
                e.messages_for(key),
                vec!["is required by salesforce.grant.type=PASSWORD".to_string()]
            );
        }
    }

    #[test]
    fn keystore_path_selects_jwt_bearer() {
        let mut m = base();
        m.remove("salesforce.password");
        m.remove("salesforce.consumer.secret");
        m.insert(
            "salesforce.jwt.keystore.path".into(),
            "/etc/sink/key.p12".into(),
        );
        let c = ConnectorConfig::from_map(&m).unwrap();
        assert_eq!(c.credentials.grant_type, GrantType::JwtBearer);
        m.remove("salesforce.username");
        assert!(!errors(&m).messages_for("salesforce.username").is_empty());
    }

    #[test]
    fn grant_type_is_case_insensitive_and_client_credentials_needs_my_domain() {
        let m = with(&[
            ("salesforce.grant.type", "client_credentials"),
            ("salesforce.instance", "https://acme.my.salesforce.com"),
        ]);
        let c = ConnectorConfig::from_map(&m).unwrap();
        assert_eq!(c.credentials.grant_type, GrantType::ClientCredentials);
        let e = errors(&with(&[("salesforce.grant.type", "CLIENT_CREDENTIALS")]));
        assert!(e.messages_for("salesforce.instance")[0].contains("My Domain"));
        let e = errors(&with(&[("salesforce.grant.type", "magic")]));
        assert!(!e.messages_for("salesforce.grant.type").is_empty());
    }

    #[test]
    fn upsert_override_requires_the_custom_id_field() {
        let e = errors(&with(&[
            ("override.event.type", "true"),
            ("salesforce.sink.object.operation", "UPSERT"),
        ]));
        assert_eq!(
            e.messages_for("salesforce.sink.object.operation"),
            vec!["salesforce.sink.object.operation=upsert requires salesforce.use.custom.id.field=true and salesforce.custom.id.field.name".to_string()]
        );
        let c = ConnectorConfig::from_map(&with(&[
            ("override.event.type", "true"),
            ("salesforce.sink.object.operation", "UPSERT"),
            ("salesforce.use.custom.id.field", "true"),
            ("salesforce.custom.id.field.name", "CustomId__c"),
        ]))
        .unwrap();
        assert_eq!(c.sink_operation, Operation::Upsert);
        assert_eq!(c.external_id_field(), Some("CustomId__c"));
        // Without override the operation key is not used, so upsert there is harmless.
        assert!(ConnectorConfig::from_map(&with(&[(
            "salesforce.sink.object.operation",
            "upsert"
        )]))
        .is_ok());
    }

    #[test]
    fn custom_id_flag_without_field_name_is_an_error() {
        let e = errors(&with(&[("salesforce.use.custom.id.field", "true")]));
        assert!(!e.messages_for("salesforce.custom.id.field.name").is_empty());
    }

    #[test]
    fn dead_letter_topic_requires_tolerance_all() {
        let e = errors(&with(&[("errors.deadletterqueue.topic.name", "dlq")]));
        assert!(
            e.messages_for("errors.deadletterqueue.topic.name")[0].contains("errors.tolerance=all")
        );
        let c = ConnectorConfig::from_map(&with(&[
            ("errors.deadletterqueue.topic.name", "dlq"),
            ("errors.tolerance", "ALL"),
            ("errors.deadletterqueue.context.headers.enable", "true"),
        ]))
        .unwrap();
        assert_eq!(c.errors.dlq_topic.as_deref(), Some("dlq"));
        assert!(c.errors.dlq_context_headers);
    }

    #[test]
    fn api_error_log_and_ignore_modes_stand_on_their_own() {
        let c = ConnectorConfig::from_map(&with(&[("behavior.on.api.errors", "log")])).unwrap();
        assert_eq!(c.behavior_on_api_errors, ApiErrorBehavior::Log);
        assert_eq!(c.errors.tolerance, ErrorTolerance::None);
        let c = ConnectorConfig::from_map(&with(&[
            ("behavior.on.api.errors", "IGNORE"),
            ("errors.tolerance", "all"),
        ]))
        .unwrap();
        assert_eq!(c.behavior_on_api_errors, ApiErrorBehavior::Ignore);
        assert!(!errors(&with(&[("behavior.on.api.errors", "skip")]))
            .messages_for("behavior.on.api.errors")
            .is_empty());
    }

    #[test]
    fn unknown_salesforce_key_is_an_error_with_a_suggestion() {
        let e = errors(&with(&[("salesforce.custom.id.feild.name", "X__c")]));
        assert_eq!(
            e.messages_for("salesforce.custom.id.feild.name"),
            vec!["unknown key; did you mean salesforce.custom.id.field.name?".to_string()]
        );
        let e = errors(&with(&[("sink.batch.size", "10")]));
        assert!(!e.messages_for("sink.batch.size").is_empty());
        // A near miss under a framework prefix is caught too.
        assert_eq!(
            errors(&with(&[("errors.tolerence", "all")])).messages_for("errors.tolerence"),
            vec!["unknown key; did you mean errors.tolerance?".to_string()]
        );
        // A typo of an unprefixed key of ours is caught too.
        assert!(!errors(&with(&[("overide.event.type", "true")]))
            .messages_for("overide.event.type")
            .is_empty());
    }

    #[test]
    fn reporter_security_and_format_keys_are_read_and_unknown_reporter_keys_refused() {
        let c = ConnectorConfig::from_map(&with(&[
            ("reporter.bootstrap.servers", "r:9093"),
            ("reporter.security.protocol", "SASL_SSL"),
            ("reporter.sasl.mechanism", "PLAIN"),
            ("reporter.sasl.username", "rep"),
            ("reporter.sasl.password", "rep-secret"),
            ("reporter.result.topic.value.format", "json"),
            ("reporter.error.topic.key.format.schemas.enable", "false"),
            (
                "reporter.error.topic.value.format.schemas.cache.size",
                "128",
            ),
        ]))
        .unwrap();
        let security = c.reporter.clone().unwrap().security.unwrap();
        assert!(security.contains(&("security.protocol".into(), "sasl_ssl".into())));
        assert!(security.contains(&("sasl.username".into(), "rep".into())));
        assert!(c.ignored_keys().is_empty(), "{:?}", c.ignored_keys());

        let e = errors(&with(&[
            ("reporter.bootstrap.servers", "r:9093"),
            ("reporter.result.topic.value.format", "string"),
            ("reporter.error.topic.value.format.schemas.enable", "true"),
            ("reporter.error.topic.compression", "zstd"),
        ]));
        assert!(e.messages_for("reporter.result.topic.value.format")[0].contains("only json"));
        assert!(
            e.messages_for("reporter.error.topic.value.format.schemas.enable")[0]
                .contains("only false")
        );
        assert!(e.messages_for("reporter.error.topic.compression")[0].contains("unknown key"));
    }

    #[test]
    fn a_java_keystore_for_jwt_is_refused_at_validate_with_the_conversion() {
        let e = errors(&with(&[
            ("salesforce.grant.type", "JWT_BEARER"),
            ("salesforce.jwt.keystore.path", "/etc/sf/key.jks"),
        ]));
        let messages = e.messages_for("salesforce.jwt.keystore.path");
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].contains(
                "keytool -importkeystore -srckeystore /etc/sf/key.jks -destkeystore /etc/sf/key.p12 -deststoretype PKCS12"
            ),
            "{messages:?}"
        );
    }

    #[test]
    fn java_client_names_in_overrides_never_fail_and_security_overrides_are_translated() {
        let c = ConnectorConfig::from_map(&with(&[
            ("consumer.override.max.poll.records", "100"),
            ("consumer.override.fetch.max.wait.ms", "25"),
            (
                "consumer.override.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";",
            ),
            ("consumer.override.security.protocol", "SASL_SSL"),
            ("producer.override.max.request.size", "2097152"),
            ("producer.override.key.serializer", "x.Y"),
            ("admin.override.request.timeout.ms", "5000"),
        ]))
        .unwrap();
        let get = |props: &[(String, String)], k: &str| {
            props.iter().find(|(p, _)| p == k).map(|(_, v)| v.clone())
        };
        assert_eq!(
            get(&c.consumer_overrides, "fetch.wait.max.ms").as_deref(),
            Some("25")
        );
        assert_eq!(
            get(&c.consumer_overrides, "sasl.username").as_deref(),
            Some("u")
        );
        assert_eq!(
            get(&c.consumer_overrides, "security.protocol").as_deref(),
            Some("sasl_ssl")
        );
        assert_eq!(
            get(&c.producer_overrides, "message.max.bytes").as_deref(),
            Some("2097152")
        );
        assert_eq!(
            get(&c.admin_overrides, "request.timeout.ms").as_deref(),
            Some("5000")
        );
        assert_eq!(
            c.ignored_keys(),
            [
                "consumer.override.max.poll.records",
                "producer.override.key.serializer"
            ]
        );
        assert!(c
            .ignored_reason("consumer.override.max.poll.records")
            .contains("sink.batch.max.records"));
    }

    #[test]
    fn consumer_overrides_reach_the_consumer_and_bad_values_name_the_key() {
        let c = ConnectorConfig::from_map(&with(&[
            ("consumer.override.fetch.wait.max.ms", "20"),
            ("consumer.override.max.poll.records", "100"),
        ]))
        .unwrap();
        assert_eq!(
            c.consumer_overrides.to_vec(),
            [("fetch.wait.max.ms".to_string(), "20".to_string())]
        );
        assert_eq!(c.ignored_keys(), ["consumer.override.max.poll.records"]);
        let e = errors(&with(&[(
            "consumer.override.enable.auto.offset.store",
            "true",
        )]));
        assert_eq!(
            e.messages_for("consumer.override.enable.auto.offset.store"),
            vec![crate::config::SINK_OWNED_MESSAGE.to_string()]
        );
        let e = errors(&with(&[("consumer.override.fetch.wait.max.ms", "soon")]));
        let messages = e.messages_for("consumer.override.fetch.wait.max.ms");
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].starts_with("is not a valid consumer setting"),
            "{messages:?}"
        );
    }

    #[test]
    fn licence_keys_and_writer_side_converter_keys_are_the_only_ones_without_effect() {
        let c = ConnectorConfig::from_map(&with(&[
            ("consumer.override.max.poll.records", "100"),
            ("confluent.topic.bootstrap.servers", "b:9092"),
            ("confluent.license", ""),
            ("errors.retry.timeout", "0"),
            ("curl.logging", "false"),
            (
                "header.converter",
                "org.apache.kafka.connect.storage.SimpleHeaderConverter",
            ),
            ("config.action.reload", "none"),
        ]))
        .unwrap();
        assert_eq!(
            c.ignored_keys(),
            [
                "confluent.license",
                "confluent.topic.bootstrap.servers",
                "consumer.override.max.poll.records",
            ]
        );
        assert_eq!(c.errors.retry_timeout, Some(Duration::ZERO));
        assert!(!c.curl_logging);
    }

    #[test]
    fn keys_the_sink_cannot_honour_are_refused_naming_them() {
        let e = ConnectorConfig::from_map(&with(&[
            ("value.converter.schemas.cache.size", "10"),
            ("http.proxy.auth.ntlm.domain", "CORP"),
            ("connection.max.message.size", "1000"),
            ("header.converter", "com.acme.HeaderMagic"),
            ("header.converter.schemas.enable", "false"),
            ("config.action.reload", "later"),
            ("errors.retry.timeout", "-2"),
            ("confluent.something.else", "x"),
            ("foo.bar", "1"),
        ]))
        .unwrap_err();
        for key in [
            "value.converter.schemas.cache.size",
            "http.proxy.auth.ntlm.domain",
            "connection.max.message.size",
            "header.converter",
            "header.converter.schemas.enable",
            "config.action.reload",
            "errors.retry.timeout",
            "confluent.something.else",
            "foo.bar",
        ] {
            assert!(!e.messages_for(key).is_empty(), "{key} not refused: {e:?}");
        }
        assert!(e.messages_for("header.converter")[0].contains("com.acme.HeaderMagic"));
    }

    #[test]
    fn errors_retry_keys_set_the_registry_retries() {
        let c = config_with(&[
            ("errors.retry.timeout", "-1"),
            ("errors.retry.delay.max.ms", "2000"),
        ]);
        assert_eq!(c.errors.retry_timeout, Some(Duration::MAX));
        assert_eq!(c.errors.retry_delay_max, Duration::from_secs(2));
        let c = config_with(&[]);
        assert_eq!(c.errors.retry_timeout, None);
        assert_eq!(c.errors.retry_delay_max, Duration::from_secs(60));
        assert!(config_with(&[("curl.logging", "TRUE")]).curl_logging);
    }

    #[test]
    fn transforms_are_read_not_ignored() {
        let c = ConnectorConfig::from_map(&with(&[
            ("transforms", "rename"),
            (
                "transforms.rename.type",
                "org.apache.kafka.connect.transforms.ReplaceField$Value",
            ),
            ("transforms.rename.renames", "LeadKey:Id"),
        ]))
        .unwrap();
        assert_eq!(c.transforms.aliases(), ["rename"]);
        assert!(c.ignored_keys().is_empty(), "{:?}", c.ignored_keys());
        assert!(config_with(&[]).transforms.is_empty());
    }

    #[test]
    fn a_transform_that_is_not_built_in_is_refused_naming_alias_and_class() {
        let e = errors(&with(&[
            ("transforms", "unwrap"),
            (
                "transforms.unwrap.type",
                "io.debezium.transforms.ExtractNewRecordState",
            ),
        ]));
        let messages = e.messages_for("transforms.unwrap.type");
        assert_eq!(messages.len(), 1, "{e}");
        assert!(
            messages[0]
                .starts_with("transform unwrap (io.debezium.transforms.ExtractNewRecordState): ")
                && messages[0].contains("is not a transform built into sobject-sink"),
            "{messages:?}"
        );
        let e = errors(&with(&[
            ("transforms", "c"),
            (
                "transforms.c.type",
                "org.apache.kafka.connect.transforms.Cast$Value",
            ),
            ("transforms.c.spec", "a:uuid"),
            ("predicates", "p"),
            ("predicates.p.type", "com.example.Custom"),
        ]));
        assert_eq!(e.messages_for("transforms.c.spec").len(), 1, "{e}");
        assert!(
            e.messages_for("predicates.p.type")[0].contains("com.example.Custom"),
            "{e}"
        );
    }

    #[test]
    fn booleans_accept_any_case_and_reject_other_words() {
        let c = ConnectorConfig::from_map(&with(&[("override.event.type", "TrUe")])).unwrap();
        assert!(c.override_event_type);
        let e = errors(&with(&[("override.event.type", "yes")]));
        assert_eq!(
            e.messages_for("override.event.type"),
            vec!["must be true or false"]
        );
    }

    #[test]
    fn ignore_fields_are_trimmed() {
        let c = ConnectorConfig::from_map(&with(&[(
            "salesforce.ignore.fields",
            " CleanStatus , Name,,",
        )]))
        .unwrap();
        assert_eq!(c.ignore_fields, vec!["CleanStatus", "Name"]);
    }

    #[test]
    fn reporter_topics_substitute_the_connector_name_and_blank_disables() {
        let c = ConnectorConfig::from_map(&with(&[
            ("reporter.bootstrap.servers", "localhost:9092"),
            ("reporter.error.topic.name", ""),
            ("reporter.result.topic.replication.factor", "1"),
        ]))
        .unwrap();
        let rep = c.reporter.unwrap();
        let result = rep.result_topic.unwrap();
        assert_eq!(result.name, "lead-sync-success");
        assert_eq!(result.replication_factor, 1);
        assert_eq!(result.partitions, 1);
        assert!(rep.error_topic.is_none());
    }

    #[test]
    fn converters_are_checked() {
        let c = ConnectorConfig::from_map(&with(&[
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            ("value.converter.schemas.enable", "false"),
            ("value.converter.decimal.format", "numeric"),
        ]))
        .unwrap();
        assert_eq!(c.key_converter.class, ConverterClass::String);
        assert!(!c.value_converter.schemas_enable);
        assert_eq!(c.value_converter.decimal_format, DecimalFormat::Numeric);
        let e = errors(&with(&[(
            "value.converter",
            "org.apache.kafka.connect.storage.StringConverter",
        )]));
        assert!(!e.messages_for("value.converter").is_empty());
        let e = errors(&with(&[(
            "value.converter",
            "io.confluent.connect.protobuf.ProtobufConverter",
        )]));
        assert!(e.messages_for("value.converter")[0]
            .starts_with("io.confluent.connect.protobuf.ProtobufConverter"));
        let c = config_with(&[
            ("value.converter", "io.confluent.connect.avro.AvroConverter"),
            (
                "value.converter.schema.registry.url",
                "http://registry:8081",
            ),
        ]);
        assert_eq!(c.value_converter.class, ConverterClass::Avro);
        assert!(c.value_converter.registry.is_some());
    }

    #[test]
    fn registry_credentials_are_hidden_in_answers_and_errors() {
        let pairs = [
            ("value.converter", "io.confluent.connect.avro.AvroConverter"),
            (
                "value.converter.schema.registry.url",
                "https://sr-user:s3cr@t@registry:8081/api,http://plain:8081",
            ),
            ("key.converter", "io.confluent.connect.avro.AvroConverter"),
            ("key.converter.schema.registry.url", "http://registry:8081"),
            ("key.converter.basic.auth.credentials.source", "USER_INFO"),
            ("key.converter.basic.auth.user.info", "sr-user:hunter2"),
        ];
        let c = config_with(&pairs);
        assert!(!format!("{c:?}").contains("hunter2") && !format!("{c:?}").contains("s3cr"));
        let red = ConnectorConfig::redacted_map(&with(&pairs));
        assert_eq!(red["key.converter.basic.auth.user.info"], "[hidden]");
        assert_eq!(
            red["value.converter.schema.registry.url"],
            "https://[hidden]@registry:8081/api,http://plain:8081"
        );
        let mut bad = with(&pairs);
        bad.insert(
            "value.converter.basic.auth.user.info".into(),
            "u:hunter3".into(),
        );
        bad.insert(
            "value.converter.schema.registry.url".into(),
            "ftp://u:hunter4@registry".into(),
        );
        let text = errors(&bad).to_string();
        assert!(
            !text.contains("hunter3") && !text.contains("hunter4"),
            "{text}"
        );
    }

    #[test]
    fn zero_means_off_for_pacing_and_bulk() {
        let c = ConnectorConfig::from_map(&with(&[
            ("sink.api.requests.per.second", "20"),
            ("sink.bulk.threshold.records", "10000"),
        ]))
        .unwrap();
        assert_eq!(c.sink.api_requests_per_second, Some(20));
        assert_eq!(c.sink.bulk_threshold_records, Some(10_000));
        let e = errors(&with(&[("sink.bulk.threshold.records", "200")]));
        assert!(
            !e.messages_for("sink.bulk.threshold.records").is_empty(),
            "a threshold within one Collections call: {e:?}"
        );
        let e = errors(&with(&[
            ("sink.bulk.threshold.records", "5000"),
            ("sink.max.buffered.records", "999"),
        ]));
        assert!(
            !e.messages_for("sink.max.buffered.records").is_empty(),
            "no room for a job in the buffer: {e:?}"
        );
        let big = ConnectorConfig::from_map(&with(&[("sink.bulk.threshold.records", "1000000")]))
            .unwrap();
        assert_eq!(
            big.sink.bulk_threshold_records,
            Some(1_000_000),
            "a backlog larger than the buffer is still a backlog"
        );
        assert!(!errors(&with(&[("sink.api.daily.reserve.percent", "101")]))
            .messages_for("sink.api.daily.reserve.percent")
            .is_empty());
    }

    #[test]
    fn password_values_never_appear_in_errors_debug_or_redacted_maps() {
        let m = with(&[
            ("salesforce.password", "s3cr3t-pw"),
            ("http.proxy", "proxy:3128"),
            ("http.proxy.auth.scheme", "BASIC"),
            ("http.proxy.password", "proxy-pw"),
            (
                "consumer.override.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"jaas-pw\";",
            ),
            ("tasks.max", "many"),
        ]);
        let e = errors(&m);
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("proxy-pw"),
            "{text}"
        );
        let mut ok = m.clone();
        ok.insert("http.proxy.user".into(), "u".into());
        ok.insert("tasks.max".into(), "2".into());
        let c = ConnectorConfig::from_map(&ok).unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("s3cr3t")
                && !dbg.contains("proxy-pw")
                && !dbg.contains("client-secret-value")
                && !dbg.contains("jaas-pw"),
            "{dbg}"
        );
        let red = ConnectorConfig::redacted_map(&ok);
        assert_eq!(red["salesforce.password"], "[hidden]");
        assert_eq!(red["salesforce.consumer.secret"], "[hidden]");
        assert_eq!(red["http.proxy.password"], "[hidden]");
        assert_eq!(red["consumer.override.sasl.jaas.config"], "[hidden]");
        assert_eq!(red["salesforce.username"], "sync@example.com");
    }

    #[test]
    fn password_key_errors_show_hidden_value() {
        let mut m = base();
        m.insert("http.proxy".into(), "proxy:3128".into());
        m.insert("http.proxy.auth.scheme".into(), "BASIC".into());
        m.insert("http.proxy.password".into(), "pp".into());
        let e = errors(&m);
        assert_eq!(e.messages_for("http.proxy.user").len(), 1);
        let m = with(&[
            ("salesforce.grant.type", "CLIENT_CREDENTIALS"),
            ("salesforce.jwt.keystore.path", "/k"),
        ]);
        for err in errors(&m).iter() {
            if err.key.contains("password") || err.key.contains("secret") {
                assert_eq!(err.value.as_deref(), Some("[hidden]"));
            }
        }
    }

    fn config_with(pairs: &[(&str, &str)]) -> ConnectorConfig {
        ConnectorConfig::from_map(&with(pairs)).unwrap()
    }

    #[test]
    fn org_sync_keys_take_their_defaults_and_refuse_bad_values_by_name() {
        let c = config_with(&[]);
        assert_eq!(c.sync, SyncSettings::default());
        assert_eq!(c.sync.client_id, "sobject-sink");
        let c = config_with(&[
            ("sink.input.format", "CDC"),
            ("sink.cdc.gap.behavior", "skip"),
            ("sink.client.id", "org-b.sync"),
        ]);
        assert_eq!(c.sync.input_format, InputFormat::Cdc);
        assert_eq!(c.sync.gap_behavior, GapBehavior::Skip);
        assert_eq!(c.sync.client_id, "org-b.sync");
        let e = errors(&with(&[
            ("sink.input.format", "avro"),
            ("sink.cdc.gap.behavior", "ignore"),
            ("sink.client.id", "a;b"),
        ]));
        assert!(e.messages_for("sink.input.format")[0].contains("auto, pushtopic or cdc"));
        assert!(e.messages_for("sink.cdc.gap.behavior")[0].contains("fail or skip"));
        assert!(!e.messages_for("sink.client.id").is_empty());
    }

    #[test]
    fn external_id_references_need_the_custom_id_field_and_the_reference_fields() {
        let e = errors(&with(&[("sink.references", "external.id")]));
        assert!(e.messages_for("sink.references")[0].contains("salesforce.use.custom.id.field"));
        let custom = [
            ("salesforce.use.custom.id.field", "true"),
            ("salesforce.custom.id.field.name", "CustomId__c"),
        ];
        let mut pairs = custom.to_vec();
        pairs.extend([
            ("sink.references", "external.id"),
            ("salesforce.ignore.reference.fields", "true"),
        ]);
        let e = errors(&with(&pairs));
        assert!(e.messages_for("sink.references")[0].contains("salesforce.ignore.reference.fields"));
        let mut pairs = custom.to_vec();
        pairs.extend([
            ("sink.references", "external.id"),
            ("sink.references.static", "OwnerId:005000000000001AAA"),
            ("sink.references.wait.ms", "5000"),
        ]);
        let c = config_with(&pairs);
        assert_eq!(c.sync.references, References::ExternalId);
        assert_eq!(
            c.sync.static_references,
            [("OwnerId".to_string(), "005000000000001AAA".to_string())]
        );
        assert_eq!(c.sync.references_wait, Duration::from_millis(5000));
        let e = errors(&with(&[(
            "sink.references.static",
            "OwnerId:005000000000001AAA",
        )]));
        assert!(!e.messages_for("sink.references.static").is_empty());
        let c = config_with(&[("salesforce.object", "Account, Contact")]);
        assert_eq!(c.salesforce_objects, ["Account", "Contact"]);
        assert_eq!(c.salesforce_object, "Account");
        assert!(config_with(&[("salesforce.object", "*")]).every_sobject());
        let e = errors(&with(&[("salesforce.object", "*,Account")]));
        assert!(e.messages_for("salesforce.object")[0].contains("stands alone"));
        let e = errors(&with(&[("salesforce.object", "Account,account")]));
        assert!(e.messages_for("salesforce.object")[0].contains("twice"));
    }

    #[test]
    fn event_types_map_to_operations() {
        let c = config_with(&[]);
        assert_eq!(
            c.operation_for(Some(EventType::Created)),
            Ok(Operation::Insert)
        );
        assert_eq!(
            c.operation_for(Some(EventType::Updated)),
            Ok(Operation::Update)
        );
        assert_eq!(
            c.operation_for(Some(EventType::Deleted)),
            Ok(Operation::Delete)
        );
        assert_eq!(
            c.operation_for(Some(EventType::Undeleted)),
            Ok(Operation::Insert)
        );
        assert!(c.operation_for(None).unwrap_err().contains("_EventType"));
    }

    #[test]
    fn undeleted_becomes_upsert_when_an_external_id_is_configured() {
        let c = config_with(&[
            ("salesforce.use.custom.id.field", "true"),
            ("salesforce.custom.id.field.name", "CustomId__c"),
        ]);
        assert_eq!(
            c.operation_for(Some(EventType::Undeleted)),
            Ok(Operation::Upsert)
        );
    }

    #[test]
    fn override_applies_the_configured_operation_to_every_record() {
        let c = config_with(&[
            ("override.event.type", "true"),
            ("salesforce.sink.object.operation", "delete"),
        ]);
        assert_eq!(
            c.operation_for(Some(EventType::Created)),
            Ok(Operation::Delete)
        );
        assert_eq!(c.operation_for(None), Ok(Operation::Delete));
    }

    #[test]
    fn shipped_example_configs_validate() {
        let props = include_str!("../../config/connector-lead-upsert.properties");
        let map = crate::config::properties::parse_map(props).unwrap();
        let from_file = ConnectorConfig::from_map(&map).unwrap();
        assert_eq!(from_file.sink_operation, Operation::Upsert);
        assert_eq!(from_file.external_id_field(), Some("CustomId__c"));
        let body: serde_json::Value =
            serde_json::from_str(include_str!("../../config/connector-lead-upsert.json")).unwrap();
        let mut rest: BTreeMap<String, String> = body["config"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        rest.insert("name".into(), body["name"].as_str().unwrap().into());
        // Both forms describe the same connector.
        assert_eq!(rest, map);
        assert_eq!(ConnectorConfig::from_map(&rest).unwrap(), from_file);
    }
}
