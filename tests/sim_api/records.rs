//! Single-record create, read, update, delete and upsert by External ID.

use crate::harness::*;

#[tokio::test]
async fn single_record_create_get_update_delete_round_trip() {
    let s = start().await;
    let r = s
        .create(
            "Lead",
            with(
                lead("Okafor"),
                json!({"FirstName": "Ada", "City": "Leeds", "AnnualRevenue": "2500000"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["success"], json!(true));
    assert_eq!(r.body["errors"], json!([]));
    let id18 = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(id18.len(), 18);
    assert!(id18.starts_with("00Q"));
    assert_eq!(id::normalize(&id18).unwrap(), id18);

    let id15 = &id18[..15];
    let got = s.get(&format!("sobjects/Lead/{id15}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["Id"], json!(id18));
    assert_eq!(got.body["attributes"]["type"], json!("Lead"));
    assert_eq!(got.body["Name"], json!("Ada Okafor"));
    assert_eq!(got.body["Address"]["City"], json!("Leeds"));
    assert_eq!(got.body["AnnualRevenue"], json!(2500000.0));
    assert_eq!(got.body["OwnerId"].as_str().unwrap().len(), 18);
    assert!(got.body["CreatedDate"].as_str().unwrap().ends_with("+0000"));

    let some = s
        .get(&format!("sobjects/Lead/{id18}?fields=LastName,Company"))
        .await;
    assert_eq!(some.body.as_object().unwrap().len(), 3);

    let upd = s
        .call(
            Method::PATCH,
            &format!("sobjects/Lead/{id18}"),
            Some(json!({"Title": "CTO"})),
        )
        .await;
    assert_eq!(upd.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get(&format!("sobjects/Lead/{id18}")).await.body["Title"],
        json!("CTO")
    );

    let del = s
        .call(Method::DELETE, &format!("sobjects/Lead/{id18}"), None)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let again = s
        .call(Method::DELETE, &format!("sobjects/Lead/{id18}"), None)
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "ENTITY_IS_DELETED")
    );
    let row = s.admin.row("Lead", &id18).await.unwrap().unwrap();
    assert!(row.is_deleted());
}

#[tokio::test]
async fn upsert_of_new_external_id_answers_201_created() {
    let s = start().await;
    let r = s
        .call(
            Method::PATCH,
            "sobjects/Lead/CustomId__c/EXT-1",
            Some(lead("New")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["created"], json!(true));
    assert_eq!(r.body["success"], json!(true));
    let rows = s.admin.live_rows("Lead").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].str("CustomId__c"), Some("EXT-1"));
}

#[tokio::test]
async fn upsert_of_existing_external_id_answers_200_created_false() {
    let s = start().await;
    let id = s
        .created_id("Lead", with(lead("Old"), json!({"CustomId__c": "EXT-2"})))
        .await;
    let r = s
        .call(
            Method::PATCH,
            "sobjects/Lead/CustomId__c/ext-2",
            Some(json!({"LastName": "Changed"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"id": id, "success": true, "errors": [], "created": false})
    );
    assert_eq!(
        s.admin
            .row("Lead", &id)
            .await
            .unwrap()
            .unwrap()
            .str("LastName"),
        Some("Changed")
    );
}

#[tokio::test]
async fn upsert_matching_several_rows_answers_300_with_their_urls() {
    let s = start().await;
    let mut legacy = FieldDef::new("Legacy__c", FieldType::String);
    legacy.external_id = true;
    s.admin.add_field("Lead", &legacy).await.unwrap();
    let a = s
        .created_id("Lead", with(lead("A"), json!({"Legacy__c": "L1"})))
        .await;
    let b = s
        .created_id("Lead", with(lead("B"), json!({"Legacy__c": "L1"})))
        .await;
    let r = s
        .call(
            Method::PATCH,
            "sobjects/Lead/Legacy__c/L1",
            Some(json!({"Title": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    let urls: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        vec![
            format!("/services/data/v62.0/sobjects/Lead/{a}"),
            format!("/services/data/v62.0/sobjects/Lead/{b}")
        ]
    );
    let get = s.get("sobjects/Lead/Legacy__c/L1").await;
    assert_eq!(get.status, StatusCode::MULTIPLE_CHOICES);
    assert!(s
        .admin
        .live_rows("Lead")
        .await
        .unwrap()
        .iter()
        .all(|r| r.get("Title").is_null()));
}

#[tokio::test]
async fn upsert_with_update_only_refuses_to_create() {
    let s = start().await;
    let r = s
        .call(
            Method::PATCH,
            "sobjects/Lead/CustomId__c/NOPE?updateOnly=true",
            Some(lead("X")),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    assert!(s.admin.rows("Lead").await.unwrap().is_empty());
    s.created_id("Lead", with(lead("Y"), json!({"CustomId__c": "YES"})))
        .await;
    let r = s
        .call(
            Method::PATCH,
            "sobjects/Lead/CustomId__c/YES?updateOnly=true",
            Some(json!({"Title": "t"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn external_id_get_and_delete_address_the_matching_row() {
    let s = start().await;
    let id = s
        .created_id("Account", json!({"Name": "Acme", "CustomId__c": "acc-1"}))
        .await;
    let r = s.get("sobjects/Account/CustomId__c/ACC-1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["Id"], json!(id));
    let missing = s.get("sobjects/Account/CustomId__c/none").await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let del = s
        .call(Method::DELETE, "sobjects/Account/CustomId__c/acc-1", None)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = s
        .call(Method::DELETE, "sobjects/Account/CustomId__c/acc-1", None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let not_ext = s
        .call(
            Method::PATCH,
            "sobjects/Account/Phone/123",
            Some(json!({"Name": "x"})),
        )
        .await;
    assert_eq!(
        (not_ext.status, not_ext.code()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
}

#[tokio::test]
async fn unknown_sobject_and_unknown_path_answer_404() {
    let s = start().await;
    let r = s.create("Foo__c", json!({"Name": "x"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    let r = s.get("nothing/here").await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
}
