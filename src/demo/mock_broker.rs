//! An embedded Kafka for the tests and the quickstart: librdkafka's mock cluster, which
//! speaks the Kafka protocol on loopback ports from inside this process (produce,
//! fetch, consumer groups with a coordinator that expires silent members and
//! rebalances, offset commits), with nothing to install.
//!
//! It has no CreateTopics, no topic configs and no TLS, so the topics a run needs are
//! created by the host up front. Hosted in-process by [`MockKafka`], or as a process of
//! its own by the hidden `sobject-sink mock-broker` subcommand ([`serve`]), which the
//! tests start with [`MockBrokerProcess`] so that the broker outlives the sink
//! processes they kill. Its log keeps at most about 5 MB (or 100,000 record batches)
//! per partition, dropping the oldest beyond that: fine for a consumer that keeps up.

use crate::demo::broker::Broker;
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The line prefix the `mock-broker` process announces its address with.
pub const BOOTSTRAP_PREFIX: &str = "BOOTSTRAP=";

/// Why the embedded broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockBrokerError {
    /// A `--topics` entry is not `name:partitions`.
    #[error("--topics entry {0:?}: expected name:partitions (partitions from 1 to 10000)")]
    BadTopic(String),
    /// `--brokers` is out of range.
    #[error("--brokers {0}: expected 1 to 16")]
    BadBrokerCount(i32),
    /// librdkafka refused to create the cluster.
    #[error("the mock Kafka cluster did not start: {0}")]
    Start(KafkaError),
    /// A topic could not be created.
    #[error("creating topic {topic} on the mock Kafka cluster: {source}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// Reading stdin or writing stdout failed, or the child process misbehaved.
    #[error("mock-broker process: {0}")]
    Io(#[from] std::io::Error),
    /// The child process ended without announcing its address.
    #[error("the mock-broker process ended without printing its address: {0}")]
    NoAddress(String),
}

/// A topic to create: its name and partition count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
}

impl TopicSpec {
    /// A topic of `partitions` partitions.
    pub fn new(name: impl Into<String>, partitions: i32) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            partitions,
        }
    }
}

impl std::fmt::Display for TopicSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.partitions)
    }
}

impl FromStr for TopicSpec {
    type Err = MockBrokerError;

    fn from_str(s: &str) -> Result<TopicSpec, MockBrokerError> {
        let bad = || MockBrokerError::BadTopic(s.to_string());
        let (name, partitions) = s.rsplit_once(':').ok_or_else(bad)?;
        let partitions: i32 = partitions.trim().parse().map_err(|_| bad())?;
        let name = name.trim();
        if name.is_empty() || !(1..=10_000).contains(&partitions) {
            return Err(bad());
        }
        Ok(TopicSpec::new(name, partitions))
    }
}

/// Options of the hidden `mock-broker` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct MockBrokerArgs {
    /// Topics to create, `name:partitions`, comma-separated (include a distributed
    /// worker's config and status topics, with one partition each).
    #[arg(long, value_delimiter = ',')]
    pub topics: Vec<TopicSpec>,
    /// Brokers in the cluster.
    #[arg(long, default_value_t = 1)]
    pub brokers: i32,
}

/// A mock Kafka cluster hosted by this process; it stops when dropped.
pub struct MockKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl MockKafka {
    /// Starts a cluster of `brokers` brokers and creates `topics` (replicated on up to
    /// three brokers).
    pub fn start(brokers: i32, topics: &[TopicSpec]) -> Result<MockKafka, MockBrokerError> {
        if !(1..=16).contains(&brokers) {
            return Err(MockBrokerError::BadBrokerCount(brokers));
        }
        let cluster = MockCluster::new(brokers).map_err(MockBrokerError::Start)?;
        let bootstrap = cluster.bootstrap_servers();
        let kafka = MockKafka { cluster, bootstrap };
        for t in topics {
            kafka.create_topic(t, brokers.min(3))?;
        }
        Ok(kafka)
    }

    /// `bootstrap.servers` for clients.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// A [`Broker`] handle for producing to and reading offsets from this cluster.
    pub fn broker(&self) -> Broker {
        Broker {
            bootstrap: self.bootstrap.clone(),
        }
    }

    fn create_topic(&self, topic: &TopicSpec, replication: i32) -> Result<(), MockBrokerError> {
        self.cluster
            .create_topic(&topic.name, topic.partitions, replication)
            .map_err(|source| MockBrokerError::CreateTopic {
                topic: topic.name.clone(),
                source,
            })
    }
}

/// The `mock-broker` subcommand: starts the cluster with its topics, prints
/// `BOOTSTRAP=host:port[,...]` as one line on stdout, and serves until stdin closes.
pub fn serve(args: MockBrokerArgs) -> Result<(), MockBrokerError> {
    let kafka = MockKafka::start(args.brokers, &args.topics)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{BOOTSTRAP_PREFIX}{}", kafka.bootstrap())?;
    out.flush()?;
    drop(out);
    // Whatever arrives on stdin is ignored; its end (the parent closed it, or died)
    // ends the broker.
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin().lock();
    while stdin.read(&mut sink)? > 0 {}
    drop(kafka);
    Ok(())
}

/// A `sobject-sink mock-broker` child process; closing its stdin (on drop) ends it.
pub struct MockBrokerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    bootstrap: String,
}

impl MockBrokerProcess {
    /// Starts `exe mock-broker` (the `sobject-sink` executable) with `topics` and
    /// waits for it to announce its address.
    pub fn spawn(
        exe: &Path,
        topics: &[TopicSpec],
        brokers: i32,
    ) -> Result<MockBrokerProcess, MockBrokerError> {
        let list: Vec<String> = topics.iter().map(TopicSpec::to_string).collect();
        let mut cmd = Command::new(exe);
        cmd.arg("mock-broker")
            .arg("--brokers")
            .arg(brokers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if !list.is_empty() {
            cmd.arg("--topics").arg(list.join(","));
        }
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| MockBrokerError::NoAddress("no stdout pipe".into()))?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(bootstrap) = line.trim().strip_prefix(BOOTSTRAP_PREFIX) else {
            let _ = child.kill();
            let status = child.wait()?;
            return Err(MockBrokerError::NoAddress(format!(
                "{status}, printed {line:?}"
            )));
        };
        Ok(MockBrokerProcess {
            bootstrap: bootstrap.to_string(),
            child,
            stdin,
        })
    }

    /// `bootstrap.servers` for clients.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// A [`Broker`] handle for producing to and reading offsets from this cluster.
    pub fn broker(&self) -> Broker {
        Broker {
            bootstrap: self.bootstrap.clone(),
        }
    }
}

impl Drop for MockBrokerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_specs_read_name_and_partitions() {
        assert_eq!(
            "leads:4".parse::<TopicSpec>().unwrap(),
            TopicSpec::new("leads", 4)
        );
        assert_eq!(
            "a:b:2".parse::<TopicSpec>().unwrap(),
            TopicSpec::new("a:b", 2)
        );
        for bad in ["leads", "leads:0", ":3", "leads:x", "leads:20000"] {
            let e = bad.parse::<TopicSpec>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn the_embedded_cluster_serves_its_topics() {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let kafka = MockKafka::start(1, &[TopicSpec::new("embedded-t", 3)]).unwrap();
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", kafka.bootstrap())
            .create()
            .unwrap();
        let md = consumer
            .fetch_metadata(Some("embedded-t"), Duration::from_secs(10))
            .unwrap();
        assert_eq!(md.topics()[0].partitions().len(), 3);
        assert!(matches!(
            MockKafka::start(0, &[]),
            Err(MockBrokerError::BadBrokerCount(0))
        ));
    }

    /// The worker's topic helper runs on the embedded cluster, which has no
    /// CreateTopics: a topic its host created is used as it is, and a missing one is an
    /// error naming it (not a hang, not an auto-created topic).
    #[tokio::test]
    async fn the_topic_helper_uses_the_hosts_topics_and_names_a_missing_one() {
        use crate::kafka::topics::{ensure_topic, TopicSpec as Wanted};
        let kafka = MockKafka::start(1, &[TopicSpec::new("hosted-configs", 1)]).unwrap();
        let hosted = Wanted {
            name: "hosted-configs",
            partitions: 1,
            replication: 1,
            configs: &[("cleanup.policy", "compact")],
        };
        let began = Instant::now();
        ensure_topic(kafka.bootstrap(), &[], &hosted).await.unwrap();
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{:?}",
            began.elapsed()
        );
        let missing = Wanted {
            name: "never-hosted",
            configs: &[],
            ..hosted
        };
        let e = ensure_topic(kafka.bootstrap(), &[], &missing)
            .await
            .unwrap_err();
        assert!(e.contains("never-hosted"), "{e}");
    }
}
