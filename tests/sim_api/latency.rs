//! The latency model: a fixed delay per call plus a delay per record written, so that a
//! bigger call takes longer, on Collections, composite and Bulk alike.

use crate::harness::*;
use std::time::Instant;

fn leads(n: usize, tag: &str) -> Vec<Value> {
    (0..n)
        .map(|i| typed("Lead", lead(&format!("{tag}{i}"))))
        .collect()
}

async fn timed<F: std::future::Future<Output = Reply>>(call: F) -> (Duration, Reply) {
    let started = Instant::now();
    let r = call.await;
    (started.elapsed(), r)
}

#[tokio::test]
async fn every_record_written_adds_its_latency_on_top_of_the_per_call_latency() {
    let s = start().await;
    s.admin
        .set_faults(&FaultPlan {
            latency_ms: 20,
            latency_per_record_us: 3_000,
            ..FaultPlan::default()
        })
        .await
        .unwrap();
    assert_eq!(s.admin.faults().await.unwrap().latency_per_record_us, 3_000);

    // A 100-record Collections call: 20 ms + 100 × 3 ms.
    let (took, r) =
        timed(s.collections(Method::POST, "composite/sobjects", false, leads(100, "C"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(took >= Duration::from_millis(320), "{took:?}");

    // A composite of two such subrequests and one single record: 20 ms + 201 × 3 ms.
    let subs = vec![
        sub(
            "POST",
            "composite/sobjects",
            "a",
            Some(json!({"records": leads(100, "A")})),
        ),
        sub(
            "POST",
            "composite/sobjects",
            "b",
            Some(json!({"records": leads(100, "B")})),
        ),
        sub("POST", "sobjects/Lead", "one", Some(lead("One"))),
    ];
    let (took, r) = timed(s.composite(false, subs)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(took >= Duration::from_millis(623), "{took:?}");

    // A read writes nothing: only the per-call latency.
    let (took, r) = timed(s.get("sobjects/Lead/describe")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(took >= Duration::from_millis(20), "{took:?}");
    assert_eq!(s.admin.live_rows("Lead").await.unwrap().len(), 301);
}

#[tokio::test]
async fn bulk_jobs_take_the_per_record_latency_for_every_row() {
    let mut org = test_org("b");
    org.faults.latency_per_record_us = 4_000;
    let s = start_with(org).await;
    let r = s
        .call(
            Method::POST,
            "jobs/ingest",
            Some(json!({"object": "Lead", "operation": "insert"})),
        )
        .await;
    let job = r.body["id"].as_str().unwrap().to_string();
    let csv: String = std::iter::once("LastName,Company".to_string())
        .chain((0..100).map(|i| format!("L{i},Acme")))
        .collect::<Vec<_>>()
        .join("\n");
    let up = s
        .http
        .put(format!(
            "{}/services/data/{V}/jobs/ingest/{job}/batches",
            s.base
        ))
        .bearer_auth(&s.token)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::CREATED);
    let closed = Instant::now();
    s.call(
        Method::PATCH,
        &format!("jobs/ingest/{job}"),
        Some(json!({"state": "UploadComplete"})),
    )
    .await;
    let info = s.wait_for_job(&job).await;
    assert!(
        closed.elapsed() >= Duration::from_millis(400),
        "{:?}",
        closed.elapsed()
    );
    assert_eq!(info["state"], json!("JobComplete"));
    assert_eq!(info["numberRecordsProcessed"], json!(100));
}
