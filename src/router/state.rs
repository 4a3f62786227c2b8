//! The deployment table: every deployment of one config under a dense index, with its live state.
//!
//! A [`DeploymentState`] is shared (`Arc`) between router generations: a reload keeps the state of every
//! deployment whose id is unchanged, and a call that began under the old config ends on the same counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::clock::{minute_of, MinuteCount};
use super::cooldown::Cooldown;
use super::ewma::Ewma;
use crate::config::Deployment;

/// τ of the latency averages: a sample after a minute of silence weighs 63 %.
const LATENCY_DECAY_NANOS: u64 = 60_000_000_000;
/// Least weight of a latency sample: like LiteLLM's average over the last 10 calls.
const LATENCY_FLOOR: f64 = 0.1;
/// τ of the error rate.
const ERROR_DECAY_NANOS: u64 = 60_000_000_000;
/// Least weight of an error-rate sample.
const ERROR_FLOOR: f64 = 0.1;

/// What the router knows about one deployment from real traffic (no background calls to paid models).
#[derive(Debug)]
pub(crate) struct DeploymentState {
    /// Calls begun and not yet ended (least-busy).
    pub in_flight: AtomicU64,
    /// Calls begun in the current minute (rpm use).
    pub requests: MinuteCount,
    /// Tokens used in the current minute (tpm use).
    pub tokens: MinuteCount,
    /// Whole-call latency in seconds.
    pub latency: Ewma,
    /// Time to first token of streams, in seconds.
    pub ttft: Ewma,
    /// Share of calls that failed on the provider's side (1 failed, 0 answered).
    pub errors: Ewma,
    /// Cooldowns and rate-limit skips.
    pub cooldown: Cooldown,
}

impl Default for DeploymentState {
    fn default() -> Self {
        DeploymentState {
            in_flight: AtomicU64::new(0),
            requests: MinuteCount::default(),
            tokens: MinuteCount::default(),
            latency: Ewma::new(LATENCY_DECAY_NANOS, LATENCY_FLOOR),
            ttft: Ewma::new(LATENCY_DECAY_NANOS, LATENCY_FLOOR),
            errors: Ewma::new(ERROR_DECAY_NANOS, ERROR_FLOOR),
            cooldown: Cooldown::default(),
        }
    }
}

impl DeploymentState {
    /// Calls begun in the minute of `t`.
    pub(crate) fn requests_at(&self, t: u64) -> u64 {
        self.requests.get(minute_of(t))
    }

    /// Tokens used in the minute of `t`.
    pub(crate) fn tokens_at(&self, t: u64) -> u64 {
        self.tokens.get(minute_of(t))
    }

    /// Calls in flight now.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// Every deployment of one config, by dense index (its position in `model_list` among all groups).
#[derive(Debug, Default)]
pub(crate) struct Table {
    /// The deployments.
    pub deployments: Box<[Arc<Deployment>]>,
    /// Their state, same index.
    pub states: Box<[Arc<DeploymentState>]>,
    /// Index by deployment id.
    pub by_id: HashMap<String, u32>,
}

impl Table {
    /// The table of `deployments`, reusing the state of every id that `previous` has.
    pub(crate) fn new<'a>(deployments: impl Iterator<Item = &'a Arc<Deployment>>, previous: Option<&Table>) -> Table {
        let mut list = Vec::new();
        let mut states: Vec<Arc<DeploymentState>> = Vec::new();
        let mut by_id = HashMap::new();
        for d in deployments {
            let Ok(index) = u32::try_from(list.len()) else { break };
            // Two entries with one id (refused by validation) would share one state.
            let state = match by_id.get(&d.id).and_then(|i: &u32| states.get(*i as usize)) {
                Some(shared) => shared.clone(),
                None => previous.and_then(|p| p.state(&d.id)).cloned().unwrap_or_default(),
            };
            by_id.entry(d.id.clone()).or_insert(index);
            list.push(d.clone());
            states.push(state);
        }
        Table { deployments: list.into_boxed_slice(), states: states.into_boxed_slice(), by_id }
    }

    /// The state of deployment `id`.
    pub(crate) fn state(&self, id: &str) -> Option<&Arc<DeploymentState>> {
        self.by_id.get(id).and_then(|i| self.states.get(*i as usize))
    }
}
