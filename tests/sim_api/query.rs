//! SOQL query by External ID.

use crate::harness::*;

#[tokio::test]
async fn query_finds_rows_by_external_id_and_counts_one_unit() {
    let s = start().await;
    let a = s
        .created_id("Lead", with(lead("A"), json!({"CustomId__c": "Q1"})))
        .await;
    s.created_id("Lead", with(lead("B"), json!({"CustomId__c": "Q2"})))
        .await;
    let c = s
        .created_id("Lead", with(lead("C"), json!({"CustomId__c": "Q3"})))
        .await;
    let q = "SELECT Id, CustomId__c FROM Lead WHERE CustomId__c IN ('q1','Q3','none')";
    let r = s
        .http
        .get(format!("{}/services/data/{V}/query", s.base))
        .bearer_auth(&s.token)
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    let r = to_reply(r).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalSize"], json!(2));
    assert_eq!(r.body["done"], json!(true));
    assert_eq!(r.body["records"][0]["Id"], json!(a));
    assert_eq!(r.body["records"][1]["Id"], json!(c));
    assert_eq!(r.body["records"][0]["attributes"]["type"], json!("Lead"));
    let one = s
        .http
        .get(format!("{}/services/data/{V}/query/", s.base))
        .bearer_auth(&s.token)
        .query(&[(
            "q",
            "select LastName from Lead where Id = '".to_string() + &a[..15] + "'",
        )])
        .send()
        .await
        .unwrap();
    let one: Value = one.json().await.unwrap();
    assert_eq!(one["records"][0]["LastName"], json!("A"));
    let bad = to_reply(
        s.http
            .get(format!("{}/services/data/{V}/query", s.base))
            .bearer_auth(&s.token)
            .query(&[("q", "SELECT Nope FROM Lead")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "INVALID_FIELD")
    );
    assert_eq!(s.admin.counters().await.unwrap().of("query"), 3);
}
