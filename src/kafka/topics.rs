//! Creating topics: the one helper every topic the service needs goes through (the
//! reporter and dead-letter topics, a distributed worker's cluster topics, the demo's
//! input topics).

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
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
/// other librdkafka properties the broker needs.
pub async fn ensure_topic(
    bootstrap_servers: &str,
    client_config: &[(String, String)],
    spec: &TopicSpec<'_>,
) -> Result<(), String> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap_servers);
    for (k, v) in client_config {
        cfg.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = cfg.create().map_err(|e| e.to_string())?;
    let mut topic = NewTopic::new(
        spec.name,
        spec.partitions,
        TopicReplication::Fixed(spec.replication),
    );
    for (k, v) in spec.configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .map_err(|e| e.to_string())?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => return Err(format!("creating topic {t}: {code}")),
        }
    }
    Ok(())
}
