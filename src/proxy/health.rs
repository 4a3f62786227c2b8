//! LiteLLM's `/health`: a minimal real call to each deployment the caller may use (chat: one token of
//! "test from litellm"; embeddings: one short input; `model_info.mode` says which), all at once, each
//! bounded by [`CHECK_TIMEOUT`] (or the deployment's shorter `timeout`), then healthy and unhealthy
//! endpoints with the error. With `general_settings.background_health_checks` the checks run every
//! `health_check_interval` seconds ([`HealthService`]) and `/health` answers with the last round.
//!
//! A deployment that is cooling down is reported with that reason and not called (it is failing now, and
//! a check would only add to its load); `mock_response` deployments answer without a call; wildcard
//! deployments (`*`) are routes, not models, and are not checked. Checks never change routing: the
//! passive statistics of real traffic do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use tollgate_filters::Endpoint;

use super::{upstream, Gateway};
use crate::admin::{Checked, HealthReport};
use crate::config::Deployment;
use crate::reload::Snapshot;

/// The longest a check may take (LiteLLM's `HEALTH_CHECK_TIMEOUT_SECONDS`).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// What a check asks (LiteLLM's health-check prompt).
const PROMPT: &str = "test from litellm";

/// Checks every deployment of the groups `allowed` accepts, all at once.
pub async fn check(gw: &Gateway, snapshot: &Snapshot, allowed: &(dyn Fn(&str) -> bool + Sync)) -> HealthReport {
    let now = Instant::now();
    let deployments: Vec<&Arc<Deployment>> = snapshot
        .config
        .groups
        .iter()
        .filter(|g| allowed(&g.name) && !g.name.contains('*'))
        .flat_map(|g| g.deployments.iter())
        .filter(|d| !d.litellm_model.contains('*'))
        .collect();
    let checks = deployments.iter().map(|d| async move {
        let error = match (d.mock_response.is_some(), snapshot.router.unhealthy_reason(&d.id, now)) {
            (true, _) => None,
            (false, Some(cooling)) => Some(cooling),
            (false, None) => one(gw, snapshot, d).await.err(),
        };
        Checked { deployment_id: d.id.clone(), error }
    });
    let checked = futures_util::future::join_all(checks).await;
    HealthReport { checked_at_unix: crate::keys::unix_now(), checked }
}

/// One deployment's check: `Err` says why it is unhealthy.
async fn one(gw: &Gateway, snapshot: &Snapshot, d: &Deployment) -> Result<(), String> {
    let mode = d.model_info.get("mode").and_then(|m| m.as_str()).unwrap_or("chat");
    let (endpoint, body) = match mode {
        "embedding" => (Endpoint::Embeddings, serde_json::json!({"model": d.model_name, "input": [PROMPT]})),
        "completion" => {
            (Endpoint::Completions, serde_json::json!({"model": d.model_name, "prompt": PROMPT, "max_tokens": 1}))
        }
        _ => (
            Endpoint::ChatCompletions,
            serde_json::json!({"model": d.model_name, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 1}),
        ),
    };
    let timeout = d.timeout.map_or(CHECK_TIMEOUT, |t| t.min(CHECK_TIMEOUT));
    let body = body.to_string().into_bytes();
    match tokio::time::timeout(timeout, upstream::probe(gw, snapshot, d, endpoint, &body, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
    }
}

/// `general_settings.background_health_checks`: checks every deployment every `health_check_interval` and
/// keeps the last round in [`crate::reload::Live::health`] for `/health` to answer with.
pub struct HealthService {
    /// A gateway of its own (connector, resolver) on the live config.
    pub gw: Gateway,
}

#[async_trait]
impl BackgroundService for HealthService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            let snapshot = self.gw.live.current.load_full();
            let interval = snapshot.config.general.health_check_interval;
            if snapshot.config.general.background_health_checks {
                let report = check(&self.gw, &snapshot, &|_| true).await;
                self.gw.live.health.store(Some(Arc::new(report)));
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
