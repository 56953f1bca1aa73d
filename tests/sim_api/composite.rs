//! The Composite resource: subrequests in order, references between them, one API unit,
//! Salesforce's limits and errors, all-or-none rollback, per-transaction limits and faults.

use crate::harness::*;

fn results(r: &Reply) -> &Vec<Value> {
    r.body["compositeResponse"]
        .as_array()
        .unwrap_or_else(|| panic!("no compositeResponse: {}", r.text))
}

fn statuses(r: &Reply) -> Vec<u64> {
    results(r)
        .iter()
        .map(|x| x["httpStatusCode"].as_u64().unwrap())
        .collect()
}

fn leads(n: usize, tag: &str) -> Vec<Value> {
    (0..n)
        .map(|i| typed("Lead", lead(&format!("{tag}{i}"))))
        .collect()
}

async fn live(s: &Sim, sobject: &str) -> usize {
    s.admin.live_rows(sobject).await.unwrap().len()
}

#[tokio::test]
async fn subrequests_run_in_order_with_references_and_count_as_one_api_call() {
    let s = start().await;
    let before = s.admin.counters().await.unwrap();
    let r = s
        .composite(
            false,
            vec![
                sub(
                    "POST",
                    "sobjects/Account",
                    "acct",
                    Some(json!({"Name": "Acme"})),
                ),
                sub(
                    "POST",
                    "sobjects/Contact",
                    "contact",
                    Some(json!({"LastName": "Okafor", "AccountId": "@{acct.id}"})),
                ),
                sub(
                    "PATCH",
                    "sobjects/Contact/@{contact.id}",
                    "retitle",
                    Some(json!({"Title": "CTO"})),
                ),
                sub(
                    "GET",
                    "sobjects/Contact/@{contact.id}?fields=AccountId,Title",
                    "read",
                    None,
                ),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(statuses(&r), vec![201, 201, 204, 200]);
    let items = results(&r);
    let ids: Vec<&str> = items
        .iter()
        .map(|x| x["referenceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["acct", "contact", "retitle", "read"]);
    let account_id = items[0]["body"]["id"].as_str().unwrap();
    assert_eq!(items[0]["body"]["success"], json!(true));
    assert_eq!(
        items[0]["httpHeaders"]["Location"],
        json!(format!("/services/data/{V}/sobjects/Account/{account_id}"))
    );
    assert_eq!(items[2]["body"], Value::Null);
    assert_eq!(items[3]["body"]["AccountId"], json!(account_id));
    assert_eq!(items[3]["body"]["Title"], json!("CTO"));
    let contact_id = items[1]["body"]["id"].as_str().unwrap();
    let row = s.admin.row("Contact", contact_id).await.unwrap().unwrap();
    assert_eq!(row.str("AccountId"), Some(account_id));
    assert_eq!(row.str("Title"), Some("CTO"));

    // One call, one API unit, its own endpoint counter.
    let after = s.admin.counters().await.unwrap();
    assert_eq!(after.api_units_used, before.api_units_used + 1);
    assert_eq!(after.of("composite"), 1);
    assert_eq!(after.of("sobject.create"), before.of("sobject.create"));
    assert_eq!(r.units().0, after.api_units_used);
    let limits = s.get("limits").await;
    assert_eq!(
        limits.body["DailyApiRequests"]["Remaining"],
        json!(after.api_units_max - after.api_units_used - 1)
    );
}

#[tokio::test]
async fn five_collections_subrequests_carry_a_thousand_records_answered_as_plain_calls() {
    let s = start().await;
    let mut subs: Vec<Value> = (0..5)
        .map(|b| {
            sub(
                "POST",
                "composite/sobjects",
                &format!("batch{b}"),
                Some(json!({"allOrNone": false, "records": leads(200, &format!("B{b}-"))})),
            )
        })
        .collect();
    // One record breaks a rule: the subrequest reports it exactly as a plain call does.
    subs[4]["body"]["records"][199] = typed("Lead", json!({"Company": "NoName"}));
    let r = s.composite(false, subs).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(statuses(&r), vec![200; 5]);
    assert_eq!(live(&s, "Lead").await, 999);
    let last = results(&r)[4]["body"].as_array().unwrap();
    assert_eq!(last.len(), 200);
    assert_eq!(last[0]["success"], json!(true));
    let plain = s
        .collections(
            Method::POST,
            "composite/sobjects",
            false,
            vec![typed("Lead", json!({"Company": "NoName"}))],
        )
        .await;
    assert_eq!(last[199], plain.body[0]);
    assert_eq!(
        last[199]["errors"][0]["statusCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(s.admin.counters().await.unwrap().of("composite"), 1);
}

#[tokio::test]
async fn salesforces_subrequest_limits_refuse_the_whole_request() {
    let s = start().await;
    let six: Vec<Value> = (0..6)
        .map(|b| {
            sub(
                "POST",
                "composite/sobjects",
                &format!("c{b}"),
                Some(json!({"records": leads(1, &format!("C{b}-"))})),
            )
        })
        .collect();
    let r = s.composite(false, six).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.code(), "LIMIT_EXCEEDED");

    let query_heavy: Vec<Value> = (0..6)
        .map(|i| sub("GET", "query?q=SELECT+Id+FROM+Lead", &format!("q{i}"), None))
        .collect();
    let r = s.composite(false, query_heavy).await;
    assert_eq!(r.code(), "LIMIT_EXCEEDED");

    let many: Vec<Value> = (0..26)
        .map(|i| {
            sub(
                "POST",
                "sobjects/Lead",
                &format!("l{i}"),
                Some(lead(&format!("L{i}"))),
            )
        })
        .collect();
    let r = s.composite(false, many.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "LIMIT_EXCEEDED");
    let r = s.composite(false, many[..25].to_vec()).await;
    assert_eq!(statuses(&r), vec![201; 25]);
    assert_eq!(live(&s, "Lead").await, 25);
}

#[tokio::test]
async fn reference_ids_must_be_given_unique_and_well_formed() {
    let s = start().await;
    let one = |id: &str| sub("POST", "sobjects/Lead", id, Some(lead("A")));
    let missing = json!({"method": "POST", "url": format!("/services/data/{V}/sobjects/Lead"), "body": lead("A")});
    let r = s.composite(false, vec![missing]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "JSON_PARSER_ERROR");
    for bad in ["bad-id", "_lead", "", "a b"] {
        let r = s.composite(false, vec![one(bad)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.code(), "INVALID_API_INPUT", "{bad}");
    }
    let r = s.composite(false, vec![one("same"), one("same")]).await;
    assert_eq!(r.code(), "INVALID_API_INPUT");
    assert!(r.body[0]["message"].as_str().unwrap().contains("same"));
    let mut with_auth = one("auth");
    with_auth["httpHeaders"] = json!({"Authorization": "Bearer x"});
    let r = s.composite(false, vec![with_auth]).await;
    assert_eq!(r.code(), "INVALID_API_INPUT");
    let bulk = sub(
        "POST",
        "jobs/ingest",
        "job",
        Some(json!({"object": "Lead", "operation": "insert"})),
    );
    let r = s.composite(false, vec![bulk]).await;
    assert_eq!(r.code(), "INVALID_API_INPUT");
    assert_eq!(
        live(&s, "Lead").await,
        0,
        "a refused composite writes nothing"
    );
    let r = s.composite(false, vec![one("Lead_1")]).await;
    assert_eq!(statuses(&r), vec![201]);
}

#[tokio::test]
async fn all_or_none_rolls_everything_back_and_halts_the_other_subrequests() {
    let s = start().await;
    let r = s
        .composite(
            true,
            vec![
                sub(
                    "POST",
                    "sobjects/Account",
                    "acct",
                    Some(json!({"Name": "Acme"})),
                ),
                sub(
                    "POST",
                    "sobjects/Contact",
                    "bad",
                    Some(json!({"Title": "No name"})),
                ),
                sub("POST", "sobjects/Lead", "after", Some(lead("Later"))),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(statuses(&r), vec![400, 400, 400]);
    let items = results(&r);
    for halted in [&items[0], &items[2]] {
        assert_eq!(halted["body"][0]["errorCode"], json!("PROCESSING_HALTED"));
        assert_eq!(
            halted["body"][0]["message"],
            json!("The transaction was rolled back since another operation in the same transaction failed.")
        );
    }
    assert_eq!(
        items[1]["body"][0]["errorCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(live(&s, "Account").await, 0);
    assert_eq!(s.admin.rows("Account").await.unwrap().len(), 0);
    assert_eq!(live(&s, "Lead").await, 0);

    // A Collections subrequest runs all-or-none under an all-or-none composite, whatever
    // its own flag says.
    let r = s
        .composite(
            true,
            vec![
                sub(
                    "POST",
                    "composite/sobjects",
                    "leads",
                    Some(json!({"allOrNone": false, "records": [
                        typed("Lead", lead("Good")),
                        typed("Lead", json!({"Company": "NoName"})),
                    ]})),
                ),
                sub(
                    "POST",
                    "sobjects/Account",
                    "acct",
                    Some(json!({"Name": "Acme"})),
                ),
            ],
        )
        .await;
    assert_eq!(statuses(&r), vec![200, 400]);
    let items = results(&r);
    assert_eq!(
        items[0]["body"][0]["errors"][0]["statusCode"],
        json!("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    );
    assert_eq!(
        items[0]["body"][1]["errors"][0]["statusCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(items[1]["body"][0]["errorCode"], json!("PROCESSING_HALTED"));
    assert_eq!(live(&s, "Lead").await, 0);
    assert_eq!(live(&s, "Account").await, 0);

    // The same under allOrNone=false: the Collections subrequest keeps its good record.
    let r = s
        .composite(
            false,
            vec![sub(
                "POST",
                "composite/sobjects",
                "leads",
                Some(json!({"allOrNone": false, "records": [
                    typed("Lead", lead("Good")),
                    typed("Lead", json!({"Company": "NoName"})),
                ]})),
            )],
        )
        .await;
    assert_eq!(results(&r)[0]["body"][0]["success"], json!(true));
    assert_eq!(live(&s, "Lead").await, 1);
}

#[tokio::test]
async fn without_all_or_none_only_subrequests_that_depend_on_a_failure_are_skipped() {
    let s = start().await;
    let r = s
        .composite(
            false,
            vec![
                sub(
                    "POST",
                    "sobjects/Account",
                    "acct",
                    Some(json!({"Industry": "Energy"})),
                ),
                sub(
                    "POST",
                    "sobjects/Contact",
                    "contact",
                    Some(json!({"LastName": "Okafor", "AccountId": "@{acct.id}"})),
                ),
                sub("POST", "sobjects/Lead", "lead", Some(lead("Independent"))),
                sub("GET", "sobjects/Lead/@{nobody.id}", "ghost", None),
            ],
        )
        .await;
    assert_eq!(statuses(&r), vec![400, 400, 201, 400]);
    let items = results(&r);
    assert_eq!(
        items[0]["body"][0]["errorCode"],
        json!("REQUIRED_FIELD_MISSING")
    );
    assert_eq!(items[1]["body"][0]["errorCode"], json!("PROCESSING_HALTED"));
    assert_eq!(
        items[1]["body"][0]["message"],
        json!("Invalid reference specified. No value for acct.id found in acct")
    );
    assert_eq!(items[3]["body"][0]["errorCode"], json!("PROCESSING_HALTED"));
    assert_eq!(live(&s, "Lead").await, 1);
    assert_eq!(live(&s, "Contact").await, 0);
}

#[tokio::test]
async fn a_composite_over_the_transaction_record_limit_fails_as_a_whole() {
    let s = start().await;
    s.admin
        .set_faults(&FaultPlan {
            transaction_record_limit: Some(300),
            ..FaultPlan::default()
        })
        .await
        .unwrap();
    let two = |tag: &str| {
        (0..2)
            .map(|b| {
                sub(
                    "POST",
                    "composite/sobjects",
                    &format!("b{b}"),
                    Some(json!({"records": leads(200, &format!("{tag}{b}-"))})),
                )
            })
            .collect::<Vec<_>>()
    };
    let r = s.composite(false, two("T")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.code(), "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY");
    assert!(r.body[0]["message"]
        .as_str()
        .unwrap()
        .contains("System.LimitException"));
    assert_eq!(live(&s, "Lead").await, 0);
    // The same records as two plain Collections calls stay within the limit.
    for b in 0..2 {
        let plain = s
            .collections(
                Method::POST,
                "composite/sobjects",
                false,
                leads(200, &format!("P{b}-")),
            )
            .await;
        assert_eq!(plain.status, StatusCode::OK);
    }
    assert_eq!(live(&s, "Lead").await, 400);
    // A plain call over the limit fails the same way.
    let big = s
        .collections(Method::POST, "composite/sobjects", false, leads(200, "Q"))
        .await;
    assert_eq!(big.status, StatusCode::OK);
    s.admin
        .set_faults(&FaultPlan {
            transaction_record_limit: Some(100),
            ..FaultPlan::default()
        })
        .await
        .unwrap();
    let over = s
        .collections(Method::POST, "composite/sobjects", false, leads(101, "R"))
        .await;
    assert_eq!(over.code(), "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY");

    // The limit can come with the org's configuration too.
    let mut org = test_org("b");
    org.faults.transaction_record_limit = Some(1);
    let t = start_with(org).await;
    let r = t
        .composite(
            false,
            vec![
                sub("POST", "sobjects/Lead", "a", Some(lead("A"))),
                sub("POST", "sobjects/Lead", "b", Some(lead("B"))),
            ],
        )
        .await;
    assert_eq!(r.code(), "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY");
}

#[tokio::test]
async fn faults_hit_a_composite_as_a_whole_or_its_records() {
    let s = start().await;
    let body = || {
        vec![
            sub(
                "POST",
                "composite/sobjects",
                "leads",
                Some(json!({"records": leads(3, "F")})),
            ),
            sub(
                "POST",
                "sobjects/Account",
                "acct",
                Some(json!({"Name": "Acme"})),
            ),
        ]
    };
    s.admin
        .set_faults(&FaultPlan::scripted(
            "composite",
            1,
            FaultKind::ServerUnavailable,
        ))
        .await
        .unwrap();
    let r = s.composite(false, body()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.code(), "SERVER_UNAVAILABLE");
    assert_eq!(live(&s, "Lead").await, 0);

    s.admin
        .set_faults(&FaultPlan::scripted(
            "composite",
            1,
            FaultKind::UnableToLockRow,
        ))
        .await
        .unwrap();
    let r = s.composite(false, body()).await;
    assert_eq!(statuses(&r), vec![200, 400]);
    let items = results(&r);
    for record in items[0]["body"].as_array().unwrap() {
        assert_eq!(
            record["errors"][0]["statusCode"],
            json!("UNABLE_TO_LOCK_ROW")
        );
    }
    assert_eq!(
        items[1]["body"][0]["errorCode"],
        json!("UNABLE_TO_LOCK_ROW")
    );
    assert_eq!(live(&s, "Lead").await, 0);

    s.admin
        .set_faults(&FaultPlan {
            timeout_after_ms: 150,
            ..FaultPlan::scripted("composite", 1, FaultKind::Timeout)
        })
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let r = s.composite(false, body()).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "QUERY_TIMEOUT");
    assert_eq!(live(&s, "Lead").await, 0);
    assert_eq!(live(&s, "Account").await, 0);
    let r = s.composite(false, body()).await;
    assert_eq!(statuses(&r), vec![200, 201]);
    assert_eq!(live(&s, "Lead").await, 3);
}
