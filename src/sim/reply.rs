//! Building HTTP answers the way Salesforce shapes them: JSON with
//! `application/json;charset=UTF-8`, single-request errors as an array of
//! `{"message","errorCode","fields"}`, CSV for Bulk results, empty bodies for 204/201.

use crate::sim::rules::RecordError;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

/// Content type of every JSON answer.
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// A JSON answer.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_type(status, JSON_CONTENT_TYPE, bytes),
        Err(e) => with_type(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            e.to_string().into_bytes(),
        ),
    }
}

/// An answer with a body of the given content type.
pub fn with_type(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An answer without a body.
pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// A REST error: HTTP status plus one Salesforce error.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The error itself.
    pub error: RecordError,
}

impl ApiError {
    /// Builds an error answer.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: RecordError::new(code, message, vec![]),
        }
    }

    /// An error of one record, answered on a single-record path with the status
    /// Salesforce uses for its code.
    pub fn from_record(error: RecordError) -> ApiError {
        let status = match error.code.as_str() {
            "NOT_FOUND" | "ENTITY_IS_DELETED" => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError { status, error }
    }

    /// The 404 of an unknown resource.
    pub fn no_resource() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    /// The 400 of an unknown SObject type.
    pub fn invalid_type(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "The requested resource does not exist: sObject type '{name}' is not supported."
            ),
        )
    }

    /// Renders the error as Salesforce's JSON array.
    pub fn into_response(self) -> Response {
        let body = serde_json::json!([{
            "message": self.error.message,
            "errorCode": self.error.code,
            "fields": self.error.fields,
        }]);
        json(self.status, &body)
    }
}

/// A Collections result item's `errors` entry.
pub fn collection_error(e: &RecordError) -> serde_json::Value {
    serde_json::json!({"statusCode": e.code, "message": e.message, "fields": e.fields})
}
