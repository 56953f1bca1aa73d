//! The HTTP listener of one org: accepts connections and serves each with hyper, so that
//! a request can ask for its own connection to be dropped without an answer (the
//! "connection reset" fault), and so shutdown can close every connection.

use crate::sim::org::Org;
use crate::sim::routes;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Lets a request drop the connection it arrived on.
#[derive(Clone, Debug)]
pub struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    /// Closes the connection without answering.
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

/// The router of one org: every path goes to [`routes::dispatch`].
pub fn router(org: Arc<Org>) -> Router {
    Router::new()
        .fallback(routes::dispatch)
        .with_state(org)
        .layer(DefaultBodyLimit::max(routes::MAX_BODY_BYTES))
}

/// Accepts connections until `cancel` fires, then lets open connections finish (briefly).
pub async fn serve(listener: TcpListener, org: Arc<Org>, cancel: CancellationToken) {
    let app = router(org);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(serve_connection(stream, app.clone(), cancel.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(stream: TcpStream, app: Router, cancel: CancellationToken) {
    // Small JSON answers must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let notify = Arc::new(Notify::new());
    let kill = ConnectionKill(notify.clone());
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(kill.clone());
            app.clone().oneshot(req)
        });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = notify.notified() => {}
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
        }
    }
}
