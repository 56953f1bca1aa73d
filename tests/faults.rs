//! Faults the sink must survive, shown end to end against the simulated org:
//! - a distributed worker killed (SIGKILL) or stopped (SIGTERM) mid-stream, on the
//!   embedded Kafka whose group coordinator expires silent members: the other worker
//!   takes every partition, resumes from the committed offsets, and rows end right;
//! - the Kafka broker (tansu on file storage) stopped and started again mid-run;
//! - the org unreachable for a minute (records wait and flow again) and for longer
//!   than `request.max.retries.time.ms` (the task halts saying so; a restart resumes);
//! - a soak at about half of peak load under random org faults, with the sink's
//!   memory, threads and open files sampled;
//! - and the quickstart on the embedded broker, on a machine with nothing installed.
//!
//! Env flags: `OUTAGE_SECS` (the long org outage, default 60), `SOAK_SECS` (default 60)
//! or `SOAK_MINUTES` (the long form, e.g. 30), `WORKER_LOG` (the spawned sinks'
//! `RUST_LOG`).

mod support;

use serde_json::{json, Value};
use sobject_sink::demo::broker::Broker;
use sobject_sink::demo::lead_stream::{generate, LeadStream, StreamRecord, StreamSpec};
use sobject_sink::demo::mock_broker::TopicSpec;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::processes::{worker_file, SinkProcess};
use support::{embedded_broker, ends_of, post_json, World, PATIENCE};

/// The consumer session timeout the distributed tests give the connector: the group
/// coordinator expires a silent member after this long. The workers' own
/// `session.timeout.ms` ([`WORKER_SESSION_MS`]) is well below it, so the survivor starts
/// the silent worker's task, whose consumer opens the coordinator's rebalance, several
/// seconds before the dead consumer expires inside that same rebalance: the embedded
/// coordinator waits `session.timeout.ms` less a second for members in every
/// rebalance, and a second one would double that.
const SESSION_MS: u64 = 12_000;

/// The workers' `session.timeout.ms`: how long a worker may be silent before the
/// others take its tasks over.
const WORKER_SESSION_MS: u64 = 5_000;

/// The longest a take-over may take: the workers' session timeout for the survivor to
/// notice, then about twice the consumers' `session.timeout.ms` for the coordinator to
/// hand the partitions over, plus one second. The embedded coordinator (librdkafka's
/// mock cluster) checks sessions once a second and waits `session.timeout.ms` less one
/// second for members in each round of a rebalance. Most take-overs need one round
/// (about 16.5 s here); under load one in a few needs a second (about 27.5 s), when one
/// of the survivor's consumers misses the first round's assignment.
fn takeover_bound() -> f64 {
    (WORKER_SESSION_MS + 2 * SESSION_MS + 1_000) as f64 / 1000.0
}

/// Reads a number from the environment, or `default`.
fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The sum of a metric's samples whose line starts with `prefix` (0 when absent or
/// when the worker does not answer).
fn metric(w: &World, rest: &str, prefix: &str) -> f64 {
    let text = w.rt.block_on(async {
        let r = w.http.get(format!("{rest}/metrics")).send().await.ok()?;
        r.text().await.ok()
    });
    text.unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Partitions of `connector` a worker's tasks own now.
fn assigned(w: &World, rest: &str, connector: &str) -> i64 {
    metric(
        w,
        rest,
        &format!("sobject_sink_assigned_partitions{{connector=\"{connector}\"}}"),
    ) as i64
}

/// Where each record of a stream lands: its offset in its partition (the stream is
/// produced in order into an empty topic) and which change of its Id it is.
struct Placed<'a> {
    record: &'a StreamRecord,
    offset: i64,
    version: u32,
}

fn placed(records: &[StreamRecord]) -> Vec<Placed<'_>> {
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut versions: HashMap<&str, u32> = HashMap::new();
    records
        .iter()
        .map(|r| {
            let offset = next.entry(r.partition).or_default();
            let version = versions.entry(r.id.as_str()).or_default();
            let p = Placed {
                record: r,
                offset: *offset,
                version: *version,
            };
            *offset += 1;
            *version += 1;
            p
        })
        .collect()
}

/// How many times the org wrote each change (source Id, change number), from every
/// row's write history. Deletes are left out: a replayed delete finds nothing to do.
fn writes_per_change(w: &World) -> HashMap<(String, u32), u32> {
    w.rt.block_on(async {
        let rows = w.admin.rows("Lead").await.expect("rows");
        let mut counts = HashMap::new();
        for row in rows {
            let Some(source) = row.str("CustomId__c").map(str::to_string) else {
                continue;
            };
            let history = w.admin.history("Lead", row.id()).await.expect("history");
            for write in history.iter().filter(|h| h.operation != "delete") {
                // The stream's titles end in " v<change number>".
                let version = write
                    .fields
                    .get("Title")
                    .and_then(Value::as_str)
                    .and_then(|t| t.rsplit_once(" v"))
                    .and_then(|(_, v)| v.parse::<u32>().ok());
                if let Some(v) = version {
                    *counts.entry((source.clone(), v)).or_default() += 1;
                }
            }
        }
        counts
    })
}

/// Asserts that no record below the committed offsets `committed` was written more
/// than once (the new owner resumed from them), and returns how many writes were
/// repeats (all of them in the uncommitted tail).
fn assert_no_replay_below(w: &World, stream: &LeadStream, committed: &[i64]) -> usize {
    let counts = writes_per_change(w);
    let mut repeats = 0;
    for p in placed(&stream.records) {
        if p.record.event == "deleted" {
            continue;
        }
        let n = counts
            .get(&(p.record.id.clone(), p.version))
            .copied()
            .unwrap_or(0);
        if n > 1 {
            repeats += (n - 1) as usize;
            assert!(
                p.offset >= committed[p.record.partition as usize],
                "{} change {} at partition {} offset {} was written {n} times although \
                 offset {} was committed before the worker went: the new owner did not \
                 resume from the committed offsets",
                p.record.id,
                p.version,
                p.record.partition,
                p.offset,
                committed[p.record.partition as usize]
            );
        }
    }
    repeats
}

/// Produces `records` over about `spread` on a thread of its own, in slices.
fn produce_paced(
    kafka: &'static Broker,
    topic: &'static str,
    records: Vec<StreamRecord>,
    spread: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let producer = kafka.producer();
        let slices = 20;
        let per = records.len().div_ceil(slices).max(1);
        for chunk in records.chunks(per) {
            let recs: Vec<_> = chunk
                .iter()
                .map(|r| (r.partition, Some(r.key.clone()), r.value.clone()))
                .collect();
            rt.block_on(sobject_sink::demo::broker::produce_with(
                &producer, topic, &recs,
            ));
            std::thread::sleep(spread / slices as u32);
        }
    })
}

/// Two distributed workers sharing the connector `dist` (two tasks, short session
/// timeout) on the embedded Kafka.
struct Cluster {
    w: World,
    _kafka: sobject_sink::demo::mock_broker::MockBrokerProcess,
    workers: Vec<SinkProcess>,
    _dir: tempfile::TempDir,
}

const DIST_TOPIC: &str = "dist-faults";
const PARTITIONS: i32 = 4;

fn cluster(tag: &str) -> Cluster {
    let group = format!("faults-{tag}");
    let topics = [
        TopicSpec::new(DIST_TOPIC, PARTITIONS),
        TopicSpec::new(format!("{group}-configs"), 1),
        TopicSpec::new(format!("{group}-status"), 1),
        TopicSpec::new(format!("{group}-offsets"), 1),
    ];
    let (process, kafka) = embedded_broker(&topics);
    let w = World::on_broker(kafka, |_| {});
    let dir = tempfile::tempdir().expect("temp dir");
    let configs = format!("{group}-configs");
    let status = format!("{group}-status");
    let offsets = format!("{group}-offsets");
    let mut workers = Vec::new();
    for i in 0..2 {
        let (file, rest) = worker_file(
            dir.path(),
            &format!("worker{i}"),
            kafka.bootstrap.as_str(),
            &[
                ("group.id", group.as_str()),
                ("config.storage.topic", configs.as_str()),
                ("status.storage.topic", status.as_str()),
                ("offset.storage.topic", offsets.as_str()),
                ("config.storage.replication.factor", "1"),
                ("status.storage.replication.factor", "1"),
                ("offset.storage.replication.factor", "1"),
                ("session.timeout.ms", &WORKER_SESSION_MS.to_string()),
            ],
        );
        workers.push(SinkProcess::start(
            dir.path(),
            &format!("worker{i}"),
            "distributed",
            &[file],
            &rest,
        ));
    }
    for worker in &workers {
        worker.wait_rest(&w.rt);
    }
    let mut connector = w.connector("dist", DIST_TOPIC);
    // Two tasks over two workers: one each whether tasks.max counts per worker or
    // across the cluster; assertions are on partitions, offsets and rows only.
    connector.insert("tasks.max".into(), "2".into());
    connector.insert(
        "consumer.override.session.timeout.ms".into(),
        SESSION_MS.to_string(),
    );
    connector.insert(
        "consumer.override.heartbeat.interval.ms".into(),
        "1000".into(),
    );
    let (code, body) = post_json(
        &w,
        &format!("{}/connectors", workers[0].rest),
        &json!({"name": "dist", "config": connector}),
    );
    assert_eq!(code, 201, "{body}");
    // Both workers own partitions before anything goes wrong.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let a = assigned(&w, &workers[0].rest, "dist");
        let b = assigned(&w, &workers[1].rest, "dist");
        if a >= 1 && b >= 1 && a + b == i64::from(PARTITIONS) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "partitions never split over both workers: {a} and {b}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Cluster {
        w,
        _kafka: process,
        workers,
        _dir: dir,
    }
}

fn committed(w: &World) -> Vec<i64> {
    w.kafka
        .committed("connect-dist", DIST_TOPIC, PARTITIONS)
        .into_iter()
        .map(|o| o.unwrap_or(0))
        .collect()
}

/// How a worker leaves in the middle of the stream.
#[derive(Clone, Copy, PartialEq)]
enum Departure {
    Killed,
    Stopped,
}

/// Runs the stream through the two-worker cluster, makes worker 0 leave mid-stream,
/// and checks the take-over; returns (seconds to take over, repeated writes, the
/// survivor's log).
fn worker_leaves_mid_stream(tag: &str, how: Departure) -> (f64, usize, String) {
    let Cluster {
        w,
        _kafka,
        mut workers,
        _dir,
    } = cluster(tag);
    let stream = generate(&StreamSpec {
        leads: 400,
        partitions: PARTITIONS,
        tag: tag.into(),
        ..StreamSpec::default()
    });
    let first = stream.records.len() * 2 / 5;
    w.produce_records(DIST_TOPIC, PARTITIONS, &stream.records[..first]);
    w.wait_committed(
        &workers[1].rest,
        "dist",
        DIST_TOPIC,
        &ends_of(&stream.records[..first], PARTITIONS),
    );

    // The rest of the stream arrives while worker 0 goes.
    let feed = produce_paced(
        w.kafka,
        DIST_TOPIC,
        stream.records[first..].to_vec(),
        Duration::from_secs(8),
    );
    let before: i64 = committed(&w).iter().sum();
    let deadline = Instant::now() + PATIENCE;
    while committed(&w).iter().sum::<i64>() < before + 50 {
        assert!(Instant::now() < deadline, "the stream did not move on");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (at_departure, left) = match how {
        Departure::Killed => {
            let at = committed(&w);
            workers[0].kill9();
            (at, Instant::now())
        }
        Departure::Stopped => {
            let status = workers[0].terminate();
            assert!(
                status.success(),
                "SIGTERM ends the worker cleanly: {status}"
            );
            // It drained and committed on its way out.
            (committed(&w), Instant::now())
        }
    };
    let deadline = Instant::now() + PATIENCE;
    // What the survivor owned, each time it changed: the take-over's timeline.
    let mut timeline: Vec<(f64, i64)> = Vec::new();
    loop {
        let now = assigned(&w, &workers[1].rest, "dist");
        if timeline.last().map(|(_, n)| *n) != Some(now) {
            timeline.push((left.elapsed().as_secs_f64(), now));
        }
        if now == i64::from(PARTITIONS) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "worker 1 never took every partition; it has {now}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let takeover = left.elapsed();
    let steps: Vec<String> = timeline
        .iter()
        .map(|(at, n)| format!("{at:.1} s: {n}"))
        .collect();
    println!(
        "partitions the survivor owned after worker 0 left: {}",
        steps.join(", ")
    );
    feed.join().expect("the feed ran");
    w.wait_committed(
        &workers[1].rest,
        "dist",
        DIST_TOPIC,
        &ends_of(&stream.records, PARTITIONS),
    );
    w.assert_rows_match(&stream);
    let repeats = assert_no_replay_below(&w, &stream, &at_departure);
    let (_, st) = w.rest_get(&format!("{}/connectors/dist/status", workers[1].rest));
    let tasks = st["tasks"].as_array().cloned().unwrap_or_default();
    assert!(
        !tasks.is_empty() && tasks.iter().all(|t| t["state"] == "RUNNING"),
        "the survivor's tasks run: {st}"
    );
    assert!(workers[1].terminate().success());
    (takeover.as_secs_f64(), repeats, workers[1].log_text())
}

/// Two `sobject-sink distributed` processes (worker `session.timeout.ms` 5 s) share a
/// connector (two tasks, consumer session timeout 12 s) on the embedded broker; worker 0 is SIGKILLed while records stream in.
/// Worker 1 owns all four partitions within [`takeover_bound`], no record below the
/// offsets committed at the kill is written twice (it resumed from them), every record
/// is committed, every row in the org is right, and its tasks are RUNNING.
#[test]
fn a_killed_worker_s_partitions_move_to_the_survivor_which_resumes_from_committed_offsets() {
    let started = Instant::now();
    let (takeover, repeats, log) = worker_leaves_mid_stream("fk", Departure::Killed);
    println!(
        "kill -9: the survivor owned every partition {takeover:.1} s after the kill \
         (workers' session.timeout.ms={WORKER_SESSION_MS}, consumers' {SESSION_MS}); {repeats} writes repeated from the uncommitted \
         tail; test took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        takeover <= takeover_bound(),
        "take-over took {takeover:.1} s, more than the workers' session timeout and twice \
         the consumers' (and one second); the survivor's log:\n{log}"
    );
}

/// As above, but worker 0 gets SIGTERM: it exits cleanly (exit status 0) after
/// committing what it wrote, worker 1 owns every partition within [`takeover_bound`],
/// nothing below the offsets committed at the exit is written again, and every row is
/// right.
#[test]
fn a_stopped_worker_hands_its_partitions_over_without_replaying_committed_records() {
    let started = Instant::now();
    let (takeover, repeats, log) = worker_leaves_mid_stream("fs", Departure::Stopped);
    println!(
        "SIGTERM: the other worker owned every partition {takeover:.1} s after the exit; \
         {repeats} writes repeated; test took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        takeover <= takeover_bound(),
        "take-over took {takeover:.1} s, more than the workers' session timeout and twice \
         the consumers' (and one second); the survivor's log:\n{log}"
    );
}

/// The number after `label` on the quickstart's result line that starts with it, and the
/// number after " of " on that line (e.g. `Leads in org B  398 of 398 expected ...`).
fn result_line(out: &str, label: &str) -> (u64, u64) {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in the quickstart's output:\n{out}"));
    let numbers: Vec<u64> = line[line.find(label).unwrap_or(0) + label.len()..]
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (
        numbers.first().copied().unwrap_or(u64::MAX),
        numbers.get(1).copied().unwrap_or(u64::MAX),
    )
}

/// `sobject-sink quickstart` with its defaults on a PATH that has neither `tansu` nor
/// `cargo`: it cannot install or start a broker process, so it runs on the embedded
/// one, and every row in the simulated org is right (the quickstart reads them back
/// from the org and compares each with the last change of its Lead). The default
/// stream (2,000 Leads, about 7,000 records) is more than the embedded broker keeps in
/// one go, 5 MiB per partition, so this also shows the quickstart feeds it in slices.
#[test]
fn the_quickstart_runs_on_the_embedded_broker_with_nothing_to_install() {
    let started = Instant::now();
    let path = "/usr/local/bin:/usr/bin:/bin";
    for tool in ["tansu", "cargo"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .env("PATH", path)
            .output()
            .expect("sh runs");
        assert!(
            !found.status.success(),
            "{tool} is on {path}: the test would not show a run without it"
        );
    }
    let home = tempfile::tempdir().expect("temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sobject-sink"))
        .arg("quickstart")
        .env("PATH", path)
        .env("HOME", home.path())
        .output()
        .expect("the quickstart starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the quickstart failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("embedded Kafka broker") && !stdout.contains("installing"),
        "it ran on the embedded broker and installed nothing:\n{stdout}"
    );
    let (matching, live) = result_line(&stdout, "Leads in org B");
    assert!(
        live > 0 && matching == live,
        "every live Lead's row matches its last change:\n{stdout}"
    );
    let (absent, deleted) = result_line(&stdout, "deleted Leads");
    assert!(
        deleted > 0 && absent == deleted,
        "every deleted Lead is absent:\n{stdout}"
    );
    assert_eq!(
        result_line(&stdout, "rows wrong or missing").0,
        0,
        "no row wrong or missing:\n{stdout}"
    );
    println!(
        "quickstart on the embedded broker: {matching} of {live} rows right, {absent} of \
         {deleted} deleted Leads absent; test took {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// The connector the outage tests run in-process, on the embedded Kafka.
fn outage_world(topic: &str) -> (World, sobject_sink::demo::mock_broker::MockBrokerProcess) {
    let (process, kafka) = embedded_broker(&[TopicSpec::new(topic, 2)]);
    (World::on_broker(kafka, |_| {}), process)
}

/// The org is unreachable (connection refused) for `OUTAGE_SECS` (60 s unless set)
/// mid-run, inside a retry budget (`request.max.retries.time.ms`) of twice the outage:
/// the task stays RUNNING, nothing past the records written before is committed while
/// the org is away, and once it is back every waiting record is written and committed
/// and every row is right. A shorter `OUTAGE_SECS` scales the budget with it, so the
/// property tested (an outage within the budget is waited out) stays the same.
#[test]
fn records_wait_out_an_org_outage_and_flow_again_when_it_ends() {
    let started = Instant::now();
    let outage = Duration::from_secs(env_u64("OUTAGE_SECS", 60));
    let topic = "outage-long";
    let (mut w, _kafka) = outage_world(topic);
    let mut org = w.use_switchable_org(|_| {});
    let stream = generate(&StreamSpec {
        leads: 200,
        partitions: 2,
        tag: "ol".into(),
        ..StreamSpec::default()
    });
    let half = stream.records.len() / 2;
    let mut connector = w.connector("outage", topic);
    let budget = (outage * 2).as_millis().to_string();
    connector.insert("request.max.retries.time.ms".into(), budget);
    // Retries at most 5 s apart, so the flow resumes within seconds of the org's return.
    connector.insert("sink.retry.backoff.max.ms".into(), "5000".into());
    w.produce_records(topic, 2, &stream.records[..half]);
    let handle = w.start_worker(connector);
    let first_ends = ends_of(&stream.records[..half], 2);
    w.wait_committed(&handle.rest_url, "outage", topic, &first_ends);

    org.down(&w.rt);
    let down_at = Instant::now();
    w.produce_records(topic, 2, &stream.records[half..]);
    // Through the outage the task keeps running and nothing past the first half is
    // committed: the records wait.
    while down_at.elapsed() < outage {
        let (_, st) = w.rest_get(&format!("{}/connectors/outage/status", handle.rest_url));
        assert_eq!(
            st["tasks"][0]["state"], "RUNNING",
            "the task stays up through the outage: {st}"
        );
        let committed: Vec<i64> = w
            .kafka
            .committed("connect-outage", topic, 2)
            .into_iter()
            .map(|o| o.unwrap_or(0))
            .collect();
        assert_eq!(
            committed, first_ends,
            "nothing is committed while the org is away"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    org.up(&w.rt);
    let up_at = Instant::now();
    w.wait_committed(
        &handle.rest_url,
        "outage",
        topic,
        &ends_of(&stream.records, 2),
    );
    let caught_up = up_at.elapsed();
    w.assert_rows_match(&stream);
    let (_, st) = w.rest_get(&format!("{}/connectors/outage/status", handle.rest_url));
    assert_eq!(st["tasks"][0]["state"], "RUNNING", "{st}");
    handle.shutdown(Duration::from_secs(10));
    println!(
        "org unreachable for {} s: every waiting record written {:.1} s after it came back; \
         test took {:.0} s",
        outage.as_secs(),
        caught_up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The org goes away with a retry budget of 5 s and stays away: the task halts
/// (FAILED) with a trace naming `request.max.retries.time.ms` and the refused
/// connection; once the org is back, a task restart writes every record (nothing was
/// committed past what was written) and every row is right.
#[test]
fn an_outage_longer_than_the_retry_budget_halts_and_a_restart_resumes_with_nothing_lost() {
    let started = Instant::now();
    let topic = "outage-budget";
    let (mut w, _kafka) = outage_world(topic);
    let mut org = w.use_switchable_org(|_| {});
    let stream = generate(&StreamSpec {
        leads: 150,
        partitions: 2,
        tag: "ob".into(),
        ..StreamSpec::default()
    });
    let half = stream.records.len() / 2;
    let mut connector = w.connector("budget", topic);
    connector.insert("request.max.retries.time.ms".into(), "5000".into());
    w.produce_records(topic, 2, &stream.records[..half]);
    let handle = w.start_worker(connector);
    let first_ends = ends_of(&stream.records[..half], 2);
    w.wait_committed(&handle.rest_url, "budget", topic, &first_ends);

    org.down(&w.rt);
    w.produce_records(topic, 2, &stream.records[half..]);
    let failed = w.wait_task(&handle.rest_url, "budget", "a halt", |t| {
        t["state"] == "FAILED"
    });
    let trace = failed["trace"].as_str().unwrap_or_default().to_string();
    let halted_after = started.elapsed();
    assert!(
        trace.contains("request.max.retries.time.ms"),
        "the trace names the spent retry budget: {trace}"
    );
    let lower = trace.to_lowercase();
    assert!(
        lower.contains("unreachable") || lower.contains("connection refused"),
        "the trace says the org could not be reached: {trace}"
    );

    org.up(&w.rt);
    let code = w.rest_send(
        reqwest::Method::POST,
        &format!("{}/connectors/budget/tasks/0/restart", handle.rest_url),
    );
    assert!((200..300).contains(&code), "restart answered {code}");
    w.wait_task(
        &handle.rest_url,
        "budget",
        "RUNNING after the restart",
        |t| t["state"] == "RUNNING",
    );
    w.wait_committed(
        &handle.rest_url,
        "budget",
        topic,
        &ends_of(&stream.records, 2),
    );
    w.assert_rows_match(&stream);
    let (_, st) = w.rest_get(&format!("{}/connectors/budget/status", handle.rest_url));
    assert_eq!(st["tasks"][0]["state"], "RUNNING", "{st}");
    handle.shutdown(Duration::from_secs(10));
    println!(
        "org unreachable past a 5 s retry budget: halted {:.1} s into the test with: {}; \
         test took {:.0} s",
        halted_after.as_secs_f64(),
        trace.lines().next().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
}

/// A tansu broker on SQLite storage in a directory of its own, on a fixed port, that
/// can be stopped and started again with its data.
struct TansuOnFile {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<std::process::Child>,
}

impl TansuOnFile {
    fn start() -> TansuOnFile {
        let mut t = TansuOnFile {
            dir: tempfile::tempdir().expect("temp dir"),
            port: sobject_sink::demo::broker::free_port(),
            child: None,
        };
        t.run();
        t
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on its port and data, and waits until it answers.
    fn run(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .expect("tansu log");
        // `sqlite://tansu.db` is a file relative to tansu's working directory.
        let child = sobject_sink::demo::broker::tansu_broker_command(&url, "sqlite://tansu.db")
            .current_dir(self.dir.path())
            .stdout(log.try_clone().expect("tansu log"))
            .stderr(log)
            .spawn()
            .expect("tansu is installed (tests/run.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        loop {
            use rdkafka::consumer::{BaseConsumer, Consumer};
            let probe: BaseConsumer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", self.bootstrap())
                .create()
                .expect("metadata client");
            if probe.fetch_metadata(None, Duration::from_secs(2)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tansu did not come up on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILL: the broker goes without a goodbye, as in a crash or a lost machine.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for TansuOnFile {
    fn drop(&mut self) {
        self.kill();
    }
}

/// tansu on its SQLite file storage is SIGKILLed while the sink writes, stays away
/// 10 s (the task stays RUNNING meanwhile) and starts again on the same port and files:
/// the sink reconnects by itself, every record is committed, every row is right, and
/// the task never halted.
#[test]
fn the_sink_rides_out_a_broker_restart_without_losing_a_record() {
    let started = Instant::now();
    let mut tansu = TansuOnFile::start();
    let kafka: &'static Broker = Box::leak(Box::new(Broker {
        bootstrap: tansu.bootstrap(),
    }));
    let mut w = World::on_broker(kafka, |_| {});
    w.worker_tuning = sobject_sink::demo::broker::TANSU_WORKER_TUNING;
    let topic = "restart-leads";
    let stream = generate(&StreamSpec {
        leads: 300,
        partitions: 2,
        tag: "br".into(),
        ..StreamSpec::default()
    });
    let third = stream.records.len() / 3;
    let (first, rest) = stream.records.split_at(third);
    let (second, last) = rest.split_at(third);
    w.produce_records(topic, 2, first);
    let handle = w.start_worker(w.connector("restart", topic));
    w.wait_committed(&handle.rest_url, "restart", topic, &ends_of(first, 2));

    // Mid-run: records are being written when the broker dies.
    w.produce_records(topic, 2, second);
    let before: i64 = ends_of(first, 2).iter().sum();
    let deadline = Instant::now() + PATIENCE;
    while w
        .kafka
        .committed("connect-restart", topic, 2)
        .iter()
        .map(|o| o.unwrap_or(0))
        .sum::<i64>()
        < before + 10
    {
        assert!(Instant::now() < deadline, "the second part never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    tansu.kill();
    let down = Duration::from_secs(10);
    std::thread::sleep(down);
    let (_, st) = w.rest_get(&format!("{}/connectors/restart/status", handle.rest_url));
    assert_eq!(
        st["tasks"][0]["state"], "RUNNING",
        "no halt while the broker is away: {st}"
    );
    tansu.run();
    let back = Instant::now();
    w.produce_records(topic, 2, last);
    w.wait_committed(
        &handle.rest_url,
        "restart",
        topic,
        &ends_of(&stream.records, 2),
    );
    let caught_up = back.elapsed();
    w.assert_rows_match(&stream);
    let (_, st) = w.rest_get(&format!("{}/connectors/restart/status", handle.rest_url));
    assert_eq!(st["tasks"][0]["state"], "RUNNING", "no halt: {st}");
    handle.shutdown(Duration::from_secs(10));
    println!(
        "broker killed and restarted on its files after {} s away: every record committed \
         {:.1} s after it came back, rows right, no halt; test took {:.0} s",
        down.as_secs(),
        caught_up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The soak's generator: every chunk changes the same Leads again (so the org's rows
/// stay bounded however long it runs); the first chunk creates them, later ones only
/// update, and the last also deletes some.
struct SoakFeed {
    leads: usize,
    chunk: u64,
}

impl SoakFeed {
    fn next_chunk(&mut self, last: bool) -> LeadStream {
        let mut stream = generate(&StreamSpec {
            leads: self.leads,
            partitions: SOAK_PARTITIONS,
            updates: (1, 3),
            delete_ratio: if last { 0.1 } else { 0.0 },
            seed: 1000 + self.chunk,
            tag: "sk".into(),
            ..StreamSpec::default()
        });
        if self.chunk > 0 {
            for r in &mut stream.records {
                if r.event == "created" {
                    r.value = as_update(&r.value);
                    r.event = "updated";
                }
            }
        }
        self.chunk += 1;
        stream
    }
}

/// A `created` record's value turned into an `updated` one (the row exists already).
fn as_update(value: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(value).expect("generated JSON");
    v["payload"]["_EventType"] = json!("updated");
    serde_json::to_vec(&v).expect("JSON")
}

const SOAK_TOPIC: &str = "soak";
const SOAK_PARTITIONS: i32 = 8;

/// Produces `records` at `rate` records per second through `producer`.
fn produce_at_rate(
    rt: &tokio::runtime::Runtime,
    producer: &rdkafka::producer::FutureProducer,
    records: &[StreamRecord],
    rate: f64,
    ends: &mut [i64],
) {
    let tick = Duration::from_millis(100);
    let per_tick = ((rate * tick.as_secs_f64()).round() as usize).max(1);
    for slice in records.chunks(per_tick) {
        let began = Instant::now();
        let recs: Vec<_> = slice
            .iter()
            .map(|r| (r.partition, Some(r.key.clone()), r.value.clone()))
            .collect();
        rt.block_on(sobject_sink::demo::broker::produce_with(
            producer, SOAK_TOPIC, &recs,
        ));
        for r in slice {
            ends[r.partition as usize] += 1;
        }
        if let Some(rest) = tick.checked_sub(began.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

/// A standalone sink process on the embedded broker: its peak is measured by draining
/// a backlog, then records are produced at half that rate for `SOAK_SECS` (60 s unless
/// set) or `SOAK_MINUTES` while the org answers with random 503s, connection resets,
/// UNABLE_TO_LOCK_ROW and 2 s latency spikes. Every record is committed, every row is
/// right, the task never halted, and after the warm-up (a fifth of the run, at least
/// 15 s) the process's RSS stays within half again of its value at the end of the
/// warm-up plus 32 MiB, its threads within 8 and its open files within 24 of theirs.
/// The samples are printed as a table (every 5 s, or every minute in a long run).
#[test]
fn a_soak_under_random_org_faults_keeps_rows_right_and_resources_flat() {
    let started = Instant::now();
    let soak = match std::env::var("SOAK_MINUTES") {
        Ok(m) => Duration::from_secs(m.parse::<u64>().expect("SOAK_MINUTES is a number") * 60),
        Err(_) => Duration::from_secs(env_u64("SOAK_SECS", 60)),
    };
    let long = soak > Duration::from_secs(300);
    let (_kafka, kafka) = embedded_broker(&[TopicSpec::new(SOAK_TOPIC, SOAK_PARTITIONS)]);
    let w = World::on_broker(kafka, |org| {
        org.history = false;
        org.faults.latency_ms = 20;
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let (worker, rest) = worker_file(dir.path(), "soak-worker", &kafka.bootstrap, &[]);
    let mut connector = w.connector("soak", SOAK_TOPIC);
    connector.insert("connection.timeout".into(), "5000".into());
    connector.insert("sink.retry.backoff.initial.ms".into(), "100".into());
    connector.insert("sink.retry.backoff.max.ms".into(), "2000".into());
    let connector_file = dir.path().join("soak.properties");
    support::write_properties(&connector_file, &connector);
    let sink = SinkProcess::start(
        dir.path(),
        "soak-sink",
        "standalone",
        &[worker, connector_file],
        &rest,
    );
    sink.wait_rest(&w.rt);
    let producer = kafka.producer();
    let mut ends = vec![0i64; SOAK_PARTITIONS as usize];
    let mut feed = SoakFeed {
        leads: 1000,
        chunk: 0,
    };

    // Peak: how fast the sink drains a backlog against the org's normal latency.
    let backlog = feed.next_chunk(false);
    let calibrate_began = Instant::now();
    produce_at_rate(&w.rt, &producer, &backlog.records, 1e9, &mut ends);
    w.wait_committed(&rest, "soak", SOAK_TOPIC, &ends);
    let peak = backlog.records.len() as f64 / calibrate_began.elapsed().as_secs_f64();
    let rate = peak / 2.0;

    w.rt.block_on(w.admin.set_faults(&sobject_sink::sim::FaultPlan {
        latency_ms: 20,
        latency_jitter_ms: 30,
        server_unavailable_rate: 0.02,
        connection_reset_rate: 0.01,
        unable_to_lock_row_rate: 0.01,
        // Latency spikes: one call in 200 answers only after two seconds.
        stall_rate: 0.005,
        stall_secs: 2,
        seed: 30,
        ..Default::default()
    }))
    .expect("fault plan");

    let sample_every = Duration::from_secs(5);
    let warm_up = (soak / 5).max(Duration::from_secs(15));
    let mut samples: Vec<(Duration, support::processes::ProcSample)> = Vec::new();
    let soak_began = Instant::now();
    let mut next_sample = soak_began;
    let mut produced = 0usize;
    let last = loop {
        let done = soak_began.elapsed() >= soak;
        let chunk = feed.next_chunk(done);
        // One chunk at a time, in slices of about five seconds between samples.
        let per_slice = ((rate * sample_every.as_secs_f64()) as usize).max(1);
        for slice in chunk.records.chunks(per_slice) {
            if Instant::now() >= next_sample {
                samples.push((soak_began.elapsed(), support::processes::sample(sink.pid())));
                next_sample += sample_every;
            }
            produce_at_rate(&w.rt, &producer, slice, rate, &mut ends);
            produced += slice.len();
        }
        if done {
            break chunk;
        }
    };
    let drain_began = Instant::now();
    w.wait_committed(&rest, "soak", SOAK_TOPIC, &ends);
    let drained = drain_began.elapsed();
    samples.push((soak_began.elapsed(), support::processes::sample(sink.pid())));
    w.assert_rows_match(&last);
    let (_, st) = w.rest_get(&format!("{rest}/connectors/soak/status"));
    assert_eq!(st["tasks"][0]["state"], "RUNNING", "no halt: {st}");
    let retries = metric(&w, &rest, "sobject_sink_retries_total");

    println!(
        "soak: {produced} records in {:.0} s at {rate:.0} records/s (half of a measured peak of \
         {peak:.0}/s) under 503s, resets, lock errors and latency spikes; {retries} retries; \
         backlog drained {:.1} s after the feed stopped; every row right; test took {:.0} s",
        soak.as_secs_f64(),
        drained.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!("  elapsed   RSS MiB  threads  open fds");
    let table_every = Duration::from_secs(if long { 60 } else { 5 });
    let mut next_row = Duration::ZERO;
    for (i, (at, s)) in samples.iter().enumerate() {
        if *at >= next_row || i + 1 == samples.len() {
            println!(
                "  {:>5} s  {:>8.1}  {:>7}  {:>8}",
                at.as_secs(),
                s.rss_kib as f64 / 1024.0,
                s.threads,
                s.fds
            );
            next_row = *at + table_every;
        }
    }
    let (warm, after): (Vec<_>, Vec<_>) = samples.iter().partition(|(at, _)| *at < warm_up);
    let base = warm.last().map(|(_, s)| *s).unwrap_or(samples[0].1);
    for (at, s) in &after {
        assert!(
            s.threads <= base.threads + 8,
            "threads grew after warm-up: {} at {:?}, {} at the end of warm-up",
            s.threads,
            at,
            base.threads
        );
        assert!(
            s.fds <= base.fds + 24,
            "open files grew after warm-up: {} at {:?}, {} at the end of warm-up",
            s.fds,
            at,
            base.fds
        );
        assert!(
            s.rss_kib <= base.rss_kib + base.rss_kib / 2 + 32 * 1024,
            "RSS grew after warm-up: {} KiB at {:?}, {} KiB at the end of warm-up",
            s.rss_kib,
            at,
            base.rss_kib
        );
    }
}
