//! The shapes Salesforce's answers and failures take, shared by every file of this
//! folder and read by `retry.rs`: one record's result ([`RecordResult`], [`ApiError`]),
//! a failed call ([`CallError`]), a failed login ([`AuthError`]) and the endpoint label
//! ([`Endpoint`]). This file imports nothing else of the folder, so the files above it
//! never import each other in a circle.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Error code given to Bulk rows that Salesforce left unprocessed (job failed or aborted).
pub const UNPROCESSED_CODE: &str = "BULK_UNPROCESSED";
/// Error code given to Bulk rows that appear in no result file.
pub const RESULT_MISSING_CODE: &str = "BULK_RESULT_MISSING";

/// One error item of a record result (`statusCode`, `message`, `fields`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(from = "RawApiError", rename_all = "camelCase")]
pub struct ApiError {
    /// Salesforce status code, e.g. `REQUIRED_FIELD_MISSING`.
    pub status_code: String,
    /// Human-readable message.
    pub message: String,
    /// Fields named by the error.
    pub fields: Vec<String>,
}

/// The wire shape: collections say `statusCode`, single-record REST says `errorCode`,
/// and `fields` may be missing or null.
#[derive(Deserialize)]
struct RawApiError {
    #[serde(default, rename = "statusCode", alias = "errorCode")]
    status_code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    fields: Option<Vec<String>>,
}

impl From<RawApiError> for ApiError {
    fn from(raw: RawApiError) -> Self {
        ApiError {
            status_code: raw.status_code,
            message: raw.message,
            fields: raw.fields.unwrap_or_default(),
        }
    }
}

/// Salesforce's verdict on one record of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RecordResult {
    /// The target record Id (absent or null on failure).
    #[serde(default)]
    pub id: Option<String>,
    /// Whether the record was written.
    pub success: bool,
    /// Upserts and Bulk say whether a row was created.
    #[serde(default)]
    pub created: Option<bool>,
    /// Why it was not written.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub errors: Vec<ApiError>,
}

impl RecordResult {
    /// A failure with one error item: what the sink answers itself for a record it
    /// could not get a verdict on (a Bulk row Salesforce never processed, ...).
    pub fn failed(code: &str, message: impl Into<String>) -> RecordResult {
        RecordResult {
            id: None,
            success: false,
            created: None,
            errors: vec![ApiError {
                status_code: code.to_string(),
                message: message.into(),
                fields: Vec::new(),
            }],
        }
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ApiError>, D::Error> {
    Ok(Option::<Vec<ApiError>>::deserialize(d)?.unwrap_or_default())
}

/// The kind of REST call, a low-cardinality metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /services/data/`
    Versions,
    /// `GET /sobjects/{T}/describe`
    Describe,
    /// `POST /composite/sobjects`
    CollectionsCreate,
    /// `PATCH /composite/sobjects`
    CollectionsUpdate,
    /// `PATCH /composite/sobjects/{T}/{field}`
    CollectionsUpsert,
    /// `DELETE /composite/sobjects`
    CollectionsDelete,
    /// `GET /composite/sobjects/{T}`
    CollectionsRetrieve,
    /// `POST /composite` (sObject Collections subrequests packed into one call)
    Composite,
    /// `GET /query`
    Query,
    /// `GET /limits`
    Limits,
    /// `/jobs/ingest` (all Bulk API 2.0 calls)
    BulkIngest,
}

impl Endpoint {
    /// The label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Endpoint::Versions => "versions",
            Endpoint::Describe => "describe",
            Endpoint::CollectionsCreate => "collections_create",
            Endpoint::CollectionsUpdate => "collections_update",
            Endpoint::CollectionsUpsert => "collections_upsert",
            Endpoint::CollectionsDelete => "collections_delete",
            Endpoint::CollectionsRetrieve => "collections_retrieve",
            Endpoint::Composite => "composite",
            Endpoint::Query => "query",
            Endpoint::Limits => "limits",
            Endpoint::BulkIngest => "bulk_ingest",
        }
    }
}

/// Why a REST call failed. See `retry::decide_call` for what each means.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No response within `connection.timeout`.
    #[error("{endpoint}: request timed out: {message}")]
    Timeout {
        /// Endpoint label.
        endpoint: &'static str,
        /// Transport detail.
        message: String,
    },
    /// Could not connect.
    #[error("{endpoint}: cannot connect: {message}")]
    Connect {
        /// Endpoint label.
        endpoint: &'static str,
        /// Transport detail.
        message: String,
    },
    /// The connection broke (reset, truncated body, ...).
    #[error("{endpoint}: transport error: {message}")]
    Transport {
        /// Endpoint label.
        endpoint: &'static str,
        /// Transport detail.
        message: String,
    },
    /// Salesforce answered with an error status.
    #[error("{endpoint}: HTTP {status}{}", summarize(errors, body))]
    Http {
        /// Endpoint label.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// The error items from the body (empty when it was not Salesforce JSON).
        errors: Vec<ApiError>,
        /// The start of the body, for errors that are not Salesforce JSON.
        body: String,
    },
    /// Logging in again after a 401 failed.
    #[error("{endpoint}: logging in again failed: {source}")]
    Login {
        /// Endpoint label.
        endpoint: &'static str,
        /// The login failure.
        source: AuthError,
    },
    /// A 2xx answer whose body does not have the expected shape.
    #[error("{endpoint}: unexpected response: {message}")]
    Decode {
        /// Endpoint label.
        endpoint: &'static str,
        /// What did not match.
        message: String,
    },
    /// A request the client refuses to send (a programming error upstream).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

fn summarize(errors: &[ApiError], body: &str) -> String {
    match errors.first() {
        Some(e) => format!(" {}: {}", e.status_code, e.message),
        None if body.is_empty() => String::new(),
        None => format!(": {body}"),
    }
}

impl CallError {
    /// The Salesforce error items, when the call got an error body.
    pub fn api_errors(&self) -> &[ApiError] {
        match self {
            CallError::Http { errors, .. } => errors,
            _ => &[],
        }
    }

    /// The HTTP status, when a response came.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn decode(endpoint: Endpoint, message: impl fmt::Display) -> CallError {
        CallError::Decode {
            endpoint: endpoint.as_str(),
            message: message.to_string(),
        }
    }
}

/// Why a login failed. Never contains a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// Salesforce refused the credentials; retrying will not help.
    #[error("Salesforce login refused (HTTP {status}): {error}: {description}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// OAuth `error`, e.g. `invalid_grant`.
        error: String,
        /// OAuth `error_description`, e.g. `authentication failure`.
        description: String,
    },
    /// Transient failures until the retry budget ran out.
    #[error(
        "Salesforce login still failing after {attempts} attempts within the retry budget: {last}"
    )]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The token endpoint answered 200 with something that is not a token response.
    #[error("Salesforce login answered with an unreadable token response: {0}")]
    BadResponse(String),
    /// The JWT key could not be loaded.
    #[error("cannot load the JWT key from {path}: {reason}")]
    Key {
        /// The keystore path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A Java KeyStore, which Rust cannot read.
    #[error(
        "{path} is a Java KeyStore (JKS/JCEKS), which is not supported; convert it to PKCS#12 with \
         `keytool -importkeystore -srckeystore {path} -destkeystore key.p12 -deststoretype PKCS12` \
         and point salesforce.jwt.keystore.path at key.p12"
    )]
    JavaKeyStore {
        /// The keystore path.
        path: PathBuf,
    },
    /// Signing the assertion failed.
    #[error("cannot sign the JWT assertion: {0}")]
    Sign(String),
    /// The login URL is not usable.
    #[error("invalid login URL {0}")]
    BadUrl(String),
}

impl AuthError {
    /// True when retrying later cannot help (everything except [`AuthError::Unavailable`]).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, AuthError::Unavailable { .. })
    }

    /// The error as a Salesforce-style error item, for reporting.
    pub fn as_api_error(&self) -> ApiError {
        match self {
            AuthError::Rejected {
                error, description, ..
            } => ApiError {
                status_code: error.clone(),
                message: description.clone(),
                fields: vec![],
            },
            other => ApiError {
                status_code: "LOGIN_FAILED".into(),
                message: other.to_string(),
                fields: vec![],
            },
        }
    }
}

/// A transport error with its causes ("connection refused" sits a few levels down).
/// Tokens travel in headers and never appear here.
pub fn describe_transport_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
