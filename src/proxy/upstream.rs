//! One call to one deployment through Pingora's connector: connect (pooled, TLS, h2 where offered),
//! send the translated body, relay the answer: buffered JSON, or SSE event by event.
//!
//! Why the call is driven from request_filter and not by Pingora's proxy pipe: routing needs `model`
//! from the body before a peer can be chosen, and Pingora 0.9 feeds a body read in request_filter to
//! the upstream only from its 64 KiB retry buffer (design.md); larger bodies hang. Driving the
//! connector ourselves sends bodies of any size, once per attempt, with the attempt's own bytes.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use pingora_core::protocols::http::client::HttpSession as ClientSession;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_http::RequestHeader;
use pingora_proxy::Session;
use tokio::time::timeout_at;
use tollgate_filters::openai::RequestView;
use tollgate_filters::{mock, Endpoint, Provider};
use tollgate_filters::{ResponseMeta, StreamTranslator, TranslateError};

use super::ctx::RequestCtx;
use super::request::Failure;
use super::{response, Gateway};
use crate::config::{Deployment, ProviderChoice};
use crate::error::Error;
use crate::upstream as up;
use crate::upstream::sigv4;

/// Whole-call timeout when neither the deployment nor the router sets one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The most we buffer of a non-streamed answer (embeddings of a large batch are tens of MB).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// The largest single SSE event we hold while restamping a stream.
const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;
/// The most of an error body we keep to pass on.
const MAX_ERROR_BYTES: usize = 1024 * 1024;

/// One call to make.
pub struct Call<'a> {
    /// The deployment.
    pub deployment: &'a Deployment,
    /// Its provider.
    pub provider: Provider,
    /// The client's endpoint.
    pub endpoint: Endpoint,
    /// The body to send, already translated for the provider.
    pub body: Bytes,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Whether the client asked for a usage chunk at the end of the stream.
    pub include_usage: bool,
    /// Whether a translated embeddings answer must be re-encoded as base64 for the client.
    pub base64_embeddings: bool,
    /// The request body's own `timeout` (LiteLLM's per-request router setting), over the deployment's.
    pub timeout: Option<Duration>,
}

/// Calls the deployment and relays its answer to the client. On `Err`, nothing has been written unless
/// `ctx.response_started` says so; the caller decides on a retry or a fallback.
pub async fn forward(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx, call: Call<'_>) -> Result<(), Failure> {
    let d = call.deployment;
    let snapshot = ctx.snapshot.clone();
    let router = &snapshot.router;
    let started = ctx.attempt.started;
    let timeout = call.timeout.or(d.timeout).unwrap_or(DEFAULT_TIMEOUT);
    let deadline = started + timeout;
    // For streams, `stream_timeout` bounds the wait for the first byte.
    let first_byte = match (call.stream, d.stream_timeout) {
        (true, Some(t)) => (started + t).min(deadline),
        _ => deadline,
    };
    let sent = send(gw, &snapshot, &call, first_byte).await;
    let (mut client, peer) = match sent {
        Ok(ok) => ok,
        Err(e) => {
            ctx.waited += started.elapsed();
            return Err(e.into());
        }
    };
    let header_time = Instant::now();
    let (status, content_type, retry_after, error_type) = {
        let Some(h) = client.response_header() else {
            return Err(up::transport_error(&d.id, "no response header").into());
        };
        let limits = RateLimitHeaders::read(&h.headers);
        router.observe_rate_limit(&d.id, limits.requests, limits.tokens, limits.reset, header_time);
        let content_type =
            h.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
        // Bedrock names its error in a header, not in the body.
        let error_type = h.headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_owned);
        (h.status.as_u16(), content_type, limits.retry_after, error_type)
    };
    // SSE for most providers; Bedrock streams AWS's binary eventstream.
    let is_stream =
        content_type.starts_with("text/event-stream") || content_type.starts_with("application/vnd.amazon.eventstream");

    if status < 400 && call.stream && !is_stream {
        // Asked for a stream, got something else (a `200 text/plain` from a broken proxy, an HTML page):
        // never relayed as a success.
        let _ = read_all(&mut client, deadline, MAX_ERROR_BYTES, &d.id, timeout).await;
        ctx.waited += started.elapsed();
        return Err(bad_answer(&d.id, format!("a stream was asked for, the answer is {status} {content_type}")).into());
    }
    if status >= 400 || !(call.stream && is_stream) {
        // Buffer the whole answer: errors are reshaped, JSON gets an exact Content-Length.
        let limit = if status >= 400 { MAX_ERROR_BYTES } else { MAX_RESPONSE_BYTES };
        let body = read_all(&mut client, deadline, limit, &d.id, timeout).await;
        ctx.waited += started.elapsed();
        let body = body?;
        release(gw, client, &peer).await;
        if status >= 400 {
            let (status, body) = match call.provider {
                Provider::Bedrock => tollgate_filters::bedrock::error_with_type(status, error_type.as_deref(), &body),
                other => tollgate_filters::translate_error(other, status, &body),
            };
            return Err(Error::UpstreamStatus { status, body: Bytes::from(body), retry_after }.into());
        }
        // LiteLLM answers with the model name the client asked for, not the provider's id.
        let (id, created) = answer_identity();
        let meta = ResponseMeta { id: &id, created, model: &d.model_name };
        let (body, usage) = tollgate_filters::translate_response(call.provider, call.endpoint, &body, &meta)
            .map_err(|e| bad_answer(&d.id, e))?;
        let body = match call.base64_embeddings {
            true => tollgate_filters::openai::embeddings::embeddings_to_base64(&body).unwrap_or(body),
            false => body,
        };
        let tokens = usage.map_or(0, |u| u.total_tokens());
        router.record_success(&d.id, started.elapsed(), None, tokens, Instant::now());
        charge(ctx, d, usage);
        let body = Bytes::from(body);
        let mut h = response::header(status, ctx, &content_type).map_err(Failure::Downstream)?;
        h.insert_header("content-length", body.len().to_string()).map_err(Failure::Downstream)?;
        ctx.status = status;
        ctx.response_started = true;
        session.write_response_header(Box::new(h), false).await.map_err(Failure::Downstream)?;
        return session.write_response_body(Some(body), true).await.map_err(Failure::Downstream);
    }

    // A stream. Nothing goes to the client before the first translated event: a stream that breaks, ends
    // or sends garbage before it is the provider's failure, retried elsewhere like a 5xx. `stream_timeout`
    // bounds the wait for it.
    let (id, created) = answer_identity();
    let meta = ResponseMeta { id: &id, created, model: &d.model_name };
    let mut translator = StreamTranslator::new(call.provider, &meta, call.include_usage, MAX_EVENT_BYTES);
    let mut out = Vec::with_capacity(4096);
    let first_limit = d.stream_timeout.or(call.timeout).or(d.timeout).unwrap_or(DEFAULT_TIMEOUT);
    let first = first_events(&mut client, &mut translator, &mut out, d, (first_byte, first_limit)).await;
    ctx.waited += started.elapsed();
    let first = first?;
    let ttft = started.elapsed();
    let mut h = response::header(status, ctx, "text/event-stream").map_err(Failure::Downstream)?;
    h.insert_header("cache-control", "no-cache").map_err(Failure::Downstream)?;
    if !session.as_downstream().is_http2() {
        h.insert_header("transfer-encoding", "chunked").map_err(Failure::Downstream)?;
    }
    ctx.status = status;
    ctx.response_started = true;
    session.write_response_header(Box::new(h), false).await.map_err(Failure::Downstream)?;
    if let First::Broken(e) = first {
        // Events came before the provider's error: they reach the client, then the error event.
        charge(ctx, d, Some(translator.produced_estimate()));
        session.write_response_body(Some(Bytes::from(out)), false).await.map_err(Failure::Downstream)?;
        return Err(e.into());
    }
    if matches!(first, First::Ended) {
        release(gw, client, &peer).await;
    } else {
        let events = Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(4096)));
        session.write_response_body(Some(events), false).await.map_err(Failure::Downstream)?;
        let relayed = relay(session, &mut client, &mut translator, &mut out, d, (deadline, timeout)).await;
        // Charged for what was produced, also when the client or the provider cut the stream short.
        charge(ctx, d, Some(translator.produced_estimate()));
        relayed?;
        // Checked before `finish`, which closes the translated stream whatever came.
        if !translator.complete() {
            return Err(bad_answer(&d.id, "the stream ended before the provider said it was done").into());
        }
        release(gw, client, &peer).await;
        translator.finish(&mut out).map_err(|e| stream_error(&d.id, e))?;
    }
    router.record_success(&d.id, started.elapsed(), Some(ttft), translator.total_tokens().unwrap_or(0), Instant::now());
    charge(ctx, d, Some(translator.produced_estimate()));
    let last = (!out.is_empty()).then(|| Bytes::from(out));
    session.write_response_body(last, true).await.map_err(Failure::Downstream)
}

/// How a stream began, once its first events are translated.
enum First {
    /// More is to come.
    More,
    /// The whole stream was in it, complete.
    Ended,
    /// The provider's error came after the first events (in the same chunk): they go to the client, then it.
    Broken(Error),
}

/// Reads the provider's stream until the translator has produced its first events (in `out`), by
/// `first_byte`. A stream that breaks, sends what its API does not, or ends (cut short, or with nothing
/// to pass on) before then is an error, and nothing has been written to the client: whether a client
/// gets a stream or an error status never depends on how the provider's bytes were split.
async fn first_events(
    client: &mut ClientSession,
    translator: &mut StreamTranslator,
    out: &mut Vec<u8>,
    d: &Deployment,
    (first_byte, limit): (Instant, Duration),
) -> Result<First, Failure> {
    loop {
        let chunk = match timeout_at(first_byte.into(), client.read_response_body()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(up::transport_error(&d.id, format!("stream broken: {e}")).into()),
            Err(_) => return Err(Error::UpstreamTimeout(limit.as_secs_f64(), d.id.clone()).into()),
        };
        let Some(chunk) = chunk else {
            let complete = translator.complete();
            translator.finish(out).map_err(|e| first_event_error(&d.id, e))?;
            if !complete || out.is_empty() {
                return Err(bad_answer(&d.id, "the stream ended before its first complete event").into());
            }
            return Ok(First::Ended);
        };
        if let Err(e) = translator.push(&chunk, out) {
            return match out.is_empty() {
                true => Err(first_event_error(&d.id, e)),
                false => Ok(First::Broken(stream_error(&d.id, e))),
            };
        }
        if !out.is_empty() {
            return Ok(First::More);
        }
    }
}

/// A stream failure before anything reached the client: the provider's own error event keeps its
/// status; a stream that is not what the API sends is a bad answer.
fn first_event_error(id: &str, e: TranslateError) -> Failure {
    match e {
        e @ TranslateError::ProviderStreamError { .. } => stream_error(id, e).into(),
        other => bad_answer(id, other).into(),
    }
}

/// The provider answered a success that its API does not send.
fn bad_answer(deployment: &str, reason: impl std::fmt::Display) -> Error {
    Error::UpstreamBadAnswer { deployment: deployment.to_string(), reason: reason.to_string() }
}

/// One minimal real call to a deployment, for `/health` (LiteLLM's `ahealth_check`): `body` (a client body)
/// translated for its provider, sent, and its answer read; `Err` says why the deployment is unhealthy.
pub async fn probe(
    gw: &Gateway,
    snapshot: &crate::reload::Snapshot,
    d: &Deployment,
    endpoint: Endpoint,
    body: &[u8],
    timeout: Duration,
) -> Result<(), String> {
    let ProviderChoice::Served(provider) = d.provider else {
        return Err("the provider is not served by Tollgate yet".into());
    };
    let view = RequestView::parse(body).map_err(|e| e.to_string())?;
    let opts = tollgate_filters::RequestOptions { drop_params: true };
    let translated = tollgate_filters::translate_request(provider, endpoint, &view, &d.upstream_model, &opts)
        .map_err(|e| e.to_string())?;
    let call = Call {
        deployment: d,
        provider,
        endpoint,
        body: Bytes::from(translated),
        stream: false,
        include_usage: false,
        base64_embeddings: false,
        timeout: Some(timeout),
    };
    let deadline = Instant::now() + timeout;
    let (mut client, peer) = send(gw, snapshot, &call, deadline).await.map_err(|e| e.to_string())?;
    let status = client.response_header().map_or(0, |h| h.status.as_u16());
    let answer = read_all(&mut client, deadline, MAX_ERROR_BYTES, &d.id, timeout).await.map_err(|e| e.to_string())?;
    release(gw, client, &peer).await;
    if status >= 400 {
        let (status, shaped) = tollgate_filters::translate_error(provider, status, &answer);
        let message = serde_json::from_slice::<serde_json::Value>(&shaped)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(format!("the provider answered {status}: {message}"));
    }
    let meta = ResponseMeta { id: "health", created: 0, model: &d.model_name };
    tollgate_filters::translate_response(provider, endpoint, &answer, &meta).map(|_| ()).map_err(|e| e.to_string())
}

/// Records the call's usage and its cost at the deployment's prices (0 when its price is unknown); a
/// wildcard's deployment is priced as the model it served.
fn charge(ctx: &mut RequestCtx, d: &Deployment, usage: Option<tollgate_filters::usage::Usage>) {
    let Some(usage) = usage else {
        ctx.cost.get_or_insert(0.0);
        return;
    };
    let prices = match d.from_wildcard {
        true => crate::reload::prices_of(d),
        false => ctx.snapshot.prices.get(&d.id).copied(),
    };
    ctx.cost = Some(prices.map_or(0.0, |p| crate::cost::cost_of(&p, &usage)));
    ctx.usage = Some(usage);
}

/// Relays a provider's stream to the client event by event until it ends; the time to its first byte.
async fn relay(
    session: &mut Session,
    client: &mut ClientSession,
    translator: &mut StreamTranslator,
    out: &mut Vec<u8>,
    d: &Deployment,
    (deadline, timeout): (Instant, Duration),
) -> Result<(), Failure> {
    loop {
        let chunk = match timeout_at(deadline.into(), client.read_response_body()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(up::transport_error(&d.id, format!("stream broken: {e}")).into()),
            Err(_) => return Err(Error::UpstreamTimeout(timeout.as_secs_f64(), d.id.clone()).into()),
        };
        let Some(chunk) = chunk else { return Ok(()) };
        if let Err(e) = translator.push(&chunk, out) {
            // Events translated before the provider's error still reach the client, then the error event.
            if !out.is_empty() {
                let events = Bytes::from(std::mem::take(out));
                session.write_response_body(Some(events), false).await.map_err(Failure::Downstream)?;
            }
            return Err(stream_error(&d.id, e).into());
        }
        if out.is_empty() {
            continue; // the chunk ended inside an event: wait for the rest of it
        }
        // A failed write means the client left: returning drops `client`, which closes the
        // provider's connection and so cancels the call upstream.
        let events = Bytes::from(std::mem::replace(out, Vec::with_capacity(4096)));
        session.write_response_body(Some(events), false).await.map_err(Failure::Downstream)?;
    }
}

/// What a provider says of its rate limits in its answer headers (OpenAI's names, which most share).
struct RateLimitHeaders {
    requests: Option<u64>,
    tokens: Option<u64>,
    reset: Option<Duration>,
    retry_after: Option<Duration>,
}

impl RateLimitHeaders {
    fn read(h: &http::HeaderMap) -> Self {
        let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let number = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
        RateLimitHeaders {
            requests: number("x-ratelimit-remaining-requests"),
            tokens: number("x-ratelimit-remaining-tokens"),
            reset: text("x-ratelimit-reset-requests").and_then(parse_go_duration),
            // Retry-After in seconds (an HTTP date is rare from LLM providers and is ignored).
            retry_after: text("retry-after-ms")
                .and_then(|v| v.parse::<f64>().ok())
                .map(|ms| ms / 1000.0)
                .or_else(|| text("retry-after").and_then(|v| v.parse::<f64>().ok()))
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(3600.0))),
        }
    }
}

/// Parses OpenAI's reset durations such as `1s`, `6m0s`, `120ms`, `1h2m3.5s`.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match rest.get(..unit)? {
            "ms" => 0.001,
            "s" | "" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = rest.get(unit..)?;
    }
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total.min(86_400.0)))
}

/// Connects and sends the request, until the response header is in (by `first_byte`). A pooled
/// connection that the provider closed while idle is retried once on a fresh one.
async fn send(
    gw: &Gateway,
    snapshot: &crate::reload::Snapshot,
    call: &Call<'_>,
    first_byte: Instant,
) -> Result<(ClientSession, HttpPeer), Error> {
    let d = call.deployment;
    // Bedrock's Converse goes to the runtime endpoint first, invoke (embeddings) to api_base first (LiteLLM).
    let runtime = match (call.provider, call.endpoint) {
        (Provider::Bedrock, e) if e != Endpoint::Embeddings => snapshot.runtime_targets.get(&d.id),
        _ => None,
    };
    // A wildcard's deployment may call another provider than its config says (`*` serving `groq/...`).
    let parsed = match (d.from_wildcard, d.api_base.as_deref()) {
        (true, Some(base)) => Some(up::Target::parse(base).map_err(|e| up::transport_error(&d.id, e))?),
        _ => None,
    };
    let Some(target) = parsed.as_ref().or(runtime).or_else(|| snapshot.targets.get(&d.id)) else {
        return Err(Error::Internal(format!("deployment {} has no api_base", d.id)));
    };
    let timeout = || {
        let whole = call.timeout.or(d.timeout);
        let limit = if call.stream { d.stream_timeout.or(whole) } else { whole };
        Error::UpstreamTimeout(limit.unwrap_or(DEFAULT_TIMEOUT).as_secs_f64(), d.id.clone())
    };
    let addr = timeout_at(first_byte.into(), gw.resolver.resolve(&target.host, target.port, Instant::now()))
        .await
        .map_err(|_| timeout())?
        .map_err(|e| up::transport_error(&d.id, e))?;
    let peer = up::peer(target, addr);
    let vertex_token = match call.provider {
        Provider::VertexAi => Some(vertex_token(gw, snapshot, d, first_byte).await?),
        _ => None,
    };
    let key_project = snapshot.vertex.get(&d.id).and_then(|a| a.project_id());
    let path = up::request_path(target, d, call.provider, call.endpoint, call.stream, key_project);
    for _ in 0..2 {
        let (mut client, reused) = timeout_at(first_byte.into(), gw.connector.get_http_session(&peer))
            .await
            .map_err(|_| timeout())?
            .map_err(|e| up::transport_error(&d.id, e))?;
        let req = request_header(&path, target, d, call, vertex_token.as_deref())?;
        let exchange = async {
            client.write_request_header(Box::new(req)).await?;
            client.write_request_body(call.body.clone(), true).await?;
            client.finish_request_body().await?;
            client.read_response_header().await
        };
        match timeout_at(first_byte.into(), exchange).await {
            Ok(Ok(())) => return Ok((client, peer)),
            Ok(Err(_)) if reused => continue,
            Ok(Err(e)) => return Err(up::transport_error(&d.id, e)),
            Err(_) => return Err(timeout()),
        }
    }
    Err(up::transport_error(&d.id, "pooled connections were closed by the provider"))
}

/// The provider request header: path, Host, length, and the provider's key (never the client's).
fn request_header(
    path: &str,
    target: &up::Target,
    d: &Deployment,
    call: &Call<'_>,
    bearer: Option<&str>,
) -> Result<RequestHeader, Error> {
    let accept = match (call.stream, call.provider) {
        (true, Provider::Bedrock) => "application/vnd.amazon.eventstream",
        (true, _) => "text/event-stream",
        (false, _) => "application/json",
    };
    let length = call.body.len().to_string();
    let mut headers: Vec<(&str, String)> = vec![
        ("host", target.authority.clone()),
        ("content-type", "application/json".into()),
        ("content-length", length),
        ("accept", accept.into()),
        ("user-agent", concat!("tollgate/", env!("CARGO_PKG_VERSION")).into()),
    ];
    if let Some((name, value)) = up::auth_header(call.provider, d.api_key.as_deref()) {
        headers.push((name, value));
    }
    for (name, value) in up::provider_headers(call.provider) {
        headers.push((name, (*value).to_string()));
    }
    if let Some(token) = bearer {
        headers.push(("authorization", format!("Bearer {token}")));
    }
    let mut signed = Vec::new();
    if call.provider == Provider::Bedrock {
        // SigV4 over exactly what goes on the wire: these headers, this path, these bytes.
        let scheme = if target.tls { "https" } else { "http" };
        let url = format!("{scheme}://{}{path}", target.authority);
        let (creds, region) = aws_identity(d)?;
        let as_sent: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        signed = sigv4::sign("POST", &url, &as_sent, &call.body, &creds, &region, "bedrock", SystemTime::now())
            .map_err(|e| Error::Internal(format!("signing the Bedrock request: {e}")))?;
    }
    let build = || -> pingora_error::Result<RequestHeader> {
        let mut req = RequestHeader::build("POST", path.as_bytes(), Some(headers.len() + signed.len()))?;
        for (name, value) in &headers {
            req.insert_header(*name, value.as_str())?;
        }
        for (name, value) in &signed {
            req.insert_header(name.clone(), value.as_str())?;
        }
        Ok(req)
    };
    build().map_err(|e| Error::Internal(format!("building the provider request: {e}")))
}

/// A Vertex AI access token for the deployment's service account: the cached one, else a fresh one
/// from the key's token endpoint (a JWT assertion signed with its private key), cached until shortly
/// before it expires.
async fn vertex_token(
    gw: &Gateway,
    snapshot: &crate::reload::Snapshot,
    d: &Deployment,
    deadline: Instant,
) -> Result<String, Error> {
    let Some(auth) = snapshot.vertex.get(&d.id) else {
        return Err(Error::Internal(format!("deployment {} has no Vertex AI credentials", d.id)));
    };
    if let Some(token) = auth.cached_token(Instant::now()) {
        return Ok(token);
    }
    let now_unix = SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|t| t.as_secs()).unwrap_or_default();
    let failed = |e: String| up::transport_error(&d.id, format!("Vertex AI token: {e}"));
    let (uri, form) = auth.token_request(now_unix).map_err(failed)?;
    let target = up::Target::parse(&uri).map_err(failed)?;
    let addr = gw.resolver.resolve(&target.host, target.port, Instant::now()).await.map_err(failed)?;
    let peer = up::peer(&target, addr);
    let exchange = async {
        let (mut client, _) = gw.connector.get_http_session(&peer).await.map_err(|e| e.to_string())?;
        let path = if target.base_path.is_empty() { "/" } else { target.base_path.as_str() };
        let mut req = RequestHeader::build("POST", path.as_bytes(), Some(4)).map_err(|e| e.to_string())?;
        for (name, value) in [
            ("host", target.authority.clone()),
            ("content-type", "application/x-www-form-urlencoded".to_string()),
            ("content-length", form.len().to_string()),
        ] {
            req.insert_header(name, value).map_err(|e| e.to_string())?;
        }
        client.write_request_header(Box::new(req)).await.map_err(|e| e.to_string())?;
        client.write_request_body(Bytes::from(form), true).await.map_err(|e| e.to_string())?;
        client.finish_request_body().await.map_err(|e| e.to_string())?;
        client.read_response_header().await.map_err(|e| e.to_string())?;
        let mut body = Vec::new();
        while let Some(chunk) = client.read_response_body().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_ERROR_BYTES {
                return Err("the token endpoint's answer is too large".to_string());
            }
            body.extend_from_slice(&chunk);
        }
        release(gw, client, &peer).await;
        Ok::<_, String>(body)
    };
    let body = timeout_at(deadline.into(), exchange)
        .await
        .map_err(|_| failed("the token endpoint did not answer in time".into()))?
        .map_err(failed)?;
    let (token, expires_in) = crate::upstream::vertex::VertexAuth::parse_token_response(&body).map_err(failed)?;
    auth.store_token(token.clone(), expires_in, Instant::now());
    Ok(token)
}

/// A Bedrock deployment's AWS credentials and region (a config without them cannot be signed).
fn aws_identity(d: &Deployment) -> Result<(sigv4::AwsCredentials, String), Error> {
    let c = &d.cloud;
    let (Some(key), Some(secret)) = (&c.aws_access_key_id, &c.aws_secret_access_key) else {
        return Err(Error::BadRequest {
            message: format!("deployment {} has no AWS credentials (aws_access_key_id, aws_secret_access_key)", d.id),
            param: None,
        });
    };
    let region = c.aws_region_name.clone().unwrap_or_else(|| "us-west-2".to_string());
    let creds = sigv4::AwsCredentials {
        access_key_id: key.clone(),
        secret_access_key: secret.clone(),
        session_token: c.aws_session_token.clone(),
    };
    Ok((creds, region))
}

/// Reads the rest of a response body, bounded in size and time.
async fn read_all(
    client: &mut ClientSession,
    deadline: Instant,
    limit: usize,
    id: &str,
    timeout: Duration,
) -> Result<Bytes, Error> {
    let mut parts: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    loop {
        let chunk = match timeout_at(deadline.into(), client.read_response_body()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(up::transport_error(id, e)),
            Err(_) => return Err(Error::UpstreamTimeout(timeout.as_secs_f64(), id.to_string())),
        };
        let Some(chunk) = chunk else { break };
        len += chunk.len();
        if len > limit {
            return Err(up::transport_error(id, format!("answer larger than {limit} bytes")));
        }
        parts.push(chunk);
    }
    // One part (the common case) is passed on without a copy.
    Ok(match parts.len() {
        0 => Bytes::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => Bytes::from(parts.concat()),
    })
}

/// Returns a finished connection to the pool for the next call.
async fn release(gw: &Gateway, mut client: ClientSession, peer: &HttpPeer) {
    if client.response_done() {
        gw.connector.release_http_session(client, peer, up::idle_timeout()).await;
    }
}

/// An answer's `id` and `created`, made here (the translators take them as arguments).
fn answer_identity() -> (String, u64) {
    let created =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    (format!("chatcmpl-{}", uuid::Uuid::new_v4()), created)
}

/// A stream that broke after its first byte: the provider's own error event keeps its status and
/// message; anything else is a transport failure.
fn stream_error(id: &str, e: TranslateError) -> Error {
    match e {
        TranslateError::ProviderStreamError { status, message } => {
            let code = status.to_string();
            let body = tollgate_filters::openai::error_body(&message, "api_error", None, Some(&code));
            Error::UpstreamStatus { status, body: Bytes::from(body), retry_after: None }
        }
        other => up::transport_error(id, other),
    }
}

/// Answers from the deployment's `mock_response` without calling a provider, as LiteLLM does.
pub async fn answer_mock(
    session: &mut Session,
    ctx: &mut RequestCtx,
    endpoint: Endpoint,
    view: &RequestView<'_>,
    d: &Deployment,
    text: &str,
    stream: bool,
) -> Result<(), Failure> {
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4());
    let created =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let meta = mock::MockMeta { id: &id, created, model: &d.model_name };
    charge(ctx, d, Some(mock::USAGE));
    let body = match endpoint {
        Endpoint::ChatCompletions if stream => {
            let body = Bytes::from(mock::chat_stream(&meta, text, view.include_usage()));
            let mut h = response::header(200, ctx, "text/event-stream").map_err(Failure::Downstream)?;
            h.insert_header("content-length", body.len().to_string()).map_err(Failure::Downstream)?;
            ctx.status = 200;
            ctx.response_started = true;
            session.write_response_header(Box::new(h), false).await.map_err(Failure::Downstream)?;
            return session.write_response_body(Some(body), true).await.map_err(Failure::Downstream);
        }
        Endpoint::ChatCompletions => mock::chat_completion(&meta, text),
        Endpoint::Completions => mock::text_completion(&meta, text),
        Endpoint::Embeddings => {
            let inputs = view
                .get("input")
                .and_then(|i| serde_json::from_str::<serde_json::Value>(i.get()).ok())
                .map(|i| i.as_array().map_or(1, |a| a.len().max(1)))
                .unwrap_or(1);
            mock::embeddings(&d.upstream_model, inputs, 8)
        }
    };
    response::json(session, ctx, 200, Bytes::from(body)).await.map_err(Failure::Downstream)
}
