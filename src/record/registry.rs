//! A Confluent Schema Registry client for the Avro and JSON Schema converters: writer
//! schemas fetched by id (`GET /schemas/ids/{id}`), parsed once and cached.
//!
//! A registry that is down, slow or answers 5xx/429 is a transient failure, retried
//! with doubling delays until `request.max.retries.time.ms` is spent; only then is it
//! an error, which fails the task (the records wait in Kafka). An id the registry does
//! not know (404) is not an error here: it is a fact about the record, which the
//! decoder turns into a bad record.
//!
//! Credentials go out only as an `Authorization` header; no message names more of a
//! registry than its origin (scheme, host, port), which never carries them.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;
use url::Url;

use super::avro::AvroSchema;
use super::Part;
use crate::config::converter::{ConverterClass, RegistryConfig, RegistryCredentials};

/// Longest wait for one registry answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// First retry delay; it doubles per attempt up to the longest delay configured
/// (`errors.retry.delay.max.ms`).
const FIRST_DELAY: Duration = Duration::from_millis(100);

/// A writer schema as the converter reads it.
#[derive(Debug)]
pub enum WriterSchema {
    /// An Avro schema, ready to decode datums.
    Avro(Box<AvroSchema>),
    /// A JSON Schema: the body is JSON and decodes without it.
    Json,
}

/// What the registry says about one schema id.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The schema, parsed.
    Found(Arc<WriterSchema>),
    /// The registry does not know the id (404).
    Missing,
    /// The registry has the id, but not a schema this converter can use.
    Unusable(String),
}

/// The schemas one batch of records needs, by (key or value, id).
#[derive(Debug, Clone, Default)]
pub struct BatchSchemas(HashMap<(Part, u32), Lookup>);

impl BatchSchemas {
    /// What is known about `id` for `part`.
    pub fn get(&self, part: Part, id: u32) -> Option<&Lookup> {
        self.0.get(&(part, id))
    }

    /// Records what is known about `id` for `part`.
    pub fn insert(&mut self, part: Part, id: u32, lookup: Lookup) {
        self.0.insert((part, id), lookup);
    }
}

/// Why the registry could not be used; each of these fails the task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No usable answer within the retry budget.
    #[error("the Schema Registry ({registry}) gave no answer for schema id {id} within {waited_ms} ms of retries (last: {last})")]
    Unavailable {
        /// Origin of the registry tried last.
        registry: String,
        /// The schema id asked for.
        id: u32,
        /// How long was spent.
        waited_ms: u128,
        /// The last failure.
        last: String,
    },
    /// 401/403: the credentials are wrong or lack rights; retrying will not help.
    #[error("the Schema Registry ({registry}) refused the request for schema id {id} (HTTP {status}); check {prefix}.basic.auth.credentials.source and the credentials")]
    Refused {
        /// Origin of the registry.
        registry: String,
        /// The schema id asked for.
        id: u32,
        /// The HTTP status.
        status: u16,
        /// `key.converter` or `value.converter`.
        prefix: &'static str,
    },
    /// Any other answer that is not a schema (a 4xx other than 404, a body that is
    /// not the registry's JSON).
    #[error("the Schema Registry ({registry}) answered schema id {id} with {what}")]
    Unexpected {
        /// Origin of the registry.
        registry: String,
        /// The schema id asked for.
        id: u32,
        /// What came back.
        what: String,
    },
}

/// The registry's answer to `GET /schemas/ids/{id}`.
#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

/// One registry (one converter's `schema.registry.url`) with its schema cache.
#[derive(Debug)]
pub struct SchemaRegistry {
    /// Built at the first fetch, so that making a registry cannot fail.
    http: OnceLock<Result<reqwest::Client, String>>,
    urls: Vec<Url>,
    credentials: Option<RegistryCredentials>,
    class: ConverterClass,
    prefix: &'static str,
    budget: Duration,
    max_delay: Duration,
    cache: Mutex<HashMap<u32, Arc<WriterSchema>>>,
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// One attempt's outcome.
enum Attempt {
    Done(Lookup),
    Retry(String),
    Fail(RegistryError),
}

impl SchemaRegistry {
    /// A client for `config`, read by a converter of `class` (`prefix` names it in
    /// messages), retrying transient failures for up to `budget`, waiting at most
    /// `max_delay` between tries. Nothing is contacted until the first fetch.
    pub fn new(
        config: &RegistryConfig,
        class: ConverterClass,
        prefix: &'static str,
        budget: Duration,
        max_delay: Duration,
    ) -> Self {
        SchemaRegistry {
            http: OnceLock::new(),
            urls: config.urls.clone(),
            credentials: config.credentials.clone(),
            class,
            prefix,
            budget,
            max_delay,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The cached schema for `id`, if it was fetched before.
    pub fn cached(&self, id: u32) -> Option<Arc<WriterSchema>> {
        self.cache.lock().get(&id).cloned()
    }

    /// Asks the registry for `id`, retrying transient failures within the budget.
    pub async fn fetch(&self, id: u32) -> Result<Lookup, RegistryError> {
        if let Some(found) = self.cached(id) {
            return Ok(Lookup::Found(found));
        }
        let start = Instant::now();
        let mut delay = FIRST_DELAY.min(self.max_delay);
        let mut attempt = 0usize;
        loop {
            let Some(url) = self.urls.get(attempt % self.urls.len().max(1)) else {
                return Err(RegistryError::Unexpected {
                    registry: "(none)".into(),
                    id,
                    what: format!("nothing: {}.schema.registry.url lists no URL", self.prefix),
                });
            };
            attempt += 1;
            let last = match self.attempt(url, id).await {
                Attempt::Done(lookup) => {
                    if let Lookup::Found(schema) = &lookup {
                        self.cache.lock().insert(id, schema.clone());
                    }
                    return Ok(lookup);
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(why) => why,
            };
            let spent = start.elapsed();
            if spent.saturating_add(delay) > self.budget {
                return Err(RegistryError::Unavailable {
                    registry: origin(url),
                    id,
                    waited_ms: spent.as_millis(),
                    last,
                });
            }
            tracing::warn!(
                registry = %origin(url),
                schema_id = id,
                "Schema Registry not available ({last}); retrying in {} ms",
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2).min(self.max_delay);
        }
    }

    async fn attempt(&self, base: &Url, id: u32) -> Attempt {
        let registry = origin(base);
        let mut url = base.clone();
        match url.path_segments_mut() {
            Ok(mut segments) => {
                segments
                    .pop_if_empty()
                    .extend(["schemas", "ids", &id.to_string()]);
            }
            Err(()) => {
                return Attempt::Fail(RegistryError::Unexpected {
                    registry,
                    id,
                    what: "nothing: its URL cannot take a path".into(),
                })
            }
        }
        let http = match self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .map_err(|e| format!("no HTTP client could be built ({e})"))
        }) {
            Ok(h) => h,
            Err(why) => {
                return Attempt::Fail(RegistryError::Unexpected {
                    registry,
                    id,
                    what: why.clone(),
                })
            }
        };
        let mut request = http.get(url).header(
            reqwest::header::ACCEPT,
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some(c) = &self.credentials {
            request = request.basic_auth(&c.username, Some(c.password.expose()));
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(describe(&e)),
        };
        let status = response.status().as_u16();
        match status {
            200 => {}
            404 => return Attempt::Done(Lookup::Missing),
            401 | 403 => {
                return Attempt::Fail(RegistryError::Refused {
                    registry,
                    id,
                    status,
                    prefix: self.prefix,
                })
            }
            408 | 429 | 500..=599 => return Attempt::Retry(format!("HTTP {status}")),
            _ => {
                return Attempt::Fail(RegistryError::Unexpected {
                    registry,
                    id,
                    what: format!("HTTP {status}"),
                })
            }
        }
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Retry(describe(&e)),
        };
        let answer: SchemaAnswer = match serde_json::from_slice(&body) {
            Ok(a) => a,
            Err(e) => {
                return Attempt::Fail(RegistryError::Unexpected {
                    registry,
                    id,
                    what: format!("a body that is not a schema answer ({e})"),
                })
            }
        };
        Attempt::Done(self.interpret(answer))
    }

    /// Turns an answer into what this converter can use.
    fn interpret(&self, answer: SchemaAnswer) -> Lookup {
        let kind = answer
            .schema_type
            .as_deref()
            .unwrap_or("AVRO")
            .to_ascii_uppercase();
        if !answer.references.is_empty() {
            return Lookup::Unusable(
                "its schema has references to other schemas, which this sink does not resolve"
                    .into(),
            );
        }
        match (self.class, kind.as_str()) {
            (ConverterClass::Avro, "AVRO") => match AvroSchema::parse(&answer.schema) {
                Ok(s) => Lookup::Found(Arc::new(WriterSchema::Avro(Box::new(s)))),
                Err(why) => Lookup::Unusable(format!("its Avro schema cannot be read: {why}")),
            },
            (ConverterClass::JsonSchema, "JSON") => Lookup::Found(Arc::new(WriterSchema::Json)),
            (class, other) => Lookup::Unusable(format!(
                "it is a {other} schema, which {class} does not read"
            )),
        }
    }
}

/// A transport failure in words, without the URL.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        let mut text = e.to_string();
        if let Some(url) = e.url() {
            text = text.replace(url.as_str(), "");
        }
        text
    }
}
