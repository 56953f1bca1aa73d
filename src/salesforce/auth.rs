//! Logging in to Salesforce with OAuth 2.0: the username-password, client-credentials
//! and JWT bearer flows against `{login_url}/services/oauth2/token`.
//!
//! [`login`] retries what may pass on a second try (connect errors, timeouts, 5xx,
//! `rate_limit_exceeded`) with exponential backoff and full jitter inside a time budget
//! (`salesforce.auth.retries.time.ms`), and gives up at once on a verdict such as
//! `invalid_grant`. Secrets travel as [`Secret`] and never appear in errors or logs;
//! an [`AuthError`] carries only Salesforce's `error` and `error_description`.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use serde::{Deserialize, Serialize};

use super::retry::{decide_login, Action, Backoff, Retries};
use super::wire::describe_transport_error;
use super::wire::AuthError;
use crate::config::Secret;

/// The JWT bearer grant type name.
const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long a JWT assertion stays valid; Salesforce wants a short one.
const JWT_LIFETIME_SECS: u64 = 180;

/// How the sink proves who it is. The variants are named after the OAuth flows, one of
/// which is Salesforce's "client credentials" flow.
#[derive(Clone, Debug)]
#[allow(clippy::enum_variant_names)]
pub enum Credentials {
    /// `grant_type=password`; the security token is appended to the password.
    Password {
        /// Login name.
        username: String,
        /// Password.
        password: Secret,
        /// Security token (omitted when the caller's IP is trusted).
        security_token: Option<Secret>,
        /// Connected app consumer key.
        client_id: String,
        /// Connected app consumer secret.
        client_secret: Secret,
    },
    /// `grant_type=client_credentials` (needs a My Domain login URL).
    ClientCredentials {
        /// Connected app consumer key.
        client_id: String,
        /// Connected app consumer secret.
        client_secret: Secret,
    },
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with an RS256 assertion.
    JwtBearer {
        /// Connected app consumer key (`iss`).
        client_id: String,
        /// The user to act as (`sub`).
        username: String,
        /// The private key that signs the assertion.
        key: JwtKey,
    },
}

/// An RSA private key for signing JWT assertions. Debug prints `[hidden]`.
#[derive(Clone)]
pub struct JwtKey {
    encoding: EncodingKey,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKey([hidden])")
    }
}

impl JwtKey {
    /// Loads the key from `salesforce.jwt.keystore.path`: a PEM private key (PKCS#1 or
    /// PKCS#8, encrypted when a password is given) or a PKCS#12 keystore. A Java
    /// KeyStore (JKS/JCEKS) is refused with the keytool command that converts it.
    pub fn load(path: &Path, password: Option<&Secret>) -> Result<JwtKey, AuthError> {
        let bytes = std::fs::read(path).map_err(|e| AuthError::Key {
            path: path.to_path_buf(),
            reason: format!("cannot read the file: {e}"),
        })?;
        Self::from_bytes(&bytes, password, path)
    }

    /// Same as [`JwtKey::load`] from bytes already read; `path` is only used in errors.
    pub fn from_bytes(
        bytes: &[u8],
        password: Option<&Secret>,
        path: &Path,
    ) -> Result<JwtKey, AuthError> {
        let key_err = |reason: String| AuthError::Key {
            path: path.to_path_buf(),
            reason,
        };
        // JKS starts with 0xFEEDFEED, JCEKS with 0xCECECECE.
        if bytes.starts_with(&[0xFE, 0xED, 0xFE, 0xED])
            || bytes.starts_with(&[0xCE, 0xCE, 0xCE, 0xCE])
        {
            return Err(AuthError::JavaKeyStore {
                path: path.to_path_buf(),
            });
        }
        let pw = password.map(Secret::expose).unwrap_or("");
        let pkey: PKey<Private> = if bytes.windows(10).any(|w| w == b"-----BEGIN") {
            let parsed = if pw.is_empty() {
                PKey::private_key_from_pem(bytes)
            } else {
                PKey::private_key_from_pem_passphrase(bytes, pw.as_bytes())
            };
            parsed
                .map_err(|_| key_err("not a readable PEM private key (wrong password?)".into()))?
        } else {
            if pw.contains('\0') {
                return Err(key_err(
                    "the keystore password contains a NUL character".into(),
                ));
            }
            let p12 = Pkcs12::from_der(bytes)
                .map_err(|_| key_err("neither a PEM private key nor a PKCS#12 keystore".into()))?;
            let parsed = p12.parse2(pw).map_err(|_| {
                key_err("cannot open the PKCS#12 keystore (wrong password?)".into())
            })?;
            parsed
                .pkey
                .ok_or_else(|| key_err("the PKCS#12 keystore holds no private key".into()))?
        };
        let rsa = pkey
            .rsa()
            .map_err(|_| key_err("the key is not an RSA key; RS256 needs one".into()))?;
        let der = rsa
            .private_key_to_der()
            .map_err(|_| key_err("cannot encode the RSA key".into()))?;
        Ok(JwtKey {
            encoding: EncodingKey::from_rsa_der(&der),
        })
    }

    /// Signs a JWT bearer assertion: `iss`=client id, `sub`=username, `aud`=login URL,
    /// `exp`=now+180 s (seconds, as Salesforce wants).
    pub fn assertion(
        &self,
        client_id: &str,
        username: &str,
        audience: &str,
    ) -> Result<String, AuthError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = JwtClaims {
            iss: client_id,
            sub: username,
            aud: audience,
            exp: now + JWT_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

/// A logged-in session: the token and the base URL for every later call.
#[derive(Clone, Debug)]
pub struct Session {
    /// The Bearer token.
    pub access_token: Secret,
    /// `instance_url` from the token response, without a trailing slash.
    pub instance_url: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: String,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

/// One attempt's failure: either worth another try or final.
enum Attempt {
    Retry(String),
    Final(AuthError),
}

/// Logs in, retrying transient failures within `retry_budget`.
pub async fn login(
    http: &reqwest::Client,
    login_url: &str,
    creds: &Credentials,
    retry_budget: Duration,
) -> Result<Session, AuthError> {
    login_with_backoff(http, login_url, creds, retry_budget, Backoff::new()).await
}

/// [`login`] with a caller-chosen backoff (tests use a fast, seeded one).
pub async fn login_with_backoff(
    http: &reqwest::Client,
    login_url: &str,
    creds: &Credentials,
    retry_budget: Duration,
    backoff: Backoff,
) -> Result<Session, AuthError> {
    let base = login_url.trim_end_matches('/');
    if url::Url::parse(base).is_err() {
        return Err(AuthError::BadUrl(base.to_string()));
    }
    let token_url = format!("{base}/services/oauth2/token");
    let mut retries = Retries::new(retry_budget, backoff);
    loop {
        // A fresh assertion each time: an old one may have expired while we waited.
        let form = token_form(creds, base)?;
        let reason = match try_once(http, &token_url, &form).await {
            Ok(session) => return Ok(session),
            Err(Attempt::Retry(reason)) => reason,
            Err(Attempt::Final(e)) => return Err(e),
        };
        let attempts = retries.attempts() + 1;
        tracing::warn!(attempt = attempts, reason = %reason, "Salesforce login failed");
        if !retries.wait().await {
            return Err(AuthError::Unavailable {
                attempts,
                last: reason,
            });
        }
    }
}

fn token_form(
    creds: &Credentials,
    audience: &str,
) -> Result<Vec<(&'static str, String)>, AuthError> {
    Ok(match creds {
        Credentials::Password {
            username,
            password,
            security_token,
            client_id,
            client_secret,
        } => {
            let mut pw = password.expose().to_string();
            if let Some(token) = security_token {
                pw.push_str(token.expose());
            }
            let mut form = vec![
                ("grant_type", "password".into()),
                ("client_id", client_id.clone()),
                ("username", username.clone()),
                ("password", pw),
            ];
            // The secret is optional for this flow on some connected apps; an empty
            // one would be refused as a wrong secret, so it is left out instead.
            if !client_secret.is_empty() {
                form.push(("client_secret", client_secret.expose().into()));
            }
            form
        }
        Credentials::ClientCredentials {
            client_id,
            client_secret,
        } => vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", client_id.clone()),
            ("client_secret", client_secret.expose().into()),
        ],
        Credentials::JwtBearer {
            client_id,
            username,
            key,
        } => {
            vec![
                ("grant_type", JWT_GRANT.into()),
                ("assertion", key.assertion(client_id, username, audience)?),
            ]
        }
    })
}

async fn try_once(
    http: &reqwest::Client,
    token_url: &str,
    form: &[(&'static str, String)],
) -> Result<Session, Attempt> {
    let response = match http.post(token_url).form(form).send().await {
        Ok(r) => r,
        // reqwest's error text names the URL and the cause, never the form body.
        Err(e) => return Err(judge(None, "", &describe_transport_error(&e))),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return Err(judge(None, "", &describe_transport_error(&e))),
    };
    if status == 200 {
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| Attempt::Final(AuthError::BadResponse(e.to_string())))?;
        return Ok(Session {
            access_token: Secret::new(token.access_token),
            instance_url: token.instance_url.trim_end_matches('/').to_string(),
        });
    }
    let parsed: TokenError = serde_json::from_slice(&body).unwrap_or(TokenError {
        error: format!("http_{status}"),
        error_description: String::from_utf8_lossy(body.get(..200).unwrap_or(&body)).into_owned(),
    });
    Err(
        match judge(Some(status), &parsed.error, &parsed.error_description) {
            Attempt::Final(_) => Attempt::Final(AuthError::Rejected {
                status,
                error: parsed.error,
                description: parsed.error_description,
            }),
            retry => retry,
        },
    )
}

/// One failed attempt, as `retry.rs` reads it.
fn judge(status: Option<u16>, oauth_error: &str, description: &str) -> Attempt {
    match decide_login(status, oauth_error, description) {
        Action::Retry { reason } => Attempt::Retry(reason),
        _ => Attempt::Final(AuthError::Rejected {
            status: status.unwrap_or(0),
            error: oauth_error.to_string(),
            description: description.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::{Form, Json, Router};
    use openssl::rsa::Rsa;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    fn fast_backoff() -> Backoff {
        use rand::SeedableRng;
        Backoff::with_rng(
            Duration::from_millis(1),
            Duration::from_millis(5),
            rand::rngs::StdRng::seed_from_u64(1),
        )
    }

    #[derive(Default)]
    struct TokenServer {
        failures_before_success: u32,
        calls: AtomicU32,
        seen: Mutex<Vec<HashMap<String, String>>>,
        reject: Option<(&'static str, &'static str)>,
    }

    async fn token(
        State(s): State<Arc<TokenServer>>,
        Form(form): Form<HashMap<String, String>>,
    ) -> (StatusCode, Json<serde_json::Value>) {
        let n = s.calls.fetch_add(1, Ordering::SeqCst);
        s.seen.lock().unwrap().push(form);
        if let Some((error, description)) = s.reject {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": error, "error_description": description})),
            );
        }
        if n < s.failures_before_success {
            return (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!([])));
        }
        (
            StatusCode::OK,
            Json(
                serde_json::json!({"access_token": "00D!tok", "instance_url": "http://instance.example/", "token_type": "Bearer"}),
            ),
        )
    }

    async fn serve(state: Arc<TokenServer>) -> String {
        let app = Router::new()
            .route("/services/oauth2/token", post(token))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn password_creds() -> Credentials {
        Credentials::Password {
            username: "user@example.com".into(),
            password: Secret::new("pa55word"),
            security_token: Some(Secret::new("TOKEN123")),
            client_id: "consumer-key".into(),
            client_secret: Secret::new("consumer-secret"),
        }
    }

    #[tokio::test]
    async fn password_login_sends_password_with_token_appended() {
        let state = Arc::new(TokenServer::default());
        let url = serve(state.clone()).await;
        let session = login_with_backoff(
            &reqwest::Client::new(),
            &url,
            &password_creds(),
            Duration::from_secs(5),
            fast_backoff(),
        )
        .await
        .unwrap();
        assert_eq!(session.access_token.expose(), "00D!tok");
        assert_eq!(session.instance_url, "http://instance.example");
        let seen = state.seen.lock().unwrap();
        assert_eq!(seen[0]["grant_type"], "password");
        assert_eq!(seen[0]["password"], "pa55wordTOKEN123");
        assert_eq!(seen[0]["client_secret"], "consumer-secret");
        assert!(!format!("{session:?}").contains("00D!tok"));
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_login_succeeds() {
        let state = Arc::new(TokenServer {
            failures_before_success: 3,
            ..Default::default()
        });
        let url = serve(state.clone()).await;
        let creds = Credentials::ClientCredentials {
            client_id: "ck".into(),
            client_secret: Secret::new("cs"),
        };
        login_with_backoff(
            &reqwest::Client::new(),
            &url,
            &creds,
            Duration::from_secs(5),
            fast_backoff(),
        )
        .await
        .unwrap();
        assert_eq!(state.calls.load(Ordering::SeqCst), 4);
        assert_eq!(
            state.seen.lock().unwrap()[0]["grant_type"],
            "client_credentials"
        );
    }

    #[tokio::test]
    async fn invalid_grant_fails_at_once_without_leaking_secrets() {
        let state = Arc::new(TokenServer {
            reject: Some(("invalid_grant", "authentication failure")),
            ..Default::default()
        });
        let url = serve(state.clone()).await;
        let err = login_with_backoff(
            &reqwest::Client::new(),
            &url,
            &password_creds(),
            Duration::from_secs(5),
            fast_backoff(),
        )
        .await
        .unwrap_err();
        assert_eq!(state.calls.load(Ordering::SeqCst), 1);
        assert!(err.is_permanent());
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("invalid_grant") && text.contains("authentication failure"),
            "{text}"
        );
        for secret in ["pa55word", "TOKEN123", "consumer-secret"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[tokio::test]
    async fn unreachable_login_gives_up_when_the_budget_is_spent() {
        // Bind then drop a listener so the port refuses connections.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = login_with_backoff(
            &reqwest::Client::new(),
            &format!("http://{addr}"),
            &password_creds(),
            Duration::from_millis(50),
            fast_backoff(),
        )
        .await
        .unwrap_err();
        match err {
            AuthError::Unavailable { attempts, .. } => assert!(attempts >= 2),
            other => panic!("{other:?}"),
        }
    }

    fn rsa_key() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    fn decode_claims(token: &str, key: &PKey<Private>) -> serde_json::Value {
        let public_pem = key.public_key_to_pem().unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://login.example.com"]);
        jsonwebtoken::decode::<serde_json::Value>(
            token,
            &jsonwebtoken::DecodingKey::from_rsa_pem(&public_pem).unwrap(),
            &validation,
        )
        .unwrap()
        .claims
    }

    #[test]
    fn pem_key_signs_an_rs256_assertion_with_salesforce_claims() {
        let key = rsa_key();
        let pem = key.private_key_to_pem_pkcs8().unwrap();
        let jwt = JwtKey::from_bytes(&pem, None, Path::new("k.pem")).unwrap();
        let token = jwt
            .assertion("ck", "user@example.com", "https://login.example.com")
            .unwrap();
        let claims = decode_claims(&token, &key);
        assert_eq!(claims["iss"], "ck");
        assert_eq!(claims["sub"], "user@example.com");
        let exp = claims["exp"].as_u64().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(exp > now + 170 && exp <= now + 181, "exp {exp} now {now}");
        assert_eq!(format!("{jwt:?}"), "JwtKey([hidden])");
    }

    #[test]
    fn pkcs12_keystore_with_password_loads() {
        let key = rsa_key();
        let p12 = Pkcs12::builder()
            .name("sf")
            .pkey(&key)
            .build2("changeit")
            .unwrap();
        let der = p12.to_der().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.p12");
        std::fs::write(&path, der).unwrap();
        let jwt = JwtKey::load(&path, Some(&Secret::new("changeit"))).unwrap();
        let token = jwt
            .assertion("ck", "u", "https://login.example.com")
            .unwrap();
        assert_eq!(decode_claims(&token, &key)["sub"], "u");
        let wrong = JwtKey::load(&path, Some(&Secret::new("nope"))).unwrap_err();
        assert!(wrong.to_string().contains("wrong password"), "{wrong}");
    }

    #[test]
    fn java_keystore_is_refused_with_keytool_advice() {
        let err = JwtKey::from_bytes(
            &[0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2],
            None,
            Path::new("sf.jks"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("keytool -importkeystore") && text.contains("PKCS12"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn jwt_login_posts_the_bearer_grant_with_an_assertion() {
        let state = Arc::new(TokenServer::default());
        let url = serve(state.clone()).await;
        let key = rsa_key();
        let jwt = JwtKey::from_bytes(
            &key.private_key_to_pem_pkcs8().unwrap(),
            None,
            Path::new("k"),
        )
        .unwrap();
        let creds = Credentials::JwtBearer {
            client_id: "ck".into(),
            username: "u".into(),
            key: jwt,
        };
        login_with_backoff(
            &reqwest::Client::new(),
            &url,
            &creds,
            Duration::from_secs(5),
            fast_backoff(),
        )
        .await
        .unwrap();
        let seen = state.seen.lock().unwrap();
        assert_eq!(seen[0]["grant_type"], JWT_GRANT);
        assert_eq!(seen[0]["assertion"].split('.').count(), 3);
    }
}
