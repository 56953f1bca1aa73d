//! `salesforce-sim`: serves one or more simulated Salesforce orgs on loopback for tests,
//! benchmarks and demos. With no flags it serves org `b` on http://127.0.0.1:8484.

use anyhow::Context;
use clap::Parser;
use sobject_sink::sim::{self, FaultPlan, OrgConfig, SimConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

// The simulator allocates a few small strings per field of every record; mimalloc keeps
// that from dominating its throughput (glibc malloc took half its time in profiles).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Salesforce org simulator: OAuth, REST sObjects, Collections, composite, query, limits and Bulk
/// API 2.0 ingest, with real error rules, a fault plan and an admin API under /__sim/.
#[derive(Debug, Parser)]
#[command(name = "salesforce-sim", version)]
struct Cli {
    /// Address of the first org; each further org listens on the next port.
    #[arg(long, default_value = "127.0.0.1:8484", value_name = "HOST:PORT")]
    listen: SocketAddr,

    /// Serve an org with this name (repeatable). Org NAME's user is integration@org-NAME.example.
    /// Default: one org named `b`.
    #[arg(long = "org", value_name = "NAME")]
    orgs: Vec<String>,

    /// TOML org file (schema, duplicate rules, credentials, faults) applied to every org;
    /// default: the embedded config/sim/default-org.toml.
    #[arg(long, value_name = "FILE")]
    org_file: Option<PathBuf>,

    /// Fixed delay added to every REST call, in milliseconds.
    #[arg(long, value_name = "MS")]
    latency_ms: Option<u64>,

    /// Extra random delay per call, uniform in 0..=MS.
    #[arg(long, value_name = "MS")]
    latency_jitter_ms: Option<u64>,

    /// Delay per record a call writes (Collections, composite, single records, Bulk jobs),
    /// in microseconds, on top of --latency-ms.
    #[arg(long, value_name = "US")]
    latency_per_record_us: Option<u64>,

    /// Most records one call's transaction may carry (a Collections call or a whole
    /// composite request); more fails the call as the org's trigger limits would.
    #[arg(long, value_name = "N")]
    transaction_record_limit: Option<u64>,

    /// Share (0..1) of REST calls answered 503 SERVER_UNAVAILABLE.
    #[arg(long, value_name = "RATE")]
    error_rate: Option<f64>,

    /// Share (0..1) of Collections records failing with UNABLE_TO_LOCK_ROW.
    #[arg(long, value_name = "RATE")]
    lock_rate: Option<f64>,

    /// Seed of the random faults (same seed, same faults).
    #[arg(long)]
    seed: Option<u64>,

    /// Lifetime of access tokens in seconds.
    #[arg(long, value_name = "SECS")]
    token_ttl_secs: Option<u64>,

    /// Daily API allocation (the max of Sforce-Limit-Info).
    #[arg(long, value_name = "N")]
    daily_api_max: Option<u64>,

    /// Time a Bulk API 2.0 job takes from UploadComplete to JobComplete, in milliseconds.
    #[arg(long, value_name = "MS")]
    bulk_delay_ms: Option<u64>,

    /// PEM public key that checks JWT bearer assertions (enables that flow).
    #[arg(long, value_name = "FILE")]
    jwt_public_key: Option<PathBuf>,

    /// Load rows from FILE at start (if it exists) and write them there at shutdown.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,

    /// Record every write in a per-row history readable through the admin API (costs memory).
    #[arg(long)]
    history: bool,
}

fn build_config(cli: &Cli) -> anyhow::Result<SimConfig> {
    let names = if cli.orgs.is_empty() {
        vec!["b".to_string()]
    } else {
        cli.orgs.clone()
    };
    let jwt_pem = match &cli.jwt_public_key {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading JWT public key {}", p.display()))?,
        ),
        None => None,
    };
    let mut orgs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut addr = cli.listen;
        let port =
            u16::try_from(usize::from(cli.listen.port()) + i).context("port number past 65535")?;
        if cli.listen.port() != 0 {
            addr.set_port(port);
        }
        let mut org = OrgConfig::named(name, addr);
        if let Some(f) = &cli.org_file {
            org.load_file(f)?;
        }
        let mut plan: FaultPlan = org.faults.clone();
        if let Some(v) = cli.latency_ms {
            plan.latency_ms = v;
        }
        if let Some(v) = cli.latency_jitter_ms {
            plan.latency_jitter_ms = v;
        }
        if let Some(v) = cli.latency_per_record_us {
            plan.latency_per_record_us = v;
        }
        if cli.transaction_record_limit.is_some() {
            plan.transaction_record_limit = cli.transaction_record_limit;
        }
        if let Some(v) = cli.error_rate {
            plan.server_unavailable_rate = v;
        }
        if let Some(v) = cli.lock_rate {
            plan.unable_to_lock_row_rate = v;
        }
        if let Some(v) = cli.seed {
            plan.seed = v;
        }
        org.faults = plan;
        if let Some(v) = cli.token_ttl_secs {
            org.token_ttl_secs = v;
        }
        if let Some(v) = cli.daily_api_max {
            org.daily_api_max = v;
        }
        if let Some(v) = cli.bulk_delay_ms {
            org.bulk_delay_ms = v;
        }
        if jwt_pem.is_some() {
            org.jwt_public_key_pem = jwt_pem.clone();
        }
        org.history |= cli.history;
        orgs.push(org);
    }
    Ok(SimConfig {
        orgs,
        snapshot: cli.snapshot.clone(),
    })
}

fn banner(config: &SimConfig, handle: &sim::SimHandle) {
    for org in &config.orgs {
        let url = handle.base_url(&org.name).unwrap_or_default();
        // These are the simulator's own throw-away development credentials; printing
        // them is the point of the banner.
        println!("org {name}: {url}", name = org.name);
        println!("  login URL:        {url}/services/oauth2/token");
        println!("  username:         {}", org.username);
        println!("  password:         {}", org.password.expose());
        println!("  security token:   {}", org.security_token.expose());
        println!("  consumer key:     {}", org.consumer_key);
        println!("  consumer secret:  {}", org.consumer_secret.expose());
        println!("  admin API:        {url}/__sim/counters");
        println!("  sink connector config:");
        println!("    salesforce.instance={url}");
        println!("    salesforce.grant.type=PASSWORD");
        println!("    salesforce.username={}", org.username);
        println!("    salesforce.password={}", org.password.expose());
        println!(
            "    salesforce.password.token={}",
            org.security_token.expose()
        );
        println!("    salesforce.consumer.key={}", org.consumer_key);
        println!(
            "    salesforce.consumer.secret={}",
            org.consumer_secret.expose()
        );
        println!("    salesforce.object=Lead");
        println!("    salesforce.use.custom.id.field=true");
        println!("    salesforce.custom.id.field.name=CustomId__c");
        println!();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = build_config(&cli)?;
    let handle = sim::start(config.clone())
        .await
        .context("starting the simulator")?;
    banner(&config, &handle);
    println!("Press Ctrl-C to stop.");
    wait_for_stop_signal().await?;
    handle.shutdown().await.context("stopping the simulator")?;
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM, so `kill` also stops cleanly (and writes the snapshot).
async fn wait_for_stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
