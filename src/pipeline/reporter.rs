//! The reporter: result and error topics, and the dead-letter queue.
//!
//! Success reports are sent in the background (they never hold offsets back). A record
//! set aside under a tolerance setting (a bad record, or a Salesforce error under
//! `behavior.on.api.errors=log|ignore`) is acknowledged only once its error report and
//! dead letter are acknowledged by the broker, so nothing is lost if the process dies
//! in between.

use crate::kafka::report::{
    dead_letter, error_report, send, success_report, DeadLetterContext, OutgoingRecord,
    ReportSubject,
};
use crate::pipeline::messages::{Ack, Change, RawMessage};
use crate::pipeline::offset_tracker::OffsetTracker;
use actix::{Actor, Addr, Context, Handler, Message, ResponseFuture};
use rdkafka::producer::FutureProducer;
use std::sync::Arc;

/// Where reports go; every part is optional.
#[derive(Clone, Default)]
pub struct ReportTargets {
    /// The producer, when any topic below is set.
    pub producer: Option<FutureProducer>,
    /// `reporter.result.topic.name`, when the reporter is enabled.
    pub success_topic: Option<String>,
    /// `reporter.error.topic.name`, when the reporter is enabled.
    pub error_topic: Option<String>,
    /// `errors.deadletterqueue.topic.name`, when `errors.tolerance=all`.
    pub dlq_topic: Option<String>,
    /// `errors.deadletterqueue.context.headers.enable`.
    pub dlq_context_headers: bool,
    /// `behavior.on.api.errors=log`: tolerated Salesforce errors are logged at warn.
    pub log_rejections: bool,
}

/// Something to report.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Report {
    /// Salesforce accepted the change.
    Delivered {
        /// The change.
        change: Box<Change>,
        /// The target row's Id.
        id: Option<String>,
        /// Whether a row was created.
        created: Option<bool>,
    },
    /// Salesforce rejected the change and configuration tolerates it.
    Rejected {
        /// The change.
        change: Box<Change>,
        /// Error code.
        code: String,
        /// Error message.
        message: String,
        /// Fields named.
        fields: Vec<String>,
    },
    /// A record that could not be decoded, tolerated by `errors.tolerance=all`.
    BadRecord {
        /// The raw record.
        raw: Box<RawMessage>,
        /// Why.
        reason: String,
    },
}

/// The reporter actor.
pub struct Reporter {
    connector: Arc<str>,
    task: u32,
    targets: ReportTargets,
    tracker: Addr<OffsetTracker>,
}

impl Reporter {
    /// A reporter acknowledging set-aside records to `tracker`.
    pub fn new(
        connector: &str,
        task: u32,
        targets: ReportTargets,
        tracker: Addr<OffsetTracker>,
    ) -> Self {
        Self {
            connector: Arc::from(connector),
            task,
            targets,
            tracker,
        }
    }
}

impl Actor for Reporter {
    type Context = Context<Self>;
}

async fn send_all(
    producer: Option<FutureProducer>,
    records: Vec<OutgoingRecord>,
) -> Result<(), String> {
    let Some(producer) = producer else {
        return Ok(());
    };
    for r in &records {
        send(&producer, r).await?;
    }
    Ok(())
}

impl Handler<Report> for Reporter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Report, _ctx: &mut Self::Context) -> Self::Result {
        let t = self.targets.clone();
        let tracker = self.tracker.clone();
        let connector = self.connector.clone();
        let task = self.task;
        match msg {
            Report::Delivered {
                change,
                id,
                created,
            } => {
                let Some(topic) = t.success_topic.clone() else {
                    return Box::pin(async {});
                };
                let subject = ReportSubject {
                    coords: &change.record.coords,
                    timestamp: change.record.timestamp,
                    key: change.raw_key.as_deref(),
                };
                let rec = success_report(
                    &topic,
                    &subject,
                    id.as_deref(),
                    change.group.as_str(),
                    created,
                );
                Box::pin(async move {
                    if let Err(e) = send_all(t.producer, vec![rec]).await {
                        tracing::warn!(connector = %connector, "success report not sent: {e}");
                    }
                })
            }
            Report::Rejected {
                change,
                code,
                message,
                fields,
            } => {
                if t.log_rejections {
                    tracing::warn!(
                        connector = %connector,
                        "Salesforce rejected record {} (Id {}): {code}: {message}",
                        change.record.coords,
                        change.record.id.as_deref().unwrap_or("-")
                    );
                }
                let mut out = Vec::new();
                let subject = ReportSubject {
                    coords: &change.record.coords,
                    timestamp: change.record.timestamp,
                    key: change.raw_key.as_deref(),
                };
                if let Some(topic) = &t.error_topic {
                    out.push(error_report(
                        topic,
                        &subject,
                        change.group.as_str(),
                        &code,
                        &message,
                        &fields,
                    ));
                }
                if let Some(dlq) = &t.dlq_topic {
                    let text = format!("{code}: {message}");
                    let ctx = DeadLetterContext {
                        connector: &connector,
                        task,
                        stage: "TASK_PUT",
                        exception_class: "org.apache.kafka.connect.errors.ConnectException",
                        message: &text,
                    };
                    out.push(dead_letter(
                        dlq,
                        &change.record.coords,
                        change.raw_key.as_deref(),
                        change.raw_value.as_deref(),
                        t.dlq_context_headers,
                        &ctx,
                    ));
                }
                let coords = change.record.coords.clone();
                Box::pin(async move {
                    match send_all(t.producer, out).await {
                        Ok(()) => tracker.do_send(Ack(vec![coords])),
                        Err(e) => tracing::error!(
                            connector = %connector,
                            "could not report rejected record {coords}; it stays uncommitted: {e}"
                        ),
                    }
                })
            }
            Report::BadRecord { raw, reason } => {
                let mut out = Vec::new();
                if let Some(topic) = &t.error_topic {
                    let subject = ReportSubject {
                        coords: &raw.coords,
                        timestamp: raw.timestamp,
                        key: raw.key.as_deref(),
                    };
                    out.push(error_report(
                        topic,
                        &subject,
                        "decode",
                        "BAD_RECORD",
                        &reason,
                        &[],
                    ));
                }
                if let Some(dlq) = &t.dlq_topic {
                    let ctx = DeadLetterContext {
                        connector: &connector,
                        task,
                        stage: "VALUE_CONVERTER",
                        exception_class: "org.apache.kafka.connect.errors.DataException",
                        message: &reason,
                    };
                    out.push(dead_letter(
                        dlq,
                        &raw.coords,
                        raw.key.as_deref(),
                        raw.value.as_deref(),
                        t.dlq_context_headers,
                        &ctx,
                    ));
                }
                let coords = raw.coords.clone();
                Box::pin(async move {
                    match send_all(t.producer, out).await {
                        Ok(()) => tracker.do_send(Ack(vec![coords])),
                        Err(e) => tracing::error!(
                            connector = %connector,
                            "could not dead-letter bad record {coords}; it stays uncommitted: {e}"
                        ),
                    }
                })
            }
        }
    }
}
