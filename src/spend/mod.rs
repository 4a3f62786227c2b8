//! Budgets, rate limits and parallel limits: reserve before the call, settle after it.
//!
//! A [`Reservation`] names every counter a call touches (the budgets of its key, team, user and end user;
//! the rpm/tpm limits of its key, team and deployment; its parallel limits) and the call's worst-case cost.
//! [`Limits::reserve`] checks them all and then, only if every check passed, takes them all: one critical
//! section (memory: one `std::sync::Mutex` held without an await; Redis: one Lua script for the whole chain),
//! so concurrent calls, on one instance or many sharing a Redis, never spend more than a budget plus what is
//! reserved in flight. [`Limits::settle`] gives the reservation back and books the real cost (0 refunds a
//! failed call) and tokens, on the same backend that reserved.
//!
//! Counters (the same key names in memory and in Redis, see [`keys`]):
//!
//! | counter | window | fields | expires |
//! |---|---|---|---|
//! | budget | `budget_duration` fixed windows, or none | `spent`, `reserved` (USD) | window end + 60 s; 1 day idle without a window |
//! | rate | fixed minute (`floor(unix / 60)`) | `req`, `tok` | minute end + 60 s |
//! | parallel | none | calls in flight | 10 min safety TTL, refreshed by every reserve |
//!
//! A budget counter that does not exist yet starts at [`Budget::seed`], the spend the database knows for
//! the window, so a Redis restart or an expired counter loses nothing the database has.
//!
//! Redis down: with `fail_closed` every reserve is refused ([`Refusal::Unavailable`]); otherwise the same
//! logic runs on the in-memory counters ([`BackendState::RedisDown`]). A background task ([`Limits::start`])
//! pings every second; when Redis answers again it pushes what was settled locally meanwhile into Redis and
//! switches back. A Redis ticket that cannot be settled (Redis died in flight) is pushed the same way.
//!
//! Known limits: a reservation whose instance dies before settling (or whose Redis call timed out after Redis
//! ran it) stays reserved until its window's counter expires, and its parallel slot until the 10-minute safety
//! TTL (the in-flight sums are not tied to live instances). Every key of a chain goes to one script, so the
//! Redis must be a single primary, not a Redis Cluster.

mod keys;
mod memory;
mod redis;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use memory::MemoryStore;
use redis::RedisStore;

/// Who a counter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A virtual key.
    Key,
    /// A team.
    Team,
    /// An internal user.
    User,
    /// The end user a request names (`user` in the body).
    EndUser,
    /// A deployment of a model group.
    Deployment,
}

impl Scope {
    /// Every scope, in the order of [`Scope::index`].
    pub const ALL: [Scope; 5] = [Scope::Key, Scope::Team, Scope::User, Scope::EndUser, Scope::Deployment];

    /// The label in keys, metrics and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Team => "team",
            Scope::User => "user",
            Scope::EndUser => "end_user",
            Scope::Deployment => "deployment",
        }
    }

    /// Position in [`Scope::ALL`].
    pub fn index(self) -> usize {
        match self {
            Scope::Key => 0,
            Scope::Team => 1,
            Scope::User => 2,
            Scope::EndUser => 3,
            Scope::Deployment => 4,
        }
    }
}

/// Fixed windows of `secs` seconds counted from `anchor_unix` (a budget's `budget_reset_at` origin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Start of window 0, unix seconds.
    pub anchor_unix: i64,
    /// Window length in seconds (0 behaves as one endless window).
    pub secs: u64,
}

impl Window {
    /// Index of the window holding `now_unix`: `floor((now - anchor) / secs)`.
    pub fn index(&self, now_unix: i64) -> i64 {
        if self.secs == 0 {
            return 0;
        }
        // The store's formula, so counters and the database's spend agree on which window a call is in.
        crate::keys::window_index(self.anchor_unix, self.secs, now_unix)
    }

    /// When the window holding `now_unix` ends (the next one starts), unix seconds.
    pub fn resets_at(&self, now_unix: i64) -> i64 {
        let secs = self.secs_i64();
        if secs == 0 {
            return i64::MAX;
        }
        self.index(now_unix).saturating_add(1).saturating_mul(secs).saturating_add(self.anchor_unix)
    }

    fn secs_i64(&self) -> i64 {
        i64::try_from(self.secs).unwrap_or(i64::MAX)
    }
}

/// A spend limit in USD.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Whose budget.
    pub scope: Scope,
    /// Its id (key hash, team id, ...).
    pub id: String,
    /// `max_budget`, USD.
    pub max: f64,
    /// `budget_duration` windows; `None` never resets.
    pub window: Option<Window>,
    /// Spend the database already knows for the current window; a counter that does not exist yet starts at it.
    pub seed: f64,
}

/// Requests and tokens per fixed minute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Whose limit.
    pub scope: Scope,
    /// Its id.
    pub id: String,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute (a call is refused once the minute's tokens reached it).
    pub tpm: Option<u64>,
}

/// Calls in flight at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parallel {
    /// Whose limit.
    pub scope: Scope,
    /// Its id.
    pub id: String,
    /// `max_parallel_requests`.
    pub max: u64,
}

/// Everything one call takes before it runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reservation {
    /// The budget chain (key, team, user, end user).
    pub budgets: Vec<Budget>,
    /// rpm/tpm limits (key, team, deployment).
    pub rates: Vec<Rate>,
    /// Parallel limits.
    pub parallel: Vec<Parallel>,
    /// Worst-case cost held against every budget, USD.
    pub amount: f64,
}

/// Which backend a ticket was reserved on (and so is settled on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Memory,
    Redis,
}

/// One budget a ticket holds.
#[derive(Clone, Debug)]
struct HeldBudget {
    scope: Scope,
    id: String,
    window: Option<Window>,
    index: i64,
    seed: f64,
    /// What the reserve held on it (at most what was left of the budget).
    held: f64,
}

/// What [`Limits::settle`] needs: which counters were taken, on which windows, on which backend.
#[derive(Clone, Debug)]
pub struct Ticket {
    backend: Backend,
    amount: f64,
    budgets: Vec<HeldBudget>,
    /// (scope, id) of each rate counter; tokens land on the minute the call ends in.
    rates: Vec<(Scope, String)>,
    /// Keys of the parallel counters taken.
    parallel: Vec<String>,
}

impl Ticket {
    /// The worst-case cost this ticket holds, USD.
    pub fn amount(&self) -> f64 {
        self.amount
    }
}

/// Which rate limit refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateKind {
    /// rpm.
    Requests,
    /// tpm.
    Tokens,
}

impl RateKind {
    /// `requests` or `tokens`, as in `x-ratelimit-limit-requests`.
    pub fn as_str(self) -> &'static str {
        match self {
            RateKind::Requests => "requests",
            RateKind::Tokens => "tokens",
        }
    }
}

/// Why a reservation was refused; each is a 429 except `Unavailable` (503).
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// A budget is spent (or would be, with what is in flight).
    Budget {
        /// Whose budget.
        scope: Scope,
        /// Its id.
        id: String,
        /// Its max, USD.
        max: f64,
        /// Spent in the current window, USD.
        spent: f64,
        /// When the window resets, unix seconds (`None`: never).
        resets_at: Option<i64>,
    },
    /// An rpm or tpm limit is reached for this minute.
    Rate {
        /// Whose limit.
        scope: Scope,
        /// Its id.
        id: String,
        /// rpm or tpm.
        kind: RateKind,
        /// The limit.
        limit: u64,
        /// Seconds until the minute ends (`Retry-After`), at least 1.
        retry_after_secs: u64,
        /// When the minute ends, unix seconds.
        resets_at_unix: i64,
    },
    /// Too many calls in flight.
    Parallel {
        /// Whose limit.
        scope: Scope,
        /// Its id.
        id: String,
        /// The limit.
        limit: u64,
    },
    /// Redis is down and `fail_closed` is set.
    Unavailable(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Budget { scope, id, max, spent, resets_at } => {
                write!(f, "Budget has been exceeded! {} {id}: current cost {spent}, max budget {max}", scope.as_str())?;
                match resets_at {
                    Some(t) => write!(f, "; resets at {t} (unix seconds)"),
                    None => write!(f, "; this budget does not reset"),
                }
            }
            Refusal::Rate { scope, id, kind, limit, retry_after_secs, .. } => write!(
                f,
                "Rate limit reached for {} {id}: {limit} {} per minute; retry after {retry_after_secs} s",
                scope.as_str(),
                kind.as_str()
            ),
            Refusal::Parallel { scope, id, limit } => {
                write!(f, "Max parallel request limit reached for {} {id}: {limit}", scope.as_str())
            }
            Refusal::Unavailable(why) => write!(f, "spend limits unavailable: {why}"),
        }
    }
}

impl Refusal {
    /// Seconds a client should wait before trying again (`Retry-After`): the rest of the minute for rate
    /// limits, 1 for parallel limits, `None` for budgets (their reset may be days away) and `Unavailable`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Refusal::Rate { retry_after_secs, .. } => Some(*retry_after_secs),
            Refusal::Parallel { .. } => Some(1),
            Refusal::Budget { .. } | Refusal::Unavailable(_) => None,
        }
    }

    /// The scope that refused (`None` for `Unavailable`).
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Refusal::Budget { scope, .. } | Refusal::Rate { scope, .. } | Refusal::Parallel { scope, .. } => {
                Some(*scope)
            }
            Refusal::Unavailable(_) => None,
        }
    }
}

/// Where the counters live right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendState {
    /// In memory, no Redis configured.
    Memory,
    /// In Redis.
    Redis,
    /// Redis is configured but not answering: local counters (or refusals with `fail_closed`).
    RedisDown,
}

impl BackendState {
    /// `memory`, `redis` or `redis_down`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Memory => "memory",
            BackendState::Redis => "redis",
            BackendState::RedisDown => "redis_down",
        }
    }
}

/// Counters for `/metrics` (totals since start).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitsMetrics {
    /// Reservations granted.
    pub reservations: u64,
    /// Reservations refused, by [`Scope::index`].
    pub refusals: [u64; 5],
    /// Reservations refused because Redis was down with `fail_closed`.
    pub unavailable: u64,
    /// Reservations served by local counters while Redis was down.
    pub local_fallbacks: u64,
    /// Redis calls that failed or timed out.
    pub redis_errors: u64,
    /// Times Redis came back and the local spend was pushed into it.
    pub reconciles: u64,
}

#[derive(Default)]
struct Counters {
    reservations: AtomicU64,
    refusals: [AtomicU64; 5],
    unavailable: AtomicU64,
    local_fallbacks: AtomicU64,
    redis_errors: AtomicU64,
    reconciles: AtomicU64,
}

/// A budget counter's adjustments not yet in Redis.
#[derive(Clone, Copy, Debug)]
struct PendingBudget {
    seed: f64,
    spent: f64,
    unreserve: f64,
    ttl_ms: i64,
    since: Instant,
}

/// What must be pushed into Redis when it answers again.
#[derive(Default)]
struct Pending {
    budgets: HashMap<String, PendingBudget>,
    parallel: HashMap<String, u64>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.budgets.is_empty() && self.parallel.is_empty()
    }

    fn budget(&mut self, key: String, seed: f64, ttl_ms: i64) -> &mut PendingBudget {
        let e = self.budgets.entry(key).or_insert(PendingBudget {
            seed,
            spent: 0.0,
            unreserve: 0.0,
            ttl_ms,
            since: Instant::now(),
        });
        e.ttl_ms = e.ttl_ms.max(ttl_ms);
        e
    }

    fn merge(&mut self, other: Pending) {
        for (k, b) in other.budgets {
            let e = self.budgets.entry(k).or_insert(PendingBudget { spent: 0.0, unreserve: 0.0, ..b });
            e.spent += b.spent;
            e.unreserve += b.unreserve;
        }
        for (k, n) in other.parallel {
            *self.parallel.entry(k).or_insert(0) += n;
        }
    }
}

/// How long one Redis call may take before the gateway treats Redis as down.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the background task pings Redis.
const PING_EVERY: Duration = Duration::from_secs(1);

/// Pings in a row Redis must answer before the gateway trusts it again: a Redis restarting accepts a
/// ping before it serves every connection, and switching back at the first one made the state flap.
const PINGS_TO_RECOVER: u32 = 3;

/// Where a budget counter that Redis does not have gets its start: the spend the database knows, read at
/// this moment (plus what this instance settled and has not written yet), never a cached copy.
pub trait SpendSource: Send + Sync {
    /// The spend of each budget in its window current at `now_unix`; `None` where it cannot be read now.
    fn spend_now<'a>(
        &'a self,
        budgets: &'a [Budget],
        now_unix: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Option<f64>>> + Send + 'a>>;
}

/// The budget, rate and parallel counters of one gateway instance (shared with others through Redis).
pub struct Limits {
    memory: MemoryStore,
    redis: Option<RedisStore>,
    fail_closed: bool,
    down: AtomicBool,
    started: AtomicBool,
    pending: Mutex<Pending>,
    counters: Counters,
    /// Where missing Redis budget counters are seeded from (the keys database), once wired.
    source: std::sync::OnceLock<Arc<dyn SpendSource>>,
    /// USD this instance holds reserved in Redis budget counters, by counter, for calls in flight: a
    /// counter Redis lost is created again with it reserved.
    in_flight: Mutex<HashMap<String, f64>>,
    /// Pings answered in a row while Redis is marked down.
    recovering: std::sync::atomic::AtomicU32,
}

impl Limits {
    /// Counters in this process only.
    pub fn memory() -> Arc<Limits> {
        Arc::new(Limits::new(None, false))
    }

    /// Counters in Redis at `url`. Never fails: starts RedisDown and keeps trying when Redis does not
    /// answer yet (call [`Limits::start`]).
    pub async fn with_redis(url: &str, fail_closed: bool) -> Arc<Limits> {
        let store = RedisStore::new(url);
        let limits = Arc::new(Limits::new(Some(store), fail_closed));
        if let Some(r) = &limits.redis {
            match r.ping().await {
                Ok(()) => limits.down.store(false, Ordering::SeqCst),
                Err(e) => {
                    limits.counters.redis_errors.fetch_add(1, Ordering::Relaxed);
                    log::warn!("spend: redis at {} does not answer ({e}); using local counters", r.url());
                }
            }
        }
        limits
    }

    fn new(redis: Option<RedisStore>, fail_closed: bool) -> Limits {
        let down = redis.is_some();
        Limits {
            memory: MemoryStore::default(),
            redis,
            fail_closed,
            down: AtomicBool::new(down),
            started: AtomicBool::new(false),
            pending: Mutex::new(Pending::default()),
            counters: Counters::default(),
            source: std::sync::OnceLock::new(),
            in_flight: Mutex::new(HashMap::new()),
            recovering: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// Wires the database that seeds budget counters Redis does not have (once; later calls are ignored).
    pub fn set_spend_source(&self, source: Arc<dyn SpendSource>) {
        let _ = self.source.set(source);
    }

    /// Starts the task that pings Redis every second and reconciles when it returns, on the current tokio
    /// runtime; once per `Limits`, nothing without Redis or outside a runtime. The runtime must outlive the
    /// server: the task (and the Redis connection made by [`Limits::with_redis`]) lives there.
    pub fn start(self: &Arc<Self>) {
        if self.redis.is_none() || self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            log::error!("spend: Limits::start outside a tokio runtime; redis health is not watched");
            self.started.store(false, Ordering::SeqCst);
            return;
        };
        rt.spawn(self.health_task());
    }

    /// The health loop [`Limits::start`] spawns, for a caller that drives it itself (a Pingora background
    /// service, say): pings every second, pushes local spend when Redis returns; ends when the `Limits` is
    /// dropped.
    pub fn health_task(self: &Arc<Self>) -> impl std::future::Future<Output = ()> + Send + 'static {
        let weak: Weak<Limits> = Arc::downgrade(self);
        async move {
            loop {
                tokio::time::sleep(PING_EVERY).await;
                let Some(limits) = weak.upgrade() else {
                    return;
                };
                limits.tick().await;
            }
        }
    }

    /// [`Limits::with_redis`] and [`Limits::start`] on a one-thread runtime of their own that lives as long as
    /// the process, for a caller outside any runtime (before Pingora starts its own). Blocks until the first
    /// ping answered or timed out (at most about a second); `Err` only when the thread or runtime cannot start.
    pub fn with_redis_on_own_runtime(url: &str, fail_closed: bool) -> std::io::Result<Arc<Limits>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let url = url.to_string();
        std::thread::Builder::new().name("tollgate-spend".to_string()).spawn(move || {
            rt.block_on(async move {
                let limits = Limits::with_redis(&url, fail_closed).await;
                limits.start();
                // The receiver may be gone if the caller gave up; the runtime keeps serving the connection.
                let _ = tx.send(limits);
                std::future::pending::<()>().await;
            });
        })?;
        rx.recv().map_err(|e| std::io::Error::other(format!("spend runtime did not start: {e}")))
    }

    /// Where the counters live now.
    pub fn state(&self) -> BackendState {
        match (&self.redis, self.down.load(Ordering::SeqCst)) {
            (None, _) => BackendState::Memory,
            (Some(_), false) => BackendState::Redis,
            (Some(_), true) => BackendState::RedisDown,
        }
    }

    /// Totals for `/metrics`.
    pub fn metrics(&self) -> LimitsMetrics {
        let c = &self.counters;
        LimitsMetrics {
            reservations: c.reservations.load(Ordering::Relaxed),
            refusals: std::array::from_fn(|i| c.refusals[i].load(Ordering::Relaxed)),
            unavailable: c.unavailable.load(Ordering::Relaxed),
            local_fallbacks: c.local_fallbacks.load(Ordering::Relaxed),
            redis_errors: c.redis_errors.load(Ordering::Relaxed),
            reconciles: c.reconciles.load(Ordering::Relaxed),
        }
    }

    /// Takes every counter of `r` or none: `Err` names the first limit that refused.
    pub async fn reserve(&self, r: Reservation, now_unix_ms: i64) -> Result<Ticket, Refusal> {
        let mut plan = keys::ReservePlan::new(&r, now_unix_ms);
        let result = self.reserve_plan(&mut plan, &r, now_unix_ms).await;
        match result {
            Ok(backend) => {
                self.counters.reservations.fetch_add(1, Ordering::Relaxed);
                Ok(plan.into_ticket(r, backend))
            }
            Err(refusal) => {
                match refusal.scope() {
                    Some(s) => self.counters.refusals[s.index()].fetch_add(1, Ordering::Relaxed),
                    None => self.counters.unavailable.fetch_add(1, Ordering::Relaxed),
                };
                Err(refusal)
            }
        }
    }

    async fn reserve_plan(
        &self,
        plan: &mut keys::ReservePlan,
        r: &Reservation,
        now_ms: i64,
    ) -> Result<Backend, Refusal> {
        if plan.is_empty() {
            // Nothing to count: no round trip, and nothing to refuse even when Redis is down.
            return Ok(Backend::Memory);
        }
        if let Some(redis) = &self.redis {
            if !self.down.load(Ordering::SeqCst) {
                let mut outcome = redis.reserve(plan).await;
                if let Ok(redis::Reserved::Unseeded(missing)) = &outcome {
                    // Redis lost these counters (restart, eviction, FLUSHALL) or a window begins: seed them
                    // from the database now, never from the cache, and ask once more.
                    self.seed_fresh(plan, r, missing, now_ms).await;
                    outcome = redis.reserve(plan).await;
                }
                match outcome {
                    Ok(redis::Reserved::Taken(held)) => {
                        plan.set_held(&held);
                        self.hold(plan);
                        return Ok(Backend::Redis);
                    }
                    Ok(redis::Reserved::Denied(d)) => return Err(plan.refusal(d, now_ms, r)),
                    Ok(redis::Reserved::Unseeded(_)) => {
                        return Err(Refusal::Unavailable("redis would not take a fresh budget seed".into()))
                    }
                    Err(e) => self.mark_down(&e),
                }
            }
            if self.fail_closed {
                return Err(Refusal::Unavailable("redis is down and spend limits fail closed".to_string()));
            }
            self.counters.local_fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        let held = self.memory.reserve(plan, now_ms).map_err(|d| plan.refusal(d, now_ms, r))?;
        plan.set_held(&held);
        Ok(Backend::Memory)
    }

    /// Sets the seeds of the budgets at `missing` (positions in `plan`) from the database, read now, and what
    /// this instance holds reserved on them; a budget the database cannot give keeps the cache's seed.
    async fn seed_fresh(&self, plan: &mut keys::ReservePlan, r: &Reservation, missing: &[usize], now_ms: i64) {
        let budgets: Vec<Budget> = missing.iter().filter_map(|&i| r.budgets.get(i).cloned()).collect();
        // Without a database wired (a library user's Limits), the seed given is all there is to know.
        let source = self.source.get();
        let fresh = match source {
            Some(source) => source.spend_now(&budgets, now_ms.div_euclid(1000)).await,
            None => Vec::new(),
        };
        let held = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        for (n, &i) in missing.iter().enumerate() {
            let Some(b) = plan.budgets.get_mut(i) else { continue };
            match fresh.get(n).copied().flatten() {
                Some(spend) if spend.is_finite() => b.fresh = true,
                _ if source.is_none() => b.fresh = true,
                _ if self.fail_closed => {
                    // Not fresh: Redis answers "unseeded" again and the call is refused (fail_closed).
                    log::warn!("spend: the database did not give the spend of {}; refused (fail_closed)", b.key);
                    continue;
                }
                _ => {
                    // Fail open, as with Redis down: the cache's seed (up to 30 s old), said in the log.
                    log::warn!("spend: the database did not give the spend of {}; seeded from the cache", b.key);
                    b.fresh = true;
                }
            }
            if let Some(spend) = fresh.get(n).copied().flatten().filter(|s| s.is_finite()) {
                b.seed = b.seed.max(spend);
            }
            b.in_flight = held.get(&b.key).copied().unwrap_or(0.0);
        }
    }

    /// Counts a Redis reservation as this instance's until it is settled.
    fn hold(&self, plan: &keys::ReservePlan) {
        if plan.budgets.iter().all(|b| b.held <= 0.0) {
            return;
        }
        let mut held = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        for b in plan.budgets.iter().filter(|b| b.held > 0.0) {
            *held.entry(b.key.clone()).or_insert(0.0) += b.held;
        }
    }

    /// A Redis reservation settled (or handed to the reconcile queue): no longer in flight here.
    fn release(&self, plan: &keys::SettlePlan) {
        if plan.budgets.iter().all(|b| b.unreserve <= 0.0) {
            return;
        }
        let mut held = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        for b in plan.budgets.iter().filter(|b| b.unreserve > 0.0) {
            if let Some(v) = held.get_mut(&b.reserve_key) {
                *v -= b.unreserve;
                if *v <= b.unreserve * 1e-9 {
                    held.remove(&b.reserve_key);
                }
            }
        }
    }

    /// Gives back what `t` reserved and books the real `cost` (0 refunds) and `tokens`, on the backend that
    /// reserved. Spend and tokens land on the window holding `now_unix_ms` (the reserve's window unless it
    /// rolled meanwhile); the reservation is taken off the reserve's window, never below 0.
    pub async fn settle(&self, t: Ticket, cost: f64, tokens: u64, now_unix_ms: i64) {
        let Some(t) = self.settle_local(t, cost, tokens, now_unix_ms) else {
            return;
        };
        let plan = keys::SettlePlan::new(&t, cost, tokens, now_unix_ms);
        match t.backend {
            Backend::Memory => self.settle_memory(&plan, now_unix_ms),
            Backend::Redis => {
                self.release(&plan);
                let Some(redis) = &self.redis else {
                    return;
                };
                if !self.down.load(Ordering::SeqCst) {
                    match redis.settle(&plan).await {
                        Ok(()) => return,
                        Err(e) => self.mark_down(&e),
                    }
                }
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                for b in &plan.budgets {
                    pending.budget(b.reserve_key.clone(), b.seed, b.ttl_ms).unreserve += b.unreserve;
                    pending.budget(b.current_key.clone(), b.seed, b.ttl_ms).spent += plan.cost;
                }
                for key in &plan.parallel {
                    *pending.parallel.entry(key.clone()).or_insert(0) += 1;
                }
            }
        }
    }

    /// [`Limits::settle`] at once when `t` was reserved in memory (no await, so no task to spawn for it);
    /// `Some(t)` back when it was reserved in Redis and the settle is a round trip.
    pub fn settle_local(&self, t: Ticket, cost: f64, tokens: u64, now_unix_ms: i64) -> Option<Ticket> {
        if t.backend != Backend::Memory {
            return Some(t);
        }
        self.settle_memory(&keys::SettlePlan::new(&t, cost, tokens, now_unix_ms), now_unix_ms);
        None
    }

    fn settle_memory(&self, plan: &keys::SettlePlan, now_unix_ms: i64) {
        self.memory.settle(plan, now_unix_ms);
        if self.redis.is_some() && plan.cost > 0.0 {
            // Spend booked locally while Redis was down goes to Redis when it returns.
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for b in &plan.budgets {
                pending.budget(b.current_key.clone(), b.seed, b.ttl_ms).spent += plan.cost;
            }
        }
    }

    fn mark_down(&self, e: &::redis::RedisError) {
        self.counters.redis_errors.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::SeqCst) {
            log::warn!("spend: redis failed ({e}); serving on local counters until it returns");
        }
    }

    /// One health check: ping; push what is pending; switch back to Redis when it answers again.
    async fn tick(&self) {
        let Some(redis) = &self.redis else {
            return;
        };
        if let Err(e) = redis.ping().await {
            self.recovering.store(0, Ordering::SeqCst);
            self.mark_down(&e);
            return;
        }
        let down = self.down.load(Ordering::SeqCst);
        if down && self.recovering.fetch_add(1, Ordering::SeqCst) + 1 < PINGS_TO_RECOVER {
            return; // not yet: a restarting Redis answers pings before it serves every connection
        }
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if !pending.is_empty() {
            if let Err(e) = redis.reconcile(&pending).await {
                self.pending.lock().unwrap_or_else(PoisonError::into_inner).merge(pending);
                self.mark_down(&e);
                return;
            }
        }
        if self.down.load(Ordering::SeqCst) {
            // Redis holds the truth again; local counters would be stale next time it goes down.
            self.memory.clear();
            self.recovering.store(0, Ordering::SeqCst);
            // Each proxy thread opens a fresh connection: one left broken by the outage would fail the
            // first calls and mark Redis down again at once.
            redis.renew_connections();
            self.down.store(false, Ordering::SeqCst);
            self.counters.reconciles.fetch_add(1, Ordering::Relaxed);
            log::info!("spend: redis is back; local spend pushed, counters live in redis again");
        }
    }
}
