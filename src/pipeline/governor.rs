//! The rate governor: paces calls and guards the org's daily API allocation.
//!
//! Every write call takes a permit here first. Two limits apply: an optional steady
//! rate (`sink.api.requests.per.second`, a GCRA limiter from `governor`), and the daily
//! allocation. The governor reads the allocation from the `Sforce-Limit-Info` header of
//! every answer and counts the permits it grants meanwhile, so the sink stops *before*
//! the remaining allocation falls under `sink.api.daily.reserve.percent` and never
//! triggers `REQUEST_LIMIT_EXCEEDED` itself. While paused the task reports why, and the
//! governor polls `/limits` until the allocation frees up (or is raised), then resumes.
//! Its pause is the budget's own: an operator's pause of the task is kept apart in the
//! status cell, so a budget resume never undoes it.

use crate::metrics::metrics;
use crate::pipeline::messages::{Acquire, AllocationSpent, Release, Shutdown, UsageSeen};
use crate::pipeline::status::TaskStatusCell;
use crate::salesforce::client::{ApiUsage, SalesforceClient};
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture,
    WrapFuture,
};
use futures::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::sync::watch;

/// Permit requests and usage reports waiting for the governor. Each writer batch asks
/// for one permit at a time (a Bulk job for a handful), so the queue holds about
/// `sink.max.in.flight.requests` requests; a full queue makes the next `send` wait.
const GOVERNOR_MAILBOX: usize = 128;

/// Where the governor learns the org's API usage: a Salesforce client in a running
/// task, a scripted org in tests.
pub trait UsageSource: Send + Sync {
    /// The usage each answer reports (`Sforce-Limit-Info`).
    fn usage(&self) -> watch::Receiver<Option<ApiUsage>>;
    /// Reads the allocation now (`GET /limits`).
    fn read_limits(&self) -> BoxFuture<'static, Result<ApiUsage, String>>;
}

impl UsageSource for SalesforceClient {
    fn usage(&self) -> watch::Receiver<Option<ApiUsage>> {
        self.api_usage()
    }

    fn read_limits(&self) -> BoxFuture<'static, Result<ApiUsage, String>> {
        let client = self.clone();
        Box::pin(async move { client.daily_api_limit().await.map_err(|e| e.to_string()) })
    }
}

/// Governor settings.
#[derive(Debug, Clone)]
pub struct GovernorSettings {
    /// Connector name (metrics label).
    pub connector: String,
    /// Calls per second at most; `None` for no steady limit.
    pub requests_per_second: Option<u32>,
    /// Share of the daily allocation (percent) the sink leaves untouched.
    pub reserve_percent: u8,
    /// How often `/limits` is read while paused.
    pub poll_interval: Duration,
}

/// The rate governor actor.
pub struct RateGovernor {
    settings: GovernorSettings,
    source: Arc<dyn UsageSource>,
    status: TaskStatusCell,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
    max: Option<u64>,
    /// The highest usage Salesforce reported (answers can arrive out of order).
    used_seen: u64,
    /// Permits granted whose calls have not answered yet: spent, but not yet in any
    /// `Sforce-Limit-Info` we have seen.
    outstanding: u64,
    paused: bool,
    waiters: Vec<oneshot::Sender<()>>,
    /// The usage answers reported, read when a permit comes back: the call's own
    /// answer is in it by then, while its `UsageSeen` may still be on its way.
    latest: watch::Receiver<Option<ApiUsage>>,
}

impl RateGovernor {
    /// A governor for calls whose usage `source` reports.
    pub fn new(
        settings: GovernorSettings,
        source: Arc<dyn UsageSource>,
        status: TaskStatusCell,
    ) -> Self {
        let limiter = settings
            .requests_per_second
            .and_then(NonZeroU32::new)
            .map(|rps| Arc::new(RateLimiter::direct(Quota::per_second(rps))));
        Self {
            latest: source.usage(),
            settings,
            source,
            status,
            limiter,
            max: None,
            used_seen: 0,
            outstanding: 0,
            paused: false,
            waiters: Vec::new(),
        }
    }

    fn reserve_units(&self, max: u64) -> u64 {
        (max * u64::from(self.settings.reserve_percent)).div_ceil(100)
    }

    /// The allocation spent, counting the calls still on their way.
    fn used_estimate(&self) -> u64 {
        self.used_seen + self.outstanding
    }

    /// Whether one more call would eat into the reserve.
    fn would_breach(&self) -> bool {
        match self.max {
            Some(max) => self.used_estimate() + 1 + self.reserve_units(max) > max,
            None => false,
        }
    }

    fn observe(&mut self, usage: ApiUsage) {
        if self.max != Some(usage.max) {
            // A changed allocation (raised or lowered) is taken as the new truth.
            self.used_seen = usage.used;
        }
        self.max = Some(usage.max);
        self.used_seen = self.used_seen.max(usage.used);
    }

    fn pause(&mut self, ctx: &mut Context<Self>, why: String) {
        if self.paused {
            return;
        }
        self.paused = true;
        tracing::warn!(connector = %self.settings.connector, "writes paused: {why}");
        metrics()
            .budget_paused
            .with_label_values(&[&self.settings.connector])
            .set(1);
        self.status.set_budget_paused(Some(why));
        self.schedule_poll(ctx);
    }

    fn resume(&mut self) {
        if !self.paused {
            return;
        }
        self.paused = false;
        tracing::info!(connector = %self.settings.connector, "daily API allocation available again; writes resume");
        metrics()
            .budget_paused
            .with_label_values(&[&self.settings.connector])
            .set(0);
        self.status.set_budget_paused(None);
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }

    fn schedule_poll(&mut self, ctx: &mut Context<Self>) {
        let source = self.source.clone();
        ctx.run_later(self.settings.poll_interval, move |act, ctx| {
            let fut = source.read_limits();
            ctx.spawn(fut.into_actor(act).map(|res, act, ctx| {
                match res {
                    Ok(usage) => {
                        // While paused nothing else is spending through us: the answer
                        // is the truth, also when the rolling window freed calls.
                        act.max = Some(usage.max);
                        act.used_seen = usage.used;
                        act.publish();
                        if !act.would_breach() {
                            act.resume();
                        }
                    }
                    Err(e) => tracing::warn!("reading /limits: {e}"),
                }
                if act.paused {
                    act.schedule_poll(ctx);
                }
            }));
        });
    }

    fn publish(&self) {
        let m = metrics();
        m.api_daily_used
            .with_label_values(&[&self.settings.connector])
            .set(self.used_estimate() as i64);
        if let Some(max) = self.max {
            m.api_daily_max
                .with_label_values(&[&self.settings.connector])
                .set(max as i64);
        }
    }

    fn budget_message(&self) -> String {
        let max = self.max.unwrap_or(0);
        format!(
            "paused: the org's daily API allocation is nearly spent ({} of {} used; \
             sink.api.daily.reserve.percent={} keeps the last {} calls for other users). \
             Writes resume by themselves when the allocation frees up or is raised.",
            self.used_estimate(),
            max,
            self.settings.reserve_percent,
            self.reserve_units(max)
        )
    }
}

impl Actor for RateGovernor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(GOVERNOR_MAILBOX);
        let mut rx = self.source.usage();
        // The login and describe answers already told us the allocation.
        let current = *rx.borrow_and_update();
        if let Some(u) = current {
            self.observe(u);
            self.publish();
        }
        let addr = ctx.address();
        actix::spawn(async move {
            while rx.changed().await.is_ok() {
                let seen = *rx.borrow_and_update();
                if let Some(u) = seen {
                    if addr.send(UsageSeen(u)).await.is_err() {
                        break;
                    }
                }
            }
        });
    }
}

impl Handler<UsageSeen> for RateGovernor {
    type Result = ();

    fn handle(&mut self, msg: UsageSeen, ctx: &mut Self::Context) {
        self.observe(msg.0);
        self.publish();
        if self.would_breach() {
            let why = self.budget_message();
            self.pause(ctx, why);
        }
    }
}

impl Handler<Release> for RateGovernor {
    type Result = ();

    fn handle(&mut self, _msg: Release, _ctx: &mut Self::Context) {
        // The call is no longer outstanding once its usage counts as seen; otherwise
        // a permit asked for right after would find the call counted nowhere.
        let latest = *self.latest.borrow();
        if let Some(usage) = latest {
            self.observe(usage);
        }
        self.outstanding = self.outstanding.saturating_sub(1);
    }
}

impl Handler<AllocationSpent> for RateGovernor {
    type Result = ();

    fn handle(&mut self, _msg: AllocationSpent, ctx: &mut Self::Context) {
        if let Some(max) = self.max {
            self.used_seen = self.used_seen.max(max);
        }
        let why = self.budget_message();
        self.pause(ctx, why);
    }
}

impl Handler<Acquire> for RateGovernor {
    type Result = ResponseActFuture<Self, bool>;

    fn handle(&mut self, _msg: Acquire, ctx: &mut Self::Context) -> Self::Result {
        if !self.paused && self.would_breach() {
            let why = self.budget_message();
            self.pause(ctx, why);
        }
        if self.paused {
            let (tx, rx) = oneshot::channel();
            self.waiters.push(tx);
            return Box::pin(
                async move {
                    let _ = rx.await;
                    false
                }
                .into_actor(self),
            );
        }
        self.outstanding += 1;
        let limiter = self.limiter.clone();
        Box::pin(
            async move {
                if let Some(l) = limiter {
                    l.until_ready().await;
                }
                true
            }
            .into_actor(self),
        )
    }
}

impl Handler<Shutdown> for RateGovernor {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::status::State;
    use actix::Addr;
    use parking_lot::Mutex;

    /// An org whose usage the test sets: what answers report, and what `/limits` says.
    struct ScriptedOrg {
        seen: watch::Sender<Option<ApiUsage>>,
        limits: Mutex<ApiUsage>,
    }

    impl UsageSource for ScriptedOrg {
        fn usage(&self) -> watch::Receiver<Option<ApiUsage>> {
            self.seen.subscribe()
        }
        fn read_limits(&self) -> BoxFuture<'static, Result<ApiUsage, String>> {
            let usage = *self.limits.lock();
            Box::pin(async move { Ok(usage) })
        }
    }

    const POLL: Duration = Duration::from_secs(60);

    /// A governor keeping 10% of a 100-call allocation of which `used` are spent.
    fn start(used: u64) -> (Addr<RateGovernor>, Arc<ScriptedOrg>, TaskStatusCell) {
        let usage = ApiUsage { used, max: 100 };
        let org = Arc::new(ScriptedOrg {
            seen: watch::channel(Some(usage)).0,
            limits: Mutex::new(usage),
        });
        let status = TaskStatusCell::new("gov-test", 0, "w");
        status.set(State::Running, None);
        let governor = RateGovernor::new(
            GovernorSettings {
                connector: "gov-test".into(),
                requests_per_second: None,
                reserve_percent: 10,
                poll_interval: POLL,
            },
            org.clone(),
            status.clone(),
        )
        .start();
        (governor, org, status)
    }

    /// Lets the actors run without moving the clock.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[actix_rt::test]
    async fn permits_stop_before_the_reserve_and_resume_when_the_allocation_frees_up() {
        tokio::time::pause();
        let (governor, org, status) = start(85);
        // 85 used + 10 reserved: five more calls fit, the sixth would eat the reserve.
        for _ in 0..5 {
            assert!(governor.send(Acquire).await.unwrap());
        }
        let sixth = actix_rt::spawn(governor.send(Acquire));
        settle().await;
        assert!(!sixth.is_finished(), "the sixth permit waits");
        let shown = status.get();
        assert_eq!(shown.state, State::Paused);
        assert!(shown
            .trace
            .unwrap()
            .contains("sink.api.daily.reserve.percent=10"));

        // The rolling window frees calls; the next poll of /limits sees it.
        *org.limits.lock() = ApiUsage { used: 40, max: 100 };
        tokio::time::advance(POLL + Duration::from_millis(1)).await;
        settle().await;
        // A waiter is told the pause ended and asks again.
        assert!(!sixth.await.unwrap().unwrap());
        assert!(governor.send(Acquire).await.unwrap());
        assert_eq!(status.get().state, State::Running);
    }

    #[actix_rt::test]
    async fn a_budget_resume_keeps_an_operator_pause() {
        tokio::time::pause();
        let (governor, org, status) = start(50);
        status.set_operator_paused(true);
        governor.send(AllocationSpent).await.unwrap();
        assert!(status.get().trace.unwrap().contains("daily API allocation"));
        *org.limits.lock() = ApiUsage { used: 10, max: 100 };
        tokio::time::advance(POLL + Duration::from_millis(1)).await;
        settle().await;
        assert!(governor.send(Acquire).await.unwrap(), "writes may go again");
        let shown = status.get();
        assert_eq!(shown.state, State::Paused, "the operator's pause holds");
        assert_eq!(shown.trace, None);
        status.set_operator_paused(false);
        assert_eq!(status.get().state, State::Running);
    }

    #[actix_rt::test]
    async fn usage_reported_by_answers_pauses_before_any_permit_is_asked() {
        tokio::time::pause();
        let (governor, org, status) = start(0);
        assert!(governor.send(Acquire).await.unwrap());
        governor.send(Release).await.unwrap();
        org.seen.send_replace(Some(ApiUsage { used: 95, max: 100 }));
        settle().await;
        assert_eq!(status.get().state, State::Paused);
    }
}
