//! The writer against the simulated org, in-process: what lands in the org, and the
//! action each change comes back with. Retry delays are a few milliseconds, so the
//! retries are real but quick (the HTTP calls need real time, so the clock is not paused).

use super::*;
use crate::config::{Operation, Secret};
use crate::kafka::offsets::TopicPartition;
use crate::pipeline::messages::{Change, WriteBatch};
use crate::pipeline::plan::WriteGroup;
use crate::salesforce::auth::Credentials;
use crate::salesforce::client::ClientOptions;
use crate::salesforce::retry::{Action, RETRIES_EXHAUSTED};
use crate::sim::config::{
    DEFAULT_CONSUMER_KEY, DEFAULT_CONSUMER_SECRET, DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN,
};
use crate::sim::{FaultKind, FaultPlan, OrgConfig, ScriptedFault, SimAdmin, SimConfig, SimHandle};
use actix::{Addr, Handler};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A governor that grants every permit and counts what the writer tells it.
#[derive(Default)]
struct FakeGovernor {
    granted: Arc<AtomicUsize>,
    released: Arc<AtomicUsize>,
    spent: Arc<AtomicUsize>,
}

impl Actor for FakeGovernor {
    type Context = Context<Self>;
}

impl Handler<Acquire> for FakeGovernor {
    type Result = bool;
    fn handle(&mut self, _: Acquire, _: &mut Context<Self>) -> bool {
        self.granted.fetch_add(1, Ordering::SeqCst);
        true
    }
}

impl Handler<Release> for FakeGovernor {
    type Result = ();
    fn handle(&mut self, _: Release, _: &mut Context<Self>) {
        self.released.fetch_add(1, Ordering::SeqCst);
    }
}

impl Handler<AllocationSpent> for FakeGovernor {
    type Result = ();
    fn handle(&mut self, _: AllocationSpent, _: &mut Context<Self>) {
        self.spent.fetch_add(1, Ordering::SeqCst);
    }
}

struct Rig {
    sim: SimHandle,
    admin: SimAdmin,
    writer: Addr<SObjectWriter>,
    granted: Arc<AtomicUsize>,
    released: Arc<AtomicUsize>,
    spent: Arc<AtomicUsize>,
    /// The writer's fence; `leads` partition 0 is assigned.
    ownership: Arc<Ownership>,
}

/// `leads` partition `p`.
fn leads_partition(p: i32) -> TopicPartition {
    crate::kafka::offsets::test_partition("leads", p)
}

impl Rig {
    /// A simulated org and a Lead writer, addressing rows by `CustomId__c` when
    /// `custom_id`; `adjust` tunes the settings.
    async fn start(custom_id: bool, adjust: impl FnOnce(&mut WriterSettings)) -> Rig {
        let org = OrgConfig::named("w", SocketAddr::from(([127, 0, 0, 1], 0)));
        let sim = crate::sim::start(SimConfig::single(org))
            .await
            .expect("simulator starts");
        let url = sim.base_url("w").expect("org w");
        let mut opts = ClientOptions::new(
            url.clone(),
            Credentials::Password {
                username: "integration@org-w.example".into(),
                password: Secret::new(DEFAULT_PASSWORD),
                security_token: Some(Secret::new(DEFAULT_SECURITY_TOKEN)),
                client_id: DEFAULT_CONSUMER_KEY.into(),
                client_secret: Secret::new(DEFAULT_CONSUMER_SECRET),
            },
        );
        opts.connection_timeout = Duration::from_secs(10);
        let client = SalesforceClient::connect(opts).await.expect("login");
        let field = custom_id.then(|| "CustomId__c".to_string());
        // The test changes come from `leads` partition 0 under epoch 1 (see
        // `Change::lead`), the first assignment of this fence.
        let ownership = Arc::new(Ownership::default());
        ownership.assign(&[leads_partition(0)]);
        let mut settings = WriterSettings {
            connector: "writer-test".into(),
            sobject: "Lead".into(),
            custom_id_field: field.clone(),
            rules: BodyRules {
                ignore_fields: Default::default(),
                ignore_reference_fields: false,
                skip_relationship_fields: true,
                custom_id_field: field,
            },
            policy: Policy::default(),
            retry_budget: Duration::from_secs(10),
            id_cache_max: 1000,
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
            bulk: false,
            references: None,
            // The plain Collections path; the composite tests turn packing on.
            composite: 1,
            max_in_flight: 4,
            ownership: ownership.clone(),
        };
        adjust(&mut settings);
        let connector = settings.connector.clone();
        let governor = FakeGovernor::default();
        let (granted, released, spent) = (
            governor.granted.clone(),
            governor.released.clone(),
            governor.spent.clone(),
        );
        let governor = governor.start();
        let writer = SObjectWriter::new(
            settings,
            client,
            Arc::new(DescribeCache::new()),
            Permits {
                acquire: governor.clone().recipient(),
                release: governor.clone().recipient(),
                spent: governor.recipient(),
                in_flight: crate::metrics::metrics()
                    .in_flight
                    .with_label_values(&[&connector]),
            },
        )
        .start();
        Rig {
            admin: SimAdmin::new(url),
            sim,
            writer,
            granted,
            released,
            spent,
            ownership,
        }
    }

    async fn write(&self, group: WriteGroup, changes: Vec<Change>) -> Vec<Action> {
        let written = self
            .writer
            .send(WriteBatch { group, changes })
            .await
            .expect("writer answers");
        written.outcomes
    }

    async fn leads(&self) -> Vec<crate::sim::admin_client::SimRow> {
        self.admin.live_rows("Lead").await.expect("rows")
    }

    /// The first `times` Collections calls fail with `fault`.
    async fn collections_fail(&self, times: u64, fault: FaultKind) {
        self.faults(vec![ScriptedFault {
            endpoint: "collections".into(),
            nth: 1,
            times,
            fault,
        }])
        .await;
    }

    /// Hands `changes` to the writer without waiting for the answer.
    fn spawn_write(
        &self,
        group: WriteGroup,
        changes: Vec<Change>,
    ) -> tokio::task::JoinHandle<Vec<Action>> {
        let writer = self.writer.clone();
        tokio::spawn(async move {
            writer
                .send(WriteBatch { group, changes })
                .await
                .expect("writer answers")
                .outcomes
        })
    }

    async fn faults(&self, scripts: Vec<ScriptedFault>) {
        let plan = FaultPlan {
            scripts,
            ..FaultPlan::default()
        };
        self.admin.set_faults(&plan).await.expect("faults set");
    }
}

fn change(
    offset: i64,
    operation: Operation,
    group: WriteGroup,
    id: &str,
    fields: serde_json::Value,
) -> Change {
    let fields = fields.as_object().cloned().unwrap_or_default();
    Change::lead(offset, Some(id), operation, group, fields)
}

fn lead(offset: i64, source_id: &str, last_name: &str) -> Change {
    change(
        offset,
        Operation::Upsert,
        WriteGroup::UpsertByExternalId,
        source_id,
        json!({"LastName": last_name, "Company": "Acme"}),
    )
}

fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::Done { .. } => "done",
            Action::AlreadyGone => "gone",
            Action::RowMissing(_) => "missing",
            Action::Reject(_) => "reject",
            Action::Halt(_) => "halt",
            Action::ParentMissing(_) => "parent",
            Action::Revoked => "revoked",
            Action::Retry { .. } | Action::Split | Action::PauseForBudget { .. } => "unsettled",
        })
        .collect()
}

const SRC: [&str; 3] = [
    "00Q5e00000SrcAAAAA",
    "00Q5e00000SrcBBAAA",
    "00Q5e00000SrcCCAAA",
];

#[actix_rt::test]
async fn upserts_land_once_and_a_replay_creates_nothing() {
    let rig = Rig::start(true, |_| {}).await;
    let batch = || {
        (0..3)
            .map(|i| lead(i, SRC[i as usize], "Doe"))
            .collect::<Vec<_>>()
    };
    let first = rig.write(WriteGroup::UpsertByExternalId, batch()).await;
    assert!(
        first.iter().all(|a| matches!(
            a,
            Action::Done {
                created: Some(true),
                ..
            }
        )),
        "{first:?}"
    );
    let replay = rig.write(WriteGroup::UpsertByExternalId, batch()).await;
    assert!(
        replay.iter().all(|a| matches!(
            a,
            Action::Done {
                created: Some(false),
                ..
            }
        )),
        "{replay:?}"
    );
    let rows = rig.leads().await;
    assert_eq!(rows.len(), 3);
    for src in SRC {
        assert!(
            rows.iter().any(|r| r.str("CustomId__c") == Some(src)),
            "{src}"
        );
    }
    // Every call took a permit and gave it back.
    assert_eq!(rig.granted.load(Ordering::SeqCst), 2);
    assert_eq!(rig.released.load(Ordering::SeqCst), 2);
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_server_outage_is_retried_and_the_batch_still_lands() {
    let rig = Rig::start(true, |_| {}).await;
    rig.collections_fail(2, FaultKind::ServerUnavailable).await;
    let out = rig
        .write(WriteGroup::UpsertByExternalId, vec![lead(0, SRC[0], "Doe")])
        .await;
    assert_eq!(kinds(&out), ["done"]);
    assert_eq!(rig.leads().await.len(), 1);
    assert_eq!(
        rig.granted.load(Ordering::SeqCst),
        3,
        "two failed tries, one good"
    );
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn an_outage_longer_than_the_budget_halts_with_retries_exhausted() {
    let rig = Rig::start(true, |s| s.retry_budget = Duration::from_millis(50)).await;
    rig.collections_fail(1_000_000, FaultKind::ServerUnavailable)
        .await;
    let out = rig
        .write(WriteGroup::UpsertByExternalId, vec![lead(0, SRC[0], "Doe")])
        .await;
    assert!(
        matches!(&out[0], Action::Halt(c) if c.code == RETRIES_EXHAUSTED),
        "{out:?}"
    );
    assert!(rig.leads().await.is_empty());
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_spent_daily_allocation_pauses_at_the_governor_and_the_batch_lands() {
    let rig = Rig::start(true, |_| {}).await;
    rig.collections_fail(1, FaultKind::DailyLimit).await;
    let out = rig
        .write(WriteGroup::UpsertByExternalId, vec![lead(0, SRC[0], "Doe")])
        .await;
    assert_eq!(kinds(&out), ["done"]);
    assert_eq!(rig.spent.load(Ordering::SeqCst), 1);
    assert_eq!(rig.leads().await.len(), 1);
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_record_error_halts_by_default_and_is_rejected_when_tolerated() {
    // No Company: REQUIRED_FIELD_MISSING for that record only.
    let bad = || {
        change(
            1,
            Operation::Upsert,
            WriteGroup::UpsertByExternalId,
            SRC[1],
            json!({"LastName": "NoCompany"}),
        )
    };
    let rig = Rig::start(true, |_| {}).await;
    let out = rig
        .write(
            WriteGroup::UpsertByExternalId,
            vec![lead(0, SRC[0], "Doe"), bad()],
        )
        .await;
    assert_eq!(kinds(&out), ["done", "halt"]);
    assert!(matches!(&out[1], Action::Halt(c) if c.code == "REQUIRED_FIELD_MISSING"));
    rig.sim.shutdown().await.unwrap();

    let rig = Rig::start(true, |s| s.policy.skip_api_errors = true).await;
    let out = rig
        .write(
            WriteGroup::UpsertByExternalId,
            vec![lead(0, SRC[0], "Doe"), bad()],
        )
        .await;
    assert_eq!(kinds(&out), ["done", "reject"]);
    assert_eq!(rig.leads().await.len(), 1);
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn an_absent_row_is_missing_for_an_update_and_gone_for_a_delete() {
    let rig = Rig::start(true, |_| {}).await;
    let out = rig
        .write(WriteGroup::UpsertByExternalId, vec![lead(0, SRC[0], "Doe")])
        .await;
    assert_eq!(kinds(&out), ["done"]);
    let update = |offset, src: &str| {
        change(
            offset,
            Operation::Update,
            WriteGroup::UpdateByExternalId,
            src,
            json!({"LastName": "Roe"}),
        )
    };
    let out = rig
        .write(
            WriteGroup::UpdateByExternalId,
            vec![update(1, SRC[0]), update(2, SRC[2])],
        )
        .await;
    assert_eq!(kinds(&out), ["done", "missing"]);
    let rows = rig.leads().await;
    assert_eq!(rows.len(), 1, "an update never creates a row");
    assert_eq!(rows[0].str("LastName"), Some("Roe"));

    let delete = |offset, src: &str| {
        change(
            offset,
            Operation::Delete,
            WriteGroup::DeleteByExternalId,
            src,
            json!({}),
        )
    };
    let out = rig
        .write(
            WriteGroup::DeleteByExternalId,
            vec![delete(3, SRC[0]), delete(4, SRC[2])],
        )
        .await;
    assert_eq!(kinds(&out), ["done", "gone"]);
    assert!(rig.leads().await.is_empty());
    // The deleted row's Id was forgotten: a second delete finds nothing either.
    let out = rig
        .write(WriteGroup::DeleteByExternalId, vec![delete(5, SRC[0])])
        .await;
    assert_eq!(kinds(&out), ["gone"]);
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn strict_deletes_halt_on_an_absent_row() {
    let rig = Rig::start(true, |s| s.policy.strict_deletes = true).await;
    let out = rig
        .write(
            WriteGroup::DeleteByExternalId,
            vec![change(
                0,
                Operation::Delete,
                WriteGroup::DeleteByExternalId,
                SRC[0],
                json!({}),
            )],
        )
        .await;
    assert!(
        matches!(&out[0], Action::Halt(c) if c.code == "NOT_FOUND" && c.fields == ["CustomId__c"]),
        "{out:?}"
    );
    rig.sim.shutdown().await.unwrap();
}

/// `n` upserts of new leads from offset `first`, each with its own source Id.
fn leads(first: i64, n: i64) -> Vec<Change> {
    (first..first + n)
        .map(|i| lead(i, &format!("src-{i:06}"), "Doe"))
        .collect()
}

/// Writes the batches at once (as the sequencer does with free call slots) and
/// answers their outcomes in order.
async fn write_all(rig: &Rig, batches: Vec<Vec<Change>>) -> Vec<Vec<Action>> {
    let sends = batches.into_iter().map(|changes| {
        rig.writer.send(WriteBatch {
            group: WriteGroup::UpsertByExternalId,
            changes,
        })
    });
    futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|w| w.expect("writer answers").outcomes)
        .collect()
}

/// A composite writer with one call slot, so that batches arriving while a call is out
/// wait for the next one; the describe is read beforehand, so every batch of a test
/// reaches the packer at once.
async fn composite_rig(connector: &str, adjust: impl FnOnce(&mut WriterSettings)) -> Rig {
    let rig = Rig::start(true, |s| {
        s.connector = connector.into();
        s.composite = 5;
        s.max_in_flight = 1;
        adjust(s);
    })
    .await;
    let warm = rig
        .write(
            WriteGroup::UpsertByExternalId,
            vec![lead(999_999, "warm-up", "Warm")],
        )
        .await;
    assert_eq!(kinds(&warm), ["done"]);
    rig
}

async fn set_plan(rig: &Rig, plan: FaultPlan) {
    rig.admin.set_faults(&plan).await.expect("faults set");
}

fn composite_size(connector: &str) -> i64 {
    crate::metrics::metrics()
        .composite_size
        .with_label_values(&[connector])
        .get()
}

#[actix_rt::test]
async fn ready_batches_leave_together_in_one_composite_call() {
    let rig = composite_rig("composite-pack", |_| {}).await;
    let before = rig.admin.counters().await.expect("counters");
    // The five batches handed over together leave together; with a slow org, anything
    // that found the call slot taken would leave together in the next call.
    set_plan(
        &rig,
        FaultPlan {
            latency_ms: 300,
            ..FaultPlan::default()
        },
    )
    .await;
    let out = write_all(&rig, (0..5).map(|b| leads(b * 100, 100)).collect()).await;
    for batch in &out {
        assert!(kinds(batch).iter().all(|k| *k == "done"), "{batch:?}");
    }
    let after = rig.admin.counters().await.expect("counters");
    let composites = after.of("composite") - before.of("composite");
    assert!((1..=2).contains(&composites), "{after:?}");
    assert_eq!(
        after.api_units_used - before.api_units_used,
        composites,
        "500 records for one or two API calls: {after:?}"
    );
    assert_eq!(
        after
            .calls
            .keys()
            .filter(|k| k.starts_with("collections"))
            .count(),
        0
    );
    assert_eq!(rig.leads().await.len(), 501);
    // One permit per composite, not per batch (the warm-up's included).
    let permits = composites as usize + 1;
    assert_eq!(rig.granted.load(Ordering::SeqCst), permits);
    assert_eq!(rig.released.load(Ordering::SeqCst), permits);
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn under_load_partial_composites_wait_for_a_call_to_come_back_instead_of_taking_free_slots() {
    let rig = composite_rig("composite-nagle", |s| s.max_in_flight = 4).await;
    set_plan(
        &rig,
        FaultPlan {
            latency_ms: 1000,
            ..FaultPlan::default()
        },
    )
    .await;
    let before = rig.admin.counters().await.expect("counters");
    // The first batch finds every slot free and leaves at once. Three more come one
    // by one while it is out: three slots are free, but each would be a composite of
    // one subrequest, so they wait and leave together when the first call is back.
    let first = rig.writer.send(WriteBatch {
        group: WriteGroup::UpsertByExternalId,
        changes: leads(0, 100),
    });
    let later = async {
        let mut sends = Vec::new();
        for b in 1..4 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            sends.push(rig.writer.send(WriteBatch {
                group: WriteGroup::UpsertByExternalId,
                changes: leads(b * 100, 100),
            }));
        }
        futures::future::join_all(sends).await
    };
    let (first, later) = futures::join!(first, later);
    for out in std::iter::once(first).chain(later) {
        let out = out.expect("writer answers").outcomes;
        assert!(kinds(&out).iter().all(|k| *k == "done"), "{out:?}");
    }
    let after = rig.admin.counters().await.expect("counters");
    assert_eq!(
        after.of("composite") - before.of("composite"),
        2,
        "one composite for the first batch, one for the three that waited: {after:?}"
    );
    assert_eq!(
        rig.leads().await.len(),
        401,
        "every row written, the warm-up's too"
    );
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_failing_record_inside_a_composite_is_settled_like_a_collections_failure() {
    let bad = |offset: i64| {
        change(
            offset,
            Operation::Upsert,
            WriteGroup::UpsertByExternalId,
            &format!("src-{offset:06}"),
            json!({"LastName": "NoCompany"}),
        )
    };
    for (connector, tolerate, want) in [
        ("composite-record-halt", false, "halt"),
        ("composite-record-reject", true, "reject"),
    ] {
        let rig = composite_rig(connector, |s| s.policy.skip_api_errors = tolerate).await;
        let mut second = leads(10, 3);
        second[1] = bad(11);
        let out = write_all(&rig, vec![leads(0, 3), second, leads(20, 3)]).await;
        assert_eq!(kinds(&out[0]), ["done"; 3]);
        assert_eq!(kinds(&out[1]), ["done", want, "done"], "{connector}");
        assert!(
            matches!(&out[1][1], Action::Halt(c) | Action::Reject(c) if c.code == "REQUIRED_FIELD_MISSING"),
            "{:?}",
            out[1][1]
        );
        assert_eq!(kinds(&out[2]), ["done"; 3]);
        assert_eq!(rig.leads().await.len(), 9, "{connector}: the others landed");
        rig.sim.shutdown().await.unwrap();
    }
}

#[actix_rt::test]
async fn a_composite_that_fails_as_a_whole_is_retried_and_its_batches_land() {
    let rig = composite_rig("composite-outage", |_| {}).await;
    // The composite of the three batches meets a 503, then a dropped connection, and
    // is sent again as it was.
    set_plan(
        &rig,
        FaultPlan {
            scripts: vec![
                ScriptedFault {
                    endpoint: "composite".into(),
                    nth: 1,
                    times: 1,
                    fault: FaultKind::ServerUnavailable,
                },
                ScriptedFault {
                    endpoint: "composite".into(),
                    nth: 2,
                    times: 1,
                    fault: FaultKind::ConnectionReset,
                },
            ],
            ..FaultPlan::default()
        },
    )
    .await;
    let out = write_all(&rig, (0..3).map(|b| leads(b * 10, 10)).collect()).await;
    for batch in &out {
        assert!(kinds(batch).iter().all(|k| *k == "done"), "{batch:?}");
    }
    assert_eq!(rig.leads().await.len(), 31);
    let counters = rig.admin.counters().await.expect("counters");
    // Warm-up, then the composite of three, three times.
    assert_eq!(counters.of("composite"), 4, "{counters:?}");
    assert_eq!(
        composite_size("composite-outage"),
        5,
        "an outage shrinks nothing"
    );
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_composite_over_the_org_s_transaction_limits_is_split_and_kept_smaller() {
    let connector = "composite-shrink";
    let rig = composite_rig(connector, |_| {}).await;
    assert_eq!(composite_size(connector), 5);
    // The org's triggers manage 250 records per transaction; the five batches (500
    // records) together are too much: they go again in composites of two.
    set_plan(
        &rig,
        FaultPlan {
            transaction_record_limit: Some(250),
            ..FaultPlan::default()
        },
    )
    .await;
    let out = write_all(&rig, (0..5).map(|b| leads(b * 100, 100)).collect()).await;
    for batch in &out {
        assert!(kinds(batch).iter().all(|k| *k == "done"), "{batch:?}");
    }
    assert_eq!(rig.leads().await.len(), 501);
    assert_eq!(composite_size(connector), 2, "the smaller size is kept");
    let counters = rig.admin.counters().await.expect("counters");
    // Warm-up, the refused five, then two, two and one.
    assert_eq!(counters.of("composite"), 5, "{counters:?}");
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_composite_timeout_sends_the_work_again_in_smaller_composites() {
    let connector = "composite-timeout";
    let rig = composite_rig(connector, |_| {}).await;
    set_plan(
        &rig,
        FaultPlan {
            timeout_after_ms: 50,
            scripts: vec![ScriptedFault {
                endpoint: "composite".into(),
                nth: 1,
                times: 1,
                fault: FaultKind::Timeout,
            }],
            ..FaultPlan::default()
        },
    )
    .await;
    let out = write_all(&rig, (0..5).map(|b| leads(b * 10, 10)).collect()).await;
    for batch in &out {
        assert!(kinds(batch).iter().all(|k| *k == "done"), "{batch:?}");
    }
    assert_eq!(rig.leads().await.len(), 51);
    assert_eq!(composite_size(connector), 2);
    rig.sim.shutdown().await.unwrap();
}

/// Waits until the writer has asked the governor for `n` permits (its changes are on
/// board by then).
async fn wait_granted(rig: &Rig, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rig.granted.load(Ordering::SeqCst) < n {
        assert!(std::time::Instant::now() < deadline, "no call was made");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Revokes `leads` partition 0 as the consumer's rebalance would, on a blocking
/// thread; returns whether its calls on the wire landed in time.
async fn revoke_partition_0(rig: &Rig) -> bool {
    let ownership = rig.ownership.clone();
    tokio::task::spawn_blocking(move || {
        ownership.revoke(
            &[leads_partition(0)],
            std::time::Instant::now() + Duration::from_secs(20),
        )
    })
    .await
    .expect("revoke")
}

#[actix_rt::test]
async fn a_record_whose_partition_is_revoked_while_it_waits_to_retry_is_not_sent_again() {
    let rig = Rig::start(true, |_| {}).await;
    rig.ownership.assign(&[leads_partition(1)]);
    let mut other = lead(0, SRC[1], "Other");
    other.record.coords.partition = 1;
    other.epoch = rig.ownership.epoch(&leads_partition(1));
    // Every call fails until partition 0 has been revoked.
    rig.collections_fail(1_000_000, FaultKind::ServerUnavailable)
        .await;
    let write = rig.spawn_write(
        WriteGroup::UpsertByExternalId,
        vec![lead(0, SRC[0], "Revoked"), other],
    );
    wait_granted(&rig, 1).await;
    assert!(revoke_partition_0(&rig).await, "the failed call landed");
    rig.faults(Vec::new()).await;
    let out = write.await.expect("write");
    assert_eq!(kinds(&out), ["revoked", "done"]);
    let rows = rig.leads().await;
    assert_eq!(rows.len(), 1, "only partition 1's row lands");
    assert_eq!(rows[0].str("CustomId__c"), Some(SRC[1]));
    rig.sim.shutdown().await.unwrap();
}

#[actix_rt::test]
async fn a_revoke_waits_for_the_call_on_the_wire_to_land() {
    let rig = Rig::start(true, |s| s.connector = "writer-on-the-wire".into()).await;
    let calls = crate::metrics::metrics()
        .in_flight
        .with_label_values(&["writer-on-the-wire"]);
    rig.admin
        .set_faults(&FaultPlan {
            latency_ms: 500,
            ..FaultPlan::default()
        })
        .await
        .expect("faults set");
    let write = rig.spawn_write(
        WriteGroup::UpsertByExternalId,
        vec![lead(0, SRC[0], "OnTheWire")],
    );
    wait_granted(&rig, 1).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while calls.get() != 1 {
        assert!(std::time::Instant::now() < deadline, "the call is counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(revoke_partition_0(&rig).await, "the call landed in time");
    // The revoke returned only once the call had answered: the row is there before
    // the next owner could write the same Id.
    assert_eq!(rig.leads().await.len(), 1);
    assert_eq!(calls.get(), 0, "the answered call is no longer counted");
    assert_eq!(kinds(&write.await.expect("write")), ["done"]);
    rig.sim.shutdown().await.unwrap();
}
