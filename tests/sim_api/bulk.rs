//! Bulk API 2.0 ingest jobs and their result files.

use crate::harness::*;

async fn bulk_job(s: &Sim, body: Value, csv: &str) -> (String, Value) {
    let r = s.call(Method::POST, "jobs/ingest", Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["state"], json!("Open"));
    let job = r.body["id"].as_str().unwrap().to_string();
    let up = s
        .http
        .put(format!(
            "{}/services/data/{V}/jobs/ingest/{job}/batches",
            s.base
        ))
        .bearer_auth(&s.token)
        .header("Content-Type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::CREATED);
    let close = s
        .call(
            Method::PATCH,
            &format!("jobs/ingest/{job}"),
            Some(json!({"state": "UploadComplete"})),
        )
        .await;
    assert_eq!(close.status, StatusCode::OK);
    assert!(matches!(
        close.body["state"].as_str().unwrap(),
        "UploadComplete" | "InProgress" | "JobComplete"
    ));
    let info = s.wait_for_job(&job).await;
    (job, info)
}

async fn csv_result(s: &Sim, job: &str, kind: &str) -> Vec<Vec<String>> {
    let r = s
        .http
        .get(format!(
            "{}/services/data/{V}/jobs/ingest/{job}/{kind}/",
            s.base
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn bulk_insert_job_reports_successful_and_failed_rows() {
    let s = start().await;
    let csv =
        "LastName,Company,NumberOfEmployees\nOkafor,Northwind,10\n,NoName,5\nBaker,Contoso,#N/A\n";
    let (job, info) = bulk_job(
        &s,
        json!({"object": "Lead", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"}),
        csv,
    )
    .await;
    assert_eq!(info["state"], json!("JobComplete"));
    assert_eq!(info["numberRecordsProcessed"], json!(3));
    assert_eq!(info["numberRecordsFailed"], json!(1));
    let ok = csv_result(&s, &job, "successfulResults").await;
    assert_eq!(
        ok[0],
        vec![
            "sf__Id",
            "sf__Created",
            "LastName",
            "Company",
            "NumberOfEmployees"
        ]
    );
    assert_eq!(ok.len(), 3);
    assert_eq!(ok[1][1], "true");
    assert_eq!(ok[1][0].len(), 18);
    let failed = csv_result(&s, &job, "failedResults").await;
    assert_eq!(
        failed[0][..2],
        ["sf__Id".to_string(), "sf__Error".to_string()]
    );
    assert!(
        failed[1][1].starts_with("REQUIRED_FIELD_MISSING:"),
        "{}",
        failed[1][1]
    );
    let unprocessed = csv_result(&s, &job, "unprocessedrecords").await;
    assert_eq!(unprocessed.len(), 1, "header only");
    assert_eq!(s.admin.live_rows("Lead").await.unwrap().len(), 2);
}

#[tokio::test]
async fn bulk_upsert_update_and_delete_apply_na_as_null() {
    let s = start().await;
    let (job, info) = bulk_job(
        &s,
        json!({"object": "Lead", "operation": "upsert", "externalIdFieldName": "CustomId__c", "contentType": "CSV"}),
        "CustomId__c,LastName,Company,Title\nB1,One,N,CEO\nB2,Two,N,CTO\n",
    )
    .await;
    assert_eq!(info["numberRecordsFailed"], json!(0));
    assert_eq!(
        csv_result(&s, &job, "successfulResults").await[1][1],
        "true"
    );
    let (job2, _) = bulk_job(
        &s,
        json!({"object": "Lead", "operation": "upsert", "externalIdFieldName": "CustomId__c"}),
        "CustomId__c,Title\nb1,#N/A\n",
    )
    .await;
    let res = csv_result(&s, &job2, "successfulResults").await;
    assert_eq!(res[1][1], "false");
    let id = res[1][0].clone();
    let row = s.admin.row("Lead", &id).await.unwrap().unwrap();
    assert_eq!(row.get("Title"), &Value::Null);

    let other = s
        .admin
        .live_rows("Lead")
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.str("CustomId__c") == Some("B2"))
        .unwrap();
    let (_, upd) = bulk_job(
        &s,
        json!({"object": "Lead", "operation": "update"}),
        &format!("Id,Title\n{},VP\n{},x\n", other.id(), unused_id("00Q")),
    )
    .await;
    assert_eq!(upd["numberRecordsFailed"], json!(1));
    assert_eq!(
        s.admin
            .row("Lead", other.id())
            .await
            .unwrap()
            .unwrap()
            .str("Title"),
        Some("VP")
    );

    let (_, del) = bulk_job(
        &s,
        json!({"object": "Lead", "operation": "delete"}),
        &format!("Id\n{}\n", other.id()),
    )
    .await;
    assert_eq!(del["numberRecordsFailed"], json!(0));
    assert!(s
        .admin
        .row("Lead", other.id())
        .await
        .unwrap()
        .unwrap()
        .is_deleted());
}

#[tokio::test]
async fn bulk_aborted_job_lists_its_unprocessed_records() {
    let s = start().await;
    let r = s
        .call(
            Method::POST,
            "jobs/ingest",
            Some(json!({"object": "Account", "operation": "insert"})),
        )
        .await;
    let job = r.body["id"].as_str().unwrap().to_string();
    let up = s
        .http
        .put(format!(
            "{}/services/data/{V}/jobs/ingest/{job}/batches",
            s.base
        ))
        .bearer_auth(&s.token)
        .body("Name\nA\nB\n")
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::CREATED);
    let abort = s
        .call(
            Method::PATCH,
            &format!("jobs/ingest/{job}"),
            Some(json!({"state": "Aborted"})),
        )
        .await;
    assert_eq!(abort.body["state"], json!("Aborted"));
    let rows = csv_result(&s, &job, "unprocessedrecords").await;
    assert_eq!(
        rows,
        vec![
            vec!["Name".to_string()],
            vec!["A".to_string()],
            vec!["B".to_string()]
        ]
    );
    assert!(s.admin.rows("Account").await.unwrap().is_empty());
    let bad = s
        .call(
            Method::POST,
            "jobs/ingest",
            Some(json!({"object": "Nope", "operation": "insert"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bulk_job_with_an_unknown_column_fails() {
    let s = start().await;
    let (job, info) = bulk_job(
        &s,
        json!({"object": "Account", "operation": "insert"}),
        "Name,Bogus__c\nA,1\n",
    )
    .await;
    assert_eq!(info["state"], json!("Failed"));
    assert!(info["errorMessage"].as_str().unwrap().contains("Bogus__c"));
    assert_eq!(csv_result(&s, &job, "unprocessedrecords").await.len(), 2);
}
