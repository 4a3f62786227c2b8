//! A moving average that decays with elapsed time, readable without a lock.
//!
//! Model: linkerd2-proxy's `linkerd/ewma` (time-based decay, injected timestamps, tests on virtual time).
//! A sample's weight is `alpha = max(floor, 1 - e^(-Δt/τ))`, `Δt` being the time since the previous
//! sample:
//!
//! - the time term is linkerd's: after a quiet spell longer than τ the new sample mostly replaces the
//!   old, stale estimate;
//! - the floor stands in for LiteLLM's "average of the last `max_latency_list_size` (10) calls"
//!   (`litellm/router_strategy/lowest_latency.py`): when calls arrive in bursts (Δt ≈ 0) a pure time weight
//!   would all but ignore every sample of the burst; with a floor of 1/10 each call still counts like one
//!   of the last ten.
//!
//! Unlike linkerd's peak-EWMA we do not jump to a sample above the average: a whole LLM call lasts as long
//! as its answer is long, so one long answer must not take a deployment out of rotation. Unlike linkerd's
//! `get_at`, a read does not decay an idle value towards zero: LiteLLM forgets latencies after `ttl`
//! instead (see [`Ewma::get`]), so an idle slow deployment is not retried every few seconds.
//!
//! Writers take a tiny mutex (a few float operations, never held across an await: the router has none);
//! readers, on every routing decision, only load two atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The stored value when there is no sample yet.
const EMPTY: u64 = u64::MAX;

/// A time-decayed exponentially weighted moving average of `f64` samples.
#[derive(Debug)]
pub(crate) struct Ewma {
    /// τ in nanoseconds.
    decay_nanos: f64,
    /// The least weight a sample gets.
    floor: f64,
    /// `(value, stamp)` for writers.
    inner: Mutex<Option<(f64, u64)>>,
    /// The value's bits for readers (`EMPTY` before the first sample).
    value: AtomicU64,
    /// When the last sample came (nanoseconds since the router's epoch).
    stamp: AtomicU64,
}

impl Ewma {
    /// An empty average with time constant `decay_nanos` and least sample weight `floor`.
    pub(crate) fn new(decay_nanos: u64, floor: f64) -> Self {
        Ewma {
            decay_nanos: decay_nanos.max(1) as f64,
            floor: floor.clamp(0.0, 1.0),
            inner: Mutex::new(None),
            value: AtomicU64::new(EMPTY),
            stamp: AtomicU64::new(0),
        }
    }

    /// Adds a sample taken at `t`. A sample older than the last one (calls end out of order) gets the
    /// floor weight.
    pub(crate) fn add(&self, sample: f64, t: u64) {
        if !sample.is_finite() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (value, stamp) = match *inner {
            None => (sample, t),
            Some((old, stamp)) => {
                let elapsed = t.saturating_sub(stamp) as f64;
                let alpha = (1.0 - (-elapsed / self.decay_nanos).exp()).max(self.floor);
                (old + alpha * (sample - old), stamp.max(t))
            }
        };
        *inner = Some((value, stamp));
        self.value.store(value.to_bits(), Ordering::Relaxed);
        self.stamp.store(stamp, Ordering::Relaxed);
    }

    /// The average and when its last sample came, if it has one younger than `ttl` at `t` (all
    /// nanoseconds). An older one is forgotten, as LiteLLM's router cache entry expires after `ttl`.
    pub(crate) fn get(&self, t: u64, ttl: u64) -> Option<f64> {
        let bits = self.value.load(Ordering::Relaxed);
        if bits == EMPTY || t.saturating_sub(self.stamp.load(Ordering::Relaxed)) > ttl {
            return None;
        }
        Some(f64::from_bits(bits))
    }
}
