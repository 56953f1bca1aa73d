//! The Kafka Connect–compatible REST API (and `GET /metrics`).
//!
//! Paths, bodies and status codes follow Kafka Connect, so existing scripts and tools
//! keep working: 201 on create, 409 on a name conflict, 404 with
//! `{"error_code":404,"message":...}` for an unknown connector, 400 for an invalid
//! configuration naming the key and the reason. Passwords are shown as `[hidden]`
//! (a value made only of config-provider placeholders is shown as written). Until the
//! worker has started, `/health` answers 503 and other requests wait for the start
//! (up to a minute, then 503). Handlers only translate HTTP to [`Request`]s for the
//! supervisor actor.

use crate::config::providers::redacted_map;
use crate::config::{config_definitions, WorkerConfig};
use crate::connect::offsets::PartitionOffset;
use crate::connect::supervisor::{ApiFailure, Reply, Request, Supervisor};
use actix::Addr;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long `/health` waits for the worker to answer before calling it unhealthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request that arrives during the start waits for it.
const START_WAIT: Duration = Duration::from_secs(60);

/// The connector class this worker runs.
pub const CONNECTOR_CLASS: &str = "io.confluent.salesforce.SalesforceSObjectSinkConnector";

/// Who may call the API.
#[derive(Clone, Default)]
pub enum RestAuth {
    /// Anyone on the listener.
    #[default]
    Open,
    /// HTTP basic authentication.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// A bearer token.
    Bearer(String),
}

#[derive(Clone)]
struct AppState {
    supervisor: Addr<Supervisor>,
    auth: Arc<RestAuth>,
    started: watch::Receiver<bool>,
    worker: Arc<WorkerConfig>,
}

fn error(status: u16, message: impl Into<String>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        Json(json!({"error_code": status, "message": message.into()})),
    )
        .into_response()
}

fn failure(f: ApiFailure) -> Response {
    error(f.status, f.message)
}

async fn ask(state: &AppState, req: Request) -> Result<Reply, Response> {
    match state.supervisor.send(req).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(f)) => Err(failure(f)),
        Err(e) => Err(error(500, format!("worker is shutting down: {e}"))),
    }
}

fn authorized(auth: &RestAuth, headers: &HeaderMap) -> bool {
    use base64::Engine;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match auth {
        RestAuth::Open => true,
        RestAuth::Bearer(token) => given
            .strip_prefix("Bearer ")
            .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes())),
        RestAuth::Basic { username, password } => given
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|raw| {
                let expected = format!("{username}:{password}");
                constant_time_eq(&raw, expected.as_bytes())
            }),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn guard(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if authorized(&state.auth, req.headers()) {
        if req.uri().path() != "/health" {
            let mut started = state.started.clone();
            let waited = tokio::time::timeout(START_WAIT, async {
                started.wait_for(|s| *s).await.map(|_| ())
            })
            .await;
            if !matches!(waited, Ok(Ok(_))) {
                return error(503, "the worker has not finished starting");
            }
        }
        next.run(req).await
    } else {
        let mut r = error(401, "authentication required");
        if matches!(*state.auth, RestAuth::Basic { .. }) {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"sobject-sink\""),
            );
        }
        r
    }
}

/// The API's routes. `started` turns true once the worker has completed its start
/// (joined the cluster and read its config topic, or created its connectors);
/// `validate` checks a config as `worker` would run it.
pub fn router(
    supervisor: Addr<Supervisor>,
    auth: RestAuth,
    started: watch::Receiver<bool>,
    worker: Arc<WorkerConfig>,
) -> Router {
    let state = AppState {
        supervisor,
        auth: Arc::new(auth),
        started,
        worker,
    };
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route("/connectors/{name}/config", get(config).put(put_config))
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{id}/status", get(task_status))
        .route("/connectors/{name}/tasks/{id}/restart", post(restart_task))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/restart", post(restart))
        .route(
            "/connectors/{name}/offsets",
            get(offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/connector-plugins", get(plugins))
        .route("/connector-plugins/{plugin}/config/validate", put(validate))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn root() -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": "sobject-sink",
        "kafka_cluster_id": Value::Null,
    }))
}

/// `GET /health` (KIP-1017): 200 `healthy` once started and answering, 503 `starting`
/// before, 500 `unhealthy` when the worker does not answer in time.
async fn health(State(s): State<AppState>) -> Response {
    if !*s.started.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting", "message": "The worker has not finished starting."})),
        )
            .into_response();
    }
    let unhealthy = |why: String| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"status": "unhealthy", "message": why})),
        )
            .into_response()
    };
    match tokio::time::timeout(HEALTH_TIMEOUT, ask(&s, Request::List)).await {
        Ok(Ok(_)) => Json(json!({
            "status": "healthy",
            "message": "The worker has started and is answering requests.",
        }))
        .into_response(),
        Ok(Err(_)) => unhealthy(
            "The worker could not serve a request (its config topic may be unreachable).".into(),
        ),
        Err(_) => unhealthy(format!(
            "The worker did not answer within {} seconds.",
            HEALTH_TIMEOUT.as_secs()
        )),
    }
}

async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::metrics().render(),
    )
        .into_response()
}

async fn list(State(s): State<AppState>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let expands: Vec<String> = q
        .into_iter()
        .filter(|(k, _)| k == "expand")
        .map(|(_, v)| v)
        .collect();
    let names = match ask(&s, Request::List).await {
        Ok(Reply::Names(n)) => n,
        Ok(_) => Vec::new(),
        Err(r) => return r,
    };
    if expands.is_empty() {
        return Json(json!(names)).into_response();
    }
    let mut out = serde_json::Map::new();
    for name in names {
        let mut entry = serde_json::Map::new();
        if expands.iter().any(|e| e == "status") {
            if let Ok(Reply::Status(st)) = ask(&s, Request::Status(name.clone())).await {
                entry.insert("status".into(), json!(st));
            }
        }
        if expands.iter().any(|e| e == "info") {
            if let Ok(Reply::Info(info, _)) = ask(&s, Request::Info(name.clone())).await {
                entry.insert("info".into(), json!(info));
            }
        }
        out.insert(name, Value::Object(entry));
    }
    Json(Value::Object(out)).into_response()
}

fn string_map(v: &Value) -> Result<BTreeMap<String, String>, Box<Response>> {
    let Some(obj) = v.as_object() else {
        return Err(Box::new(error(
            400,
            "the configuration must be a JSON object of strings",
        )));
    };
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            Value::Bool(_) | Value::Number(_) => v.to_string(),
            _ => {
                return Err(Box::new(error(
                    400,
                    format!("configuration value of {k} must be a string"),
                )));
            }
        };
        out.insert(k.clone(), s);
    }
    Ok(out)
}

async fn create(State(s): State<AppState>, body: Option<Json<Value>>) -> Response {
    let Some(Json(body)) = body else {
        return error(
            400,
            "request body must be JSON: {\"name\": ..., \"config\": {...}}",
        );
    };
    let Some(name) = body.get("name").and_then(Value::as_str).map(str::to_string) else {
        return error(400, "the request must name the connector (\"name\")");
    };
    let mut config = match body.get("config").map(string_map) {
        Some(Ok(c)) => c,
        Some(Err(r)) => return *r,
        None => return error(400, "the request must carry a \"config\" object"),
    };
    config.insert("name".into(), name.clone());
    match ask(&s, Request::Create { name, config }).await {
        Ok(Reply::Info(info, _)) => (StatusCode::CREATED, Json(json!(info))).into_response(),
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

async fn info(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match ask(&s, Request::Info(name)).await {
        Ok(Reply::Info(info, _)) => Json(json!(info)).into_response(),
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

async fn config(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match ask(&s, Request::Config(name)).await {
        Ok(Reply::Config(c)) => Json(json!(c)).into_response(),
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

async fn put_config(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let Some(Json(body)) = body else {
        return error(
            400,
            "request body must be a JSON object of configuration strings",
        );
    };
    let config = match string_map(&body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if let Some(n) = config.get("name") {
        if n != &name {
            return error(
                400,
                format!(
                    "connector name in the configuration ({n}) does not match the URL ({name})"
                ),
            );
        }
    }
    match ask(&s, Request::PutConfig { name, config }).await {
        Ok(Reply::Info(info, created)) => {
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (code, Json(json!(info))).into_response()
        }
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

async fn status(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match ask(&s, Request::Status(name)).await {
        Ok(Reply::Status(st)) => Json(json!(st)).into_response(),
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

async fn tasks(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    let info = match ask(&s, Request::Info(name.clone())).await {
        Ok(Reply::Info(info, _)) => info,
        Ok(_) => return error(500, "unexpected reply"),
        Err(r) => return r,
    };
    let out: Vec<Value> = info
        .tasks
        .iter()
        .map(|t| json!({"id": {"connector": t.connector, "task": t.task}, "config": info.config}))
        .collect();
    Json(json!(out)).into_response()
}

async fn task_status(State(s): State<AppState>, Path((name, id)): Path<(String, u32)>) -> Response {
    match ask(&s, Request::Status(name.clone())).await {
        Ok(Reply::Status(st)) => match st.tasks.into_iter().find(|t| t.id == id) {
            Some(t) => Json(json!(t)).into_response(),
            None => error(404, format!("Task {name}-{id} not found")),
        },
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

async fn simple(s: &AppState, req: Request, ok: StatusCode) -> Response {
    match ask(s, req).await {
        Ok(_) => ok.into_response(),
        Err(r) => r,
    }
}

async fn pause(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    simple(&s, Request::Pause(name), StatusCode::ACCEPTED).await
}

async fn resume(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    simple(&s, Request::Resume(name), StatusCode::ACCEPTED).await
}

async fn stop(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    simple(&s, Request::Stop(name), StatusCode::ACCEPTED).await
}

async fn delete(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    simple(&s, Request::Delete(name), StatusCode::NO_CONTENT).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestartQuery {
    #[serde(default)]
    include_tasks: bool,
    #[serde(default)]
    only_failed: bool,
}

async fn restart(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RestartQuery>,
) -> Response {
    let req = Request::Restart {
        name: name.clone(),
        include_tasks: q.include_tasks,
        only_failed: q.only_failed,
    };
    match ask(&s, req).await {
        Ok(_) if q.include_tasks || q.only_failed => match ask(&s, Request::Status(name)).await {
            Ok(Reply::Status(st)) => (StatusCode::ACCEPTED, Json(json!(st))).into_response(),
            _ => StatusCode::ACCEPTED.into_response(),
        },
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn restart_task(
    State(s): State<AppState>,
    Path((name, id)): Path<(String, u32)>,
) -> Response {
    simple(&s, Request::RestartTask(name, id), StatusCode::NO_CONTENT).await
}

async fn offsets(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match ask(&s, Request::Offsets(name)).await {
        Ok(Reply::Offsets(list)) => {
            let offsets: Vec<Value> = list
                .into_iter()
                .map(|o| {
                    json!({"partition": {"kafka_topic": o.topic, "kafka_partition": o.partition},
                           "offset": {"kafka_offset": o.offset}})
                })
                .collect();
            Json(json!({ "offsets": offsets })).into_response()
        }
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

/// Reads Connect's offsets body: `{"offsets": [{"partition": {"kafka_topic": T,
/// "kafka_partition": P}, "offset": {"kafka_offset": O}}, ...]}`.
fn offsets_body(body: &Value) -> Result<Vec<PartitionOffset>, String> {
    let list = body
        .get("offsets")
        .and_then(Value::as_array)
        .ok_or("the body must be {\"offsets\": [...]}")?;
    if list.is_empty() {
        return Err("\"offsets\" lists no partition".into());
    }
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let partition = &item["partition"];
        let topic = partition["kafka_topic"].as_str().ok_or(format!(
            "offsets[{i}].partition.kafka_topic must be a topic name"
        ))?;
        let number = partition["kafka_partition"]
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p >= 0)
            .ok_or(format!(
                "offsets[{i}].partition.kafka_partition must be a partition number"
            ))?;
        let offset = match &item["offset"] {
            Value::Null => {
                return Err(format!(
                    "offsets[{i}].offset is null: resetting single partitions is not supported; DELETE /connectors/{{name}}/offsets resets them all"
                ))
            }
            o => o["kafka_offset"]
                .as_i64()
                .filter(|o| *o >= 0)
                .ok_or(format!("offsets[{i}].offset.kafka_offset must be an offset (0 or more)"))?,
        };
        out.push(PartitionOffset {
            topic: topic.to_string(),
            partition: number,
            offset,
        });
    }
    Ok(out)
}

async fn alter_offsets(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let Some(Json(body)) = body else {
        return error(400, "request body must be JSON: {\"offsets\": [...]}");
    };
    let offsets = match offsets_body(&body) {
        Ok(o) => o,
        Err(m) => return error(400, m),
    };
    match ask(&s, Request::AlterOffsets { name, offsets }).await {
        Ok(Reply::Message(m)) => Json(json!({ "message": m })).into_response(),
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

async fn reset_offsets(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match ask(&s, Request::ResetOffsets(name)).await {
        Ok(Reply::Message(m)) => Json(json!({ "message": m })).into_response(),
        Ok(_) => error(500, "unexpected reply"),
        Err(r) => r,
    }
}

async fn plugins() -> Json<Value> {
    Json(json!([{
        "class": CONNECTOR_CLASS,
        "type": "sink",
        "version": env!("CARGO_PKG_VERSION"),
    }]))
}

async fn validate(
    State(s): State<AppState>,
    Path(plugin): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let short = CONNECTOR_CLASS
        .rsplit('.')
        .next()
        .unwrap_or(CONNECTOR_CLASS);
    if plugin != CONNECTOR_CLASS && plugin != short {
        return error(404, format!("Unknown connector plugin {plugin}"));
    }
    let Some(Json(body)) = body else {
        return error(
            400,
            "request body must be a JSON object of configuration strings",
        );
    };
    let config = match string_map(&body) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let errors = match s.worker.connector_config(&config) {
        Ok(_) => Default::default(),
        Err(e) => e,
    };
    let redacted = redacted_map(&config);
    let mut groups: Vec<String> = Vec::new();
    let mut configs = Vec::new();
    let mut error_count = 0;
    for def in config_definitions() {
        if !groups.contains(&def.group.to_string()) {
            groups.push(def.group.to_string());
        }
        let errs = errors.messages_for(def.name);
        error_count += errs.len();
        configs.push(json!({
            "definition": {
                "name": def.name,
                "type": def.ty.as_connect_str(),
                "required": def.required,
                "default_value": def.default,
                "importance": def.importance.as_connect_str(),
                "documentation": def.documentation,
                "group": def.group,
                "order": configs.len(),
                "width": "NONE",
                "display_name": def.name,
                "dependents": [],
            },
            "value": {
                "name": def.name,
                "value": redacted.get(def.name).cloned().or_else(|| def.default.map(str::to_string)),
                "recommended_values": [],
                "errors": errs,
                "visible": true,
            }
        }));
    }
    // Errors about keys without a definition (typos, cross-key rules) still count.
    for e in errors.iter() {
        if !config_definitions().iter().any(|d| d.name == e.key) {
            error_count += 1;
            configs.push(json!({
                "definition": {"name": e.key, "type": "STRING", "required": false,
                               "default_value": Value::Null, "importance": "LOW",
                               "documentation": "", "group": "Unknown", "order": configs.len(),
                               "width": "NONE", "display_name": e.key, "dependents": []},
                "value": {"name": e.key, "value": redacted.get(&e.key), "recommended_values": [],
                          "errors": [e.message.clone()], "visible": true}
            }));
        }
    }
    Json(json!({
        "name": CONNECTOR_CLASS,
        "error_count": error_count,
        "groups": groups,
        "configs": configs,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_says_starting_until_the_worker_has_started_then_healthy() {
        use actix::Actor;
        use tower::ServiceExt;
        let worker: BTreeMap<String, String> = [("bootstrap.servers", "127.0.0.1:9")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let worker = Arc::new(crate::config::WorkerConfig::from_map(&worker).unwrap());
        actix::System::new().block_on(async move {
            let supervisor = Supervisor::new(worker.clone(), "127.0.0.1:1".into()).start();
            let (started, rx) = watch::channel(false);
            let app = router(supervisor, RestAuth::Open, rx, worker);
            let get = |path: &str| {
                let request = axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap();
                let app = app.clone();
                async move {
                    let r = app.oneshot(request).await.unwrap();
                    let code = r.status().as_u16();
                    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
                        .await
                        .unwrap();
                    (code, serde_json::from_slice::<Value>(&body).unwrap())
                }
            };
            let (code, body) = get("/health").await;
            assert_eq!((code, &body["status"]), (503, &json!("starting")), "{body}");
            started.send_replace(true);
            let (code, body) = get("/health").await;
            assert_eq!((code, &body["status"]), (200, &json!("healthy")), "{body}");
            assert!(body["message"].is_string());
            let (code, body) = get("/connectors").await;
            assert_eq!((code, body), (200, json!([])));
        });
    }

    #[test]
    fn basic_and_bearer_credentials_are_checked() {
        use base64::Engine;
        let mut h = HeaderMap::new();
        let basic = RestAuth::Basic {
            username: "ops".into(),
            password: "s3cret".into(),
        };
        assert!(!authorized(&basic, &h));
        let good = base64::engine::general_purpose::STANDARD.encode("ops:s3cret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {good}").parse().unwrap(),
        );
        assert!(authorized(&basic, &h));
        let bearer = RestAuth::Bearer("tok".into());
        assert!(!authorized(&bearer, &h));
        h.insert(header::AUTHORIZATION, "Bearer tok".parse().unwrap());
        assert!(authorized(&bearer, &h));
        assert!(authorized(&RestAuth::Open, &HeaderMap::new()));
    }
}
