//! OAuth 2.0 for the simulated org: the token endpoint (password, client credentials and
//! JWT bearer flows, with Salesforce's success and error bodies) and the store of issued
//! access tokens, which expire after a TTL and can be revoked or aged on demand.

use crate::sim::org::Org;
use crate::sim::reply;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

#[derive(Clone, Copy)]
struct TokenEntry {
    issued: Instant,
    expired: bool,
}

/// Access tokens issued by one org. Debug output shows only how many there are.
#[derive(Default)]
pub struct TokenStore {
    tokens: HashMap<String, TokenEntry>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenStore {{ {} tokens }}", self.tokens.len())
    }
}

impl TokenStore {
    /// Issues a token shaped like a real one: `<15-char org Id>!<opaque>`.
    pub fn issue(&mut self, org_id: &str) -> String {
        let opaque: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(96)
            .map(char::from)
            .collect();
        let token = format!("{}!{opaque}", org_id.get(0..15).unwrap_or(org_id));
        self.tokens.insert(
            token.clone(),
            TokenEntry {
                issued: Instant::now(),
                expired: false,
            },
        );
        token
    }

    /// True when the token was issued here, is not revoked and is younger than `ttl`.
    pub fn is_valid(&mut self, token: &str, ttl: Duration) -> bool {
        let Some(entry) = self.tokens.get(token).copied() else {
            return false;
        };
        if entry.expired || entry.issued.elapsed() >= ttl {
            self.tokens.remove(token);
            return false;
        }
        true
    }

    /// Revokes every token; answers how many there were.
    pub fn revoke_all(&mut self) -> usize {
        let n = self.tokens.len();
        self.tokens.clear();
        n
    }

    /// Revokes one token; answers whether it existed.
    pub fn revoke(&mut self, token: &str) -> bool {
        self.tokens.remove(token).is_some()
    }

    /// Makes every current token expired, as if its TTL had passed.
    pub fn expire_all(&mut self) {
        for e in self.tokens.values_mut() {
            e.expired = true;
        }
    }
}

/// Claims of a JWT bearer assertion.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
}

fn oauth_error(error: &str, description: &str) -> Response {
    reply::json(
        StatusCode::BAD_REQUEST,
        &json!({"error": error, "error_description": description}),
    )
}

/// Reads `client_id`/`client_secret` from HTTP Basic auth, if present.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// `POST /services/oauth2/token`.
pub fn token_endpoint(org: &Org, headers: &HeaderMap, body: &[u8]) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let field = |k: &str| form.get(k).map(String::as_str);
    let cfg = &org.config;
    match field("grant_type") {
        Some("password") => {
            if field("client_id") != Some(cfg.consumer_key.as_str()) {
                return oauth_error("invalid_client_id", "client identifier invalid");
            }
            if let Some(secret) = field("client_secret") {
                if secret != cfg.consumer_secret.expose() {
                    return oauth_error("invalid_client", "invalid client credentials");
                }
            }
            let expected = format!("{}{}", cfg.password.expose(), cfg.security_token.expose());
            if field("username") != Some(cfg.username.as_str())
                || field("password") != Some(expected.as_str())
            {
                return oauth_error("invalid_grant", "authentication failure");
            }
            success(org)
        }
        Some("client_credentials") => {
            let (id, secret) = match basic_credentials(headers) {
                Some(pair) => pair,
                None => (
                    field("client_id").unwrap_or_default().to_string(),
                    field("client_secret").unwrap_or_default().to_string(),
                ),
            };
            if id != cfg.consumer_key {
                return oauth_error("invalid_client_id", "client identifier invalid");
            }
            if secret != cfg.consumer_secret.expose() {
                return oauth_error("invalid_client", "invalid client credentials");
            }
            success(org)
        }
        Some(JWT_GRANT) => jwt_bearer(org, field("assertion").unwrap_or_default()),
        _ => oauth_error("unsupported_grant_type", "grant type not supported"),
    }
}

fn audience_matches(aud: &serde_json::Value, accepted: &[String]) -> bool {
    let fits = |s: &str| {
        accepted
            .iter()
            .any(|a| a.trim_end_matches('/') == s.trim_end_matches('/'))
    };
    match aud {
        serde_json::Value::String(s) => fits(s),
        serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str()).any(fits),
        _ => false,
    }
}

fn jwt_bearer(org: &Org, assertion: &str) -> Response {
    use jsonwebtoken::errors::ErrorKind;
    let cfg = &org.config;
    let Some(pem) = cfg.jwt_public_key_pem.as_deref() else {
        return oauth_error("invalid_grant", "invalid assertion");
    };
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) else {
        return oauth_error("invalid_grant", "invalid assertion");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    validation.leeway = 5;
    validation.set_required_spec_claims(&["exp"]);
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            return match e.kind() {
                ErrorKind::ExpiredSignature => {
                    oauth_error("invalid_grant", "expired authorization code")
                }
                _ => oauth_error("invalid_grant", "invalid assertion"),
            }
        }
    };
    if claims.iss != cfg.consumer_key {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    let accepted = [
        org.base_url.clone(),
        "https://login.salesforce.com".to_string(),
        "https://test.salesforce.com".to_string(),
    ];
    if !audience_matches(&claims.aud, &accepted) {
        return oauth_error("invalid_grant", "audience is invalid");
    }
    if claims.sub != cfg.username {
        return oauth_error("invalid_grant", "user hasn't approved this consumer");
    }
    success(org)
}

fn signature(secret: &str, data: &str) -> String {
    let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let key = openssl::pkey::PKey::hmac(secret.as_bytes())?;
        let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
        signer.update(data.as_bytes())?;
        signer.sign_to_vec()
    };
    sign()
        .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
        .unwrap_or_default()
}

fn success(org: &Org) -> Response {
    let token = org.tokens.lock().issue(&org.org_id);
    let issued_at = chrono::Utc::now().timestamp_millis().to_string();
    let id_url = format!("{}/id/{}/{}", org.base_url, org.org_id, org.user_id);
    let sig = signature(
        org.config.consumer_secret.expose(),
        &format!("{id_url}{issued_at}"),
    );
    reply::json(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "instance_url": org.base_url,
            "id": id_url,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": sig,
            "scope": "api",
        }),
    )
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("OAuth "))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_and_expired_tokens_are_invalid() {
        let mut s = TokenStore::default();
        let ttl = Duration::from_secs(60);
        let a = s.issue("00D5e0000000001AAA");
        assert!(a.starts_with("00D5e0000000001!"));
        assert!(s.is_valid(&a, ttl));
        s.expire_all();
        assert!(!s.is_valid(&a, ttl));
        let b = s.issue("00D5e0000000001AAA");
        assert!(s.revoke(&b));
        assert!(!s.is_valid(&b, ttl));
        assert!(!format!("{s:?}").contains("00D"));
    }
}
