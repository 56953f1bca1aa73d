//! Single-resource REST endpoints: versions, limits, describe global / describe (with
//! `If-Modified-Since`), and the single-record create, read, update, delete and upsert
//! by External ID, with Salesforce's status codes and bodies.

use crate::sim::org::OrgData;
use crate::sim::reply::{self, ApiError};
use crate::sim::routes::Call;
use crate::sim::rules::{self, RecordError};
use crate::sim::schema::{FieldType, SObjectDef};
use crate::sim::writes::{self, render_row, UndoLog, WriteError};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Lowest API version listed.
pub const OLDEST_VERSION: u32 = 31;
/// Highest API version listed (what `latest` resolves to).
pub const LATEST_VERSION: u32 = 62;

type Answer = Result<Response, ApiError>;

/// Release name of an API version (v20.0 was Winter '11; three releases a year).
fn release_label(version: u32) -> String {
    let k = version.saturating_sub(20);
    let season = match k % 3 {
        0 => "Winter",
        1 => "Spring",
        _ => "Summer",
    };
    format!("{season} '{:02}", 11 + k / 3)
}

/// `GET /services/data/`.
pub fn versions() -> Response {
    let list: Vec<Value> = (OLDEST_VERSION..=LATEST_VERSION)
        .map(|v| json!({"label": release_label(v), "url": format!("/services/data/v{v}.0"), "version": format!("{v}.0")}))
        .collect();
    reply::json(StatusCode::OK, &list)
}

/// `GET /limits`.
pub fn limits(call: &Call<'_>) -> Response {
    let a = call.allocation;
    let fixed = |max: u64| json!({"Max": max, "Remaining": max});
    reply::json(
        StatusCode::OK,
        &json!({
            "ConcurrentAsyncGetReportInstances": fixed(200),
            "DailyApiRequests": {"Max": a.max, "Remaining": a.max.saturating_sub(a.used)},
            "DailyAsyncApexExecutions": fixed(250_000),
            "DailyBulkApiBatches": fixed(15_000),
            "DailyBulkV2QueryFileStorageMB": fixed(976_562),
            "DailyBulkV2QueryJobs": fixed(10_000),
            "DataStorageMB": fixed(1024),
            "FileStorageMB": fixed(1024),
            "HourlyODataCallout": fixed(20_000),
        }),
    )
}

fn http_date(dt: DateTime<Utc>) -> String {
    dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// True when the caller's copy (per `If-Modified-Since`) is still current.
fn not_modified(headers: &HeaderMap, modified: DateTime<Utc>) -> bool {
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| DateTime::parse_from_rfc2822(s.trim()).ok())
        .is_some_and(|since| since.with_timezone(&Utc) >= modified)
}

fn with_last_modified(mut r: Response, modified: DateTime<Utc>) -> Response {
    if let Ok(v) = HeaderValue::from_str(&http_date(modified)) {
        r.headers_mut().insert(header::LAST_MODIFIED, v);
    }
    r
}

/// `GET /sobjects`.
pub fn describe_global(call: &Call<'_>) -> Answer {
    let data = call.data();
    if not_modified(call.headers, data.schema_modified) {
        return Ok(reply::empty(StatusCode::NOT_MODIFIED));
    }
    let list: Vec<Value> = data
        .schema
        .sobjects
        .iter()
        .map(|s| s.describe_global_entry(call.version))
        .collect();
    let body = json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list});
    Ok(with_last_modified(
        reply::json(StatusCode::OK, &body),
        data.schema_modified,
    ))
}

fn sobject_def<'a>(data: &'a OrgData, name: &str) -> Result<&'a SObjectDef, ApiError> {
    data.schema
        .sobject(name)
        .ok_or_else(|| ApiError::invalid_type(name))
}

/// `GET /sobjects/{T}`.
pub fn sobject_info(call: &Call<'_>, t: &str) -> Answer {
    let data = call.data();
    let def = sobject_def(&data, t)?;
    let body =
        json!({"objectDescribe": def.describe_global_entry(call.version), "recentItems": []});
    Ok(reply::json(StatusCode::OK, &body))
}

/// `GET /sobjects/{T}/describe`.
pub fn describe(call: &Call<'_>, t: &str) -> Answer {
    let data = call.data();
    let def = sobject_def(&data, t)?;
    if not_modified(call.headers, data.schema_modified) {
        return Ok(reply::empty(StatusCode::NOT_MODIFIED));
    }
    Ok(with_last_modified(
        reply::json(StatusCode::OK, &def.describe(call.version)),
        data.schema_modified,
    ))
}

fn body_object(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    match call.json_body::<Value>()? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "The request body must be a JSON object",
        )),
    }
}

fn lock_error() -> ApiError {
    ApiError::from_record(RecordError::new(
        "UNABLE_TO_LOCK_ROW",
        "unable to obtain exclusive access to this record",
        vec![],
    ))
}

fn write_error(e: WriteError, version: &str, t: &str) -> Response {
    match e {
        WriteError::Request(p) => {
            ApiError::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", p.message).into_response()
        }
        WriteError::Record(r) => ApiError::from_record(r).into_response(),
        WriteError::MultipleMatches(ids) => {
            let urls: Vec<String> = ids
                .iter()
                .map(|id| format!("/services/data/v{version}/sobjects/{t}/{id}"))
                .collect();
            reply::json(StatusCode::MULTIPLE_CHOICES, &urls)
        }
    }
}

/// `POST /sobjects/{T}`.
pub fn create(call: &Call<'_>, t: &str) -> Answer {
    let input = body_object(call)?;
    let mut data = call.data();
    let name = sobject_def(&data, t)?.name.clone();
    if call.lock_all {
        return Err(lock_error());
    }
    let opts = call.write_options();
    call.carry(1)?;
    let mut undo = UndoLog::default();
    let outcome = data.create(&name, input, &opts, &mut undo);
    call.keep(undo);
    match outcome {
        Ok(saved) => {
            let mut r = reply::json(
                StatusCode::CREATED,
                &json!({"id": saved.id, "success": true, "errors": []}),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "/services/data/v{}/sobjects/{name}/{}",
                call.version, saved.id
            )) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        Err(e) => Ok(write_error(e, call.version, &name)),
    }
}

/// Resolves `?fields=` against the SObject; unknown names are 400 `INVALID_FIELD`.
fn requested_fields(def: &SObjectDef, list: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = list.filter(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let f = def.field(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                format!("No such column '{name}' on entity '{}'", def.name),
            )
        })?;
        out.push(f.name.clone());
    }
    Ok(Some(out))
}

/// `GET /sobjects/{T}/{id}`.
pub fn get(call: &Call<'_>, t: &str, id: &str) -> Answer {
    let data = call.data();
    let def = sobject_def(&data, t)?;
    let fields = requested_fields(def, call.param("fields"))?;
    let (table, id18) = writes::locate(&data.schema, &data.tables, Some(&def.name), id)
        .map_err(ApiError::from_record)?;
    let row = data
        .tables
        .get(&table)
        .and_then(|tb| tb.view(&id18))
        .ok_or_else(ApiError::no_resource)?;
    Ok(reply::json(
        StatusCode::OK,
        &render_row(def, row, fields.as_deref(), call.version),
    ))
}

/// `PATCH /sobjects/{T}/{id}`.
pub fn update(call: &Call<'_>, t: &str, id: &str) -> Answer {
    let input = body_object(call)?;
    let mut data = call.data();
    let name = sobject_def(&data, t)?.name.clone();
    if call.lock_all {
        return Err(lock_error());
    }
    let opts = call.write_options();
    call.carry(1)?;
    let mut undo = UndoLog::default();
    let outcome = data.update(Some(&name), id, input, &opts, &mut undo);
    call.keep(undo);
    match outcome {
        Ok(_) => Ok(reply::empty(StatusCode::NO_CONTENT)),
        Err(e) => Ok(write_error(e, call.version, &name)),
    }
}

/// `DELETE /sobjects/{T}/{id}`.
pub fn delete(call: &Call<'_>, t: &str, id: &str) -> Answer {
    let mut data = call.data();
    let name = sobject_def(&data, t)?.name.clone();
    if call.lock_all {
        return Err(lock_error());
    }
    let opts = call.write_options();
    call.carry(1)?;
    let mut undo = UndoLog::default();
    let outcome = data.delete(Some(&name), id, &opts, &mut undo);
    call.keep(undo);
    match outcome {
        Ok(_) => Ok(reply::empty(StatusCode::NO_CONTENT)),
        Err(e) => Ok(write_error(e, call.version, &name)),
    }
}

/// Live rows whose External ID (or Id-lookup) field `f` equals `v`.
fn find_rows(data: &OrgData, def: &SObjectDef, f: &str, v: &str) -> Result<Vec<String>, ApiError> {
    let field = def
        .field(f)
        .filter(|x| x.external_id || x.id_lookup)
        .ok_or_else(|| ApiError::from_record(writes::not_found(f)))?;
    if field.field_type == FieldType::Id {
        return match writes::locate(&data.schema, &data.tables, Some(&def.name), v) {
            Ok((_, id)) => Ok(vec![id]),
            Err(e) if e.code == "ENTITY_IS_DELETED" || e.code == "MALFORMED_ID" => {
                Err(ApiError::from_record(e))
            }
            Err(_) => Ok(vec![]),
        };
    }
    let value = rules::coerce(field, Value::String(v.to_string()))
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", e.message))?;
    let table = data
        .tables
        .get(&def.name)
        .ok_or_else(ApiError::no_resource)?;
    Ok(table
        .lookup(std::slice::from_ref(&field.name), &[Some(&value)])
        .unwrap_or_default())
}

fn multiple(version: &str, t: &str, ids: &[String]) -> Response {
    let urls: Vec<String> = ids
        .iter()
        .map(|id| format!("/services/data/v{version}/sobjects/{t}/{id}"))
        .collect();
    reply::json(StatusCode::MULTIPLE_CHOICES, &urls)
}

/// `GET /sobjects/{T}/{field}/{value}`.
pub fn get_by_external_id(call: &Call<'_>, t: &str, f: &str, v: &str) -> Answer {
    let data = call.data();
    let def = sobject_def(&data, t)?;
    let fields = requested_fields(def, call.param("fields"))?;
    let ids = find_rows(&data, def, f, v)?;
    match ids.as_slice() {
        [] => Err(ApiError::from_record(writes::not_found(v))),
        [one] => {
            let row = data
                .tables
                .get(&def.name)
                .and_then(|tb| tb.view(one))
                .ok_or_else(ApiError::no_resource)?;
            Ok(reply::json(
                StatusCode::OK,
                &render_row(def, row, fields.as_deref(), call.version),
            ))
        }
        many => Ok(multiple(call.version, &def.name, many)),
    }
}

/// `PATCH /sobjects/{T}/{field}/{value}` (upsert; `?updateOnly=true` refuses to create).
pub fn upsert(call: &Call<'_>, t: &str, f: &str, v: &str) -> Answer {
    let input = body_object(call)?;
    let update_only = call
        .param("updateOnly")
        .is_some_and(|x| x.eq_ignore_ascii_case("true"));
    let mut data = call.data();
    let name = sobject_def(&data, t)?.name.clone();
    if call.lock_all {
        return Err(lock_error());
    }
    let opts = call.write_options();
    call.carry(1)?;
    let mut undo = UndoLog::default();
    let outcome = data.upsert(
        &name,
        f,
        Value::String(v.to_string()),
        input,
        update_only,
        &opts,
        &mut undo,
    );
    call.keep(undo);
    match outcome {
        Ok(saved) => {
            let status = if saved.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(reply::json(
                status,
                &json!({"id": saved.id, "success": true, "errors": [], "created": saved.created}),
            ))
        }
        Err(e) => Ok(write_error(e, call.version, &name)),
    }
}

/// `DELETE /sobjects/{T}/{field}/{value}`.
pub fn delete_by_external_id(call: &Call<'_>, t: &str, f: &str, v: &str) -> Answer {
    let mut data = call.data();
    let def = sobject_def(&data, t)?;
    let name = def.name.clone();
    let ids = find_rows(&data, def, f, v)?;
    match ids.as_slice() {
        [] => Err(ApiError::from_record(writes::not_found(v))),
        [one] => {
            let one = one.clone();
            let opts = call.write_options();
            call.carry(1)?;
            let mut undo = UndoLog::default();
            let outcome = data.delete(Some(&name), &one, &opts, &mut undo);
            call.keep(undo);
            match outcome {
                Ok(_) => Ok(reply::empty(StatusCode::NO_CONTENT)),
                Err(e) => Ok(write_error(e, call.version, &name)),
            }
        }
        many => Ok(multiple(call.version, &name, many)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_labels_follow_the_three_a_year_cadence() {
        assert_eq!(release_label(62), "Winter '25");
        assert_eq!(release_label(61), "Summer '24");
        assert_eq!(release_label(60), "Spring '24");
    }
}
