//! The rules that make a write fail, on the single-record and Collections paths alike.

use crate::harness::*;

/// How a rule case is sent on the single-record path.
enum SinglePath {
    Create(&'static str, Value),
    Update(&'static str, String, Value),
}

struct RuleCase {
    name: &'static str,
    single: SinglePath,
    status: StatusCode,
    code: &'static str,
    /// The same record inside a Collections call: (method, path, record).
    collection: (Method, &'static str, Value),
}

#[tokio::test]
async fn every_write_rule_fails_with_its_code_on_single_and_collections_paths() {
    let s = start().await;
    let existing = s
        .created_id(
            "Lead",
            with(
                lead("Existing"),
                json!({"CustomId__c": "TAKEN", "Email": "taken@x.example"}),
            ),
        )
        .await;
    let deleted = s.created_id("Lead", lead("Deleted")).await;
    s.call(Method::DELETE, &format!("sobjects/Lead/{deleted}"), None)
        .await;
    let account = s.created_id("Account", json!({"Name": "Acme"})).await;
    let never = unused_id("00Q");
    let bad_checksum = format!("{}AAA", &existing[..15]);
    let missing_account = unused_id("001");

    let cases = vec![
        RuleCase {
            name: "field not on the SObject",
            single: SinglePath::Create("Lead", with(lead("x"), json!({"Nope__c": "1"}))),
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_FIELD",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed("Lead", with(lead("x"), json!({"Nope__c": "1"}))),
            ),
        },
        RuleCase {
            name: "read-only field written",
            single: SinglePath::Create(
                "Lead",
                with(lead("x"), json!({"CreatedDate": "2024-01-01T00:00:00Z"})),
            ),
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_FIELD_FOR_INSERT_UPDATE",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed(
                    "Lead",
                    with(lead("x"), json!({"CreatedDate": "2024-01-01T00:00:00Z"})),
                ),
            ),
        },
        RuleCase {
            name: "Id in an insert body",
            single: SinglePath::Create("Lead", with(lead("x"), json!({"Id": existing.clone()}))),
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_FIELD_FOR_INSERT_UPDATE",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed("Lead", with(lead("x"), json!({"Id": existing.clone()}))),
            ),
        },
        RuleCase {
            name: "required field missing",
            single: SinglePath::Create("Lead", json!({"Company": "c"})),
            status: StatusCode::BAD_REQUEST,
            code: "REQUIRED_FIELD_MISSING",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed("Lead", json!({"Company": "c"})),
            ),
        },
        RuleCase {
            name: "string too long",
            single: SinglePath::Create(
                "Lead",
                with(lead("x"), json!({"FirstName": "f".repeat(41)})),
            ),
            status: StatusCode::BAD_REQUEST,
            code: "STRING_TOO_LONG",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed(
                    "Lead",
                    with(lead("x"), json!({"FirstName": "f".repeat(41)})),
                ),
            ),
        },
        RuleCase {
            name: "restricted picklist",
            single: SinglePath::Create("Lead", with(lead("x"), json!({"Status": "Bogus"}))),
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed("Lead", with(lead("x"), json!({"Status": "Bogus"}))),
            ),
        },
        RuleCase {
            name: "unique field already used",
            single: SinglePath::Create("Lead", with(lead("x"), json!({"CustomId__c": "taken"}))),
            status: StatusCode::BAD_REQUEST,
            code: "DUPLICATE_VALUE",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed("Lead", with(lead("x"), json!({"CustomId__c": "taken"}))),
            ),
        },
        RuleCase {
            name: "duplicate rule on Email",
            single: SinglePath::Create(
                "Lead",
                with(lead("x"), json!({"Email": "TAKEN@x.example"})),
            ),
            status: StatusCode::BAD_REQUEST,
            code: "DUPLICATES_DETECTED",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed("Lead", with(lead("x"), json!({"Email": "TAKEN@x.example"}))),
            ),
        },
        RuleCase {
            name: "Id that never existed",
            single: SinglePath::Update("Lead", never.clone(), json!({"Title": "t"})),
            status: StatusCode::NOT_FOUND,
            code: "NOT_FOUND",
            collection: (
                Method::PATCH,
                "composite/sobjects",
                typed("Lead", json!({"id": never.clone(), "Title": "t"})),
            ),
        },
        RuleCase {
            name: "Id with the wrong key prefix",
            single: SinglePath::Update("Lead", account.clone(), json!({"Title": "t"})),
            status: StatusCode::NOT_FOUND,
            code: "NOT_FOUND",
            collection: (
                Method::PATCH,
                "composite/sobjects",
                typed("Lead", json!({"id": account.clone(), "Title": "t"})),
            ),
        },
        RuleCase {
            name: "Id with a bad checksum",
            single: SinglePath::Update("Lead", bad_checksum.clone(), json!({"Title": "t"})),
            status: StatusCode::BAD_REQUEST,
            code: "MALFORMED_ID",
            collection: (
                Method::PATCH,
                "composite/sobjects",
                typed("Lead", json!({"id": bad_checksum.clone(), "Title": "t"})),
            ),
        },
        RuleCase {
            name: "Id of a deleted row",
            single: SinglePath::Update("Lead", deleted.clone(), json!({"Title": "t"})),
            status: StatusCode::NOT_FOUND,
            code: "ENTITY_IS_DELETED",
            collection: (
                Method::PATCH,
                "composite/sobjects",
                typed("Lead", json!({"id": deleted.clone(), "Title": "t"})),
            ),
        },
        RuleCase {
            name: "reference to no row",
            single: SinglePath::Create(
                "Contact",
                json!({"LastName": "c", "AccountId": missing_account.clone()}),
            ),
            status: StatusCode::BAD_REQUEST,
            code: "INVALID_CROSS_REFERENCE_KEY",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed(
                    "Contact",
                    json!({"LastName": "c", "AccountId": missing_account.clone()}),
                ),
            ),
        },
        RuleCase {
            name: "reference that is not an Id",
            single: SinglePath::Create(
                "Contact",
                json!({"LastName": "c", "AccountId": "not-an-id"}),
            ),
            status: StatusCode::BAD_REQUEST,
            code: "MALFORMED_ID",
            collection: (
                Method::POST,
                "composite/sobjects",
                typed(
                    "Contact",
                    json!({"LastName": "c", "AccountId": "not-an-id"}),
                ),
            ),
        },
    ];

    for case in cases {
        let before = s
            .admin
            .rows(if case.name.starts_with("reference") {
                "Contact"
            } else {
                "Lead"
            })
            .await
            .unwrap();
        let r = match &case.single {
            SinglePath::Create(t, body) => s.create(t, body.clone()).await,
            SinglePath::Update(t, id, body) => {
                s.call(
                    Method::PATCH,
                    &format!("sobjects/{t}/{id}"),
                    Some(body.clone()),
                )
                .await
            }
        };
        assert_eq!(
            r.status, case.status,
            "single path, {}: {}",
            case.name, r.text
        );
        assert_eq!(r.code(), case.code, "single path, {}", case.name);
        assert!(r.body[0]["message"].is_string());

        let (method, path, record) = case.collection;
        let good = typed("Lead", lead("Fine"));
        let c = s
            .collections(method.clone(), path, false, vec![record.clone()])
            .await;
        assert_eq!(c.status, StatusCode::OK, "collections, {}", case.name);
        assert_eq!(
            c.body[0]["success"],
            json!(false),
            "collections, {}",
            case.name
        );
        assert_eq!(
            c.body[0]["errors"][0]["statusCode"],
            json!(case.code),
            "collections, {}: {}",
            case.name,
            c.text
        );
        let after = s
            .admin
            .rows(if case.name.starts_with("reference") {
                "Contact"
            } else {
                "Lead"
            })
            .await
            .unwrap();
        assert_eq!(before, after, "{} wrote nothing", case.name);
        if method == Method::POST {
            let c = s.collections(method, path, true, vec![good, record]).await;
            assert_eq!(
                c.body[0]["errors"][0]["statusCode"],
                json!("ALL_OR_NONE_OPERATION_ROLLED_BACK"),
                "{}",
                case.name
            );
            assert_eq!(
                c.body[1]["errors"][0]["statusCode"],
                json!(case.code),
                "{}",
                case.name
            );
        }
    }
}

#[tokio::test]
async fn wrong_json_types_fail_the_whole_request_with_json_parser_error() {
    let s = start().await;
    let bad_values = [
        json!({"NumberOfEmployees": "many"}),
        json!({"IsUnreadByOwner": "true"}),
        json!({"AnnualRevenue": "lots"}),
    ];
    for bad in bad_values {
        let r = s.create("Lead", with(lead("x"), bad.clone())).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR"),
            "{bad}"
        );
        let recs = vec![
            typed("Lead", lead("good before")),
            typed("Lead", with(lead("x"), bad.clone())),
        ];
        let c = s
            .collections(Method::POST, "composite/sobjects", false, recs)
            .await;
        assert_eq!(
            (c.status, c.code()),
            (StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR"),
            "{bad}"
        );
    }
    let r = s
        .create(
            "Contact",
            json!({"LastName": "c", "Birthdate": "31/12/2000"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR")
    );
    assert!(
        s.admin.rows("Lead").await.unwrap().is_empty(),
        "nothing of a rejected request is written"
    );
    let numeric_string = s
        .create(
            "Lead",
            with(
                lead("x"),
                json!({"NumberOfEmployees": "140", "AnnualRevenue": "2500000"}),
            ),
        )
        .await;
    assert_eq!(numeric_string.status, StatusCode::CREATED);
}

#[tokio::test]
async fn same_external_id_twice_in_one_upsert_call_fails_both_with_duplicate_value() {
    let s = start().await;
    let recs = vec![
        typed("Lead", with(lead("A"), json!({"CustomId__c": "TWICE"}))),
        typed("Lead", with(lead("B"), json!({"CustomId__c": "twice"}))),
        typed("Lead", with(lead("C"), json!({"CustomId__c": "ONCE"}))),
    ];
    let r = s
        .collections(
            Method::PATCH,
            "composite/sobjects/Lead/CustomId__c",
            false,
            recs,
        )
        .await;
    assert_eq!(
        r.body[0]["errors"][0]["statusCode"],
        json!("DUPLICATE_VALUE")
    );
    assert_eq!(
        r.body[1]["errors"][0]["statusCode"],
        json!("DUPLICATE_VALUE")
    );
    assert_eq!(r.body[2]["success"], json!(true));
    assert_eq!(s.admin.live_rows("Lead").await.unwrap().len(), 1);
}

#[tokio::test]
async fn duplicate_rule_header_allow_save_lets_a_match_through() {
    let s = start().await;
    s.created_id("Lead", with(lead("A"), json!({"Email": "same@x.example"})))
        .await;
    let r = s
        .http
        .post(format!("{}/services/data/{V}/sobjects/Lead", s.base))
        .bearer_auth(&s.token)
        .header("Sforce-Duplicate-Rule-Header", "allowSave=true")
        .json(&with(lead("B"), json!({"Email": "same@x.example"})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn spent_daily_allocation_answers_403_on_single_and_collections_calls() {
    let s = start().await;
    s.admin
        .set_limits(&LimitsUpdate {
            max: Some(10),
            used: Some(10),
        })
        .await
        .unwrap();
    let single = s.create("Lead", lead("x")).await;
    assert_eq!(
        (single.status, single.code()),
        (StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED")
    );
    assert_eq!(
        single.body[0]["message"],
        json!("TotalRequests Limit exceeded.")
    );
    let coll = s
        .collections(
            Method::POST,
            "composite/sobjects",
            false,
            vec![typed("Lead", lead("x"))],
        )
        .await;
    assert_eq!(
        (coll.status, coll.code()),
        (StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED")
    );
    assert!(s.admin.rows("Lead").await.unwrap().is_empty());
    s.admin
        .set_limits(&LimitsUpdate {
            max: Some(11),
            used: None,
        })
        .await
        .unwrap();
    assert_eq!(
        s.create("Lead", lead("x")).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        s.create("Lead", lead("y")).await.status,
        StatusCode::FORBIDDEN
    );
}
