//! `sobject-sink`: the command line. Thin: it parses arguments, sets up logging, and
//! hands over to the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sobject_sink::config::{properties, WorkerConfig};
use sobject_sink::connect::worker::WorkerHandle;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

// Every record is decoded into small strings and maps that are freed a few
// milliseconds later on another thread; glibc malloc spent a third of the sink's CPU on
// that in profiles of the load benchmark, mimalloc a fraction of it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Streams Salesforce record changes from Kafka into a Salesforce org; compatible with
/// the configuration of Confluent's Salesforce SObject Sink connector.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run connectors in one process, like `connect-standalone`:
    /// `sobject-sink standalone worker.properties connector.properties...`
    Standalone {
        /// The worker file (`bootstrap.servers`, `listeners`, Kafka client security).
        worker: PathBuf,
        /// Connector files: `.properties`, or `.json` (a flat map, or Connect's
        /// `{"name": ..., "config": {...}}`).
        #[arg(required = true)]
        connectors: Vec<PathBuf>,
    },
    /// Run a worker that shares connectors with every worker of the same `group.id`
    /// (configs, statuses and partitions through Kafka):
    /// `sobject-sink distributed worker.properties`
    Distributed {
        /// The worker file; it must set `group.id`.
        worker: PathBuf,
    },
    /// Try it end to end with nothing set up: starts an embedded Kafka broker (or with
    /// `--broker tansu` a local `tansu`, installed when missing) and a simulated
    /// Salesforce org, produces a stream of Lead changes, syncs them, and prints what
    /// happened.
    Quickstart(sobject_sink::demo::quickstart::QuickstartArgs),
    /// An embedded Kafka (librdkafka's mock cluster) for tests: creates the topics it
    /// is given, prints `BOOTSTRAP=host:port`, and serves until stdin closes.
    #[command(hide = true)]
    MockBroker(sobject_sink::demo::mock_broker::MockBrokerArgs),
}

fn read_connector(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read connector file {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let (name, cfg) = match (v.get("name"), v.get("config")) {
            (Some(n), Some(c)) => (n.as_str().map(str::to_string), c.clone()),
            _ => (None, v.clone()),
        };
        let obj = cfg.as_object().with_context(|| {
            format!(
                "{}: the configuration must be a JSON object",
                path.display()
            )
        })?;
        let mut map = BTreeMap::new();
        for (k, v) in obj {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            map.insert(k.clone(), s);
        }
        if let Some(n) = name {
            map.insert("name".into(), n);
        }
        Ok(map)
    } else {
        properties::parse_map(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

fn init_logging(json: bool, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},rdkafka=warn,hyper=warn,reqwest=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn init_worker_logging(worker: &WorkerConfig) {
    let json = worker.log_format == sobject_sink::config::worker::LogFormat::Json;
    init_logging(json, &worker.log_level);
}

fn wait_for_signal() {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return,
    };
    rt.block_on(async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
}

/// Reads and validates the worker file, starts logging as it asks, and logs once each
/// key it accepts without effect.
fn load_worker(path: &Path) -> anyhow::Result<WorkerConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read worker file {}", path.display()))?;
    let map =
        properties::parse_map(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let worker_config = WorkerConfig::from_map(&map)
        .map_err(|e| anyhow::anyhow!("worker file {}:\n{e}", path.display()))?;
    init_worker_logging(&worker_config);
    for key in worker_config.ignored_keys() {
        tracing::info!("worker key {key} is not used by this worker");
    }
    for ignored in worker_config.ignored_client_keys() {
        tracing::warn!("worker key {} is ignored: {}", ignored.key, ignored.reason);
    }
    Ok(worker_config)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Standalone { worker, connectors } => {
            let worker_config = load_worker(&worker)?;
            let mut configs = Vec::new();
            for path in &connectors {
                let map = read_connector(path)?;
                // Validate up front so a typo stops the process with the key named.
                // The worker's converter keys are the connector's defaults.
                worker_config
                    .connector_config(&map)
                    .map_err(|e| anyhow::anyhow!("connector file {}:\n{e}", path.display()))?;
                configs.push(map);
            }
            let grace = worker_config.task_shutdown_graceful_timeout + Duration::from_secs(5);
            let handle = WorkerHandle::start(worker_config, configs)?;
            tracing::info!("metrics at {}/metrics", handle.rest_url);
            wait_for_signal();
            tracing::info!("shutting down: draining in-flight work and committing offsets");
            handle.shutdown(grace);
            Ok(())
        }
        Command::Distributed { worker } => {
            let worker_config = load_worker(&worker)?;
            if worker_config.distributed.is_none() {
                anyhow::bail!(
                    "worker file {}: group.id is required in distributed mode",
                    worker.display()
                );
            }
            let grace = worker_config.task_shutdown_graceful_timeout + Duration::from_secs(5);
            let handle = WorkerHandle::start(worker_config, Vec::new())?;
            tracing::info!("metrics at {}/metrics", handle.rest_url);
            wait_for_signal();
            tracing::info!("shutting down: draining in-flight work and committing offsets");
            handle.shutdown(grace);
            Ok(())
        }
        Command::Quickstart(args) => {
            init_logging(false, "warn");
            sobject_sink::demo::quickstart::run(args).map_err(anyhow::Error::from)
        }
        Command::MockBroker(args) => {
            init_logging(false, "warn");
            sobject_sink::demo::mock_broker::serve(args).map_err(anyhow::Error::from)
        }
    }
}
