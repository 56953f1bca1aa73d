//! One connector task: logs in, checks the target, wires the actors, and stops them.
//!
//! Start-up order matters: the Salesforce login and the describe check come first, so
//! a wrong password or a missing SObject or External ID field fails the task at once
//! with a clear message, before anything is consumed. The reader and the decoder get an
//! arbiter (thread) each; the sequencer, writer, governor, caches, reporter, tracker and
//! halt actor share the task's home arbiter.

use crate::config::connector::{
    ApiErrorBehavior, ApiVersion as ConfigApiVersion, ErrorTolerance, GrantType,
};
use crate::config::sync::{GapBehavior, References};
use crate::config::{ConnectorConfig, WorkerConfig};
use crate::kafka::consumer::{build_consumer, ConsumerSettings, TaskConsumer, TaskConsumerContext};
use crate::kafka::in_flight::InFlight;
use crate::kafka::ownership::Ownership;
use crate::kafka::report::build_producer;
use crate::kafka::topics::{ensure_topic, TopicSpec};
use crate::metrics::metrics;
use crate::pipeline::decoder::{Decoder, DecoderTargets};
use crate::pipeline::governor::{GovernorSettings, RateGovernor};
use crate::pipeline::halt::HaltActor;
use crate::pipeline::messages::{DrainTargets, Forget, SetPaused, Shutdown, WireHalt, WriteBatch};
use crate::pipeline::offset_tracker::OffsetTracker;
use crate::pipeline::ordering::MAX_BULK_BATCH;
use crate::pipeline::reader::{PartitionReader, ReaderSettings, ReaderTargets};
use crate::pipeline::reporter::{ErrorLog, ReportTargets, Reporter, REPORTS_IN_FLIGHT};
use crate::pipeline::router::SObjectRouter;
use crate::pipeline::sequencer::{Sequencer, SequencerSettings, SequencerTargets};
use crate::pipeline::status::{State, TaskStatusCell};
use crate::pipeline::writer::{Permits, ReferenceSettings, SObjectWriter, WriterSettings};
use crate::salesforce::auth::{Credentials, JwtKey};
use crate::salesforce::client::{
    ApiVersion, CallEvent, CallObserver, ClientOptions, ProxyOptions, SalesforceClient,
};
use crate::salesforce::describe::DescribeCache;
use crate::salesforce::request::BodyRules;
use crate::salesforce::retry::Policy;
use actix::{Actor, Addr, Arbiter};
use rdkafka::consumer::Consumer;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a task could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Logging in to Salesforce failed.
    #[error("Salesforce login failed: {0}")]
    Login(String),
    /// The target SObject or External ID field is not usable.
    #[error("the target org cannot take these records: {0}")]
    Target(String),
    /// The Kafka client could not be created.
    #[error("Kafka: {0}")]
    Kafka(String),
}

/// Everything one task needs.
pub struct TaskSpec {
    /// The connector's configuration.
    pub config: Arc<ConnectorConfig>,
    /// The worker's configuration.
    pub worker: Arc<WorkerConfig>,
    /// Task number.
    pub task_id: u32,
    /// Where the task reports its state.
    pub status: TaskStatusCell,
}

/// A running task's handles.
pub struct RunningTask {
    connector: String,
    consumer: Arc<TaskConsumer>,
    reader: Addr<PartitionReader>,
    sequencer: Addr<Sequencer>,
    tracker: Addr<OffsetTracker>,
    halt: Addr<HaltActor>,
    governor: Addr<RateGovernor>,
    in_flight: Arc<InFlight>,
    ownership: Arc<Ownership>,
    arbiters: Vec<Arbiter>,
    status: TaskStatusCell,
    drain: DrainTargets,
}

/// What the connector configuration says about errors, for `salesforce/retry.rs`.
pub fn policy(config: &ConnectorConfig) -> Policy {
    Policy {
        strict_deletes: config.sink.strict_deletes,
        skip_api_errors: config.behavior_on_api_errors != ApiErrorBehavior::Fail,
        tolerate_bad_records: config.errors.tolerance == ErrorTolerance::All,
        all_or_none: config.sink.all_or_none,
        skip_cdc_gaps: config.sync.gap_behavior == GapBehavior::Skip,
    }
}

struct MetricsObserver {
    connector: String,
}

impl CallObserver for MetricsObserver {
    fn on_call(&self, event: &CallEvent) {
        let m = metrics();
        let status = event
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "error".to_string());
        m.api_calls
            .with_label_values(&[&self.connector, event.endpoint.as_str(), &status])
            .inc();
        m.api_latency
            .with_label_values(&[&self.connector, event.endpoint.as_str()])
            .observe(event.latency.as_secs_f64());
    }

    fn on_login(&self, _success: bool) {
        metrics().logins.with_label_values(&[&self.connector]).inc();
    }
}

/// The Salesforce client options a connector configuration describes.
pub fn client_options(config: &ConnectorConfig) -> Result<ClientOptions, StartError> {
    let c = &config.credentials;
    let missing = |key: &str| StartError::Login(format!("{key} is not set"));
    let credentials = match c.grant_type {
        GrantType::Password => Credentials::Password {
            username: c
                .username
                .clone()
                .ok_or_else(|| missing("salesforce.username"))?,
            password: c
                .password
                .as_ref()
                .cloned()
                .ok_or_else(|| missing("salesforce.password"))?,
            security_token: c.password_token.as_ref().cloned(),
            client_id: c.consumer_key.clone(),
            client_secret: c
                .consumer_secret
                .as_ref()
                .cloned()
                .ok_or_else(|| missing("salesforce.consumer.secret"))?,
        },
        GrantType::ClientCredentials => Credentials::ClientCredentials {
            client_id: c.consumer_key.clone(),
            client_secret: c
                .consumer_secret
                .as_ref()
                .cloned()
                .ok_or_else(|| missing("salesforce.consumer.secret"))?,
        },
        GrantType::JwtBearer => {
            let path = c
                .jwt_keystore_path
                .clone()
                .ok_or_else(|| missing("salesforce.jwt.keystore.path"))?;
            let password = c.jwt_keystore_password.as_ref().cloned();
            let key = JwtKey::load(Path::new(&path), password.as_ref())
                .map_err(|e| StartError::Login(e.to_string()))?;
            Credentials::JwtBearer {
                client_id: c.consumer_key.clone(),
                username: c
                    .username
                    .clone()
                    .ok_or_else(|| missing("salesforce.username"))?,
                key,
            }
        }
    };
    let mut opts = ClientOptions::new(
        config.instance.as_str().trim_end_matches('/').to_string(),
        credentials,
    );
    opts.api_version = match &config.version {
        ConfigApiVersion::Latest => ApiVersion::Latest,
        ConfigApiVersion::Fixed(v) => ApiVersion::Fixed(v.clone()),
    };
    opts.connection_timeout = config.connection_timeout;
    opts.curl_logging = config.curl_logging;
    opts.auth_retry_budget = config.auth_retries_time;
    opts.proxy = config.http_proxy.as_ref().map(|p| ProxyOptions {
        url: if p.address.contains("://") {
            p.address.clone()
        } else {
            format!("http://{}", p.address)
        },
        username: p.basic_auth.as_ref().map(|(u, _)| u.clone()),
        password: p.basic_auth.as_ref().map(|(_, pw)| pw.clone()),
    });
    opts.call_client = Some(config.sync.client_id.clone());
    opts.observer = Some(Arc::new(MetricsObserver {
        connector: config.name.clone(),
    }));
    Ok(opts)
}

/// Starts one task. Must run inside an actix system.
pub async fn start_task(spec: TaskSpec) -> Result<RunningTask, StartError> {
    let config = spec.config.clone();
    let name = config.name.clone();
    let status = spec.status.clone();

    let client = SalesforceClient::connect(client_options(&config)?)
        .await
        .map_err(|e| StartError::Login(e.to_string()))?;

    let custom_id = if config.use_custom_id_field {
        config.custom_id_field_name.as_deref()
    } else {
        None
    };
    let schemas = Arc::new(DescribeCache::new());
    // With `*` the SObjects are known only as records name them.
    if !config.every_sobject() {
        for sobject in &config.salesforce_objects {
            schemas
                .load_for_startup(&client, sobject, custom_id)
                .await
                .map_err(|e| StartError::Target(e.to_string()))?;
        }
    }

    // Kafka side.
    let worker = spec.worker.clone();
    let client_config = worker.kafka_client_config();
    let in_flight = Arc::new(InFlight::new(config.sink.max_buffered_records));
    let drain_timeout = worker.task_shutdown_graceful_timeout;
    let revoked_sink: Arc<parking_lot::Mutex<Option<Addr<OffsetTracker>>>> =
        Arc::new(parking_lot::Mutex::new(None));
    let revoked_for_ctx = revoked_sink.clone();
    let ownership = Arc::new(Ownership::counted_in(
        crate::metrics::metrics()
            .assigned_partitions
            .with_label_values(&[&name]),
    ));
    let context = TaskConsumerContext::new(
        &name,
        in_flight.clone(),
        ownership.clone(),
        drain_timeout,
        Box::new(move |tps| {
            if let Some(t) = revoked_for_ctx.lock().as_ref() {
                t.do_send(Forget(tps.to_vec()));
            }
        }),
    );
    let mut overrides = worker.consumer_overrides();
    overrides.extend(config.consumer_overrides.iter().cloned());
    let consumer = build_consumer(
        &ConsumerSettings {
            bootstrap_servers: &worker.bootstrap_servers,
            group_id: format!("connect-{name}"),
            client_config: client_config.clone(),
            overrides,
        },
        context,
    )
    .map_err(|e| StartError::Kafka(e.to_string()))?;
    let subscription = config.topics.subscription();
    let refs: Vec<&str> = subscription.iter().map(String::as_str).collect();
    consumer
        .subscribe(&refs)
        .map_err(|e| StartError::Kafka(e.to_string()))?;
    let consumer = Arc::new(consumer);

    // Reporter and dead-letter queue.
    let mut targets = ReportTargets {
        log_rejections: config.behavior_on_api_errors == ApiErrorBehavior::Log,
        error_log: ErrorLog {
            enable: config.errors.log_enable,
            include_messages: config.errors.log_include_messages,
        },
        dlq_context_headers: config.errors.dlq_context_headers,
        ..ReportTargets::default()
    };
    // Producers take the worker's `producer.*` keys, then the connector's
    // `producer.override.*`; topic creation takes `admin.override.*`. The reporter's
    // own cluster takes `reporter.security.*`/`sasl.*`/`ssl.*` when they are given.
    let with_overrides = |base: &[(String, String)], extra: &[&[(String, String)]]| {
        let mut all = base.to_vec();
        for part in extra {
            all.extend(part.iter().cloned());
        }
        all
    };
    let worker_producer = worker.producer_overrides();
    let producer_config = with_overrides(
        &client_config,
        &[&worker_producer, &config.producer_overrides],
    );
    let admin_config = with_overrides(&client_config, &[&config.admin_overrides]);
    if let Some(rep) = &config.reporter {
        let reporter_base = rep.security.as_deref().unwrap_or(&client_config);
        let producer = build_producer(
            &rep.bootstrap_servers,
            &with_overrides(
                reporter_base,
                &[&worker_producer, &config.producer_overrides],
            ),
        )
        .map_err(|e| StartError::Kafka(e.to_string()))?;
        let reporter_admin = with_overrides(reporter_base, &[&config.admin_overrides]);
        for t in [&rep.result_topic, &rep.error_topic].into_iter().flatten() {
            let spec = TopicSpec {
                name: &t.name,
                partitions: t.partitions,
                replication: i32::from(t.replication_factor),
                configs: &[],
            };
            if let Err(e) = ensure_topic(&rep.bootstrap_servers, &reporter_admin, &spec).await {
                tracing::warn!(connector = %name, "reporter topic {}: {e}", t.name);
            }
        }
        targets.success_topic = rep.result_topic.as_ref().map(|t| t.name.clone());
        targets.error_topic = rep.error_topic.as_ref().map(|t| t.name.clone());
        targets.reports = Some(Arc::new(producer));
    }
    // Dead letters go to the worker's cluster, where their topic is created, as
    // Connect's dead-letter queue does; the reporter's cluster is for its reports.
    if config.errors.tolerance == ErrorTolerance::All {
        if let Some(dlq) = &config.errors.dlq_topic {
            targets.dead_letters = Some(Arc::new(
                build_producer(&worker.bootstrap_servers, &producer_config)
                    .map_err(|e| StartError::Kafka(e.to_string()))?,
            ));
            let spec = TopicSpec {
                name: dlq,
                partitions: 1,
                replication: i32::from(config.errors.dlq_replication_factor),
                configs: &[],
            };
            if let Err(e) = ensure_topic(&worker.bootstrap_servers, &admin_config, &spec).await {
                tracing::warn!(connector = %name, "dead-letter topic {dlq}: {e}");
            }
            targets.dlq_topic = Some(dlq.clone());
        }
    }

    // Actors. Each gets the recipients of the messages it sends, nothing more.
    let policy = policy(&config);
    let tracker = OffsetTracker::new(consumer.clone(), in_flight.clone()).start();
    *revoked_sink.lock() = Some(tracker.clone());
    let halt = HaltActor::new(&name, status.clone()).start();
    let report_deliveries = targets.reports.is_some() && targets.success_topic.is_some();
    let reporter = Reporter::new(
        &name,
        spec.task_id,
        targets,
        tracker.clone().recipient(),
        halt.clone().recipient(),
        REPORTS_IN_FLIGHT,
    )
    .start();
    let governor_addr = RateGovernor::new(
        GovernorSettings {
            connector: name.clone(),
            requests_per_second: config.sink.api_requests_per_second,
            reserve_percent: config.sink.api_daily_reserve_percent,
            poll_interval: config.sink.api_budget_poll_interval,
        },
        Arc::new(client.clone()),
        status.clone(),
    )
    .start();
    // One writer per SObject, all alike but for the SObject's name.
    let template = WriterSettings {
        connector: name.clone(),
        sobject: String::new(),
        custom_id_field: custom_id.map(str::to_string),
        rules: BodyRules {
            ignore_fields: config.ignore_fields.clone(),
            ignore_reference_fields: config.ignore_reference_fields,
            skip_relationship_fields: config.skip_relationship_fields,
            custom_id_field: custom_id.map(str::to_string),
        },
        policy,
        retry_budget: config.request_max_retries_time,
        id_cache_max: config.sink.id_cache_max_entries,
        bulk: config.sink.bulk_threshold_records.is_some(),
        backoff_initial: config.sink.retry_backoff_initial,
        backoff_max: config.sink.retry_backoff_max,
        references: (config.sync.references == References::ExternalId)
            .then(|| custom_id.map(str::to_string))
            .flatten()
            .map(|external_id_field| ReferenceSettings {
                external_id_field,
                static_ids: config.sync.static_references.clone(),
            }),
        composite: config.sink.composite_collections,
        max_in_flight: config.sink.max_in_flight_requests,
        ownership: ownership.clone(),
    };
    let permits = Permits {
        acquire: governor_addr.clone().recipient(),
        release: governor_addr.clone().recipient(),
        spent: governor_addr.clone().recipient(),
        in_flight: metrics().in_flight.with_label_values(&[&name]),
    };
    let (writer_client, writer_schemas) = (client.clone(), schemas.clone());
    let writer_for = move |sobject: &str| -> actix::Recipient<WriteBatch> {
        let mut settings = template.clone();
        settings.sobject = sobject.to_string();
        SObjectWriter::new(
            settings,
            writer_client.clone(),
            writer_schemas.clone(),
            permits.clone(),
        )
        .start()
        .recipient()
    };
    let writer: actix::Recipient<WriteBatch> = if config.every_sobject() {
        // `salesforce.object=*`: a writer for each SObject as its first record comes.
        SObjectRouter::on_demand(Box::new(writer_for))
            .start()
            .recipient()
    } else {
        match config.salesforce_objects.as_slice() {
            [one] => writer_for(one),
            several => SObjectRouter::new(several.iter().map(|o| (o.clone(), writer_for(o))))
                .start()
                .recipient(),
        }
    };
    let sequencer = Sequencer::new(
        SequencerSettings {
            connector: name.clone(),
            max_batch: config.sink.batch_max_records,
            linger: config.sink.batch_linger,
            max_in_flight: config.sink.max_in_flight_requests,
            batches_per_call: config.sink.composite_collections,
            bulk_batch: config.sink.bulk_threshold_records.map(|_| {
                // A job takes at most half the buffer, so the other half keeps reading
                // while it runs.
                (config.sink.max_buffered_records / 2).min(MAX_BULK_BATCH)
            }),
            policy,
            report_deliveries,
            parent_wait: config.sync.references_wait,
            ownership: ownership.clone(),
            backoff: (
                config.sink.retry_backoff_initial,
                config.sink.retry_backoff_max,
            ),
        },
        SequencerTargets {
            writer,
            tracker: tracker.clone().recipient(),
            halt: halt.clone().recipient(),
            reporter: reporter.clone().recipient(),
        },
        in_flight.clone(),
    )
    .start();
    let decoder_arbiter = Arbiter::new();
    let decoder = {
        let config = config.clone();
        let targets = DecoderTargets {
            sequencer: sequencer.clone().recipient(),
            reporter: reporter.clone().recipient(),
            halt: halt.clone().recipient(),
            tracker: tracker.clone().recipient(),
            register: tracker.clone().recipient(),
        };
        Decoder::start_in_arbiter(&decoder_arbiter.handle(), move |_| {
            Decoder::new(config, policy, targets)
        })
    };
    let reader_arbiter = Arbiter::new();
    let reader = {
        let (consumer, gate) = (consumer.clone(), in_flight.clone());
        let targets = ReaderTargets {
            tracker: tracker.clone().recipient(),
            decoder: decoder.recipient(),
            bulk_mode: sequencer.clone().recipient(),
            idle: sequencer.clone().recipient(),
        };
        let settings = ReaderSettings {
            connector: name.clone(),
            max_batch: 1000,
            poll_timeout: Duration::from_millis(100),
            bulk_threshold: config.sink.bulk_threshold_records,
            read_header_keys: config.transforms.needs_header_keys(),
            ownership: ownership.clone(),
        };
        PartitionReader::start_in_arbiter(&reader_arbiter.handle(), move |_| {
            PartitionReader::new(settings, consumer, gate, targets)
        })
    };
    let drain = DrainTargets {
        stop_intake: reader.clone().recipient(),
        drain: sequencer.clone().recipient(),
        commit: tracker.clone().recipient(),
        timeout: drain_timeout,
    };
    halt.do_send(WireHalt {
        drain: drain.clone(),
        reporter: reporter.clone().recipient(),
    });
    status.set(State::Running, None);
    tracing::info!(connector = %name, task = spec.task_id, "task running");
    Ok(RunningTask {
        connector: name,
        consumer,
        reader,
        sequencer,
        tracker,
        halt,
        governor: governor_addr,
        in_flight,
        ownership,
        arbiters: vec![decoder_arbiter, reader_arbiter],
        status,
        drain,
    })
}

impl RunningTask {
    /// Pauses or resumes intake (operator request); in-flight work completes.
    pub fn set_paused_future(
        &self,
        paused: bool,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let reader = self.reader.clone();
        let status = self.status.clone();
        async move {
            let _ = reader.send(SetPaused(paused)).await;
            status.set_operator_paused(paused);
        }
    }

    /// Stops the task gracefully: no more intake, drain in-flight work (bounded),
    /// commit synchronously, stop the actors, then close the consumer, which leaves
    /// the group before the task counts as stopped.
    pub async fn stop(self) {
        self.drain.drain_and_commit(false).await;
        // Whatever is still counted will never be acknowledged; the consumer's close
        // must not wait for it.
        self.in_flight.clear_all();
        let _ = self.reader.send(Shutdown).await;
        for a in &self.arbiters {
            a.stop();
        }
        let _ = self.sequencer.send(Shutdown).await;
        let _ = self.halt.send(Shutdown).await;
        let _ = self.governor.send(Shutdown).await;
        let _ = self.tracker.send(Shutdown).await;
        let connector = self.connector.clone();
        let close = tokio::task::spawn_blocking(move || close_consumer(&connector, self.consumer));
        // A broker that is away can hold the close up; the worker does not wait for it
        // longer than this (the close goes on in the background).
        if tokio::time::timeout(CONSUMER_CLOSE_WAIT, close)
            .await
            .is_err()
        {
            tracing::warn!(connector = %self.connector, "the consumer's close is still going on");
        }
        // Closed or not, the task reads nothing any more: it owns no partition.
        self.ownership.release_all();
        tracing::info!(connector = %self.connector, "task stopped");
    }
}

/// How long a stopping task waits for its reader and offset tracker to let go of the
/// consumer before it leaves the closing to whichever of them lets go last.
const CONSUMER_RELEASE_WAIT: Duration = Duration::from_secs(5);

/// How long a stopping task waits for its consumer's close (release wait included).
const CONSUMER_CLOSE_WAIT: Duration = Duration::from_secs(15);

/// Closes the task's consumer once the actors have let go of it (a reader's poll ends
/// within its timeout). The close commits the stored offsets and sends LeaveGroup, so
/// the group hands the partitions to another member at once instead of after the
/// session timeout: a worker that exits right after its tasks stop would otherwise cut
/// the close short and leave a silent member behind.
fn close_consumer(connector: &str, consumer: Arc<TaskConsumer>) {
    let deadline = Instant::now() + CONSUMER_RELEASE_WAIT;
    let mut consumer = consumer;
    loop {
        match Arc::try_unwrap(consumer) {
            Ok(owned) => {
                drop(owned);
                tracing::debug!(connector, "consumer closed and left the group");
                return;
            }
            Err(shared) if Instant::now() < deadline => {
                consumer = shared;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => {
                tracing::warn!(
                    connector,
                    "the consumer was still in use {} s after the task stopped; it \
                     leaves the group when its last user lets go",
                    CONSUMER_RELEASE_WAIT.as_secs()
                );
                return;
            }
        }
    }
}
