//! OAuth 2.0 flows, token lifetimes and the session errors of every API call.

use crate::harness::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

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
