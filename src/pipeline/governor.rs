//! The rate governor: paces calls and guards the org's daily API allocation.
//!
//! Every write call takes a permit here first. Two limits apply: an optional steady
//! rate (`sink.api.requests.per.second`, a GCRA limiter from `governor`), and the daily
//! allocation. The governor reads the allocation from the `Sforce-Limit-Info` header of
//! every answer and counts the permits it grants meanwhile, so the sink stops *before*
//! the remaining allocation falls under `sink.api.daily.reserve.percent` and never
//! triggers `REQUEST_LIMIT_EXCEEDED` itself. While paused the task reports why, and the
//! governor polls `/limits` until the allocation frees up (or is raised), then resumes.

use crate::connect::status::{State, TaskStatusCell};
use crate::metrics::metrics;
use crate::pipeline::messages::Shutdown;
use crate::salesforce::client::{ApiUsage, SalesforceClient};
use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message,
    ResponseActFuture, WrapFuture,
};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Wait for permission to make one API call. The answer is `true` when the permit is
/// granted; `false` after a pause ended, and the caller asks again (another caller may
/// have taken the freed allocation meanwhile).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Acquire;

/// A call made with a permit has its answer (or failed): it no longer needs to be
/// counted as on its way.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release;

/// Salesforce answered that the daily allocation is spent.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AllocationSpent;

#[derive(Message)]
#[rtype(result = "()")]
struct UsageSeen(ApiUsage);

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
    client: SalesforceClient,
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
}

impl RateGovernor {
    /// A governor for calls made through `client`.
    pub fn new(
        settings: GovernorSettings,
        client: SalesforceClient,
        status: TaskStatusCell,
    ) -> Self {
        let limiter = settings
            .requests_per_second
            .and_then(NonZeroU32::new)
            .map(|rps| Arc::new(RateLimiter::direct(Quota::per_second(rps))));
        Self {
            settings,
            client,
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
        self.status.set(State::Paused, Some(why));
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
        self.status.set(State::Running, None);
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }

    fn schedule_poll(&mut self, ctx: &mut Context<Self>) {
        let client = self.client.clone();
        ctx.run_later(self.settings.poll_interval, move |act, ctx| {
            let fut = async move { client.daily_api_limit().await };
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
        let mut rx = self.client.api_usage();
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
