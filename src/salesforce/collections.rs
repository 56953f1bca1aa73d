//! sObject Collections and SOQL calls: the batched writes (≤200 records, one unit of
//! the org's API allocation per call) and the reads the writer needs to resolve
//! External IDs to record Ids.
//!
//! Each write returns one [`RecordResult`] per input record, in request order, exactly
//! as Salesforce reports them; what a result means is decided in `retry.rs`.

use std::collections::HashMap;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::client::{ApiRequest, SalesforceClient};
use super::json_text::WriteJson;
use super::request::collections_body;
use super::wire::{CallError, Endpoint, RecordResult};

/// Most records one sObject Collections call accepts.
pub const MAX_COLLECTION_RECORDS: usize = 200;
/// Keep query URLs under this many bytes (Salesforce allows 16 KB of URI and headers).
const MAX_QUERY_URL_BYTES: usize = 12_000;
/// Room reserved for the instance URL, the version path and `?q=`.
const QUERY_URL_OVERHEAD: usize = 300;

#[derive(Deserialize)]
struct QueryPage {
    #[serde(default)]
    records: Vec<Map<String, Value>>,
    #[serde(default)]
    done: bool,
    #[serde(default, rename = "nextRecordsUrl")]
    next_records_url: Option<String>,
}

/// Refuses names that could change the meaning of a URL path or a SOQL statement.
pub(super) fn check_api_name(kind: &str, name: &str) -> Result<(), CallError> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(CallError::InvalidRequest(format!(
            "{kind} {name:?} is not a valid Salesforce API name"
        )))
    }
}

pub(super) fn check_batch(len: usize) -> Result<(), CallError> {
    if len > MAX_COLLECTION_RECORDS {
        Err(CallError::InvalidRequest(format!(
            "a collections call takes at most {MAX_COLLECTION_RECORDS} records, got {len}"
        )))
    } else {
        Ok(())
    }
}

pub(super) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Quotes a value as a SOQL string literal.
pub fn soql_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            other => out.push(other),
        }
    }
    out.push('\'');
    out
}

/// Splits `values` into `SELECT Id, F FROM T WHERE F IN (...)` statements whose
/// URL-encoded form stays under the query URL limit.
fn external_id_queries(sobject: &str, field: &str, values: &[String]) -> Vec<String> {
    let head = format!("SELECT Id, {field} FROM {sobject} WHERE {field} IN (");
    let budget = MAX_QUERY_URL_BYTES - QUERY_URL_OVERHEAD;
    let fixed = encode(&head).len() + encode(")").len();
    let mut queries = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = fixed;
    for value in values {
        let quoted = soql_quote(value);
        let cost = encode(&quoted).len() + encode(",").len();
        if !current.is_empty() && size + cost > budget {
            queries.push(format!("{head}{})", current.join(",")));
            current.clear();
            size = fixed;
        }
        size += cost;
        current.push(quoted);
    }
    if !current.is_empty() {
        queries.push(format!("{head}{})", current.join(",")));
    }
    queries
}

impl SalesforceClient {
    async fn write_collection(
        &self,
        endpoint: Endpoint,
        method: Method,
        path: String,
        records: &[impl WriteJson],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, CallError> {
        check_batch(records.len())?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let body = collections_body(all_or_none, records);
        let request = ApiRequest::new(endpoint, method, path).json_body(body);
        let response = self.execute(&request).await?;
        parse_results(endpoint, &response.body, records.len())
    }

    /// `POST /composite/sobjects`: inserts. Bodies come from `request::record_body`
    /// with `WriteKind::Create`.
    pub async fn create(
        &self,
        records: &[impl WriteJson],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, CallError> {
        self.write_collection(
            Endpoint::CollectionsCreate,
            Method::POST,
            "/composite/sobjects".into(),
            records,
            all_or_none,
        )
        .await
    }

    /// `PATCH /composite/sobjects`: updates by Id (each body carries `id`).
    pub async fn update(
        &self,
        records: &[impl WriteJson],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, CallError> {
        self.write_collection(
            Endpoint::CollectionsUpdate,
            Method::PATCH,
            "/composite/sobjects".into(),
            records,
            all_or_none,
        )
        .await
    }

    /// `PATCH /composite/sobjects/{sobject}/{ext_field}`: upserts by External ID (each
    /// body carries the field's value). Results say `created`.
    pub async fn upsert(
        &self,
        sobject: &str,
        ext_field: &str,
        records: &[impl WriteJson],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, CallError> {
        check_api_name("SObject", sobject)?;
        check_api_name("External ID field", ext_field)?;
        let path = format!("/composite/sobjects/{sobject}/{ext_field}");
        self.write_collection(
            Endpoint::CollectionsUpsert,
            Method::PATCH,
            path,
            records,
            all_or_none,
        )
        .await
    }

    /// `DELETE /composite/sobjects?ids=...`: deletes by Id.
    pub async fn delete(
        &self,
        ids: &[String],
        all_or_none: bool,
    ) -> Result<Vec<RecordResult>, CallError> {
        check_batch(ids.len())?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let joined: Vec<String> = ids.iter().map(|id| encode(id)).collect();
        let path = format!(
            "/composite/sobjects?ids={}&allOrNone={all_or_none}",
            joined.join(",")
        );
        let response = self
            .execute(&ApiRequest::new(
                Endpoint::CollectionsDelete,
                Method::DELETE,
                path,
            ))
            .await?;
        parse_results(Endpoint::CollectionsDelete, &response.body, ids.len())
    }

    /// `GET /composite/sobjects/{sobject}?ids=&fields=`: one entry per Id, `None` for
    /// an Id with no row.
    pub async fn retrieve(
        &self,
        sobject: &str,
        ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<Option<Map<String, Value>>>, CallError> {
        check_api_name("SObject", sobject)?;
        check_batch(ids.len())?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        for f in fields {
            check_api_name("field", f)?;
        }
        let ids: Vec<String> = ids.iter().map(|id| encode(id)).collect();
        let path = format!(
            "/composite/sobjects/{sobject}?ids={}&fields={}",
            ids.join(","),
            fields.join(",")
        );
        let response = self
            .execute(&ApiRequest::new(
                Endpoint::CollectionsRetrieve,
                Method::GET,
                path,
            ))
            .await?;
        let rows: Vec<Option<Map<String, Value>>> = serde_json::from_slice(&response.body)
            .map_err(|e| CallError::decode(Endpoint::CollectionsRetrieve, e))?;
        if rows.len() != ids.len() {
            return Err(CallError::decode(
                Endpoint::CollectionsRetrieve,
                format!("{} rows for {} ids", rows.len(), ids.len()),
            ));
        }
        Ok(rows)
    }

    /// `GET /query?q=`: every row, following `nextRecordsUrl` to the end.
    pub async fn query(&self, soql: &str) -> Result<Vec<Map<String, Value>>, CallError> {
        let mut path = format!("/query?q={}", encode(soql));
        let mut rows = Vec::new();
        loop {
            let response = self
                .execute(&ApiRequest::new(Endpoint::Query, Method::GET, path))
                .await?;
            let page: QueryPage = serde_json::from_slice(&response.body)
                .map_err(|e| CallError::decode(Endpoint::Query, e))?;
            rows.extend(page.records);
            match page.next_records_url {
                Some(next) if !page.done => path = next,
                _ => return Ok(rows),
            }
        }
    }

    /// Resolves External ID values to record Ids with SOQL (`SELECT Id, F FROM T WHERE
    /// F IN (...)`, split so each URL stays under ~12 KB). The map is keyed by the
    /// input value; values with no row are absent. Salesforce matches External IDs
    /// case-insensitively, so a row whose value differs only in case still maps back.
    pub async fn find_ids_by_external_id(
        &self,
        sobject: &str,
        field: &str,
        values: &[String],
    ) -> Result<HashMap<String, String>, CallError> {
        check_api_name("SObject", sobject)?;
        check_api_name("External ID field", field)?;
        let mut unique: Vec<String> = Vec::with_capacity(values.len());
        let mut by_lower: HashMap<String, String> = HashMap::with_capacity(values.len());
        for v in values {
            if by_lower.insert(v.to_lowercase(), v.clone()).is_none() {
                unique.push(v.clone());
            }
        }
        let mut found = HashMap::with_capacity(unique.len());
        for soql in external_id_queries(sobject, field, &unique) {
            for row in self.query(&soql).await? {
                let (Some(Value::String(id)), Some(Value::String(value))) =
                    (row.get("Id"), row.get(field))
                else {
                    continue;
                };
                let key = if by_lower.get(&value.to_lowercase()) == Some(value) {
                    value.clone()
                } else if let Some(input) = by_lower.get(&value.to_lowercase()) {
                    input.clone()
                } else {
                    continue;
                };
                found.insert(key, id.clone());
            }
        }
        Ok(found)
    }
}

pub(crate) fn parse_results(
    endpoint: Endpoint,
    body: &[u8],
    expected: usize,
) -> Result<Vec<RecordResult>, CallError> {
    let results: Vec<RecordResult> =
        serde_json::from_slice(body).map_err(|e| CallError::decode(endpoint, e))?;
    if results.len() != expected {
        return Err(CallError::decode(
            endpoint,
            format!("{} results for {expected} records", results.len()),
        ));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::test_org::TestOrg;
    use crate::salesforce::wire::ApiError;
    use axum::body::Bytes;
    use axum::extract::{Path, Query, RawQuery};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::{get, patch, post};
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    fn lead(name: &str) -> Map<String, Value> {
        json!({"attributes": {"type": "Lead"}, "LastName": name})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn soql_literals_escape_quotes_and_backslashes() {
        assert_eq!(soql_quote(r"O'Brien\x"), r"'O\'Brien\\x'");
        assert_eq!(soql_quote("a\nb"), r"'a\nb'");
    }

    #[test]
    fn external_id_queries_stay_under_the_url_limit() {
        let values: Vec<String> = (0..3000)
            .map(|i| format!("00Q5500000B{i:07}EAZ'x"))
            .collect();
        let queries = external_id_queries("Lead", "CustomId__c", &values);
        assert!(queries.len() > 1);
        let mut seen = 0;
        for q in &queries {
            assert!(
                encode(q).len() + QUERY_URL_OVERHEAD <= MAX_QUERY_URL_BYTES,
                "{}",
                encode(q).len()
            );
            assert!(q.starts_with("SELECT Id, CustomId__c FROM Lead WHERE CustomId__c IN ('"));
            seen += q.matches("EAZ\\'x'").count();
        }
        assert_eq!(seen, values.len());
    }

    #[test]
    fn api_errors_serialise_in_salesforce_shape() {
        let e = ApiError {
            status_code: "STRING_TOO_LONG".into(),
            message: "too long".into(),
            fields: vec!["LastName".into()],
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"statusCode": "STRING_TOO_LONG", "message": "too long", "fields": ["LastName"]})
        );
    }

    #[test]
    fn results_parse_with_missing_or_null_ids_and_errors() {
        let body = br#"[{"id":"001A","success":true,"errors":[]},
            {"id":null,"success":false,"errors":[{"statusCode":"DUPLICATES_DETECTED","message":"Use one of these records?","fields":null}]},
            {"success":true,"created":true,"errors":null}]"#;
        let r = parse_results(Endpoint::CollectionsCreate, body, 3).unwrap();
        assert_eq!(r[0].id.as_deref(), Some("001A"));
        assert_eq!(r[1].errors[0].status_code, "DUPLICATES_DETECTED");
        assert!(r[1].errors[0].fields.is_empty());
        assert_eq!(r[2].created, Some(true));
        assert!(parse_results(Endpoint::CollectionsCreate, body, 2).is_err());
    }

    #[tokio::test]
    async fn create_posts_one_collections_call_and_returns_results_in_order() {
        let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
        let s = seen.clone();
        let router = axum::Router::new().route(
            "/services/data/v61.0/composite/sobjects",
            post(move |body: Bytes| {
                let s = s.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    let n = v["records"].as_array().unwrap().len();
                    s.lock().unwrap().push(v);
                    let results: Vec<Value> = (0..n)
                        .map(|i| json!({"id": format!("00Q{i}"), "success": true, "errors": []}))
                        .collect();
                    axum::Json(results)
                }
            }),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let results = client.create(&[lead("a"), lead("b")], false).await.unwrap();
        assert_eq!(
            results
                .iter()
                .map(|r| r.id.clone().unwrap())
                .collect::<Vec<_>>(),
            ["00Q0", "00Q1"]
        );
        let body = seen.lock().unwrap()[0].clone();
        assert_eq!(body["allOrNone"], false);
        assert_eq!(body["records"][1]["LastName"], "b");
    }

    #[tokio::test]
    async fn batches_over_200_are_refused_before_any_call() {
        let org = TestOrg::start(axum::Router::new()).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let before = client.call_count();
        let records: Vec<_> = (0..201).map(|i| lead(&i.to_string())).collect();
        let err = client.create(&records, false).await.unwrap_err();
        assert!(matches!(err, CallError::InvalidRequest(_)), "{err}");
        let ids: Vec<String> = (0..201).map(|i| format!("00Q{i}")).collect();
        assert!(client.delete(&ids, false).await.is_err());
        assert_eq!(client.call_count(), before);
    }

    #[tokio::test]
    async fn upsert_patches_the_external_id_path_and_reports_created() {
        let router = axum::Router::new().route(
            "/services/data/v61.0/composite/sobjects/{sobject}/{field}",
            patch(
                |Path((sobject, field)): Path<(String, String)>| async move {
                    assert_eq!((sobject.as_str(), field.as_str()), ("Lead", "CustomId__c"));
                    axum::Json(
                        json!([{"id": "00Q1", "success": true, "errors": [], "created": true}]),
                    )
                },
            ),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let r = client
            .upsert("Lead", "CustomId__c", &[lead("a")], false)
            .await
            .unwrap();
        assert_eq!(r[0].created, Some(true));
        assert!(client
            .upsert("Lead", "Bad Field", &[lead("a")], false)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn delete_sends_ids_in_the_query_and_maps_a_whole_call_error() {
        let router = axum::Router::new().route(
            "/services/data/v61.0/composite/sobjects",
            axum::routing::delete(|RawQuery(q): RawQuery| async move {
                let q = q.unwrap_or_default();
                if q.contains("allOrNone=true") {
                    return (StatusCode::SERVICE_UNAVAILABLE, r#"[{"errorCode":"SERVER_UNAVAILABLE","message":"down"}]"#)
                        .into_response();
                }
                assert!(q.starts_with("ids=00Q1,00Q2"), "{q}");
                axum::Json(json!([
                    {"id": "00Q1", "success": true, "errors": []},
                    {"id": "00Q2", "success": false, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]}
                ]))
                .into_response()
            }),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let ids = vec!["00Q1".to_string(), "00Q2".to_string()];
        let r = client.delete(&ids, false).await.unwrap();
        assert_eq!(r[1].errors[0].status_code, "ENTITY_IS_DELETED");
        let err = client.delete(&ids, true).await.unwrap_err();
        let policy = crate::salesforce::retry::Policy::default();
        let call = crate::salesforce::retry::Call::Write { records: 2 };
        assert!(matches!(
            crate::salesforce::retry::decide_call(&policy, call, &err),
            crate::salesforce::retry::Action::Retry { .. }
        ));
    }

    #[tokio::test]
    async fn retrieve_returns_none_for_ids_without_rows() {
        let router = axum::Router::new().route(
            "/services/data/v61.0/composite/sobjects/{sobject}",
            get(|RawQuery(q): RawQuery| async move {
                assert_eq!(q.as_deref(), Some("ids=00QA,00QX&fields=Id,LastName"));
                axum::Json(
                    json!([{"attributes": {"type": "Lead"}, "Id": "00QA", "LastName": "a"}, null]),
                )
            }),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let rows = client
            .retrieve("Lead", &["00QA".into(), "00QX".into()], &["Id", "LastName"])
            .await
            .unwrap();
        assert_eq!(rows[0].as_ref().unwrap()["LastName"], "a");
        assert!(rows[1].is_none());
    }

    #[tokio::test]
    async fn query_follows_next_records_url_and_external_ids_map_back() {
        let router = axum::Router::new()
            .route(
                "/services/data/v61.0/query",
                get(|Query(q): Query<HashMap<String, String>>| async move {
                    let soql = q.get("q").cloned().unwrap_or_default();
                    assert!(soql.contains("IN ('src-1','SRC-2','src-3')"), "{soql}");
                    axum::Json(json!({"done": false, "totalSize": 2, "nextRecordsUrl": "/services/data/v61.0/query/01g-2000",
                        "records": [{"attributes": {"type": "Lead"}, "Id": "00QA", "CustomId__c": "src-1"}]}))
                }),
            )
            .route(
                "/services/data/v61.0/query/01g-2000",
                get(|| async {
                    axum::Json(json!({"done": true, "totalSize": 2,
                        "records": [{"attributes": {"type": "Lead"}, "Id": "00QB", "CustomId__c": "src-2"}]}))
                }),
            );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let values = vec![
            "src-1".to_string(),
            "SRC-2".to_string(),
            "src-3".to_string(),
        ];
        let ids = client
            .find_ids_by_external_id("Lead", "CustomId__c", &values)
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids["src-1"], "00QA");
        assert_eq!(ids["SRC-2"], "00QB");
        assert!(!ids.contains_key("src-3"));
    }
}
