//! Black-box tests of the Salesforce org simulator: each test starts its own simulator
//! in-process on port 0 and talks to it over real HTTP, as a client library would.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sobject_sink::salesforce::id;
use sobject_sink::sim::admin::LimitsUpdate;
use sobject_sink::sim::org::FieldPatch;
use sobject_sink::sim::schema::{DuplicateRule, FieldDef, FieldType};
use sobject_sink::sim::{
    self, FaultKind, FaultPlan, OrgConfig, ScriptedFault, SimAdmin, SimConfig, SimHandle,
};
use std::time::Duration;

const V: &str = "v62.0";

struct Sim {
    handle: SimHandle,
    base: String,
    admin: SimAdmin,
    http: reqwest::Client,
    token: String,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    text: String,
}

impl Reply {
    fn code(&self) -> &str {
        self.body[0]["errorCode"].as_str().unwrap_or_default()
    }

    fn units(&self) -> (u64, u64) {
        let v = self.headers["sforce-limit-info"].to_str().unwrap();
        let rest = v.strip_prefix("api-usage=").expect("api-usage= first");
        let (used, max) = rest.split_once('/').unwrap();
        (used.parse().unwrap(), max.parse().unwrap())
    }
}

fn test_org(name: &str) -> OrgConfig {
    let mut org = OrgConfig::named(name, "127.0.0.1:0".parse().unwrap());
    org.bulk_delay_ms = 0;
    org.history = true;
    org
}

async fn start_with(org: OrgConfig) -> Sim {
    let handle = sim::start(SimConfig::single(org.clone())).await.unwrap();
    let base = handle.base_url(&org.name).unwrap();
    let admin = handle.admin(&org.name).unwrap();
    let http = reqwest::Client::new();
    let mut s = Sim {
        handle,
        base,
        admin,
        http,
        token: String::new(),
    };
    s.token = s.login().await;
    s
}

async fn start() -> Sim {
    start_with(test_org("b")).await
}

impl Sim {
    async fn token_request(&self, form: &[(&str, &str)]) -> Reply {
        let r = self
            .http
            .post(format!("{}/services/oauth2/token", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        to_reply(r).await
    }

    async fn login(&self) -> String {
        let r = self
            .token_request(&[
                ("grant_type", "password"),
                ("client_id", "sim-consumer-key"),
                ("client_secret", "sim-consumer-secret"),
                ("username", "integration@org-b.example"),
                ("password", "sim-passwordSIMTOKEN"),
            ])
            .await;
        if r.status != StatusCode::OK {
            // Orgs other than `b` have their own username.
            let info = self.admin.org_info().await.unwrap();
            let r = self
                .token_request(&[
                    ("grant_type", "password"),
                    ("client_id", "sim-consumer-key"),
                    ("username", info.username.as_str()),
                    ("password", "sim-passwordSIMTOKEN"),
                ])
                .await;
            return r.body["access_token"].as_str().unwrap().to_string();
        }
        r.body["access_token"].as_str().unwrap().to_string()
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_with(method, path, body, &self.token).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, format!("{}/services/data/{V}/{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        to_reply(req.send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn create(&self, t: &str, body: Value) -> Reply {
        self.call(Method::POST, &format!("sobjects/{t}/"), Some(body))
            .await
    }

    async fn created_id(&self, t: &str, body: Value) -> String {
        let r = self.create(t, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    async fn collections(
        &self,
        method: Method,
        path: &str,
        all_or_none: bool,
        records: Vec<Value>,
    ) -> Reply {
        self.call(
            method,
            path,
            Some(json!({"allOrNone": all_or_none, "records": records})),
        )
        .await
    }

    async fn wait_for_job(&self, job: &str) -> Value {
        for _ in 0..500 {
            let r = self.get(&format!("jobs/ingest/{job}")).await;
            let state = r.body["state"].as_str().unwrap().to_string();
            if matches!(state.as_str(), "JobComplete" | "Failed" | "Aborted") {
                return r.body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {job} never finished");
    }
}

async fn to_reply(r: reqwest::Response) -> Reply {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

fn lead(last: &str) -> Value {
    json!({"LastName": last, "Company": "Northwind"})
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut base, extra) {
        a.extend(b);
    }
    base
}

fn typed(t: &str, v: Value) -> Value {
    with(json!({"attributes": {"type": t}}), v)
}

/// An Id with a valid checksum that no row has.
fn unused_id(prefix: &str) -> String {
    id::to_18(&format!("{prefix}5e0zzzzzzzzz")).unwrap()
}

// ---------- 1. OAuth ----------

#[tokio::test]
async fn password_flow_answers_the_documented_token_fields() {
    let s = start().await;
    let r = s
        .token_request(&[
            ("grant_type", "password"),
            ("client_id", "sim-consumer-key"),
            ("client_secret", "sim-consumer-secret"),
            ("username", "integration@org-b.example"),
            ("password", "sim-passwordSIMTOKEN"),
        ])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json;charset=UTF-8"));
    let b = &r.body;
    assert!(b["access_token"].as_str().unwrap().contains('!'));
    assert_eq!(b["instance_url"], json!(s.base));
    assert_eq!(b["token_type"], json!("Bearer"));
    assert_eq!(b["issued_at"].as_str().unwrap().len(), 13);
    assert!(!b["signature"].as_str().unwrap().is_empty());
    let id_url = b["id"].as_str().unwrap();
    let parts: Vec<&str> = id_url
        .trim_start_matches(&format!("{}/id/", s.base))
        .split('/')
        .collect();
    assert_eq!(parts.len(), 2);
    assert!(parts[0].starts_with("00D") && id::normalize(parts[0]).unwrap() == parts[0]);
    assert!(parts[1].starts_with("005") && id::normalize(parts[1]).unwrap() == parts[1]);
}

#[tokio::test]
async fn client_credentials_flow_accepts_form_fields_and_basic_auth() {
    let s = start().await;
    let r = s
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-consumer-key"),
            ("client_secret", "sim-consumer-secret"),
        ])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .http
        .post(format!("{}/services/oauth2/token", s.base))
        .basic_auth("sim-consumer-key", Some("sim-consumer-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let r = to_reply(r).await;
    assert_eq!(r.status, StatusCode::OK);
    let token = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        s.call_with(Method::GET, "limits", None, token).await.status,
        StatusCode::OK
    );
    let bad = s
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-consumer-key"),
            ("client_secret", "nope"),
        ])
        .await;
    assert_eq!(bad.body["error"], json!("invalid_client"));
}

#[tokio::test]
async fn login_failures_answer_the_oauth_error_codes() {
    let s = start().await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("grant_type", "password"),
                ("client_id", "sim-consumer-key"),
                ("username", "integration@org-b.example"),
                ("password", "sim-password"),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", "sim-consumer-key"),
                ("username", "someone@else.example"),
                ("password", "sim-passwordSIMTOKEN"),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", "wrong-key"),
                ("username", "integration@org-b.example"),
                ("password", "sim-passwordSIMTOKEN"),
            ],
            "invalid_client_id",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", "sim-consumer-key"),
                ("client_secret", "wrong"),
                ("username", "integration@org-b.example"),
                ("password", "sim-passwordSIMTOKEN"),
            ],
            "invalid_client",
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", "x")],
            "unsupported_grant_type",
        ),
        (
            vec![("client_id", "sim-consumer-key")],
            "unsupported_grant_type",
        ),
    ];
    for (form, expected) in cases {
        let r = s.token_request(&form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(r.body["error"], json!(expected), "{form:?}");
        assert!(r.body["error_description"].is_string());
    }
    let r = s
        .token_request(&[
            ("grant_type", "password"),
            ("client_id", "sim-consumer-key"),
            ("username", "integration@org-b.example"),
            ("password", "bad"),
        ])
        .await;
    assert_eq!(
        r.body,
        json!({"error": "invalid_grant", "error_description": "authentication failure"})
    );
}

struct KeyPair {
    private_pem: Vec<u8>,
    public_pem: String,
}

fn key_pair() -> KeyPair {
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let pkey = openssl::pkey::PKey::from_rsa(rsa).unwrap();
    KeyPair {
        private_pem: pkey.private_key_to_pem_pkcs8().unwrap(),
        public_pem: String::from_utf8(pkey.public_key_to_pem().unwrap()).unwrap(),
    }
}

fn assertion(keys: &KeyPair, iss: &str, sub: &str, aud: &str, exp_offset: i64) -> String {
    let exp = chrono::Utc::now().timestamp() + exp_offset;
    let claims = json!({"iss": iss, "sub": sub, "aud": aud, "exp": exp});
    encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(&keys.private_pem).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_bearer_flow_accepts_a_signed_assertion_and_refuses_bad_ones() {
    let keys = key_pair();
    let other = key_pair();
    let mut org = test_org("b");
    org.jwt_public_key_pem = Some(keys.public_pem.clone());
    let s = start_with(org).await;
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let user = "integration@org-b.example";

    let good = assertion(&keys, "sim-consumer-key", user, &s.base, 180);
    let r = s
        .token_request(&[("grant_type", grant), ("assertion", &good)])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["instance_url"], json!(s.base));
    assert_eq!(r.body["token_type"], json!("Bearer"));
    let token = r.body["access_token"].as_str().unwrap();
    assert_eq!(
        s.call_with(Method::GET, "sobjects", None, token)
            .await
            .status,
        StatusCode::OK
    );

    let login_aud = assertion(
        &keys,
        "sim-consumer-key",
        user,
        "https://login.salesforce.com",
        180,
    );
    assert_eq!(
        s.token_request(&[("grant_type", grant), ("assertion", &login_aud)])
            .await
            .status,
        StatusCode::OK
    );

    let cases = [
        (
            assertion(
                &keys,
                "sim-consumer-key",
                user,
                "https://elsewhere.example",
                180,
            ),
            "invalid_grant",
            "audience is invalid",
        ),
        (
            assertion(&keys, "sim-consumer-key", user, &s.base, -600),
            "invalid_grant",
            "expired authorization code",
        ),
        (
            assertion(&other, "sim-consumer-key", user, &s.base, 180),
            "invalid_grant",
            "invalid assertion",
        ),
        (
            assertion(&keys, "unknown-key", user, &s.base, 180),
            "invalid_client_id",
            "client identifier invalid",
        ),
        (
            assertion(
                &keys,
                "sim-consumer-key",
                "nobody@org-b.example",
                &s.base,
                180,
            ),
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
    ];
    for (jwt, error, description) in cases {
        let r = s
            .token_request(&[("grant_type", grant), ("assertion", &jwt)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["error"], json!(error), "{description}");
        assert_eq!(r.body["error_description"], json!(description));
    }
}

#[tokio::test]
async fn expired_revoked_and_unknown_tokens_get_401_invalid_session_id() {
    let s = start().await;
    let check = |r: Reply| {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.body,
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}])
        );
    };
    check(
        s.call_with(Method::GET, "limits", None, "00Dxx!not-a-token")
            .await,
    );
    let r = s
        .http
        .get(format!("{}/services/data/{V}/limits", s.base))
        .send()
        .await
        .unwrap();
    check(to_reply(r).await);

    let second = s.login().await;
    assert!(s.admin.revoke_token(&second).await.unwrap());
    check(s.call_with(Method::GET, "limits", None, &second).await);
    assert_eq!(
        s.get("limits").await.status,
        StatusCode::OK,
        "revoking one token leaves the others"
    );

    s.admin.expire_tokens().await.unwrap();
    check(s.get("limits").await);

    let fresh = s.login().await;
    assert_eq!(
        s.call_with(Method::GET, "limits", None, &fresh)
            .await
            .status,
        StatusCode::OK
    );
    assert!(s.admin.revoke_tokens().await.unwrap() >= 1);
    check(s.call_with(Method::GET, "limits", None, &fresh).await);
}

#[tokio::test]
async fn tokens_older_than_the_ttl_are_refused() {
    let mut org = test_org("b");
    org.token_ttl_secs = 0;
    let handle = sim::start(SimConfig::single(org)).await.unwrap();
    let base = handle.base_url("b").unwrap();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-consumer-key"),
            ("client_secret", "sim-consumer-secret"),
        ])
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .get(format!("{base}/services/data/{V}/limits"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    handle.shutdown().await.unwrap();
}

// ---------- 2. Versions and describe ----------

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
    assert_eq!(names, vec!["Lead", "Account", "Contact"]);
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

// ---------- 3. Single records ----------

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

// ---------- 4. Collections ----------

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

// ---------- 5. The write rules, on both paths ----------

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

// ---------- 6. Limits ----------

#[tokio::test]
async fn sforce_limit_info_counts_one_unit_per_call_whatever_its_size() {
    let s = start().await;
    let a = s.get("sobjects").await.units();
    let recs: Vec<Value> = (0..200)
        .map(|i| typed("Lead", lead(&format!("L{i}"))))
        .collect();
    let b = s
        .collections(Method::POST, "composite/sobjects", false, recs)
        .await
        .units();
    let c = s.create("Lead", lead("one")).await.units();
    let bad = s.create("Lead", json!({})).await;
    let d = bad.units();
    assert_eq!(a.0 + 1, b.0);
    assert_eq!(b.0 + 1, c.0);
    assert_eq!(c.0 + 1, d.0, "a refused call still costs a unit");
    assert_eq!(a.1, 100_000);
    let limits = s.get("limits/").await;
    let (used, max) = limits.units();
    assert_eq!(used, d.0 + 1);
    assert_eq!(limits.body["DailyApiRequests"]["Max"], json!(max));
    assert_eq!(
        limits.body["DailyApiRequests"]["Remaining"],
        json!(max - used)
    );
    let counters = s.admin.counters().await.unwrap();
    assert_eq!(counters.api_units_used, used);
    assert_eq!(counters.of("collections.create"), 1);
    assert_eq!(counters.of("sobject.create"), 2);
}

// ---------- 7. Bulk API 2.0 ----------

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

// ---------- 9. Faults and the admin API ----------

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

#[tokio::test]
async fn several_orgs_are_served_apart_from_one_process() {
    let config = SimConfig {
        orgs: vec![test_org("a"), test_org("b")],
        snapshot: None,
    };
    let handle = sim::start(config).await.unwrap();
    assert_eq!(handle.orgs(), vec!["a", "b"]);
    let (a, b) = (handle.base_url("a").unwrap(), handle.base_url("b").unwrap());
    assert_ne!(a, b);
    let http = reqwest::Client::new();
    let login = |base: String, user: &'static str| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("{base}/services/oauth2/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", "sim-consumer-key"),
                    ("username", user),
                    ("password", "sim-passwordSIMTOKEN"),
                ])
                .send()
                .await
                .unwrap();
            r.status()
        }
    };
    assert_eq!(
        login(a.clone(), "integration@org-a.example").await,
        StatusCode::OK
    );
    assert_eq!(
        login(a.clone(), "integration@org-b.example").await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        login(b.clone(), "integration@org-b.example").await,
        StatusCode::OK
    );
    let admin_a = handle.admin("a").unwrap();
    let admin_b = handle.admin("b").unwrap();
    assert_ne!(
        admin_a.org_info().await.unwrap().org_id,
        admin_b.org_info().await.unwrap().org_id
    );
    handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn snapshot_keeps_rows_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.json");
    let mut config = SimConfig::single(test_org("b"));
    config.snapshot = Some(path.clone());
    let handle = sim::start(config.clone()).await.unwrap();
    let s = Sim {
        base: handle.base_url("b").unwrap(),
        admin: handle.admin("b").unwrap(),
        http: reqwest::Client::new(),
        token: String::new(),
        handle,
    };
    let token = s.login().await;
    let s = Sim { token, ..s };
    let id = s
        .created_id(
            "Lead",
            with(lead("Persisted"), json!({"CustomId__c": "P1"})),
        )
        .await;
    s.handle.shutdown().await.unwrap();

    let handle = sim::start(config).await.unwrap();
    let admin = handle.admin("b").unwrap();
    let row = admin.row("Lead", &id).await.unwrap().unwrap();
    assert_eq!(row.str("LastName"), Some("Persisted"));
    handle.shutdown().await.unwrap();
}
