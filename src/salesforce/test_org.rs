//! A tiny stand-in org for the unit tests of this folder: a token endpoint that hands
//! out numbered tokens (`token-1`, `token-2`, ...), a version list, and whatever routes
//! the test adds. The real behaviour tests run against the simulator; this only lets
//! each file check its own HTTP handling on 127.0.0.1:0.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::auth::Credentials;
use super::client::ClientOptions;
use crate::config::Secret;

/// A running test org.
pub(crate) struct TestOrg {
    pub base: String,
    pub logins: Arc<AtomicU32>,
    /// The `Proxy-Authorization` header of the last login, when one came through a proxy.
    pub proxy_auth: Arc<Mutex<Option<String>>>,
}

impl TestOrg {
    /// Serves `routes` plus login and versions on a fresh port.
    pub async fn start(routes: Router) -> TestOrg {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let logins = Arc::new(AtomicU32::new(0));
        let proxy_auth = Arc::new(Mutex::new(None));
        let (b, l, p) = (base.clone(), logins.clone(), proxy_auth.clone());
        let app = routes
            .route(
                "/services/oauth2/token",
                post(move |headers: HeaderMap| {
                    let n = l.fetch_add(1, Ordering::SeqCst) + 1;
                    *p.lock().unwrap() = headers
                        .get("proxy-authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let base = b.clone();
                    async move {
                        Json(serde_json::json!({
                            "access_token": format!("token-{n}"),
                            "instance_url": base,
                            "token_type": "Bearer"
                        }))
                    }
                }),
            )
            .route(
                "/services/data/",
                get(|| async {
                    Json(serde_json::json!([
                        {"label": "Winter '24", "url": "/services/data/v58.0", "version": "58.0"},
                        {"label": "Summer '24", "url": "/services/data/v61.0", "version": "61.0"},
                        {"label": "Summer '07", "url": "/services/data/v9.0", "version": "9.0"}
                    ]))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestOrg {
            base,
            logins,
            proxy_auth,
        }
    }

    /// Client options pointing at this org, with short timeouts.
    pub fn options(&self) -> ClientOptions {
        let mut opts = ClientOptions::new(
            self.base.clone(),
            Credentials::ClientCredentials {
                client_id: "ck".into(),
                client_secret: Secret::new("cs"),
            },
        );
        opts.connection_timeout = Duration::from_secs(5);
        opts.auth_retry_budget = Duration::from_secs(2);
        opts
    }
}
