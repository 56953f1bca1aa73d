//! Several orgs from one process, and snapshots across restarts.

use crate::harness::*;

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
