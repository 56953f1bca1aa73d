//! A small Confluent-compatible Schema Registry for the tests (none can be installed
//! here): subjects with versions, schemas by id, optional basic auth, and a switch that
//! makes it answer 503 for a while, as a registry that is down would.
//!
//! Endpoints: `POST /subjects/{subject}/versions` → `{"id"}` (the same schema text
//! keeps its id), `GET /schemas/ids/{id}` → `{"schema"[, "schemaType"]}` or 404 with
//! error code 40403, `GET /subjects`, `GET /subjects/{subject}/versions`.

use super::avro::{wire, AvroEncoder, LogicalStyle};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Store {
    /// Schema text and type by id (id = index + 1).
    schemas: Vec<(String, String)>,
    /// Ids per subject, in version order.
    subjects: BTreeMap<String, Vec<u32>>,
}

struct Shared {
    store: Mutex<Store>,
    /// `user:password` required on every call, when set.
    basic_auth: Option<String>,
    /// Answer 503 until then.
    down_until: Mutex<Option<Instant>>,
    /// Requests answered 503, 401 and 200 for schemas by id.
    unavailable_answers: AtomicU64,
    refused_answers: AtomicU64,
    schema_reads: AtomicU64,
}

/// A running registry.
pub struct TestRegistry {
    /// `http://127.0.0.1:port`.
    pub url: String,
    shared: Arc<Shared>,
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

/// Refusals that come before any endpoint: down, or not logged in.
fn gate(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    if s.down_until.lock().is_some_and(|t| Instant::now() < t) {
        s.unavailable_answers.fetch_add(1, Ordering::Relaxed);
        return Some(error(StatusCode::SERVICE_UNAVAILABLE, 50003, "unavailable"));
    }
    if let Some(expected) = &s.basic_auth {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        if given.as_deref() != Some(expected.as_bytes()) {
            s.refused_answers.fetch_add(1, Ordering::Relaxed);
            return Some(error(StatusCode::UNAUTHORIZED, 401, "Unauthorized"));
        }
    }
    None
}

async fn register(
    State(s): State<Arc<Shared>>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let Some(text) = body["schema"].as_str() else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            "schema is required",
        );
    };
    let kind = body["schemaType"].as_str().unwrap_or("AVRO").to_string();
    let mut store = s.store.lock();
    let id = match store
        .schemas
        .iter()
        .position(|(t, k)| t == text && *k == kind)
    {
        Some(i) => i as u32 + 1,
        None => {
            store.schemas.push((text.to_string(), kind));
            store.schemas.len() as u32
        }
    };
    let versions = store.subjects.entry(subject).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    Json(json!({"id": id})).into_response()
}

async fn schema_by_id(
    State(s): State<Arc<Shared>>,
    Path(id): Path<u32>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let store = s.store.lock();
    match id
        .checked_sub(1)
        .and_then(|i| store.schemas.get(i as usize))
    {
        Some((text, kind)) => {
            s.schema_reads.fetch_add(1, Ordering::Relaxed);
            let mut answer = json!({"schema": text});
            if kind != "AVRO" {
                answer["schemaType"] = json!(kind);
            }
            Json(answer).into_response()
        }
        None => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}

async fn subjects(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    let names: Vec<String> = s.store.lock().subjects.keys().cloned().collect();
    Json(json!(names)).into_response()
}

async fn versions(
    State(s): State<Arc<Shared>>,
    Path(subject): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&s, &headers) {
        return r;
    }
    match s.store.lock().subjects.get(&subject) {
        Some(ids) => Json(json!((1..=ids.len()).collect::<Vec<_>>())).into_response(),
        None => error(StatusCode::NOT_FOUND, 40401, "Subject not found"),
    }
}

impl TestRegistry {
    /// Starts a registry on `rt`, on a free loopback port; with `basic_auth`
    /// (`user:password`) every call must carry those credentials.
    pub fn start(rt: &tokio::runtime::Runtime, basic_auth: Option<&str>) -> TestRegistry {
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            basic_auth: basic_auth.map(str::to_string),
            down_until: Mutex::new(None),
            unavailable_answers: AtomicU64::new(0),
            refused_answers: AtomicU64::new(0),
            schema_reads: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/subjects", get(subjects))
            .route("/subjects/{subject}/versions", post(register).get(versions))
            .route("/schemas/ids/{id}", get(schema_by_id))
            .with_state(shared.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("registry port");
        let addr = listener.local_addr().expect("registry address");
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestRegistry {
            url: format!("http://{addr}"),
            shared,
        }
    }

    /// Registers `schema` (of `kind`: AVRO or JSON) under `subject` over HTTP, as a
    /// producer's serializer does; returns its id.
    pub fn register(
        &self,
        rt: &tokio::runtime::Runtime,
        subject: &str,
        schema: &str,
        kind: &str,
    ) -> u32 {
        let mut request = reqwest::Client::new()
            .post(format!("{}/subjects/{subject}/versions", self.url))
            .json(&json!({"schema": schema, "schemaType": kind}));
        if let Some((user, password)) = self
            .shared
            .basic_auth
            .as_deref()
            .and_then(|a| a.split_once(':'))
        {
            request = request.basic_auth(user, Some(password));
        }
        let answer: Value = rt
            .block_on(async { request.send().await?.error_for_status()?.json().await })
            .expect("registry takes the schema");
        answer["id"].as_u64().expect("an id") as u32
    }

    /// Answers 503 to everything for `how_long` from now.
    pub fn go_down_for(&self, how_long: Duration) {
        *self.shared.down_until.lock() = Some(Instant::now() + how_long);
    }

    /// How many calls were answered 503 so far.
    pub fn unavailable_answers(&self) -> u64 {
        self.shared.unavailable_answers.load(Ordering::Relaxed)
    }

    /// How many calls were refused for missing or wrong credentials.
    pub fn refused_answers(&self) -> u64 {
        self.shared.refused_answers.load(Ordering::Relaxed)
    }

    /// How many schemas were served by id.
    pub fn schema_reads(&self) -> u64 {
        self.shared.schema_reads.load(Ordering::Relaxed)
    }
}

/// Re-encodes a JsonConverter envelope record (value or key bytes) as Confluent Avro
/// under `subject`, registering its schema; returns the new bytes.
pub struct AvroRecoder<'r> {
    registry: &'r TestRegistry,
    style: LogicalStyle,
    encoders: HashMap<String, (u32, AvroEncoder)>,
}

impl<'r> AvroRecoder<'r> {
    /// A recoder registering with `registry`.
    pub fn new(registry: &'r TestRegistry, style: LogicalStyle) -> Self {
        AvroRecoder {
            registry,
            style,
            encoders: HashMap::new(),
        }
    }

    /// The Avro form of one envelope record.
    pub fn recode(
        &mut self,
        rt: &tokio::runtime::Runtime,
        subject: &str,
        envelope_bytes: &[u8],
    ) -> Vec<u8> {
        let envelope: Value = serde_json::from_slice(envelope_bytes).expect("envelope JSON");
        let schema = &envelope["schema"];
        let key = format!("{subject}/{schema}");
        if !self.encoders.contains_key(&key) {
            let encoder = AvroEncoder::for_connect_schema(schema, self.style);
            let id = self
                .registry
                .register(rt, subject, &encoder.schema_text, "AVRO");
            self.encoders.insert(key.clone(), (id, encoder));
        }
        let (id, encoder) = &self.encoders[&key];
        wire(*id, &encoder.body(&envelope["payload"]))
    }
}
