//! The Salesforce org simulator: serves one or more in-memory orgs over HTTP with the
//! REST paths, status codes, headers and JSON shapes of a real org (OAuth, describe,
//! single records, sObject Collections, query, limits, Bulk API 2.0), the rules that make
//! real writes fail, a fault plan, and an admin API for tests under `/__sim/`.
//!
//! Start it in-process with [`start`], which binds every org's own listener (port 0 is
//! fine) and serves in the background until [`SimHandle::shutdown`].

pub mod admin;
pub(crate) mod admin_client;
pub(crate) mod auth;
pub(crate) mod bulk;
pub(crate) mod collections;
pub(crate) mod composite;
pub(crate) mod config;
pub(crate) mod fast_hash;
pub(crate) mod faults;
pub mod org;
pub(crate) mod query;
pub(crate) mod record;
pub(crate) mod relationships;
pub(crate) mod reply;
pub(crate) mod rest;
pub(crate) mod routes;
pub(crate) mod row;
pub(crate) mod rules;
pub mod schema;
pub(crate) mod server;
pub(crate) mod snapshot;
pub(crate) mod store;
pub(crate) mod transaction;
pub(crate) mod writes;

pub use admin_client::{SimAdmin, SimRow};
pub use config::{OrgConfig, SimConfig};
pub use faults::{FaultKind, FaultPlan, ScriptedFault};
pub use server::serve;

use crate::sim::config::ConfigError;
use crate::sim::org::Org;
use crate::sim::snapshot::SnapshotError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the simulator could not start or stop cleanly.
#[derive(Debug, Error)]
pub enum SimError {
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An org's listen address could not be bound.
    #[error("cannot listen on {addr} for org {org}: {source}")]
    Bind {
        /// Org name.
        org: String,
        /// Address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The snapshot file could not be read or written.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    orgs: Vec<(String, Arc<Org>)>,
    cancel: CancellationToken,
    servers: Vec<JoinHandle<()>>,
    snapshot: Option<PathBuf>,
}

impl SimHandle {
    /// `http://host:port` of an org (also its login URL and `instance_url`).
    pub fn base_url(&self, org: &str) -> Option<String> {
        self.org(org).map(|o| o.base_url.clone())
    }

    /// Names of the served orgs, in configuration order.
    pub fn orgs(&self) -> Vec<String> {
        self.orgs.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The live state of an org (for in-process inspection).
    pub fn org(&self, name: &str) -> Option<&Arc<Org>> {
        self.orgs.iter().find(|(n, _)| n == name).map(|(_, o)| o)
    }

    /// An admin API client for an org.
    pub fn admin(&self, org: &str) -> Option<SimAdmin> {
        self.base_url(org).map(SimAdmin::new)
    }

    /// Stops accepting, ends open connections and stalls, waits for the listeners, and
    /// writes the snapshot file if one is configured.
    pub async fn shutdown(self) -> Result<(), SimError> {
        self.cancel.cancel();
        for s in self.servers {
            let _ = s.await;
        }
        if let Some(path) = &self.snapshot {
            snapshot::save(path, &self.orgs)?;
        }
        Ok(())
    }
}

/// Binds every org's listener and serves them in the background.
pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    config.validate()?;
    let cancel = CancellationToken::new();
    let mut bound = Vec::with_capacity(config.orgs.len());
    for org in &config.orgs {
        let listener = TcpListener::bind(org.listen)
            .await
            .map_err(|source| SimError::Bind {
                org: org.name.clone(),
                addr: org.listen,
                source,
            })?;
        bound.push(listener);
    }
    let mut orgs = Vec::with_capacity(bound.len());
    let mut listeners = Vec::with_capacity(bound.len());
    for (cfg, listener) in config.orgs.into_iter().zip(bound) {
        let mut addr = listener.local_addr().map_err(|source| SimError::Bind {
            org: cfg.name.clone(),
            addr: cfg.listen,
            source,
        })?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let name = cfg.name.clone();
        let org = Arc::new(Org::new(
            cfg,
            format!("http://{addr}"),
            cancel.child_token(),
        ));
        orgs.push((name, org));
        listeners.push(listener);
    }
    if let Some(path) = &config.snapshot {
        if path.exists() {
            snapshot::load(path, &orgs)?;
        }
    }
    let servers = orgs
        .iter()
        .zip(listeners)
        .map(|((_, org), listener)| {
            tokio::spawn(server::serve(listener, org.clone(), cancel.clone()))
        })
        .collect();
    Ok(SimHandle {
        orgs,
        cancel,
        servers,
        snapshot: config.snapshot,
    })
}
