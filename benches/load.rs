//! End-to-end load benchmark: Kafka → sobject-sink → simulated Salesforce.
//!
//! `cargo bench --bench load` starts (or reuses, via `KAFKA_BOOTSTRAP`) a `tansu`
//! broker and the simulator with a chosen latency, produces realistic PushTopic Lead
//! changes (creates, updates, deletes over many Ids and partitions), runs the real
//! `sobject-sink` binary against them, and prints records/s, API calls per 1,000
//! records, end-to-end latency percentiles and the sink's peak RSS. In the same run it
//! measures a per-record mode (one REST call per record, one at a time: how the
//! self-managed Confluent connector writes) and prints the ratios. Bulk API 2.0
//! (`sink.bulk.threshold.records`) is measured on the slow backlog and on an initial
//! load (one create per Lead), each against the Collections path on the same shape.
//! Composite packing (`sink.composite.collections`, up to five Collections calls in one
//! API call) is measured beside plain Collections calls (`sink.composite.collections=1`)
//! at 0 ms, at the slow latency plus 1 ms per record written (`--per-record-us`, the
//! simulator's `latency_per_record_us`), and on an initial load. Results also go to
//! `bench-results/load.json`.
//!
//! Run by `cargo test` (no `--bench` argument) it is a smoke test on a few thousand
//! records that asserts the rows arrived, so it cannot rot.
//!
//! Options (after `--`): `--records N` (0 ms scenario), `--slow-records N` (150 ms
//! scenario), `--per-record N`, `--latency-ms L` (the slow profile), `--per-record-us U`
//! (work per record written in the `*work` scenarios, default 1,000), `--backlog N`
//! (peak-RSS run; 0 skips it), `--partitions P`, `--only SCENARIO` (one of fast, slow,
//! bulk, load, loadbulk, perrecord, paced with `--rate R`, backlog, and the Composite
//! ones cfast, cslow, cslowwork, cload, cpaced (also `--rate R`); slowwork is Collections; `*load` is an initial load, one
//! create per Lead; scenarios without a leading `c` send plain Collections calls). Environment: `SINK_LOG` (the sink's
//! `RUST_LOG`, shown on stdout), `SINK_EXTRA="key=value,..."` (extra connector keys),
//! `SINK_WRAPPER` (a command the sink runs under, e.g. `valgrind --tool=callgrind
//! --callgrind-out-file=/tmp/sink.%p` to count its instructions on a fixed run).

use serde_json::{json, Value};
use sobject_sink::demo::broker::{broker, free_port, produce_with};
use sobject_sink::demo::lead_stream::{generate, StreamSpec};
use sobject_sink::sim::{FaultPlan, OrgConfig, SimAdmin, SimConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// The simulator runs in this process; give it the allocator its own binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    smoke: bool,
    records: usize,
    slow_records: usize,
    per_record: usize,
    latency_ms: u64,
    /// Work per record written in the `*work` scenarios, µs.
    per_record_us: u64,
    backlog: usize,
    partitions: i32,
    /// `--only SCENARIO`: run one scenario (for profiling).
    only: Option<String>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let get = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    if smoke {
        Options {
            only,
            smoke,
            records: get("--records", 3000),
            slow_records: get("--slow-records", 1000),
            per_record: get("--per-record", 20),
            latency_ms: get("--latency-ms", 20) as u64,
            per_record_us: get("--per-record-us", 1000) as u64,
            backlog: 0,
            partitions: 4,
        }
    } else {
        Options {
            only,
            smoke,
            records: get("--records", 200_000),
            slow_records: get("--slow-records", 100_000),
            per_record: get("--per-record", 300),
            latency_ms: get("--latency-ms", 150) as u64,
            per_record_us: get("--per-record-us", 1000) as u64,
            backlog: get("--backlog", 1_000_000),
            partitions: get("--partitions", 8) as i32,
        }
    }
}

/// A stream of about `records` changes (Leads with 1–5 changes each, 10% deleted).
/// What the produced records are.
#[derive(Clone, Copy)]
enum Shape {
    /// Leads with 2–6 changes each (create, updates, 10% deleted): a live sync.
    Changes,
    /// One create per Lead: an initial load of an org.
    InitialLoad,
}

fn stream(
    records: usize,
    partitions: i32,
    tag: &str,
    shape: Shape,
) -> sobject_sink::demo::lead_stream::LeadStream {
    let (leads, updates, delete_ratio) = match shape {
        Shape::Changes => ((records / 4).max(1), (1, 4), 0.1),
        Shape::InitialLoad => (records.max(1), (0, 0), 0.0),
    };
    generate(&StreamSpec {
        leads,
        updates,
        delete_ratio,
        partitions,
        seed: 11,
        schema_envelope: true,
        tag: tag.into(),
    })
}

struct Sim {
    _rt: tokio::runtime::Runtime,
    _handle: sobject_sink::sim::SimHandle,
    url: String,
    admin: SimAdmin,
}

fn start_sim(latency_ms: u64, latency_per_record_us: u64) -> Sim {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut org = OrgConfig::named("b", SocketAddr::from(([127, 0, 0, 1], 0)));
    org.daily_api_max = 50_000_000;
    org.faults = FaultPlan {
        latency_ms,
        latency_per_record_us,
        ..Default::default()
    };
    let handle = rt
        .block_on(sobject_sink::sim::start(SimConfig::single(org)))
        .expect("simulator");
    let url = handle.base_url("b").expect("org b");
    Sim {
        admin: SimAdmin::new(url.clone()),
        url,
        _rt: rt,
        _handle: handle,
    }
}

fn write_properties(path: &Path, map: &BTreeMap<String, String>) {
    let text: String = map.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(path, text).expect("write properties");
}

/// The sink process, run through `SINK_WRAPPER` when set (a command and its
/// arguments, e.g. `valgrind --tool=callgrind` to count its instructions).
fn spawn_sink(dir: &Path) -> Child {
    let sink = env!("CARGO_BIN_EXE_sobject-sink");
    let wrapper = std::env::var("SINK_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(sink);
            c
        }
        None => Command::new(sink),
    };
    command
        .arg("standalone")
        .arg(dir.join("worker.properties"))
        .arg(dir.join("connector.properties"))
        .env(
            "RUST_LOG",
            std::env::var("SINK_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(if std::env::var_os("SINK_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::inherit())
        .spawn()
        .expect("sobject-sink starts")
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0)
}

/// Reads `records` records of `topic` from the start with a bare consumer (no group
/// join, no processing) and returns records/s: what the broker can serve here.
fn broker_ceiling(bootstrap: &str, topic: &str, partitions: i32, records: usize) -> f64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let mut cfg = rdkafka::ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap)
        .set("group.id", format!("ceiling-{}", free_port()));
    // The same consumer tuning the sink's worker gets.
    for (key, value) in sobject_sink::demo::broker::TANSU_WORKER_TUNING {
        if let Some(property) = key.strip_prefix("consumer.") {
            cfg.set(property, *value);
        }
    }
    let consumer: BaseConsumer = cfg.create().expect("ceiling consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let mut read = 0;
    while read < records && Instant::now() < deadline {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(200)) {
            read += 1;
        }
    }
    read as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// The sink's `/metrics` text (empty while it is not up).
fn sink_metrics(rt: &tokio::runtime::Runtime, rest: &str) -> String {
    rt.block_on(async {
        reqwest::get(format!("{rest}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()
    })
    .unwrap_or_default()
}

/// Records the sink has read so far, from its `/metrics` (0 while it is not up yet).
fn records_read(rt: &tokio::runtime::Runtime, rest: &str) -> u64 {
    sink_metrics(rt, rest)
        .lines()
        .filter(|l| l.starts_with("sobject_sink_records_read_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Percentile from a Prometheus histogram's cumulative buckets (linear within a bucket).
fn percentile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix(&format!("{name}_bucket{{")) {
            let le = rest.split("le=\"").nth(1)?.split('"').next()?;
            let count: f64 = rest.rsplit(' ').next()?.parse().ok()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            buckets.push((le, count));
        }
    }
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let target = q * total;
    let mut prev = (0.0, 0.0);
    for (le, count) in buckets {
        if count >= target {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let span = count - prev.1;
            let frac = if span > 0.0 {
                (target - prev.1) / span
            } else {
                1.0
            };
            return Some(prev.0 + frac * (le - prev.0));
        }
        prev = (le, count);
    }
    None
}

struct RunResult {
    records: usize,
    seconds: f64,
    api_calls: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    peak_rss_mb: f64,
    rows: usize,
    /// The sink's CPU time (user + system), seconds.
    cpu_seconds: f64,
    /// Records/s a bare consumer reads the same backlog at (the broker's ceiling on
    /// this machine), when measured.
    broker_ceiling: Option<f64>,
    /// Seconds from the sink's start to its first record read (process start,
    /// connector start, consumer group join), when seen.
    first_read_s: Option<f64>,
}

impl RunResult {
    fn per_second(&self) -> f64 {
        self.records as f64 / self.seconds.max(1e-9)
    }
    /// Records/s from the first record read to the last commit: the drain rate without
    /// the start-up a bare consumer does not pay either.
    fn draining_per_second(&self) -> Option<f64> {
        let start = self.first_read_s?;
        Some(self.records as f64 / (self.seconds - start).max(1e-9))
    }
    fn cpu_us_per_record(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.records.max(1) as f64
    }
    fn calls_per_1000(&self) -> f64 {
        self.api_calls as f64 * 1000.0 / self.records.max(1) as f64
    }
    fn json(&self) -> Value {
        json!({
            "records": self.records, "seconds": self.seconds, "records_per_second": self.per_second(),
            "api_calls": self.api_calls, "api_calls_per_1000_records": self.calls_per_1000(),
            "latency_p50_ms": self.p50_ms, "latency_p99_ms": self.p99_ms, "peak_rss_mb": self.peak_rss_mb,
            "live_rows": self.rows, "sink_cpu_seconds": self.cpu_seconds,
            "sink_cpu_us_per_record": self.cpu_us_per_record(),
            "broker_read_only_records_per_second": self.broker_ceiling,
            "seconds_to_first_record_read": self.first_read_s,
            "records_per_second_from_first_read": self.draining_per_second(),
        })
    }
}

/// How a run feeds the sink.
enum Feed {
    /// Everything produced before the sink starts: drain a backlog.
    Backlog,
    /// Produced at this many records/s while the sink runs (latency measurement).
    Paced(f64),
}

/// One measured run: its name (topic, group), the simulator's latency, the records
/// and how they come, and the connector keys that differ from the defaults.
struct Scenario<'a> {
    name: &'a str,
    latency_ms: u64,
    /// The simulator's work per record written, µs.
    per_record_us: u64,
    records: usize,
    partitions: i32,
    keys: Vec<(&'static str, String)>,
    feed: Feed,
    shape: Shape,
    /// Also time a bare consumer on the backlog (the broker's ceiling).
    ceiling: bool,
}

impl<'a> Scenario<'a> {
    /// A backlog of live-sync changes, drained with the default connector keys.
    fn backlog(name: &'a str, latency_ms: u64, records: usize, partitions: i32) -> Self {
        Scenario {
            name,
            latency_ms,
            per_record_us: 0,
            records,
            partitions,
            keys: vec![],
            feed: Feed::Backlog,
            shape: Shape::Changes,
            ceiling: false,
        }
    }
}

fn run(sc: Scenario<'_>) -> RunResult {
    let Scenario {
        name,
        latency_ms: sim_latency_ms,
        per_record_us,
        records,
        partitions,
        keys,
        feed,
        shape,
        ceiling,
    } = sc;
    let kafka = broker();
    let sim = start_sim(sim_latency_ms, per_record_us);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tag = format!("{name}{}", free_port());
    let topic = format!("bench-{tag}");
    rt.block_on(kafka.create_topic(&topic, partitions));
    let mut fed = Fed {
        ends: vec![0; partitions as usize],
        records: 0,
        live: 0,
    };
    // A backlog is generated and produced in chunks of distinct Leads, so that a
    // million records never sit in this process at once; a paced feed is one stream,
    // produced while the sink runs.
    let mut paced = Vec::new();
    let chunk_records = match feed {
        Feed::Backlog => 100_000,
        Feed::Paced(_) => records.max(1),
    };
    // A stream is made of whole Lead histories, so a chunk of n holds about 0.9 n
    // records; a backlog takes chunks until it has at least `records`.
    let mut chunk_no = 0;
    while fed.records < records && (chunk_no == 0 || matches!(feed, Feed::Backlog)) {
        let n = (records - fed.records).min(chunk_records);
        // The chunk number leads the tag: its first two characters go into the Ids.
        let s = stream(n, partitions, &format!("{chunk_no:02}{tag}"), shape);
        chunk_no += 1;
        fed.add(&s);
        let payloads: Vec<(i32, Option<Vec<u8>>, Vec<u8>)> = s
            .records
            .into_iter()
            .map(|r| (r.partition, Some(r.key), r.value))
            .collect();
        match feed {
            Feed::Backlog => {
                for chunk in payloads.chunks(20_000) {
                    rt.block_on(kafka.produce(&topic, chunk));
                }
            }
            Feed::Paced(_) => paced = payloads,
        }
    }

    let broker_ceiling = (ceiling && matches!(feed, Feed::Backlog))
        .then(|| broker_ceiling(&kafka.bootstrap, &topic, partitions, fed.records));

    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let rest = format!("http://127.0.0.1:{port}");
    let worker: BTreeMap<String, String> = [
        ("bootstrap.servers", kafka.bootstrap.as_str()),
        ("listeners", rest.as_str()),
    ]
    .into_iter()
    .chain(
        sobject_sink::demo::broker::TANSU_WORKER_TUNING
            .iter()
            .copied(),
    )
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut connector = sobject_sink::demo::quickstart::connector_config(name, &topic, &sim.url);
    // `SINK_EXTRA="key=value,key=value"`: extra connector properties (for tuning runs).
    if let Ok(extra) = std::env::var("SINK_EXTRA") {
        for kv in extra.split(',') {
            if let Some((k, v)) = kv.split_once('=') {
                connector.insert(k.trim().into(), v.trim().into());
            }
        }
    }
    for (k, v) in keys {
        connector.insert(k.to_string(), v);
    }
    write_properties(&dir.path().join("worker.properties"), &worker);
    write_properties(&dir.path().join("connector.properties"), &connector);

    let started = Instant::now();
    let mut sink = spawn_sink(dir.path());
    if let Feed::Paced(rate) = feed {
        let producer = kafka.producer();
        let begin = Instant::now();
        for (i, chunk) in paced.chunks(100).enumerate() {
            let due = begin + Duration::from_secs_f64((i * 100) as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            rt.block_on(produce_with(&producer, &topic, chunk));
        }
    }
    let ends = &fed.ends;
    let group = format!("connect-{name}");
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut first_read_s = None;
    loop {
        if first_read_s.is_none() && records_read(&rt, &rest) > 0 {
            first_read_s = Some(started.elapsed().as_secs_f64());
        }
        let committed = kafka.committed(&group, &topic, partitions);
        if ends
            .iter()
            .enumerate()
            .all(|(p, e)| *e == 0 || committed[p] == Some(*e))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{name}: did not finish");
        if let Ok(Some(code)) = sink.try_wait() {
            panic!("{name}: the sink exited early ({code})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    let metrics = sink_metrics(&rt, &rest);
    let rss = peak_rss_mb(sink.id());
    let cpu = cpu_seconds(sink.id());
    unsafe {
        libc::kill(sink.id() as i32, libc::SIGTERM);
    }
    let _ = sink.wait();
    let counters = rt.block_on(sim.admin.counters()).expect("counters");
    let rows = rt
        .block_on(sim.admin.live_rows("Lead"))
        .map(|r| r.len())
        .unwrap_or(0);
    let latency = "sobject_sink_record_latency_seconds";
    RunResult {
        records: fed.records,
        seconds,
        api_calls: counters.api_units_used,
        p50_ms: percentile(&metrics, latency, 0.5).map(|s| s * 1000.0),
        p99_ms: percentile(&metrics, latency, 0.99).map(|s| s * 1000.0),
        peak_rss_mb: rss,
        rows,
        cpu_seconds: cpu,
        broker_ceiling,
        first_read_s,
    }
    .checked(fed.live)
}

/// What a run gave the sink: the end offset per partition, the records, and the Leads
/// that should be live in the org afterwards.
struct Fed {
    ends: Vec<i64>,
    records: usize,
    live: usize,
}

impl Fed {
    fn add(&mut self, s: &sobject_sink::demo::lead_stream::LeadStream) {
        for r in &s.records {
            self.ends[r.partition as usize] += 1;
        }
        self.records += s.records.len();
        self.live += s.expected.values().filter(|e| e.is_some()).count();
    }
}

impl RunResult {
    fn checked(self, live: usize) -> RunResult {
        assert_eq!(self.rows, live, "every live Lead arrived");
        self
    }
}

fn row(label: &str, r: &RunResult) {
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    println!(
        "{label:<40} {:>9} {:>10.0} {:>12.1} {:>8} {:>8} {:>9.0} {:>12.0}",
        r.records,
        r.per_second(),
        r.calls_per_1000(),
        fmt(r.p50_ms),
        fmt(r.p99_ms),
        r.peak_rss_mb,
        r.cpu_us_per_record()
    );
    if let Some(c) = r.broker_ceiling {
        if let (Some(d), Some(first)) = (r.draining_per_second(), r.first_read_s) {
            println!(
                "{:<40} {:>9} {d:>10.0}   ({:.0}% of the bare consumer; start-up {first:.1} s)",
                "  (the same, from its first record read)",
                r.records,
                100.0 * d / c.max(1e-9)
            );
        }
        println!(
            "{:<40} {:>9} {c:>10.0}",
            "  (bare consumer, same backlog)", r.records
        );
    }
}

/// Connector keys of plain sObject Collections calls, one batch per API call.
fn collections_keys() -> Vec<(&'static str, String)> {
    vec![("sink.composite.collections", "1".into())]
}

/// Connector keys of the per-record mode: one record per call, one call at a time.
fn per_record_keys() -> Vec<(&'static str, String)> {
    vec![
        ("sink.composite.collections", "1".into()),
        ("sink.batch.max.records", "1".into()),
        ("sink.max.in.flight.requests", "1".into()),
        ("sink.batch.linger.ms", "0".into()),
    ]
}

/// Connector keys that send a backlog of `records` through Bulk API 2.0 jobs.
fn bulk_keys(records: usize) -> Vec<(&'static str, String)> {
    let threshold = (records / 4).clamp(201, 2000);
    vec![
        ("sink.bulk.threshold.records", threshold.to_string()),
        ("sink.composite.collections", "1".into()),
    ]
}

fn main() {
    let o = options();
    if o.smoke {
        println!("load benchmark: smoke mode (cargo test); run `cargo bench --bench load` for the real figures");
    }
    println!(
        "{:<40} {:>9} {:>10} {:>12} {:>8} {:>8} {:>9} {:>12}",
        "scenario",
        "records",
        "records/s",
        "calls/1000",
        "p50 ms",
        "p99 ms",
        "RSS MB",
        "CPU µs/rec"
    );
    if let Some(only) = &o.only {
        let mut sc = match only.as_str() {
            "fast" | "cfast" => Scenario::backlog(only, 0, o.records, o.partitions),
            "slow" | "paced" | "cpaced" | "load" | "cslow" | "cload" => {
                Scenario::backlog(only, o.latency_ms, o.slow_records, o.partitions)
            }
            "slowwork" | "cslowwork" => Scenario {
                per_record_us: o.per_record_us,
                ..Scenario::backlog(only, o.latency_ms, o.slow_records, o.partitions)
            },
            "bulk" | "loadbulk" => Scenario {
                keys: bulk_keys(o.slow_records),
                ..Scenario::backlog(only, o.latency_ms, o.slow_records, o.partitions)
            },
            "perrecord" => Scenario {
                keys: per_record_keys(),
                ..Scenario::backlog(only, o.latency_ms, o.per_record, o.partitions)
            },
            "backlog" => Scenario::backlog(only, 0, o.backlog, o.partitions),
            other => panic!(
                "--only {other}: expected fast, slow, bulk, load, loadbulk, perrecord, paced, \
                 backlog, cfast, cslow, slowwork, cslowwork, cload or cpaced"
            ),
        };
        if only.ends_with("load") || only == "loadbulk" {
            sc.shape = Shape::InitialLoad;
        }
        if matches!(
            only.as_str(),
            "fast" | "slow" | "load" | "paced" | "slowwork" | "backlog"
        ) {
            sc.keys.extend(collections_keys());
        }
        if only == "paced" || only == "cpaced" {
            // Produced at `--rate R` records/s (default 2,000/s).
            sc.feed = Feed::Paced(
                std::env::args()
                    .skip_while(|a| a != "--rate")
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(2000.0),
            );
        }
        sc.ceiling = only == "fast";
        let r = run(sc);
        row(only, &r);
        return;
    }
    let fast = run(Scenario {
        ceiling: true,
        keys: collections_keys(),
        ..Scenario::backlog("fast", 0, o.records, o.partitions)
    });
    row("Collections, 0 ms API latency", &fast);
    let composite_fast = run(Scenario::backlog("cfast", 0, o.records, o.partitions));
    row("Composite, 0 ms API latency", &composite_fast);
    let ms = o.latency_ms;
    let slow = run(Scenario {
        keys: collections_keys(),
        ..Scenario::backlog("slow", ms, o.slow_records, o.partitions)
    });
    row(&format!("Collections, {ms} ms API latency"), &slow);
    let composite_slow = run(Scenario::backlog("cslow", ms, o.slow_records, o.partitions));
    row(&format!("Composite, {ms} ms API latency"), &composite_slow);
    let us = o.per_record_us;
    let work = format!("{ms} ms + {us} µs/record");
    let slow_work = run(Scenario {
        keys: collections_keys(),
        per_record_us: us,
        ..Scenario::backlog("slowwork", ms, o.slow_records, o.partitions)
    });
    row(&format!("Collections, {work}"), &slow_work);
    let composite_work = run(Scenario {
        per_record_us: us,
        ..Scenario::backlog("cslowwork", ms, o.slow_records, o.partitions)
    });
    row(&format!("Composite, {work}"), &composite_work);
    let bulk = run(Scenario {
        keys: bulk_keys(o.slow_records),
        ..Scenario::backlog("bulk", ms, o.slow_records, o.partitions)
    });
    row(&format!("Bulk API 2.0, {ms} ms API latency"), &bulk);
    let load = run(Scenario {
        shape: Shape::InitialLoad,
        keys: collections_keys(),
        ..Scenario::backlog("load", ms, o.slow_records, o.partitions)
    });
    row(&format!("initial load, Collections, {ms} ms"), &load);
    let composite_load = run(Scenario {
        shape: Shape::InitialLoad,
        ..Scenario::backlog("cload", ms, o.slow_records, o.partitions)
    });
    row(
        &format!("initial load, Composite, {ms} ms"),
        &composite_load,
    );
    let load_bulk = run(Scenario {
        shape: Shape::InitialLoad,
        keys: bulk_keys(o.slow_records),
        ..Scenario::backlog("loadbulk", ms, o.slow_records, o.partitions)
    });
    row(&format!("initial load, Bulk API 2.0, {ms} ms"), &load_bulk);
    let per = run(Scenario {
        keys: per_record_keys(),
        ..Scenario::backlog("perrecord", ms, o.per_record, o.partitions)
    });
    row(&format!("per-record, {ms} ms API latency"), &per);
    let half_rate = slow.per_second() * 0.5;
    let paced_records = ((half_rate * 10.0) as usize).clamp(200, o.slow_records.max(200));
    let paced = run(Scenario {
        feed: Feed::Paced(half_rate),
        keys: collections_keys(),
        ..Scenario::backlog("paced", ms, paced_records, o.partitions)
    });
    row(
        &format!("Collections at 50% load ({half_rate:.0}/s)"),
        &paced,
    );
    // The same feed through Composite packing: what filling composites costs in latency.
    let composite_paced = run(Scenario {
        feed: Feed::Paced(half_rate),
        ..Scenario::backlog("cpaced", ms, paced_records, o.partitions)
    });
    row(
        &format!("Composite at the same rate ({half_rate:.0}/s)"),
        &composite_paced,
    );
    let backlog = (o.backlog > 0).then(|| {
        let b = run(Scenario {
            keys: collections_keys(),
            ..Scenario::backlog("backlog", 0, o.backlog, o.partitions)
        });
        row("backlog drain (peak RSS)", &b);
        b
    });
    let speedup = slow.per_second() / per.per_second().max(1e-9);
    let call_ratio = per.calls_per_1000() / slow.calls_per_1000().max(1e-9);
    println!();
    println!(
        "Collections vs per-record at {} ms: {speedup:.0}x records/s, {call_ratio:.0}x fewer API calls",
        o.latency_ms
    );
    for (what, plain, packed) in [
        ("0 ms", &fast, &composite_fast),
        (&format!("{ms} ms") as &str, &slow, &composite_slow),
        (&work, &slow_work, &composite_work),
        (&format!("initial load, {ms} ms"), &load, &composite_load),
    ] {
        println!(
            "Composite vs Collections, {what}: {:.2}x records/s, {:.1} vs {:.1} calls per 1,000 records",
            packed.per_second() / plain.per_second().max(1e-9),
            packed.calls_per_1000(),
            plain.calls_per_1000()
        );
    }
    let result = json!({
        "smoke": o.smoke,
        "latency_ms": o.latency_ms,
        "per_record_us": o.per_record_us,
        "fast": fast.json(),
        "composite_fast": composite_fast.json(),
        "slow": slow.json(),
        "composite_slow": composite_slow.json(),
        "slow_with_work_per_record": slow_work.json(),
        "composite_slow_with_work_per_record": composite_work.json(),
        "bulk": bulk.json(),
        "initial_load": load.json(),
        "composite_initial_load": composite_load.json(),
        "initial_load_bulk": load_bulk.json(),
        "per_record": per.json(),
        "paced_50_percent": paced.json(),
        "composite_paced_same_rate": composite_paced.json(),
        "backlog": backlog.as_ref().map(RunResult::json),
        "speedup_vs_per_record": speedup,
        "api_call_ratio_vs_per_record": call_ratio,
    });
    let _ = std::fs::create_dir_all("bench-results");
    let file = if o.smoke {
        "bench-results/load-smoke.json"
    } else {
        "bench-results/load.json"
    };
    if std::fs::write(
        file,
        serde_json::to_string_pretty(&result).unwrap_or_default(),
    )
    .is_ok()
    {
        println!("results written to {file}");
    }
}
