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

/// Records per pass.
const RECORDS: usize = 100_000;
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
    (0..RECORDS / BATCH)
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

fn main() {
    // The simulator gets one thread: a current-thread runtime shows one core's throughput.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
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
            let _ = url_tx.send(handle.base_url("b").unwrap_or_default());
            let _ = stop_rx.await;
            let _ = handle.shutdown().await;
        });
    });
    let base = url_rx.recv().expect("simulator base URL");

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
        println!("sim_collections: {RECORDS} Lead records per pass, {BATCH} per call, ~{size} bytes per record, {IN_FLIGHT} calls in flight");
        for (pass, name) in [(0, "insert (upsert creating rows)"), (1, "update (upsert matching rows)")] {
            let b = bodies(pass);
            let (elapsed, ok) = run_pass(&http, &url, &token, b).await;
            let rate = ok as f64 / elapsed.as_secs_f64();
            println!("  {name}: {ok} records in {:.2} s = {rate:.0} records/s", elapsed.as_secs_f64());
        }
    });
    let _ = stop_tx.send(());
    let _ = server.join();
}
