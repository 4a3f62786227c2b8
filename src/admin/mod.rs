//! Thin HTTP handlers for the non-LLM routes: `/v1/models`, `/model/info`, `/health*`.
//! Each returns a status and a JSON body; the rules they show live in config/ and router/.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::config::{Config, ProviderChoice};
use crate::reload::Snapshot;

/// `GET /v1/models`: every model group, in OpenAI's list shape (rendered once per config).
pub fn models_body(config: &Config, created: u64) -> Bytes {
    models_body_where(config, created, |_| true)
}

/// `GET /v1/models` for a caller that may use only the groups `allowed` accepts (a virtual key).
pub fn models_body_where(config: &Config, created: u64, allowed: impl Fn(&str) -> bool) -> Bytes {
    let data: Vec<Value> = config
        .groups
        .iter()
        // A wildcard group is a route, not a model: LiteLLM lists it only on request.
        .filter(|g| allowed(&g.name) && !g.name.contains('*'))
        .map(|g| json!({"id": g.name, "object": "model", "created": created, "owned_by": "openai"}))
        .collect();
    Bytes::from(json!({"object": "list", "data": data}).to_string())
}

/// `GET /v1/models/{id}`: one model group, or `None` when there is no such group.
pub fn model_body(config: &Config, id: &str, created: u64) -> Option<Bytes> {
    let g = config.group(id)?;
    Some(Bytes::from(json!({"id": g.name, "object": "model", "created": created, "owned_by": "openai"}).to_string()))
}

/// `GET /model/info`: every deployment of the groups the caller may use, with its params; the api_key is
/// never shown.
pub fn model_info_body(config: &Config, allowed: &dyn Fn(&str) -> bool) -> Bytes {
    let data: Vec<Value> = config
        .groups
        .iter()
        .filter(|g| allowed(&g.name))
        .flat_map(|g| g.deployments.iter())
        .map(|d| {
            let mut params = Map::new();
            params.insert("model".into(), json!(d.litellm_model));
            if let Some(b) = &d.api_base {
                params.insert("api_base".into(), json!(b));
            }
            if let Some(v) = &d.api_version {
                params.insert("api_version".into(), json!(v));
            }
            if let Some(t) = d.timeout {
                params.insert("timeout".into(), json!(t.as_secs_f64()));
            }
            if let Some(t) = d.stream_timeout {
                params.insert("stream_timeout".into(), json!(t.as_secs_f64()));
            }
            for (k, v) in [("rpm", d.rpm), ("tpm", d.tpm)] {
                if let Some(v) = v {
                    params.insert(k.into(), json!(v));
                }
            }
            if let Some(w) = d.weight {
                params.insert("weight".into(), json!(w));
            }
            if let Some(m) = &d.mock_response {
                params.insert("mock_response".into(), json!(m));
            }
            let mut info = d.model_info.clone();
            info.insert("id".into(), json!(d.id));
            info.entry("litellm_provider").or_insert_with(|| json!(provider_name(&d.provider)));
            if let Some(c) = d.input_cost_per_token {
                info.entry("input_cost_per_token").or_insert(json!(c));
            }
            if let Some(c) = d.output_cost_per_token {
                info.entry("output_cost_per_token").or_insert(json!(c));
            }
            json!({"model_name": d.model_name, "litellm_params": params, "model_info": info})
        })
        .collect();
    Bytes::from(json!({"data": data}).to_string())
}

fn provider_name(p: &ProviderChoice) -> String {
    match p {
        ProviderChoice::Served(p) => p.prefix().to_string(),
        ProviderChoice::Unsupported(p) => p.clone(),
    }
}

/// What the gateway's own backends say: the keys database, and Redis when counters live there.
#[derive(Debug, Clone, Copy)]
pub struct Backends {
    /// Whether the keys database answers.
    pub database_up: bool,
    /// `None` without Redis (counters in memory); else whether it answers.
    pub redis_up: Option<bool>,
    /// Calls with budgets or limits are refused while Redis is down.
    pub fail_closed: bool,
}

impl Backends {
    fn json(&self) -> serde_json::Value {
        let up = |b: bool| if b { "up" } else { "down" };
        json!({
            "database": up(self.database_up),
            "redis": self.redis_up.map_or("off", up),
            "limits": match self.redis_up {
                None => "memory",
                Some(true) => "redis",
                Some(false) if self.fail_closed => "refusing (fail_closed)",
                Some(false) => "local counters until Redis returns",
            },
        })
    }
}

/// One deployment's active health check.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The deployment id.
    pub deployment_id: String,
    /// Why it is unhealthy; `None` when it answered.
    pub error: Option<String>,
}

/// A round of active health checks (`/health`).
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// When the round ran, unix seconds.
    pub checked_at_unix: i64,
    /// Each deployment checked.
    pub checked: Vec<Checked>,
}

/// `GET /health` from a round of active checks (LiteLLM's shape), deployments of the groups `allowed`
/// accepts, and the gateway's own backends under `tollgate`.
pub fn health_report_body(
    snapshot: &Snapshot,
    report: &HealthReport,
    backends: Backends,
    allowed: &dyn Fn(&str) -> bool,
) -> Bytes {
    let mut healthy = Vec::new();
    let mut unhealthy = Vec::new();
    for d in snapshot.config.groups.iter().filter(|g| allowed(&g.name)).flat_map(|g| g.deployments.iter()) {
        let Some(checked) = report.checked.iter().find(|c| c.deployment_id == d.id) else { continue };
        let mut entry = json!({"model": d.litellm_model, "model_name": d.model_name, "model_id": d.id});
        if let Some(b) = &d.api_base {
            entry["api_base"] = json!(b);
        }
        match &checked.error {
            None => healthy.push(entry),
            Some(e) => {
                entry["error"] = json!(e);
                unhealthy.push(entry);
            }
        }
    }
    let body = json!({
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
        "healthy_count": healthy.len(),
        "unhealthy_count": unhealthy.len(),
        "checked_at": crate::keys::iso8601(report.checked_at_unix),
        "tollgate": backends.json(),
        "open_gateway": snapshot.config.general.master_key.is_none(),
    });
    Bytes::from(body.to_string())
}

/// `GET /health/readiness`.
pub fn readiness_body(snapshot: &Snapshot, backends: Backends) -> Bytes {
    let body = json!({
        "status": "healthy",
        "db": if backends.database_up { "connected" } else { "Not connected" },
        "cache": backends.redis_up.map(|_| "redis"),
        "litellm_version": concat!("tollgate ", env!("CARGO_PKG_VERSION")),
        "success_callbacks": [],
        "models": snapshot.config.groups.len(),
        // No master key: every client is admitted (said at every start and reload too).
        "open_gateway": snapshot.config.general.master_key.is_none(),
    });
    Bytes::from(body.to_string())
}

/// `GET /health/liveliness` (and `/health/liveness`): LiteLLM answers a bare JSON string.
pub const LIVELINESS_BODY: &[u8] = b"\"I'm alive!\"";
