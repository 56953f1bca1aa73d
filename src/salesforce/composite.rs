//! The Composite resource (`POST /composite`) carrying sObject Collections writes as
//! subrequests: up to five of them travel in one call, which counts once against the
//! org's daily API allocation.
//!
//! The composite is sent with `allOrNone: false`, so each subrequest succeeds or fails
//! on its own, with its own `allOrNone`. Each answer comes back exactly as the plain
//! Collections call would have given it: the per-record results of a 2xx subrequest,
//! or the [`CallError`] of a failed one. A composite that fails as a whole is a
//! [`CallError`] of the call; `retry.rs` decides what either means.

use reqwest::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::client::{http_error, ApiRequest, SalesforceClient};
use super::collections::{check_api_name, check_batch, encode, parse_results};
use super::json_text::WriteJson;
use super::request::collections_body;
use super::wire::{CallError, Endpoint, RecordResult};

/// Most sObject Collections subrequests Salesforce takes in one composite call.
pub const MAX_COLLECTIONS_SUBREQUESTS: usize = 5;

/// One sObject Collections write, ready to travel inside a composite call.
#[derive(Debug, Clone)]
pub struct Subrequest {
    endpoint: Endpoint,
    method: &'static str,
    /// Relative to `/services/data/vNN.N`.
    path: String,
    /// The serialised Collections body (none for deletes).
    body: Option<Vec<u8>>,
    records: usize,
}

impl Subrequest {
    fn write(
        endpoint: Endpoint,
        method: &'static str,
        path: String,
        records: &[impl WriteJson],
        all_or_none: bool,
    ) -> Result<Subrequest, CallError> {
        check_batch(records.len())?;
        let body = collections_body(all_or_none, records);
        Ok(Subrequest {
            endpoint,
            method,
            path,
            body: Some(body),
            records: records.len(),
        })
    }

    /// `POST /composite/sobjects`: inserts (bodies as for
    /// [`SalesforceClient::create`]).
    pub fn create(records: &[impl WriteJson], all_or_none: bool) -> Result<Self, CallError> {
        let path = "/composite/sobjects".to_string();
        Self::write(
            Endpoint::CollectionsCreate,
            "POST",
            path,
            records,
            all_or_none,
        )
    }

    /// `PATCH /composite/sobjects`: updates by Id.
    pub fn update(records: &[impl WriteJson], all_or_none: bool) -> Result<Self, CallError> {
        let path = "/composite/sobjects".to_string();
        Self::write(
            Endpoint::CollectionsUpdate,
            "PATCH",
            path,
            records,
            all_or_none,
        )
    }

    /// `PATCH /composite/sobjects/{sobject}/{ext_field}`: upserts by External ID.
    pub fn upsert(
        sobject: &str,
        ext_field: &str,
        records: &[impl WriteJson],
        all_or_none: bool,
    ) -> Result<Self, CallError> {
        check_api_name("SObject", sobject)?;
        check_api_name("External ID field", ext_field)?;
        let path = format!("/composite/sobjects/{sobject}/{ext_field}");
        Self::write(
            Endpoint::CollectionsUpsert,
            "PATCH",
            path,
            records,
            all_or_none,
        )
    }

    /// `DELETE /composite/sobjects?ids=...`: deletes by Id.
    pub fn delete(ids: &[String], all_or_none: bool) -> Result<Self, CallError> {
        check_batch(ids.len())?;
        let joined: Vec<String> = ids.iter().map(|id| encode(id)).collect();
        Ok(Subrequest {
            endpoint: Endpoint::CollectionsDelete,
            method: "DELETE",
            path: format!(
                "/composite/sobjects?ids={}&allOrNone={all_or_none}",
                joined.join(",")
            ),
            body: None,
            records: ids.len(),
        })
    }

    /// Records (or Ids) the subrequest writes.
    pub fn records(&self) -> usize {
        self.records
    }
}

#[derive(Deserialize)]
struct CompositeAnswer {
    #[serde(rename = "compositeResponse")]
    composite_response: Vec<SubrequestAnswer>,
}

#[derive(Deserialize)]
struct SubrequestAnswer {
    /// Kept as its text: it is read once, as the plain call's answer would be.
    #[serde(default)]
    body: Option<Box<RawValue>>,
    #[serde(rename = "httpStatusCode")]
    status: u16,
    #[serde(rename = "referenceId")]
    reference_id: String,
}

/// The referenceId of the `i`-th subrequest.
fn reference_id(i: usize) -> String {
    format!("batch{i}")
}

/// `{"allOrNone":false,"compositeRequest":[...]}` with the subrequests' bodies as they
/// were serialised.
fn composite_body(version: &str, subrequests: &[&Subrequest]) -> Result<Vec<u8>, CallError> {
    let size: usize = subrequests
        .iter()
        .map(|s| s.body.as_ref().map_or(0, Vec::len) + s.path.len() + 96)
        .sum();
    let mut out = Vec::with_capacity(48 + size);
    out.extend_from_slice(b"{\"allOrNone\":false,\"compositeRequest\":[");
    for (i, sub) in subrequests.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let url = format!("/services/data/v{version}{}", sub.path);
        let fail = |e: serde_json::Error| {
            CallError::InvalidRequest(format!("cannot serialise the composite: {e}"))
        };
        out.extend_from_slice(b"{\"method\":");
        serde_json::to_writer(&mut out, sub.method).map_err(fail)?;
        out.extend_from_slice(b",\"url\":");
        serde_json::to_writer(&mut out, &url).map_err(fail)?;
        out.extend_from_slice(b",\"referenceId\":");
        serde_json::to_writer(&mut out, &reference_id(i)).map_err(fail)?;
        if let Some(body) = &sub.body {
            out.extend_from_slice(b",\"body\":");
            out.extend_from_slice(body);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// One subrequest's answer, read as the plain Collections call's answer to a write of
/// `records` records on `endpoint` would be.
fn settle_answer(
    endpoint: Endpoint,
    records: usize,
    answer: &SubrequestAnswer,
) -> Result<Vec<RecordResult>, CallError> {
    let body = answer.body.as_ref().map_or("null", |b| b.get()).as_bytes();
    if answer.status >= 400 {
        return Err(http_error(endpoint, answer.status, body));
    }
    parse_results(endpoint, body, records)
}

/// Reads the 2xx answer `body` of a composite whose subrequests wrote `shapes`
/// (endpoint, records) in order: one answer per subrequest, found by its referenceId,
/// or the error of an answer that cannot be read as a whole.
pub(crate) fn read_answer(
    shapes: &[(Endpoint, usize)],
    body: &[u8],
) -> Result<Vec<Result<Vec<RecordResult>, CallError>>, CallError> {
    let answer: CompositeAnswer =
        serde_json::from_slice(body).map_err(|e| CallError::decode(Endpoint::Composite, e))?;
    let mut answers: Vec<Option<SubrequestAnswer>> = (0..shapes.len()).map(|_| None).collect();
    for a in answer.composite_response {
        let slot = a
            .reference_id
            .strip_prefix("batch")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|i| answers.get_mut(i));
        if let Some(slot) = slot {
            *slot = Some(a);
        }
    }
    Ok(shapes
        .iter()
        .zip(answers)
        .map(|(&(endpoint, records), answer)| match answer {
            Some(answer) => settle_answer(endpoint, records, &answer),
            None => Err(CallError::decode(
                endpoint,
                "the composite answer has no entry for this subrequest",
            )),
        })
        .collect())
}

impl SalesforceClient {
    /// `POST /composite` with `subrequests` (at most
    /// [`MAX_COLLECTIONS_SUBREQUESTS`]): one answer per subrequest, in order, or the
    /// error of the call as a whole.
    pub async fn composite(
        &self,
        subrequests: &[&Subrequest],
    ) -> Result<Vec<Result<Vec<RecordResult>, CallError>>, CallError> {
        if subrequests.len() > MAX_COLLECTIONS_SUBREQUESTS {
            return Err(CallError::InvalidRequest(format!(
                "a composite call takes at most {MAX_COLLECTIONS_SUBREQUESTS} sObject Collections subrequests, got {}",
                subrequests.len()
            )));
        }
        if subrequests.is_empty() {
            return Ok(Vec::new());
        }
        let body = composite_body(self.api_version(), subrequests)?;
        let request =
            ApiRequest::new(Endpoint::Composite, Method::POST, "/composite").json_body(body);
        let response = self.execute(&request).await?;
        let shapes: Vec<(Endpoint, usize)> = subrequests
            .iter()
            .map(|sub| (sub.endpoint, sub.records))
            .collect();
        read_answer(&shapes, &response.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::test_org::TestOrg;
    use axum::body::Bytes;
    use axum::routing::post;
    use serde_json::{json, Value};
    use std::sync::{Arc, Mutex};

    fn lead(name: &str) -> serde_json::Map<String, Value> {
        json!({"attributes": {"type": "Lead"}, "LastName": name})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn subrequests_travel_in_one_call_and_answers_read_like_collections_answers() {
        let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
        let s = seen.clone();
        let router = axum::Router::new().route(
            "/services/data/v61.0/composite",
            post(move |body: Bytes| {
                let s = s.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    s.lock().unwrap().push(v);
                    // Answers out of order: they are matched by referenceId.
                    axum::Json(json!({"compositeResponse": [
                        {"body": [{"errorCode": "INVALID_FIELD", "message": "No such column"}],
                         "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "batch1"},
                        {"body": [{"id": "00Q1", "success": true, "errors": []},
                                  {"success": false, "errors": [{"statusCode": "STRING_TOO_LONG", "message": "long", "fields": ["LastName"]}]}],
                         "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "batch0"}
                    ]}))
                }
            }),
        );
        let org = TestOrg::start(router).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let before = client.call_count();
        let create = Subrequest::create(&[lead("a"), lead("b")], false).unwrap();
        let delete = Subrequest::delete(&["00Q9".into()], true).unwrap();
        let upsert = Subrequest::upsert("Lead", "CustomId__c", &[lead("c")], false).unwrap();
        let answers = client
            .composite(&[&create, &delete, &upsert])
            .await
            .unwrap();
        assert_eq!(client.call_count() - before, 1, "one call for three writes");
        let first = answers[0].as_ref().unwrap();
        assert_eq!(first[0].id.as_deref(), Some("00Q1"));
        assert_eq!(first[1].errors[0].status_code, "STRING_TOO_LONG");
        match &answers[1] {
            Err(CallError::Http { status, errors, .. }) => {
                assert_eq!(*status, 400);
                assert_eq!(errors[0].status_code, "INVALID_FIELD");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&answers[2], Err(CallError::Decode { .. })),
            "{:?}",
            answers[2]
        );
        let body = seen.lock().unwrap()[0].clone();
        assert_eq!(body["allOrNone"], false);
        let subs = body["compositeRequest"].as_array().unwrap();
        assert_eq!(subs.len(), 3);
        assert_eq!(subs[0]["method"], "POST");
        assert_eq!(subs[0]["url"], "/services/data/v61.0/composite/sobjects");
        assert_eq!(subs[0]["body"]["allOrNone"], false);
        assert_eq!(subs[0]["body"]["records"][1]["LastName"], "b");
        assert_eq!(subs[1]["method"], "DELETE");
        assert_eq!(
            subs[1]["url"],
            "/services/data/v61.0/composite/sobjects?ids=00Q9&allOrNone=true"
        );
        assert!(subs[1].get("body").is_none());
        assert_eq!(
            subs[2]["url"],
            "/services/data/v61.0/composite/sobjects/Lead/CustomId__c"
        );
    }

    #[tokio::test]
    async fn more_than_five_subrequests_are_refused_before_any_call() {
        let org = TestOrg::start(axum::Router::new()).await;
        let client = SalesforceClient::connect(org.options()).await.unwrap();
        let before = client.call_count();
        let sub = Subrequest::create(&[lead("a")], false).unwrap();
        let six: Vec<&Subrequest> = (0..6).map(|_| &sub).collect();
        let err = client.composite(&six).await.unwrap_err();
        assert!(matches!(err, CallError::InvalidRequest(_)), "{err}");
        assert_eq!(client.call_count(), before);
        assert!(Subrequest::upsert("Lead", "Bad Field", &[lead("a")], false).is_err());
    }
}
