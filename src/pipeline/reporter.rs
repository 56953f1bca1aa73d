//! The reporter: result and error topics, and the dead-letter queue.
//!
//! Success reports are sent in the background (they never hold offsets back). A record
//! set aside under a tolerance setting (a bad record, or a Salesforce error under
//! `behavior.on.api.errors=log|ignore`) is acknowledged only once its error report and
//! dead letter are acknowledged by the broker, so nothing is lost if the process dies
//! in between; when the broker refuses them for good, the task halts naming the record.
//! A record that halts the task is written to the error topic too. At most a fixed
//! number of reports are on their way at once: a sender's `send` waits until the
//! reporter can take its report on, so reports never pile up without bound behind a
//! slow topic.
//!
//! Reports go to the reporter's cluster (`reporter.bootstrap.servers`); dead letters go
//! to the worker's cluster, as Connect's dead-letter queue does.

use crate::kafka::report::{
    dead_letter, error_report, send, success_report, DeadLetterContext, OutgoingRecord,
    ReportSubject,
};
use crate::pipeline::messages::{Ack, Halt, HaltReason, Report};
use crate::record::RecordCoords;
use crate::salesforce::retry::{set_aside_failed, Action, Cause, BAD_RECORD};
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
    /// The reporter's cluster: success and error reports, when a reporter topic is set.
    pub reports: Option<Arc<dyn ReportSink>>,
    /// The worker's cluster: dead letters, when the dead-letter queue is set.
    pub dead_letters: Option<Arc<dyn ReportSink>>,
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
    halt: Recipient<Halt>,
    in_flight: Arc<Semaphore>,
}

/// A record for one of the report topics, with the producer that writes it.
type Outgoing = (Arc<dyn ReportSink>, OutgoingRecord);

impl Reporter {
    /// A reporter acknowledging set-aside records to `tracker` and halting the task
    /// through `halt` when one cannot be set aside, with at most `max_in_flight`
    /// reports on their way at once.
    pub fn new(
        connector: &str,
        task: u32,
        targets: ReportTargets,
        tracker: Recipient<Ack>,
        halt: Recipient<Halt>,
        max_in_flight: usize,
    ) -> Self {
        Self {
            connector: Arc::from(connector),
            task,
            targets,
            tracker,
            halt,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// The error report for `reason`'s record, when an error topic is set.
    fn error_report(
        &self,
        subject: &ReportSubject<'_>,
        stage: &str,
        cause: &Cause,
    ) -> Option<Outgoing> {
        let (Some(sink), Some(topic)) = (&self.targets.reports, &self.targets.error_topic) else {
            return None;
        };
        let rec = error_report(
            topic,
            subject,
            stage,
            &cause.code,
            &cause.message,
            &cause.fields,
        );
        Some((sink.clone(), rec))
    }

    /// The dead letter for a record, when the dead-letter queue is set.
    fn dead_letter(
        &self,
        coords: &RecordCoords,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        ctx: &DeadLetterContext<'_>,
    ) -> Option<Outgoing> {
        let (Some(sink), Some(topic)) = (&self.targets.dead_letters, &self.targets.dlq_topic)
        else {
            return None;
        };
        let rec = dead_letter(
            topic,
            coords,
            key,
            value,
            self.targets.dlq_context_headers,
            ctx,
        );
        Some((sink.clone(), rec))
    }

    /// Takes a report on: waits for room among the reports in flight, then produces
    /// `records` in the background and, once the broker has them all, acknowledges
    /// `ack` (a set-aside record). When the broker refuses a set-aside record's report
    /// for good (after the producer's retries), the record stays unacknowledged and the
    /// task halts naming it.
    fn take_on(
        &self,
        records: Vec<Outgoing>,
        ack: Option<(RecordCoords, Option<String>)>,
        what: &'static str,
    ) -> ResponseFuture<()> {
        let tracker = self.tracker.clone();
        if records.is_empty() {
            return Box::pin(async move {
                if let Some((coords, _)) = ack {
                    let _ = tracker.send(Ack(vec![coords])).await;
                }
            });
        }
        let room = self.in_flight.clone();
        let halt = self.halt.clone();
        let connector = self.connector.clone();
        Box::pin(async move {
            let Ok(permit) = room.acquire_owned().await else {
                return;
            };
            actix::spawn(async move {
                let _permit = permit;
                for (sink, record) in records {
                    let topic = record.topic.clone();
                    if let Err(e) = sink.produce(record).await {
                        let Some((coords, record_id)) = ack else {
                            tracing::warn!(connector = %connector, "{what} not sent: {e}");
                            return;
                        };
                        let message = format!("could not {what} record to topic {topic}: {e}");
                        if let Action::Halt(cause) = set_aside_failed(message) {
                            halt.do_send(Halt(HaltReason {
                                cause,
                                coords: Some(coords),
                                record_id,
                            }));
                        }
                        return;
                    }
                }
                if let Some((coords, _)) = ack {
                    let _ = tracker.send(Ack(vec![coords])).await;
                }
            });
        })
    }

    /// Writes the record a halt is about to the error topic, and waits until the broker
    /// has it (or refused it: the halt goes on either way, the record stays unacknowledged).
    fn report_halt(&self, reason: HaltReason) -> ResponseFuture<()> {
        let Some(coords) = &reason.coords else {
            return Box::pin(async {});
        };
        let subject = ReportSubject {
            coords,
            timestamp: None,
            key: None,
        };
        let Some((sink, record)) = self.error_report(&subject, "halt", &reason.cause) else {
            return Box::pin(async {});
        };
        let connector = self.connector.clone();
        Box::pin(async move {
            if let Err(e) = sink.produce(record).await {
                tracing::warn!(connector = %connector, "the halted record's error report was not sent: {e}");
            }
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
                let (Some(sink), Some(topic)) = (&t.reports, &t.success_topic) else {
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
                self.take_on(vec![(sink.clone(), rec)], None, "send success report for")
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
                let subject = ReportSubject {
                    coords: &change.record.coords,
                    timestamp: change.record.timestamp,
                    key: change.raw_key.as_deref(),
                };
                let ctx = DeadLetterContext {
                    connector: &connector,
                    task: self.task,
                    stage: "TASK_PUT",
                    exception_class: "org.apache.kafka.connect.errors.ConnectException",
                    message: &reason,
                };
                let out = [
                    self.error_report(&subject, change.group.as_str(), &cause),
                    self.dead_letter(
                        &change.record.coords,
                        change.raw_key.as_deref(),
                        change.raw_value.as_deref(),
                        &ctx,
                    ),
                ];
                let ack = (change.record.coords.clone(), change.record.id.clone());
                self.take_on(
                    out.into_iter().flatten().collect(),
                    Some(ack),
                    "set aside rejected",
                )
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
                let subject = ReportSubject {
                    coords: &raw.coords,
                    timestamp: raw.timestamp,
                    key: raw.key.as_deref(),
                };
                let ctx = DeadLetterContext {
                    connector: &connector,
                    task: self.task,
                    stage: "VALUE_CONVERTER",
                    exception_class: "org.apache.kafka.connect.errors.DataException",
                    message: &reason,
                };
                let out = [
                    self.error_report(&subject, "decode", &Cause::new(BAD_RECORD, reason.clone())),
                    self.dead_letter(&raw.coords, raw.key.as_deref(), raw.value.as_deref(), &ctx),
                ];
                let ack = (raw.coords.clone(), None);
                self.take_on(
                    out.into_iter().flatten().collect(),
                    Some(ack),
                    "set aside bad",
                )
            }
            Report::Halted(reason) => self.report_halt(reason),
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

    /// Plays the halt actor: logs the code and the record of each halt.
    impl Handler<Halt> for Tracker {
        type Result = ();
        fn handle(&mut self, msg: Halt, _: &mut Context<Self>) {
            let offset = msg.0.coords.map_or(-1, |c| c.offset);
            self.0
                .lock()
                .push(format!("halt {} {offset}", msg.0.cause.code));
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
        let topic = Arc::new(Topic {
            go: go.clone(),
            fail,
            log: log.clone(),
        });
        let targets = ReportTargets {
            reports: Some(topic.clone()),
            dead_letters: Some(topic),
            success_topic: Some("results".into()),
            error_topic: Some("errors".into()),
            dlq_topic: Some("dlq".into()),
            ..ReportTargets::default()
        };
        let tracker = Tracker(log.clone()).start();
        let reporter = Reporter::new(
            "rep-test",
            0,
            targets,
            tracker.clone().recipient(),
            tracker.recipient(),
            max_in_flight,
        )
        .start();
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
        assert_eq!(
            *log.lock(),
            ["produced to errors"],
            "the dead letter is not out yet"
        );
        go.add_permits(1);
        settle().await;
        assert_eq!(
            *log.lock(),
            ["produced to errors", "produced to dlq", "ack 5"]
        );
    }

    #[actix_rt::test]
    async fn a_record_the_broker_will_not_take_aside_halts_the_task_unacknowledged() {
        tokio::time::pause();
        let (reporter, go, log) = start(8, true);
        go.add_permits(10);
        let bad = Report::BadRecord {
            raw: Box::new(RawMessage {
                coords: change(9).record.coords.clone(),
                epoch: 1,
                timestamp: None,
                key: None,
                value: Some(b"not json".to_vec()),
                header_keys: Vec::new(),
            }),
            reason: "not JSON".into(),
        };
        reporter.send(bad).await.unwrap();
        settle().await;
        assert_eq!(*log.lock(), ["halt SET_ASIDE_FAILED 9"]);
    }

    #[actix_rt::test]
    async fn a_halted_record_is_written_to_the_error_topic() {
        tokio::time::pause();
        let (reporter, go, log) = start(8, false);
        go.add_permits(10);
        let reason =
            HaltReason::for_change(&change(12), Cause::new("DUPLICATES_DETECTED", "duplicate"));
        reporter.send(Report::Halted(reason)).await.unwrap();
        assert_eq!(
            *log.lock(),
            ["produced to errors"],
            "written before the answer, and never acknowledged"
        );
    }
}
