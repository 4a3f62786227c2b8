//! `GET /metrics` in Prometheus' text format, rendered on demand from the counters the gateway keeps
//! anyway (no registry, nothing on the hot path beyond the atomics). LiteLLM's metric names where
//! LiteLLM has one (`litellm_deployment_*`), `tollgate_*` otherwise.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use crate::config::ProviderChoice;
use crate::reload::Live;

/// The Prometheus text exposition of the live state.
pub fn render(
    live: &Live,
    now: Instant,
    backends: crate::admin::Backends,
    limits: &crate::spend::LimitsMetrics,
    key_misses: &crate::keys::MissCounters,
) -> Bytes {
    let snapshot = live.current.load();
    let mut out = String::with_capacity(2048);
    out.push_str(
        "# HELP tollgate_key_miss_lookups_total Keys the cache did not have: looked up in the database, or refused by the rate bound.\n",
    );
    out.push_str("# TYPE tollgate_key_miss_lookups_total counter\n");
    let lookups = key_misses.lookups.load(Ordering::Relaxed);
    let limited = key_misses.limited.load(Ordering::Relaxed);
    let _ = writeln!(out, "tollgate_key_miss_lookups_total{{result=\"database\"}} {lookups}");
    let _ = writeln!(out, "tollgate_key_miss_lookups_total{{result=\"limited\"}} {limited}");
    let reloads = live.reloads.load(Ordering::Relaxed);
    let refused = live.failed_reloads.load(Ordering::Relaxed);
    out.push_str("# HELP tollgate_config_reloads_total Config reloads (SIGHUP) by result.\n");
    out.push_str("# TYPE tollgate_config_reloads_total counter\n");
    let _ = writeln!(out, "tollgate_config_reloads_total{{result=\"applied\"}} {reloads}");
    let _ = writeln!(out, "tollgate_config_reloads_total{{result=\"refused\"}} {refused}");
    out.push_str("# HELP tollgate_requests_in_flight Requests being served now.\n");
    out.push_str("# TYPE tollgate_requests_in_flight gauge\n");
    let _ = writeln!(out, "tollgate_requests_in_flight {}", live.in_flight.load(Ordering::Relaxed));
    out.push_str("# HELP tollgate_database_up 1 while the keys database answers (keys keep working from the cache).\n");
    out.push_str("# TYPE tollgate_database_up gauge\n");
    let _ = writeln!(out, "tollgate_database_up {}", u8::from(backends.database_up));
    out.push_str("# HELP tollgate_limit_reservations_total Calls reserved against budgets and limits.\n");
    out.push_str("# TYPE tollgate_limit_reservations_total counter\n");
    let _ = writeln!(out, "tollgate_limit_reservations_total {}", limits.reservations);
    out.push_str(
        "# HELP tollgate_limit_refusals_total Calls refused by a budget or a rate/parallel limit, by scope.\n",
    );
    out.push_str("# TYPE tollgate_limit_refusals_total counter\n");
    for scope in crate::spend::Scope::ALL {
        let n = limits.refusals.get(scope.index()).copied().unwrap_or(0);
        let _ = writeln!(out, "tollgate_limit_refusals_total{{scope=\"{}\"}} {n}", scope.as_str());
    }
    let _ = writeln!(out, "tollgate_limit_refusals_total{{scope=\"unavailable\"}} {}", limits.unavailable);
    out.push_str(
        "# HELP tollgate_limit_local_fallbacks_total Reservations served on local counters while Redis was down.\n",
    );
    out.push_str("# TYPE tollgate_limit_local_fallbacks_total counter\n");
    let _ = writeln!(out, "tollgate_limit_local_fallbacks_total {}", limits.local_fallbacks);
    out.push_str("# HELP tollgate_redis_errors_total Redis calls that failed or timed out.\n");
    out.push_str("# TYPE tollgate_redis_errors_total counter\n");
    let _ = writeln!(out, "tollgate_redis_errors_total {}", limits.redis_errors);
    out.push_str(
        "# HELP tollgate_redis_reconciles_total Times local spend was pushed back into Redis after an outage.\n",
    );
    out.push_str("# TYPE tollgate_redis_reconciles_total counter\n");
    let _ = writeln!(out, "tollgate_redis_reconciles_total {}", limits.reconciles);
    if let Some(up) = backends.redis_up {
        out.push_str("# HELP tollgate_redis_up 1 while Redis answers; 0 while counters run locally (or refuse).\n");
        out.push_str("# TYPE tollgate_redis_up gauge\n");
        let _ = writeln!(out, "tollgate_redis_up {}", u8::from(up));
    }

    out.push_str("# HELP litellm_deployment_state Deployment state: 0 healthy, 1 partial outage, 2 complete outage.\n");
    out.push_str("# TYPE litellm_deployment_state gauge\n");
    let mut latency = String::new();
    let mut cooled = String::new();
    for d in snapshot.config.groups.iter().flat_map(|g| g.deployments.iter()) {
        let labels = format!(
            "litellm_model_name=\"{}\",model_id=\"{}\",model_group=\"{}\"",
            escape(&d.litellm_model),
            escape(&d.id),
            escape(&d.model_name)
        );
        let health = snapshot.router.snapshot(&d.id, now);
        let state = match (&d.provider, &health) {
            (ProviderChoice::Unsupported(_), _) => 2,
            (_, Some(h)) if h.cooling_down_for.is_some() => 2,
            (_, Some(h)) if h.error_rate > 0.0 || h.rate_limited_for.is_some() => 1,
            _ => 0,
        };
        let _ = writeln!(out, "litellm_deployment_state{{{labels}}} {state}");
        if let Some(h) = health {
            if let Some(l) = h.latency {
                let _ = writeln!(latency, "tollgate_deployment_latency_seconds{{{labels}}} {:.6}", l.as_secs_f64());
            }
            let _ = writeln!(
                cooled,
                "tollgate_deployment_cooling_down{{{labels}}} {}",
                u8::from(h.cooling_down_for.is_some())
            );
        }
    }
    out.push_str("# HELP tollgate_deployment_latency_seconds Recent average latency of a deployment (EWMA).\n");
    out.push_str("# TYPE tollgate_deployment_latency_seconds gauge\n");
    out.push_str(&latency);
    out.push_str("# HELP tollgate_deployment_cooling_down 1 while a deployment is cooled down.\n");
    out.push_str("# TYPE tollgate_deployment_cooling_down gauge\n");
    out.push_str(&cooled);
    Bytes::from(out)
}

/// Escapes a label value (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
