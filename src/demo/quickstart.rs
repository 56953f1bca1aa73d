//! The quickstart: the whole product end to end on one machine, with nothing set up.
//!
//! It gets a Kafka broker running — by default an embedded one (librdkafka's mock
//! cluster, hosted in this process: nothing to install or start, and it ends with the
//! process), or with `--broker tansu` a local `tansu` broker process (installed with
//! cargo when missing) — starts a simulated Salesforce org, runs the sink in standalone
//! mode with an upsert-by-External-ID configuration, feeds it a stream of Lead changes in
//! the PushTopic source's format (creates, several updates per Lead, some deletes),
//! waits until every record is committed, and prints what happened: rows expected
//! against rows found, the API calls spent, the throughput, and where the metrics are.
//!
//! The stream goes in slices of at most [`SLICE_BYTES`] per partition, each committed
//! before the next is produced: the embedded broker keeps only the last 5 MiB of each
//! partition's log (librdkafka's mock cluster drops older message sets), so a stream
//! produced all at once could lose its first records (the creates) before the sink
//! read them.

use crate::config::WorkerConfig;
use crate::connect::worker::WorkerHandle;
use crate::demo::broker::{broker, install_tansu, tansu_installed, Broker, TANSU_WORKER_TUNING};
use crate::demo::lead_stream::{generate, same_value, StreamRecord, StreamSpec};
use crate::demo::mock_broker::{MockKafka, TopicSpec};
use crate::sim::{OrgConfig, SimAdmin, SimConfig};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most bytes of record values produced to one partition before the quickstart waits
/// for the sink to commit them: well under the embedded broker's 5 MiB log per partition.
const SLICE_BYTES: usize = 2 * 1024 * 1024;

/// How long the whole sync may take.
const SYNC_DEADLINE: Duration = Duration::from_secs(600);

/// Which Kafka the quickstart runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BrokerChoice {
    /// librdkafka's mock cluster inside the quickstart's process: nothing to install.
    Embedded,
    /// A local `tansu` broker process, in memory (installed with cargo when missing).
    Tansu,
}

/// Quickstart options.
#[derive(Debug, Clone, clap::Args)]
pub struct QuickstartArgs {
    /// The Kafka broker: `embedded` (in this process, nothing to install) or `tansu`
    /// (a real broker process, installed with cargo the first time).
    #[arg(long, value_enum, default_value_t = BrokerChoice::Embedded)]
    pub broker: BrokerChoice,
    /// Distinct Leads in the generated stream.
    #[arg(long, default_value_t = 2000)]
    pub leads: usize,
    /// Partitions of the input topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Simulated Salesforce latency per API call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Keep the broker, the simulator and the sink running after the sync (Ctrl-C ends).
    #[arg(long)]
    pub keep_running: bool,
}

/// What went wrong in the quickstart.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QuickstartError(String);

fn err(e: impl std::fmt::Display) -> QuickstartError {
    QuickstartError(e.to_string())
}

/// The connector configuration the quickstart uses (org A → Kafka → org B, upsert by
/// External ID), pointed at the simulated org at `login_url`.
pub fn connector_config(name: &str, topic: &str, login_url: &str) -> BTreeMap<String, String> {
    [
        ("name", name),
        (
            "connector.class",
            "io.confluent.salesforce.SalesforceSObjectSinkConnector",
        ),
        ("tasks.max", "1"),
        ("topics", topic),
        ("salesforce.object", "Lead"),
        ("salesforce.instance", login_url),
        ("salesforce.username", "integration@org-b.example"),
        ("salesforce.password", "sim-password"),
        ("salesforce.password.token", "SIMTOKEN"),
        ("salesforce.consumer.key", "sim-consumer-key"),
        ("salesforce.consumer.secret", "sim-consumer-secret"),
        ("salesforce.use.custom.id.field", "true"),
        ("salesforce.custom.id.field.name", "CustomId__c"),
        ("salesforce.ignore.reference.fields", "true"),
        ("salesforce.ignore.fields", "CleanStatus"),
        (
            "key.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Runs the quickstart.
pub fn run(args: QuickstartArgs) -> Result<(), QuickstartError> {
    let topic = "sfdc.pushtopic.leads";
    // The embedded cluster lives as long as this binding: to the end of the run.
    let (kafka, _embedded, tuning): (Broker, Option<MockKafka>, &[(&str, &str)]) = match args.broker
    {
        BrokerChoice::Embedded => {
            println!("==> Starting an embedded Kafka broker (librdkafka's mock cluster, in this process)...");
            let mock =
                MockKafka::start(1, &[TopicSpec::new(topic, args.partitions)]).map_err(err)?;
            (mock.broker(), Some(mock), &[])
        }
        BrokerChoice::Tansu => {
            if !tansu_installed() {
                println!("==> The local Kafka broker (tansu) is not installed: installing it with cargo (one time, 15 to 25 minutes)...");
                install_tansu().map_err(err)?;
            }
            println!("==> Starting a local Kafka broker (tansu, in memory)...");
            (broker().clone(), None, TANSU_WORKER_TUNING)
        }
    };
    println!("    bootstrap.servers={}", kafka.bootstrap);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err)?;
    let mut org = OrgConfig::named("b", SocketAddr::from(([127, 0, 0, 1], 0)));
    if args.latency_ms > 0 {
        org.faults.latency_ms = args.latency_ms;
    }
    let sim = rt
        .block_on(crate::sim::start(SimConfig::single(org)))
        .map_err(err)?;
    let org_url = sim
        .base_url("b")
        .ok_or_else(|| err("the simulator did not start org b"))?;
    println!("==> Simulated Salesforce org B at {org_url} (user integration@org-b.example)");

    let stream = generate(&StreamSpec {
        leads: args.leads,
        partitions: args.partitions,
        tag: "qs".into(),
        ..StreamSpec::default()
    });
    rt.block_on(kafka.create_topic(topic, args.partitions));

    let worker_map: BTreeMap<String, String> = [
        ("bootstrap.servers", kafka.bootstrap.as_str()),
        ("listeners", "http://127.0.0.1:0"),
    ]
    .into_iter()
    .chain(tuning.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let worker = WorkerConfig::from_map(&worker_map).map_err(err)?;
    let name = "lead-sync";
    let started = Instant::now();
    let handle =
        WorkerHandle::start(worker, vec![connector_config(name, topic, &org_url)]).map_err(err)?;
    println!(
        "==> Sink running; REST API at {} (metrics at {}/metrics)",
        handle.rest_url, handle.rest_url
    );
    println!(
        "==> Producing {} PushTopic Lead changes for {} Leads of org A (creates, updates, deletes) to {topic}...",
        stream.records.len(),
        stream.expected.len()
    );
    let progress = Progress {
        kafka: &kafka,
        handle: &handle,
        group: format!("connect-{name}"),
        name,
        topic,
        partitions: args.partitions,
        deadline: Instant::now() + SYNC_DEADLINE,
    };
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for slice in slices(&stream.records, SLICE_BYTES) {
        let records: Vec<(i32, Option<Vec<u8>>, Vec<u8>)> = slice
            .iter()
            .map(|r| (r.partition, Some(r.key.clone()), r.value.clone()))
            .collect();
        rt.block_on(kafka.produce(topic, &records));
        for r in slice {
            *ends.entry(r.partition).or_default() += 1;
        }
        if let Err(e) = progress.wait_committed(&ends) {
            handle.shutdown(Duration::from_secs(5));
            return Err(e);
        }
    }
    let elapsed = started.elapsed();

    let admin = SimAdmin::new(org_url.clone());
    let (rows, counters) =
        rt.block_on(async { (admin.live_rows("Lead").await, admin.counters().await) });
    let rows = rows.map_err(err)?;
    let counters = counters.map_err(err)?;
    let by_source: HashMap<String, &crate::sim::admin_client::SimRow> = rows
        .iter()
        .filter_map(|r| r.str("CustomId__c").map(|s| (s.to_string(), r)))
        .collect();
    let mut live_expected = 0;
    let mut matching = 0;
    let mut wrong = 0;
    let mut deleted_ok = 0;
    for (sid, state) in &stream.expected {
        match (state, by_source.get(sid)) {
            (Some(fields), Some(row)) => {
                live_expected += 1;
                if fields.iter().all(|(k, v)| same_value(v, row.get(k))) {
                    matching += 1;
                } else {
                    wrong += 1;
                }
            }
            (Some(_), None) => {
                live_expected += 1;
                wrong += 1;
            }
            (None, None) => deleted_ok += 1,
            (None, Some(_)) => wrong += 1,
        }
    }
    let deleted_expected = stream.expected.len() - live_expected;
    let records = stream.records.len();
    println!();
    println!("Result");
    println!("  records synced        {records} in {:.2} s ({:.0} records/s, including start-up and login)", elapsed.as_secs_f64(), records as f64 / elapsed.as_secs_f64());
    println!("  Leads in org B        {matching} of {live_expected} expected rows match their last change field by field");
    println!("  deleted Leads         {deleted_ok} of {deleted_expected} absent as expected");
    println!("  rows wrong or missing {wrong}");
    println!(
        "  API calls spent       {} (≈ {:.1} per 1,000 records; one call per record would have spent {records})",
        counters.api_units_used,
        counters.api_units_used as f64 * 1000.0 / records as f64
    );
    println!("  metrics               {}/metrics", handle.rest_url);
    println!(
        "  status                {}/connectors/{name}/status",
        handle.rest_url
    );
    if args.keep_running {
        println!("\nEverything keeps running; press Ctrl-C to stop.");
        rt.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
    handle.shutdown(Duration::from_secs(10));
    if wrong > 0 {
        return Err(err(format!("{wrong} rows do not match")));
    }
    Ok(())
}

/// Splits `records` into consecutive slices in which no partition gets more than
/// `budget` bytes of values (a single larger record is a slice of its own).
fn slices(records: &[StreamRecord], budget: usize) -> Vec<&[StreamRecord]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes: HashMap<i32, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let used = bytes.entry(r.partition).or_default();
        if *used + r.value.len() > budget && i > start {
            out.push(&records[start..i]);
            start = i;
            bytes.clear();
        }
        *bytes.entry(r.partition).or_default() += r.value.len();
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

/// What the quickstart watches while the sink works through the stream.
struct Progress<'a> {
    kafka: &'a Broker,
    handle: &'a WorkerHandle,
    group: String,
    name: &'a str,
    topic: &'a str,
    partitions: i32,
    deadline: Instant,
}

impl Progress<'_> {
    /// Waits until the sink has committed `ends[p]` on every partition `p`; fails with
    /// the task's trace if it halts, or after the deadline.
    fn wait_committed(&self, ends: &HashMap<i32, i64>) -> Result<(), QuickstartError> {
        loop {
            let committed = self
                .kafka
                .committed(&self.group, self.topic, self.partitions);
            let done = (0..self.partitions).all(|p| match ends.get(&p) {
                None => true,
                Some(end) => committed.get(p as usize).copied().flatten() == Some(*end),
            });
            if done {
                return Ok(());
            }
            if let Ok(crate::connect::supervisor::Reply::Status(st)) =
                self.handle
                    .request(crate::connect::supervisor::Request::Status(
                        self.name.into(),
                    ))
            {
                if let Some(t) = st
                    .tasks
                    .iter()
                    .find(|t| t.trace.is_some() && t.state == crate::connect::status::State::Failed)
                {
                    return Err(err(format!(
                        "the sink task failed:\n{}",
                        t.trace.clone().unwrap_or_default()
                    )));
                }
            }
            if Instant::now() > self.deadline {
                return Err(err("the sync did not finish within 10 minutes"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, bytes: usize) -> StreamRecord {
        StreamRecord {
            partition,
            key: Vec::new(),
            value: vec![b'x'; bytes],
            id: String::new(),
            event: "created",
        }
    }

    #[test]
    fn slices_keep_every_record_in_order_and_each_partition_under_the_budget() {
        let records: Vec<StreamRecord> = (0..40).map(|i| record(i % 3, 10 + i as usize)).collect();
        let budget = 100;
        let out = slices(&records, budget);
        assert!(out.len() > 1, "the stream needs several slices");
        let joined: Vec<usize> = out
            .iter()
            .flat_map(|s| s.iter().map(|r| r.value.len()))
            .collect();
        let all: Vec<usize> = records.iter().map(|r| r.value.len()).collect();
        assert_eq!(joined, all, "every record once, in order");
        for slice in &out {
            for p in 0..3 {
                let bytes: usize = slice
                    .iter()
                    .filter(|r| r.partition == p)
                    .map(|r| r.value.len())
                    .sum();
                assert!(
                    bytes <= budget,
                    "partition {p} holds {bytes} bytes in one slice"
                );
            }
        }
        // A record larger than the budget goes alone.
        let big = [record(0, 10), record(0, 500), record(0, 10)];
        assert_eq!(slices(&big, budget).len(), 3);
    }
}
