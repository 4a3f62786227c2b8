//! The in-memory backend: the counters of one process under one `std::sync::Mutex`, held for a whole
//! reserve or settle and never across an await, so a reserve's checks and increments are one atomic step.
//! Counters expire on the injected clock (`now_ms`), like their Redis twins.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::keys::{Denied, ReservePlan, SettlePlan, PARALLEL_TTL_MS};

/// One budget window.
#[derive(Clone, Copy, Debug)]
struct BudgetCell {
    spent: f64,
    reserved: f64,
    expires_ms: i64,
}

/// One minute of one rate limit.
#[derive(Clone, Copy, Debug)]
struct RateCell {
    requests: u64,
    tokens: u64,
    expires_ms: i64,
}

/// Calls in flight.
#[derive(Clone, Copy, Debug)]
struct ParallelCell {
    n: u64,
    expires_ms: i64,
}

#[derive(Default)]
struct Cells {
    budgets: HashMap<String, BudgetCell>,
    rates: HashMap<String, RateCell>,
    parallel: HashMap<String, ParallelCell>,
    ops: u64,
}

/// Every how many reserves expired counters are swept (a power of two: the test is a mask).
const SWEEP_EVERY: u64 = 4096;

impl Cells {
    /// Drops every expired counter.
    fn sweep(&mut self, now_ms: i64) {
        self.budgets.retain(|_, c| c.expires_ms > now_ms);
        self.rates.retain(|_, c| c.expires_ms > now_ms);
        self.parallel.retain(|_, c| c.expires_ms > now_ms);
    }
}

/// Budget, rate and parallel counters of this process.
#[derive(Default)]
pub(super) struct MemoryStore {
    cells: Mutex<Cells>,
}

impl MemoryStore {
    /// Checks every counter of `plan`, then takes them all; nothing is taken when one check fails.
    /// What each budget holds: the plan's amount, or, for a call alone on a budget, what was left of it when
    /// that was less (a budget with nothing left refuses).
    pub fn reserve(&self, plan: &ReservePlan, now_ms: i64) -> Result<Vec<f64>, Denied> {
        let mut guard = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let cells = &mut *guard;
        cells.ops += 1;
        if cells.ops & (SWEEP_EVERY - 1) == 0 {
            cells.sweep(now_ms);
        }
        let mut held = Vec::with_capacity(plan.budgets.len());
        for (i, b) in plan.budgets.iter().enumerate() {
            let (spent, reserved) = match cells.budgets.get(&b.key) {
                Some(c) if c.expires_ms > now_ms => (c.spent.max(b.seed), c.reserved),
                _ => (b.seed, 0.0),
            };
            // The whole worst case when it fits; what is left only for a call alone on the budget (so only
            // one call at a time can cross it: the overspend is at most one call).
            let left = b.max - spent - reserved;
            if spent >= b.max || left <= 0.0 || (plan.amount > left && reserved > 0.0) {
                return Err(Denied::Budget(i, spent));
            }
            held.push(plan.amount.min(left));
        }
        for (i, r) in plan.rates.iter().enumerate() {
            let (requests, tokens) = match cells.rates.get(&r.key) {
                Some(c) if c.expires_ms > now_ms => (c.requests, c.tokens),
                _ => (0, 0),
            };
            if r.rpm.is_some_and(|rpm| requests + 1 > rpm) {
                return Err(Denied::Requests(i));
            }
            if r.tpm.is_some_and(|tpm| tokens >= tpm) {
                return Err(Denied::Tokens(i));
            }
        }
        for (i, (key, max)) in plan.parallel.iter().enumerate() {
            let n = match cells.parallel.get(key) {
                Some(c) if c.expires_ms > now_ms => c.n,
                _ => 0,
            };
            if n + 1 > *max {
                return Err(Denied::Parallel(i));
            }
        }
        for (b, h) in plan.budgets.iter().zip(&held) {
            let c = live_budget(&mut cells.budgets, &b.key, b.seed, now_ms);
            c.spent = c.spent.max(b.seed);
            c.reserved += h;
            c.expires_ms = now_ms + b.ttl_ms;
        }
        for r in &plan.rates {
            let c = cells.rates.entry(r.key.clone()).or_insert(RateCell { requests: 0, tokens: 0, expires_ms: 0 });
            if c.expires_ms <= now_ms {
                *c = RateCell { requests: 0, tokens: 0, expires_ms: 0 };
            }
            c.requests += 1;
            c.expires_ms = now_ms + r.ttl_ms;
        }
        for (key, _) in &plan.parallel {
            let c = cells.parallel.entry(key.clone()).or_insert(ParallelCell { n: 0, expires_ms: 0 });
            if c.expires_ms <= now_ms {
                c.n = 0;
            }
            c.n += 1;
            c.expires_ms = now_ms + PARALLEL_TTL_MS;
        }
        Ok(held)
    }

    /// Gives back the reservation, books cost and tokens, releases the parallel slots.
    pub fn settle(&self, plan: &SettlePlan, now_ms: i64) {
        let mut guard = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let cells = &mut *guard;
        for b in &plan.budgets {
            if let Some(c) = cells.budgets.get_mut(&b.reserve_key) {
                if c.expires_ms > now_ms {
                    c.reserved = (c.reserved - b.unreserve).max(0.0);
                }
            }
            if plan.cost > 0.0 {
                let c = live_budget(&mut cells.budgets, &b.current_key, b.seed, now_ms);
                c.spent += plan.cost;
                c.expires_ms = c.expires_ms.max(now_ms + b.ttl_ms);
            }
        }
        for (key, ttl_ms) in &plan.rates {
            let c = cells.rates.entry(key.clone()).or_insert(RateCell { requests: 0, tokens: 0, expires_ms: 0 });
            if c.expires_ms <= now_ms {
                *c = RateCell { requests: 0, tokens: 0, expires_ms: 0 };
            }
            c.tokens = c.tokens.saturating_add(plan.tokens);
            c.expires_ms = c.expires_ms.max(now_ms + ttl_ms);
        }
        for key in &plan.parallel {
            if let Some(c) = cells.parallel.get_mut(key) {
                c.n = c.n.saturating_sub(1);
            }
        }
    }

    /// Forgets every counter (Redis holds them again).
    pub fn clear(&self) {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        *cells = Cells::default();
    }

    /// The spent and reserved amounts of a budget counter (tests and debugging).
    #[cfg(test)]
    pub fn budget(&self, key: &str, now_ms: i64) -> Option<(f64, f64)> {
        let cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        cells.budgets.get(key).filter(|c| c.expires_ms > now_ms).map(|c| (c.spent, c.reserved))
    }
}

/// The live budget counter at `key`, created at `seed` when absent or expired.
fn live_budget<'a>(
    budgets: &'a mut HashMap<String, BudgetCell>,
    key: &str,
    seed: f64,
    now_ms: i64,
) -> &'a mut BudgetCell {
    let fresh = BudgetCell { spent: seed, reserved: 0.0, expires_ms: 0 };
    let c = budgets.entry(key.to_string()).or_insert(fresh);
    if c.expires_ms <= now_ms {
        *c = fresh;
    }
    c
}
