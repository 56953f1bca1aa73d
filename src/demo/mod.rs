//! Everything needed to see the sink work without a Kafka cluster or a Salesforce org:
//! an embedded Kafka (librdkafka's mock cluster) or a local `tansu` broker, generated
//! PushTopic Lead streams, and the quickstart.

pub mod broker;
pub mod lead_stream;
pub mod mock_broker;
pub mod quickstart;
