//! Bulk API 2.0 ingest: jobs (`Open` → `UploadComplete` → `InProgress` → `JobComplete`
//! / `Failed` / `Aborted`), CSV upload, and the successful / failed / unprocessed result
//! files. A background task completes each closed job after the org's `bulk_delay_ms`,
//! running every row through the same write engine as the REST API.

use crate::salesforce::id;
use crate::sim::org::Org;
use crate::sim::reply::{self, ApiError};
use crate::sim::routes::{Call, ResultKind};
use crate::sim::rules::{self, RecordError};
use crate::sim::schema::FieldType;
use crate::sim::writes::{Saved, UndoLog, WriteError, WriteOptions};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

type Answer = Result<Response, ApiError>;

/// One ingest job.
#[derive(Debug, Clone)]
pub struct BulkJob {
    /// Job Id (`750...`).
    pub id: String,
    /// SObject.
    pub object: String,
    /// `insert`, `update`, `upsert`, `delete` or `hardDelete`.
    pub operation: String,
    /// Upsert key.
    pub external_id_field: Option<String>,
    /// Current state.
    pub state: String,
    /// `LF` or `CRLF`.
    pub line_ending: String,
    /// `COMMA`, `TAB`, ...
    pub column_delimiter: String,
    /// API version the job was created with.
    pub api_version: String,
    /// Creation time.
    pub created_date: String,
    /// Last change.
    pub system_modstamp: String,
    /// Uploaded header row.
    pub header: Vec<String>,
    /// Uploaded data rows.
    pub rows: Vec<Vec<String>>,
    /// `(sf__Id, sf__Created, row)` of rows written.
    pub successful: Vec<(String, bool, Vec<String>)>,
    /// `(sf__Id, sf__Error, row)` of rows refused.
    pub failed: Vec<(String, String, Vec<String>)>,
    /// Rows never processed (aborted or failed job).
    pub unprocessed: Vec<Vec<String>>,
    /// Why the job failed.
    pub error_message: Option<String>,
    /// Milliseconds spent processing.
    pub processing_ms: u64,
    /// The `client` of the creating call's `Sforce-Call-Options` header.
    pub client: Option<String>,
}

impl BulkJob {
    fn info(&self, created_by: &str) -> Value {
        let processed = (self.successful.len() + self.failed.len()) as u64;
        let mut v = json!({
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp,
            "state": self.state,
            "externalIdFieldName": self.external_id_field,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.api_version.parse::<f64>().unwrap_or(62.0),
            "contentUrl": format!("services/data/v{}/jobs/ingest/{}/batches", self.api_version, self.id),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
            "jobType": "V2Ingest",
            "numberRecordsProcessed": processed,
            "numberRecordsFailed": self.failed.len(),
            "retries": 0,
            "totalProcessingTime": self.processing_ms,
            "apiActiveProcessingTime": self.processing_ms,
            "apexProcessingTime": 0,
        });
        if let (Some(msg), Value::Object(m)) = (&self.error_message, &mut v) {
            m.insert("errorMessage".into(), Value::String(msg.clone()));
        }
        v
    }

    fn delimiter(&self) -> u8 {
        match self.column_delimiter.as_str() {
            "TAB" => b'\t',
            "PIPE" => b'|',
            "SEMICOLON" => b';',
            "CARET" => b'^',
            "BACKQUOTE" => b'`',
            _ => b',',
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateJob {
    object: String,
    operation: String,
    external_id_field_name: Option<String>,
    line_ending: Option<String>,
    column_delimiter: Option<String>,
}

fn job_error(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

fn job_not_found() -> ApiError {
    job_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// `POST /jobs/ingest`.
pub fn create_job(call: &Call<'_>) -> Answer {
    let req: CreateJob = call.json_body()?;
    let op = req.operation.as_str();
    if !matches!(op, "insert" | "update" | "upsert" | "delete" | "hardDelete") {
        return Err(job_error(
            StatusCode::BAD_REQUEST,
            "INVALIDJOB",
            format!("InvalidJob : Invalid operation: {op}"),
        ));
    }
    let (object, prefix) = {
        let data = call.org.data.lock();
        let def = data.schema.sobject(&req.object).ok_or_else(|| {
            job_error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOB",
                format!("InvalidJob : Invalid object: {}", req.object),
            )
        })?;
        if op == "upsert" {
            let ext = req.external_id_field_name.as_deref().unwrap_or_default();
            if !def.field(ext).is_some_and(|f| f.external_id || f.id_lookup) {
                return Err(job_error(
                    StatusCode::BAD_REQUEST,
                    "INVALIDJOB",
                    format!("InvalidJob : Invalid external id field: {ext}"),
                ));
            }
        }
        (def.name.clone(), "750".to_string())
    };
    let job_id = call.org.data.lock().mint_id(&prefix);
    let now = rules::format_datetime(chrono::Utc::now());
    let job = BulkJob {
        id: job_id.clone(),
        object,
        operation: req.operation,
        external_id_field: req.external_id_field_name,
        state: "Open".into(),
        line_ending: req.line_ending.unwrap_or_else(|| "LF".into()),
        column_delimiter: req.column_delimiter.unwrap_or_else(|| "COMMA".into()),
        api_version: call.version.to_string(),
        created_date: now.clone(),
        system_modstamp: now,
        header: Vec::new(),
        rows: Vec::new(),
        successful: Vec::new(),
        failed: Vec::new(),
        unprocessed: Vec::new(),
        error_message: None,
        processing_ms: 0,
        client: call.client(),
    };
    let info = job.info(&call.org.user_id);
    call.org.jobs.lock().insert(job_id, job);
    Ok(reply::json(StatusCode::OK, &info))
}

/// `GET /jobs/ingest`.
pub fn list_jobs(call: &Call<'_>) -> Response {
    let jobs = call.org.jobs.lock();
    let mut list: Vec<&BulkJob> = jobs.values().collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let records: Vec<Value> = list.iter().map(|j| j.info(&call.org.user_id)).collect();
    reply::json(
        StatusCode::OK,
        &json!({"done": true, "records": records, "nextRecordsUrl": null}),
    )
}

/// `GET /jobs/ingest/{id}`.
pub fn get_job(call: &Call<'_>, job_id: &str) -> Answer {
    let jobs = call.org.jobs.lock();
    let job = jobs.get(job_id).ok_or_else(job_not_found)?;
    Ok(reply::json(StatusCode::OK, &job.info(&call.org.user_id)))
}

/// `PUT /jobs/ingest/{id}/batches`: exactly 201 with no body.
pub fn upload(call: &Call<'_>, job_id: &str) -> Answer {
    let mut jobs = call.org.jobs.lock();
    let job = jobs.get_mut(job_id).ok_or_else(job_not_found)?;
    if job.state != "Open" {
        return Err(job_error(
            StatusCode::CONFLICT,
            "INVALIDJOBSTATE",
            format!("Job {} is not open for upload: {}", job.id, job.state),
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(job.delimiter())
        .has_headers(true)
        .flexible(false)
        .from_reader(call.body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            job_error(
                StatusCode::BAD_REQUEST,
                "INVALIDBATCH",
                format!("InvalidBatch : {e}"),
            )
        })?
        .iter()
        .map(str::to_string)
        .collect();
    if !job.header.is_empty() && job.header != header {
        return Err(job_error(
            StatusCode::BAD_REQUEST,
            "INVALIDBATCH",
            "InvalidBatch : every upload of a job needs the same header row",
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            job_error(
                StatusCode::BAD_REQUEST,
                "INVALIDBATCH",
                format!("InvalidBatch : {e}"),
            )
        })?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    job.header = header;
    job.rows.extend(rows);
    Ok(reply::empty(StatusCode::CREATED))
}

#[derive(Deserialize)]
struct StateChange {
    state: String,
}

/// `PATCH /jobs/ingest/{id}` with `UploadComplete` or `Aborted`.
pub fn update_state(call: &Call<'_>, job_id: &str) -> Answer {
    let change: StateChange = call.json_body()?;
    let mut jobs = call.org.jobs.lock();
    let job = jobs.get_mut(job_id).ok_or_else(job_not_found)?;
    let now = rules::format_datetime(chrono::Utc::now());
    match change.state.as_str() {
        "UploadComplete" => {
            if job.state != "Open" {
                return Err(job_error(
                    StatusCode::CONFLICT,
                    "INVALIDJOBSTATE",
                    format!("Job is not open: {}", job.state),
                ));
            }
            job.state = "UploadComplete".into();
            job.system_modstamp = now;
            spawn_processing(call.org.clone(), job.id.clone());
        }
        "Aborted" => {
            if matches!(job.state.as_str(), "JobComplete" | "Failed" | "Aborted") {
                return Err(job_error(
                    StatusCode::CONFLICT,
                    "INVALIDJOBSTATE",
                    format!("Job is already finished: {}", job.state),
                ));
            }
            job.state = "Aborted".into();
            job.system_modstamp = now;
            job.unprocessed = std::mem::take(&mut job.rows);
        }
        other => {
            return Err(job_error(
                StatusCode::BAD_REQUEST,
                "INVALIDJOBSTATE",
                format!("Invalid state change: {other}"),
            ));
        }
    }
    Ok(reply::json(StatusCode::OK, &job.info(&call.org.user_id)))
}

/// `DELETE /jobs/ingest/{id}`.
pub fn delete_job(call: &Call<'_>, job_id: &str) -> Answer {
    call.org
        .jobs
        .lock()
        .remove(job_id)
        .ok_or_else(job_not_found)?;
    Ok(reply::empty(StatusCode::NO_CONTENT))
}

/// `GET /jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords`.
pub fn results(call: &Call<'_>, job_id: &str, kind: ResultKind) -> Answer {
    let jobs = call.org.jobs.lock();
    let job = jobs.get(job_id).ok_or_else(job_not_found)?;
    let mut w = csv::WriterBuilder::new()
        .delimiter(job.delimiter())
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let write_err = |e: csv::Error| {
        job_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            e.to_string(),
        )
    };
    match kind {
        ResultKind::Successful => {
            let mut head = vec!["sf__Id".to_string(), "sf__Created".to_string()];
            head.extend(job.header.iter().cloned());
            w.write_record(&head).map_err(write_err)?;
            for (id, created, row) in &job.successful {
                let mut rec = vec![id.clone(), created.to_string()];
                rec.extend(row.iter().cloned());
                w.write_record(&rec).map_err(write_err)?;
            }
        }
        ResultKind::Failed => {
            let mut head = vec!["sf__Id".to_string(), "sf__Error".to_string()];
            head.extend(job.header.iter().cloned());
            w.write_record(&head).map_err(write_err)?;
            for (id, error, row) in &job.failed {
                let mut rec = vec![id.clone(), error.clone()];
                rec.extend(row.iter().cloned());
                w.write_record(&rec).map_err(write_err)?;
            }
        }
        ResultKind::Unprocessed => {
            if !job.header.is_empty() {
                w.write_record(&job.header).map_err(write_err)?;
            }
            for row in &job.unprocessed {
                w.write_record(row).map_err(write_err)?;
            }
        }
    }
    let bytes = w.into_inner().map_err(|e| {
        job_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            e.to_string(),
        )
    })?;
    Ok(reply::with_type(StatusCode::OK, "text/csv", bytes))
}

fn spawn_processing(org: Arc<Org>, job_id: String) {
    let delay = Duration::from_millis(org.config.bulk_delay_ms);
    tokio::spawn(async move {
        let half = delay / 2;
        tokio::select! {
            _ = tokio::time::sleep(half) => {}
            _ = org.cancel.cancelled() => return,
        }
        if !set_state_if(&org, &job_id, "UploadComplete", "InProgress") {
            return;
        }
        // Work costs time: the org's per-record latency for every uploaded row.
        let rows = org.jobs.lock().get(&job_id).map_or(0, |j| j.rows.len());
        let per_record = org.faults.lock().plan().latency_per_record_us;
        let work = Duration::from_micros(per_record.saturating_mul(rows as u64));
        tokio::select! {
            _ = tokio::time::sleep(delay - half + work) => {}
            _ = org.cancel.cancelled() => return,
        }
        process(&org, &job_id);
    });
}

fn set_state_if(org: &Org, job_id: &str, from: &str, to: &str) -> bool {
    let mut jobs = org.jobs.lock();
    match jobs.get_mut(job_id) {
        Some(job) if job.state == from => {
            job.state = to.to_string();
            job.system_modstamp = rules::format_datetime(chrono::Utc::now());
            true
        }
        _ => false,
    }
}

fn error_text(e: &RecordError) -> String {
    format!("{}:{}:{}--", e.code, e.message, e.fields.join(","))
}

/// A relationship column of a CSV header: `Account.CustomId__c`, or for a polymorphic
/// relationship `Contact:Who.CustomId__c` (the parent's SObject first).
struct RelationshipColumn<'h> {
    sobject: Option<&'h str>,
    relationship: &'h str,
    field: &'h str,
}

fn relationship_column<'h>(
    def: &crate::sim::schema::SObjectDef,
    header: &'h str,
) -> Option<RelationshipColumn<'h>> {
    let (left, field) = header.split_once('.')?;
    let (sobject, relationship) = match left.split_once(':') {
        Some((t, r)) => (Some(t), r),
        None => (None, left),
    };
    let known = def.reference_fields().any(|(_, f)| {
        f.relationship_name
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(relationship))
    });
    (known && !field.is_empty()).then_some(RelationshipColumn {
        sobject,
        relationship,
        field,
    })
}

/// True when a header names a field or a relationship of the SObject.
fn known_column(def: &crate::sim::schema::SObjectDef, header: &str) -> bool {
    def.field(header).is_some() || relationship_column(def, header).is_some()
}

/// Turns CSV cells into typed JSON: `#N/A` is null, an empty cell is left out, and a
/// relationship column becomes the relationship reference the REST API takes.
fn row_fields(
    def: &crate::sim::schema::SObjectDef,
    header: &[String],
    row: &[String],
) -> Result<Map<String, Value>, RecordError> {
    let mut m = Map::new();
    for (name, cell) in header.iter().zip(row) {
        if cell.is_empty() {
            continue;
        }
        if let Some(column) = relationship_column(def, name) {
            let value = if cell == "#N/A" {
                Value::Null
            } else {
                let mut reference = Map::new();
                if let Some(t) = column.sobject {
                    reference.insert("attributes".into(), json!({ "type": t }));
                }
                reference.insert(column.field.to_string(), Value::String(cell.clone()));
                Value::Object(reference)
            };
            m.insert(column.relationship.to_string(), value);
            continue;
        }
        if cell == "#N/A" {
            m.insert(name.clone(), Value::Null);
            continue;
        }
        let is_bool = def
            .field(name)
            .is_some_and(|f| f.field_type == FieldType::Boolean);
        let v = if is_bool {
            match cell.to_ascii_lowercase().as_str() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => {
                    return Err(RecordError::new(
                        "INVALID_TYPE_ON_FIELD_IN_RECORD",
                        format!("{name}: value not of required type: {cell}"),
                        vec![name.clone()],
                    ))
                }
            }
        } else {
            Value::String(cell.clone())
        };
        m.insert(name.clone(), v);
    }
    Ok(m)
}

fn take_id(fields: &mut Map<String, Value>) -> Option<String> {
    let key = fields
        .keys()
        .find(|k| k.eq_ignore_ascii_case("id"))
        .cloned()?;
    fields
        .remove(&key)
        .and_then(|v| v.as_str().map(str::to_string))
}

fn process(org: &Org, job_id: &str) {
    let started = std::time::Instant::now();
    let Some(job) = org.jobs.lock().get(job_id).cloned() else {
        return;
    };
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    let mut job_error_message = None;
    {
        let mut data = org.data.lock();
        let unknown = data
            .schema
            .sobject(&job.object)
            .map(|def| job.header.iter().find(|h| !known_column(def, h)).cloned())
            .unwrap_or_else(|| Some(job.object.clone()));
        if let Some(col) = unknown {
            job_error_message = Some(format!("InvalidBatch : Field name not found : {col}"));
        } else {
            let opts = WriteOptions::now(false).with_client(job.client.clone());
            for row in &job.rows {
                let def = match data.schema.sobject(&job.object) {
                    Some(d) => d,
                    None => break,
                };
                let outcome = row_fields(def, &job.header, row)
                    .map_err(WriteError::Record)
                    .and_then(|mut fields| {
                        let mut undo = UndoLog::default();
                        match job.operation.as_str() {
                            "insert" => data.create(&job.object, fields, &opts, &mut undo),
                            "update" => {
                                let id = take_id(&mut fields).unwrap_or_default();
                                data.update(Some(&job.object), &id, fields, &opts, &mut undo)
                            }
                            "upsert" => {
                                let ext = job.external_id_field.clone().unwrap_or_default();
                                let value = fields
                                    .iter()
                                    .find(|(k, _)| k.eq_ignore_ascii_case(&ext))
                                    .map(|(_, v)| v.clone())
                                    .unwrap_or(Value::Null);
                                data.upsert(
                                    &job.object,
                                    &ext,
                                    value,
                                    fields,
                                    false,
                                    &opts,
                                    &mut undo,
                                )
                            }
                            _ => {
                                let id = take_id(&mut fields).unwrap_or_default();
                                data.delete(Some(&job.object), &id, &opts, &mut undo)
                                    .map(|id| Saved { id, created: false })
                            }
                        }
                    });
                match outcome {
                    Ok(saved) => successful.push((saved.id, saved.created, row.clone())),
                    Err(e) => {
                        let err = match e {
                            WriteError::Record(r) => r,
                            WriteError::Request(p) => RecordError::new(
                                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                                p.message,
                                vec![],
                            ),
                            WriteError::MultipleMatches(ids) => RecordError::new(
                                "DUPLICATE_EXTERNAL_ID",
                                format!("more than one record found: {}", ids.join(", ")),
                                vec![],
                            ),
                        };
                        let given = row
                            .iter()
                            .zip(&job.header)
                            .find(|(_, h)| h.eq_ignore_ascii_case("id"))
                            .and_then(|(v, _)| id::normalize(v).ok())
                            .unwrap_or_default();
                        failed.push((given, error_text(&err), row.clone()));
                    }
                }
            }
        }
    }
    let mut jobs = org.jobs.lock();
    let Some(stored) = jobs.get_mut(job_id) else {
        return;
    };
    if stored.state != "InProgress" {
        return;
    }
    stored.processing_ms = started.elapsed().as_millis() as u64;
    stored.system_modstamp = rules::format_datetime(chrono::Utc::now());
    match job_error_message {
        Some(msg) => {
            stored.state = "Failed".into();
            stored.error_message = Some(msg);
            stored.unprocessed = std::mem::take(&mut stored.rows);
        }
        None => {
            stored.state = "JobComplete".into();
            stored.successful = successful;
            stored.failed = failed;
        }
    }
}
