//! A typed client for the simulator's admin API (`/__sim/`), for tests and benchmarks:
//! read rows and their write history, call counters, reset, fault plan, tokens, daily
//! allocation and schema changes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sobject_sink::sim::admin_client::AdminClientError> {
//! use sobject_sink::sim::{FaultKind, FaultPlan, SimAdmin};
//! let admin = SimAdmin::new("http://127.0.0.1:8484");
//! admin.set_faults(&FaultPlan::scripted("collections", 3, FaultKind::ServerUnavailable)).await?;
//! let leads = admin.live_rows("Lead").await?;
//! println!("{} leads, {} collections upserts", leads.len(), admin.counters().await?.of("collections.upsert"));
//! # Ok(()) }
//! ```

use crate::sim::admin::{
    CallCounters, HistorySetting, LimitsUpdate, OrgInfo, RevokeRequest, RevokeResult,
};
use crate::sim::faults::FaultPlan;
use crate::sim::org::{Allocation, FieldPatch};
use crate::sim::schema::{DuplicateRule, FieldDef, OrgSchema};
use crate::sim::store::WriteRecord;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

/// Why an admin call failed.
#[derive(Debug, Error)]
pub enum AdminClientError {
    /// The request did not get an answer.
    #[error("admin request {url} failed: {source}")]
    Http {
        /// URL called.
        url: String,
        /// Transport error.
        source: reqwest::Error,
    },
    /// The simulator answered with an error status.
    #[error("admin request {url} answered {status}: {body}")]
    Status {
        /// URL called.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body of the answer.
        body: String,
    },
}

/// One stored row as the admin API shows it: every field, plus `Id` and `IsDeleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SimRow(pub Map<String, Value>);

impl SimRow {
    /// The 18-character Id.
    pub fn id(&self) -> &str {
        self.0.get("Id").and_then(Value::as_str).unwrap_or_default()
    }

    /// True when the row is in the Recycle Bin.
    pub fn is_deleted(&self) -> bool {
        self.0
            .get("IsDeleted")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// A field's value (`Null` when absent).
    pub fn get(&self, field: &str) -> &Value {
        self.0.get(field).unwrap_or(&Value::Null)
    }

    /// A text field's value.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(Value::as_str)
    }
}

/// Client of one org's admin API.
#[derive(Debug, Clone)]
pub struct SimAdmin {
    base: String,
    http: reqwest::Client,
}

impl SimAdmin {
    /// A client for the org served at `base_url` (e.g. `http://127.0.0.1:8484`).
    pub fn new(base_url: impl Into<String>) -> SimAdmin {
        let base = base_url.into().trim_end_matches('/').to_string();
        SimAdmin {
            base,
            http: reqwest::Client::new(),
        }
    }

    /// The org's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, AdminClientError> {
        let bytes = self.call_raw(method, path, body).await?;
        let url = format!("{}/__sim/{path}", self.base);
        let text = if bytes.is_empty() {
            "null".as_bytes()
        } else {
            &bytes
        };
        serde_json::from_slice(text).map_err(|e| AdminClientError::Status {
            url,
            status: 200,
            body: format!("unexpected body ({e}): {}", String::from_utf8_lossy(&bytes)),
        })
    }

    async fn call_raw<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Vec<u8>, AdminClientError> {
        let url = format!("{}/__sim/{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|source| AdminClientError::Http {
            url: url.clone(),
            source,
        })?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|source| AdminClientError::Http {
                url: url.clone(),
                source,
            })?;
        if !status.is_success() {
            return Err(AdminClientError::Status {
                url,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(bytes.to_vec())
    }

    /// Name, URLs, user and org Ids.
    pub async fn org_info(&self) -> Result<OrgInfo, AdminClientError> {
        self.call::<(), _>(Method::GET, "org", None).await
    }

    /// Every row of an SObject, deleted ones too, in creation order.
    pub async fn rows(&self, sobject: &str) -> Result<Vec<SimRow>, AdminClientError> {
        self.call::<(), _>(Method::GET, &format!("sobjects/{sobject}/rows"), None)
            .await
    }

    /// Rows not in the Recycle Bin.
    pub async fn live_rows(&self, sobject: &str) -> Result<Vec<SimRow>, AdminClientError> {
        Ok(self
            .rows(sobject)
            .await?
            .into_iter()
            .filter(|r| !r.is_deleted())
            .collect())
    }

    /// One row (deleted or not), or `None` if it never existed.
    pub async fn row(&self, sobject: &str, id: &str) -> Result<Option<SimRow>, AdminClientError> {
        match self
            .call::<(), _>(Method::GET, &format!("sobjects/{sobject}/rows/{id}"), None)
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(AdminClientError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The writes recorded for one row (history must be on).
    pub async fn history(
        &self,
        sobject: &str,
        id: &str,
    ) -> Result<Vec<WriteRecord>, AdminClientError> {
        self.call::<(), _>(
            Method::GET,
            &format!("sobjects/{sobject}/rows/{id}/history"),
            None,
        )
        .await
    }

    /// Calls per endpoint and API units spent.
    pub async fn counters(&self) -> Result<CallCounters, AdminClientError> {
        self.call::<(), _>(Method::GET, "counters", None).await
    }

    /// Drops rows, jobs, counters and spent units; restores the configured fault plan.
    pub async fn reset(&self) -> Result<(), AdminClientError> {
        self.call_raw::<()>(Method::POST, "reset", None)
            .await
            .map(|_| ())
    }

    /// The installed fault plan.
    pub async fn faults(&self) -> Result<FaultPlan, AdminClientError> {
        self.call::<(), _>(Method::GET, "faults", None).await
    }

    /// Installs a fault plan (its script counters and RNG start over).
    pub async fn set_faults(&self, plan: &FaultPlan) -> Result<(), AdminClientError> {
        self.call_raw(Method::PUT, "faults", Some(plan))
            .await
            .map(|_| ())
    }

    /// Removes every fault.
    pub async fn clear_faults(&self) -> Result<(), AdminClientError> {
        self.set_faults(&FaultPlan::default()).await
    }

    /// Revokes every access token; answers how many there were.
    pub async fn revoke_tokens(&self) -> Result<usize, AdminClientError> {
        let r: RevokeResult = self
            .call(
                Method::POST,
                "tokens/revoke",
                Some(&RevokeRequest::default()),
            )
            .await?;
        Ok(r.revoked)
    }

    /// Revokes one access token; answers whether it existed.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, AdminClientError> {
        let r: RevokeResult = self
            .call(
                Method::POST,
                "tokens/revoke",
                Some(&RevokeRequest {
                    token: Some(token.to_string()),
                }),
            )
            .await?;
        Ok(r.revoked == 1)
    }

    /// Makes every current token expired, as if its TTL had passed.
    pub async fn expire_tokens(&self) -> Result<(), AdminClientError> {
        self.call_raw::<()>(Method::POST, "tokens/expire", None)
            .await
            .map(|_| ())
    }

    /// The daily allocation.
    pub async fn limits(&self) -> Result<Allocation, AdminClientError> {
        self.call::<(), _>(Method::GET, "limits", None).await
    }

    /// Changes the daily allocation's maximum and/or spent count.
    pub async fn set_limits(&self, update: &LimitsUpdate) -> Result<Allocation, AdminClientError> {
        self.call(Method::PUT, "limits", Some(update)).await
    }

    /// Switches write-history recording.
    pub async fn set_history(&self, enabled: bool) -> Result<(), AdminClientError> {
        self.call_raw(Method::PUT, "history", Some(&HistorySetting { enabled }))
            .await
            .map(|_| ())
    }

    /// The org's metadata.
    pub async fn schema(&self) -> Result<OrgSchema, AdminClientError> {
        let mut schema: OrgSchema = self.call::<(), _>(Method::GET, "schema", None).await?;
        // Field lookups need the name index, which is not sent over the wire.
        schema.resolve();
        Ok(schema)
    }

    /// Adds (or replaces) a field on an SObject.
    pub async fn add_field(
        &self,
        sobject: &str,
        field: &FieldDef,
    ) -> Result<FieldDef, AdminClientError> {
        self.call(
            Method::POST,
            &format!("schema/{sobject}/fields"),
            Some(field),
        )
        .await
    }

    /// Changes a field's flags (e.g. `updateable: Some(false)`).
    pub async fn patch_field(
        &self,
        sobject: &str,
        field: &str,
        patch: &FieldPatch,
    ) -> Result<FieldDef, AdminClientError> {
        self.call(
            Method::PATCH,
            &format!("schema/{sobject}/fields/{field}"),
            Some(patch),
        )
        .await
    }

    /// Adds a duplicate rule.
    pub async fn add_duplicate_rule(&self, rule: &DuplicateRule) -> Result<(), AdminClientError> {
        self.call_raw(Method::POST, "schema/duplicate-rules", Some(rule))
            .await
            .map(|_| ())
    }
}
