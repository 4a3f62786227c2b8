//! Model groups -> the deployments to try, in order; passive health from real traffic; cooldowns.
//!
//! One [`Router`] per config, built by [`Router::new`] next to the config's snapshot and rebuilt on
//! reload, keeping the state of every deployment whose id is unchanged. The proxy asks
//! [`Router::order`] for a group's plan, marks each call with [`Router::begin`], and reports how it went
//! ([`Router::record_success`], [`Router::record_failure`], [`Router::observe_rate_limit`]). No background
//! task, no call to a paid model: everything the router knows comes from those reports.
//!
//! - `table` (`state.rs`): every deployment of the config under a dense `u32` index, with its state in
//!   atomics: calls in flight, calls and tokens this minute, latency / time-to-first-token / error-rate
//!   averages (`ewma.rs`), cooldowns ([`cooldown`]).
//! - `strategy`: per group, one Pingora `BackendSelection` chosen once by `match RoutingStrategy`
//!   (simple-shuffle, latency-based-routing, least-busy, usage-based-routing-v2) over synthetic backends
//!   that map back to the table.
//! - Time is injected: every method takes `now`; the router never reads a clock (`clock.rs`), so the
//!   tests run on virtual time.
//!
//! The router takes no lock on the routing path; a few writers take a small mutex (an average's update,
//! the last error's text), never across an await: there is no await here.

mod clock;
pub mod cooldown;
mod ewma;
mod state;
pub mod strategy;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::warn;
use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::Backend;

use crate::config::{Config, Deployment, ModelGroup, ProviderChoice, RoutingStrategy};
use clock::{minute_of, until_next_minute, Epoch};
use cooldown::Policy;
use state::{DeploymentState, Table};
use strategy::{backend_for, Key, PoolConfig, Slot};

pub use cooldown::{FailureKind, DEFAULT_ALLOWED_FAILS, DEFAULT_COOLDOWN_TIME};

/// The latency a timed-out call counts as, in seconds: LiteLLM's `lowest_latency.py` logs 1000 s.
const TIMEOUT_LATENCY_SECS: f64 = 1000.0;

/// Per-config routing state; rebuilt on reload, carrying stats/cooldowns of deployments whose id is
/// unchanged.
#[derive(Debug)]
pub struct Router {
    /// Every deployment of the config, with its state.
    table: Arc<Table>,
    /// Each group's selection, by group name.
    groups: HashMap<String, Route>,
    /// The origin of the router's time numbers, shared with the routers before and after this one.
    epoch: Arc<Epoch>,
    /// When deployments cool down.
    policy: Policy,
    /// The strategy of every group.
    strategy: RoutingStrategy,
}

/// One group's way to rank its deployments.
#[derive(Debug)]
struct Route {
    /// The strategy over the group's served deployments.
    selection: Selection,
    /// A provider of the group that we do not serve, to name when nothing else is left.
    unserved: Option<String>,
}

/// The strategy of a group, decided once per config (exhaustive over [`RoutingStrategy`]).
#[derive(Debug)]
enum Selection {
    Shuffle(Arc<strategy::Shuffle>),
    Latency(Arc<strategy::Latency>),
    LeastBusy(Arc<strategy::LeastBusy>),
    Usage(Arc<strategy::Usage>),
}

impl Selection {
    /// The selection of `strategy` over `backends`.
    fn build(strategy: RoutingStrategy, backends: &std::collections::BTreeSet<Backend>, config: &PoolConfig) -> Self {
        match strategy {
            RoutingStrategy::SimpleShuffle => {
                Selection::Shuffle(Arc::new(BackendSelection::build_with_config(backends, config)))
            }
            RoutingStrategy::LatencyBased => {
                Selection::Latency(Arc::new(BackendSelection::build_with_config(backends, config)))
            }
            RoutingStrategy::LeastBusy => {
                Selection::LeastBusy(Arc::new(BackendSelection::build_with_config(backends, config)))
            }
            RoutingStrategy::UsageBased => {
                Selection::Usage(Arc::new(BackendSelection::build_with_config(backends, config)))
            }
        }
    }

    /// How many deployments the group serves.
    fn len(&self) -> usize {
        match self {
            Selection::Shuffle(s) => strategy::Rank::pool(s.as_ref()).len(),
            Selection::Latency(s) => strategy::Rank::pool(s.as_ref()).len(),
            Selection::LeastBusy(s) => strategy::Rank::pool(s.as_ref()).len(),
            Selection::Usage(s) => strategy::Rank::pool(s.as_ref()).len(),
        }
    }

    /// Appends the deployments the selection yields for `key`, in its order.
    fn collect(&self, key: &Key, table: &Table, out: &mut Vec<Arc<Deployment>>) {
        let key = key.encode();
        match self {
            Selection::Shuffle(s) => drain(s.iter(&key), table, out),
            Selection::Latency(s) => drain(s.iter(&key), table, out),
            Selection::LeastBusy(s) => drain(s.iter(&key), table, out),
            Selection::Usage(s) => drain(s.iter(&key), table, out),
        }
    }
}

/// Maps each backend an iterator yields back to its deployment (through the [`Slot`] in its `ext`).
fn drain(mut iter: impl BackendIter, table: &Table, out: &mut Vec<Arc<Deployment>>) {
    while let Some(backend) = iter.next() {
        let Some(Slot(slot)) = backend.ext.get::<Slot>() else { continue };
        if let Some(d) = table.deployments.get(*slot as usize) {
            out.push(d.clone());
        }
    }
}

/// Why [`Router::try_order`] has no deployment to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoDeployment {
    /// The group is not in this router's config (the router and the group come from different configs).
    UnknownGroup,
    /// Every deployment of the group is on a provider we do not serve yet (400 naming it).
    Unsupported {
        /// The provider prefix from the config.
        provider: String,
    },
    /// Every served deployment has used its `rpm`/`tpm` this minute (LiteLLM answers 429 with a
    /// Retry-After).
    AtCapacity {
        /// Until the minute's counters start again.
        retry_after: Duration,
    },
}

impl std::fmt::Display for NoDeployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoDeployment::UnknownGroup => f.write_str("the model group is not in the router's config"),
            NoDeployment::Unsupported { provider } => {
                write!(f, "provider \"{provider}\" is not supported by Tollgate yet")
            }
            NoDeployment::AtCapacity { retry_after } => write!(
                f,
                "every deployment has used its rpm/tpm limit this minute; retry in {:.0}s",
                retry_after.as_secs_f64().ceil()
            ),
        }
    }
}

impl std::error::Error for NoDeployment {}

/// What /health and metrics show of one deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentHealth {
    /// Average whole-call latency (`None` before the first answer or after `ttl` without one).
    pub latency: Option<Duration>,
    /// Average time to first token of streams.
    pub ttft: Option<Duration>,
    /// Share of recent calls that failed on the provider's side, 0 to 1.
    pub error_rate: f64,
    /// Calls in flight.
    pub in_flight: u64,
    /// Calls begun this minute (rpm use).
    pub requests_this_minute: u64,
    /// Tokens used this minute (tpm use).
    pub tokens_this_minute: u64,
    /// Failures counted toward a cooldown this minute.
    pub failures_this_minute: u64,
    /// Time left in a cooldown.
    pub cooling_down_for: Option<Duration>,
    /// Time left in a skip for `x-ratelimit-remaining: 0`.
    pub rate_limited_for: Option<Duration>,
}

/// A call in progress on a deployment: counts it in flight until dropped.
#[derive(Debug)]
#[must_use = "the call counts as in flight only while the guard lives"]
pub struct InFlight {
    state: Option<Arc<DeploymentState>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(s) = &self.state {
            s.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Router {
    /// The router of `config`; `previous` (the router of the config being replaced) gives its state to
    /// every deployment whose id is unchanged; deployments that are gone are dropped with theirs.
    pub fn new(config: &Config, previous: Option<&Router>) -> Router {
        let deployments = config.groups.iter().flat_map(|g| g.deployments.iter());
        let table = Arc::new(Table::new(deployments, previous.map(|p| p.table.as_ref())));
        let pool = PoolConfig { table: table.clone(), args: config.router.routing_strategy_args };
        let strategy = config.router.routing_strategy;
        let mut slot = 0u32;
        let mut groups = HashMap::with_capacity(config.groups.len());
        for g in &config.groups {
            let mut backends = std::collections::BTreeSet::new();
            let mut unserved = None;
            for d in &g.deployments {
                match &d.provider {
                    ProviderChoice::Served(_) => {
                        backends.insert(backend_for(slot));
                    }
                    ProviderChoice::Unsupported(p) => {
                        unserved.get_or_insert_with(|| p.clone());
                    }
                }
                slot = slot.saturating_add(1);
            }
            let route = Route { selection: Selection::build(strategy, &backends, &pool), unserved };
            groups.insert(g.name.clone(), route);
        }
        Router {
            table,
            groups,
            epoch: previous.map(|p| p.epoch.clone()).unwrap_or_default(),
            policy: Policy::from_settings(&config.router),
            strategy,
        }
    }

    /// The deployments of `group` in the order to try them at `now`: the strategy's choice first, then the
    /// others (so retries land on another deployment). Cooling-down deployments are left out unless every
    /// served deployment of the group is cooling down; then they are all returned (soonest to recover
    /// first). Deployments whose provider is ProviderChoice::Unsupported are never returned. `roll` is a
    /// random u64 (injected) for shuffle-type choices. Allocates one Vec (the answer).
    pub fn order(&self, group: &ModelGroup, now: Instant, roll: u64) -> Vec<Arc<Deployment>> {
        self.try_order(group, now, roll, false).unwrap_or_default()
    }

    /// [`Router::order`] for a call that streams or not (latency routing ranks streams by time to first
    /// token), saying why when there is nothing to try.
    pub fn try_order(
        &self,
        group: &ModelGroup,
        now: Instant,
        roll: u64,
        stream: bool,
    ) -> Result<Vec<Arc<Deployment>>, NoDeployment> {
        let Some(route) = self.groups.get(group.name.as_str()) else { return Err(NoDeployment::UnknownGroup) };
        let t = self.epoch.nanos(now);
        let mut out = Vec::with_capacity(route.selection.len());
        let mut key = Key { now: t, roll, stream, recovery: false };
        route.selection.collect(&key, &self.table, &mut out);
        if out.is_empty() {
            // Nothing available: rather than "no deployments", try those that are cooling down (LiteLLM's
            // pitfall with a group of one deployment), soonest back first.
            key.recovery = true;
            route.selection.collect(&key, &self.table, &mut out);
        }
        if !out.is_empty() {
            return Ok(out);
        }
        match &route.unserved {
            Some(provider) if route.selection.len() == 0 => {
                Err(NoDeployment::Unsupported { provider: provider.clone() })
            }
            _ => Err(NoDeployment::AtCapacity { retry_after: until_next_minute(t) }),
        }
    }

    /// Marks a call started on a deployment (least-busy in-flight count, rpm use); the guard ends it on
    /// drop.
    pub fn begin(&self, deployment_id: &str, now: Instant) -> InFlight {
        let Some(state) = self.table.state(deployment_id) else { return InFlight { state: None } };
        let t = self.epoch.nanos(now);
        state.requests.add(minute_of(t), 1);
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { state: Some(state.clone()) }
    }

    /// [`Router::begin`] that refuses (`None`) when the deployment has already begun its `rpm` calls this
    /// minute: the check and the count are one atomic step, so concurrent calls cannot overshoot.
    pub fn try_begin(&self, deployment_id: &str, now: Instant) -> Option<InFlight> {
        let Some(&slot) = self.table.by_id.get(deployment_id) else { return Some(InFlight { state: None }) };
        let (Some(d), Some(state)) = (self.table.deployments.get(slot as usize), self.table.states.get(slot as usize))
        else {
            return Some(InFlight { state: None });
        };
        let minute = minute_of(self.epoch.nanos(now));
        match d.rpm {
            Some(rpm) if !state.requests.add_one_below(minute, rpm) => return None,
            Some(_) => {}
            None => {
                state.requests.add(minute, 1);
            }
        }
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(InFlight { state: Some(state.clone()) })
    }

    /// A call that the provider answered well: latency (whole call), time to first token for streams,
    /// tokens used.
    pub fn record_success(
        &self,
        deployment_id: &str,
        latency: Duration,
        ttft: Option<Duration>,
        tokens: u64,
        now: Instant,
    ) {
        let Some(state) = self.table.state(deployment_id) else { return };
        let t = self.epoch.nanos(now);
        state.latency.add(latency.as_secs_f64(), t);
        if let Some(ttft) = ttft {
            state.ttft.add(ttft.as_secs_f64(), t);
        }
        state.tokens.add(minute_of(t), tokens);
        state.errors.add(0.0, t);
        state.cooldown.on_success();
    }

    /// A call that failed on the provider's side (connect error, timeout, 429, 5xx); `retry_after` from
    /// the provider.
    pub fn record_failure(&self, deployment_id: &str, kind: FailureKind, retry_after: Option<Duration>, now: Instant) {
        self.record_failure_with(deployment_id, kind, retry_after, "", now);
    }

    /// [`Router::record_failure`] with a short text for /health (no secrets: it is shown to anyone who can
    /// read /health).
    pub fn record_failure_with(
        &self,
        deployment_id: &str,
        kind: FailureKind,
        retry_after: Option<Duration>,
        detail: &str,
        now: Instant,
    ) {
        let Some(state) = self.table.state(deployment_id) else { return };
        let t = self.epoch.nanos(now);
        state.errors.add(if kind.counts() { 1.0 } else { 0.0 }, t);
        if kind == FailureKind::Timeout {
            // LiteLLM's lowest_latency.py logs a timed-out call as a 1000 s latency.
            state.latency.add(TIMEOUT_LATENCY_SECS, t);
        }
        if let Some(until) = state.cooldown.on_failure(kind, retry_after, detail, t, &self.policy) {
            let secs = Duration::from_nanos(until.saturating_sub(t)).as_secs_f64();
            warn!("deployment {deployment_id} cooling down for {secs:.1}s after: {kind}");
        }
    }

    /// x-ratelimit-remaining-requests / -tokens (and reset) seen in a provider answer: a deployment at 0
    /// remaining is skipped until the reset (or a short default).
    pub fn observe_rate_limit(
        &self,
        deployment_id: &str,
        remaining_requests: Option<u64>,
        remaining_tokens: Option<u64>,
        reset: Option<Duration>,
        now: Instant,
    ) {
        let Some(state) = self.table.state(deployment_id) else { return };
        let t = self.epoch.nanos(now);
        state.cooldown.on_rate_limit(remaining_requests, remaining_tokens, reset, t, &self.policy);
    }

    /// What /health shows for a deployment: None when healthy, else why (cooling down until .., last
    /// error).
    pub fn unhealthy_reason(&self, deployment_id: &str, now: Instant) -> Option<String> {
        let state = self.table.state(deployment_id)?;
        state.cooldown.reason(self.epoch.nanos(now))
    }

    /// EWMA latency and error rate, for /health and metrics.
    pub fn snapshot(&self, deployment_id: &str, now: Instant) -> Option<DeploymentHealth> {
        let state = self.table.state(deployment_id)?;
        let t = self.epoch.nanos(now);
        let forever = u64::MAX;
        let secs = |v: Option<f64>| v.and_then(|s| Duration::try_from_secs_f64(s).ok());
        Some(DeploymentHealth {
            latency: secs(state.latency.get(t, forever)),
            ttft: secs(state.ttft.get(t, forever)),
            error_rate: state.errors.get(t, forever).unwrap_or(0.0).clamp(0.0, 1.0),
            in_flight: state.in_flight(),
            requests_this_minute: state.requests_at(t),
            tokens_this_minute: state.tokens_at(t),
            failures_this_minute: state.cooldown.failures(t),
            cooling_down_for: state.cooldown.cooling_left(t),
            rate_limited_for: state.cooldown.limited_left(t),
        })
    }

    /// The strategy every group of this router uses.
    pub fn strategy(&self) -> RoutingStrategy {
        self.strategy
    }

    /// The deployment with this id.
    pub fn deployment(&self, deployment_id: &str) -> Option<&Arc<Deployment>> {
        let slot = self.table.by_id.get(deployment_id)?;
        self.table.deployments.get(*slot as usize)
    }
}
