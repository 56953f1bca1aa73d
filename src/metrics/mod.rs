//! Prometheus metrics: one registry per process, one place that defines every series.
//!
//! Every stage of the pipeline counts what goes in and out through [`SinkMetrics`].
//! Labels are bounded sets (connector, operation, outcome, endpoint, status, error
//! code, partition); never a record Id or free text. `GET /metrics` renders
//! [`SinkMetrics::render`].

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::LazyLock;

/// Every metric series of the process.
pub struct SinkMetrics {
    registry: Registry,
    /// Records read from Kafka.
    pub records_read: IntCounterVec,
    /// Records a transform chain dropped (a `Filter`), by the transform's alias; their
    /// offsets are acknowledged like written records.
    pub records_filtered: IntCounterVec,
    /// Records with a final outcome, by operation and outcome (`written`,
    /// `already_gone`, `superseded`, `failed`: set aside by the error policy, and
    /// `revoked`).
    pub records: IntCounterVec,
    /// sObject Collections calls and Bulk API 2.0 jobs that carried records, by
    /// operation.
    pub batches: IntCounterVec,
    /// Bulk API 2.0 ingest jobs by operation and final state (`JobComplete`,
    /// `Failed`, `Aborted`, or `error` when the job could not be run).
    pub bulk_jobs: IntCounterVec,
    /// Records per call.
    pub batch_size: HistogramVec,
    /// API calls by endpoint class and HTTP status (`error` when no answer came).
    pub api_calls: IntCounterVec,
    /// API call latency.
    pub api_latency: HistogramVec,
    /// Retries by reason.
    pub retries: IntCounterVec,
    /// Calls in flight: the governor permits writers hold (a Bulk job holds one per
    /// call it will make), not batches, which a Composite call carries several of.
    pub in_flight: IntGaugeVec,
    /// Most sObject Collections subrequests the next Composite call may carry: the
    /// configured `sink.composite.collections`, smaller for a while after a composite
    /// ran into the org's per-transaction limits.
    pub composite_size: IntGaugeVec,
    /// The org's daily API allocation as last seen in `Sforce-Limit-Info`.
    pub api_daily_used: IntGaugeVec,
    /// The org's daily API maximum.
    pub api_daily_max: IntGaugeVec,
    /// 1 while the task is paused because the daily allocation is near its end.
    pub budget_paused: IntGaugeVec,
    /// Consumer lag per partition (high watermark minus committed position).
    pub consumer_lag: IntGaugeVec,
    /// 1 for the task's current state, 0 for the others.
    pub task_state: IntGaugeVec,
    /// Halts by error code.
    pub halts: IntCounterVec,
    /// Logins (first and after an expired session).
    pub logins: IntCounterVec,
    /// Record fields dropped because the target SObject has no such field.
    pub unknown_fields: IntCounterVec,
    /// From the record's Kafka timestamp to Salesforce accepting the write.
    pub record_latency: HistogramVec,
    /// Input partitions currently assigned to this worker's tasks.
    pub assigned_partitions: IntGaugeVec,
    /// CDC events skipped because their `changeOrigin` names `sink.client.id`: the
    /// sink's own writes coming back from the other org (offsets acknowledged).
    pub cdc_echoes_skipped: IntCounterVec,
    /// Records sent again because their parent (named by External ID) is not in the
    /// target org yet.
    pub records_waiting_for_parent: IntGaugeVec,
    /// Reference field values left out of write requests because their target SObject
    /// has no External ID field of the configured name (`sink.references=external.id`),
    /// by field; a record sent again (waiting for a parent) counts again.
    pub references_dropped: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    c
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(g.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    g
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .unwrap_or_else(|e| panic!("metric {name} is malformed: {e}"));
    registry
        .register(Box::new(h.clone()))
        .unwrap_or_else(|e| panic!("metric {name} registered twice: {e}"));
    h
}

impl SinkMetrics {
    fn new() -> Self {
        let r = Registry::new();
        let c = "connector";
        Self {
            records_read: counter(
                &r,
                "sobject_sink_records_read_total",
                "Records read from Kafka",
                &[c],
            ),
            records_filtered: counter(
                &r,
                "sobject_sink_records_filtered_total",
                "Records dropped by a Filter transform (offsets acknowledged, nothing written)",
                &[c, "transform"],
            ),
            records: counter(
                &r,
                "sobject_sink_records_total",
                "Records with a final outcome",
                &[c, "operation", "outcome"],
            ),
            batches: counter(
                &r,
                "sobject_sink_batches_total",
                "Write calls that carried records",
                &[c, "operation"],
            ),
            bulk_jobs: counter(
                &r,
                "sobject_sink_bulk_jobs_total",
                "Bulk API 2.0 ingest jobs by final state",
                &[c, "operation", "state"],
            ),
            batch_size: histogram(
                &r,
                "sobject_sink_batch_size_records",
                "Records per write call or bulk job",
                &[c],
                vec![
                    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 150.0, 200.0, 1000.0, 5000.0, 10000.0,
                ],
            ),
            api_calls: counter(
                &r,
                "sobject_sink_api_calls_total",
                "Salesforce API calls by endpoint and HTTP status",
                &[c, "endpoint", "status"],
            ),
            api_latency: histogram(
                &r,
                "sobject_sink_api_call_duration_seconds",
                "Salesforce API call latency",
                &[c, "endpoint"],
                vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ],
            ),
            retries: counter(
                &r,
                "sobject_sink_retries_total",
                "Retried calls or records by reason",
                &[c, "reason"],
            ),
            in_flight: gauge(
                &r,
                "sobject_sink_api_in_flight_requests",
                "Salesforce calls in flight",
                &[c],
            ),
            composite_size: gauge(
                &r,
                "sobject_sink_composite_size",
                "Most sObject Collections subrequests the next Composite call may carry",
                &[c],
            ),
            api_daily_used: gauge(
                &r,
                "sobject_sink_api_daily_used",
                "Daily API requests used, from Sforce-Limit-Info",
                &[c],
            ),
            api_daily_max: gauge(
                &r,
                "sobject_sink_api_daily_max",
                "Daily API request allocation, from Sforce-Limit-Info",
                &[c],
            ),
            budget_paused: gauge(
                &r,
                "sobject_sink_budget_paused",
                "1 while writes wait for the daily API allocation to free up",
                &[c],
            ),
            consumer_lag: gauge(
                &r,
                "sobject_sink_consumer_lag_records",
                "High watermark minus committed position",
                &[c, "topic", "partition"],
            ),
            task_state: gauge(
                &r,
                "sobject_sink_task_state",
                "1 for the task's current state",
                &[c, "task", "state"],
            ),
            halts: counter(
                &r,
                "sobject_sink_halts_total",
                "Fail-fast halts by error code",
                &[c, "code"],
            ),
            logins: counter(&r, "sobject_sink_logins_total", "Salesforce logins", &[c]),
            unknown_fields: counter(
                &r,
                "sobject_sink_unknown_fields_dropped_total",
                "Record fields dropped because the SObject has no such field",
                &[c, "field"],
            ),
            record_latency: histogram(
                &r,
                "sobject_sink_record_latency_seconds",
                "Kafka record timestamp to the write accepted by Salesforce",
                &[c],
                vec![
                    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4,
                    0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0,
                ],
            ),
            assigned_partitions: gauge(
                &r,
                "sobject_sink_assigned_partitions",
                "Input partitions assigned to this worker's tasks",
                &[c],
            ),
            cdc_echoes_skipped: counter(
                &r,
                "sobject_sink_cdc_echoes_skipped_total",
                "CDC events of the sink's own writes (changeOrigin names sink.client.id), skipped",
                &[c],
            ),
            records_waiting_for_parent: gauge(
                &r,
                "sobject_sink_records_waiting_for_parent",
                "Records waiting for their parent (by External ID) to reach the target org",
                &[c],
            ),
            references_dropped: counter(
                &r,
                "sobject_sink_references_dropped_total",
                "Reference field values left out of write requests: their target has no External ID field of the configured name",
                &[c, "field"],
            ),
            registry: r,
        }
    }

    /// Renders every series in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

static METRICS: LazyLock<SinkMetrics> = LazyLock::new(SinkMetrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static SinkMetrics {
    &METRICS
}
