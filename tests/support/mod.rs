//! What the end-to-end tests share: a simulated org, the shared local broker, a sink
//! worker (in-process or as a real process), and waiting for outcomes.

#![allow(dead_code)]

pub mod avro;
pub mod processes;
pub mod registry;
pub mod switchable_org;

use serde_json::Value;
use sobject_sink::config::WorkerConfig;
use sobject_sink::connect::worker::WorkerHandle;
use sobject_sink::demo::broker::{broker, Broker};
use sobject_sink::demo::lead_stream::{LeadStream, StreamRecord};
use sobject_sink::demo::mock_broker::{MockBrokerProcess, TopicSpec};
use sobject_sink::demo::quickstart::connector_config;
use sobject_sink::sim::{OrgConfig, SimAdmin, SimConfig, SimHandle};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long any wait may take before the test gives up (not a timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(180);

/// One test's world: a fresh org, the shared broker, and a runtime for async clients.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub sim: SimHandle,
    pub org_url: String,
    pub admin: SimAdmin,
    pub kafka: &'static Broker,
    pub http: reqwest::Client,
    /// Worker keys this broker needs (tansu's fetch tuning; none for other brokers).
    pub worker_tuning: &'static [(&'static str, &'static str)],
}

impl World {
    /// A new org (with write history on) and the shared broker.
    pub fn new() -> World {
        Self::with_org(|_| {})
    }

    /// Like [`World::new`], letting the test adjust the org first.
    pub fn with_org(adjust: impl FnOnce(&mut OrgConfig)) -> World {
        let mut w = Self::on_broker(broker(), adjust);
        w.worker_tuning = sobject_sink::demo::broker::TANSU_WORKER_TUNING;
        w
    }

    /// A new org (history on, then `adjust`ed) on the given broker, e.g. an embedded
    /// one (see [`embedded_broker`]).
    pub fn on_broker(kafka: &'static Broker, adjust: impl FnOnce(&mut OrgConfig)) -> World {
        if let Ok(filter) = std::env::var("SINK_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut org = OrgConfig::named("b", SocketAddr::from(([127, 0, 0, 1], 0)));
        org.history = true;
        adjust(&mut org);
        let sim = rt
            .block_on(sobject_sink::sim::start(SimConfig::single(org)))
            .expect("simulator starts");
        let org_url = sim.base_url("b").expect("org b");
        let admin = SimAdmin::new(org_url.clone());
        World {
            rt,
            sim,
            org_url,
            admin,
            kafka,
            http: reqwest::Client::new(),
            worker_tuning: &[],
        }
    }

    /// Points the world at an org that can be taken down and brought back (see
    /// [`switchable_org::SwitchableOrg`]) instead of its own simulator, whose org is
    /// then left idle.
    pub fn use_switchable_org(
        &mut self,
        adjust: impl FnOnce(&mut OrgConfig),
    ) -> switchable_org::SwitchableOrg {
        let mut org = OrgConfig::named("b", SocketAddr::from(([127, 0, 0, 1], 0)));
        org.history = true;
        adjust(&mut org);
        let switchable = switchable_org::SwitchableOrg::start(&self.rt, org);
        self.org_url = switchable.url();
        self.admin = SimAdmin::new(self.org_url.clone());
        switchable
    }

    /// Creates `topic` and produces the stream's records to it.
    pub fn produce_stream(&self, topic: &str, partitions: i32, stream: &LeadStream) {
        self.produce_records(topic, partitions, &stream.records);
    }

    /// Creates `topic` (if needed) and produces records to it.
    pub fn produce_records(&self, topic: &str, partitions: i32, records: &[StreamRecord]) {
        let recs: Vec<(i32, Option<Vec<u8>>, Vec<u8>)> = records
            .iter()
            .map(|r| (r.partition, Some(r.key.clone()), r.value.clone()))
            .collect();
        self.rt.block_on(async {
            self.kafka.create_topic(topic, partitions).await;
            self.kafka.produce(topic, &recs).await;
        });
    }

    /// Produces raw `(partition, key, value)` records.
    pub fn produce_raw(
        &self,
        topic: &str,
        partitions: i32,
        records: &[sobject_sink::demo::broker::Produced],
    ) {
        self.rt.block_on(async {
            self.kafka.create_topic(topic, partitions).await;
            self.kafka.produce(topic, records).await;
        });
    }

    /// The quickstart's connector configuration against this org.
    pub fn connector(&self, name: &str, topic: &str) -> BTreeMap<String, String> {
        connector_config(name, topic, &self.org_url)
    }

    /// [`World::connector`] with `keys` set, in order (a later key wins).
    pub fn connector_with(
        &self,
        name: &str,
        topic: &str,
        keys: &[(&str, &str)],
    ) -> BTreeMap<String, String> {
        let mut c = self.connector(name, topic);
        for (k, v) in keys {
            c.insert(k.to_string(), v.to_string());
        }
        c
    }

    /// A worker map for this broker.
    pub fn worker_map(&self) -> BTreeMap<String, String> {
        [
            ("bootstrap.servers", self.kafka.bootstrap.as_str()),
            ("listeners", "http://127.0.0.1:0"),
            ("task.shutdown.graceful.timeout.ms", "10000"),
        ]
        .into_iter()
        .chain(self.worker_tuning.iter().copied())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Starts an in-process worker running `connector`.
    pub fn start_worker(&self, connector: BTreeMap<String, String>) -> WorkerHandle {
        let worker = WorkerConfig::from_map(&self.worker_map()).expect("worker config");
        WorkerHandle::start(worker, vec![connector]).expect("worker starts")
    }

    /// GET a JSON document from the worker's REST API.
    pub fn rest_get(&self, url: &str) -> (u16, Value) {
        self.try_rest_get(url)
            .unwrap_or_else(|e| panic!("REST answers {url}: {e}"))
    }

    /// GET a JSON document, or the transport error (a worker that has not bound its
    /// port yet refuses the connection).
    pub fn try_rest_get(&self, url: &str) -> Result<(u16, Value), reqwest::Error> {
        self.rt.block_on(async {
            let r = self.http.get(url).send().await?;
            let status = r.status().as_u16();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            Ok((status, body))
        })
    }

    /// Sends a request without body and returns the status.
    pub fn rest_send(&self, method: reqwest::Method, url: &str) -> u16 {
        self.rt.block_on(async {
            self.http
                .request(method, url)
                .send()
                .await
                .expect("REST answers")
                .status()
                .as_u16()
        })
    }

    /// Waits until the connector's task 0 status satisfies `pred`; returns it.
    pub fn wait_task(
        &self,
        rest_url: &str,
        name: &str,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // A worker that has not bound its port yet counts as "not yet".
            let (code, body) = self
                .try_rest_get(&format!("{rest_url}/connectors/{name}/status"))
                .unwrap_or((0, Value::Null));
            if code == 200 {
                if let Some(task) = body["tasks"].get(0) {
                    if pred(task) {
                        return task.clone();
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}; last status: {body}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the group has committed `ends[p]` on every partition `p`, failing
    /// early (with the trace) if the task fails.
    pub fn wait_committed(&self, rest_url: &str, name: &str, topic: &str, ends: &[i64]) {
        let deadline = Instant::now() + PATIENCE;
        let group = format!("connect-{name}");
        loop {
            let committed = self.kafka.committed(&group, topic, ends.len() as i32);
            let done = ends
                .iter()
                .enumerate()
                .all(|(p, end)| *end == 0 || committed[p] == Some(*end));
            if done {
                return;
            }
            let (_, status) = self
                .try_rest_get(&format!("{rest_url}/connectors/{name}/status"))
                .unwrap_or((0, Value::Null));
            if status["tasks"][0]["state"] == "FAILED" {
                panic!("task failed: {}", status["tasks"][0]["trace"]);
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for commits {ends:?}; committed {committed:?}; status {status}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// An access token of the org's integration user, for calls a test makes itself.
    pub fn sim_token(&self) -> String {
        self.rt.block_on(async {
            let form = [
                ("grant_type", "password"),
                ("client_id", "sim-consumer-key"),
                ("client_secret", "sim-consumer-secret"),
                ("username", "integration@org-b.example"),
                ("password", "sim-passwordSIMTOKEN"),
            ];
            let v: Value = self
                .http
                .post(format!("{}/services/oauth2/token", self.org_url))
                .form(&form)
                .send()
                .await
                .expect("token endpoint answers")
                .json()
                .await
                .expect("token JSON");
            v["access_token"]
                .as_str()
                .expect("access token")
                .to_string()
        })
    }

    /// Asserts that every Lead of `stream` ended in the org as its last change left it:
    /// live rows field by field, deleted rows absent, and no extra rows.
    pub fn assert_rows_match(&self, stream: &LeadStream) {
        let rows = self.leads_by_source();
        let mut live = 0;
        for (sid, expected) in &stream.expected {
            match expected {
                None => assert!(!rows.contains_key(sid), "{sid} should be deleted"),
                Some(fields) => {
                    live += 1;
                    let row = rows.get(sid).unwrap_or_else(|| panic!("{sid} missing"));
                    for (k, v) in fields {
                        assert!(
                            sobject_sink::demo::lead_stream::same_value(v, &row[k]),
                            "{sid}.{k}: expected {v}, got {}",
                            row[k]
                        );
                    }
                }
            }
        }
        assert_eq!(rows.len(), live, "no extra rows");
    }

    /// Live Lead rows by their External ID (`CustomId__c`).
    pub fn leads_by_source(&self) -> BTreeMap<String, Value> {
        let rows = self
            .rt
            .block_on(self.admin.live_rows("Lead"))
            .expect("rows");
        rows.into_iter()
            .filter_map(|r| {
                let key = r.str("CustomId__c")?.to_string();
                Some((key, Value::Object(r.0)))
            })
            .collect()
    }
}

/// An embedded Kafka (a `sobject-sink mock-broker` process, ended when the test
/// process ends) with `topics` created; the handle must live as long as the test.
pub fn embedded_broker(topics: &[TopicSpec]) -> (MockBrokerProcess, &'static Broker) {
    let process = MockBrokerProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_sobject-sink")),
        topics,
        1,
    )
    .expect("the embedded broker starts");
    let kafka: &'static Broker = Box::leak(Box::new(process.broker()));
    (process, kafka)
}

/// Per-partition record counts (the positions to expect once everything is committed).
pub fn ends_of(records: &[StreamRecord], partitions: i32) -> Vec<i64> {
    let mut ends = vec![0i64; partitions as usize];
    for r in records {
        ends[r.partition as usize] += 1;
    }
    ends
}

/// Child processes killed when the test ends, also when it fails.
#[derive(Default)]
pub struct Children(pub Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writes `map` as a `.properties` file.
pub fn write_properties(path: &std::path::Path, map: &BTreeMap<String, String>) {
    let text: String = map.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// Runs `sobject-sink standalone worker connector`, which must refuse to start, and
/// returns what it wrote to stderr.
pub fn standalone_refuses(worker: &std::path::Path, connector: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sobject-sink"))
        .arg("standalone")
        .arg(worker)
        .arg(connector)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sends `body` as JSON to a REST API; returns the status and the JSON answer (null
/// when the answer is not JSON).
pub fn send_json(w: &World, method: reqwest::Method, url: &str, body: &Value) -> (u16, Value) {
    w.rt.block_on(async {
        let r = w
            .http
            .request(method, url)
            .json(body)
            .send()
            .await
            .expect("REST answers");
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    })
}

/// POSTs `body` as JSON, like [`send_json`].
pub fn post_json(w: &World, url: &str, body: &Value) -> (u16, Value) {
    send_json(w, reqwest::Method::POST, url, body)
}
