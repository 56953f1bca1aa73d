//! The reporter: result and error topics, and the dead-letter queue.
//!
//! Success reports are sent in the background (they never hold offsets back). A record
//! set aside under a tolerance setting (a bad record, or a Salesforce error under
//! `behavior.on.api.errors=log|ignore`) is acknowledged only once its error report and
//! dead letter are acknowledged by the broker, so nothing is lost if the process dies
//! in between. At most a fixed number of reports are on their way at once: a sender's
//! `send` waits until the reporter can take its report on, so reports never pile up
//! without bound behind a slow topic.

use crate::kafka::report::{
    dead_letter, error_report, send, success_report, DeadLetterContext, OutgoingRecord,
    ReportSubject,
};
use crate::pipeline::messages::{Ack, Report};
use crate::record::RecordCoords;
use actix::{Actor, Context, Handler, Recipient, ResponseFuture};
use futures::future::BoxFuture;
use rdkafka::producer::FutureProducer;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Reports produced at once and not yet acknowledged by the broker. Enough to keep a
/// result topic busy at the sink's write rate (a few thousand records a second, a few
/// milliseconds per produce), and a bound on the memory they hold.
pub const REPORTS_IN_FLIGHT: usize = 4096;

/// Reports waiting in the reporter's mailbox. The reporter takes each on at once
/// unless [`REPORTS_IN_FLIGHT`] are out, so the queue only fills under backpressure.
const REPORTER_MAILBOX: usize = 256;

/// Where report records go: a Kafka producer in a running task, a recorder in tests.
pub trait ReportSink: Send + Sync {
    /// Produces one record; resolves once the broker acknowledged it.
    fn produce(&self, record: OutgoingRecord) -> BoxFuture<'static, Result<(), String>>;
}

impl ReportSink for FutureProducer {
    fn produce(&self, record: OutgoingRecord) -> BoxFuture<'static, Result<(), String>> {
        let producer = self.clone();
        Box::pin(async move { send(&producer, &record).await })
    }
}

/// Where reports go; every part is optional.
#[derive(Clone, Default)]
pub struct ReportTargets {
    /// Where records go, when any topic below is set.
    pub sink: Option<Arc<dyn ReportSink>>,
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
    /// `errors.log.enable` and `errors.log.include.messages`.
    pub error_log: ErrorLog,
}

/// Connect's error log: with `errors.log.enable`, every tolerated record (a bad record
/// set aside, a Salesforce error skipped) gets one ERROR line naming the stage and the
/// reason; `errors.log.include.messages` adds where the record sits (topic, partition,
/// offset, timestamp), never its content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorLog {
    /// `errors.log.enable`.
    pub enable: bool,
    /// `errors.log.include.messages`.
    pub include_messages: bool,
}

impl ErrorLog {
    /// The line to log for a tolerated record, `None` when the log is off.
    pub fn line(
        self,
        connector: &str,
        stage: &str,
        reason: &str,
        coords: &RecordCoords,
        timestamp: Option<i64>,
    ) -> Option<String> {
        if !self.enable {
            return None;
        }
        let mut line = format!("connector {connector}: tolerated error in stage {stage}: {reason}");
        if self.include_messages {
            line.push_str(&format!(
                "; consumed record is topic={} partition={} offset={} timestamp={}",
                coords.topic,
                coords.partition,
                coords.offset,
                timestamp.map_or_else(|| "none".to_string(), |t| t.to_string())
            ));
        }
        Some(line)
    }
}

/// The reporter actor.
pub struct Reporter {
    connector: Arc<str>,
    task: u32,
    targets: ReportTargets,
    tracker: Recipient<Ack>,
    in_flight: Arc<Semaphore>,
}

impl Reporter {
    /// A reporter acknowledging set-aside records to `tracker`, with at most
    /// `max_in_flight` reports on their way at once.
    pub fn new(
        connector: &str,
        task: u32,
        targets: ReportTargets,
        tracker: Recipient<Ack>,
        max_in_flight: usize,
    ) -> Self {
        Self {
            connector: Arc::from(connector),
            task,
            targets,
            tracker,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// Takes a report on: waits for room among the reports in flight, then produces
    /// `records` in the background and, once the broker has them all, acknowledges
    /// `ack` (a set-aside record). A failed report leaves the record unacknowledged.
    fn take_on(
        &self,
        records: Vec<OutgoingRecord>,
        ack: Option<RecordCoords>,
        what: &'static str,
    ) -> ResponseFuture<()> {
        let sink = self.targets.sink.clone();
        let (Some(sink), false) = (sink, records.is_empty()) else {
            if let Some(coords) = ack {
                let tracker = self.tracker.clone();
                return Box::pin(async move {
                    let _ = tracker.send(Ack(vec![coords])).await;
                });
            }
            return Box::pin(async {});
        };
        let room = self.in_flight.clone();
        let tracker = self.tracker.clone();
        let connector = self.connector.clone();
        Box::pin(async move {
            let Ok(permit) = room.acquire_owned().await else {
                return;
            };
            actix::spawn(async move {
                let _permit = permit;
                for record in records {
                    if let Err(e) = sink.produce(record).await {
                        match &ack {
                            Some(coords) => tracing::error!(
                                connector = %connector,
                                "could not {what} record {coords}; it stays uncommitted: {e}"
                            ),
                            None => tracing::warn!(connector = %connector, "{what} not sent: {e}"),
                        }
                        return;
                    }
                }
                if let Some(coords) = ack {
                    let _ = tracker.send(Ack(vec![coords])).await;
                }
            });
        })
    }
}

impl Actor for Reporter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(REPORTER_MAILBOX);
    }
}

impl Handler<Report> for Reporter {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Report, _ctx: &mut Self::Context) -> Self::Result {
        let t = &self.targets;
        let connector = self.connector.clone();
        match msg {
            Report::Delivered {
                change,
                id,
                created,
            } => {
                let Some(topic) = &t.success_topic else {
                    return Box::pin(async {});
                };
                let subject = ReportSubject {
                    coords: &change.record.coords,
                    timestamp: change.record.timestamp,
                    key: change.raw_key.as_deref(),
                };
                let rec = success_report(
                    topic,
                    &subject,
                    id.as_deref(),
                    change.group.as_str(),
                    created,
                );
                self.take_on(vec![rec], None, "success report")
            }
            Report::Rejected { change, cause } => {
                let reason = format!("{}: {}", cause.code, cause.message);
                if let Some(line) = t.error_log.line(
                    &connector,
                    "TASK_PUT",
                    &reason,
                    &change.record.coords,
                    change.record.timestamp,
                ) {
                    tracing::error!("{line}");
                } else if t.log_rejections {
                    tracing::warn!(
                        connector = %connector,
                        "Salesforce rejected record {} (Id {}): {}: {}",
                        change.record.coords,
                        change.record.id.as_deref().unwrap_or("-"),
                        cause.code,
                        cause.message
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
                        &cause.code,
                        &cause.message,
                        &cause.fields,
                    ));
                }
                if let Some(dlq) = &t.dlq_topic {
                    let text = format!("{}: {}", cause.code, cause.message);
                    let ctx = DeadLetterContext {
                        connector: &connector,
                        task: self.task,
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
                self.take_on(out, Some(coords), "report rejected")
            }
            Report::BadRecord { raw, reason } => {
                if let Some(line) = t.error_log.line(
                    &connector,
                    "VALUE_CONVERTER",
                    &reason,
                    &raw.coords,
                    raw.timestamp,
                ) {
                    tracing::error!("{line}");
                }
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
                        task: self.task,
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
                self.take_on(out, Some(raw.coords.clone()), "dead-letter bad")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Operation;
    use crate::pipeline::messages::{Change, RawMessage};
    use crate::pipeline::plan::WriteGroup;
    use crate::salesforce::retry::Cause;
    use actix::Addr;
    use parking_lot::Mutex;

    /// A result topic the test controls: each produce waits for a go-ahead, and the
    /// log records produces and acknowledgements in the order they happen.
    struct Topic {
        go: Arc<Semaphore>,
        fail: bool,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl ReportSink for Topic {
        fn produce(&self, record: OutgoingRecord) -> BoxFuture<'static, Result<(), String>> {
            let (go, fail, log) = (self.go.clone(), self.fail, self.log.clone());
            Box::pin(async move {
                let _ = go.acquire().await.map(|p| p.forget());
                if fail {
                    return Err("broker down".into());
                }
                log.lock().push(format!("produced to {}", record.topic));
                Ok(())
            })
        }
    }

    struct Tracker(Arc<Mutex<Vec<String>>>);

    impl Actor for Tracker {
        type Context = Context<Self>;
    }

    impl Handler<Ack> for Tracker {
        type Result = ();
        fn handle(&mut self, msg: Ack, _: &mut Context<Self>) {
            for c in msg.0 {
                self.0.lock().push(format!("ack {}", c.offset));
            }
        }
    }

    #[test]
    fn the_error_log_says_nothing_when_off_and_where_the_record_sits_only_when_asked() {
        let coords = RecordCoords {
            topic: Arc::from("leads"),
            partition: 3,
            offset: 17,
        };
        let off = ErrorLog::default();
        assert_eq!(off.line("c", "TASK_PUT", "X: y", &coords, Some(5)), None);
        let on = ErrorLog {
            enable: true,
            include_messages: false,
        };
        let line = on
            .line(
                "c",
                "TASK_PUT",
                "STRING_TOO_LONG: too long",
                &coords,
                Some(5),
            )
            .unwrap();
        assert!(
            line.contains("TASK_PUT") && line.contains("STRING_TOO_LONG"),
            "{line}"
        );
        assert!(!line.contains("offset="), "{line}");
        let with_messages = ErrorLog {
            enable: true,
            include_messages: true,
        };
        let line = with_messages
            .line("c", "VALUE_CONVERTER", "not JSON", &coords, Some(5))
            .unwrap();
        assert!(
            line.contains("topic=leads partition=3 offset=17 timestamp=5"),
            "{line}"
        );
    }

    fn start(
        max_in_flight: usize,
        fail: bool,
    ) -> (Addr<Reporter>, Arc<Semaphore>, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let go = Arc::new(Semaphore::new(0));
        let targets = ReportTargets {
            sink: Some(Arc::new(Topic {
                go: go.clone(),
                fail,
                log: log.clone(),
            })),
            success_topic: Some("results".into()),
            error_topic: Some("errors".into()),
            ..ReportTargets::default()
        };
        let tracker = Tracker(log.clone()).start();
        let reporter =
            Reporter::new("rep-test", 0, targets, tracker.recipient(), max_in_flight).start();
        (reporter, go, log)
    }

    fn change(offset: i64) -> Box<Change> {
        let id = Some("00Q5e00000AbCdEEAV");
        let fields = Default::default();
        Box::new(Change::lead(
            offset,
            id,
            Operation::Insert,
            WriteGroup::Insert,
            fields,
        ))
    }

    fn delivered(offset: i64) -> Report {
        Report::Delivered {
            change: change(offset),
            id: Some("00Q000000000001AAA".into()),
            created: Some(true),
        }
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[actix_rt::test]
    async fn a_slow_topic_makes_senders_wait_instead_of_piling_reports_up() {
        tokio::time::pause();
        let (reporter, go, log) = start(2, false);
        reporter.send(delivered(0)).await.unwrap();
        reporter.send(delivered(1)).await.unwrap();
        let third = actix_rt::spawn(reporter.send(delivered(2)));
        settle().await;
        assert!(!third.is_finished(), "two reports are out: the third waits");
        go.add_permits(1);
        settle().await;
        assert!(
            third.is_finished(),
            "one report landed: the third is taken on"
        );
        go.add_permits(2);
        settle().await;
        assert_eq!(log.lock().len(), 3);
        // Success reports never acknowledge: the sequencer already did.
        assert!(log.lock().iter().all(|l| l == "produced to results"));
    }

    #[actix_rt::test]
    async fn a_rejected_record_is_acknowledged_only_after_its_report_landed() {
        tokio::time::pause();
        let (reporter, go, log) = start(8, false);
        let rejected = Report::Rejected {
            change: change(5),
            cause: Cause::new("STRING_TOO_LONG", "too long"),
        };
        reporter.send(rejected).await.unwrap();
        settle().await;
        assert!(
            log.lock().is_empty(),
            "nothing is acknowledged before the report lands"
        );
        go.add_permits(1);
        settle().await;
        assert_eq!(*log.lock(), ["produced to errors", "ack 5"]);
    }

    #[actix_rt::test]
    async fn a_report_that_cannot_be_written_leaves_the_record_unacknowledged() {
        tokio::time::pause();
        let (reporter, go, log) = start(8, true);
        go.add_permits(10);
        let bad = Report::BadRecord {
            raw: Box::new(RawMessage {
                coords: change(9).record.coords.clone(),
                timestamp: None,
                key: None,
                value: Some(b"not json".to_vec()),
                header_keys: Vec::new(),
            }),
            reason: "not JSON".into(),
        };
        reporter.send(bad).await.unwrap();
        settle().await;
        assert!(log.lock().is_empty(), "{:?}", log.lock());
    }
}
