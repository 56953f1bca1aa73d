//! The fault plan: scripted and random faults, stalls and per-record lock failures.

use crate::harness::*;

#[tokio::test]
async fn the_third_collections_call_answers_503_when_scripted() {
    let s = start().await;
    s.admin
        .set_faults(&FaultPlan::scripted(
            "collections",
            3,
            FaultKind::ServerUnavailable,
        ))
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = s
            .collections(
                Method::POST,
                "composite/sobjects",
                false,
                vec![typed("Lead", lead(&format!("L{i}")))],
            )
            .await;
        statuses.push(r.status);
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(r.code(), "SERVER_UNAVAILABLE");
        }
        s.create("Lead", lead("between")).await;
    }
    assert_eq!(
        statuses,
        vec![
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::OK
        ]
    );
    let counters = s.admin.counters().await.unwrap();
    assert_eq!(counters.of("collections.create"), 4);
    assert_eq!(s.admin.live_rows("Lead").await.unwrap().len(), 7);
}

#[tokio::test]
async fn scripted_faults_produce_each_failure_kind() {
    let s = start().await;
    let kinds = [
        FaultKind::UnknownException,
        FaultKind::BadGatewayHtml,
        FaultKind::ConnectionReset,
        FaultKind::ConcurrentLimit,
        FaultKind::InvalidSession,
        FaultKind::DailyLimit,
    ];
    let scripts = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| ScriptedFault {
            endpoint: "limits".into(),
            nth: i as u64 + 1,
            times: 1,
            fault: *k,
        })
        .collect();
    s.admin
        .set_faults(&FaultPlan {
            scripts,
            ..FaultPlan::default()
        })
        .await
        .unwrap();
    let url = format!("{}/services/data/{V}/limits", s.base);

    let r = to_reply(s.http.get(&url).bearer_auth(&s.token).send().await.unwrap()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN_EXCEPTION")
    );
    let r = to_reply(s.http.get(&url).bearer_auth(&s.token).send().await.unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text.contains("<html>"));
    let reset = s.http.get(&url).bearer_auth(&s.token).send().await;
    assert!(
        reset.is_err(),
        "the connection is dropped without an answer"
    );
    let r = to_reply(s.http.get(&url).bearer_auth(&s.token).send().await.unwrap()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED")
    );
    assert_eq!(
        r.body[0]["message"],
        json!("ConcurrentRequests (Concurrent API Requests) Limit exceeded.")
    );
    let r = to_reply(s.http.get(&url).bearer_auth(&s.token).send().await.unwrap()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID")
    );
    let r = to_reply(s.http.get(&url).bearer_auth(&s.token).send().await.unwrap()).await;
    assert_eq!(r.body[0]["message"], json!("TotalRequests Limit exceeded."));
    let r = to_reply(s.http.get(&url).bearer_auth(&s.token).send().await.unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(s.admin.counters().await.unwrap().of("limits"), 7);
}

#[tokio::test]
async fn a_stalled_call_outlasts_the_client_timeout() {
    let s = start().await;
    s.admin
        .set_faults(&FaultPlan::scripted("sobject.create", 1, FaultKind::Stall))
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/services/data/{V}/sobjects/Lead", s.base))
        .bearer_auth(&s.token)
        .json(&lead("x"))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    assert!(s.admin.rows("Lead").await.unwrap().is_empty());
    s.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn lock_failures_hit_records_inside_collections() {
    let s = start().await;
    s.admin
        .set_faults(&FaultPlan {
            unable_to_lock_row_rate: 1.0,
            ..FaultPlan::default()
        })
        .await
        .unwrap();
    let r = s
        .collections(
            Method::POST,
            "composite/sobjects",
            false,
            vec![typed("Lead", lead("a")), typed("Lead", lead("b"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for item in r.body.as_array().unwrap() {
        assert_eq!(item["errors"][0]["statusCode"], json!("UNABLE_TO_LOCK_ROW"));
    }
    s.admin
        .set_faults(&FaultPlan::scripted(
            "sobject.create",
            1,
            FaultKind::UnableToLockRow,
        ))
        .await
        .unwrap();
    let single = s.create("Lead", lead("c")).await;
    assert_eq!(
        (single.status, single.code()),
        (StatusCode::BAD_REQUEST, "UNABLE_TO_LOCK_ROW")
    );
    assert!(s.admin.rows("Lead").await.unwrap().is_empty());
}

#[tokio::test]
async fn random_faults_repeat_for_the_same_seed() {
    let s = start().await;
    let plan = FaultPlan {
        server_unavailable_rate: 0.5,
        seed: 99,
        ..FaultPlan::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        s.admin.set_faults(&plan).await.unwrap();
        let mut statuses = Vec::new();
        for _ in 0..24 {
            statuses.push(s.get("limits").await.status.as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&503) && runs[0].contains(&200));
    assert_eq!(s.admin.faults().await.unwrap(), plan);
}
