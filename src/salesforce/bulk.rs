//! Bulk API 2.0 ingest: large backlogs written as one CSV job instead of many
//! sObject Collections calls.
//!
//! A job is created, its CSV uploaded (`#N/A` for null), closed, polled with backoff
//! until it ends, and its three result files (successful, failed, unprocessed) are read
//! back; a transient failure of one of those reads is read again, not the job's end. Result rows come in no particular order and carry no row number, and Bulk
//! refuses columns the SObject does not have, so each input row is matched back by its
//! key as written in the CSV: `Id` for update and delete, the External ID for upsert,
//! and the whole row for insert (identical insert rows are interchangeable). Every
//! input row gets the same [`RecordResult`] a Collections call would give; rows that
//! were never processed or never reported come back as retryable failures.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::client::{ApiRequest, ApiResponse, SalesforceClient};
use super::retry::{decide_call, Action, Backoff, Call, Policy, Retries};
use super::wire::{
    ApiError, CallError, Endpoint, RecordResult, RESULT_MISSING_CODE, UNPROCESSED_CODE,
};

/// What Bulk reads as "set this field to null".
const CSV_NULL: &str = "#N/A";
/// Largest CSV sent in one job: Salesforce takes 150 MB after base64, i.e. 100 MB raw.
const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;
/// Separates key parts when matching rows; cannot occur in field names.
const KEY_SEPARATOR: char = '\u{1f}';

/// The ingest operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOperation {
    /// `insert`
    Insert,
    /// `update` (rows carry `Id` or `id`)
    Update,
    /// `upsert` on an External ID field (rows carry it)
    Upsert {
        /// `externalIdFieldName`
        external_id_field: String,
    },
    /// `delete` (rows carry `Id` or `id`; other columns are ignored)
    Delete,
}

impl BulkOperation {
    fn wire_name(&self) -> &'static str {
        match self {
            BulkOperation::Insert => "insert",
            BulkOperation::Update => "update",
            BulkOperation::Upsert { .. } => "upsert",
            BulkOperation::Delete => "delete",
        }
    }
}

/// Polling of a running job.
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// First delay between polls.
    pub poll_initial: Duration,
    /// Longest delay between polls.
    pub poll_max: Duration,
    /// When the job is still running after this, it is aborted and its unprocessed
    /// rows come back as retryable failures.
    pub timeout: Duration,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            poll_initial: Duration::from_millis(500),
            poll_max: Duration::from_secs(10),
            timeout: Duration::from_secs(600),
        }
    }
}

/// How a job ended, with one result per input row in input order.
#[derive(Debug, Clone)]
pub struct BulkReport {
    /// The job's Id.
    pub job_id: String,
    /// The final state (`JobComplete`, `Failed`, `Aborted`).
    pub state: String,
    /// `errorMessage` of a failed job.
    pub error_message: Option<String>,
    /// One result per input row.
    pub results: Vec<RecordResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobInfo {
    id: String,
    state: String,
    #[serde(default)]
    error_message: Option<String>,
}

/// The CSV sent to Salesforce, with the per-row keys used to match results back.
struct CsvUpload {
    body: Vec<u8>,
    key_columns: Vec<String>,
    row_keys: Vec<String>,
}

/// Flattens a body into CSV columns: `attributes` dropped, `id` written as `Id`, a
/// relationship value `{"Ext__c": "x"}` under `Parent__r` written as `Parent__r.Ext__c`.
fn flatten(row: &Map<String, Value>) -> Vec<(String, String)> {
    let mut cells = Vec::with_capacity(row.len());
    for (name, value) in row {
        if name == "attributes" {
            continue;
        }
        let column = if name == "id" {
            "Id".to_string()
        } else {
            name.clone()
        };
        match value {
            Value::Object(inner) => {
                for (sub, v) in inner {
                    if sub != "attributes" {
                        cells.push((format!("{column}.{sub}"), cell(v)));
                    }
                }
            }
            other => cells.push((column, cell(other))),
        }
    }
    cells
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => CSV_NULL.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(";"),
        other => other.to_string(),
    }
}

fn build_csv(op: &BulkOperation, rows: &[Map<String, Value>]) -> Result<CsvUpload, CallError> {
    let flat: Vec<Vec<(String, String)>> = rows.iter().map(flatten).collect();
    let mut columns: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for row in &flat {
        for (column, _) in row {
            if *op == BulkOperation::Delete && column != "Id" {
                continue;
            }
            if !index.contains_key(column) {
                index.insert(column.clone(), columns.len());
                columns.push(column.clone());
            }
        }
    }
    let key_columns: Vec<String> = match op {
        BulkOperation::Update | BulkOperation::Delete => vec!["Id".into()],
        BulkOperation::Upsert { external_id_field } => vec![external_id_field.clone()],
        BulkOperation::Insert => columns.clone(),
    };
    for key in &key_columns {
        if !index.contains_key(key) {
            return Err(CallError::InvalidRequest(format!(
                "bulk {} rows carry no {key} column",
                op.wire_name()
            )));
        }
    }
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let csv_err =
        |e: csv::Error| CallError::InvalidRequest(format!("cannot write the bulk CSV: {e}"));
    writer.write_record(&columns).map_err(csv_err)?;
    let mut row_keys = Vec::with_capacity(rows.len());
    let mut line = vec![String::new(); columns.len()];
    for row in flat {
        line.iter_mut().for_each(String::clear);
        for (column, value) in row {
            if let Some(&i) = index.get(&column) {
                if let Some(slot) = line.get_mut(i) {
                    *slot = value;
                }
            }
        }
        row_keys.push(join_key(key_columns.iter().map(|k| {
            index
                .get(k)
                .and_then(|&i| line.get(i))
                .map_or("", String::as_str)
        })));
        writer.write_record(&line).map_err(csv_err)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| CallError::InvalidRequest(format!("cannot write the bulk CSV: {e}")))?;
    Ok(CsvUpload {
        body,
        key_columns,
        row_keys,
    })
}

fn join_key<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut key = String::new();
    for (i, part) in parts.enumerate() {
        if i > 0 {
            key.push(KEY_SEPARATOR);
        }
        // Salesforce matches Ids and External IDs case-insensitively, so lower-casing
        // keeps the match on the same row; a null may be echoed as `#N/A` or as an
        // empty cell, so both count as empty.
        if part != CSV_NULL {
            key.push_str(&part.to_lowercase());
        }
    }
    key
}

/// Parses `sf__Error` (`CODE:message:fields`, with `--` for no fields).
fn parse_bulk_error(text: &str) -> ApiError {
    let (code, rest) = text.split_once(':').unwrap_or((text, ""));
    let (message, fields) = match rest.rsplit_once(':') {
        Some((message, "--")) => (message, Vec::new()),
        Some((message, fields)) if !fields.contains(' ') && !fields.is_empty() => {
            (message, fields.split(',').map(str::to_string).collect())
        }
        _ => (rest, Vec::new()),
    };
    ApiError {
        status_code: code.trim().to_string(),
        message: message.trim().to_string(),
        fields,
    }
}

/// Matches the rows of one result file back to input row positions.
fn match_results(
    csv_text: &[u8],
    key_columns: &[String],
    positions: &mut HashMap<String, VecDeque<usize>>,
    results: &mut [Option<RecordResult>],
    make: impl Fn(&csv::StringRecord, &HashMap<String, usize>) -> RecordResult,
) -> Result<(), CallError> {
    // An empty file has no header and no row. Building a csv reader costs more than
    // reading a small file (it computes its parser's transition table), so none is
    // built for nothing.
    if csv_text.is_empty() {
        return Ok(());
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(csv_text);
    let headers = reader
        .headers()
        .map_err(|e| {
            CallError::decode(Endpoint::BulkIngest, format!("bad result CSV header: {e}"))
        })?
        .clone();
    let column: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.to_string(), i))
        .collect();
    for record in reader.records() {
        let record = record.map_err(|e| {
            CallError::decode(Endpoint::BulkIngest, format!("bad result CSV row: {e}"))
        })?;
        let key = join_key(
            key_columns
                .iter()
                .map(|k| column.get(k).and_then(|&i| record.get(i)).unwrap_or("")),
        );
        let Some(position) = positions.get_mut(&key).and_then(VecDeque::pop_front) else {
            tracing::warn!("a Bulk API result row matches no input row; ignored");
            continue;
        };
        if let Some(slot) = results.get_mut(position) {
            *slot = Some(make(&record, &column));
        }
    }
    Ok(())
}

fn field<'r>(
    record: &'r csv::StringRecord,
    column: &HashMap<String, usize>,
    name: &str,
) -> Option<&'r str> {
    column
        .get(name)
        .and_then(|&i| record.get(i))
        .filter(|v| !v.is_empty())
}

fn valid_job_id(id: &str) -> Result<&str, CallError> {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(CallError::decode(
            Endpoint::BulkIngest,
            format!("unexpected job id {id:?}"),
        ))
    }
}

impl SalesforceClient {
    /// Runs one Bulk API 2.0 ingest job over `rows` (bodies as built by
    /// `request::record_body`; `attributes` is ignored) and returns one result per row.
    /// The rows are dropped once the CSV is built, and the CSV once it is uploaded, so a
    /// job holds little memory while it runs.
    pub async fn bulk_ingest(
        &self,
        sobject: &str,
        op: &BulkOperation,
        rows: Vec<Map<String, Value>>,
        opts: &BulkOptions,
    ) -> Result<BulkReport, CallError> {
        if sobject.is_empty()
            || !sobject
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(CallError::InvalidRequest(format!(
                "{sobject:?} is not a valid SObject name"
            )));
        }
        let upload = build_csv(op, &rows)?;
        drop(rows);
        if upload.body.len() > MAX_UPLOAD_BYTES {
            return Err(CallError::InvalidRequest(format!(
                "a bulk upload takes at most {MAX_UPLOAD_BYTES} bytes of CSV, got {}; split the rows",
                upload.body.len()
            )));
        }
        let mut job = serde_json::json!({
            "object": sobject,
            "operation": op.wire_name(),
            "contentType": "CSV",
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        });
        if let BulkOperation::Upsert { external_id_field } = op {
            job["externalIdFieldName"] = Value::String(external_id_field.clone());
        }
        let create = ApiRequest::new(Endpoint::BulkIngest, Method::POST, "/jobs/ingest")
            .json_body(job.to_string());
        let info: JobInfo = parse_job(&self.execute(&create).await?.body)?;
        let job_id = valid_job_id(&info.id)?.to_string();

        let mut put = ApiRequest::new(
            Endpoint::BulkIngest,
            Method::PUT,
            format!("/jobs/ingest/{job_id}/batches"),
        );
        put.body = Some(Bytes::from(upload.body));
        put.content_type = "text/csv";
        let uploaded = self.execute(&put).await?;
        drop(put);
        if uploaded.status != 201 {
            self.abort_job(&job_id).await;
            return Err(CallError::decode(
                Endpoint::BulkIngest,
                format!("CSV upload answered {} instead of 201", uploaded.status),
            ));
        }
        let close = ApiRequest::new(
            Endpoint::BulkIngest,
            Method::PATCH,
            format!("/jobs/ingest/{job_id}"),
        )
        .json_body(r#"{"state":"UploadComplete"}"#);
        self.execute(&close).await?;

        let info = self.wait_for_job(&job_id, opts).await?;
        let results = self
            .collect_results(&job_id, &upload.key_columns, &upload.row_keys, opts)
            .await?;
        Ok(BulkReport {
            job_id,
            state: info.state,
            error_message: info.error_message,
            results,
        })
    }

    async fn wait_for_job(&self, job_id: &str, opts: &BulkOptions) -> Result<JobInfo, CallError> {
        let deadline = Instant::now() + opts.timeout;
        let mut backoff =
            Backoff::with_rng(opts.poll_initial, opts.poll_max, StdRng::from_entropy());
        let poll = ApiRequest::new(
            Endpoint::BulkIngest,
            Method::GET,
            format!("/jobs/ingest/{job_id}"),
        );
        loop {
            let info = parse_job(&self.read_job(&poll, opts).await?.body)?;
            if matches!(info.state.as_str(), "JobComplete" | "Failed" | "Aborted") {
                return Ok(info);
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    job_id,
                    "Bulk API job still running at its timeout; aborting it"
                );
                self.abort_job(job_id).await;
                return parse_job(&self.read_job(&poll, opts).await?.body);
            }
            // Polls are spread out with backoff: each one costs an API call. Half the
            // ceiling is always waited so polls never bunch up at zero delay.
            let delay = backoff.ceiling() / 2 + backoff.next_delay() / 2;
            tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    async fn abort_job(&self, job_id: &str) {
        let abort = ApiRequest::new(
            Endpoint::BulkIngest,
            Method::PATCH,
            format!("/jobs/ingest/{job_id}"),
        )
        .json_body(r#"{"state":"Aborted"}"#);
        if let Err(e) = self.execute(&abort).await {
            tracing::warn!(job_id, error = %e, "cannot abort the Bulk API job");
        }
    }

    /// Sends a read of a closed job (its state or a result file). Reading again is
    /// harmless, and the job runs on whatever happens to one read, so a transient
    /// failure is retried here, with the poll backoff and within `opts.timeout`. Failing
    /// the job instead would make the writer send every row again in a new job.
    async fn read_job(
        &self,
        request: &ApiRequest,
        opts: &BulkOptions,
    ) -> Result<ApiResponse, CallError> {
        let backoff = Backoff::with_rng(opts.poll_initial, opts.poll_max, StdRng::from_entropy());
        let mut retries = Retries::new(opts.timeout, backoff);
        loop {
            let e = match self.execute(request).await {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            match decide_call(&Policy::default(), Call::Read, &e) {
                Action::Retry { reason } if retries.wait().await => {
                    tracing::debug!("reading a Bulk API job failed ({reason}), read again");
                }
                _ => return Err(e),
            }
        }
    }

    async fn fetch_csv(
        &self,
        job_id: &str,
        file: &str,
        opts: &BulkOptions,
    ) -> Result<Bytes, CallError> {
        let mut request = ApiRequest::new(
            Endpoint::BulkIngest,
            Method::GET,
            format!("/jobs/ingest/{job_id}/{file}/"),
        );
        request.accept = "text/csv";
        Ok(self.read_job(&request, opts).await?.body)
    }

    async fn collect_results(
        &self,
        job_id: &str,
        key_columns: &[String],
        row_keys: &[String],
        opts: &BulkOptions,
    ) -> Result<Vec<RecordResult>, CallError> {
        let files = ResultFiles {
            successful: self.fetch_csv(job_id, "successfulResults", opts).await?,
            failed: self.fetch_csv(job_id, "failedResults", opts).await?,
            unprocessed: self.fetch_csv(job_id, "unprocessedrecords", opts).await?,
        };
        read_result_files(key_columns, row_keys, &files)
    }
}

/// The three result files of a finished job, as Salesforce sent them.
pub(crate) struct ResultFiles {
    /// `successfulResults`: `sf__Id`, `sf__Created`, then the uploaded columns.
    pub(crate) successful: Bytes,
    /// `failedResults`: `sf__Id`, `sf__Error`, then the uploaded columns.
    pub(crate) failed: Bytes,
    /// `unprocessedrecords`: the uploaded columns only.
    pub(crate) unprocessed: Bytes,
}

/// Matches the rows of the result files back to the input rows (`row_keys`, as built
/// with the CSV) and gives every input row its result.
pub(crate) fn read_result_files(
    key_columns: &[String],
    row_keys: &[String],
    files: &ResultFiles,
) -> Result<Vec<RecordResult>, CallError> {
    let mut positions: HashMap<String, VecDeque<usize>> = HashMap::new();
    for (i, key) in row_keys.iter().enumerate() {
        positions.entry(key.clone()).or_default().push_back(i);
    }
    let mut results: Vec<Option<RecordResult>> = vec![None; row_keys.len()];

    match_results(
        &files.successful,
        key_columns,
        &mut positions,
        &mut results,
        |r, c| RecordResult {
            id: field(r, c, "sf__Id").map(str::to_string),
            success: true,
            created: field(r, c, "sf__Created").map(|v| v.eq_ignore_ascii_case("true")),
            errors: Vec::new(),
        },
    )?;
    match_results(
        &files.failed,
        key_columns,
        &mut positions,
        &mut results,
        |r, c| RecordResult {
            id: field(r, c, "sf__Id").map(str::to_string),
            success: false,
            created: None,
            errors: vec![parse_bulk_error(
                field(r, c, "sf__Error").unwrap_or("UNKNOWN_ERROR:no error given"),
            )],
        },
    )?;
    match_results(
        &files.unprocessed,
        key_columns,
        &mut positions,
        &mut results,
        |_, _| {
            RecordResult::failed(
                UNPROCESSED_CODE,
                "Salesforce did not process this row (the job failed or was aborted)",
            )
        },
    )?;

    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                RecordResult::failed(
                    RESULT_MISSING_CODE,
                    "the Bulk API job reported nothing about this row",
                )
            })
        })
        .collect())
}

fn parse_job(body: &[u8]) -> Result<JobInfo, CallError> {
    serde_json::from_slice(body)
        .map_err(|e| CallError::decode(Endpoint::BulkIngest, format!("bad job info: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::retry::{decide_record, RecordOp};

    /// `behavior.on.api.errors=ignore`: a permanent row error comes back as a reject.
    const SKIP: Policy = Policy {
        strict_deletes: false,
        skip_api_errors: true,
        tolerate_bad_records: false,
        all_or_none: false,
        skip_cdc_gaps: false,
    };
    use crate::salesforce::test_org::TestOrg;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::{get, post, put};
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    fn rows(v: Value) -> Vec<Map<String, Value>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn csv_has_union_columns_nulls_as_na_and_relationship_paths() {
        let input = rows(json!([
            {"attributes": {"type": "Lead"}, "LastName": "a,b", "Phone": null},
            {"attributes": {"type": "Lead"}, "LastName": "c", "Owner": {"Email": "o@x"}}
        ]));
        let upload = build_csv(&BulkOperation::Insert, &input).unwrap();
        let text = String::from_utf8(upload.body).unwrap();
        assert_eq!(text, "LastName,Phone,Owner.Email\n\"a,b\",#N/A,\nc,,o@x\n");
        assert_eq!(upload.row_keys.len(), 2);
    }

    #[test]
    fn delete_csv_holds_only_ids_and_update_needs_them() {
        let input = rows(json!([{"id": "00QA", "LastName": "x"}]));
        let upload = build_csv(&BulkOperation::Delete, &input).unwrap();
        assert_eq!(String::from_utf8(upload.body).unwrap(), "Id\n00QA\n");
        let no_id = rows(json!([{"LastName": "x"}]));
        assert!(build_csv(&BulkOperation::Update, &no_id).is_err());
    }

    #[test]
    fn bulk_error_text_splits_into_code_message_and_fields() {
        let e = parse_bulk_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: 001x:--");
        assert_eq!(e.status_code, "UNABLE_TO_LOCK_ROW");
        assert_eq!(
            e.message,
            "unable to obtain exclusive access to this record or 1 records: 001x"
        );
        assert!(e.fields.is_empty());
        let f = parse_bulk_error(
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company",
        );
        assert_eq!(f.fields, ["Company"]);
    }

    #[test]
    fn empty_result_files_report_nothing_and_leave_rows_missing() {
        let upload = build_csv(
            &BulkOperation::Insert,
            &rows(json!([{"LastName": "a"}, {"LastName": "b"}])),
        )
        .unwrap();
        let files = ResultFiles {
            successful: Bytes::from_static(b"sf__Id,sf__Created,LastName\n001A,true,b\n"),
            failed: Bytes::new(),
            unprocessed: Bytes::new(),
        };
        let results = read_result_files(&upload.key_columns, &upload.row_keys, &files).unwrap();
        assert_eq!(results[0].errors[0].status_code, RESULT_MISSING_CODE);
        assert!(results[1].success);
        assert_eq!(results[1].id.as_deref(), Some("001A"));
    }

    /// A minimal ingest endpoint: rows named "bad" fail, "skip" stay unprocessed, the
    /// rest succeed; every result file lists rows in reverse to prove order is not relied on.
    #[derive(Default)]
    struct Jobs {
        csv: Mutex<String>,
        polls: Mutex<u32>,
        created: Mutex<Option<Value>>,
        /// The job never finishes on its own (until aborted).
        stuck: bool,
        aborted: Mutex<bool>,
        /// Polls of the job's state still to answer with a 503.
        failing_polls: Mutex<u32>,
        /// Reads of result files still to answer with a 503.
        failing_files: Mutex<u32>,
    }

    /// A 503 while `left` is above zero (and one fewer left).
    fn failing_read(left: &Mutex<u32>) -> Option<axum::response::Response> {
        use axum::response::IntoResponse;
        let mut left = left.lock().unwrap();
        (*left > 0).then(|| {
            *left -= 1;
            let body = json!([{"errorCode": "SERVER_UNAVAILABLE", "message": "try again"}]);
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        })
    }

    fn result_file(jobs: &Jobs, which: &str) -> String {
        let csv_text = jobs.csv.lock().unwrap().clone();
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let name_col = headers.iter().position(|h| h == "LastName").unwrap();
        let mut out = csv::Writer::from_writer(Vec::new());
        let prefix: Vec<&str> = match which {
            "successfulResults" => vec!["sf__Id", "sf__Created"],
            "failedResults" => vec!["sf__Id", "sf__Error"],
            _ => vec![],
        };
        out.write_record(
            prefix
                .iter()
                .copied()
                .chain(headers.iter().map(String::as_str)),
        )
        .unwrap();
        let mut records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        records.reverse();
        for (i, r) in records.iter().enumerate() {
            let name = &r[name_col];
            let aborted = *jobs.aborted.lock().unwrap();
            let extra: Vec<String> = match (which, name) {
                ("unprocessedrecords", _) if aborted => vec![],
                _ if aborted => continue,
                ("failedResults", "bad") => vec![
                    String::new(),
                    "REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company".into(),
                ],
                ("unprocessedrecords", "skip") => vec![],
                ("successfulResults", n) if n != "bad" && n != "skip" => {
                    vec![format!("00Q{i}"), "true".into()]
                }
                _ => continue,
            };
            out.write_record(extra.iter().map(String::as_str).chain(r.iter()))
                .unwrap();
        }
        String::from_utf8(out.into_inner().unwrap()).unwrap()
    }

    /// Polls a millisecond apart, so tests run fast; the job is aborted after `timeout`.
    fn quick_polls(timeout: Duration) -> BulkOptions {
        BulkOptions {
            poll_initial: Duration::from_millis(1),
            poll_max: Duration::from_millis(2),
            timeout,
        }
    }

    async fn bulk_org(stuck: bool) -> (TestOrg, Arc<Jobs>) {
        use axum::response::IntoResponse;
        let jobs = Arc::new(Jobs {
            stuck,
            ..Jobs::default()
        });
        let base = "/services/data/v61.0/jobs/ingest";
        let router = axum::Router::new()
            .route(
                base,
                post(|State(j): State<Arc<Jobs>>, axum::Json(body): axum::Json<Value>| async move {
                    *j.created.lock().unwrap() = Some(body);
                    axum::Json(json!({"id": "7503h00000AbCdE", "state": "Open"}))
                }),
            )
            .route(
                &format!("{base}/{{id}}/batches"),
                put(|State(j): State<Arc<Jobs>>, body: String| async move {
                    *j.csv.lock().unwrap() = body;
                    StatusCode::CREATED
                }),
            )
            .route(
                &format!("{base}/{{id}}"),
                get(|State(j): State<Arc<Jobs>>| async move {
                    if let Some(refused) = failing_read(&j.failing_polls) {
                        return refused;
                    }
                    let mut polls = j.polls.lock().unwrap();
                    *polls += 1;
                    let state = if *j.aborted.lock().unwrap() {
                        "Aborted"
                    } else if *polls < 2 || j.stuck {
                        "InProgress"
                    } else {
                        "JobComplete"
                    };
                    axum::Json(json!({"id": "7503h00000AbCdE", "state": state})).into_response()
                })
                .patch(|State(j): State<Arc<Jobs>>, body: String| async move {
                    if body.contains("Aborted") {
                        *j.aborted.lock().unwrap() = true;
                    }
                    axum::Json(json!({"id": "7503h00000AbCdE", "state": "UploadComplete"}))
                }),
            )
            .route(
                &format!("{base}/{{id}}/{{file}}/"),
                get(|State(j): State<Arc<Jobs>>, Path((_id, file)): Path<(String, String)>| async move {
                    match failing_read(&j.failing_files) {
                        Some(refused) => refused,
                        None => result_file(&j, &file).into_response(),
                    }
                }),
            )
            .with_state(jobs.clone());
        (TestOrg::start(router).await, jobs)
    }

    #[tokio::test]
    async fn bulk_upsert_maps_unordered_results_back_to_input_rows() {
        let (org, jobs) = bulk_org(false).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let input = rows(json!([
            {"attributes": {"type": "Lead"}, "CustomId__c": "src-1", "LastName": "ok1"},
            {"attributes": {"type": "Lead"}, "CustomId__c": "src-2", "LastName": "bad"},
            {"attributes": {"type": "Lead"}, "CustomId__c": "src-3", "LastName": "skip"},
            {"attributes": {"type": "Lead"}, "CustomId__c": "src-4", "LastName": "ok2"}
        ]));
        let op = BulkOperation::Upsert {
            external_id_field: "CustomId__c".into(),
        };
        let opts = quick_polls(Duration::from_secs(5));
        let report = client
            .bulk_ingest("Lead", &op, input.clone(), &opts)
            .await
            .unwrap();
        assert_eq!(report.state, "JobComplete");
        assert_eq!(*jobs.polls.lock().unwrap(), 2);
        let created = jobs.created.lock().unwrap().clone().unwrap();
        assert_eq!(created["operation"], "upsert");
        assert_eq!(created["externalIdFieldName"], "CustomId__c");

        let r = &report.results;
        assert_eq!(r.len(), 4);
        // Reverse order in the file: row 0 ("ok1") was written last, so its Id is 00Q3.
        assert_eq!(r[0].id.as_deref(), Some("00Q3"));
        assert_eq!(r[0].created, Some(true));
        assert_eq!(r[3].id.as_deref(), Some("00Q0"));
        assert!(!r[1].success);
        assert_eq!(r[1].errors[0].status_code, "REQUIRED_FIELD_MISSING");
        assert!(matches!(
            decide_record(&SKIP, RecordOp::Upsert, &r[1]),
            Action::Reject(_)
        ));
        assert_eq!(
            decide_record(&SKIP, RecordOp::Upsert, &r[2]),
            Action::Retry {
                reason: UNPROCESSED_CODE.into()
            }
        );
    }

    #[tokio::test]
    async fn a_failed_read_of_a_running_job_is_read_again_not_the_job_run_again() {
        // A poll and two result-file reads answer 503 once each; the job still ends
        // with every row's result.
        let (org, jobs) = bulk_org(false).await;
        *jobs.failing_polls.lock().unwrap() = 1;
        *jobs.failing_files.lock().unwrap() = 2;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let input = rows(json!([
            {"id": "00QA", "LastName": "a"},
            {"id": "00QB", "LastName": "b"}
        ]));
        let opts = quick_polls(Duration::from_secs(5));
        let report = client
            .bulk_ingest("Lead", &BulkOperation::Update, input, &opts)
            .await
            .unwrap();
        assert_eq!(report.state, "JobComplete");
        assert!(report.results.iter().all(|r| r.success), "{report:?}");
        assert_eq!(*jobs.polls.lock().unwrap(), 2, "polled on after the 503");
        assert_eq!(*jobs.failing_files.lock().unwrap(), 0, "both 503s were met");
    }

    #[tokio::test]
    async fn a_job_past_its_timeout_is_aborted_and_its_rows_come_back_retryable() {
        let (org, jobs) = bulk_org(true).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let input = rows(json!([
            {"id": "00QA", "LastName": "a"},
            {"id": "00QB", "LastName": "b"}
        ]));
        let opts = quick_polls(Duration::ZERO);
        let report = client
            .bulk_ingest("Lead", &BulkOperation::Update, input.clone(), &opts)
            .await
            .unwrap();
        assert!(*jobs.aborted.lock().unwrap());
        assert_eq!(report.state, "Aborted");
        for r in &report.results {
            assert_eq!(
                decide_record(&SKIP, RecordOp::Update, r),
                Action::Retry {
                    reason: UNPROCESSED_CODE.into()
                }
            );
        }
        assert_eq!(
            jobs.created.lock().unwrap().clone().unwrap()["operation"],
            "update"
        );
        assert!(jobs
            .csv
            .lock()
            .unwrap()
            .starts_with("Id,LastName\n00QA,a\n"));
    }
}
