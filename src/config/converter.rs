//! The Kafka Connect converter settings the sink understands: which converter class
//! reads keys and values, how JsonConverter writes decimals, and where the Schema
//! Registry of the Confluent converters is and how to log in to it.
//!
//! [`read_converter`] reads one side (`key.converter*` or `value.converter*`) of a flat
//! map; the connector parser and the worker parser both use it, so a converter the
//! sink cannot run is refused wherever it is configured, naming its class.

use std::collections::BTreeMap;
use std::fmt;

use url::Url;

use super::definitions::definition;
use super::secret::Secret;

/// Kafka Connect's JSON converter class.
pub const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
/// Kafka Connect's string converter class (keys only here).
pub const STRING_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";
/// Kafka Connect's byte-array converter class (keys only here).
pub const BYTE_ARRAY_CONVERTER: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";
/// Confluent's Avro converter class.
pub const AVRO_CONVERTER: &str = "io.confluent.connect.avro.AvroConverter";
/// Confluent's JSON Schema converter class.
pub const JSON_SCHEMA_CONVERTER: &str = "io.confluent.connect.json.JsonSchemaConverter";
/// Confluent's Protobuf converter class: known, and refused (not supported).
pub const PROTOBUF_CONVERTER: &str = "io.confluent.connect.protobuf.ProtobufConverter";

/// How the bytes of a key or value are turned into data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConverterClass {
    /// `org.apache.kafka.connect.json.JsonConverter`.
    Json,
    /// `org.apache.kafka.connect.storage.StringConverter`: the bytes are UTF-8 text.
    String,
    /// `org.apache.kafka.connect.converters.ByteArrayConverter`: opaque bytes.
    ByteArray,
    /// `io.confluent.connect.avro.AvroConverter`: Confluent wire format, Avro body.
    Avro,
    /// `io.confluent.connect.json.JsonSchemaConverter`: Confluent wire format, JSON body.
    JsonSchema,
}

impl ConverterClass {
    /// Reads a class name; only the supported classes are accepted.
    pub fn parse(class: &str) -> Option<Self> {
        match class.trim() {
            JSON_CONVERTER => Some(ConverterClass::Json),
            STRING_CONVERTER => Some(ConverterClass::String),
            BYTE_ARRAY_CONVERTER => Some(ConverterClass::ByteArray),
            AVRO_CONVERTER => Some(ConverterClass::Avro),
            JSON_SCHEMA_CONVERTER => Some(ConverterClass::JsonSchema),
            _ => None,
        }
    }

    /// The Java class name.
    pub fn class_name(self) -> &'static str {
        match self {
            ConverterClass::Json => JSON_CONVERTER,
            ConverterClass::String => STRING_CONVERTER,
            ConverterClass::ByteArray => BYTE_ARRAY_CONVERTER,
            ConverterClass::Avro => AVRO_CONVERTER,
            ConverterClass::JsonSchema => JSON_SCHEMA_CONVERTER,
        }
    }

    /// True for the Confluent converters that read schemas from a Schema Registry.
    pub fn uses_registry(self) -> bool {
        matches!(self, ConverterClass::Avro | ConverterClass::JsonSchema)
    }
}

impl fmt::Display for ConverterClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.class_name())
    }
}

/// Which converter of a record: `key.converter` or `value.converter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// `key.converter*`.
    Key,
    /// `value.converter*`.
    Value,
}

impl Side {
    /// `key.converter` or `value.converter`.
    pub fn prefix(self) -> &'static str {
        match self {
            Side::Key => "key.converter",
            Side::Value => "value.converter",
        }
    }

    /// The classes this side may use: values must become a struct (one row).
    fn allowed(self) -> &'static [ConverterClass] {
        match self {
            Side::Key => &[
                ConverterClass::Json,
                ConverterClass::String,
                ConverterClass::ByteArray,
                ConverterClass::Avro,
                ConverterClass::JsonSchema,
            ],
            Side::Value => &[
                ConverterClass::Json,
                ConverterClass::Avro,
                ConverterClass::JsonSchema,
            ],
        }
    }
}

/// JsonConverter's `decimal.format`: how a Connect Decimal is written in JSON.
///
/// Reading accepts both forms whatever the setting (as Connect's JsonConverter does);
/// the setting documents what the producer is expected to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DecimalFormat {
    /// Base64 of the big-endian two's-complement unscaled value (Connect's default).
    #[default]
    Base64,
    /// A plain JSON number.
    Numeric,
}

impl DecimalFormat {
    /// Case-insensitive `BASE64` or `NUMERIC`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "BASE64" => Some(DecimalFormat::Base64),
            "NUMERIC" => Some(DecimalFormat::Numeric),
            _ => None,
        }
    }
}

/// HTTP basic credentials for the Schema Registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    /// The user name.
    pub username: String,
    /// The password (never shown).
    pub password: Secret,
}

/// Where a Confluent converter reads writer schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `schema.registry.url`: one or more base URLs, tried in turn, with any userinfo
    /// taken off (it is in `credentials` when `basic.auth.credentials.source=URL`).
    pub urls: Vec<Url>,
    /// Basic authentication, when configured.
    pub credentials: Option<RegistryCredentials>,
}

/// The settings of one converter (key or value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConverterConfig {
    /// The converter class.
    pub class: ConverterClass,
    /// `*.converter.schemas.enable` (Connect's default is true; JsonConverter only).
    pub schemas_enable: bool,
    /// `*.converter.decimal.format` (JsonConverter only).
    pub decimal_format: DecimalFormat,
    /// The Schema Registry, for the Avro and JSON Schema converters.
    pub registry: Option<RegistryConfig>,
}

impl Default for ConverterConfig {
    fn default() -> Self {
        ConverterConfig {
            class: ConverterClass::Json,
            schemas_enable: true,
            decimal_format: DecimalFormat::Base64,
            registry: None,
        }
    }
}

/// One problem with a converter key, for the caller's error list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConverterProblem {
    /// The key at fault.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// What [`read_converter`] found: the settings, the problems, and writer-side registry
/// keys that cannot change what is read (for the caller to log as having no effect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConverterReading {
    /// The settings (defaults where a key was bad).
    pub config: ConverterConfig,
    /// Problems, each naming its key.
    pub problems: Vec<ConverterProblem>,
    /// Keys of [`WRITER_SIDE_REGISTRY_KEYS`] that were set.
    pub ignored: Vec<String>,
}

/// Sub-keys (after `<side>.converter.`) of the Schema Registry client that are read.
const REGISTRY_KEYS: &[&str] = &[
    "schema.registry.url",
    "basic.auth.credentials.source",
    "basic.auth.user.info",
    "schema.registry.basic.auth.user.info",
];

/// Sub-keys of JsonConverter that are read.
const JSON_KEYS: &[&str] = &["schemas.enable", "decimal.format"];

/// Sub-keys of the registry converters that only shape writing (registering schemas,
/// choosing subjects) or the Connect schema's metadata: a reader that looks each
/// writer schema up by its id decodes the same values whatever they say, in Connect as
/// here. They are accepted and logged as having no effect.
pub const WRITER_SIDE_REGISTRY_KEYS: &[&str] = &[
    "auto.register.schemas",
    "use.latest.version",
    "latest.compatibility.strict",
    "key.subject.name.strategy",
    "value.subject.name.strategy",
    "normalize.schemas",
    "id.compatibility.strict",
    "schemas.cache.config",
    "connect.meta.data",
    "enhanced.avro.schema.support",
    "scrub.invalid.names",
];

/// Sub-key prefixes of Schema Registry client features the sink does not have.
const UNSUPPORTED_REGISTRY_PREFIXES: &[(&str, &str)] = &[
    (
        "bearer.auth.",
        "bearer authentication to the Schema Registry is not supported; use basic.auth.credentials.source=USER_INFO or URL",
    ),
    (
        "schema.registry.ssl.",
        "TLS settings for the Schema Registry are not supported; an https:// schema.registry.url is verified against the system's trusted roots",
    ),
    (
        "schema.registry.bearer.auth.",
        "bearer authentication to the Schema Registry is not supported; use basic.auth.credentials.source=USER_INFO or URL",
    ),
];

/// Every class name this sink knows, for messages.
fn supported_list(side: Side) -> String {
    side.allowed()
        .iter()
        .map(|c| c.class_name())
        .collect::<Vec<_>>()
        .join(", ")
}

struct Reader<'a> {
    map: &'a BTreeMap<String, String>,
    side: Side,
    problems: Vec<ConverterProblem>,
}

impl Reader<'_> {
    fn key(&self, sub: &str) -> String {
        format!("{}.{sub}", self.side.prefix())
    }

    fn problem(&mut self, key: String, message: impl Into<String>) {
        self.problems.push(ConverterProblem {
            key,
            message: message.into(),
        });
    }

    /// Trimmed non-blank value, or the key's documented default.
    fn string(&self, key: &str) -> Option<String> {
        self.map
            .get(key)
            .map(String::as_str)
            .or_else(|| definition(key).and_then(|d| d.default))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}

/// Reads `<side>.converter` and its sub-keys from `map`.
pub fn read_converter(map: &BTreeMap<String, String>, side: Side) -> ConverterReading {
    let mut r = Reader {
        map,
        side,
        problems: Vec::new(),
    };
    let prefix = side.prefix();
    let class_raw = r.string(prefix).unwrap_or_default();
    let class = match ConverterClass::parse(&class_raw) {
        Some(c) if side.allowed().contains(&c) => c,
        Some(c) => {
            r.problem(
                prefix.to_string(),
                format!(
                    "{c} cannot read values, which must each be one SObject row (a struct); use {}",
                    supported_list(side)
                ),
            );
            ConverterClass::Json
        }
        None => {
            let what = if class_raw == PROTOBUF_CONVERTER {
                format!("{class_raw} is not supported by this sink")
            } else {
                format!("{class_raw} is not a converter this sink has")
            };
            r.problem(
                prefix.to_string(),
                format!("{what}; use {}", supported_list(side)),
            );
            ConverterClass::Json
        }
    };

    let mut config = ConverterConfig {
        class,
        ..ConverterConfig::default()
    };
    let mut ignored = Vec::new();
    let own_prefix = format!("{prefix}.");
    for key in map.keys().filter(|k| k.starts_with(&own_prefix)) {
        let sub = &key[own_prefix.len()..];
        let unsupported = UNSUPPORTED_REGISTRY_PREFIXES
            .iter()
            .find(|(p, _)| sub.starts_with(p));
        if JSON_KEYS.contains(&sub) {
            if class != ConverterClass::Json {
                r.problem(
                    key.clone(),
                    format!("is a JsonConverter setting, and {class} does not read it; remove it"),
                );
            }
        } else if REGISTRY_KEYS.contains(&sub) {
            if !class.uses_registry() {
                r.problem(
                    key.clone(),
                    format!(
                        "is a Schema Registry setting, and {class} reads no registry; remove it"
                    ),
                );
            }
        } else if let Some((_, why)) = unsupported {
            r.problem(key.clone(), *why);
        } else if class.uses_registry() && WRITER_SIDE_REGISTRY_KEYS.contains(&sub) {
            ignored.push(key.clone());
        } else {
            r.problem(
                key.clone(),
                format!("is not a setting of {class} that this sink knows; remove it"),
            );
        }
    }

    if class == ConverterClass::Json {
        let schemas_key = r.key("schemas.enable");
        let raw = r.string(&schemas_key).unwrap_or_else(|| "true".into());
        config.schemas_enable = if raw.eq_ignore_ascii_case("true") {
            true
        } else if raw.eq_ignore_ascii_case("false") {
            false
        } else {
            r.problem(schemas_key, "must be true or false");
            true
        };
        let decimal_key = r.key("decimal.format");
        if let Some(v) = r.string(&decimal_key) {
            config.decimal_format = DecimalFormat::parse(&v).unwrap_or_else(|| {
                r.problem(decimal_key, "must be BASE64 or NUMERIC");
                DecimalFormat::Base64
            });
        }
    }
    if class.uses_registry() {
        config.registry = read_registry(&mut r, class);
    }
    ConverterReading {
        config,
        problems: r.problems,
        ignored,
    }
}

/// Decodes `%XX` escapes of a URL's userinfo part.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_registry(r: &mut Reader<'_>, class: ConverterClass) -> Option<RegistryConfig> {
    let url_key = r.key("schema.registry.url");
    let Some(raw_urls) = r.string(&url_key) else {
        r.problem(url_key, format!("is required by {class}"));
        return None;
    };
    let mut urls = Vec::new();
    let mut from_url: Option<RegistryCredentials> = None;
    for item in raw_urls.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match Url::parse(item) {
            Ok(mut u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if !u.username().is_empty() || u.password().is_some() {
                    from_url.get_or_insert_with(|| RegistryCredentials {
                        username: percent_decode(u.username()),
                        password: Secret::new(percent_decode(u.password().unwrap_or(""))),
                    });
                    // Cannot fail for an http(s) URL with a host.
                    let _ = u.set_username("");
                    let _ = u.set_password(None);
                }
                urls.push(u);
            }
            // The value is not repeated: it may carry credentials.
            _ => r.problem(
                url_key.clone(),
                "must be a comma-separated list of http:// or https:// URLs",
            ),
        }
    }
    let source_key = r.key("basic.auth.credentials.source");
    let source = r
        .string(&source_key)
        .unwrap_or_else(|| "URL".into())
        .to_ascii_uppercase();
    let info_key = r.key("basic.auth.user.info");
    let alias_key = r.key("schema.registry.basic.auth.user.info");
    let user_info = r
        .map
        .get(&info_key)
        .or_else(|| r.map.get(&alias_key))
        .filter(|v| !v.is_empty())
        .cloned();
    let credentials = match source.as_str() {
        "URL" => {
            if user_info.is_some() {
                let key = if r.map.contains_key(&info_key) {
                    info_key
                } else {
                    alias_key
                };
                r.problem(
                    key,
                    format!(
                        "is used only with {source_key}=USER_INFO (it is URL, which takes the credentials from {url_key})"
                    ),
                );
            }
            from_url
        }
        "USER_INFO" => match user_info {
            None => {
                r.problem(info_key, format!("is required with {source_key}=USER_INFO"));
                None
            }
            Some(info) => match info.split_once(':') {
                Some((user, password)) => Some(RegistryCredentials {
                    username: user.to_string(),
                    password: Secret::new(password),
                }),
                None => {
                    r.problem(info_key, "must be user:password");
                    None
                }
            },
        },
        _ => {
            r.problem(
                source_key,
                "must be USER_INFO or URL (SASL_INHERIT is not supported)",
            );
            None
        }
    };
    (!urls.is_empty()).then_some(RegistryConfig { urls, credentials })
}

/// The worker's converter keys as defaults under a connector's own `map`, as Kafka
/// Connect applies them: per side, a connector key wins over the worker's; when the
/// connector names a different converter class than the worker, the worker's sub-keys
/// (written for the other class) are not inherited.
pub fn with_worker_defaults(
    map: &BTreeMap<String, String>,
    worker: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut merged = map.clone();
    for side in [Side::Key, Side::Value] {
        let prefix = side.prefix();
        let own_class = map.get(prefix).map(|c| c.trim());
        let worker_class = worker.get(prefix).map(|c| c.trim());
        if own_class.is_some() && own_class != worker_class {
            continue;
        }
        let sub_prefix = format!("{prefix}.");
        for (k, v) in worker {
            if k == prefix || k.starts_with(&sub_prefix) {
                merged.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::string_map as map;

    fn messages(reading: &ConverterReading, key: &str) -> Vec<String> {
        reading
            .problems
            .iter()
            .filter(|p| p.key == key)
            .map(|p| p.message.clone())
            .collect()
    }

    #[test]
    fn avro_needs_a_registry_url_and_takes_url_credentials_off_the_url() {
        let r = read_converter(&map(&[("value.converter", AVRO_CONVERTER)]), Side::Value);
        assert_eq!(
            messages(&r, "value.converter.schema.registry.url"),
            [format!("is required by {AVRO_CONVERTER}")]
        );
        let r = read_converter(
            &map(&[
                ("value.converter", AVRO_CONVERTER),
                (
                    "value.converter.schema.registry.url",
                    "http://sr-user:p%40ss@registry:8081, http://backup:8081",
                ),
            ]),
            Side::Value,
        );
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let reg = r.config.registry.unwrap();
        assert_eq!(reg.urls.len(), 2);
        assert_eq!(reg.urls[0].as_str(), "http://registry:8081/");
        let creds = reg.credentials.unwrap();
        assert_eq!(creds.username, "sr-user");
        assert_eq!(creds.password.expose(), "p@ss");
    }

    #[test]
    fn user_info_credentials_need_their_source() {
        let base = [
            ("key.converter", AVRO_CONVERTER),
            ("key.converter.schema.registry.url", "http://registry:8081"),
        ];
        let mut m = map(&base);
        m.insert(
            "key.converter.basic.auth.credentials.source".into(),
            "user_info".into(),
        );
        m.insert("key.converter.basic.auth.user.info".into(), "u:pw:x".into());
        let r = read_converter(&m, Side::Key);
        let creds = r.config.registry.unwrap().credentials.unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.expose()),
            ("u", "pw:x")
        );

        m.remove("key.converter.basic.auth.user.info");
        let r = read_converter(&m, Side::Key);
        assert!(!messages(&r, "key.converter.basic.auth.user.info").is_empty());

        let mut m = map(&base);
        m.insert("key.converter.basic.auth.user.info".into(), "u:pw".into());
        let r = read_converter(&m, Side::Key);
        assert!(messages(&r, "key.converter.basic.auth.user.info")[0].contains("USER_INFO"));

        let mut m = map(&base);
        m.insert(
            "key.converter.basic.auth.credentials.source".into(),
            "SASL_INHERIT".into(),
        );
        let r = read_converter(&m, Side::Key);
        assert!(!messages(&r, "key.converter.basic.auth.credentials.source").is_empty());
    }

    #[test]
    fn unsupported_classes_are_refused_naming_the_class() {
        let r = read_converter(
            &map(&[("value.converter", PROTOBUF_CONVERTER)]),
            Side::Value,
        );
        let m = messages(&r, "value.converter");
        assert!(m[0].starts_with(PROTOBUF_CONVERTER), "{m:?}");
        assert!(m[0].contains(AVRO_CONVERTER), "{m:?}");
        let r = read_converter(&map(&[("value.converter", STRING_CONVERTER)]), Side::Value);
        assert!(messages(&r, "value.converter")[0].contains(STRING_CONVERTER));
        let r = read_converter(&map(&[("key.converter", "com.acme.Magic")]), Side::Key);
        assert!(messages(&r, "key.converter")[0].contains("com.acme.Magic"));
        let r = read_converter(&map(&[("key.converter", BYTE_ARRAY_CONVERTER)]), Side::Key);
        assert!(r.problems.is_empty());
        assert_eq!(r.config.class, ConverterClass::ByteArray);
    }

    #[test]
    fn keys_for_another_class_or_unknown_are_refused_and_writer_side_keys_logged() {
        let r = read_converter(
            &map(&[
                ("value.converter", AVRO_CONVERTER),
                ("value.converter.schema.registry.url", "http://r:8081"),
                ("value.converter.schemas.enable", "false"),
                ("value.converter.bearer.auth.token", "t"),
                ("value.converter.auto.register.schemas", "false"),
                ("value.converter.schemas.cache.sise", "10"),
            ]),
            Side::Value,
        );
        assert_eq!(r.ignored, ["value.converter.auto.register.schemas"]);
        assert!(messages(&r, "value.converter.schemas.enable")[0].contains("JsonConverter"));
        assert!(!messages(&r, "value.converter.bearer.auth.token").is_empty());
        assert!(messages(&r, "value.converter.schemas.cache.sise")[0].contains("not a setting"));
        let r = read_converter(
            &map(&[("value.converter.schema.registry.url", "http://r:8081")]),
            Side::Value,
        );
        assert!(messages(&r, "value.converter.schema.registry.url")[0].contains("no registry"));
        assert!(r.ignored.is_empty());
        assert!(r.config.registry.is_none());
    }

    #[test]
    fn worker_defaults_apply_key_by_key_unless_the_class_differs() {
        let worker = map(&[
            ("value.converter", JSON_CONVERTER),
            ("value.converter.schemas.enable", "false"),
            ("key.converter", AVRO_CONVERTER),
            ("key.converter.schema.registry.url", "http://r:8081"),
        ]);
        let merged = with_worker_defaults(
            &map(&[("name", "c"), ("value.converter.decimal.format", "NUMERIC")]),
            &worker,
        );
        assert_eq!(merged["value.converter.schemas.enable"], "false");
        assert_eq!(merged["value.converter.decimal.format"], "NUMERIC");
        assert_eq!(merged["key.converter"], AVRO_CONVERTER);
        assert_eq!(merged["name"], "c");
        // The connector's own key wins.
        let merged =
            with_worker_defaults(&map(&[("value.converter.schemas.enable", "true")]), &worker);
        assert_eq!(merged["value.converter.schemas.enable"], "true");
        // Another class: nothing of the worker's value converter is inherited.
        let merged = with_worker_defaults(&map(&[("value.converter", AVRO_CONVERTER)]), &worker);
        assert!(!merged.contains_key("value.converter.schemas.enable"));
        assert_eq!(merged["key.converter.schema.registry.url"], "http://r:8081");
    }
}
