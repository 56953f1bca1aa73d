//! The admin API under `/__sim/`: rows, history, counters, reset and schema changes.

use crate::harness::*;

#[tokio::test]
async fn admin_api_shows_deleted_rows_history_and_counters_and_resets() {
    let s = start().await;
    let id = s
        .created_id("Lead", with(lead("H"), json!({"CustomId__c": "H1"})))
        .await;
    s.call(
        Method::PATCH,
        &format!("sobjects/Lead/{id}"),
        Some(json!({"Title": "one"})),
    )
    .await;
    s.call(
        Method::PATCH,
        "sobjects/Lead/CustomId__c/H1",
        Some(json!({"Title": "two"})),
    )
    .await;
    s.call(Method::DELETE, &format!("sobjects/Lead/{id}"), None)
        .await;
    let history = s.admin.history("Lead", &id).await.unwrap();
    let ops: Vec<&str> = history.iter().map(|h| h.operation.as_str()).collect();
    assert_eq!(ops, vec!["create", "update", "upsert", "delete"]);
    assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(history[1].fields.get("Title"), Some(&json!("one")));
    let rows = s.admin.rows("Lead").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].is_deleted());
    assert_eq!(rows[0].get("IsDeleted"), &json!(true));
    let c = s.admin.counters().await.unwrap();
    assert_eq!(
        (
            c.of("sobject.create"),
            c.of("sobject.update"),
            c.of("sobject.upsert"),
            c.of("sobject.delete")
        ),
        (1, 1, 1, 1)
    );
    assert!(c.of("oauth.token") >= 1);

    s.admin
        .set_faults(&FaultPlan::scripted("*", 1, FaultKind::ServerUnavailable))
        .await
        .unwrap();
    s.admin.reset().await.unwrap();
    assert!(s.admin.rows("Lead").await.unwrap().is_empty());
    let c = s.admin.counters().await.unwrap();
    assert_eq!(c.api_units_used, 0);
    assert!(c.calls.is_empty());
    assert_eq!(s.admin.faults().await.unwrap(), FaultPlan::default());
    assert_eq!(s.get("limits").await.status, StatusCode::OK);
}

#[tokio::test]
async fn schema_changes_through_the_admin_api_change_the_rules() {
    let s = start().await;
    let id = s.created_id("Lead", lead("S")).await;
    s.admin
        .patch_field(
            "Lead",
            "Title",
            &FieldPatch {
                updateable: Some(false),
                ..FieldPatch::default()
            },
        )
        .await
        .unwrap();
    let r = s
        .call(
            Method::PATCH,
            &format!("sobjects/Lead/{id}"),
            Some(json!({"Title": "x"})),
        )
        .await;
    assert_eq!(r.code(), "INVALID_FIELD_FOR_INSERT_UPDATE");
    assert_eq!(r.body[0]["fields"], json!(["Title"]));

    let mut f = FieldDef::new("Score__c", FieldType::Double);
    f.label = "Score".into();
    s.admin.add_field("Lead", &f).await.unwrap();
    let r = s
        .call(
            Method::PATCH,
            &format!("sobjects/Lead/{id}"),
            Some(json!({"Score__c": 7.5})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    s.admin
        .add_duplicate_rule(&DuplicateRule {
            name: "Account_Name".into(),
            sobject: "Account".into(),
            fields: vec!["Name".into()],
        })
        .await
        .unwrap();
    s.created_id("Account", json!({"Name": "Acme"})).await;
    let dup = s.create("Account", json!({"Name": "ACME"})).await;
    assert_eq!(dup.code(), "DUPLICATES_DETECTED");
    let schema = s.admin.schema().await.unwrap();
    assert!(schema.sobject("Lead").unwrap().field("score__c").is_some());
    assert!(schema
        .duplicate_rules
        .iter()
        .any(|r| r.name == "Account_Name"));
}
