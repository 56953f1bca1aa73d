//! The Composite resource (`POST /composite`): up to 25 subrequests (at most 5 of them
//! sObject Collections or query calls) run in order in one transaction and counted as one
//! API call. Each subrequest is answered exactly as the plain call would be; later ones may
//! use earlier answers through `@{referenceId.path}`. With `allOrNone: true` the first
//! failure rolls everything back (every Collections subrequest then runs all-or-none too)
//! and the other subrequests answer `PROCESSING_HALTED`.

use crate::sim::reply::{self, ApiError};
use crate::sim::routes::{self, Call, Route};
use crate::sim::transaction::Transaction;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// Most subrequests of one composite request.
pub const MAX_SUBREQUESTS: usize = 25;
/// Most sObject Collections or query subrequests of one composite request.
pub const MAX_COLLECTION_OR_QUERY: usize = 5;

/// What the other subrequests answer when an all-or-none composite fails.
pub const ROLLED_BACK_MESSAGE: &str =
    "The transaction was rolled back since another operation in the same transaction failed.";

type Answer = Result<Response, ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompositeBody {
    #[serde(default, rename = "allOrNone")]
    all_or_none: bool,
    /// Subrequests always run in request order, which is one of the orders collation allows.
    #[serde(default, rename = "collateSubrequests")]
    _collate_subrequests: Option<bool>,
    #[serde(rename = "compositeRequest")]
    requests: Vec<Subrequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Subrequest {
    method: String,
    url: String,
    #[serde(rename = "referenceId")]
    reference_id: String,
    /// Kept as text: most bodies go to their handler as they came, unparsed here.
    #[serde(default)]
    body: Option<Box<RawValue>>,
    #[serde(default, rename = "httpHeaders")]
    http_headers: Map<String, Value>,
}

/// The answer of a composite request.
#[derive(Serialize)]
struct CompositeAnswer {
    #[serde(rename = "compositeResponse")]
    composite_response: Vec<SubrequestResult>,
}

/// One entry of `compositeResponse`, members in Salesforce's order.
#[derive(Serialize)]
struct SubrequestResult {
    /// The handler's answer as it wrote it.
    body: Box<RawValue>,
    #[serde(rename = "httpHeaders")]
    http_headers: Map<String, Value>,
    #[serde(rename = "httpStatusCode")]
    http_status_code: u16,
    #[serde(rename = "referenceId")]
    reference_id: String,
}

impl SubrequestResult {
    fn error(reference_id: &str, status: StatusCode, code: &str, message: &str) -> Self {
        SubrequestResult {
            body: error_body(code, message),
            http_headers: Map::new(),
            http_status_code: status.as_u16(),
            reference_id: reference_id.to_string(),
        }
    }

    fn halted(reference_id: &str) -> Self {
        Self::error(
            reference_id,
            StatusCode::BAD_REQUEST,
            "PROCESSING_HALTED",
            ROLLED_BACK_MESSAGE,
        )
    }
}

fn error_body(code: &str, message: &str) -> Box<RawValue> {
    serde_json::value::to_raw_value(
        &serde_json::json!([{"message": message, "errorCode": code, "fields": []}]),
    )
    .expect("a JSON value serialises")
}

fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID_API_INPUT", message)
}

/// A subrequest checked before anything runs.
struct Planned {
    method: Method,
    url: String,
    reference_id: String,
    body: Option<Box<RawValue>>,
    headers: HeaderMap,
    collections: bool,
}

/// Whether `text` holds a `@{...}` reference to an earlier subrequest's answer.
fn has_reference(text: &str) -> bool {
    text.contains("@{")
}

/// The parts of a subrequest URL: API version, path segments after it, query parameters.
struct Target {
    version: String,
    segs: Vec<String>,
    query: Vec<(String, String)>,
}

fn parse_url(url: &str) -> Option<Target> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(routes::percent_decode)
        .collect();
    match segs.as_slice() {
        [services, data, version, ..]
            if services == "services" && data == "data" && version.starts_with('v') =>
        {
            Some(Target {
                version: version.trim_start_matches('v').to_string(),
                segs: segs.get(3..).unwrap_or_default().to_vec(),
                query: serde_urlencoded::from_str(query).unwrap_or_default(),
            })
        }
        _ => None,
    }
}

/// True for the letters, digits and underscores a referenceId may hold, led by a letter
/// or a digit.
fn valid_reference_id(id: &str) -> bool {
    id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The resources a composite request may call: sObject resources, sObject Collections and
/// query.
fn supported(route: &Route) -> bool {
    !matches!(
        route,
        Route::Limits
            | Route::Composite
            | Route::BulkCreate
            | Route::BulkList
            | Route::BulkGet(_)
            | Route::BulkUpload(_)
            | Route::BulkUpdateState(_)
            | Route::BulkDelete(_)
            | Route::BulkResults(..)
    )
}

fn counts_as_collection_or_query(route: &Route) -> bool {
    matches!(
        route,
        Route::CollectionsCreate
            | Route::CollectionsUpdate
            | Route::CollectionsDelete
            | Route::CollectionsUpsert(..)
            | Route::CollectionsRetrieve(_)
            | Route::Query
    )
}

/// Records a subrequest carries for writing, read from its body before references resolve.
fn records_carried(route: &Route, body: Option<&RawValue>, query: &[(String, String)]) -> usize {
    /// A Collections body, read only as far as counting its records.
    #[derive(Deserialize)]
    struct Records {
        records: Vec<serde::de::IgnoredAny>,
    }
    match route {
        Route::CollectionsCreate | Route::CollectionsUpdate | Route::CollectionsUpsert(..) => body
            .and_then(|b| serde_json::from_str::<Records>(b.get()).ok())
            .map_or(0, |r| r.records.len()),
        Route::CollectionsDelete => query.iter().find(|(k, _)| k == "ids").map_or(0, |(_, v)| {
            v.split(',').filter(|s| !s.trim().is_empty()).count()
        }),
        Route::Create(_)
        | Route::Update(..)
        | Route::Delete(..)
        | Route::Upsert(..)
        | Route::DeleteByExternalId(..) => 1,
        _ => 0,
    }
}

/// The request headers of a subrequest: the composite's, with its own `httpHeaders` on top.
fn subrequest_headers(
    outer: &HeaderMap,
    reference_id: &str,
    own: &Map<String, Value>,
) -> Result<HeaderMap, ApiError> {
    let mut headers = outer.clone();
    for (name, value) in own {
        let lower = name.to_ascii_lowercase();
        if matches!(lower.as_str(), "accept" | "authorization" | "content-type") {
            return Err(invalid_input(format!(
                "Subrequest {reference_id} may not set the {name} header; it is inherited from the composite request"
            )));
        }
        let text = value.as_str().ok_or_else(|| {
            invalid_input(format!(
                "Subrequest {reference_id}: header {name} must be a string"
            ))
        })?;
        let name = HeaderName::from_bytes(lower.as_bytes()).map_err(|_| {
            invalid_input(format!(
                "Subrequest {reference_id}: {name} is no HTTP header name"
            ))
        })?;
        let value = HeaderValue::from_str(text).map_err(|_| {
            invalid_input(format!(
                "Subrequest {reference_id}: bad value for header {name}"
            ))
        })?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Checks the whole request before any subrequest runs; answers the planned subrequests
/// and the records they carry.
fn plan(call: &Call<'_>, body: CompositeBody) -> Result<(Vec<Planned>, usize), ApiError> {
    let n = body.requests.len();
    if n > MAX_SUBREQUESTS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            format!("A composite request can have at most {MAX_SUBREQUESTS} subrequests; this one has {n}."),
        ));
    }
    let mut seen = HashSet::new();
    let mut planned = Vec::with_capacity(n);
    let mut heavy = 0;
    let mut records = 0;
    for sub in body.requests {
        let id = sub.reference_id;
        if !valid_reference_id(&id) {
            return Err(invalid_input(format!(
                "Invalid referenceId '{id}': a referenceId must start with a letter or a number and hold only letters, numbers and underscores ('_')"
            )));
        }
        if !seen.insert(id.clone()) {
            return Err(invalid_input(format!(
                "Duplicate referenceId provided in the request: {id}"
            )));
        }
        let method = match sub.method.as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            other => {
                return Err(invalid_input(format!(
                    "Subrequest {id}: unsupported method '{other}' (use GET, POST, PUT, PATCH or DELETE)"
                )))
            }
        };
        let target = parse_url(&sub.url).ok_or_else(|| {
            invalid_input(format!(
                "Subrequest {id}: the url must start with /services/data/vXX.X/: {}",
                sub.url
            ))
        })?;
        let route = Route::parse(&method, &target.segs).map_err(|e| {
            invalid_input(format!(
                "Subrequest {id}: {} {}: {}",
                sub.method, sub.url, e.error.message
            ))
        })?;
        if !supported(&route) {
            return Err(invalid_input(format!(
                "Subrequest {id}: the composite resource does not support {} {}",
                sub.method, sub.url
            )));
        }
        let collections = counts_as_collection_or_query(&route);
        if collections {
            heavy += 1;
        }
        records += records_carried(&route, sub.body.as_deref(), &target.query);
        let headers = subrequest_headers(call.headers, &id, &sub.http_headers)?;
        planned.push(Planned {
            method,
            url: sub.url,
            reference_id: id,
            body: sub.body,
            headers,
            collections,
        });
    }
    if heavy > MAX_COLLECTION_OR_QUERY {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            format!("A composite request can have at most {MAX_COLLECTION_OR_QUERY} sObject Collections or query subrequests; this one has {heavy}."),
        ));
    }
    Ok((planned, records))
}

/// Why a `@{...}` reference did not resolve: the text of the failed expression and its
/// referenceId.
struct Unresolved {
    expression: String,
    reference_id: String,
}

impl Unresolved {
    fn message(&self) -> String {
        format!(
            "Invalid reference specified. No value for {} found in {}",
            self.expression, self.reference_id
        )
    }
}

/// The value `expression` (`refId.field[0].other`) names among the answers so far.
fn lookup<'v>(
    expression: &str,
    answers: &'v HashMap<String, Value>,
) -> Result<&'v Value, Unresolved> {
    let unresolved = |reference_id: &str| Unresolved {
        expression: expression.to_string(),
        reference_id: reference_id.to_string(),
    };
    let end = expression.find(['.', '[']).unwrap_or(expression.len());
    let (reference_id, mut path) = expression.split_at(end);
    let mut value = answers
        .get(reference_id)
        .ok_or_else(|| unresolved(reference_id))?;
    while !path.is_empty() {
        if let Some(rest) = path.strip_prefix('.') {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let (name, tail) = rest.split_at(end);
            value = value.get(name).ok_or_else(|| unresolved(reference_id))?;
            path = tail;
        } else if let Some(rest) = path.strip_prefix('[') {
            let (index, tail) = rest
                .split_once(']')
                .ok_or_else(|| unresolved(reference_id))?;
            let index: usize = index.trim().parse().map_err(|_| unresolved(reference_id))?;
            value = value.get(index).ok_or_else(|| unresolved(reference_id))?;
            path = tail;
        } else {
            return Err(unresolved(reference_id));
        }
    }
    if value.is_null() {
        return Err(unresolved(reference_id));
    }
    Ok(value)
}

/// Replaces every `@{...}` in a string; a string that is one reference and nothing else
/// takes the referenced value with its JSON type.
fn resolve_text(text: &str, answers: &HashMap<String, Value>) -> Result<Value, Unresolved> {
    if !text.contains("@{") {
        return Ok(Value::String(text.to_string()));
    }
    if let Some(inner) = text.strip_prefix("@{").and_then(|t| t.strip_suffix('}')) {
        if !inner.contains('}') {
            return lookup(inner, answers).cloned();
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            out.push_str(rest.get(start..).unwrap_or_default());
            rest = "";
            break;
        };
        match lookup(after.get(..end).unwrap_or_default(), answers)? {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn resolve_value(value: Value, answers: &HashMap<String, Value>) -> Result<Value, Unresolved> {
    Ok(match value {
        Value::String(s) => resolve_text(&s, answers)?,
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| resolve_value(v, answers))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| Ok((k, resolve_value(v, answers)?)))
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

fn resolve_url(url: &str, answers: &HashMap<String, Value>) -> Result<String, Unresolved> {
    match resolve_text(url, answers)? {
        Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

/// Reads a handler's answer back: status, the headers a subrequest result shows, body.
fn read_answer(response: Response) -> (StatusCode, Map<String, Value>, Box<RawValue>) {
    let status = response.status();
    let mut headers = Map::new();
    if let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        headers.insert("Location".into(), Value::String(location.to_string()));
    }
    // Handlers answer with fully buffered bodies, so reading one never waits.
    let bytes = axum::body::to_bytes(response.into_body(), routes::MAX_BODY_BYTES)
        .now_or_never()
        .and_then(Result::ok)
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        RawValue::NULL.to_owned()
    } else {
        serde_json::from_slice::<&RawValue>(&bytes)
            .map(ToOwned::to_owned)
            .unwrap_or_else(|_| {
                serde_json::value::to_raw_value(&String::from_utf8_lossy(&bytes))
                    .expect("a string serialises")
            })
    };
    (status, headers, body)
}

/// True when a Collections answer reports a record that was not saved.
fn any_record_failed(body: &RawValue) -> bool {
    /// One entry of a Collections answer, read only as far as `success`.
    #[derive(Deserialize)]
    struct Saved {
        success: Option<bool>,
    }
    serde_json::from_str::<Vec<Saved>>(body.get())
        .is_ok_and(|items| items.iter().any(|i| i.success == Some(false)))
}

/// `POST /composite`.
pub fn handle(call: &Call<'_>) -> Answer {
    let body: CompositeBody = call.json_body()?;
    let all_or_none = body.all_or_none;
    let (planned, records) = plan(call, body)?;
    call.carry(records)?;

    let mut data = call.data();
    let tx = Transaction::new(&mut data);
    let mut results: Vec<SubrequestResult> = Vec::with_capacity(planned.len());
    let mut failed: Vec<bool> = Vec::with_capacity(planned.len());
    let mut answers: HashMap<String, Value> = HashMap::new();
    // Answers are kept (parsed) only when a later subrequest may refer to them.
    let references = planned
        .iter()
        .any(|p| has_reference(&p.url) || p.body.as_ref().is_some_and(|b| has_reference(b.get())));
    let mut halted = false;
    for p in planned {
        if halted {
            results.push(SubrequestResult::halted(&p.reference_id));
            failed.push(false);
            continue;
        }
        let resolved = resolve_url(&p.url, &answers).and_then(|url| {
            let body = match p.body {
                Some(raw) if has_reference(raw.get()) => {
                    let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
                    let value = resolve_value(value, &answers)?;
                    Some(serde_json::to_vec(&value).unwrap_or_default())
                }
                Some(raw) => Some(Vec::from(raw.get())),
                None => None,
            };
            Ok((url, body))
        });
        let (url, body) = match resolved {
            Ok(r) => r,
            Err(e) => {
                results.push(SubrequestResult::error(
                    &p.reference_id,
                    StatusCode::BAD_REQUEST,
                    "PROCESSING_HALTED",
                    &e.message(),
                ));
                failed.push(true);
                halted = all_or_none;
                continue;
            }
        };
        let answer = match parse_url(&url) {
            None => Err(ApiError::no_resource()),
            Some(target) => Route::parse(&p.method, &target.segs).and_then(|route| {
                let bytes = body.unwrap_or_default();
                let sub = Call {
                    org: call.org,
                    version: &target.version,
                    query: &target.query,
                    headers: &p.headers,
                    body: &bytes,
                    lock_all: call.lock_all,
                    lock_rate: call.lock_rate,
                    allocation: call.allocation,
                    tx: Some(&tx),
                    force_all_or_none: all_or_none,
                    record_limit: None,
                    records: Cell::new(0),
                };
                routes::run(&route, &sub, &p.method)
            }),
        };
        let (status, http_headers, body) =
            read_answer(answer.unwrap_or_else(ApiError::into_response));
        let this_failed =
            status.as_u16() >= 400 || (all_or_none && p.collections && any_record_failed(&body));
        if references && status.as_u16() < 400 {
            let value = serde_json::from_str(body.get()).unwrap_or(Value::Null);
            answers.insert(p.reference_id.clone(), value);
        }
        results.push(SubrequestResult {
            body,
            http_headers,
            http_status_code: status.as_u16(),
            reference_id: p.reference_id,
        });
        failed.push(this_failed);
        halted = all_or_none && this_failed;
    }
    if halted {
        tx.roll_back();
        for (result, failed) in results.iter_mut().zip(&failed) {
            if !failed {
                *result = SubrequestResult::halted(&result.reference_id);
            }
        }
    }
    Ok(reply::json(
        StatusCode::OK,
        &CompositeAnswer {
            composite_response: results,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answers() -> HashMap<String, Value> {
        HashMap::from([
            (
                "acct".to_string(),
                json!({"id": "001000000000001AAA", "success": true}),
            ),
            (
                "many".to_string(),
                json!([{"id": "003000000000001AAA"}, {"id": null}]),
            ),
        ])
    }

    #[test]
    fn references_resolve_fields_and_indexes_keeping_json_types() {
        let a = answers();
        assert_eq!(
            resolve_text("@{acct.id}", &a).ok(),
            Some(json!("001000000000001AAA"))
        );
        assert_eq!(resolve_text("@{acct.success}", &a).ok(), Some(json!(true)));
        assert_eq!(
            resolve_text("/x/@{many[0].id}/y", &a).ok(),
            Some(json!("/x/003000000000001AAA/y"))
        );
        let missing = resolve_text("@{many[1].id}", &a).err().map(|e| e.message());
        assert_eq!(
            missing.as_deref(),
            Some("Invalid reference specified. No value for many[1].id found in many")
        );
        assert!(resolve_text("@{nope.id}", &a).is_err());
        assert_eq!(resolve_text("plain", &a).ok(), Some(json!("plain")));
    }

    #[test]
    fn reference_ids_are_letters_digits_and_underscores() {
        assert!(valid_reference_id("refAccount_1"));
        assert!(valid_reference_id("1st"));
        assert!(!valid_reference_id("_lead"));
        assert!(!valid_reference_id("a-b"));
        assert!(!valid_reference_id(""));
    }
}
