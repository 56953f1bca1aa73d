//! Result and error reports, and dead-letter records, written back to Kafka.
//!
//! Reporter records (Confluent's `reporter.*` topics) carry the input key and headers
//! naming the input record; their value says what Salesforce answered. Dead-letter
//! records carry the input key and value bytes unchanged, plus Connect's
//! `__connect.errors.*` headers when context headers are enabled. The shapes live here;
//! the reporter actor sends them.

use crate::record::RecordCoords;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use std::time::Duration;

/// One message to produce.
#[derive(Debug, Clone)]
pub struct OutgoingRecord {
    /// Target topic.
    pub topic: String,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
}

/// The input record a report is about.
#[derive(Debug, Clone)]
pub struct ReportSubject<'a> {
    /// Where the input record sits.
    pub coords: &'a RecordCoords,
    /// Its Kafka timestamp.
    pub timestamp: Option<i64>,
    /// Its key bytes.
    pub key: Option<&'a [u8]>,
}

fn input_headers(subject: &ReportSubject<'_>) -> Vec<(String, String)> {
    vec![
        (
            "input_record_topic".into(),
            subject.coords.topic.to_string(),
        ),
        (
            "input_record_partition".into(),
            subject.coords.partition.to_string(),
        ),
        (
            "input_record_offset".into(),
            subject.coords.offset.to_string(),
        ),
        (
            "input_record_timestamp".into(),
            subject.timestamp.map(|t| t.to_string()).unwrap_or_default(),
        ),
    ]
}

/// A success report: the Salesforce Id, the operation and whether a row was created.
pub fn success_report(
    topic: &str,
    subject: &ReportSubject<'_>,
    salesforce_id: Option<&str>,
    operation: &str,
    created: Option<bool>,
) -> OutgoingRecord {
    let value = json!({
        "id": salesforce_id,
        "operation": operation,
        "created": created,
        "success": true,
    });
    OutgoingRecord {
        topic: topic.to_string(),
        key: subject.key.map(<[u8]>::to_vec),
        value: Some(value.to_string().into_bytes()),
        headers: input_headers(subject),
    }
}

/// An error report: the Salesforce error code, message and fields.
pub fn error_report(
    topic: &str,
    subject: &ReportSubject<'_>,
    operation: &str,
    code: &str,
    message: &str,
    fields: &[String],
) -> OutgoingRecord {
    let value = json!({
        "success": false,
        "operation": operation,
        "code": code,
        "message": message,
        "fields": fields,
    });
    OutgoingRecord {
        topic: topic.to_string(),
        key: subject.key.map(<[u8]>::to_vec),
        value: Some(value.to_string().into_bytes()),
        headers: input_headers(subject),
    }
}

/// What went wrong with a dead-lettered record.
#[derive(Debug, Clone)]
pub struct DeadLetterContext<'a> {
    /// Connector name.
    pub connector: &'a str,
    /// Task number.
    pub task: u32,
    /// `VALUE_CONVERTER` for decode errors, `TASK_PUT` for Salesforce errors.
    pub stage: &'a str,
    /// A Java-style exception class name, for tools that group by it.
    pub exception_class: &'a str,
    /// The error message.
    pub message: &'a str,
}

/// A dead-letter record: the original bytes, and the error headers when enabled.
pub fn dead_letter(
    topic: &str,
    coords: &RecordCoords,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    context_headers: bool,
    ctx: &DeadLetterContext<'_>,
) -> OutgoingRecord {
    let headers = if context_headers {
        vec![
            ("__connect.errors.topic".into(), coords.topic.to_string()),
            (
                "__connect.errors.partition".into(),
                coords.partition.to_string(),
            ),
            ("__connect.errors.offset".into(), coords.offset.to_string()),
            (
                "__connect.errors.connector.name".into(),
                ctx.connector.to_string(),
            ),
            ("__connect.errors.task.id".into(), ctx.task.to_string()),
            ("__connect.errors.stage".into(), ctx.stage.to_string()),
            (
                "__connect.errors.exception.class.name".into(),
                ctx.exception_class.to_string(),
            ),
            (
                "__connect.errors.exception.message".into(),
                ctx.message.to_string(),
            ),
        ]
    } else {
        Vec::new()
    };
    OutgoingRecord {
        topic: topic.to_string(),
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers,
    }
}

/// Builds the producer for reports and dead letters, writing to `bootstrap_servers`
/// whatever `client_config` says.
pub fn build_producer(
    bootstrap_servers: &str,
    client_config: &[(String, String)],
) -> rdkafka::error::KafkaResult<FutureProducer> {
    let mut cfg = ClientConfig::new();
    cfg.set("linger.ms", "20")
        .set("message.timeout.ms", "60000");
    for (k, v) in client_config {
        cfg.set(k, v);
    }
    // Last: the worker's settings carry its own cluster's `bootstrap.servers`, and a
    // reporter on another cluster must not be sent there.
    cfg.set("bootstrap.servers", bootstrap_servers);
    cfg.create()
}

/// Sends one record and waits for the broker's acknowledgement.
pub async fn send(producer: &FutureProducer, record: &OutgoingRecord) -> Result<(), String> {
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
    for (k, v) in &record.headers {
        headers = headers.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&record.topic).headers(headers);
    if let Some(k) = &record.key {
        fr = fr.key(k.as_slice());
    }
    if let Some(v) = &record.value {
        fr = fr.payload(v.as_slice());
    }
    producer
        .send(fr, Duration::from_secs(30))
        .await
        .map(|_| ())
        .map_err(|(e, _)| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn coords() -> RecordCoords {
        RecordCoords {
            topic: Arc::from("leads"),
            partition: 2,
            offset: 41,
        }
    }

    #[test]
    fn reports_name_the_input_record_in_headers() {
        let c = coords();
        let subject = ReportSubject {
            coords: &c,
            timestamp: Some(7),
            key: Some(b"{\"Id\":\"x\"}"),
        };
        let r = success_report(
            "c-success",
            &subject,
            Some("00Q000000000001AAA"),
            "upsert",
            Some(true),
        );
        assert_eq!(r.key.as_deref(), Some(&b"{\"Id\":\"x\"}"[..]));
        let h: std::collections::HashMap<_, _> = r.headers.into_iter().collect();
        assert_eq!(h["input_record_topic"], "leads");
        assert_eq!(h["input_record_partition"], "2");
        assert_eq!(h["input_record_offset"], "41");
        assert_eq!(h["input_record_timestamp"], "7");
        let v: serde_json::Value = serde_json::from_slice(&r.value.unwrap()).unwrap();
        assert_eq!(v["id"], "00Q000000000001AAA");
        assert_eq!(v["created"], true);
    }

    #[test]
    fn dead_letters_keep_the_original_bytes() {
        let c = coords();
        let ctx = DeadLetterContext {
            connector: "c",
            task: 0,
            stage: "VALUE_CONVERTER",
            exception_class: "org.apache.kafka.connect.errors.DataException",
            message: "not JSON",
        };
        let r = dead_letter("dlq", &c, Some(b"k"), Some(b"\xff not json"), true, &ctx);
        assert_eq!(r.value.as_deref(), Some(&b"\xff not json"[..]));
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "__connect.errors.offset" && v == "41"));
        let bare = dead_letter("dlq", &c, None, Some(b"x"), false, &ctx);
        assert!(bare.headers.is_empty());
    }
}
