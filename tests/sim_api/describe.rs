//! The versions list and describe (global and per SObject), with `If-Modified-Since`.

use crate::harness::*;

#[tokio::test]
async fn versions_list_needs_no_auth_and_is_not_counted() {
    let s = start().await;
    let r = to_reply(
        s.http
            .get(format!("{}/services/data/", s.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.body.as_array().unwrap();
    assert!(list.iter().any(|v| v["version"] == json!("62.0")
        && v["url"] == json!("/services/data/v62.0")
        && v["label"].is_string()));
    assert!(r.headers.get("sforce-limit-info").is_none());
    assert_eq!(s.admin.counters().await.unwrap().api_units_used, 0);
}

#[tokio::test]
async fn describe_global_lists_the_default_sobjects() {
    let s = start().await;
    let r = s.get("sobjects").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["maxBatchSize"], json!(200));
    let names: Vec<&str> = r.body["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["Lead", "Account", "Contact", "Opportunity", "Task"]
    );
    let prefixes: Vec<&str> = r.body["sobjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["keyPrefix"].as_str().unwrap())
        .collect();
    assert_eq!(prefixes, vec!["00Q", "001", "003", "006", "00T"]);
    let lead = &r.body["sobjects"][0];
    assert_eq!(lead["keyPrefix"], json!("00Q"));
    for k in ["label", "createable", "updateable", "deletable", "urls"] {
        assert!(!lead[k].is_null(), "{k}");
    }
}

#[tokio::test]
async fn describe_reports_every_listed_field_attribute() {
    let s = start().await;
    let r = s.get("sobjects/Lead/describe/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], json!("Lead"));
    assert_eq!(r.body["keyPrefix"], json!("00Q"));
    let fields = r.body["fields"].as_array().unwrap();
    let attrs = [
        "name",
        "label",
        "type",
        "soapType",
        "length",
        "createable",
        "updateable",
        "nillable",
        "defaultedOnCreate",
        "externalId",
        "idLookup",
        "unique",
        "caseSensitive",
        "calculated",
        "autoNumber",
        "referenceTo",
        "relationshipName",
        "picklistValues",
        "restrictedPicklist",
    ];
    for f in fields {
        for a in attrs {
            assert!(f.get(a).is_some(), "field {} lacks {a}", f["name"]);
        }
    }
    let field = |n: &str| {
        fields
            .iter()
            .find(|f| f["name"] == json!(n))
            .unwrap()
            .clone()
    };
    assert_eq!(field("CreatedDate")["createable"], json!(false));
    assert_eq!(field("CreatedDate")["updateable"], json!(false));
    assert_eq!(field("OwnerId")["type"], json!("reference"));
    assert_eq!(field("OwnerId")["referenceTo"], json!(["User"]));
    assert_eq!(field("Address")["type"], json!("address"));
    assert_eq!(field("City")["compoundFieldName"], json!("Address"));
    assert_eq!(field("LastName")["nillable"], json!(false));
    assert_eq!(field("Status")["restrictedPicklist"], json!(true));
    assert_eq!(
        field("Status")["picklistValues"][0]["value"],
        json!("Open - Not Contacted")
    );
    let custom = field("CustomId__c");
    assert_eq!(
        (
            custom["externalId"].clone(),
            custom["unique"].clone(),
            custom["type"].clone()
        ),
        (json!(true), json!(true), json!("string"))
    );
}

#[tokio::test]
async fn describe_answers_304_when_the_schema_is_unchanged_since_if_modified_since() {
    let s = start().await;
    let first = s.get("sobjects/Account/describe").await;
    let last_modified = first.headers["last-modified"].to_str().unwrap().to_string();
    for path in ["sobjects/Account/describe", "sobjects"] {
        let r = s
            .http
            .get(format!("{}/services/data/{V}/{path}", s.base))
            .bearer_auth(&s.token)
            .header("If-Modified-Since", &last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path}");
        let r = s
            .http
            .get(format!("{}/services/data/{V}/{path}", s.base))
            .bearer_auth(&s.token)
            .header("If-Modified-Since", "Wed, 3 Jul 2013 19:43:31 GMT")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    s.admin
        .add_field("Account", &FieldDef::new("Region__c", FieldType::String))
        .await
        .unwrap();
    let r = s
        .http
        .get(format!(
            "{}/services/data/{V}/sobjects/Account/describe",
            s.base
        ))
        .bearer_auth(&s.token)
        .header("If-Modified-Since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert!(body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == json!("Region__c")));
}
