//! request_filter: route, authenticate, answer admin routes, read and parse the body once, pick a
//! deployment and call it. Every LLM call is answered from here (see proxy/mod.rs for why).

use bytes::{Bytes, BytesMut};
use pingora_proxy::Session;
use tollgate_filters::openai::RequestView;
use tollgate_filters::{Endpoint, RequestOptions, Translation};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::access::{self, Caller};
use super::ctx::{Attempt, RequestCtx};
use super::retry::{self, Next};
use super::{response, upstream, Gateway};
use crate::admin;
use crate::config::ProviderChoice;
use crate::config::RouterSettings;
use crate::error::Error;
use crate::router::{FailureKind, NoDeployment};

/// What a request asks for, from its method and path (with or without the `/v1` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// An LLM call.
    Llm(Endpoint),
    /// `GET /v1/models`.
    Models,
    /// `GET /v1/models/{id}`.
    Model(String),
    /// `GET /model/info`.
    ModelInfo,
    /// `GET /health/liveliness`, `/health/liveness`: no auth.
    Liveliness,
    /// `GET /health/readiness`: no auth.
    Readiness,
    /// `GET /health`.
    Health,
    /// `GET /metrics`: Prometheus text, no auth (LiteLLM's default).
    Metrics,
    /// LiteLLM's admin API (`/key/*`, `/team/*`, `/user/*`, `/customer/*`): the path without `/v1`;
    /// methods are checked by [`crate::keys::Keys::admin`].
    Admin(String),
}

impl Route {
    /// Matches a method and path; the error is the 404 or 405 the client gets.
    pub fn parse(method: &str, path: &str) -> Result<Route, Error> {
        let p = path.strip_prefix("/v1").filter(|p| p.starts_with('/')).unwrap_or(path);
        let p = if p.len() > 1 { p.trim_end_matches('/') } else { p };
        let (want, route) = match p {
            "/chat/completions" => ("POST", Route::Llm(Endpoint::ChatCompletions)),
            "/completions" => ("POST", Route::Llm(Endpoint::Completions)),
            "/embeddings" => ("POST", Route::Llm(Endpoint::Embeddings)),
            "/models" => ("GET", Route::Models),
            "/model/info" => ("GET", Route::ModelInfo),
            "/health/liveliness" | "/health/liveness" => ("GET", Route::Liveliness),
            "/health/readiness" => ("GET", Route::Readiness),
            "/health" => ("GET", Route::Health),
            "/metrics" => ("GET", Route::Metrics),
            _ if crate::keys::is_admin_path(p) => return Ok(Route::Admin(p.to_string())),
            _ => match p.strip_prefix("/models/") {
                Some(id) if !id.is_empty() => ("GET", Route::Model(id.to_string())),
                _ => return Err(Error::RouteNotFound(path.to_string())),
            },
        };
        // HEAD is a GET without a body for the health probes of load balancers.
        if method == want || (want == "GET" && method == "HEAD") {
            Ok(route)
        } else {
            Err(Error::MethodNotAllowed { method: method.to_string(), path: path.to_string() })
        }
    }

    /// Routes a load balancer or orchestrator probes without a key.
    fn is_public(&self) -> bool {
        matches!(self, Route::Liveliness | Route::Readiness | Route::Metrics)
    }
}

/// How long a client connection may idle between requests, and how long a client has to send a body or
/// to take what is written to it (a slowloris that trickles a byte every few seconds is cut at the deadline).
#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    /// Whole request body, and each write to the client.
    pub body: std::time::Duration,
}

/// Per request, once its head is read: reads and writes of the client connection are bounded. (The idle
/// keep-alive wait, the head's deadline and pipelined requests are the front door's: src/front.rs.)
pub fn connection_rules(timeouts: &ClientTimeouts, session: &mut Session) {
    session.set_write_timeout(Some(timeouts.body));
    session.set_read_timeout(Some(timeouts.body));
}

/// Handles one request completely. `Err` means the client's connection broke; answers to bad requests
/// are written here and return `Ok`.
pub async fn handle(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> pingora_error::Result<()> {
    if let Some(id) = client_call_id(session) {
        ctx.call_id = id;
    }
    match serve(gw, session, ctx).await {
        Ok(()) => Ok(()),
        Err(Failure::Answer(e)) => response::error(session, ctx, &e).await,
        Err(Failure::Downstream(e)) => Err(e),
    }
}

/// A client's own `x-litellm-call-id`, used as the call's id and echoed on every answer (LiteLLM does
/// this; clients join their logs with it): up to 256 visible ASCII characters, else a fresh id is made.
fn client_call_id(session: &Session) -> Option<String> {
    let value = session.req_header().headers.get("x-litellm-call-id")?;
    let bytes = value.as_bytes();
    let visible = !bytes.is_empty() && bytes.len() <= 256 && bytes.iter().all(|b| b.is_ascii_graphic());
    visible.then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// Why serving stopped early.
pub enum Failure {
    /// Tell the client this error.
    Answer(Error),
    /// The client's side broke: nothing more can be written.
    Downstream(Box<pingora_error::Error>),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Answer(e)
    }
}

async fn serve(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<(), Failure> {
    let req = session.req_header();
    let route = Route::parse(req.method.as_str(), req.uri.path())?;
    if !route.is_public() {
        ctx.caller = Some(access::authenticate(gw, session, ctx, access::now_unix()).await?);
    }
    let snapshot = ctx.snapshot.clone();
    let created = gw.live.created;
    // A key sees only the groups it may call, on every route that lists them (LiteLLM's filtering by key).
    let principal = ctx.caller.as_ref().and_then(Caller::principal).cloned();
    let allowed = |group: &str| principal.as_deref().is_none_or(|p| access::may_use(p, group).is_ok());
    let body = match route {
        Route::Llm(endpoint) => return call(gw, session, ctx, endpoint).await,
        Route::Liveliness => Bytes::from_static(admin::LIVELINESS_BODY),
        Route::Readiness => admin::readiness_body(&snapshot, gw.backends()),
        Route::Health => {
            // The last background round when background checks run (and one has), else a round now.
            let last = snapshot.config.general.background_health_checks.then(|| gw.live.health.load_full()).flatten();
            let report = match last {
                Some(report) => report,
                None => std::sync::Arc::new(Box::pin(super::health::check(gw, &snapshot, &allowed)).await),
            };
            admin::health_report_body(&snapshot, &report, gw.backends(), &allowed)
        }
        Route::Metrics => {
            let limits = gw.limits.metrics();
            let body = crate::metrics::render(&gw.live, Instant::now(), gw.backends(), &limits, &gw.keys.miss_counters);
            return response::body_of(session, ctx, 200, "text/plain; version=0.0.4", body)
                .await
                .map_err(Failure::Downstream);
        }
        Route::Admin(path) => return admin_call(gw, session, ctx, &path).await,
        Route::Models => match principal {
            Some(_) => admin::models_body_where(&snapshot.config, created, allowed),
            None => snapshot.models_body.clone(),
        },
        Route::ModelInfo => admin::model_info_body(&snapshot.config, &allowed),
        Route::Model(id) => {
            admin::model_body(&snapshot.config, &id, created).filter(|_| allowed(&id)).ok_or_else(|| {
                Error::BadRequest { message: format!("The model `{id}` does not exist"), param: Some("model") }
            })?
        }
    };
    response::json(session, ctx, 200, body).await.map_err(Failure::Downstream)
}

/// Admin bodies are small JSON documents.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// One call of LiteLLM's admin API, answered by the keys store.
async fn admin_call(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx, path: &str) -> Result<(), Failure> {
    let body = read_body(gw, session, MAX_ADMIN_BODY).await?;
    let caller = match ctx.caller.clone() {
        Some(Caller::Key(p)) => crate::keys::Caller::Key(p),
        // An open gateway (no master key) has no admin to tell apart: as in LiteLLM, anyone is one.
        _ => crate::keys::Caller::Master,
    };
    let req = session.req_header();
    let method = req.method.as_str().to_owned();
    let query = req.uri.query().map(str::to_owned);
    // Boxed: the store's futures are large, and inlined they would grow every request's future.
    let answer = Box::pin(gw.keys.admin(crate::keys::AdminRequest {
        method: &method,
        path,
        query: query.as_deref(),
        body: &body,
        caller,
        now_unix: access::now_unix(),
    }))
    .await
    .map_err(|e| Error::Admin { status: e.status, kind: e.kind, message: e.message, param: e.param })?;
    response::json(session, ctx, answer.status, answer.body).await.map_err(Failure::Downstream)
}

/// Reads the whole request body within the client timeout (408 after it), refusing more than `max` bytes
/// (early, from Content-Length, if it says so).
async fn read_body(gw: &Gateway, session: &mut Session, max: usize) -> Result<Bytes, Failure> {
    let limit = gw.client.body;
    match tokio::time::timeout(limit, read_body_unbounded(session, max)).await {
        Ok(read) => read,
        Err(_) => Err(Error::ClientTimeout(limit.as_secs()).into()),
    }
}

async fn read_body_unbounded(session: &mut Session, max: usize) -> Result<Bytes, Failure> {
    let announced = session
        .req_header()
        .headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(len) = announced.filter(|len| *len > max) {
        return Err(Error::PayloadTooLarge { size: len, max }.into());
    }
    let mut buf = BytesMut::with_capacity(announced.unwrap_or(16 * 1024).min(max));
    loop {
        let chunk = session.read_request_body().await.map_err(|e| Error::ClientBody(e.to_string()))?;
        let Some(chunk) = chunk else { break };
        if buf.len() + chunk.len() > max {
            return Err(Error::PayloadTooLarge { size: buf.len() + chunk.len(), max }.into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// An LLM call: body, model, then attempts over the group's deployments (retries) and its fallback
/// groups, until one answers, a failure no other attempt can fix, or the plan is spent.
async fn call(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx, endpoint: Endpoint) -> Result<(), Failure> {
    let snapshot = ctx.snapshot.clone();
    let config = &snapshot.config;
    let settings = &config.router;
    let body = read_body(gw, session, config.general.max_request_size_bytes).await?;
    let view = RequestView::parse(&body).map_err(Error::from)?;
    let requested = view.model().map_err(Error::from)?;
    let stream = view.stream().map_err(Error::from)?;
    let caller = ctx.caller.clone().unwrap_or(Caller::Open);
    let model = access::alias(&caller, requested);
    // The group of that name, else the wildcard group (`*`, `anthropic/*`) that matches it.
    let Some((first, wildcard)) = config.resolve(model) else {
        return Err(Error::UnknownModel(model.to_string()).into());
    };
    let principal = caller.principal();
    if let Some(p) = principal {
        // LiteLLM checks the requested name, also when a wildcard serves it.
        access::may_use(p, if wildcard.is_some() { model } else { &first.name })?;
    }
    let routing = BodyRouting::read(&view)?;
    if let Some(p) = principal {
        // LiteLLM checks a body's fallbacks against the key like the model itself.
        for group in routing.fallbacks.iter().flatten().chain(routing.context_window.iter().map(|(_, g)| g)) {
            access::may_use(p, group)?;
        }
    }
    // A key never reaches a model it may not use, not even through a fallback.
    let allowed = |group: &String| principal.is_none_or(|p| access::may_use(p, group).is_ok());
    // The requested group, then its fallbacks (the body's, else the config's or default_fallbacks): the
    // requested group's lists only, as in LiteLLM (a fallback's own fallbacks are not chained).
    let mut plan: VecDeque<&str> = VecDeque::from([first.name.as_str()]);
    let fallbacks = routing.fallbacks.as_deref().unwrap_or_else(|| settings.fallbacks_for(&first.name));
    plan.extend(fallbacks.iter().filter(|g| allowed(g)).map(String::as_str));
    ctx.end_user = view.get("user").and_then(|u| serde_json::from_str::<String>(u.get()).ok());
    // A wildcard's calls are named after the model they served, as LiteLLM names them.
    let first_name = if wildcard.is_some() { model.to_string() } else { first.name.clone() };
    ctx.model_group = Some(first_name.clone());
    if caller.principal().is_some() || ctx.end_user.is_some() {
        let served = wildcard.as_deref().map(|caps| (model, caps));
        Box::pin(reserve(gw, ctx, &caller, &view, &plan, (&first.name, served))).await?;
    }
    let mut last_error: Option<Error> = None;
    let mut groups_tried = 0usize;
    while let Some(group_name) = plan.pop_front() {
        let Some(group) = config.group(group_name) else { continue };
        if groups_tried > 0 {
            if groups_tried > settings.max_fallbacks {
                break;
            }
            ctx.attempted_fallbacks += 1;
        }
        groups_tried += 1;
        ctx.model_group = Some(if groups_tried == 1 { first_name.clone() } else { group.name.clone() });
        let order = match snapshot.router.try_order(group, Instant::now(), rand::random::<u64>(), stream) {
            // A wildcard group serves the requested model: its deployments with the match in place.
            Ok(order) => match (&wildcard, groups_tried) {
                (Some(caps), 1) => order.iter().map(|d| Arc::new(d.for_request(model, caps))).collect(),
                _ => order,
            },
            Err(NoDeployment::Unsupported { provider }) => {
                last_error = Some(Error::ProviderNotServed { provider, model: group.name.clone() });
                continue;
            }
            Err(e) => {
                last_error = Some(Error::NoDeployment { model: group.name.clone(), reason: e.to_string() });
                continue;
            }
        };
        let retries = routing.num_retries.or(order.first().and_then(|d| d.max_retries)).or(settings.num_retries);
        let retries = retries.unwrap_or(RouterSettings::DEFAULT_NUM_RETRIES);
        let mut special: Option<&[String]> = None;
        for attempt in 0..=retries {
            let Some(deployment) = order.get(attempt as usize % order.len()) else { break };
            ctx.deployment_id = Some(deployment.id.clone());
            ctx.attempt = Attempt::new(ctx.attempted_retries + ctx.attempted_fallbacks, Instant::now());
            if let Some(mock) = &deployment.mock_response {
                return upstream::answer_mock(session, ctx, endpoint, &view, deployment, mock, stream).await;
            }
            let ProviderChoice::Served(provider) = deployment.provider else { continue };
            let opts = RequestOptions { drop_params: deployment.drop_params || config.litellm.drop_params };
            let translated =
                tollgate_filters::translate_request(provider, endpoint, &view, &deployment.upstream_model, &opts)
                    .map_err(Error::from)?;
            let include_usage = stream && view.include_usage();
            // Translators answer embeddings as floats; base64 (the SDK's default) is encoded once, here.
            let base64_embeddings = endpoint == Endpoint::Embeddings
                && provider.translation() == Translation::Translated
                && tollgate_filters::openai::embeddings::wants_base64(&view);
            let body = Bytes::from(translated);
            let call = upstream::Call {
                deployment,
                provider,
                endpoint,
                body,
                stream,
                include_usage,
                base64_embeddings,
                timeout: routing.timeout,
            };
            // Counted against the deployment's rpm atomically with the check: at the limit, skip it.
            let Some(in_flight) = snapshot.router.try_begin(&deployment.id, Instant::now()) else {
                last_error = Some(Error::NoDeployment {
                    model: group.name.clone(),
                    reason: format!("deployment {} is at its rpm limit", deployment.id),
                });
                continue;
            };
            let counted_in_redis = (deployment.rpm.is_some() || deployment.tpm.is_some())
                && gw.limits.state() != crate::spend::BackendState::Memory;
            if counted_in_redis {
                // Boxed: inlined, its state would grow this future, moved on every call.
                if let Err(reason) = Box::pin(reserve_deployment(gw, ctx, deployment)).await {
                    last_error = Some(Error::NoDeployment { model: group.name.clone(), reason });
                    continue;
                }
            }
            let result = upstream::forward(gw, session, ctx, call).await;
            drop(in_flight);
            if result.is_err() {
                access::settle_deployment(gw, ctx); // a failed attempt counts as a request, with no tokens
            }
            let e = match result {
                Ok(()) => return Ok(()),
                Err(Failure::Answer(e)) => e,
                Err(downstream) => return Err(downstream),
            };
            let next = retry::classify(&e);
            let provider_retry_after = retry::retry_after_of(&e);
            let kind = match next {
                Next::Retry(kind) => kind,
                Next::ContextWindow => FailureKind::ContextWindow,
                Next::ContentPolicy => FailureKind::ContentPolicy,
                Next::Answer => return Err(e.into()),
            };
            let detail = e.label();
            // A bare `*` serves whatever provider a client names: one failing provider must not cool the
            // route down for every other (its passive stats are the route's, not a model's).
            if !deployment.provider_from_request {
                snapshot.router.record_failure_with(&deployment.id, kind, provider_retry_after, detail, Instant::now());
            }
            if kind.counts() {
                ctx.provider_failures.push((deployment.id.clone(), e.to_string()));
            }
            if ctx.response_started {
                return Err(e.into()); // a byte has gone to the client: no retry can hide this
            }
            last_error = Some(e);
            match next {
                Next::ContextWindow => {
                    // The body's `context_window_fallback_dict` names one group for this one, else the config's.
                    special = Some(match routing.context_window.iter().find(|(g, _)| g == group_name) {
                        Some((_, to)) => std::slice::from_ref(to),
                        None => RouterSettings::special_fallbacks_for(&settings.context_window_fallbacks, group_name),
                    });
                    break;
                }
                Next::ContentPolicy => {
                    special =
                        Some(RouterSettings::special_fallbacks_for(&settings.content_policy_fallbacks, group_name));
                    break;
                }
                _ => {}
            }
            if attempt < retries {
                let other = order.len() > 1;
                let wait = retry::backoff(attempt + 1, other, provider_retry_after, settings.retry_after);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                    ctx.waited += wait; // a deliberate wait, not the gateway's overhead
                }
                ctx.attempted_retries += 1;
            }
        }
        if let Some(list) = special {
            // Context-window and content-policy failures go to their own lists, never to plain fallbacks.
            plan.clear();
            plan.extend(list.iter().filter(|g| allowed(g)).map(String::as_str));
        }
    }
    Err(last_error.unwrap_or_else(|| Error::UnknownModel(model.to_string())).into())
}

/// LiteLLM's per-request router settings read from a body (never sent to a provider: see
/// `tollgate_filters::openai::ROUTING_KEYS`).
#[derive(Debug, Default)]
struct BodyRouting {
    /// `fallbacks`: the groups tried after the requested one, instead of the config's.
    fallbacks: Option<Vec<String>>,
    /// `num_retries`.
    num_retries: Option<u32>,
    /// `timeout`, seconds: each attempt's, over the deployment's.
    timeout: Option<std::time::Duration>,
    /// `context_window_fallback_dict`: group -> the group to try when the prompt is too long for it.
    context_window: Vec<(String, String)>,
}

impl BodyRouting {
    fn read(view: &RequestView<'_>) -> Result<BodyRouting, Error> {
        fn wrong(param: &'static str, expected: &str) -> Error {
            Error::BadRequest { message: format!("`{param}` must be {expected}"), param: Some(param) }
        }
        let parse = |key: &str| view.get(key).filter(|raw| raw.get() != "null").map(|raw| raw.get());
        let mut routing = BodyRouting::default();
        if let Some(raw) = parse("fallbacks") {
            // A list of group names; LiteLLM also takes `{"model": ...}` objects, read by their `model`.
            let items: Vec<serde_json::Value> =
                serde_json::from_str(raw).map_err(|_| wrong("fallbacks", "a list of model names"))?;
            let mut groups = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::String(s) => groups.push(s),
                    serde_json::Value::Object(o) => match o.get("model").and_then(|m| m.as_str()) {
                        Some(m) => groups.push(m.to_owned()),
                        None => return Err(wrong("fallbacks", "a list of model names")),
                    },
                    _ => return Err(wrong("fallbacks", "a list of model names")),
                }
            }
            routing.fallbacks = Some(groups);
        }
        if let Some(raw) = parse("num_retries") {
            routing.num_retries = Some(serde_json::from_str(raw).map_err(|_| wrong("num_retries", "a whole number"))?);
        }
        if let Some(raw) = parse("timeout") {
            let secs: f64 = serde_json::from_str(raw).map_err(|_| wrong("timeout", "a number of seconds"))?;
            if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
                return Err(wrong("timeout", "a positive number of seconds"));
            }
            routing.timeout = Some(std::time::Duration::from_secs_f64(secs));
        }
        if let Some(raw) = parse("context_window_fallback_dict") {
            let map: std::collections::BTreeMap<String, String> = serde_json::from_str(raw)
                .map_err(|_| wrong("context_window_fallback_dict", "an object of model names"))?;
            routing.context_window = map.into_iter().collect();
        }
        Ok(routing)
    }
}

/// Reserves the call's worst case against every budget and limit of the caller's chain (429 when one is
/// spent); the ticket is settled in the logging hook. The worst case is the dearest deployment the call
/// may reach (its group, fallbacks and special fallbacks), with the prompt estimated and `max_tokens` (or
/// `budget_reserve_max_tokens`) of output.
async fn reserve(
    gw: &Gateway,
    ctx: &mut RequestCtx,
    caller: &Caller,
    view: &RequestView<'_>,
    plan: &VecDeque<&str>,
    (first, wildcard): (&str, Option<(&str, &[String])>),
) -> Result<(), Error> {
    let now = access::now_unix();
    let mut r = access::reservation(gw, caller, ctx.end_user.as_deref(), 0.0, now);
    if access::is_empty(&r) {
        return Ok(());
    }
    let snapshot = &ctx.snapshot;
    let config = &snapshot.config;
    let settings = &config.router;
    let prompt = tollgate_filters::usage::estimate_prompt_tokens(view);
    let max_tokens = view.max_tokens();
    let reachable = plan
        .iter()
        .copied()
        .chain(
            RouterSettings::special_fallbacks_for(&settings.context_window_fallbacks, first).iter().map(String::as_str),
        )
        .chain(
            RouterSettings::special_fallbacks_for(&settings.content_policy_fallbacks, first).iter().map(String::as_str),
        );
    let mut amount = 0.0f64;
    for group in reachable.filter_map(|g| config.group(g)) {
        for d in &group.deployments {
            // A wildcard's deployment is priced as the model it will serve.
            let served = match wildcard {
                Some((model, caps)) if group.name == first => crate::reload::prices_of(&d.for_request(model, caps)),
                _ => snapshot.prices.get(&d.id).copied(),
            };
            let Some(prices) = served.as_ref() else { continue };
            let worst = if d.mock_response.is_some() {
                crate::cost::cost_of(prices, &tollgate_filters::mock::USAGE)
            } else {
                crate::cost::worst_case(prices, prompt, max_tokens, config.general.budget_reserve_max_tokens)
            };
            amount = amount.max(worst);
        }
    }
    r.amount = amount;
    // Boxed: a Redis round trip's future is large, and only calls with limits need one.
    let status = config.litellm.budget_exceeded_status_code;
    let ticket = Box::pin(gw.limits.reserve(r, access::now_unix_ms()))
        .await
        .map_err(|refusal| access::refused(refusal, caller, status))?;
    ctx.ticket = Some(ticket);
    Ok(())
}

/// With Redis, a deployment's `rpm`/`tpm` hold across every instance, as LiteLLM's router counts them
/// there (the router's own check above holds them per instance, and is all there is without Redis).
/// Called only for a deployment that sets `rpm` or `tpm`, with Redis configured.
async fn reserve_deployment(gw: &Gateway, ctx: &mut RequestCtx, d: &crate::config::Deployment) -> Result<(), String> {
    let rate = crate::spend::Rate { scope: crate::spend::Scope::Deployment, id: d.id.clone(), rpm: d.rpm, tpm: d.tpm };
    let r = crate::spend::Reservation { rates: vec![rate], ..Default::default() };
    match gw.limits.reserve(r, access::now_unix_ms()).await {
        Ok(ticket) => {
            ctx.deployment_ticket = Some(ticket);
            Ok(())
        }
        Err(refusal) => Err(format!("deployment {} is at its limit across instances ({refusal})", d.id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_and_without_v1() {
        for p in ["/v1/chat/completions", "/chat/completions", "/v1/chat/completions/"] {
            assert_eq!(Route::parse("POST", p).ok(), Some(Route::Llm(Endpoint::ChatCompletions)));
        }
        assert_eq!(Route::parse("GET", "/v1/models/gpt-4o").ok(), Some(Route::Model("gpt-4o".into())));
        assert_eq!(Route::parse("GET", "/health/liveness").ok(), Some(Route::Liveliness));
    }

    #[test]
    fn wrong_method_is_405_and_unknown_path_404() {
        assert_eq!(Route::parse("GET", "/v1/chat/completions").map_err(|e| e.status()).err(), Some(405));
        assert_eq!(Route::parse("POST", "/v1/nothing").map_err(|e| e.status()).err(), Some(404));
    }
}
