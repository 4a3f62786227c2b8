//! The router's first API, kept only while the proxy, /health and reload still call it.
//!
//! To be removed once callers use [`super::Router`]: `pick` becomes `Router::order`, `StatsTable` and
//! `DeploymentStats` become `Router::record_*`, `Router::unhealthy_reason` and `Router::snapshot`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{Deployment, ModelGroup, ProviderChoice};
use crate::error::Error;

/// Picks a deployment of `group` by weighted random choice among the served ones. `roll` is a uniform
/// number in [0, 1) (injected so tests are deterministic).
pub fn pick(group: &ModelGroup, roll: f64) -> Result<&Arc<Deployment>, Error> {
    let served = || group.deployments.iter().filter(|d| matches!(d.provider, ProviderChoice::Served(_)));
    let total: f64 = served().map(|d| weight(d)).sum();
    if total <= 0.0 {
        // Every deployment of the group is on a provider we do not serve: say which.
        let provider = group
            .deployments
            .iter()
            .find_map(|d| match &d.provider {
                ProviderChoice::Unsupported(p) => Some(p.clone()),
                ProviderChoice::Served(_) => None,
            })
            .unwrap_or_default();
        return Err(Error::ProviderNotServed { provider, model: group.name.clone() });
    }
    let mut target = roll.clamp(0.0, 1.0) * total;
    let mut last = None;
    for d in served() {
        let w = weight(d);
        if target < w {
            return Ok(d);
        }
        target -= w;
        last = Some(d);
    }
    last.ok_or_else(|| Error::Internal(format!("no deployment picked in group {}", group.name)))
}

/// simple-shuffle's weight: `weight`, else `rpm`, else `tpm`, else 1.
fn weight(d: &Deployment) -> f64 {
    d.weight.or(d.rpm.map(|r| r as f64)).or(d.tpm.map(|t| t as f64)).unwrap_or(1.0).max(0.0)
}

/// Passive health of one deployment, from real traffic only (no background calls to paid models).
#[derive(Debug, Default)]
pub struct DeploymentStats {
    /// Calls that got an answer from the provider (any status below 500, other than 429).
    pub successes: AtomicU64,
    /// Calls that failed on the provider's side (transport, timeout, 429, 5xx).
    pub failures: AtomicU64,
    /// The last failure, shown by /health; a short text without secrets.
    pub last_error: Mutex<Option<String>>,
    /// 1 when the last call failed.
    pub last_failed: AtomicU64,
}

impl DeploymentStats {
    /// Records a call that the provider answered.
    pub fn record_success(&self) {
        self.successes.fetch_add(1, Ordering::Relaxed);
        self.last_failed.store(0, Ordering::Relaxed);
    }

    /// Records a call that failed on the provider's side.
    pub fn record_failure(&self, reason: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.last_failed.store(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(reason.to_string());
        }
    }

    /// Whether the last call failed, and why.
    pub fn unhealthy_reason(&self) -> Option<String> {
        if self.last_failed.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.last_error.lock().ok().and_then(|l| l.clone())
    }
}

/// Stats of every deployment by id; rebuilt on reload, keeping the entries of unchanged ids.
#[derive(Debug, Default, Clone)]
pub struct StatsTable {
    by_id: HashMap<String, Arc<DeploymentStats>>,
}

impl StatsTable {
    /// A table for `ids`, reusing the stats of ids that `previous` already had.
    pub fn carry_over<'a>(previous: Option<&StatsTable>, ids: impl Iterator<Item = &'a str>) -> StatsTable {
        let by_id = ids
            .map(|id| {
                let stats = previous.and_then(|p| p.by_id.get(id).cloned()).unwrap_or_default();
                (id.to_string(), stats)
            })
            .collect();
        StatsTable { by_id }
    }

    /// The stats of a deployment.
    pub fn get(&self, id: &str) -> Option<&Arc<DeploymentStats>> {
        self.by_id.get(id)
    }
}
