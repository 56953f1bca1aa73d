//! Creating topics: the one helper every topic the service needs goes through (the
//! reporter and dead-letter topics, a distributed worker's cluster topics, the demo's
//! input topics). Topics that exist are used as they are; brokers that refuse a
//! topic config get the topic without it, with a warning.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// A topic to create when it is missing.
#[derive(Debug, Clone)]
pub struct TopicSpec<'a> {
    /// Its name.
    pub name: &'a str,
    /// Partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replication: i32,
    /// Topic configuration, e.g. `("cleanup.policy", "compact")`.
    pub configs: &'a [(&'a str, &'a str)],
}

/// Creates `spec`'s topic unless it exists. `client_config` holds the security and
/// other librdkafka properties the broker needs. A topic that exists is used as it is
/// (as Kafka Connect does), without asking the broker to create it: brokers without
/// CreateTopics (librdkafka's mock cluster, whose host creates the topics) never see
/// the request. A broker that refuses `spec.configs` (a topic config it does not take)
/// gets the topic created without them and a warning names what was not applied; a
/// topic that is missing and cannot be created is an error naming it.
pub async fn ensure_topic(
    bootstrap_servers: &str,
    client_config: &[(String, String)],
    spec: &TopicSpec<'_>,
) -> Result<(), String> {
    let mut cfg = ClientConfig::new();
    for (k, v) in client_config {
        cfg.set(k, v);
    }
    // Last, so that a worker's own `bootstrap.servers` in `client_config` cannot send a
    // reporter topic to the wrong cluster.
    cfg.set("bootstrap.servers", bootstrap_servers);
    if exists(&cfg, spec.name)? {
        return Ok(());
    }
    let refusal = match create(&cfg, spec, spec.configs).await {
        Ok(()) => return Ok(()),
        Err(refusal) => refusal,
    };
    if spec.configs.is_empty() {
        return Err(format!("creating topic {}: {refusal}", spec.name));
    }
    let configs: Vec<String> = spec
        .configs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    match create(&cfg, spec, &[]).await {
        Ok(()) => {
            tracing::warn!(
                "the broker refused topic {} with {} ({refusal}); it was created without them",
                spec.name,
                configs.join(", ")
            );
            Ok(())
        }
        Err(again) => Err(format!(
            "creating topic {} with {}: {refusal}; without them: {again}",
            spec.name,
            configs.join(", ")
        )),
    }
}

/// Asks the broker to create `spec`'s topic with `configs`; a topic that exists by now
/// counts as created.
async fn create(
    cfg: &ClientConfig,
    spec: &TopicSpec<'_>,
    configs: &[(&str, &str)],
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = cfg.create().map_err(|e| e.to_string())?;
    let mut topic = NewTopic::new(
        spec.name,
        spec.partitions,
        TopicReplication::Fixed(spec.replication),
    );
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let timeout = Some(Duration::from_secs(10));
    let results = admin
        .create_topics(
            [&topic],
            &AdminOptions::new()
                .operation_timeout(timeout)
                .request_timeout(timeout),
        )
        .await
        .map_err(|e| e.to_string())?;
    match results.into_iter().find_map(Result::err) {
        None | Some((_, RDKafkaErrorCode::TopicAlreadyExists)) => Ok(()),
        Some((_, code)) => Err(code.to_string()),
    }
}

/// Whether the broker knows `topic`, asked without letting the request create it.
fn exists(client: &ClientConfig, topic: &str) -> Result<bool, String> {
    let mut cfg = client.clone();
    cfg.set("allow.auto.create.topics", "false");
    let metadata_client: BaseConsumer = cfg.create().map_err(|e| e.to_string())?;
    let md = metadata_client
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("reading metadata of topic {topic}: {e}"))?;
    Ok(md
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()))
}
