//! Counter names and the plans both backends execute: a [`ReservePlan`] (every check, then every increment)
//! and a [`SettlePlan`], computed once from the reservation and `now` so memory and Redis count alike.
//!
//! Key names (memory and Redis share them, so the spend booked locally lands on the same Redis keys):
//! `tg:b:{scope}:{id}:{secs}:{index}` (budget window; `:all` without a window), `tg:r:{scope}:{id}:{minute}`,
//! `tg:p:{scope}:{id}`.

use super::{Backend, HeldBudget, Parallel, RateKind, Refusal, Reservation, Scope, Ticket, Window};

/// How long a counter outlives its window, so a settle just after the end still finds it.
const MARGIN_MS: i64 = 60_000;
/// Lifetime of a budget counter without a window, refreshed by every use (it is re-seeded from the database).
const ENDLESS_TTL_MS: i64 = 86_400_000;
/// Longest lifetime of a budget counter (Redis refuses expiries past its clock's range; windows longer than
/// this are re-seeded from the database when their counter expires).
const MAX_TTL_MS: i64 = 400 * 86_400_000;
/// Safety lifetime of a parallel counter, refreshed by every reserve: calls lost with their instance stop
/// counting after it.
pub(super) const PARALLEL_TTL_MS: i64 = 600_000;

/// Budget counter of `scope`/`id` in window `index` of `window`.
pub(super) fn budget_key(scope: Scope, id: &str, window: Option<Window>, index: i64) -> String {
    match window {
        Some(w) => format!("tg:b:{}:{id}:{}:{index}", scope.as_str(), w.secs),
        None => format!("tg:b:{}:{id}:all", scope.as_str()),
    }
}

/// Rate counter of `scope`/`id` for the minute `minute` (unix seconds / 60).
pub(super) fn rate_key(scope: Scope, id: &str, minute: i64) -> String {
    format!("tg:r:{}:{id}:{minute}", scope.as_str())
}

/// Parallel counter of `scope`/`id`.
pub(super) fn parallel_key(scope: Scope, id: &str) -> String {
    format!("tg:p:{}:{id}", scope.as_str())
}

/// Milliseconds a budget counter of window `index` lives from `now_ms`.
fn budget_ttl_ms(window: Option<Window>, index: i64, now_ms: i64) -> i64 {
    match window {
        Some(w) if w.secs > 0 => {
            let secs = i64::try_from(w.secs).unwrap_or(i64::MAX);
            let end_ms =
                index.saturating_add(1).saturating_mul(secs).saturating_add(w.anchor_unix).saturating_mul(1000);
            end_ms.saturating_sub(now_ms).clamp(0, MAX_TTL_MS) + MARGIN_MS
        }
        _ => ENDLESS_TTL_MS,
    }
}

/// The minute holding `now_ms`.
pub(super) fn minute_of(now_ms: i64) -> i64 {
    now_ms.div_euclid(60_000)
}

/// Milliseconds a rate counter of `minute` lives from `now_ms`.
fn rate_ttl_ms(minute: i64, now_ms: i64) -> i64 {
    ((minute + 1) * 60_000 - now_ms).max(0) + MARGIN_MS
}

/// Which check refused, by position in the plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Denied {
    /// Budget `i` is spent (`spent` is the counter's spend, reservations excluded).
    Budget(usize, f64),
    /// Rate `i`'s rpm is reached.
    Requests(usize),
    /// Rate `i`'s tpm is reached.
    Tokens(usize),
    /// Parallel `i` is full.
    Parallel(usize),
}

/// One budget check and increment.
pub(super) struct PlannedBudget {
    pub key: String,
    pub max: f64,
    /// The spend the database knows (the cache's copy, or read at this moment when `fresh`): a floor
    /// for the counter, and its start when it is created.
    pub seed: f64,
    /// `seed` was read from the database at this moment: Redis may create a missing counter from it
    /// (else it answers "unseeded" and the caller reads the database first).
    pub fresh: bool,
    /// What this instance holds reserved on the counter in calls still in flight: a counter created
    /// anew (Redis lost it) starts with it reserved, so those calls are not forgotten.
    pub in_flight: f64,
    pub ttl_ms: i64,
    pub index: i64,
    /// What the backend reserved on this budget: the plan's amount, or what was left of the budget when
    /// that was less (set when the reserve succeeds).
    pub held: f64,
}

/// One rate check and increment.
pub(super) struct PlannedRate {
    pub key: String,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub ttl_ms: i64,
}

/// Everything a reserve checks and takes.
pub(super) struct ReservePlan {
    pub amount: f64,
    pub budgets: Vec<PlannedBudget>,
    pub rates: Vec<PlannedRate>,
    pub parallel: Vec<(String, u64)>,
    minute: i64,
}

impl ReservePlan {
    pub fn new(r: &Reservation, now_ms: i64) -> ReservePlan {
        let now_s = now_ms.div_euclid(1000);
        let minute = minute_of(now_ms);
        let amount = if r.amount.is_finite() && r.amount > 0.0 { r.amount } else { 0.0 };
        ReservePlan {
            amount,
            budgets: r
                .budgets
                .iter()
                .map(|b| {
                    let index = b.window.map_or(0, |w| w.index(now_s));
                    PlannedBudget {
                        key: budget_key(b.scope, &b.id, b.window, index),
                        // NaN refuses; an infinite max is the largest finite one (Lua cannot parse `inf`).
                        max: if b.max.is_nan() { 0.0 } else { b.max.min(f64::MAX) },
                        seed: if b.seed.is_finite() { b.seed.max(0.0) } else { 0.0 },
                        fresh: false,
                        in_flight: 0.0,
                        held: 0.0,
                        ttl_ms: budget_ttl_ms(b.window, index, now_ms),
                        index,
                    }
                })
                .collect(),
            rates: r
                .rates
                .iter()
                .map(|x| PlannedRate {
                    key: rate_key(x.scope, &x.id, minute),
                    rpm: x.rpm,
                    tpm: x.tpm,
                    ttl_ms: rate_ttl_ms(minute, now_ms),
                })
                .collect(),
            parallel: r.parallel.iter().map(|p: &Parallel| (parallel_key(p.scope, &p.id), p.max)).collect(),
            minute,
        }
    }

    /// Records what the backend held on each budget (in plan order).
    pub fn set_held(&mut self, held: &[f64]) {
        for (b, h) in self.budgets.iter_mut().zip(held) {
            b.held = *h;
        }
    }

    /// True when the reservation counts nothing.
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty() && self.rates.is_empty() && self.parallel.is_empty()
    }

    /// The refusal a denied check means, with the reservation's names and the window's reset time.
    pub fn refusal(&self, d: Denied, now_ms: i64, r: &Reservation) -> Refusal {
        let now_s = now_ms.div_euclid(1000);
        let minute_end = (self.minute + 1) * 60;
        // Whole seconds until the minute ends, rounded up, at least 1.
        let retry_after_secs = u64::try_from(((minute_end * 1000 - now_ms) + 999) / 1000).unwrap_or(1).max(1);
        match d {
            Denied::Budget(i, spent) => match r.budgets.get(i) {
                Some(b) => Refusal::Budget {
                    scope: b.scope,
                    id: b.id.clone(),
                    max: b.max,
                    spent,
                    resets_at: b.window.filter(|w| w.secs > 0).map(|w| w.resets_at(now_s)),
                },
                None => Refusal::Unavailable(format!("budget check {i} out of range")),
            },
            Denied::Requests(i) | Denied::Tokens(i) => match r.rates.get(i) {
                Some(x) => {
                    let (kind, limit) = match d {
                        Denied::Requests(_) => (RateKind::Requests, x.rpm.unwrap_or(0)),
                        _ => (RateKind::Tokens, x.tpm.unwrap_or(0)),
                    };
                    Refusal::Rate {
                        scope: x.scope,
                        id: x.id.clone(),
                        kind,
                        limit,
                        retry_after_secs,
                        resets_at_unix: minute_end,
                    }
                }
                None => Refusal::Unavailable(format!("rate check {i} out of range")),
            },
            Denied::Parallel(i) => match r.parallel.get(i) {
                Some(p) => Refusal::Parallel { scope: p.scope, id: p.id.clone(), limit: p.max },
                None => Refusal::Unavailable(format!("parallel check {i} out of range")),
            },
        }
    }

    /// The ticket for a granted reservation.
    pub fn into_ticket(self, r: Reservation, backend: Backend) -> Ticket {
        Ticket {
            backend,
            amount: self.amount,
            budgets: r
                .budgets
                .into_iter()
                .zip(self.budgets)
                .map(|(b, p)| HeldBudget {
                    scope: b.scope,
                    id: b.id,
                    window: b.window,
                    index: p.index,
                    seed: p.seed,
                    held: p.held,
                })
                .collect(),
            rates: r.rates.into_iter().map(|x| (x.scope, x.id)).collect(),
            parallel: self.parallel.into_iter().map(|(k, _)| k).collect(),
        }
    }
}

/// One budget a settle touches.
pub(super) struct SettledBudget {
    /// The window the reservation was taken on.
    pub reserve_key: String,
    /// The window the spend lands on (the same unless it rolled).
    pub current_key: String,
    /// Seed of the current window (0 for a window the reserve did not see).
    pub seed: f64,
    pub ttl_ms: i64,
    /// What the reserve held on this budget, given back now.
    pub unreserve: f64,
}

/// Everything a settle gives back and books.
pub(super) struct SettlePlan {
    pub cost: f64,
    pub tokens: u64,
    pub budgets: Vec<SettledBudget>,
    /// (key, ttl) of the current minute's rate counters (empty when `tokens` is 0).
    pub rates: Vec<(String, i64)>,
    pub parallel: Vec<String>,
}

impl SettlePlan {
    /// `cost` that is not a positive finite number books nothing (a refund).
    pub fn new(t: &Ticket, cost: f64, tokens: u64, now_ms: i64) -> SettlePlan {
        let now_s = now_ms.div_euclid(1000);
        let minute = minute_of(now_ms);
        SettlePlan {
            cost: if cost.is_finite() && cost > 0.0 { cost } else { 0.0 },
            tokens,
            budgets: t
                .budgets
                .iter()
                .map(|b| {
                    // A clock that went back must not book onto a window already closed: never below the reserve's.
                    let index = b.window.map_or(0, |w| w.index(now_s)).max(b.index);
                    SettledBudget {
                        reserve_key: budget_key(b.scope, &b.id, b.window, b.index),
                        current_key: budget_key(b.scope, &b.id, b.window, index),
                        seed: if index == b.index { b.seed } else { 0.0 },
                        ttl_ms: budget_ttl_ms(b.window, index, now_ms),
                        unreserve: b.held,
                    }
                })
                .collect(),
            rates: if tokens == 0 {
                Vec::new()
            } else {
                t.rates.iter().map(|(s, id)| (rate_key(*s, id, minute), rate_ttl_ms(minute, now_ms))).collect()
            },
            parallel: t.parallel.clone(),
        }
    }
}
