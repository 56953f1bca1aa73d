//! The Salesforce REST client: one logged-in session shared by every writer.
//!
//! [`SalesforceClient`] is a cheap handle (an `Arc` inside) that tokio tasks and actix
//! actors clone freely. Every REST call goes through [`SalesforceClient::execute`], the
//! one place that adds the Bearer token, logs in again once when Salesforce answers
//! 401 `INVALID_SESSION_ID`, reads `Sforce-Limit-Info` into a watch channel of
//! [`ApiUsage`], counts calls and reports each one to an optional [`CallObserver`]
//! (the metrics hook). The endpoint-specific calls live in `collections.rs`,
//! `describe.rs` and `bulk.rs`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::auth::{self, Credentials, Session};
use super::retry::{decide_call, Action, Backoff, Call, Policy, Retries};
use super::wire::{describe_transport_error, ApiError, AuthError, CallError, Endpoint};
use crate::config::Secret;

/// Longest part of an unexpected response body kept in an error.
const BODY_SNIPPET: usize = 500;

/// Which REST API version to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVersion {
    /// The highest version the org lists at `GET /services/data/`.
    Latest,
    /// A fixed version such as `"61.0"` (a leading `v` is accepted).
    Fixed(String),
}

/// An outbound HTTP proxy (`http.proxy*`).
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Proxy URL, e.g. `http://proxy:3128`.
    pub url: String,
    /// Basic-auth user (scheme `BASIC`).
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<Secret>,
}

/// Everything needed to build a [`SalesforceClient`].
#[derive(Clone)]
pub struct ClientOptions {
    /// Login endpoint (`salesforce.instance`), e.g. `https://login.salesforce.com`.
    pub login_url: String,
    /// How to log in.
    pub credentials: Credentials,
    /// REST API version.
    pub api_version: ApiVersion,
    /// Connect and request timeout (`connection.timeout`).
    pub connection_timeout: Duration,
    /// Retry budget for a login (`salesforce.auth.retries.time.ms`).
    pub auth_retry_budget: Duration,
    /// Outbound proxy.
    pub proxy: Option<ProxyOptions>,
    /// Receives one event per HTTP call (metrics).
    pub observer: Option<Arc<dyn CallObserver>>,
    /// `curl.logging`: log each call as an equivalent `curl` command.
    pub curl_logging: bool,
    /// Named on every call as `Sforce-Call-Options: client=<id>` (`sink.client.id`), so
    /// the org's change events say which writes came from the sink.
    pub call_client: Option<String>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("login_url", &self.login_url)
            .field("credentials", &self.credentials)
            .field("api_version", &self.api_version)
            .field("connection_timeout", &self.connection_timeout)
            .field("auth_retry_budget", &self.auth_retry_budget)
            .field("proxy", &self.proxy)
            .field("observer", &self.observer.is_some())
            .field("call_client", &self.call_client)
            .finish()
    }
}

impl ClientOptions {
    /// Options with the connector defaults: latest version, 30 s timeout, 30 s login budget.
    pub fn new(login_url: impl Into<String>, credentials: Credentials) -> Self {
        ClientOptions {
            login_url: login_url.into(),
            credentials,
            api_version: ApiVersion::Latest,
            connection_timeout: Duration::from_secs(30),
            auth_retry_budget: Duration::from_secs(30),
            proxy: None,
            observer: None,
            curl_logging: false,
            call_client: None,
        }
    }
}

/// The org's daily API usage as of the last response (`Sforce-Limit-Info: api-usage=used/max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    /// Requests used in the rolling 24 hours.
    pub used: u64,
    /// The daily allocation.
    pub max: u64,
}

impl ApiUsage {
    /// Requests left.
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }

    /// Share of the allocation left, in percent (0 when the max is 0).
    pub fn remaining_percent(&self) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            self.remaining() as f64 * 100.0 / self.max as f64
        }
    }

    /// Parses the header value; the `api-usage=` entry may be followed by others
    /// (`; per-app-api-usage=...`, `; api-bursts=...`), which are ignored.
    pub fn parse_header(value: &str) -> Option<ApiUsage> {
        value.split([';', ',']).map(str::trim).find_map(|part| {
            let rest = part.strip_prefix("api-usage=")?;
            let (used, max) = rest.split_once('/')?;
            Some(ApiUsage {
                used: used.trim().parse().ok()?,
                max: max.trim().parse().ok()?,
            })
        })
    }
}

/// One finished HTTP call, as the observer sees it.
#[derive(Debug, Clone)]
pub struct CallEvent {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// HTTP status; `None` when no response came (timeout, connect error).
    pub status: Option<u16>,
    /// Time from sending to the full response body.
    pub latency: Duration,
}

/// Receives every call (e.g. to feed Prometheus). Must be quick: it runs inline.
pub trait CallObserver: Send + Sync {
    /// Called once per HTTP call, including the retried one after a re-login.
    fn on_call(&self, event: &CallEvent);
    /// Called once per login (the first and every re-login).
    fn on_login(&self, _succeeded: bool) {}
}

/// Why [`SalesforceClient::connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built (bad proxy URL, TLS setup).
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
    /// The login failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The version list could not be read.
    #[error("cannot read the API versions: {0}")]
    Versions(#[source] CallError),
    /// The org lists no API version.
    #[error("the org lists no REST API version at /services/data/")]
    NoVersion,
}

/// A prepared REST call. Bodies are `Bytes` so a retry after re-login re-sends them
/// without copying.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub endpoint: Endpoint,
    pub method: Method,
    /// Relative to `/services/data/vNN.N` when it does not start with `/services/`.
    pub path: String,
    pub body: Option<Bytes>,
    pub content_type: &'static str,
    pub accept: &'static str,
}

impl ApiRequest {
    pub fn new(endpoint: Endpoint, method: Method, path: impl Into<String>) -> Self {
        ApiRequest {
            endpoint,
            method,
            path: path.into(),
            body: None,
            content_type: "application/json",
            accept: "application/json",
        }
    }

    pub fn json_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// A successful (status < 400) response.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    pub status: u16,
    pub body: Bytes,
}

struct SessionState {
    session: Session,
    generation: u64,
}

struct Inner {
    http: reqwest::Client,
    login_url: String,
    credentials: Credentials,
    auth_retry_budget: Duration,
    api_version: OnceLock<String>,
    session: parking_lot::RwLock<Arc<SessionState>>,
    /// Serialises re-logins so a burst of 401s costs one login, not one per call.
    relogin: tokio::sync::Mutex<()>,
    usage: watch::Sender<Option<ApiUsage>>,
    logins: AtomicU64,
    calls: AtomicU64,
    observer: Option<Arc<dyn CallObserver>>,
    curl_logging: bool,
    /// The `Sforce-Call-Options` header value, when a client id is configured.
    call_options: Option<reqwest::header::HeaderValue>,
}

/// A logged-in Salesforce REST client. Clone it freely.
#[derive(Clone)]
pub struct SalesforceClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for SalesforceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("instance_url", &self.instance_url())
            .field("api_version", &self.api_version())
            .finish()
    }
}

#[derive(Deserialize)]
struct VersionEntry {
    version: String,
}

impl SalesforceClient {
    /// Logs in and settles the API version (asking the org when it is `latest`).
    pub async fn connect(opts: ClientOptions) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(opts.connection_timeout)
            .timeout(opts.connection_timeout)
            .user_agent(concat!("sobject-sink/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = &opts.proxy {
            let mut p = reqwest::Proxy::all(proxy.url.as_str())
                .map_err(|e| ClientError::Http(e.to_string()))?;
            if let Some(user) = &proxy.username {
                p = p.basic_auth(
                    user,
                    proxy.password.as_ref().map(Secret::expose).unwrap_or(""),
                );
            }
            builder = builder.proxy(p);
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let session = auth::login(
            &http,
            &opts.login_url,
            &opts.credentials,
            opts.auth_retry_budget,
        )
        .await;
        if let Some(o) = &opts.observer {
            o.on_login(session.is_ok());
        }
        let session = session?;
        let call_options = match &opts.call_client {
            Some(id) => Some(
                reqwest::header::HeaderValue::from_str(&format!("client={id}"))
                    .map_err(|e| ClientError::Http(format!("sink.client.id={id}: {e}")))?,
            ),
            None => None,
        };
        let (usage, _) = watch::channel(None);
        let client = SalesforceClient {
            inner: Arc::new(Inner {
                http,
                login_url: opts.login_url,
                credentials: opts.credentials,
                auth_retry_budget: opts.auth_retry_budget,
                api_version: OnceLock::new(),
                session: parking_lot::RwLock::new(Arc::new(SessionState {
                    session,
                    generation: 0,
                })),
                relogin: tokio::sync::Mutex::new(()),
                usage,
                logins: AtomicU64::new(1),
                calls: AtomicU64::new(0),
                observer: opts.observer,
                curl_logging: opts.curl_logging,
                call_options,
            }),
        };
        let version = match opts.api_version {
            ApiVersion::Fixed(v) => v.trim_start_matches(['v', 'V']).to_string(),
            ApiVersion::Latest => client.latest_version(opts.auth_retry_budget).await?,
        };
        // Set once, right here, before the handle is shared.
        let _ = client.inner.api_version.set(version);
        Ok(client)
    }

    /// Reads the version list, retrying transient failures within the login budget
    /// (it is part of starting up, like the login).
    async fn latest_version(&self, budget: Duration) -> Result<String, ClientError> {
        let request = ApiRequest::new(Endpoint::Versions, Method::GET, "/services/data/");
        let mut retries = Retries::new(budget, Backoff::new());
        let response = loop {
            let e = match self.execute(&request).await {
                Ok(r) => break r,
                Err(e) => e,
            };
            match decide_call(&Policy::default(), Call::Read, &e) {
                Action::Retry { reason } if retries.wait().await => {
                    tracing::warn!(reason = %reason, "cannot read the API versions; retried");
                }
                _ => return Err(ClientError::Versions(e)),
            }
        };
        let versions: Vec<VersionEntry> = serde_json::from_slice(&response.body)
            .map_err(|e| ClientError::Versions(CallError::decode(Endpoint::Versions, e)))?;
        versions
            .into_iter()
            .filter_map(|v| parse_version(&v.version).map(|key| (key, v.version)))
            .max_by_key(|(key, _)| *key)
            .map(|(_, v)| v)
            .ok_or(ClientError::NoVersion)
    }

    /// The REST API version in use, e.g. `"61.0"`.
    pub fn api_version(&self) -> &str {
        self.inner
            .api_version
            .get()
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The org's base URL from the current session.
    pub fn instance_url(&self) -> String {
        self.inner.session.read().session.instance_url.clone()
    }

    /// Logins so far (the first one included).
    pub fn login_count(&self) -> u64 {
        self.inner.logins.load(Ordering::Relaxed)
    }

    /// HTTP calls made so far (logins not included).
    pub fn call_count(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// The org's API usage from the latest `Sforce-Limit-Info` header.
    pub fn api_usage(&self) -> watch::Receiver<Option<ApiUsage>> {
        self.inner.usage.subscribe()
    }

    /// `GET /limits`: the daily API allocation right now (`DailyApiRequests`), also
    /// published to [`SalesforceClient::api_usage`]. Useful before the first write,
    /// when no `Sforce-Limit-Info` header has been seen yet.
    pub async fn daily_api_limit(&self) -> Result<ApiUsage, CallError> {
        let response = self
            .execute(&ApiRequest::new(Endpoint::Limits, Method::GET, "/limits"))
            .await?;
        let limits: serde_json::Value = serde_json::from_slice(&response.body)
            .map_err(|e| CallError::decode(Endpoint::Limits, e))?;
        // Older API versions give the numbers as strings.
        let number = |v: &serde_json::Value| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        };
        let daily = &limits["DailyApiRequests"];
        let (Some(max), Some(remaining)) = (number(&daily["Max"]), number(&daily["Remaining"]))
        else {
            return Err(CallError::decode(
                Endpoint::Limits,
                "no DailyApiRequests Max/Remaining",
            ));
        };
        let usage = ApiUsage {
            used: max.saturating_sub(remaining),
            max,
        };
        self.inner.usage.send_replace(Some(usage));
        Ok(usage)
    }

    /// Sends one call; logs in again once on 401. Statuses of 400 and above come back
    /// as [`CallError::Http`] with the Salesforce error items parsed.
    pub(crate) async fn execute(&self, request: &ApiRequest) -> Result<ApiResponse, CallError> {
        let state = self.inner.session.read().clone();
        let first = self.send_once(request, &state.session).await?;
        let response = if first.status == 401 {
            tracing::info!(
                endpoint = request.endpoint.as_str(),
                "session expired or invalid; logging in again"
            );
            let fresh = self.relogin(state.generation, request.endpoint).await?;
            self.send_once(request, &fresh.session).await?
        } else {
            first
        };
        if response.status >= 400 {
            return Err(http_error(
                request.endpoint,
                response.status,
                &response.body,
            ));
        }
        Ok(response)
    }

    async fn relogin(
        &self,
        seen_generation: u64,
        endpoint: Endpoint,
    ) -> Result<Arc<SessionState>, CallError> {
        let _guard = self.inner.relogin.lock().await;
        let current = self.inner.session.read().clone();
        if current.generation != seen_generation {
            // Another call logged in while we waited for the lock: use its session.
            return Ok(current);
        }
        let inner = &self.inner;
        let result = auth::login(
            &inner.http,
            &inner.login_url,
            &inner.credentials,
            inner.auth_retry_budget,
        )
        .await;
        if let Some(o) = &inner.observer {
            o.on_login(result.is_ok());
        }
        let session = result.map_err(|source| CallError::Login {
            endpoint: endpoint.as_str(),
            source,
        })?;
        inner.logins.fetch_add(1, Ordering::Relaxed);
        let fresh = Arc::new(SessionState {
            session,
            generation: seen_generation + 1,
        });
        *inner.session.write() = fresh.clone();
        Ok(fresh)
    }

    fn url_for(&self, session: &Session, path: &str) -> String {
        if path.starts_with("/services/") {
            format!("{}{}", session.instance_url, path)
        } else {
            format!(
                "{}/services/data/v{}{}",
                session.instance_url,
                self.api_version(),
                path
            )
        }
    }

    async fn send_once(
        &self,
        request: &ApiRequest,
        session: &Session,
    ) -> Result<ApiResponse, CallError> {
        let url = self.url_for(session, &request.path);
        if self.inner.curl_logging {
            tracing::info!("{}", curl_line(request, &url));
        }
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url)
            .bearer_auth(session.access_token.expose())
            .header(reqwest::header::ACCEPT, request.accept);
        if let Some(options) = &self.inner.call_options {
            builder = builder.header("Sforce-Call-Options", options.clone());
        }
        if let Some(body) = &request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, request.content_type)
                .body(body.clone());
        }
        let started = Instant::now();
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let result = async {
            let response = builder.send().await?;
            let status = response.status().as_u16();
            let usage = response
                .headers()
                .get("sforce-limit-info")
                .and_then(|v| v.to_str().ok())
                .and_then(ApiUsage::parse_header);
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, usage, body))
        }
        .await;
        let latency = started.elapsed();
        let endpoint = request.endpoint;
        match result {
            Ok((status, usage, body)) => {
                if let Some(usage) = usage {
                    self.inner.usage.send_if_modified(|current| {
                        let changed = *current != Some(usage);
                        *current = Some(usage);
                        changed
                    });
                }
                self.observe(endpoint, Some(status), latency);
                Ok(ApiResponse { status, body })
            }
            Err(e) => {
                self.observe(endpoint, None, latency);
                Err(transport_error(endpoint, &e))
            }
        }
    }

    fn observe(&self, endpoint: Endpoint, status: Option<u16>, latency: Duration) {
        if let Some(o) = &self.inner.observer {
            o.on_call(&CallEvent {
                endpoint,
                status,
                latency,
            });
        }
    }
}

/// Orders `"61.0"`-style versions numerically (`"9.0"` < `"10.0"`).
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Builds [`CallError::Http`], reading Salesforce's error array when there is one.
pub(crate) fn http_error(endpoint: Endpoint, status: u16, body: &[u8]) -> CallError {
    let errors = serde_json::from_slice::<Vec<ApiError>>(body).unwrap_or_default();
    let text = String::from_utf8_lossy(body);
    let snippet: String = text.chars().take(BODY_SNIPPET).collect();
    CallError::Http {
        endpoint: endpoint.as_str(),
        status,
        errors,
        body: snippet,
    }
}

/// `request` as the `curl` command that would send it (`curl.logging`), with the
/// bearer token shown as `[hidden]` and the body as its size: records hold personal
/// data, and tokens must never reach a log.
fn curl_line(request: &ApiRequest, url: &str) -> String {
    let mut line = format!(
        "curl -X {} '{url}' -H 'Authorization: Bearer [hidden]' -H 'Accept: {}'",
        request.method, request.accept
    );
    if let Some(body) = &request.body {
        line.push_str(&format!(
            " -H 'Content-Type: {}' --data-binary @body.json  # body: {} bytes, not logged",
            request.content_type,
            body.len()
        ));
    }
    line
}

fn transport_error(endpoint: Endpoint, e: &reqwest::Error) -> CallError {
    let message = describe_transport_error(e);
    let endpoint = endpoint.as_str();
    if e.is_timeout() {
        CallError::Timeout { endpoint, message }
    } else if e.is_connect() {
        CallError::Connect { endpoint, message }
    } else {
        CallError::Transport { endpoint, message }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_curl_line_names_the_call_and_hides_token_and_body() {
        let request = ApiRequest::new(
            Endpoint::CollectionsCreate,
            Method::POST,
            "/composite/sobjects",
        )
        .json_body(r#"{"records":[{"Email":"a@b.c"}]}"#);
        let line = curl_line(
            &request,
            "https://org/services/data/v60.0/composite/sobjects",
        );
        assert!(
            line.starts_with("curl -X POST 'https://org/services/data/v60.0/composite/sobjects'"),
            "{line}"
        );
        assert!(
            line.contains("Bearer [hidden]") && line.contains("31 bytes"),
            "{line}"
        );
        assert!(!line.contains("a@b.c"), "{line}");
    }

    use super::*;
    use crate::salesforce::test_org::TestOrg;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn limit_header_is_parsed_with_extra_entries() {
        assert_eq!(
            ApiUsage::parse_header("api-usage=18/5000"),
            Some(ApiUsage {
                used: 18,
                max: 5000
            })
        );
        assert_eq!(
            ApiUsage::parse_header("api-usage=25/5000; per-app-api-usage=17/250(appName=x)"),
            Some(ApiUsage {
                used: 25,
                max: 5000
            })
        );
        assert_eq!(
            ApiUsage::parse_header("per-app-api-usage=17/250(appName=x)"),
            None
        );
        assert_eq!(ApiUsage::parse_header("api-usage=x/5"), None);
        assert_eq!(ApiUsage { used: 75, max: 100 }.remaining_percent(), 25.0);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10.0") > parse_version("9.0"));
        assert!(parse_version("61.0") > parse_version("60.5"));
        assert_eq!(parse_version("abc"), None);
    }

    #[tokio::test]
    async fn latest_version_is_the_highest_listed() {
        let org = TestOrg::start(axum::Router::new()).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        assert_eq!(client.api_version(), "61.0");
        assert_eq!(client.login_count(), 1);
        let fixed = SalesforceClient::connect(ClientOptions {
            api_version: ApiVersion::Fixed("v58.0".into()),
            ..org.options()
        })
        .await
        .unwrap();
        assert_eq!(fixed.api_version(), "58.0");
    }

    #[derive(Default)]
    struct Recorder(parking_lot::Mutex<Vec<(Endpoint, Option<u16>)>>);
    impl CallObserver for Recorder {
        fn on_call(&self, e: &CallEvent) {
            self.0.lock().push((e.endpoint, e.status));
        }
    }

    #[tokio::test]
    async fn expired_session_logs_in_once_and_retries_the_call() {
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let router = axum::Router::new().route(
            "/services/data/v61.0/query",
            get(move |headers: HeaderMap| {
                let h = h.clone();
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
                    // The test org numbers its tokens; the first one is "expired".
                    if auth == "Bearer token-1" {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [("sforce-limit-info", "api-usage=5/100")],
                            r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
                        )
                            .into_response();
                    }
                    ([("sforce-limit-info", "api-usage=6/100")], r#"{"totalSize":0,"done":true,"records":[]}"#)
                        .into_response()
                }
            }),
        );
        let org = TestOrg::start(router).await;
        let recorder = Arc::new(Recorder::default());
        let client = SalesforceClient::connect(ClientOptions {
            observer: Some(recorder.clone()),
            ..org.options()
        })
        .await
        .unwrap();
        let usage = client.api_usage();
        let rows = client.query("SELECT Id FROM Lead").await.unwrap();
        assert!(rows.is_empty());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(client.login_count(), 2);
        assert_eq!(org.logins.load(Ordering::SeqCst), 2);
        assert_eq!(*usage.borrow(), Some(ApiUsage { used: 6, max: 100 }));
        let seen = recorder.0.lock().clone();
        assert_eq!(
            seen.iter().filter(|(e, _)| *e == Endpoint::Query).count(),
            2
        );
        assert!(seen.contains(&(Endpoint::Query, Some(401))));
    }

    #[tokio::test]
    async fn a_second_401_after_login_is_an_error_not_a_loop() {
        let router = axum::Router::new().route(
            "/services/data/v61.0/query",
            get(|| async {
                (StatusCode::UNAUTHORIZED, r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#)
            }),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let err = client.query("SELECT Id FROM Lead").await.unwrap_err();
        assert_eq!(err.status(), Some(401));
        assert_eq!(err.api_errors()[0].status_code, "INVALID_SESSION_ID");
        assert_eq!(client.login_count(), 2);
    }

    #[tokio::test]
    async fn concurrent_401s_share_one_relogin() {
        let router = axum::Router::new().route(
            "/services/data/v61.0/query",
            get(|headers: HeaderMap| async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if auth == "Bearer token-1" {
                    (
                        StatusCode::UNAUTHORIZED,
                        r#"[{"errorCode":"INVALID_SESSION_ID","message":"x"}]"#,
                    )
                        .into_response()
                } else {
                    r#"{"totalSize":0,"done":true,"records":[]}"#.into_response()
                }
            }),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let calls = (0..8).map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.query("SELECT Id FROM Lead").await })
        });
        for call in futures::future::join_all(calls).await {
            call.unwrap().unwrap();
        }
        assert_eq!(client.login_count(), 2);
    }

    #[tokio::test]
    async fn proxy_settings_route_every_call_through_the_proxy_with_basic_auth() {
        // The test org doubles as the proxy: an HTTP proxy receives absolute-form
        // requests, which axum routes by path. The login host does not resolve, so
        // the login can only succeed through the proxy.
        let org = TestOrg::start(axum::Router::new()).await;
        let opts = ClientOptions {
            login_url: "http://login.unresolvable.invalid".into(),
            proxy: Some(ProxyOptions {
                url: org.base.clone(),
                username: Some("proxyuser".into()),
                password: Some(Secret::new("proxypass")),
            }),
            ..org.options()
        };
        let client = SalesforceClient::connect(opts).await.unwrap();
        assert_eq!(client.api_version(), "61.0");
        let header = org.proxy_auth.lock().unwrap().clone().unwrap();
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.encode("proxyuser:proxypass");
        assert_eq!(header, format!("Basic {expected}"));
    }

    #[test]
    fn options_debug_output_hides_every_secret() {
        let mut opts = ClientOptions::new(
            "https://login.salesforce.com",
            Credentials::Password {
                username: "u".into(),
                password: Secret::new("pw-secret"),
                security_token: Some(Secret::new("tok-secret")),
                client_id: "ck".into(),
                client_secret: Secret::new("cs-secret"),
            },
        );
        opts.proxy = Some(ProxyOptions {
            url: "http://p".into(),
            username: None,
            password: Some(Secret::new("px-secret")),
        });
        let text = format!("{opts:?}");
        assert!(!text.contains("-secret"), "{text}");
        assert!(text.contains("[hidden]"));
    }

    /// Writers run in tokio tasks and actix actors: the handle and every call's
    /// future must cross threads. This fails to compile otherwise.
    #[allow(dead_code)]
    fn client_and_its_futures_are_send_and_sync(
        client: &SalesforceClient,
        cache: &crate::salesforce::describe::DescribeCache,
    ) {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        send_sync(client);
        send_sync(cache);
        let rows: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
        send(client.create(&rows, false));
        send(client.upsert("Lead", "CustomId__c", &rows, false));
        send(client.delete(&[], false));
        send(client.find_ids_by_external_id("Lead", "CustomId__c", &[]));
        send(cache.get_or_fetch(client, "Lead"));
        send(client.bulk_ingest(
            "Lead",
            &crate::salesforce::bulk::BulkOperation::Insert,
            rows.clone(),
            &crate::salesforce::bulk::BulkOptions::default(),
        ));
        send(SalesforceClient::connect(ClientOptions::new(
            "http://x",
            Credentials::ClientCredentials {
                client_id: "c".into(),
                client_secret: Secret::new("s"),
            },
        )));
    }

    #[tokio::test]
    async fn daily_limit_is_read_from_limits_with_string_numbers_too() {
        let router = axum::Router::new().route(
            "/services/data/v61.0/limits",
            get(|| async {
                axum::Json(
                    serde_json::json!({"DailyApiRequests": {"Max": "15000", "Remaining": 14998},
                    "DataStorageMB": {"Max": 5, "Remaining": 5}}),
                )
            }),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let usage = client.daily_api_limit().await.unwrap();
        assert_eq!(
            usage,
            ApiUsage {
                used: 2,
                max: 15000
            }
        );
        assert_eq!(*client.api_usage().borrow(), Some(usage));
    }

    #[tokio::test]
    async fn error_bodies_become_api_errors() {
        let e = http_error(
            Endpoint::Describe,
            404,
            br#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#,
        );
        assert_eq!(e.api_errors()[0].status_code, "NOT_FOUND");
        assert!(e.to_string().contains("HTTP 404 NOT_FOUND"), "{e}");
        let html = http_error(Endpoint::Describe, 502, b"<html>Bad Gateway</html>");
        assert!(html.api_errors().is_empty());
        assert!(html.to_string().contains("Bad Gateway"));
    }
}
