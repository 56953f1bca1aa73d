//! A worker process: the supervisor's actor system, and the REST listener.
//!
//! The actor system (the pipeline, the supervisor) runs on a thread of its own; the
//! REST API runs on a small multi-threaded tokio runtime of its own and talks to the
//! supervisor by messages. The REST listener answers from the first moment (`/health`
//! says `starting`; other requests wait) and serves requests once the worker has
//! joined its cluster, read the config topic to its end and created its connectors.
//! [`WorkerHandle::shutdown`] leaves the cluster and stops every task gracefully
//! (drain, commit) before the threads end.

use crate::config::WorkerConfig;
use crate::connect::cluster::ClusterLink;
use crate::connect::rest::{router, RestAuth};
use crate::connect::supervisor::{ApiFailure, AttachCluster, Reply, Request, Supervisor};
use actix::{Actor, Addr, System};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The REST listener could not bind.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The `listeners` value is not an http URL with a host and port.
    #[error("listeners={0} is not of the form http://HOST:PORT")]
    BadListener(String),
    /// A thread could not start.
    #[error("starting the worker: {0}")]
    Start(String),
    /// The cluster's config or status topic could not be used.
    #[error("distributed mode: {0}")]
    Cluster(String),
    /// An `https://` listener's certificate or key is unusable.
    #[error("REST listener TLS: {0}")]
    Tls(#[from] crate::connect::tls::TlsError),
    /// An `https://` listener without `rest.tls.cert.path` and `rest.tls.key.path`.
    #[error("listeners={0} needs rest.tls.cert.path and rest.tls.key.path")]
    TlsMissing(String),
}

/// A running worker.
pub struct WorkerHandle {
    /// Base URL of the REST API, e.g. `http://127.0.0.1:8083` (`https://` with TLS).
    pub rest_url: String,
    supervisor: Addr<Supervisor>,
    system: System,
    actor_thread: Option<JoinHandle<()>>,
    rest_runtime: Option<tokio::runtime::Runtime>,
}

fn listen_addr(listeners: &[url::Url]) -> Result<SocketAddr, WorkerError> {
    let shown = listeners
        .iter()
        .map(url::Url::as_str)
        .collect::<Vec<_>>()
        .join(",");
    let first = listeners
        .first()
        .ok_or_else(|| WorkerError::BadListener(shown.clone()))?;
    let host = match first.host_str() {
        Some("localhost") | None => "127.0.0.1",
        Some(h) => h.trim_start_matches('[').trim_end_matches(']'),
    };
    let port = first.port_or_known_default().unwrap_or(8083);
    format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("[{host}]:{port}").parse())
        .map_err(|_| WorkerError::BadListener(shown))
}

impl WorkerHandle {
    /// Starts a worker and creates `connectors` on it (standalone mode).
    pub fn start(
        worker: WorkerConfig,
        connectors: Vec<BTreeMap<String, String>>,
    ) -> Result<WorkerHandle, WorkerError> {
        let worker = Arc::new(worker);
        let addr = listen_addr(&worker.listeners)?;
        // Read the certificate and key before any thread starts, so a bad file stops
        // the start cleanly.
        let tls = match worker.listeners.first() {
            Some(url) if url.scheme() == "https" => match &worker.rest_tls {
                Some(files) => Some(crate::connect::tls::acceptor(files)?),
                None => return Err(WorkerError::TlsMissing(url.to_string())),
            },
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let rest_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rest")
            .enable_all()
            .build()
            .map_err(|e| WorkerError::Start(e.to_string()))?;
        let listener = rest_runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| WorkerError::Listen {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        let bound = listener
            .local_addr()
            .map_err(|e| WorkerError::Start(e.to_string()))?;
        let worker_id = bound.to_string();

        let (tx, rx) = std::sync::mpsc::channel();
        let w = worker.clone();
        let id = worker_id.clone();
        let actor_thread = std::thread::Builder::new()
            .name("actors".into())
            .spawn(move || {
                let system = System::new();
                system.block_on(async move {
                    let supervisor = Supervisor::new(w, id).start();
                    let _ = tx.send((System::current(), supervisor));
                });
                let _ = system.run();
            })
            .map_err(|e| WorkerError::Start(e.to_string()))?;
        let (system, supervisor) = rx.recv().map_err(|e| WorkerError::Start(e.to_string()))?;

        let auth = match (&worker.rest_auth.bearer_token, &worker.rest_auth.basic) {
            (Some(token), _) => RestAuth::Bearer(token.expose().to_string()),
            (None, Some((user, pw))) => RestAuth::Basic {
                username: user.clone(),
                password: pw.expose().to_string(),
            },
            (None, None) => RestAuth::Open,
        };
        let (started, started_rx) = tokio::sync::watch::channel(false);
        let app = router(supervisor.clone(), auth, started_rx, worker.clone());
        match tls {
            Some(acceptor) => {
                rest_runtime.spawn(crate::connect::tls::serve(listener, acceptor, app));
            }
            None => {
                rest_runtime.spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!("REST listener stopped: {e}");
                    }
                });
            }
        }
        tracing::info!("REST API listening on {scheme}://{worker_id}");

        let handle = WorkerHandle {
            rest_url: format!("{scheme}://{worker_id}"),
            supervisor,
            system,
            actor_thread: Some(actor_thread),
            rest_runtime: Some(rest_runtime),
        };
        if worker.distributed.is_some() {
            if let Err(e) = handle.join_cluster(&worker, &worker_id) {
                handle.shutdown(Duration::from_secs(1));
                return Err(e);
            }
        }
        for config in connectors {
            let name = config.get("name").cloned().unwrap_or_default();
            match handle.request(Request::Create {
                name: name.clone(),
                config,
            }) {
                Ok(_) => tracing::info!(connector = %name, "connector created"),
                Err(f) => {
                    tracing::error!(connector = %name, "connector not created: {}", f.message)
                }
            }
        }
        started.send_replace(true);
        Ok(handle)
    }

    /// Joins the cluster: reads the status topic (who is alive) to its end, announces
    /// this worker, then follows the config topic and reads it to its end, so that
    /// the first request served already sees every connector.
    fn join_cluster(&self, worker: &WorkerConfig, worker_id: &str) -> Result<(), WorkerError> {
        let rt = self
            .rest_runtime
            .as_ref()
            .ok_or_else(|| WorkerError::Start("worker stopped".into()))?;
        let link = Arc::new(
            rt.block_on(ClusterLink::connect(worker, worker_id))
                .map_err(WorkerError::Cluster)?,
        );
        link.follow_status().map_err(WorkerError::Cluster)?;
        rt.block_on(async {
            link.status_caught_up().await?;
            link.heartbeat().await;
            Ok::<_, String>(())
        })
        .map_err(WorkerError::Cluster)?;
        self.supervisor.do_send(AttachCluster(link.clone()));
        let to_supervisor = self.supervisor.clone();
        link.follow_config(move |ev| to_supervisor.do_send(Request::Apply(ev)))
            .map_err(WorkerError::Cluster)?;
        rt.block_on(link.config_caught_up())
            .map_err(WorkerError::Cluster)?;
        tracing::info!("joined the cluster as worker {worker_id}");
        Ok(())
    }

    /// Sends `req` to the supervisor and waits for the reply.
    pub fn request(&self, req: Request) -> Result<Reply, ApiFailure> {
        let supervisor = self.supervisor.clone();
        let rt = self.rest_runtime.as_ref().ok_or_else(|| ApiFailure {
            status: 500,
            message: "worker stopped".into(),
        })?;
        rt.block_on(async move { supervisor.send(req).await })
            .map_err(|e| ApiFailure {
                status: 500,
                message: e.to_string(),
            })?
    }

    /// Leaves the cluster, stops every task gracefully (drain, commit), then the
    /// threads.
    pub fn shutdown(mut self, timeout: Duration) {
        if let Some(rt) = &self.rest_runtime {
            let supervisor = self.supervisor.clone();
            let _ = rt.block_on(async move {
                tokio::time::timeout(timeout, supervisor.send(Request::StopAll)).await
            });
        }
        self.system.stop();
        if let Some(t) = self.actor_thread.take() {
            let _ = t.join();
        }
        if let Some(rt) = self.rest_runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
