//! A local Kafka-protocol broker (`tansu`) for the quickstart, the benchmark and the
//! tests, plus the few client operations they need (create a topic, produce, read
//! committed offsets, read a topic back).
//!
//! The broker listens on a free loopback port with in-memory storage. It is started
//! from a thread that lives as long as the process, with `PR_SET_PDEATHSIG`, so it dies
//! with the process that started it, however that process ends.

use crate::kafka::topics::{ensure_topic, TopicSpec};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Worker `consumer.*` settings for a tansu broker: tansu holds every fetch for the
/// full `fetch.wait.max.ms` even when records are ready, so the sink's default wait
/// (100 ms) would cap a consumer at ten fetches a second. Real Kafka answers a fetch as
/// soon as it has records and needs none of this.
pub const TANSU_WORKER_TUNING: &[(&str, &str)] = &[("consumer.fetch.wait.max.ms", "5")];

/// One record to produce: partition, optional key, value.
pub type Produced = (i32, Option<Vec<u8>>, Vec<u8>);

/// A broker to talk to.
#[derive(Debug, Clone)]
pub struct Broker {
    /// `bootstrap.servers` for clients.
    pub bootstrap: String,
}

static BROKER: OnceLock<Broker> = OnceLock::new();

/// Whether the `tansu` binary is on `PATH`.
pub fn tansu_installed() -> bool {
    Command::new("tansu")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// `tansu broker` listening and advertising on `url` (`tcp://host:port`), keeping its
/// data in `storage` (`memory://tansu/`, or `sqlite://FILE` to outlive a restart).
pub fn tansu_broker_command(url: &str, storage: &str) -> Command {
    let mut cmd = Command::new("tansu");
    cmd.args([
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        storage,
    ]);
    cmd
}

/// Installs `tansu` with cargo, showing cargo's progress.
pub fn install_tansu() -> std::io::Result<()> {
    let status = Command::new("cargo")
        .args([
            "install",
            "tansu",
            "--locked",
            "--features",
            "dynostore,libsql",
        ])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "cargo install tansu failed: {status}"
        )))
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The process's broker, started on first use (or the one `KAFKA_BOOTSTRAP` names).
/// Panics when no broker can be started: callers are tests, benchmarks and demos.
pub fn broker() -> &'static Broker {
    BROKER.get_or_init(|| {
        if let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP") {
            return Broker { bootstrap };
        }
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let (tx, rx) = std::sync::mpsc::channel();
        // The broker is spawned from a thread that lives as long as the test binary,
        // so that PDEATHSIG (sent when the spawning thread dies) kills it exactly when
        // the tests are over.
        std::thread::spawn(move || {
            let mut cmd = tansu_broker_command(&url, "memory://tansu/");
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = cmd
                .spawn()
                .expect("tansu is installed (tests/run.sh installs it)");
            tx.send(()).ok();
            let _keep = child;
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("broker thread started");
        let bootstrap = format!("127.0.0.1:{port}");
        wait_until_ready(&bootstrap);
        Broker { bootstrap }
    })
}

fn wait_until_ready(bootstrap: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("metadata client");
        if consumer
            .fetch_metadata(None, Duration::from_secs(2))
            .is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tansu did not come up on {bootstrap}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Broker {
    /// Creates `topic` with `partitions` partitions; on a broker without CreateTopics
    /// (the embedded one, whose topics are made when it starts) the topic must exist.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let spec = TopicSpec {
            name: topic,
            partitions,
            replication: 1,
            configs: &[],
        };
        if let Err(e) = ensure_topic(&self.bootstrap, &[], &spec).await {
            panic!("{e}");
        }
    }

    /// A producer writing one record per record batch. tansu 0.6 returns nothing for
    /// a fetch that starts inside a multi-record batch, so a consumer resuming from a
    /// committed offset in the middle of one would stall; single-record batches keep
    /// every offset at a batch start. (Real Kafka brokers do not need this.)
    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("linger.ms", "5")
            .set("batch.num.messages", "1")
            .set("message.timeout.ms", "30000")
            .create()
            .expect("producer")
    }

    /// Produces `(partition, key, value)` records to `topic` in order, waiting for
    /// every acknowledgement.
    pub async fn produce(&self, topic: &str, records: &[Produced]) {
        produce_with(&self.producer(), topic, records).await
    }

    /// The committed positions of `group` on `topic` partitions `0..partitions`
    /// (`None` where nothing is committed).
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("offset reader");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        (0..partitions)
            .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect()
    }

    /// Reads every record of `topic` (all partitions) currently in the log.
    pub fn read_all(&self, topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
        use rdkafka::Message;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", format!("reader-{}", free_port()))
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "true")
            .create()
            .expect("reader");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut idle = 0;
        while Instant::now() < deadline && idle < 10 {
            match consumer.poll(Duration::from_millis(300)) {
                Some(Ok(m)) => {
                    idle = 0;
                    out.push(m.detach());
                }
                Some(Err(_)) | None => idle += 1,
            }
        }
        out.sort_by_key(|m| (m.partition(), m.offset()));
        out
    }
}

/// Produces `(partition, key, value)` records to `topic` in order through `producer`,
/// waiting for every acknowledgement (to pace a feed with one producer).
pub async fn produce_with(producer: &FutureProducer, topic: &str, records: &[Produced]) {
    let mut pending = Vec::with_capacity(records.len());
    for (partition, key, value) in records {
        let mut r: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .partition(*partition)
            .payload(value.as_slice())
            .headers(OwnedHeaders::new().insert(Header {
                key: "test",
                value: Some("1"),
            }));
        if let Some(k) = key {
            r = r.key(k.as_slice());
        }
        pending.push(
            producer
                .send_result(r)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for p in pending {
        p.await.expect("delivery").expect("broker ack");
    }
}
