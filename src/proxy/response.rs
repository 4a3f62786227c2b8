//! Writing answers to the client: JSON bodies, OpenAI-shaped errors, and LiteLLM's response headers.

use std::time::Instant;

use bytes::Bytes;
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use super::ctx::RequestCtx;
use crate::error::Error;

/// A response header with LiteLLM's headers that every answer carries.
pub fn header(status: u16, ctx: &RequestCtx, content_type: &str) -> Result<ResponseHeader> {
    let mut h = ResponseHeader::build(status, Some(8))?;
    h.insert_header("content-type", content_type)?;
    h.insert_header("x-litellm-call-id", ctx.call_id.as_str())?;
    if let Some(group) = &ctx.model_group {
        h.insert_header("x-litellm-model-group", group.as_str())?;
    }
    if let Some(id) = &ctx.deployment_id {
        h.insert_header("x-litellm-model-id", id.as_str())?;
    }
    if ctx.model_group.is_some() {
        h.insert_header("x-litellm-attempted-retries", ctx.attempted_retries.to_string())?;
        h.insert_header("x-litellm-attempted-fallbacks", ctx.attempted_fallbacks.to_string())?;
    }
    if let Some(cost) = ctx.cost {
        h.insert_header("x-litellm-response-cost", cost.to_string())?;
    }
    let overhead = ctx.overhead(Instant::now()).as_secs_f64() * 1000.0;
    h.insert_header("x-litellm-overhead-duration-ms", format!("{overhead:.3}"))?;
    Ok(h)
}

/// Writes a complete JSON answer.
pub async fn json(session: &mut Session, ctx: &mut RequestCtx, status: u16, body: Bytes) -> Result<()> {
    body_of(session, ctx, status, "application/json", body).await
}

/// Writes a complete answer of any content type.
pub async fn body_of(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    content_type: &str,
    body: Bytes,
) -> Result<()> {
    let mut h = header(status, ctx, content_type)?;
    h.insert_header("content-length", body.len().to_string())?;
    ctx.status = status;
    ctx.response_started = true;
    session.write_response_header(Box::new(h), false).await?;
    session.write_response_body(Some(body), true).await
}

/// Writes an error as OpenAI's `{"error": {...}}`, or, once a stream has started, as a final SSE event.
pub async fn error(session: &mut Session, ctx: &mut RequestCtx, e: &Error) -> Result<()> {
    ctx.error_label = Some(e.label());
    if ctx.response_started {
        // Headers are gone: the only way left to tell the client is a last SSE event.
        let mut event = Vec::with_capacity(128);
        tollgate_filters::framing::sse::write_data(&mut event, &e.body());
        return session.write_response_body(Some(Bytes::from(event)), true).await;
    }
    let status = e.status();
    if matches!(e, Error::PayloadTooLarge { .. } | Error::ClientBody(_) | Error::ClientTimeout(_)) {
        // The rest of the body was not read: the connection cannot be reused.
        session.set_keepalive(None);
    }
    let body = e.body();
    if ctx.model_group.is_some() {
        ctx.cost = Some(0.0); // a failed call is refunded
    }
    let mut h = header(status, ctx, "application/json")?;
    h.insert_header("content-length", body.len().to_string())?;
    if let Error::UpstreamStatus { retry_after: Some(after), .. } = e {
        h.insert_header("retry-after", after.as_secs().max(1).to_string())?;
    }
    if let Error::RateLimited { kind, limit, retry_after_secs, .. } = e {
        h.insert_header("retry-after", retry_after_secs.to_string())?;
        let name = if *kind == "tokens" { "tokens" } else { "requests" };
        h.insert_header(format!("x-ratelimit-limit-{name}"), limit.to_string())?;
        h.insert_header(format!("x-ratelimit-remaining-{name}"), "0")?;
        h.insert_header(format!("x-ratelimit-reset-{name}"), format!("{retry_after_secs}s"))?;
    }
    ctx.status = status;
    ctx.response_started = true;
    session.write_response_header(Box::new(h), false).await?;
    session.write_response_body(Some(body), true).await
}
