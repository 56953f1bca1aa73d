//! Request routing and the pipeline every REST call goes through: count the call, apply
//! the fault plan (latency, scripted and random faults), check the bearer token, spend
//! one unit of the daily allocation, run the resource, stamp `Sforce-Limit-Info`.
//!
//! Paths are matched by hand on their segments, which makes trailing slashes and the
//! API version (`vNN.N`) free, as on a real org.

use crate::sim::auth;
use crate::sim::faults::FaultKind;
use crate::sim::org::{Allocation, Org};
use crate::sim::reply::{self, ApiError};
use crate::sim::server::ConnectionKill;
use crate::sim::transaction::{DataGuard, Ledger};
use crate::sim::writes::UndoLog;
use crate::sim::{admin, bulk, collections, composite, query, rest};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

/// Largest request body accepted (Bulk uploads may be large).
pub const MAX_BODY_BYTES: usize = 150 * 1024 * 1024;

/// Which Bulk result file is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// `successfulResults`.
    Successful,
    /// `failedResults`.
    Failed,
    /// `unprocessedrecords`.
    Unprocessed,
}

/// A recognised REST resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /limits`.
    Limits,
    /// `GET /sobjects`.
    DescribeGlobal,
    /// `GET /sobjects/{T}`.
    SObjectInfo(String),
    /// `GET /sobjects/{T}/describe`.
    Describe(String),
    /// `POST /sobjects/{T}`.
    Create(String),
    /// `GET /sobjects/{T}/{id}`.
    Get(String, String),
    /// `PATCH /sobjects/{T}/{id}`.
    Update(String, String),
    /// `DELETE /sobjects/{T}/{id}`.
    Delete(String, String),
    /// `GET /sobjects/{T}/{field}/{value}`.
    GetByExternalId(String, String, String),
    /// `PATCH /sobjects/{T}/{field}/{value}`.
    Upsert(String, String, String),
    /// `DELETE /sobjects/{T}/{field}/{value}`.
    DeleteByExternalId(String, String, String),
    /// `POST /composite/sobjects`.
    CollectionsCreate,
    /// `PATCH /composite/sobjects`.
    CollectionsUpdate,
    /// `DELETE /composite/sobjects`.
    CollectionsDelete,
    /// `PATCH /composite/sobjects/{T}/{field}`.
    CollectionsUpsert(String, String),
    /// `GET|POST /composite/sobjects/{T}`.
    CollectionsRetrieve(String),
    /// `POST /composite`.
    Composite,
    /// `GET /query`.
    Query,
    /// `POST /jobs/ingest`.
    BulkCreate,
    /// `GET /jobs/ingest`.
    BulkList,
    /// `GET /jobs/ingest/{id}`.
    BulkGet(String),
    /// `PUT /jobs/ingest/{id}/batches`.
    BulkUpload(String),
    /// `PATCH /jobs/ingest/{id}`.
    BulkUpdateState(String),
    /// `DELETE /jobs/ingest/{id}`.
    BulkDelete(String),
    /// `GET /jobs/ingest/{id}/<results>`.
    BulkResults(String, ResultKind),
}

impl Route {
    /// Recognises a resource from its method and the path segments after `vNN.N`.
    pub fn parse(method: &Method, segs: &[String]) -> Result<Route, ApiError> {
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        let m = method.clone();
        let not_allowed = || {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("HTTP Method '{m}' not allowed."),
            )
        };
        let own = |x: &str| x.to_string();
        let route = match s.as_slice() {
            ["limits"] => match *method {
                Method::GET => Route::Limits,
                _ => return Err(not_allowed()),
            },
            ["sobjects"] => match *method {
                Method::GET => Route::DescribeGlobal,
                _ => return Err(not_allowed()),
            },
            ["sobjects", t] => match *method {
                Method::GET => Route::SObjectInfo(own(t)),
                Method::POST => Route::Create(own(t)),
                _ => return Err(not_allowed()),
            },
            ["sobjects", t, "describe"] => match *method {
                Method::GET => Route::Describe(own(t)),
                _ => return Err(not_allowed()),
            },
            ["sobjects", t, id] => match *method {
                Method::GET => Route::Get(own(t), own(id)),
                Method::PATCH => Route::Update(own(t), own(id)),
                Method::DELETE => Route::Delete(own(t), own(id)),
                _ => return Err(not_allowed()),
            },
            ["sobjects", t, f, v] => match *method {
                Method::GET => Route::GetByExternalId(own(t), own(f), own(v)),
                Method::PATCH => Route::Upsert(own(t), own(f), own(v)),
                Method::DELETE => Route::DeleteByExternalId(own(t), own(f), own(v)),
                _ => return Err(not_allowed()),
            },
            ["composite"] => match *method {
                Method::POST => Route::Composite,
                _ => return Err(not_allowed()),
            },
            ["composite", "sobjects"] => match *method {
                Method::POST => Route::CollectionsCreate,
                Method::PATCH => Route::CollectionsUpdate,
                Method::DELETE => Route::CollectionsDelete,
                _ => return Err(not_allowed()),
            },
            ["composite", "sobjects", t] => match *method {
                Method::GET | Method::POST => Route::CollectionsRetrieve(own(t)),
                _ => return Err(not_allowed()),
            },
            ["composite", "sobjects", t, f] => match *method {
                Method::PATCH => Route::CollectionsUpsert(own(t), own(f)),
                _ => return Err(not_allowed()),
            },
            ["query"] => match *method {
                Method::GET => Route::Query,
                _ => return Err(not_allowed()),
            },
            ["jobs", "ingest"] => match *method {
                Method::POST => Route::BulkCreate,
                Method::GET => Route::BulkList,
                _ => return Err(not_allowed()),
            },
            ["jobs", "ingest", id] => match *method {
                Method::GET => Route::BulkGet(own(id)),
                Method::PATCH => Route::BulkUpdateState(own(id)),
                Method::DELETE => Route::BulkDelete(own(id)),
                _ => return Err(not_allowed()),
            },
            ["jobs", "ingest", id, "batches"] => match *method {
                Method::PUT => Route::BulkUpload(own(id)),
                _ => return Err(not_allowed()),
            },
            ["jobs", "ingest", id, kind] => {
                let kind = match *kind {
                    "successfulResults" => ResultKind::Successful,
                    "failedResults" => ResultKind::Failed,
                    "unprocessedrecords" => ResultKind::Unprocessed,
                    _ => return Err(ApiError::no_resource()),
                };
                match *method {
                    Method::GET => Route::BulkResults(own(id), kind),
                    _ => return Err(not_allowed()),
                }
            }
            _ => return Err(ApiError::no_resource()),
        };
        Ok(route)
    }

    /// The counter key of this resource, also the endpoint class scripts match.
    pub fn key(&self) -> &'static str {
        match self {
            Route::Limits => "limits",
            Route::DescribeGlobal => "sobjects.describe_global",
            Route::SObjectInfo(_) => "sobject.info",
            Route::Describe(_) => "sobject.describe",
            Route::Create(_) => "sobject.create",
            Route::Get(..) => "sobject.get",
            Route::Update(..) => "sobject.update",
            Route::Delete(..) => "sobject.delete",
            Route::GetByExternalId(..) => "sobject.get_by_external_id",
            Route::Upsert(..) => "sobject.upsert",
            Route::DeleteByExternalId(..) => "sobject.delete_by_external_id",
            Route::CollectionsCreate => "collections.create",
            Route::CollectionsUpdate => "collections.update",
            Route::CollectionsDelete => "collections.delete",
            Route::CollectionsUpsert(..) => "collections.upsert",
            Route::CollectionsRetrieve(_) => "collections.retrieve",
            Route::Composite => "composite",
            Route::Query => "query",
            Route::BulkCreate => "bulk.create_job",
            Route::BulkList => "bulk.list_jobs",
            Route::BulkGet(_) => "bulk.get_job",
            Route::BulkUpload(_) => "bulk.upload",
            Route::BulkUpdateState(_) => "bulk.update_state",
            Route::BulkDelete(_) => "bulk.delete_job",
            Route::BulkResults(..) => "bulk.results",
        }
    }
}

/// Everything a resource handler needs about one authenticated call.
pub struct Call<'a> {
    /// The org.
    pub org: &'a Arc<Org>,
    /// API version from the path, without the `v`.
    pub version: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Request body.
    pub body: &'a [u8],
    /// A scripted `UNABLE_TO_LOCK_ROW` fault applies to every record.
    pub lock_all: bool,
    /// Per-record lock-failure probability.
    pub lock_rate: f64,
    /// The allocation after this call was counted.
    pub allocation: Allocation,
    /// The composite request's transaction, when this call is one of its subrequests.
    pub tx: Option<&'a dyn Ledger>,
    /// Every Collections subrequest behaves as `allOrNone: true` (composite `allOrNone`).
    pub force_all_or_none: bool,
    /// Most records the call's transaction may carry (`None`: no limit).
    pub record_limit: Option<u64>,
    /// Records the call carries for writing (the per-record latency is charged on them).
    pub records: Cell<usize>,
}

/// The 400 of a call carrying more records than the org's per-transaction limits allow.
pub fn transaction_limit_error(records: usize, limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        format!(
            "SimOrgTrigger: System.LimitException: Apex CPU time limit exceeded (this transaction carries {records} records; the org's triggers manage {limit})"
        ),
    )
}

impl<'a> Call<'a> {
    /// The org's data: locked for this call, or the composite's.
    pub fn data(&self) -> DataGuard<'_> {
        match self.tx {
            Some(tx) => DataGuard::Shared(tx.data()),
            None => DataGuard::Own(self.org.data.lock()),
        }
    }

    /// Hands the changes a handler made to the composite transaction (which may still
    /// undo them); a call on its own has nothing more to do with them.
    pub fn keep(&self, undo: UndoLog) {
        if let Some(tx) = self.tx {
            tx.keep(undo);
        }
    }

    /// Whether a Collections call with this `allOrNone` runs all-or-none.
    pub fn all_or_none(&self, requested: bool) -> bool {
        requested || self.force_all_or_none
    }

    /// Notes how many records the call writes, refusing more than the transaction limit.
    pub fn carry(&self, records: usize) -> Result<(), ApiError> {
        if let Some(limit) = self.record_limit {
            if records as u64 > limit {
                return Err(transaction_limit_error(records, limit));
            }
        }
        self.records.set(records);
        Ok(())
    }

    /// The `client` option of the `Sforce-Call-Options` header.
    pub fn client(&self) -> Option<String> {
        let value = self.headers.get("sforce-call-options")?.to_str().ok()?;
        value.split([',', ';']).find_map(|option| {
            let (name, v) = option.split_once('=')?;
            (name.trim().eq_ignore_ascii_case("client") && !v.trim().is_empty())
                .then(|| v.trim().to_string())
        })
    }

    /// Write options of this call: duplicate-rule header and calling client.
    pub fn write_options(&self) -> crate::sim::writes::WriteOptions {
        crate::sim::writes::WriteOptions::now(self.allow_save()).with_client(self.client())
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when the call asks duplicate rules to let the save through.
    pub fn allow_save(&self) -> bool {
        self.headers
            .get("sforce-duplicate-rule-header")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .replace(' ', "")
                    .contains("allowsave=true")
            })
    }

    /// Parses the JSON body; malformed JSON is 400 `JSON_PARSER_ERROR`.
    pub fn json_body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(self.body).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", format!("{e}"))
        })
    }
}

/// Decodes `%XX` escapes of a path segment (clients differ in what they encode).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or_default();
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The single handler of every org listener.
pub async fn dispatch(State(org): State<Arc<Org>>, req: Request) -> Response {
    let kill = req.extensions().get::<ConnectionKill>().cloned();
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                format!("cannot read body: {e}"),
            )
            .into_response()
        }
    };
    let segs: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["services", "oauth2", "token"] => {
            org.count_call("oauth.token");
            if method != Method::POST {
                return reply::json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({"error": "invalid_request", "error_description": "must use HTTP POST"}),
                );
            }
            auth::token_endpoint(&org, &headers, &body)
        }
        ["services", "data"] => {
            org.count_call("versions");
            rest::versions()
        }
        ["services", "data", version, ..] if version.starts_with('v') => {
            let version = version.trim_start_matches('v').to_string();
            let rest_segs = segs.get(3..).unwrap_or_default();
            api(
                &org, kill, &method, &version, rest_segs, &query, &headers, &body,
            )
            .await
        }
        ["__sim", ..] => admin::handle(
            &org,
            &method,
            segs.get(1..).unwrap_or_default(),
            &query,
            &body,
        ),
        _ => ApiError::no_resource().into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn api(
    org: &Arc<Org>,
    kill: Option<ConnectionKill>,
    method: &Method,
    version: &str,
    segs: &[String],
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let route = match Route::parse(method, segs) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let key = route.key();
    org.count_call(key);
    let decision = org.faults.lock().decide(key);
    if !decision.delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(decision.delay) => {}
            _ = org.cancel.cancelled() => return server_unavailable(),
        }
    }
    let mut lock_all = false;
    match decision.fault {
        Some(FaultKind::UnableToLockRow) => lock_all = true,
        Some(fault) => return fault_response(org, fault, kill).await,
        None => {}
    }
    let token_ok = auth::bearer(headers).is_some_and(|t| {
        org.tokens
            .lock()
            .is_valid(t, Duration::from_secs(org.config.token_ttl_secs))
    });
    if !token_ok {
        return invalid_session();
    }
    let spent = org.allocation.lock().spend();
    let Some(allocation) = spent else {
        let current = *org.allocation.lock();
        let mut r = ApiError::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .into_response();
        stamp_limit(&mut r, current);
        return r;
    };
    // The call (which may carry a composite's transaction) ends before anything awaits.
    let (mut response, written) = {
        let call = Call {
            org,
            version,
            query,
            headers,
            body,
            lock_all,
            lock_rate: decision.lock_rate,
            allocation,
            tx: None,
            force_all_or_none: false,
            record_limit: decision.record_limit,
            records: Cell::new(0),
        };
        let response = run(&route, &call, method).unwrap_or_else(ApiError::into_response);
        (response, call.records.get())
    };
    let written = u32::try_from(written).unwrap_or(u32::MAX);
    let work = decision.per_record.saturating_mul(written);
    if !work.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(work) => {}
            _ = org.cancel.cancelled() => return server_unavailable(),
        }
    }
    stamp_limit(&mut response, allocation);
    response
}

/// Runs one recognised resource (also each subrequest of a composite request).
pub fn run(route: &Route, call: &Call<'_>, method: &Method) -> Result<Response, ApiError> {
    match route {
        Route::Limits => Ok(rest::limits(call)),
        Route::DescribeGlobal => rest::describe_global(call),
        Route::SObjectInfo(t) => rest::sobject_info(call, t),
        Route::Describe(t) => rest::describe(call, t),
        Route::Create(t) => rest::create(call, t),
        Route::Get(t, id) => rest::get(call, t, id),
        Route::Update(t, id) => rest::update(call, t, id),
        Route::Delete(t, id) => rest::delete(call, t, id),
        Route::GetByExternalId(t, f, v) => rest::get_by_external_id(call, t, f, v),
        Route::Upsert(t, f, v) => rest::upsert(call, t, f, v),
        Route::DeleteByExternalId(t, f, v) => rest::delete_by_external_id(call, t, f, v),
        Route::CollectionsCreate => collections::create(call),
        Route::CollectionsUpdate => collections::update(call),
        Route::CollectionsDelete => collections::delete(call),
        Route::CollectionsUpsert(t, f) => collections::upsert(call, t, f),
        Route::CollectionsRetrieve(t) => collections::retrieve(call, t, method),
        Route::Composite => composite::handle(call),
        Route::Query => query::handle(call),
        Route::BulkCreate => bulk::create_job(call),
        Route::BulkList => Ok(bulk::list_jobs(call)),
        Route::BulkGet(id) => bulk::get_job(call, id),
        Route::BulkUpload(id) => bulk::upload(call, id),
        Route::BulkUpdateState(id) => bulk::update_state(call, id),
        Route::BulkDelete(id) => bulk::delete_job(call, id),
        Route::BulkResults(id, kind) => bulk::results(call, id, *kind),
    }
}

fn stamp_limit(response: &mut Response, allocation: Allocation) {
    if let Ok(v) = HeaderValue::from_str(&allocation.header()) {
        response.headers_mut().insert("sforce-limit-info", v);
    }
}

fn invalid_session() -> Response {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    )
    .into_response()
}

fn server_unavailable() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVER_UNAVAILABLE",
        "Server Unavailable",
    )
    .into_response()
}

async fn fault_response(
    org: &Arc<Org>,
    fault: FaultKind,
    kill: Option<ConnectionKill>,
) -> Response {
    match fault {
        FaultKind::ServerUnavailable => server_unavailable(),
        FaultKind::UnknownException => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)",
        )
        .into_response(),
        FaultKind::BadGatewayHtml => reply::with_type(
            StatusCode::BAD_GATEWAY,
            "text/html",
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>The proxy server received an invalid response from an upstream server.</p></body></html>".to_vec(),
        ),
        FaultKind::ConnectionReset => {
            if let Some(k) = kill {
                k.kill();
                // The connection task drops this request together with the socket.
                std::future::pending::<()>().await;
            }
            server_unavailable()
        }
        FaultKind::Stall => {
            let stall = org.faults.lock().stall();
            tokio::select! {
                _ = tokio::time::sleep(stall) => {}
                _ = org.cancel.cancelled() => {}
            }
            server_unavailable()
        }
        FaultKind::ConcurrentLimit => ApiError::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
        )
        .into_response(),
        FaultKind::DailyLimit => {
            ApiError::new(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").into_response()
        }
        FaultKind::InvalidSession => invalid_session(),
        FaultKind::UnableToLockRow => server_unavailable(),
        FaultKind::Timeout => {
            let after = org.faults.lock().timeout_after();
            tokio::select! {
                _ = tokio::time::sleep(after) => {}
                _ = org.cancel.cancelled() => return server_unavailable(),
            }
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "QUERY_TIMEOUT",
                "Your request was running for too long, and has been stopped.",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn paths_map_to_resources_with_or_without_trailing_slash() {
        assert_eq!(
            Route::parse(&Method::POST, &segs("sobjects/Lead/")).unwrap(),
            Route::Create("Lead".into())
        );
        assert_eq!(
            Route::parse(&Method::GET, &segs("sobjects/Lead/describe")).unwrap(),
            Route::Describe("Lead".into())
        );
        assert_eq!(
            Route::parse(&Method::PATCH, &segs("composite/sobjects/Lead/CustomId__c")).unwrap(),
            Route::CollectionsUpsert("Lead".into(), "CustomId__c".into())
        );
        assert_eq!(
            Route::parse(&Method::GET, &segs("limits/")).unwrap().key(),
            "limits"
        );
        assert_eq!(
            Route::parse(&Method::PUT, &segs("limits"))
                .unwrap_err()
                .status,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("a%40b.example"), "a@b.example");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
