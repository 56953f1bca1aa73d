//! What every simulator test shares: a simulator started in-process on port 0, a logged-in
//! HTTP client, answers read as JSON, record builders and a poll-until-deadline helper.

pub use reqwest::{Method, StatusCode};
pub use serde_json::{json, Value};
pub use sobject_sink::salesforce::id;
pub use sobject_sink::sim::admin::LimitsUpdate;
pub use sobject_sink::sim::org::FieldPatch;
pub use sobject_sink::sim::schema::{DuplicateRule, FieldDef, FieldType};
pub use sobject_sink::sim::{
    self, FaultKind, FaultPlan, OrgConfig, ScriptedFault, SimAdmin, SimConfig, SimHandle,
};
use std::future::Future;
pub use std::time::Duration;

/// The API version every test calls.
pub const V: &str = "v62.0";

/// A simulator serving one org, and a client logged in to it.
pub struct Sim {
    pub handle: SimHandle,
    pub base: String,
    pub admin: SimAdmin,
    pub http: reqwest::Client,
    pub token: String,
}

/// An answer: status, headers, body as JSON (null when it is none) and as text.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The `errorCode` of a single-request error answer.
    pub fn code(&self) -> &str {
        self.body[0]["errorCode"].as_str().unwrap_or_default()
    }

    /// `(used, max)` of the `Sforce-Limit-Info` header.
    pub fn units(&self) -> (u64, u64) {
        let v = self.headers["sforce-limit-info"].to_str().unwrap();
        let rest = v.strip_prefix("api-usage=").expect("api-usage= first");
        let (used, max) = rest.split_once('/').unwrap();
        (used.parse().unwrap(), max.parse().unwrap())
    }
}

/// The default org with instant Bulk jobs and write history on.
pub fn test_org(name: &str) -> OrgConfig {
    let mut org = OrgConfig::named(name, "127.0.0.1:0".parse().unwrap());
    org.bulk_delay_ms = 0;
    org.history = true;
    org
}

/// Starts `org` on port 0 and logs in.
pub async fn start_with(org: OrgConfig) -> Sim {
    let handle = sim::start(SimConfig::single(org.clone())).await.unwrap();
    let base = handle.base_url(&org.name).unwrap();
    let admin = handle.admin(&org.name).unwrap();
    let http = reqwest::Client::new();
    let mut s = Sim {
        handle,
        base,
        admin,
        http,
        token: String::new(),
    };
    s.token = s.login().await;
    s
}

/// Starts the default test org `b`.
pub async fn start() -> Sim {
    start_with(test_org("b")).await
}

impl Sim {
    /// Posts a form to the token endpoint.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Reply {
        let r = self
            .http
            .post(format!("{}/services/oauth2/token", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        to_reply(r).await
    }

    /// Logs in with the password flow and answers the access token.
    pub async fn login(&self) -> String {
        let r = self
            .token_request(&[
                ("grant_type", "password"),
                ("client_id", "sim-consumer-key"),
                ("client_secret", "sim-consumer-secret"),
                ("username", "integration@org-b.example"),
                ("password", "sim-passwordSIMTOKEN"),
            ])
            .await;
        if r.status != StatusCode::OK {
            // Orgs other than `b` have their own username.
            let info = self.admin.org_info().await.unwrap();
            let r = self
                .token_request(&[
                    ("grant_type", "password"),
                    ("client_id", "sim-consumer-key"),
                    ("username", info.username.as_str()),
                    ("password", "sim-passwordSIMTOKEN"),
                ])
                .await;
            return r.body["access_token"].as_str().unwrap().to_string();
        }
        r.body["access_token"].as_str().unwrap().to_string()
    }

    /// Calls `path` under `/services/data/vXX.X/` with the session token.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_with(method, path, body, &self.token).await
    }

    /// Calls `path` with the given token.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}/services/data/{V}/{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        to_reply(req.send().await.unwrap()).await
    }

    /// Calls `path` with extra request headers.
    pub async fn call_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}/services/data/{V}/{path}", self.base))
            .bearer_auth(&self.token);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        to_reply(req.send().await.unwrap()).await
    }

    /// `POST composite` with `allOrNone` and the subrequests.
    pub async fn composite(&self, all_or_none: bool, subrequests: Vec<Value>) -> Reply {
        self.call(
            Method::POST,
            "composite",
            Some(json!({"allOrNone": all_or_none, "compositeRequest": subrequests})),
        )
        .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    /// `POST sobjects/{t}/`.
    pub async fn create(&self, t: &str, body: Value) -> Reply {
        self.call(Method::POST, &format!("sobjects/{t}/"), Some(body))
            .await
    }

    /// Creates a record that must be accepted, answering its Id.
    pub async fn created_id(&self, t: &str, body: Value) -> String {
        let r = self.create(t, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// A Collections call with `allOrNone` and records.
    pub async fn collections(
        &self,
        method: Method,
        path: &str,
        all_or_none: bool,
        records: Vec<Value>,
    ) -> Reply {
        self.call(
            method,
            path,
            Some(json!({"allOrNone": all_or_none, "records": records})),
        )
        .await
    }

    /// Waits for a Bulk job to reach a final state, answering its JobInfo.
    pub async fn wait_for_job(&self, job: &str) -> Value {
        poll(
            &format!("Bulk job {job} to finish"),
            Duration::from_secs(5),
            || async {
                let r = self.get(&format!("jobs/ingest/{job}")).await;
                let state = r.body["state"].as_str().unwrap_or_default();
                matches!(state, "JobComplete" | "Failed" | "Aborted").then_some(r.body)
            },
        )
        .await
    }
}

/// Reads an HTTP answer.
pub async fn to_reply(r: reqwest::Response) -> Reply {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// A Lead with its required fields.
pub fn lead(last: &str) -> Value {
    json!({"LastName": last, "Company": "Northwind"})
}

/// `base` with the members of `extra` added.
pub fn with(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut base, extra) {
        a.extend(b);
    }
    base
}

/// A composite subrequest calling `path` under `/services/data/vXX.X/`.
pub fn sub(method: &str, path: &str, reference_id: &str, body: Option<Value>) -> Value {
    let mut v = json!({
        "method": method,
        "url": format!("/services/data/{V}/{path}"),
        "referenceId": reference_id,
    });
    if let (Some(b), Value::Object(m)) = (body, &mut v) {
        m.insert("body".into(), b);
    }
    v
}

/// A Collections record of SObject `t`.
pub fn typed(t: &str, v: Value) -> Value {
    with(json!({"attributes": {"type": t}}), v)
}

/// An Id with a valid checksum that no row has.
pub fn unused_id(prefix: &str) -> String {
    id::to_18(&format!("{prefix}5e0zzzzzzzzz")).unwrap()
}

/// Asks `probe` every 10 ms until it answers `Some`, and fails the test, naming `what`,
/// when `within` has passed without an answer.
pub async fn poll<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
