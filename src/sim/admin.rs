//! The admin API under `/__sim/` (not part of Salesforce; no auth, not counted, never
//! faulted): read rows including deleted ones and their write history, call counters,
//! reset, fault plan, token revocation, allocation, history switch and schema changes.
//! The wire types here are shared with [`crate::sim::admin_client`].

use crate::sim::faults::FaultPlan;
use crate::sim::org::{Allocation, FieldPatch, Org};
use crate::sim::reply;
use crate::sim::schema::{DuplicateRule, FieldDef};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Who and where an org is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgInfo {
    /// Short name.
    pub name: String,
    /// Base URL (also the login URL and `instance_url`).
    pub base_url: String,
    /// Integration user's login name.
    pub username: String,
    /// 18-character org Id.
    pub org_id: String,
    /// 18-character user Id.
    pub user_id: String,
    /// OAuth consumer key.
    pub consumer_key: String,
}

/// Calls per endpoint key and the API units spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CallCounters {
    /// Calls received per endpoint key (faulted ones included).
    pub calls: BTreeMap<String, u64>,
    /// Daily API units spent.
    pub api_units_used: u64,
    /// Daily API maximum.
    pub api_units_max: u64,
}

impl CallCounters {
    /// Calls of one endpoint key (0 when never called).
    pub fn of(&self, key: &str) -> u64 {
        self.calls.get(key).copied().unwrap_or_default()
    }
}

/// Change of the daily allocation; absent members stay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsUpdate {
    /// New maximum.
    pub max: Option<u64>,
    /// New spent count.
    pub used: Option<u64>,
}

/// Whether write history is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistorySetting {
    /// On or off.
    pub enabled: bool,
}

/// Which tokens to revoke: one, or all when `token` is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// The token to revoke.
    pub token: Option<String>,
}

/// How many tokens were revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeResult {
    /// Count.
    pub revoked: usize,
}

/// An admin error answer: status and message.
#[derive(Debug)]
struct AdminError {
    status: StatusCode,
    message: String,
}

impl AdminError {
    fn into_response(self) -> Response {
        reply::json(self.status, &json!({"error": self.message}))
    }
}

fn bad_request(message: impl Into<String>) -> AdminError {
    AdminError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

fn not_found(message: impl Into<String>) -> AdminError {
    AdminError {
        status: StatusCode::NOT_FOUND,
        message: message.into(),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| bad_request(format!("bad JSON body: {e}")))
}

fn counters(org: &Org) -> CallCounters {
    let a = *org.allocation.lock();
    CallCounters {
        calls: org.counters.lock().clone(),
        api_units_used: a.used,
        api_units_max: a.max,
    }
}

fn row_json(row: crate::sim::store::Row) -> Value {
    Value::Object(row.into_json_map())
}

/// Serves one admin request; `segs` are the path segments after `__sim`.
pub fn handle(
    org: &Org,
    method: &Method,
    segs: &[String],
    _query: &[(String, String)],
    body: &[u8],
) -> Response {
    respond(org, method, segs, body).unwrap_or_else(AdminError::into_response)
}

fn respond(
    org: &Org,
    method: &Method,
    segs: &[String],
    body: &[u8],
) -> Result<Response, AdminError> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method.clone(), s.as_slice()) {
        (Method::GET, ["org"]) => ok(&OrgInfo {
            name: org.config.name.clone(),
            base_url: org.base_url.clone(),
            username: org.config.username.clone(),
            org_id: org.org_id.clone(),
            user_id: org.user_id.clone(),
            consumer_key: org.config.consumer_key.clone(),
        }),
        (Method::GET, ["sobjects", t, "rows"]) => {
            let data = org.data.lock();
            let def = data
                .schema
                .sobject(t)
                .ok_or_else(|| not_found(format!("no SObject {t}")))?;
            let rows: Vec<Value> = data
                .tables
                .get(&def.name)
                .map(|tb| {
                    tb.rows_in_order()
                        .into_iter()
                        .map(|r| row_json(r.to_row()))
                        .collect()
                })
                .unwrap_or_default();
            ok(&rows)
        }
        (Method::GET, ["sobjects", t, "rows", id]) => {
            let data = org.data.lock();
            let def = data
                .schema
                .sobject(t)
                .ok_or_else(|| not_found(format!("no SObject {t}")))?;
            let id18 =
                crate::salesforce::id::normalize(id).map_err(|e| bad_request(e.to_string()))?;
            let row = data
                .tables
                .get(&def.name)
                .and_then(|tb| tb.get(&id18))
                .ok_or_else(|| not_found(format!("no row {id}")))?;
            ok(&row_json(row))
        }
        (Method::GET, ["sobjects", t, "rows", id, "history"]) => {
            let data = org.data.lock();
            let def = data
                .schema
                .sobject(t)
                .ok_or_else(|| not_found(format!("no SObject {t}")))?;
            let id18 =
                crate::salesforce::id::normalize(id).map_err(|e| bad_request(e.to_string()))?;
            let row = data
                .tables
                .get(&def.name)
                .and_then(|tb| tb.view(&id18))
                .ok_or_else(|| not_found(format!("no row {id}")))?;
            ok(&row.history())
        }
        (Method::GET, ["counters"]) => ok(&counters(org)),
        (Method::POST, ["reset"]) => {
            org.reset();
            ok(&counters(org))
        }
        (Method::GET, ["faults"]) => ok(org.faults.lock().plan()),
        (Method::PUT, ["faults"]) => {
            let plan: FaultPlan = parse(body)?;
            org.set_faults(plan.clone());
            ok(&plan)
        }
        (Method::POST, ["tokens", "revoke"]) => {
            let req: RevokeRequest = parse(body)?;
            let mut tokens = org.tokens.lock();
            let revoked = match req.token {
                Some(t) => usize::from(tokens.revoke(&t)),
                None => tokens.revoke_all(),
            };
            ok(&RevokeResult { revoked })
        }
        (Method::POST, ["tokens", "expire"]) => {
            org.tokens.lock().expire_all();
            Ok(reply::empty(StatusCode::NO_CONTENT))
        }
        (Method::GET, ["limits"]) => ok(&*org.allocation.lock()),
        (Method::PUT, ["limits"]) => {
            let upd: LimitsUpdate = parse(body)?;
            let mut a = org.allocation.lock();
            if let Some(m) = upd.max {
                a.max = m;
            }
            if let Some(u) = upd.used {
                a.used = u;
            }
            let now: Allocation = *a;
            ok(&now)
        }
        (Method::GET, ["history"]) => ok(&HistorySetting {
            enabled: org.data.lock().history,
        }),
        (Method::PUT, ["history"]) => {
            let h: HistorySetting = parse(body)?;
            org.data.lock().history = h.enabled;
            ok(&h)
        }
        (Method::GET, ["schema"]) => ok(&org.data.lock().schema),
        (Method::POST, ["schema", "duplicate-rules"]) => {
            let rule: DuplicateRule = parse(body)?;
            org.data
                .lock()
                .add_duplicate_rule(rule.clone())
                .map_err(|e| bad_request(e.to_string()))?;
            ok(&rule)
        }
        (Method::POST, ["schema", t, "fields"]) => {
            let mut field: FieldDef = parse(body)?;
            field.resolve();
            org.data
                .lock()
                .add_field(t, field.clone())
                .map_err(|e| bad_request(e.to_string()))?;
            ok(&field)
        }
        (Method::PATCH, ["schema", t, "fields", f]) => {
            let patch: FieldPatch = parse(body)?;
            let mut data = org.data.lock();
            data.patch_field(t, f, &patch)
                .map_err(|e| bad_request(e.to_string()))?;
            let field = data
                .schema
                .sobject(t)
                .and_then(|s| s.field(f))
                .cloned()
                .ok_or_else(|| not_found(format!("no field {f}")))?;
            ok(&field)
        }
        _ => Err(not_found(format!(
            "no admin resource {method} /__sim/{}",
            segs.join("/")
        ))),
    }
}

/// A 200 JSON answer.
fn ok<T: Serialize + ?Sized>(value: &T) -> Result<Response, AdminError> {
    Ok(reply::json(StatusCode::OK, value))
}
