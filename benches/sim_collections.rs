//! Throughput of the simulator's sObject Collections upsert path on one core.
//!
//! The simulator runs on a current-thread tokio runtime (one core); a separate client
//! runtime sends pre-serialised upserts of 200 ~2 KB Lead records each over a few
//! keep-alive connections. It prints records per second for a pass that creates every
//! row and a pass that updates them. Run with `cargo bench --bench sim_collections`.

use serde_json::{json, Value};
use sobject_sink::sim::{self, OrgConfig, SimConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The same allocator as the `salesforce-sim` binary, so the figure is the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Records per pass when run by `cargo bench`; `cargo test` runs a smoke pass.
const RECORDS: usize = 100_000;
const SMOKE_RECORDS: usize = 4_000;
/// Records per Collections call (the API maximum).
const BATCH: usize = 200;
/// Calls in flight at once.
const IN_FLIGHT: usize = 4;

fn lead(i: usize, pass: usize) -> Value {
    // About 2 KB of JSON per record, like a PushTopic Lead with a long description.
    let description = format!("Pass {pass} record {i}. ").repeat(1)
        + &"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(26);
    json!({
        "attributes": {"type": "Lead"},
        "CustomId__c": format!("00Q5e00000{i:08}"),
        "LastName": format!("Okafor{i}"),
        "FirstName": "Ada",
        "Salutation": "Ms.",
        "Title": "Head of Data",
        "Company": "Northwind Analytics",
        "Street": "12 Harbour Road",
        "City": "Leeds",
        "PostalCode": "LS1 4AB",
        "Country": "United Kingdom",
        "Phone": "+44 113 496 0000",
        "Email": format!("ada.okafor{i}@northwind.example"),
        "Website": "https://northwind.example",
        "LeadSource": "Web",
        "Status": "Open - Not Contacted",
        "Industry": "Technology",
        "AnnualRevenue": "2500000",
        "NumberOfEmployees": 140 + pass,
        "IsUnreadByOwner": true,
        "CleanStatus": "Pending",
        "Description": description,
    })
}

fn bodies(pass: usize) -> Vec<bytes::Bytes> {
    (0..records() / BATCH)
        .map(|b| {
            let records: Vec<Value> = (b * BATCH..(b + 1) * BATCH)
                .map(|i| lead(i, pass))
                .collect();
            bytes::Bytes::from(
                serde_json::to_vec(&json!({"allOrNone": false, "records": records}))
                    .unwrap_or_default(),
            )
        })
        .collect()
}

async fn run_pass(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    bodies: Vec<bytes::Bytes>,
) -> (Duration, usize) {
    let queue = Arc::new(tokio::sync::Mutex::new(bodies));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (http, url, token, queue) = (
            http.clone(),
            url.to_string(),
            token.to_string(),
            queue.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut ok = 0usize;
            loop {
                let Some(body) = queue.lock().await.pop() else {
                    break;
                };
                let resp = http
                    .patch(&url)
                    .bearer_auth(&token)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("collections call");
                let results: Vec<Value> = resp.json().await.expect("collections answer");
                ok += results
                    .iter()
                    .filter(|r| r["success"] == json!(true))
                    .count();
            }
            ok
        }));
    }
    let mut ok = 0;
    for w in workers {
        ok += w.await.unwrap_or_default();
    }
    (start.elapsed(), ok)
}

/// User + system CPU seconds of the simulator thread, from its `/proc/.../stat`
/// (fields 14 and 15, in clock ticks of 1/100 s on Linux).
fn server_cpu_secs(stat: Option<&std::path::Path>) -> f64 {
    let Some(text) = stat.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return 0.0;
    };
    let Some((_, after_name)) = text.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

/// 100,000 under `cargo bench`, a smoke-sized pass under `cargo test`.
fn records() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        RECORDS
    } else {
        SMOKE_RECORDS
    }
}

fn main() {
    // The simulator gets one thread: a current-thread runtime shows one core's throughput.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::Builder::new()
        .name("sim-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let mut org = OrgConfig::named("b", "127.0.0.1:0".parse().expect("address"));
                org.daily_api_max = u64::MAX / 2;
                // The benchmark sends one Email per record; the Lead duplicate rule stays on.
                let handle = sim::start(SimConfig::single(org))
                    .await
                    .expect("simulator start");
                // The thread's own /proc entry, so the client side can read its CPU time.
                let stat = std::fs::read_link("/proc/thread-self")
                    .map(|p| std::path::Path::new("/proc").join(p).join("stat"))
                    .ok();
                let _ = url_tx.send((handle.base_url("b").unwrap_or_default(), stat));
                let _ = stop_rx.await;
                let _ = handle.shutdown().await;
            });
        });
    let Ok(server) = server else {
        eprintln!("cannot start the simulator thread");
        return;
    };
    let (base, server_stat) = url_rx.recv().expect("simulator base URL");

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime");
    client_rt.block_on(async {
        let http = reqwest::Client::new();
        let token: Value = http
            .post(format!("{base}/services/oauth2/token"))
            .form(&[("grant_type", "password"), ("client_id", "sim-consumer-key"), ("client_secret", "sim-consumer-secret"), ("username", "integration@org-b.example"), ("password", "sim-passwordSIMTOKEN")])
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("token answer");
        let token = token["access_token"].as_str().unwrap_or_default().to_string();
        let url = format!("{base}/services/data/v62.0/composite/sobjects/Lead/CustomId__c");
        let size = bodies(0).first().map(|b| b.len() / BATCH).unwrap_or_default();
        let records = records();
        println!("sim_collections: {records} Lead records per pass, {BATCH} per call, ~{size} bytes per record, {IN_FLIGHT} calls in flight");
        for (pass, name) in [(0, "insert (upsert creating rows)"), (1, "update (upsert matching rows)")] {
            let b = bodies(pass);
            let cpu_before = server_cpu_secs(server_stat.as_deref());
            let (elapsed, ok) = run_pass(&http, &url, &token, b).await;
            let cpu = server_cpu_secs(server_stat.as_deref()) - cpu_before;
            let rate = ok as f64 / elapsed.as_secs_f64();
            println!("  {name}: {ok} records in {:.2} s = {rate:.0} records/s (wall clock)", elapsed.as_secs_f64());
            if cpu > 0.0 {
                // On a shared machine the wall clock also counts time the server thread waited
                // for a core; records per CPU-second of that one thread is the one-core figure.
                println!("    simulator thread CPU {cpu:.2} s = {:.0} records per CPU-second", ok as f64 / cpu);
            }
        }
    });
    let _ = stop_tx.send(());
    let _ = server.join();
}
