//! The definition of every connector configuration key: type, default, importance,
//! group, whether it is a password, and a one-line meaning.
//!
//! This list is the single source of truth: the connector parser takes its defaults
//! from it, the REST `validate` endpoint describes keys with it, typo suggestions
//! search it, and the README configuration table is rendered from it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

/// The Kafka Connect type of a key, as `validate` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    /// Free text.
    String,
    /// 32-bit integer.
    Int,
    /// 16-bit integer.
    Short,
    /// 64-bit integer.
    Long,
    /// `true`/`false`, any case.
    Boolean,
    /// Comma-separated list.
    List,
    /// A Java class name.
    Class,
    /// A secret: never shown in clear.
    Password,
}

impl ConfigType {
    /// The upper-case name Kafka Connect uses (`STRING`, `INT`, ...).
    pub fn as_connect_str(self) -> &'static str {
        match self {
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

impl fmt::Display for ConfigType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_connect_str())
    }
}

/// How much a key matters, as Kafka Connect ranks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Importance {
    /// Must usually be set.
    High,
    /// Often tuned.
    Medium,
    /// Rarely tuned.
    Low,
}

impl Importance {
    /// `HIGH`, `MEDIUM` or `LOW`.
    pub fn as_connect_str(self) -> &'static str {
        match self {
            Importance::High => "HIGH",
            Importance::Medium => "MEDIUM",
            Importance::Low => "LOW",
        }
    }
}

/// The definition of one configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigKeyDef {
    /// The key.
    pub name: &'static str,
    /// Its type.
    pub ty: ConfigType,
    /// Default value as text; `None` when the key has no default.
    pub default: Option<&'static str>,
    /// True when the key must be set (no default and no alternative key).
    pub required: bool,
    /// Importance.
    pub importance: Importance,
    /// One-line meaning.
    pub documentation: &'static str,
    /// Group shown by `validate` and in the README.
    pub group: &'static str,
    /// True for secrets (shown as `[hidden]`).
    pub password: bool,
}

const G_CONNECTOR: &str = "Connector";
const G_CONNECTION: &str = "Connection";
const G_WRITE: &str = "Salesforce SObject Sink";
const G_ERRORS: &str = "Error handling";
const G_REPORTER: &str = "Connect Reporter";
const G_CONVERTERS: &str = "Converters";
const G_SINK: &str = "Sink tuning";

/// Shorthand for one row of the table below.
#[allow(clippy::too_many_arguments)]
const fn def(
    name: &'static str,
    ty: ConfigType,
    default: Option<&'static str>,
    required: bool,
    importance: Importance,
    group: &'static str,
    documentation: &'static str,
) -> ConfigKeyDef {
    ConfigKeyDef {
        name,
        ty,
        default,
        required,
        importance,
        documentation,
        group,
        password: matches!(ty, ConfigType::Password),
    }
}

use ConfigType as T;
use Importance::{High, Low, Medium};

#[rustfmt::skip]
const DEFINITIONS: &[ConfigKeyDef] = &[
    def("name", T::String, None, true, High, G_CONNECTOR,
        "Connector name; the consumer group is `connect-<name>`."),
    def("connector.class", T::Class, Some("io.confluent.salesforce.SalesforceSObjectSinkConnector"), false, High, G_CONNECTOR,
        "Must be `io.confluent.salesforce.SalesforceSObjectSinkConnector` (or its short name `SalesforceSObjectSinkConnector`)."),
    def("tasks.max", T::Int, Some("1"), false, High, G_CONNECTOR,
        "Number of consumer tasks of the connector (at least 1); in distributed mode across the whole cluster, spread over the live workers and moved when one leaves or joins."),
    def("topics", T::List, None, false, High, G_CONNECTOR,
        "Comma-separated input topics; exactly one of `topics` and `topics.regex` must be set."),
    def("topics.regex", T::String, None, false, Low, G_CONNECTOR,
        "Regular expression selecting the input topics, instead of `topics`."),
    def("salesforce.instance", T::String, Some("https://login.salesforce.com"), false, High, G_CONNECTION,
        "Login endpoint (or My Domain URL); `http://` is accepted only for loopback hosts unless `sink.allow.insecure.http=true`."),
    def("salesforce.version", T::String, Some("latest"), false, Low, G_CONNECTION,
        "REST API version as `NN.N`, or `latest` for the highest version the org offers."),
    def("salesforce.grant.type", T::String, Some("PASSWORD"), false, High, G_CONNECTION,
        "OAuth 2.0 flow: `PASSWORD`, `JWT_BEARER` or `CLIENT_CREDENTIALS` (any case); setting `salesforce.jwt.keystore.path` selects `JWT_BEARER`."),
    def("salesforce.username", T::String, None, false, High, G_CONNECTION,
        "Salesforce username; needed by the PASSWORD and JWT_BEARER flows."),
    def("salesforce.password", T::Password, None, false, High, G_CONNECTION,
        "Salesforce password; PASSWORD flow only."),
    def("salesforce.password.token", T::Password, None, false, High, G_CONNECTION,
        "Security token appended to the password; PASSWORD flow only."),
    def("salesforce.consumer.key", T::String, None, true, High, G_CONNECTION,
        "OAuth client id of the connected app."),
    def("salesforce.consumer.secret", T::Password, None, false, High, G_CONNECTION,
        "OAuth client secret; needed by the PASSWORD and CLIENT_CREDENTIALS flows."),
    def("salesforce.jwt.keystore.path", T::String, None, false, Medium, G_CONNECTION,
        "PKCS#12 or PEM file holding the private key that signs the JWT bearer assertion."),
    def("salesforce.jwt.keystore.password", T::Password, None, false, Medium, G_CONNECTION,
        "Password of the JWT keystore (leave unset for an unencrypted PEM key)."),
    def("http.proxy", T::String, None, false, Medium, G_CONNECTION,
        "Outbound HTTP proxy as `host:port`; blank means no proxy."),
    def("http.proxy.auth.scheme", T::String, Some("NONE"), false, Medium, G_CONNECTION,
        "Proxy authentication: `NONE` or `BASIC`."),
    def("http.proxy.user", T::String, None, false, Medium, G_CONNECTION,
        "Proxy user for BASIC authentication."),
    def("http.proxy.password", T::Password, None, false, Medium, G_CONNECTION,
        "Proxy password for BASIC authentication."),
    def("connection.timeout", T::Long, Some("30000"), false, Low, G_CONNECTION,
        "HTTP connect and request timeout in milliseconds."),
    def("http.proxy.auth.ntlm.domain", T::String, None, false, Medium, G_CONNECTION,
        "NTLM domain of the proxy: NTLM is not supported, so a value is refused (use `http.proxy.auth.scheme=BASIC`)."),
    def("connection.max.message.size", T::Int, None, false, Low, G_CONNECTION,
        "Confluent's streaming sources' long-poll message limit; the sink has no long poll, so a value is refused."),
    def("curl.logging", T::Boolean, Some("false"), false, Low, G_CONNECTION,
        "Log an equivalent `curl` command (method, URL, headers, body size) for each Salesforce call, with the token and the body left out."),
    def("header.converter", T::Class, Some("org.apache.kafka.connect.storage.SimpleHeaderConverter"), false, Low, G_CONVERTERS,
        "Header converter class. The sink reads no header values (predicates read header keys only), so Kafka's built-in classes all behave the same here; other classes are refused."),
    def("config.action.reload", T::String, Some("restart"), false, Low, G_CONNECTOR,
        "`restart` or `none`: what a config provider's change does. The built-in file, directory and env providers announce no changes, so values are read when a task starts, as in Connect."),
    def("request.max.retries.time.ms", T::Long, Some("900000"), false, Low, G_CONNECTION,
        "Total time in ms spent retrying one transiently failing request before the task fails."),
    def("salesforce.auth.retries.time.ms", T::Long, Some("30000"), false, Low, G_CONNECTION,
        "Total time in ms spent retrying transient login failures."),
    def("salesforce.object", T::String, None, true, High, G_WRITE,
        "API name of the target SObject, e.g. `Lead` or `Foo__c`; or several, comma-separated (`Account,Contact`): each record then goes to the SObject its `_ObjectType` (PushTopic) or `ChangeEventHeader.entityName` (CDC) names, each with its own writer, describe and calls, and a record for an SObject not listed is a bad record. `*` sends every record to the SObject it names, starting that SObject's writer when its first record comes (a record naming none, or an SObject the org lacks, halts the task)."),
    def("salesforce.sink.object.operation", T::String, Some("insert"), false, Low, G_WRITE,
        "`insert`, `update`, `upsert` or `delete` (any case), used for every record when `override.event.type=true`."),
    def("override.event.type", T::Boolean, Some("false"), false, Low, G_WRITE,
        "Ignore each record's `_EventType` and apply `salesforce.sink.object.operation` instead."),
    def("salesforce.use.custom.id.field", T::Boolean, Some("false"), false, Low, G_WRITE,
        "Address target rows through the External ID field `salesforce.custom.id.field.name`, filled with the source Id."),
    def("salesforce.custom.id.field.name", T::String, None, false, Low, G_WRITE,
        "API name of the External ID field, e.g. `CustomId__c`; required when `salesforce.use.custom.id.field=true`."),
    def("salesforce.ignore.fields", T::List, Some(""), false, Low, G_WRITE,
        "Comma-separated record fields that are never sent."),
    def("salesforce.ignore.reference.fields", T::Boolean, Some("false"), false, Low, G_WRITE,
        "Never send fields whose Salesforce type is `reference` (lookups valid only in the source org)."),
    def("skip.relationship.fields", T::Boolean, Some("true"), false, Medium, G_WRITE,
        "Never send nested relationship values (`Parent__r`-style structs)."),
    def("behavior.on.api.errors", T::String, Some("fail"), false, Low, G_WRITE,
        "What a permanent per-record Salesforce error does: `fail` stops the task, `log` and `ignore` report it to the error topic (and the DLQ under `errors.tolerance=all`), skip it and commit its offset; `log` also logs it."),
    def("errors.tolerance", T::String, Some("none"), false, Medium, G_ERRORS,
        "`none` stops the task at the first bad record; `all` sends bad records to the DLQ and error topic and goes on."),
    def("errors.deadletterqueue.topic.name", T::String, Some(""), false, Medium, G_ERRORS,
        "Dead-letter topic for bad records (requires `errors.tolerance=all`); blank means none."),
    def("errors.deadletterqueue.topic.replication.factor", T::Short, Some("3"), false, Low, G_ERRORS,
        "Replication factor used when the dead-letter topic is created."),
    def("errors.deadletterqueue.context.headers.enable", T::Boolean, Some("false"), false, Low, G_ERRORS,
        "Add `__connect.errors.*` headers saying why a record went to the dead-letter topic."),
    def("errors.log.enable", T::Boolean, Some("false"), false, Low, G_ERRORS,
        "Log one ERROR line for each tolerated record (a bad record set aside, a Salesforce error skipped), naming the stage and the reason."),
    def("errors.log.include.messages", T::Boolean, Some("false"), false, Low, G_ERRORS,
        "Add the tolerated record's topic, partition, offset and timestamp to that line (never its content)."),
    def("errors.retry.timeout", T::Long, None, false, Medium, G_ERRORS,
        "How long a converter-stage operation that can succeed later (a Schema Registry lookup) is retried, in ms; -1 retries without end, 0 not at all. Unset: `request.max.retries.time.ms`. Past it the task fails; the record is never set aside for it."),
    def("errors.retry.delay.max.ms", T::Long, Some("60000"), false, Medium, G_ERRORS,
        "Longest wait between two of those retries, in ms (the wait doubles from 100 ms up to it)."),
    def("reporter.bootstrap.servers", T::List, None, false, Medium, G_REPORTER,
        "Brokers for the result/error reporter; unset disables the reporter."),
    def("reporter.result.topic.name", T::String, Some("${connector}-success"), false, Medium, G_REPORTER,
        "Topic with one record per delivered input record; `${connector}` is the connector name; blank disables it."),
    def("reporter.result.topic.replication.factor", T::Short, Some("3"), false, Medium, G_REPORTER,
        "Replication factor used when the result topic is created."),
    def("reporter.result.topic.partitions", T::Int, Some("1"), false, Medium, G_REPORTER,
        "Partitions used when the result topic is created."),
    def("reporter.error.topic.name", T::String, Some("${connector}-error"), false, Medium, G_REPORTER,
        "Topic with one record per failed input record; `${connector}` is the connector name; blank disables it."),
    def("reporter.error.topic.replication.factor", T::Short, Some("3"), false, Medium, G_REPORTER,
        "Replication factor used when the error topic is created."),
    def("reporter.error.topic.partitions", T::Int, Some("1"), false, Medium, G_REPORTER,
        "Partitions used when the error topic is created."),
    def("key.converter", T::Class, Some("org.apache.kafka.connect.json.JsonConverter"), false, Low, G_CONVERTERS,
        "Key converter: `org.apache.kafka.connect.json.JsonConverter`, `org.apache.kafka.connect.storage.StringConverter`, `org.apache.kafka.connect.converters.ByteArrayConverter` (the key is not read), `io.confluent.connect.avro.AvroConverter` or `io.confluent.connect.json.JsonSchemaConverter`."),
    def("key.converter.schemas.enable", T::Boolean, Some("true"), false, Low, G_CONVERTERS,
        "Keys are `{\"schema\":…,\"payload\":…}` envelopes (JsonConverter)."),
    def("key.converter.decimal.format", T::String, Some("BASE64"), false, Low, G_CONVERTERS,
        "How keys write Connect decimals: `BASE64` or `NUMERIC` (both are read)."),
    def("key.converter.schema.registry.url", T::List, None, false, Low, G_CONVERTERS,
        "Schema Registry base URL(s) of the Avro and JSON Schema key converters, tried in turn; may carry `user:password@`."),
    def("key.converter.basic.auth.credentials.source", T::String, Some("URL"), false, Low, G_CONVERTERS,
        "Where the key converter's registry credentials come from: `URL` (the URL's userinfo) or `USER_INFO`."),
    def("key.converter.basic.auth.user.info", T::Password, None, false, Low, G_CONVERTERS,
        "`user:password` for the key converter's registry, with `basic.auth.credentials.source=USER_INFO`."),
    def("key.converter.schema.registry.basic.auth.user.info", T::Password, None, false, Low, G_CONVERTERS,
        "Confluent's other name for `key.converter.basic.auth.user.info`."),
    def("value.converter", T::Class, Some("org.apache.kafka.connect.json.JsonConverter"), false, Low, G_CONVERTERS,
        "Value converter: `org.apache.kafka.connect.json.JsonConverter`, `io.confluent.connect.avro.AvroConverter` or `io.confluent.connect.json.JsonSchemaConverter`."),
    def("value.converter.schemas.enable", T::Boolean, Some("true"), false, Low, G_CONVERTERS,
        "Values are `{\"schema\":…,\"payload\":…}` envelopes; false reads the bare JSON object."),
    def("value.converter.decimal.format", T::String, Some("BASE64"), false, Low, G_CONVERTERS,
        "How values write Connect decimals: `BASE64` or `NUMERIC` (both are read)."),
    def("value.converter.schema.registry.url", T::List, None, false, Low, G_CONVERTERS,
        "Schema Registry base URL(s) of the Avro and JSON Schema value converters, tried in turn; may carry `user:password@`."),
    def("value.converter.basic.auth.credentials.source", T::String, Some("URL"), false, Low, G_CONVERTERS,
        "Where the value converter's registry credentials come from: `URL` (the URL's userinfo) or `USER_INFO`."),
    def("value.converter.basic.auth.user.info", T::Password, None, false, Low, G_CONVERTERS,
        "`user:password` for the value converter's registry, with `basic.auth.credentials.source=USER_INFO`."),
    def("value.converter.schema.registry.basic.auth.user.info", T::Password, None, false, Low, G_CONVERTERS,
        "Confluent's other name for `value.converter.basic.auth.user.info`."),
    def("sink.batch.max.records", T::Int, Some("200"), false, Medium, G_SINK,
        "Most records in one sObject Collections call (1 to 200, Salesforce's cap)."),
    def("sink.batch.linger.ms", T::Long, Some("50"), false, Medium, G_SINK,
        "How long a partly filled batch waits for more records before it is sent."),
    def("sink.max.in.flight.requests", T::Int, Some("8"), false, Medium, G_SINK,
        "Most Salesforce write calls in flight at once per task."),
    def("sink.composite.collections", T::Int, Some("5"), false, Medium, G_SINK,
        "Most sObject Collections calls packed into one Composite API call (1 to 5, Salesforce's cap): ready batches leave together and count once against the daily API allocation. 1 sends each batch as its own Collections call."),
    def("sink.api.requests.per.second", T::Int, Some("0"), false, Medium, G_SINK,
        "Pace of Salesforce API calls per task; 0 means no pacing beyond `sink.max.in.flight.requests` and the daily reserve."),
    def("sink.api.daily.reserve.percent", T::Int, Some("10"), false, Medium, G_SINK,
        "Pause (not fail) when only this share (0 to 100) of the org's daily API allocation remains."),
    def("sink.bulk.threshold.records", T::Long, Some("0"), false, Low, G_SINK,
        "Backlogs larger than this go through Bulk API 2.0: while this many records or more wait (unread in Kafka plus in the pipeline), changes leave as ingest jobs of up to half of sink.max.buffered.records (10,000 at most) instead of sObject Collections calls. 0 turns Bulk off; otherwise above sink.batch.max.records."),
    def("sink.all.or.none", T::Boolean, Some("false"), false, Low, G_SINK,
        "Ask Salesforce to roll back a whole collections call when one of its records fails."),
    def("sink.strict.deletes", T::Boolean, Some("false"), false, Low, G_SINK,
        "Halt on deletes of rows that are already gone, instead of counting them as done."),
    def("sink.allow.insecure.http", T::Boolean, Some("false"), false, Low, G_SINK,
        "Allow a plain `http://` `salesforce.instance` on a non-loopback host (testing only)."),
    def("sink.id.cache.max.entries", T::Long, Some("200000"), false, Low, G_SINK,
        "Most External ID to Salesforce Id mappings kept in memory for deletes and updates."),
    def("sink.retry.backoff.initial.ms", T::Long, Some("1000"), false, Low, G_SINK,
        "First retry delay in ms for transient failures; it doubles per attempt, with full jitter."),
    def("sink.retry.backoff.max.ms", T::Long, Some("60000"), false, Low, G_SINK,
        "Longest single retry delay in ms."),
    def("sink.max.buffered.records", T::Long, Some("25000"), false, Low, G_SINK,
        "Records read from Kafka but not yet written (memory bound); the consumer pauses above it. Composite packing needs this depth: while changes to the same Id wait for each other, enough other Ids must be ready to fill 1,000-record calls."),
    def("sink.api.budget.poll.ms", T::Long, Some("30000"), false, Low, G_SINK,
        "While paused for the daily API allocation, how often /limits is read to see whether it freed up."),
    def("sink.input.format", T::String, Some("auto"), false, Medium, G_WRITE,
        "How record values are read: `auto` (a record with a `ChangeEventHeader` is a Change Data Capture event in the format of Confluent's Salesforce CDC Source connector, any other a PushTopic record), `pushtopic` or `cdc`."),
    def("sink.cdc.gap.behavior", T::String, Some("fail"), false, Medium, G_WRITE,
        "What a CDC `GAP_*` event (a change the stream does not carry) does: `fail` halts the task with a trace that says how to resync; `skip` reports it (error topic, dead-letter queue) and goes on."),
    def("sink.client.id", T::String, Some("sobject-sink"), false, Medium, G_WRITE,
        "Sent on every Salesforce call as `Sforce-Call-Options: client=<id>`; CDC records whose `changeOrigin` names this client are the sink's own writes coming back and are skipped (letters, digits, `-`, `_`, `.`)."),
    def("sink.references", T::String, Some("keep"), false, Medium, G_WRITE,
        "`keep` sends reference fields as they are; `external.id` (needs `salesforce.use.custom.id.field=true`) sends each lookup whose target SObject has the field `salesforce.custom.id.field.name` through its relationship as `{\"<ExtId>\": \"<source Id>\"}` (a polymorphic one picks its SObject by the Id's key prefix); a lookup whose target lacks that field is dropped and counted, or set from `sink.references.static`."),
    def("sink.references.static", T::List, Some(""), false, Low, G_WRITE,
        "With `sink.references=external.id`: reference fields set to a fixed Id of the target org, as `Field:Id` pairs (`OwnerId:005...,RecordTypeId:012...`)."),
    def("sink.references.wait.ms", T::Long, Some("600000"), false, Low, G_WRITE,
        "With `sink.references=external.id`: how long a record whose parent is not in the target org yet is retried (with backoff, later changes of its Id waiting behind it) before it is an error (halt, or dead-letter queue with `errors.tolerance=all`)."),
];

/// Every connector key the sink understands, in README order.
pub fn config_definitions() -> Vec<ConfigKeyDef> {
    DEFINITIONS.to_vec()
}

/// The definition of `name`, when it is a known connector key.
pub fn definition(name: &str) -> Option<&'static ConfigKeyDef> {
    static INDEX: OnceLock<BTreeMap<&'static str, &'static ConfigKeyDef>> = OnceLock::new();
    INDEX
        .get_or_init(|| DEFINITIONS.iter().map(|d| (d.name, d)).collect())
        .get(name)
        .copied()
}

/// The known key closest to a misspelt `name`, when one is close enough to be a typo,
/// with the edit distance.
pub fn closest_key_with_distance(name: &str) -> Option<(&'static str, usize)> {
    let limit = (name.len() / 4).clamp(2, 6);
    DEFINITIONS
        .iter()
        .filter_map(|d| edit_distance_within(name, d.name, limit).map(|dist| (dist, d.name)))
        .min_by_key(|&(dist, _)| dist)
        .map(|(dist, key)| (key, dist))
}

/// The Levenshtein distance over bytes (keys are ASCII) between `a` and `b` when it is
/// at most `limit`, else `None`. Only the cells within `limit` of the diagonal are
/// computed (any other is further away than that), and the rows stop as soon as every
/// cell of one is over the limit, so an unknown key costs little against each known
/// one whatever its length.
pub(crate) fn edit_distance_within(a: &str, b: &str, limit: usize) -> Option<usize> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    // Distances over the limit are all written as `over`.
    let over = limit + 1;
    let mut prev: Vec<usize> = (0..=b.len()).map(|j| j.min(over)).collect();
    let mut cur = vec![over; b.len() + 1];
    for (i, &ca) in (1usize..).zip(a) {
        let lo = i.saturating_sub(limit).max(1);
        let hi = (i + limit).min(b.len());
        cur[lo - 1] = if lo == 1 { i.min(over) } else { over };
        let mut row_min = cur[lo - 1];
        for j in lo..=hi {
            let cost = usize::from(ca != b[j - 1]);
            let d = (prev[j - 1] + cost)
                .min(prev[j] + 1)
                .min(cur[j - 1] + 1)
                .min(over);
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if let Some(next) = cur.get_mut(hi + 1) {
            *next = over;
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= limit)
}

/// The README configuration table (Markdown), one row per key, grouped.
pub fn markdown_table() -> String {
    let mut out = String::from("| key | type | default | importance | group | meaning |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for d in DEFINITIONS {
        let default = match (d.default, d.required) {
            (_, true) => "required".to_string(),
            (Some(""), _) => "empty".to_string(),
            (Some(v), _) => format!("`{v}`"),
            (None, _) => "none".to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            d.name,
            d.ty.as_connect_str().to_ascii_lowercase(),
            default,
            d.importance.as_connect_str().to_ascii_lowercase(),
            d.group,
            d.documentation.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_defined_once_with_documentation() {
        let mut seen = std::collections::BTreeSet::new();
        for d in DEFINITIONS {
            assert!(seen.insert(d.name), "duplicate definition of {}", d.name);
            assert!(!d.documentation.is_empty(), "{} has no meaning", d.name);
        }
    }

    #[test]
    fn password_keys_are_flagged() {
        for key in [
            "salesforce.password",
            "salesforce.password.token",
            "salesforce.consumer.secret",
            "salesforce.jwt.keystore.password",
            "http.proxy.password",
        ] {
            assert!(definition(key).unwrap().password, "{key}");
        }
        assert!(!definition("salesforce.username").unwrap().password);
    }

    #[test]
    fn readme_table_has_a_row_per_key_with_defaults() {
        let table = markdown_table();
        assert_eq!(table.lines().count(), DEFINITIONS.len() + 2);
        assert!(table.contains(
            "| `sink.batch.max.records` | int | `200` | medium | Sink tuning | Most records in one sObject Collections call (1 to 200, Salesforce's cap). |"
        ));
        assert!(table.contains("| `name` | string | required |"));
        assert!(table.contains("`${connector}-success`"));
    }

    fn closest_key(name: &str) -> Option<&'static str> {
        closest_key_with_distance(name).map(|(key, _)| key)
    }

    #[test]
    fn typo_suggestion_finds_the_intended_key() {
        assert_eq!(
            closest_key("salesforce.custom.id.feild.name"),
            Some("salesforce.custom.id.field.name")
        );
        assert_eq!(
            closest_key("sink.batch.max.record"),
            Some("sink.batch.max.records")
        );
        assert_eq!(closest_key("something.else.entirely"), None);
        // A key far longer than any known one is answered without comparing it.
        assert_eq!(closest_key(&"x".repeat(100_000)), None);
    }

    #[test]
    fn edit_distance_is_exact_within_the_limit_and_none_beyond() {
        assert_eq!(edit_distance_within("kitten", "sitting", 3), Some(3));
        assert_eq!(edit_distance_within("kitten", "sitting", 2), None);
        assert_eq!(edit_distance_within("flaw", "lawn", 6), Some(2));
        assert_eq!(edit_distance_within("", "abc", 3), Some(3));
        assert_eq!(edit_distance_within("abc", "", 2), None);
        assert_eq!(edit_distance_within("same.key", "same.key", 2), Some(0));
        // Each edit far from the diagonal start still counts once.
        assert_eq!(edit_distance_within("abcdefgh", "xbcdefgy", 2), Some(2));
        assert_eq!(edit_distance_within("abcdefgh", "bcdefghi", 2), Some(2));
        assert_eq!(edit_distance_within("abcdefgh", "hgfedcba", 6), None);
    }
}
