//! TLS for the REST listener: an `https://` entry in `listeners` serves the REST API
//! (and `GET /metrics`) with the PEM certificate chain of `rest.tls.cert.path` and the
//! private key of `rest.tls.key.path`.
//!
//! The certificate and key are read once, when the worker starts: a file that cannot be
//! read or parsed, or a key that does not belong to the certificate, stops the start with
//! an error naming the config key and the path. Errors never quote the key file's
//! contents. TLS runs on rustls with the `ring` crypto provider (TLS 1.2 and 1.3), and
//! each accepted connection is served over HTTP/1.1, as the plain listener does.

use crate::config::worker::RestTls;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The worker key of the certificate chain.
pub const CERT_KEY: &str = "rest.tls.cert.path";
/// The worker key of the private key.
pub const KEY_KEY: &str = "rest.tls.key.path";

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the REST listener's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// One of the two files could not be read or holds no usable PEM item.
    #[error("{key}={}: {reason}", path.display())]
    File {
        /// The worker key naming the file (`rest.tls.cert.path` or `rest.tls.key.path`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it is unusable (never the file's contents).
        reason: String,
    },
    /// Both files parse, but rustls refuses them together (for instance a key that does
    /// not belong to the certificate).
    #[error("rest.tls.cert.path={} with rest.tls.key.path={}: {reason}", cert.display(), key.display())]
    Pair {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
        /// Why rustls refused them.
        reason: String,
    },
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        key,
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })
}

/// Reads the PEM certificate chain (leaf first) of `rest.tls.cert.path`.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(CERT_KEY, path)?;
    let bad = |reason: String| TlsError::File {
        key: CERT_KEY,
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a PEM certificate chain: {e}")))?;
    if certs.is_empty() {
        return Err(bad("holds no PEM CERTIFICATE section".into()));
    }
    Ok(certs)
}

/// Reads the PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) of `rest.tls.key.path`.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(KEY_KEY, path)?;
    // The parser's own message may quote part of the file: name the problem only.
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| TlsError::File {
        key: KEY_KEY,
        path: path.to_path_buf(),
        reason:
            "holds no readable PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
                .into(),
    })
}

/// Builds the rustls server configuration from the worker's TLS settings.
pub fn server_config(tls: &RestTls) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(&tls.cert_path)?;
    let key = load_key(&tls.key_path)?;
    let pair = |reason: String| TlsError::Pair {
        cert: tls.cert_path.clone(),
        key: tls.key_path.clone(),
        reason,
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| pair(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| pair(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS acceptor for the worker's certificate and key.
pub fn acceptor(tls: &RestTls) -> Result<TlsAcceptor, TlsError> {
    server_config(tls).map(TlsAcceptor::from)
}

/// Serves `app` over TLS on `listener` until the runtime stops: each connection does its
/// handshake and is then served over HTTP/1.1 on a task of its own, so a slow or
/// non-TLS client never holds up the others.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("REST listener: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "REST TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "REST TLS handshake timed out");
                    return;
                }
            };
            let service = TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "REST connection ended: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
        use openssl::asn1::Asn1Time;
        use openssl::hash::MessageDigest;
        use openssl::pkey::PKey;
        use openssl::rsa::Rsa;
        use openssl::x509::{X509NameBuilder, X509};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "localhost").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert, b.build().to_pem().unwrap()).unwrap();
        std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        (cert, key_path)
    }

    #[test]
    fn a_missing_key_file_is_named_by_its_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed(dir.path());
        let missing = dir.path().join("no-such-key.pem");
        let e = server_config(&RestTls {
            cert_path: cert,
            key_path: missing.clone(),
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("rest.tls.key.path="), "{e}");
        assert!(e.contains(&missing.display().to_string()), "{e}");
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn unusable_files_are_named_and_the_key_is_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(dir.path());
        assert!(server_config(&RestTls {
            cert_path: cert.clone(),
            key_path: key.clone(),
        })
        .is_ok());

        // A certificate where the key belongs: no key in it.
        let e = server_config(&RestTls {
            cert_path: cert.clone(),
            key_path: cert.clone(),
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("rest.tls.key.path="), "{e}");

        // A key where the certificate belongs.
        let e = server_config(&RestTls {
            cert_path: key.clone(),
            key_path: key.clone(),
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("rest.tls.cert.path="), "{e}");

        // A damaged key: the error does not echo its lines.
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN PRIVATE KEY-----\nSECRETSECRET!!notbase64\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = server_config(&RestTls {
            cert_path: cert.clone(),
            key_path: broken,
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("rest.tls.key.path="), "{e}");
        assert!(!e.contains("SECRETSECRET"), "{e}");

        // Another certificate's key: refused as a pair, naming both files.
        let other = tempfile::tempdir().unwrap();
        let (_, other_key) = self_signed(other.path());
        let e = server_config(&RestTls {
            cert_path: cert,
            key_path: other_key,
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("rest.tls.cert.path=") && e.contains("rest.tls.key.path="),
            "{e}"
        );
    }
}
