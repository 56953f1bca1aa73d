//! Relationship references by External ID on every write path (single record, upsert,
//! Collections, composite, Bulk CSV), polymorphic lookups, Salesforce's error for a parent
//! that is not there, and the calling client kept in the write history.

use crate::harness::*;

async fn account(s: &Sim, ext: &str) -> String {
    s.created_id(
        "Account",
        json!({"Name": format!("Account {ext}"), "CustomId__c": ext}),
    )
    .await
}

async fn field(s: &Sim, sobject: &str, id: &str, name: &str) -> Value {
    s.admin
        .row(sobject, id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {sobject} {id}"))
        .get(name)
        .clone()
}

#[tokio::test]
async fn a_relationship_by_external_id_sets_the_lookup_on_every_rest_path() {
    let s = start().await;
    let a1 = account(&s, "A-1").await;
    let a2 = account(&s, "A-2").await;

    // Single create, then update, then clearing through the Id field.
    let c = s
        .created_id(
            "Contact",
            json!({"LastName": "Okafor", "Account": {"CustomId__c": "A-1"}}),
        )
        .await;
    assert_eq!(field(&s, "Contact", &c, "AccountId").await, json!(a1));
    let r = s
        .call(
            Method::PATCH,
            &format!("sobjects/Contact/{c}"),
            Some(json!({"Account": {"attributes": {"type": "Account"}, "CustomId__c": "a-2"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(field(&s, "Contact", &c, "AccountId").await, json!(a2));
    let r = s
        .call(
            Method::PATCH,
            &format!("sobjects/Contact/{c}"),
            Some(json!({"AccountId": null})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(field(&s, "Contact", &c, "AccountId").await, Value::Null);

    // Upsert by External ID, and an Account hierarchy through ParentId.
    let r = s
        .call(
            Method::PATCH,
            "sobjects/Contact/CustomId__c/C-1",
            Some(json!({"LastName": "Baker", "Account": {"CustomId__c": "A-1"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let c1 = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(field(&s, "Contact", &c1, "AccountId").await, json!(a1));
    let child = s
        .created_id(
            "Account",
            json!({"Name": "Child", "Parent": {"CustomId__c": "A-1"}}),
        )
        .await;
    assert_eq!(field(&s, "Account", &child, "ParentId").await, json!(a1));

    // Collections create and upsert, and an Opportunity in a composite.
    let r = s
        .collections(
            Method::POST,
            "composite/sobjects",
            false,
            vec![typed(
                "Contact",
                json!({"LastName": "Chen", "Account": {"CustomId__c": "A-2"}}),
            )],
        )
        .await;
    let c2 = r.body[0]["id"].as_str().unwrap().to_string();
    assert_eq!(field(&s, "Contact", &c2, "AccountId").await, json!(a2));
    let r = s
        .collections(
            Method::PATCH,
            "composite/sobjects/Contact/CustomId__c",
            false,
            vec![typed(
                "Contact",
                json!({"CustomId__c": "C-1", "Account": {"CustomId__c": "A-2"}}),
            )],
        )
        .await;
    assert_eq!(r.body[0]["created"], json!(false), "{}", r.text);
    assert_eq!(field(&s, "Contact", &c1, "AccountId").await, json!(a2));
    let r = s
        .composite(
            false,
            vec![sub(
                "POST",
                "sobjects/Opportunity",
                "opp",
                Some(
                    json!({"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2027-01-31",
                            "Account": {"CustomId__c": "A-1"}, "CustomId__c": "O-1"}),
                ),
            )],
        )
        .await;
    let items = r.body["compositeResponse"].as_array().unwrap();
    assert_eq!(items[0]["httpStatusCode"], json!(201), "{}", r.text);
    let opp = items[0]["body"]["id"].as_str().unwrap().to_string();
    assert_eq!(field(&s, "Opportunity", &opp, "AccountId").await, json!(a1));
}

#[tokio::test]
async fn a_missing_parent_fails_with_salesforces_foreign_key_error() {
    let s = start().await;
    let r = s
        .create(
            "Contact",
            json!({"LastName": "Orphan", "Account": {"CustomId__c": "NOPE-1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "INVALID_FIELD");
    assert_eq!(
        r.body[0]["message"],
        json!("Foreign key external ID: NOPE-1 not found for field CustomId__c in entity Account")
    );
    let r = s
        .collections(
            Method::POST,
            "composite/sobjects",
            false,
            vec![
                typed(
                    "Contact",
                    json!({"LastName": "Orphan", "Account": {"CustomId__c": "NOPE-2"}}),
                ),
                typed("Contact", json!({"LastName": "Fine"})),
            ],
        )
        .await;
    assert_eq!(r.body[0]["success"], json!(false));
    assert_eq!(r.body[0]["errors"][0]["statusCode"], json!("INVALID_FIELD"));
    assert_eq!(
        r.body[0]["errors"][0]["message"],
        json!("Foreign key external ID: NOPE-2 not found for field CustomId__c in entity Account")
    );
    assert_eq!(r.body[1]["success"], json!(true));
    // A deleted parent is no parent.
    let gone = account(&s, "GONE").await;
    s.call(Method::DELETE, &format!("sobjects/Account/{gone}"), None)
        .await;
    let r = s
        .create(
            "Contact",
            json!({"LastName": "Late", "Account": {"CustomId__c": "GONE"}}),
        )
        .await;
    assert_eq!(r.code(), "INVALID_FIELD");
}

#[tokio::test]
async fn polymorphic_references_name_their_sobject() {
    let s = start().await;
    let a = account(&s, "A-1").await;
    let c = s
        .created_id(
            "Contact",
            json!({"LastName": "Okafor", "CustomId__c": "C-1"}),
        )
        .await;
    let l = s
        .created_id("Lead", with(lead("Lee"), json!({"CustomId__c": "L-1"})))
        .await;
    let t = s
        .created_id(
            "Task",
            json!({"Subject": "Call",
                   "Who": {"attributes": {"type": "Contact"}, "CustomId__c": "C-1"},
                   "What": {"attributes": {"type": "Account"}, "CustomId__c": "A-1"}}),
        )
        .await;
    assert_eq!(field(&s, "Task", &t, "WhoId").await, json!(c));
    assert_eq!(field(&s, "Task", &t, "WhatId").await, json!(a));
    assert_eq!(field(&s, "Task", &t, "Status").await, json!("Not Started"));
    let r = s
        .call(
            Method::PATCH,
            &format!("sobjects/Task/{t}"),
            Some(json!({"Who": {"attributes": {"type": "Lead"}, "CustomId__c": "L-1"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(field(&s, "Task", &t, "WhoId").await, json!(l));

    let untyped = s
        .create(
            "Task",
            json!({"Subject": "x", "Who": {"CustomId__c": "C-1"}}),
        )
        .await;
    assert_eq!(untyped.code(), "INVALID_FIELD");
    assert!(untyped.body[0]["message"]
        .as_str()
        .unwrap()
        .contains("polymorphic"));
    let wrong = s
        .create(
            "Task",
            json!({"Subject": "x", "Who": {"attributes": {"type": "Account"}, "CustomId__c": "A-1"}}),
        )
        .await;
    assert_eq!(wrong.code(), "INVALID_FIELD");
}

#[tokio::test]
async fn malformed_references_are_refused_with_a_message_naming_them() {
    let s = start().await;
    let a = account(&s, "A-1").await;
    let cases = [
        (
            json!({"LastName": "X", "AccountId": a, "Account": {"CustomId__c": "A-1"}}),
            "Cannot specify both an external ID reference Account and a salesforce id, AccountId",
        ),
        (
            json!({"LastName": "X", "Account": null}),
            "Relationship Account must be an object",
        ),
        (
            json!({"LastName": "X", "Account": {"CustomId__c": "A-1", "Name": "Acme"}}),
            "exactly one External ID field",
        ),
        (
            json!({"LastName": "X", "Account": {"Phone": "1"}}),
            "Phone does not exist or is not an External ID on Account",
        ),
        (
            json!({"LastName": "X", "Owner": {"CustomId__c": "U-1"}}),
            "CustomId__c does not exist or is not an External ID on User",
        ),
    ];
    for (body, message) in cases {
        let r = s.create("Contact", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.code(), "INVALID_FIELD", "{body}");
        let text = r.body[0]["message"].as_str().unwrap();
        assert!(text.contains(message), "{body}: {text}");
    }
    assert!(s.admin.live_rows("Contact").await.unwrap().is_empty());
}

#[tokio::test]
async fn bulk_csv_relationship_columns_resolve_parents() {
    let s = start().await;
    let a = account(&s, "A-1").await;
    let c = s
        .created_id(
            "Contact",
            json!({"LastName": "Okafor", "CustomId__c": "C-1"}),
        )
        .await;
    let job = s
        .call(
            Method::POST,
            "jobs/ingest",
            Some(json!({"object": "Contact", "operation": "insert"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let upload = |job: String, csv: &'static str| {
        let s = &s;
        async move {
            let r = s
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
            assert_eq!(r.status(), StatusCode::CREATED);
            s.call(
                Method::PATCH,
                &format!("jobs/ingest/{job}"),
                Some(json!({"state": "UploadComplete"})),
            )
            .await;
            s.wait_for_job(&job).await
        }
    };
    let info = upload(
        job.clone(),
        "LastName,Account.CustomId__c,CustomId__c\nChen,A-1,C-2\nOrphan,A-9,C-3\n",
    )
    .await;
    assert_eq!(info["state"], json!("JobComplete"), "{info}");
    assert_eq!(info["numberRecordsFailed"], json!(1));
    let rows = s.admin.live_rows("Contact").await.unwrap();
    let chen = rows
        .iter()
        .find(|r| r.str("LastName") == Some("Chen"))
        .unwrap();
    assert_eq!(chen.str("AccountId"), Some(a.as_str()));
    let failed = s
        .http
        .get(format!(
            "{}/services/data/{V}/jobs/ingest/{job}/failedResults/",
            s.base
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        failed.contains("INVALID_FIELD:Foreign key external ID: A-9 not found for field CustomId__c in entity Account"),
        "{failed}"
    );

    let tasks = s
        .call(
            Method::POST,
            "jobs/ingest",
            Some(json!({"object": "Task", "operation": "insert"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let info = upload(tasks, "Subject,Contact:Who.CustomId__c\nCall,C-1\n").await;
    assert_eq!(info["numberRecordsFailed"], json!(0), "{info}");
    let task = &s.admin.live_rows("Task").await.unwrap()[0];
    assert_eq!(task.str("WhoId"), Some(c.as_str()));
}

#[tokio::test]
async fn the_calling_client_is_kept_in_the_write_history() {
    let s = start().await;
    let options = [("Sforce-Call-Options", "client=sink-a")];
    let r = s
        .call_headers(Method::POST, "sobjects/Lead/", Some(lead("A")), &options)
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = s
        .composite(
            false,
            vec![json!({
                "method": "PATCH",
                "url": format!("/services/data/{V}/sobjects/Lead/{id}"),
                "referenceId": "retitle",
                "body": {"Title": "CTO"},
                "httpHeaders": {"Sforce-Call-Options": "client=sink-b, defaultNamespace=x"},
            })],
        )
        .await;
    assert_eq!(
        r.body["compositeResponse"][0]["httpStatusCode"],
        json!(204),
        "{}",
        r.text
    );
    s.call(
        Method::PATCH,
        &format!("sobjects/Lead/{id}"),
        Some(json!({"Title": "CEO"})),
    )
    .await;
    let history = s.admin.history("Lead", &id).await.unwrap();
    let clients: Vec<Option<String>> = history.iter().map(|w| w.client.clone()).collect();
    assert_eq!(
        clients,
        vec![Some("sink-a".to_string()), Some("sink-b".to_string()), None]
    );
    let raw: Value = s
        .http
        .get(format!("{}/__sim/sobjects/Lead/rows/{id}/history", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw[0]["client"], json!("sink-a"));
}
