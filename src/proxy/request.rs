//! request_filter: route, authenticate, answer admin routes, read and parse the body once, pick a
//! deployment and call it. Every LLM call is answered from here (see proxy/mod.rs for why).

use bytes::{Bytes, BytesMut};
use pingora_proxy::Session;
use subtle::ConstantTimeEq;
use tollgate_filters::openai::RequestView;
use tollgate_filters::Endpoint;

use super::ctx::RequestCtx;
use super::{response, upstream, Gateway};
use crate::admin;
use crate::config::ProviderChoice;
use crate::error::Error;

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
        matches!(self, Route::Liveliness | Route::Readiness)
    }
}

/// Handles one request completely. `Err` means the client's connection broke; answers to bad requests
/// are written here and return `Ok`.
pub async fn handle(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> pingora_error::Result<()> {
    match serve(gw, session, ctx).await {
        Ok(()) => Ok(()),
        Err(Failure::Answer(e)) => response::error(session, ctx, &e).await,
        Err(Failure::Downstream(e)) => Err(e),
    }
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
        authenticate(session, ctx)?;
    }
    let snapshot = ctx.snapshot.clone();
    let created = gw.live.created;
    let body = match route {
        Route::Llm(endpoint) => return call(gw, session, ctx, endpoint).await,
        Route::Liveliness => Bytes::from_static(admin::LIVELINESS_BODY),
        Route::Readiness => admin::readiness_body(&snapshot),
        Route::Health => admin::health_body(&snapshot),
        Route::Models => snapshot.models_body.clone(),
        Route::ModelInfo => admin::model_info_body(&snapshot.config),
        Route::Model(id) => admin::model_body(&snapshot.config, &id, created).ok_or_else(|| Error::BadRequest {
            message: format!("The model `{id}` does not exist"),
            param: Some("model"),
        })?,
    };
    response::json(session, ctx, 200, body).await.map_err(Failure::Downstream)
}

/// Checks the master key from `Authorization: Bearer`, `x-api-key` or `api-key`, in constant time.
fn authenticate(session: &Session, ctx: &RequestCtx) -> Result<(), Error> {
    let Some(master) = ctx.snapshot.master_key.as_deref() else {
        return Ok(());
    };
    let req = session.req_header();
    let presented = req
        .headers
        .get("authorization")
        .map(|v| {
            let v = v.as_bytes();
            match v.get(..7) {
                Some(p) if p.eq_ignore_ascii_case(b"bearer ") => v.get(7..).unwrap_or_default(),
                _ => v,
            }
        })
        .or_else(|| req.headers.get("x-api-key").map(|v| v.as_bytes()))
        .or_else(|| req.headers.get("api-key").map(|v| v.as_bytes()));
    let Some(presented) = presented else {
        return Err(Error::Unauthorized("No api key passed in.".into()));
    };
    if bool::from(presented.trim_ascii().ct_eq(master)) {
        Ok(())
    } else {
        Err(Error::Unauthorized("Invalid proxy server token passed. Received API Key = sk-...".into()))
    }
}

/// Reads the whole request body, refusing more than `max` bytes (early, from Content-Length, if it says so).
async fn read_body(session: &mut Session, max: usize) -> Result<Bytes, Failure> {
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

/// An LLM call: body, model, deployment, then the provider (or the deployment's mock answer).
async fn call(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx, endpoint: Endpoint) -> Result<(), Failure> {
    let snapshot = ctx.snapshot.clone();
    let body = read_body(session, snapshot.config.general.max_request_size_bytes).await?;
    let view = RequestView::parse(&body).map_err(Error::from)?;
    let model = view.model().map_err(Error::from)?;
    let stream = view.stream().map_err(Error::from)?;
    let Some(group) = snapshot.config.group(model) else {
        return Err(Error::UnknownModel(model.to_string()).into());
    };
    ctx.model_group = Some(group.name.clone());
    let deployment = crate::router::pick(group, rand::random::<f64>())?;
    ctx.deployment_id = Some(deployment.id.clone());
    if let Some(mock) = &deployment.mock_response {
        return upstream::answer_mock(session, ctx, endpoint, &view, deployment, mock, stream).await;
    }
    let ProviderChoice::Served(provider) = deployment.provider else {
        return Err(Error::Internal("router picked an unserved deployment".into()).into());
    };
    let translated = tollgate_filters::translate_request(provider, endpoint, &view, &deployment.upstream_model)
        .map_err(Error::from)?;
    drop(view);
    let call = upstream::Call { deployment, provider, endpoint, body: Bytes::from(translated), stream };
    upstream::forward(gw, session, ctx, call).await
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
