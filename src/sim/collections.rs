//! sObject Collections: create, update, upsert and delete of up to 200 records in one
//! call (one API unit), results in request order, `allOrNone` with rollback, and
//! retrieve by Ids. The whole call runs under the org's data lock, so it is atomic.

use crate::sim::fast_hash::FastMap;
use crate::sim::record::{RecordFields, RecordInput};
use crate::sim::reply::{self, collection_error, ApiError};
use crate::sim::routes::Call;
use crate::sim::rules::{self, RecordError};
use crate::sim::store::index_key;
use crate::sim::writes::{render_row, Saved, UndoLog, WriteError};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most records (or Ids) one call may carry.
pub const MAX_RECORDS: usize = 200;

type Answer = Result<Response, ApiError>;

#[derive(Deserialize)]
struct Body {
    #[serde(default, rename = "allOrNone")]
    all_or_none: bool,
    #[serde(default)]
    records: Vec<RecordInput>,
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "EXCEEDED_ID_LIMIT",
        "record limit reached. cannot submit more than 200 records into this call",
    )
}

fn rolled_back() -> RecordError {
    RecordError::new(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using AllOrNone header",
        vec![],
    )
}

fn lock_failure(id: Option<&str>) -> RecordError {
    let msg = match id {
        Some(id) => format!("unable to obtain exclusive access to this record or 1 records: {id}"),
        None => "unable to obtain exclusive access to this record".to_string(),
    };
    RecordError::new("UNABLE_TO_LOCK_ROW", msg, vec![])
}

/// A create's or update's result as that record's outcome; `Err` is a malformed
/// request, which fails the whole call (the caller rolls its writes back).
fn record_outcome(
    written: Result<Saved, WriteError>,
) -> Result<Result<Saved, RecordError>, ApiError> {
    match written {
        Ok(saved) => Ok(Ok(saved)),
        Err(WriteError::Request(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            e.message,
        )),
        Err(WriteError::Record(e)) => Ok(Err(e)),
        Err(WriteError::MultipleMatches(_)) => Ok(Err(RecordError::new(
            "DUPLICATE_EXTERNAL_ID",
            "more than one record found",
            vec![],
        ))),
    }
}

/// One record's outcome before rendering.
struct Outcome {
    /// Id to show on failure (the given one for update/delete).
    given_id: Option<String>,
    result: Result<Saved, RecordError>,
}

/// One entry of a Collections answer, its members in Salesforce's order.
#[derive(Serialize)]
struct ResultItem {
    id: Option<String>,
    success: bool,
    errors: Vec<Value>,
    /// Only upserts say whether they created the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<bool>,
}

fn render(outcomes: Vec<Outcome>, with_created: bool) -> Response {
    let items: Vec<ResultItem> = outcomes
        .into_iter()
        .map(|o| match o.result {
            Ok(saved) => ResultItem {
                id: Some(saved.id),
                success: true,
                errors: Vec::new(),
                created: with_created.then_some(saved.created),
            },
            Err(e) => ResultItem {
                id: o.given_id,
                success: false,
                errors: vec![collection_error(&e)],
                created: with_created.then_some(false),
            },
        })
        .collect();
    reply::json(StatusCode::OK, &items)
}

/// Splits a record into its type (`attributes.type`) and its fields.
fn split_record(record: RecordInput) -> Result<(Option<String>, RecordFields), ApiError> {
    let RecordInput::Object(mut m) = record else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "Each record must be a JSON object",
        ));
    };
    let t = m
        .remove("attributes")
        .and_then(|a| a.get("type").and_then(Value::as_str).map(str::to_string));
    Ok((t, m))
}

/// Per-record lock failures drawn before the data lock is taken.
fn draw_locks(call: &Call<'_>, n: usize) -> Vec<bool> {
    if call.lock_all {
        return vec![true; n];
    }
    if call.lock_rate <= 0.0 {
        return vec![false; n];
    }
    let mut f = call.org.faults.lock();
    (0..n).map(|_| f.record_locked(call.lock_rate)).collect()
}

/// Finishes a call: all-or-none rollback, or the changes handed to the call's transaction.
fn finish(
    call: &Call<'_>,
    data: &mut crate::sim::org::OrgData,
    undo: UndoLog,
    outcomes: Vec<Outcome>,
    all_or_none: bool,
    with_created: bool,
) -> Response {
    let any_failed = outcomes.iter().any(|o| o.result.is_err());
    if !(all_or_none && any_failed) {
        call.keep(undo);
        return render(outcomes, with_created);
    }
    data.rollback(undo);
    let outcomes = outcomes
        .into_iter()
        .map(|o| match o.result {
            Ok(_) => Outcome {
                given_id: o.given_id,
                result: Err(rolled_back()),
            },
            Err(e) => Outcome {
                given_id: o.given_id,
                result: Err(e),
            },
        })
        .collect();
    render(outcomes, with_created)
}

fn unknown_type(t: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_TYPE",
        format!("sObject type '{t}' is not supported."),
    )
}

/// `POST /composite/sobjects`.
pub fn create(call: &Call<'_>) -> Answer {
    let body: Body = call.json_body()?;
    if body.records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let mut records = Vec::with_capacity(body.records.len());
    for r in body.records {
        let (t, fields) = split_record(r)?;
        let t = t.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_TYPE",
                "Must send a concrete entity type.",
            )
        })?;
        records.push((t, fields));
    }
    call.carry(records.len())?;
    let locks = draw_locks(call, records.len());
    let opts = call.write_options();
    let mut data = call.data();
    for (t, _) in &records {
        if data.schema.sobject(t).is_none() {
            return Err(unknown_type(t));
        }
    }
    let mut undo = UndoLog::default();
    let mut outcomes = Vec::with_capacity(records.len());
    for ((t, fields), locked) in records.into_iter().zip(locks) {
        if locked {
            outcomes.push(Outcome {
                given_id: None,
                result: Err(lock_failure(None)),
            });
            continue;
        }
        let result = match record_outcome(data.create(&t, fields, &opts, &mut undo)) {
            Ok(result) => result,
            Err(request) => {
                data.rollback(undo);
                return Err(request);
            }
        };
        outcomes.push(Outcome {
            given_id: None,
            result,
        });
    }
    Ok(finish(
        call,
        &mut data,
        undo,
        outcomes,
        call.all_or_none(body.all_or_none),
        false,
    ))
}

/// `PATCH /composite/sobjects` (records carry `id`).
pub fn update(call: &Call<'_>) -> Answer {
    let body: Body = call.json_body()?;
    if body.records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let mut records = Vec::with_capacity(body.records.len());
    for r in body.records {
        let (t, mut fields) = split_record(r)?;
        let id = fields
            .remove_ignore_case("id")
            .and_then(|(_, v)| v.as_str().map(str::to_string));
        records.push((t, id, fields));
    }
    call.carry(records.len())?;
    let locks = draw_locks(call, records.len());
    let opts = call.write_options();
    let mut data = call.data();
    for (t, _, _) in &records {
        if let Some(t) = t {
            if data.schema.sobject(t).is_none() {
                return Err(unknown_type(t));
            }
        }
    }
    let mut undo = UndoLog::default();
    let mut outcomes = Vec::with_capacity(records.len());
    for ((t, id, fields), locked) in records.into_iter().zip(locks) {
        let Some(id) = id else {
            outcomes.push(Outcome {
                given_id: None,
                result: Err(RecordError::new(
                    "MISSING_ARGUMENT",
                    "Id not specified in an update call",
                    vec![],
                )),
            });
            continue;
        };
        let shown = crate::salesforce::id::normalize(&id).unwrap_or_else(|_| id.clone());
        if locked {
            outcomes.push(Outcome {
                given_id: Some(shown.clone()),
                result: Err(lock_failure(Some(&shown))),
            });
            continue;
        }
        let result = match record_outcome(data.update(t.as_deref(), &id, fields, &opts, &mut undo))
        {
            Ok(result) => result,
            Err(request) => {
                data.rollback(undo);
                return Err(request);
            }
        };
        outcomes.push(Outcome {
            given_id: Some(shown),
            result,
        });
    }
    Ok(finish(
        call,
        &mut data,
        undo,
        outcomes,
        call.all_or_none(body.all_or_none),
        false,
    ))
}

/// `PATCH /composite/sobjects/{T}/{field}` (upsert on an External ID).
pub fn upsert(call: &Call<'_>, t: &str, f: &str) -> Answer {
    let body: Body = call.json_body()?;
    if body.records.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let mut records = Vec::with_capacity(body.records.len());
    for r in body.records {
        let (_, fields) = split_record(r)?;
        records.push(fields);
    }
    call.carry(records.len())?;
    let locks = draw_locks(call, records.len());
    let opts = call.write_options();
    let mut data = call.data();
    let def = data.schema.sobject(t).ok_or_else(|| unknown_type(t))?;
    let type_name = def.name.clone();
    let field = def.field(f).filter(|x| x.external_id || x.id_lookup).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_FIELD", format!("Field name provided, {f} is not an External ID or indexed field for {type_name}"))
    })?;
    let field_name = field.name.clone();
    let fold = field.folds_case();

    // The key of each record, and whether another record of this call has it too.
    let mut keys: Vec<Option<(Value, String)>> = Vec::with_capacity(records.len());
    for rec in &records {
        let raw = rec.get_ignore_case(&field_name).cloned();
        let key = match raw {
            Some(v) if !v.is_null() => {
                let v = rules::coerce(field, v).map_err(|e| {
                    ApiError::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", e.message)
                })?;
                index_key(std::iter::once(Some(&v)), fold).map(|k| (v, k))
            }
            _ => None,
        };
        keys.push(key);
    }
    let mut seen: FastMap<&str, usize> = FastMap::default();
    for (_, k) in keys.iter().flatten() {
        *seen.entry(k).or_default() += 1;
    }
    let repeated: Vec<bool> = keys
        .iter()
        .map(|key| {
            key.as_ref()
                .is_some_and(|(_, k)| seen.get(k.as_str()).is_some_and(|n| *n > 1))
        })
        .collect();

    let mut undo = UndoLog::default();
    let mut outcomes = Vec::with_capacity(records.len());
    for (((fields, key), repeated), locked) in
        records.into_iter().zip(keys).zip(repeated).zip(locks)
    {
        let Some((value, _)) = key else {
            outcomes.push(Outcome {
                given_id: None,
                result: Err(RecordError::new(
                    "MISSING_ARGUMENT",
                    format!("{field_name} not specified"),
                    vec![field_name.clone()],
                )),
            });
            continue;
        };
        if repeated {
            let shown = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            outcomes.push(Outcome {
                given_id: None,
                result: Err(RecordError::new(
                    "DUPLICATE_VALUE",
                    format!("Duplicate external id specified: {shown}"),
                    vec![field_name.clone()],
                )),
            });
            continue;
        }
        if locked {
            outcomes.push(Outcome {
                given_id: None,
                result: Err(lock_failure(None)),
            });
            continue;
        }
        let result = match data.upsert(
            &type_name,
            &field_name,
            value,
            fields,
            false,
            &opts,
            &mut undo,
        ) {
            Ok(s) => Ok(s),
            Err(WriteError::Request(e)) => {
                data.rollback(undo);
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "JSON_PARSER_ERROR",
                    e.message,
                ));
            }
            Err(WriteError::Record(e)) => Err(e),
            Err(WriteError::MultipleMatches(ids)) => Err(RecordError::new(
                "DUPLICATE_EXTERNAL_ID",
                format!(
                    "{field_name}: more than one record found for external id field: {}",
                    ids.join(", ")
                ),
                vec![field_name.clone()],
            )),
        };
        outcomes.push(Outcome {
            given_id: None,
            result,
        });
    }
    Ok(finish(
        call,
        &mut data,
        undo,
        outcomes,
        call.all_or_none(body.all_or_none),
        true,
    ))
}

/// `DELETE /composite/sobjects?ids=...&allOrNone=...`.
pub fn delete(call: &Call<'_>) -> Answer {
    let ids: Vec<String> = call
        .param("ids")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.len() > MAX_RECORDS {
        return Err(too_many());
    }
    let all_or_none = call
        .param("allOrNone")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    call.carry(ids.len())?;
    let locks = draw_locks(call, ids.len());
    let opts = call.write_options();
    let mut data = call.data();
    let mut undo = UndoLog::default();
    let mut outcomes = Vec::with_capacity(ids.len());
    for (id, locked) in ids.into_iter().zip(locks) {
        let shown = crate::salesforce::id::normalize(&id).unwrap_or_else(|_| id.clone());
        if locked {
            outcomes.push(Outcome {
                given_id: Some(shown.clone()),
                result: Err(lock_failure(Some(&shown))),
            });
            continue;
        }
        let result = match data.delete(None, &id, &opts, &mut undo) {
            Ok(id) => Ok(Saved { id, created: false }),
            Err(WriteError::Record(e)) => Err(e),
            Err(WriteError::Request(e)) => {
                Err(RecordError::new("JSON_PARSER_ERROR", e.message, vec![]))
            }
            Err(WriteError::MultipleMatches(_)) => {
                Err(RecordError::new("NOT_FOUND", "entity not found", vec![]))
            }
        };
        outcomes.push(Outcome {
            given_id: Some(shown),
            result,
        });
    }
    Ok(finish(
        call,
        &mut data,
        undo,
        outcomes,
        call.all_or_none(all_or_none),
        false,
    ))
}

#[derive(Deserialize)]
struct RetrieveBody {
    ids: Vec<String>,
    fields: Vec<String>,
}

/// `GET /composite/sobjects/{T}?ids=&fields=` or `POST` with `{"ids","fields"}`.
pub fn retrieve(call: &Call<'_>, t: &str, method: &Method) -> Answer {
    let (ids, fields) = if method == Method::POST {
        let b: RetrieveBody = call.json_body()?;
        (b.ids, b.fields)
    } else {
        let split = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        (split(call.param("ids")), split(call.param("fields")))
    };
    if ids.len() > 2000 {
        return Err(too_many());
    }
    let data = call.data();
    let def = data
        .schema
        .sobject(t)
        .ok_or_else(|| ApiError::invalid_type(t))?;
    if fields.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MISSING_ARGUMENT",
            "The fields parameter is required",
        ));
    }
    for f in &fields {
        if def.field(f).is_none() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                format!("No such column '{f}' on entity '{}'", def.name),
            ));
        }
    }
    let table = data
        .tables
        .get(&def.name)
        .ok_or_else(ApiError::no_resource)?;
    let items: Vec<Value> = ids
        .iter()
        .map(|id| {
            crate::salesforce::id::normalize(id)
                .ok()
                .and_then(|id18| table.view(&id18))
                .filter(|row| !row.deleted())
                .map(|row| render_row(def, row, Some(&fields), call.version))
                .unwrap_or(Value::Null)
        })
        .collect();
    Ok(reply::json(StatusCode::OK, &items))
}
