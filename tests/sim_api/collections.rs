//! sObject Collections: order of results, `allOrNone`, the 200-record limit.

use crate::harness::*;

#[tokio::test]
async fn collections_create_update_upsert_delete_answer_in_request_order() {
    let s = start().await;
    let recs = vec![
        typed("Lead", lead("A")),
        typed("Account", json!({"Name": "Acme"})),
        typed("Lead", lead("B")),
    ];
    let r = s
        .collections(Method::POST, "composite/sobjects", false, recs)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let ids: Vec<String> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids[0].starts_with("00Q") && ids[1].starts_with("001") && ids[2].starts_with("00Q"));
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["success"] == json!(true) && x["errors"] == json!([])));

    let upd = vec![
        typed("Lead", json!({"id": ids[2], "Title": "second"})),
        typed("Lead", json!({"id": ids[0], "Title": "first"})),
    ];
    let r = s
        .collections(Method::PATCH, "composite/sobjects", false, upd)
        .await;
    assert_eq!(r.body[0]["id"], json!(ids[2]));
    assert_eq!(r.body[1]["id"], json!(ids[0]));
    assert_eq!(
        s.admin
            .row("Lead", &ids[0])
            .await
            .unwrap()
            .unwrap()
            .str("Title"),
        Some("first")
    );

    s.call(
        Method::PATCH,
        &format!("sobjects/Lead/{}", ids[2]),
        Some(json!({"CustomId__c": "K2"})),
    )
    .await;
    let ups = vec![
        typed("Lead", with(lead("New"), json!({"CustomId__c": "K9"}))),
        typed("Lead", json!({"CustomId__c": "k2", "Title": "via upsert"})),
    ];
    let r = s
        .collections(
            Method::PATCH,
            "composite/sobjects/Lead/CustomId__c",
            false,
            ups,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body[0]["created"], json!(true));
    assert_eq!(r.body[1]["created"], json!(false));
    assert_eq!(r.body[1]["id"], json!(ids[2]));

    let del = s
        .call(
            Method::DELETE,
            &format!(
                "composite/sobjects?ids={},{}&allOrNone=false",
                ids[1],
                &ids[0][..15]
            ),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::OK);
    assert_eq!(del.body[0]["id"], json!(ids[1]));
    assert_eq!(del.body[1]["id"], json!(ids[0]));
    assert!(del
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["success"] == json!(true)));

    let get = s
        .get(&format!(
            "composite/sobjects/Lead?ids={},{},{}&fields=Id,Title",
            ids[2],
            ids[0],
            unused_id("00Q")
        ))
        .await;
    assert_eq!(get.body[0]["Title"], json!("via upsert"));
    assert_eq!(get.body[1], Value::Null, "deleted rows come back as null");
    assert_eq!(get.body[2], Value::Null);
}

#[tokio::test]
async fn collections_answer_text_repeated_names_and_records_that_are_no_object() {
    let s = start().await;
    let ups = vec![
        typed("Lead", with(lead("A"), json!({"CustomId__c": "M1"}))),
        typed(
            "Lead",
            json!({"CustomId__c": "M2", "LastName": null, "Company": "C"}),
        ),
    ];
    let r = s
        .collections(
            Method::PATCH,
            "composite/sobjects/Lead/CustomId__c",
            false,
            ups,
        )
        .await;
    let id = r.body[0]["id"].as_str().unwrap_or_default();
    assert_eq!(
        r.text,
        format!(
            r#"[{{"id":"{id}","success":true,"errors":[],"created":true}},{{"id":null,"success":false,"errors":[{{"statusCode":"REQUIRED_FIELD_MISSING","message":"Required fields are missing: [LastName]","fields":["LastName"]}}],"created":false}}]"#
        )
    );

    // A name given twice in one record keeps the later value, as a JSON object does.
    let raw = r#"{"allOrNone": false, "records": [{"attributes": {"type": "Lead"}, "LastName": "X", "Company": "C", "Title": "first", "Title": "second"}]}"#;
    let r = to_reply(
        s.http
            .post(format!("{}/services/data/{V}/composite/sobjects", s.base))
            .bearer_auth(&s.token)
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.body[0]["success"], json!(true), "{}", r.text);
    let id = r.body[0]["id"].as_str().unwrap_or_default();
    let row = s.admin.row("Lead", id).await.unwrap().unwrap();
    assert_eq!(row.str("Title"), Some("second"));

    let r = s
        .call(
            Method::POST,
            "composite/sobjects",
            Some(json!({"records": [typed("Lead", lead("Y")), 7]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "JSON_PARSER_ERROR");
    assert_eq!(
        r.body[0]["message"],
        json!("Each record must be a JSON object")
    );
}

#[tokio::test]
async fn collections_all_or_none_false_keeps_the_good_records() {
    let s = start().await;
    let recs = vec![
        typed("Lead", lead("Good1")),
        typed("Lead", json!({"Company": "no last name"})),
        typed("Lead", lead("Good2")),
    ];
    let r = s
        .collections(Method::POST, "composite/sobjects", false, recs)
        .await;
    assert_eq!(r.body[0]["success"], json!(true));
    assert_eq!(r.body[1]["success"], json!(false));
    assert_eq!(r.body[1]["id"], Value::Null);
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(r.body[1]["errors"][0]["fields"], json!(["LastName"]));
    assert_eq!(r.body[2]["success"], json!(true));
    assert_eq!(s.admin.live_rows("Lead").await.unwrap().len(), 2);
}

#[tokio::test]
async fn collections_all_or_none_true_rolls_everything_back() {
    let s = start().await;
    let existing = s
        .created_id("Lead", with(lead("Keep"), json!({"CustomId__c": "E1"})))
        .await;
    let ups = vec![
        typed(
            "Lead",
            json!({"CustomId__c": "E1", "LastName": "Overwritten"}),
        ),
        typed("Lead", with(lead("Fresh"), json!({"CustomId__c": "E2"}))),
        typed(
            "Lead",
            json!({"CustomId__c": "E3", "Company": "no last name"}),
        ),
    ];
    let r = s
        .collections(
            Method::PATCH,
            "composite/sobjects/Lead/CustomId__c",
            true,
            ups,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(
        r.body[2]["errors"][0]["statusCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert!(r
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["success"] == json!(false)));
    let rows = s.admin.rows("Lead").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id(), existing);
    assert_eq!(rows[0].str("LastName"), Some("Keep"));
    assert_eq!(
        s.admin.history("Lead", &existing).await.unwrap().len(),
        1,
        "the rolled-back write left no history"
    );
    let dup_free = s
        .collections(
            Method::POST,
            "composite/sobjects",
            true,
            vec![typed(
                "Lead",
                with(lead("Again"), json!({"CustomId__c": "E2"})),
            )],
        )
        .await;
    assert_eq!(
        dup_free.body[0]["success"],
        json!(true),
        "the rolled-back E2 left no index entry"
    );
}

#[tokio::test]
async fn collections_over_200_records_answer_400_exceeded_id_limit() {
    let s = start().await;
    let recs: Vec<Value> = (0..201)
        .map(|i| typed("Lead", lead(&format!("L{i}"))))
        .collect();
    let r = s
        .collections(Method::POST, "composite/sobjects", false, recs.clone())
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "EXCEEDED_ID_LIMIT")
    );
    let r = s
        .collections(
            Method::PATCH,
            "composite/sobjects/Lead/CustomId__c",
            false,
            recs,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "EXCEEDED_ID_LIMIT")
    );
    let ids: Vec<String> = (0..201).map(|_| unused_id("00Q")).collect();
    let r = s
        .call(
            Method::DELETE,
            &format!("composite/sobjects?ids={}", ids.join(",")),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "EXCEEDED_ID_LIMIT")
    );
    assert!(s.admin.rows("Lead").await.unwrap().is_empty());
    let ok: Vec<Value> = (0..200)
        .map(|i| typed("Lead", lead(&format!("L{i}"))))
        .collect();
    let r = s
        .collections(Method::POST, "composite/sobjects", false, ok)
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 200);
}
