//! The logging hook: one access line per LLM call at debug level (stderr is blocking I/O, so not by
//! default), and one `warn` line per call that met provider failures (timeouts, 5xx, resets, bad answers),
//! so operators see them at the default level (metrics, spend and audit records join here later).

use std::fmt::Write as _;

use log::{debug, warn};
use pingora_error::Error as PError;
use pingora_proxy::Session;

use super::ctx::RequestCtx;

/// Logs the outcome of a request: status, model group, deployment, total and overhead time.
pub fn log(session: &Session, e: Option<&PError>, ctx: &RequestCtx) {
    let req = session.req_header();
    let total = ctx.started.elapsed();
    if !ctx.provider_failures.is_empty() {
        let mut failures = String::new();
        for (i, (deployment, reason)) in ctx.provider_failures.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            let _ = write!(failures, "{sep}deployment={deployment}: {reason}");
        }
        warn!(
            "call_id={} model={} status={} provider failures ({}): {failures}",
            ctx.call_id,
            ctx.model_group.as_deref().unwrap_or("-"),
            ctx.status,
            ctx.provider_failures.len(),
        );
    }
    if let Some(e) = e {
        warn!("{} {} call_id={} client connection failed: {e}", req.method, req.uri.path(), ctx.call_id);
        return;
    }
    if ctx.model_group.is_none() && ctx.error_label.is_none() {
        return; // admin and health routes are not worth a line each
    }
    debug!(
        "{} {} status={} model={} deployment={} error={} total_ms={:.3} overhead_ms={:.3} call_id={}",
        req.method,
        req.uri.path(),
        ctx.status,
        ctx.model_group.as_deref().unwrap_or("-"),
        ctx.deployment_id.as_deref().unwrap_or("-"),
        ctx.error_label.unwrap_or("-"),
        total.as_secs_f64() * 1000.0,
        ctx.overhead(ctx.started + total).as_secs_f64() * 1000.0,
        ctx.call_id,
    );
}
