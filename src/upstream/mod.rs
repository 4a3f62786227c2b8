//! The router chooses, upstream connects: where a deployment lives (scheme, host, port, path), its
//! provider's URL layout and auth header, and an asynchronous DNS cache.
//!
//! `HttpPeer::new` with a host name does a blocking lookup that can panic (design.md), so names are
//! resolved here with tokio and the peer gets an address, SNI and a Host header.

pub mod sigv4;
pub mod vertex;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pingora_core::protocols::ALPN;
use pingora_core::upstreams::peer::HttpPeer;
use tollgate_filters::{AuthStyle, Endpoint, Provider};

use crate::config::Deployment;
use crate::error::Error;

/// How long a resolved address is reused before asking DNS again.
const DNS_TTL: Duration = Duration::from_secs(30);
/// Connect timeout for a provider (TCP + TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle upstream connection stays in the pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A deployment's `api_base`, parsed once when the config is loaded.
#[derive(Debug, Clone)]
pub struct Target {
    /// `https`?
    pub tls: bool,
    /// Host name or address literal, as written (used for SNI and Host).
    pub host: String,
    /// Port (default 443 / 80).
    pub port: u16,
    /// The path of `api_base` without a trailing slash, e.g. `/v1`.
    pub base_path: String,
    /// The `Host` header value (`host` or `host:port`).
    pub authority: String,
}

impl Target {
    /// Parses an `api_base` such as `https://api.openai.com/v1`.
    pub fn parse(api_base: &str) -> Result<Target, String> {
        let uri: http::Uri = api_base.parse().map_err(|e| format!("invalid URL {api_base:?}: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => return Err(format!("unsupported scheme {other:?} in {api_base:?}")),
            None => return Err(format!("{api_base:?} has no scheme (http:// or https://)")),
        };
        let Some(host) = uri.host() else {
            return Err(format!("{api_base:?} has no host"));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or_else(|| host.clone());
        let base_path = uri.path().trim_end_matches('/').to_string();
        Ok(Target { tls, host, port, base_path, authority })
    }
}

/// The provider path (with query) for one call, following the provider's URL layout. `vertex_key_project`
/// is the `project_id` of a Vertex AI deployment's service-account key.
pub fn request_path(
    target: &Target,
    deployment: &Deployment,
    provider: Provider,
    endpoint: Endpoint,
    stream: bool,
    vertex_key_project: Option<&str>,
) -> String {
    let base = target.base_path.as_str();
    let model = deployment.upstream_model.as_str();
    match provider {
        Provider::Azure => {
            let version = deployment.api_version.as_deref().unwrap_or("2024-10-21");
            format!("{base}/openai/deployments/{model}{}?api-version={version}", endpoint.path())
        }
        // Ollama's OpenAI-compatible API lives under /v1; LiteLLM users write the bare host.
        Provider::Ollama | Provider::OllamaChat if !base.ends_with("/v1") => format!("{base}/v1{}", endpoint.path()),
        // LiteLLM's default api_base for Anthropic is the full messages URL; a bare host gets the path.
        Provider::Anthropic if base.ends_with("/v1/messages") => base.to_string(),
        Provider::Anthropic => format!("{base}/v1/messages"),
        Provider::Gemini => format!("{base}/v1beta/models/{model}:{}", google_method(endpoint, stream)),
        Provider::VertexAi => {
            // LiteLLM falls back to the service-account key's own project.
            let project = deployment.cloud.vertex_project.as_deref().or(vertex_key_project).unwrap_or_default();
            let location = deployment.cloud.vertex_location.as_deref().unwrap_or(DEFAULT_VERTEX_LOCATION);
            let method = match endpoint {
                Endpoint::Embeddings => "predict",
                _ => google_method(endpoint, stream),
            };
            format!("{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}")
        }
        Provider::Bedrock => {
            let id = percent_encode_path(model);
            match (endpoint, stream) {
                (Endpoint::Embeddings, _) => format!("{base}/model/{id}/invoke"),
                (_, true) => format!("{base}/model/{id}/converse-stream"),
                (_, false) => format!("{base}/model/{id}/converse"),
            }
        }
        Provider::Cohere => match endpoint {
            Endpoint::Embeddings => format!("{base}/v2/embed"),
            _ => format!("{base}/v2/chat"),
        },
        _ => format!("{base}{}", endpoint.path()),
    }
}

/// Vertex AI's region when neither `vertex_location` nor `VERTEXAI_LOCATION` names one (LiteLLM's default).
pub const DEFAULT_VERTEX_LOCATION: &str = "us-central1";

/// Gemini's method for an endpoint: `generateContent`, `streamGenerateContent?alt=sse` (SSE, not a JSON
/// array) or `batchEmbedContents`.
fn google_method(endpoint: Endpoint, stream: bool) -> &'static str {
    match (endpoint, stream) {
        (Endpoint::Embeddings, _) => "batchEmbedContents",
        (_, true) => "streamGenerateContent?alt=sse",
        (_, false) => "generateContent",
    }
}

/// Percent-encodes a path segment (Bedrock model ids carry `:` and ARNs carry `/`).
fn percent_encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 8);
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Headers a provider needs besides its key (Anthropic's API version).
pub fn provider_headers(provider: Provider) -> &'static [(&'static str, &'static str)] {
    match provider {
        Provider::Anthropic => &[("anthropic-version", "2023-06-01")],
        _ => &[],
    }
}

/// The auth header for a deployment's provider key, if one is configured.
pub fn auth_header(provider: Provider, api_key: Option<&str>) -> Option<(&'static str, String)> {
    let key = api_key?;
    match provider.auth() {
        AuthStyle::Bearer => Some(("authorization", format!("Bearer {key}"))),
        AuthStyle::Header(name) => Some((name, key.to_string())),
        // Signed per request by the translated-provider path (a later issue); never sent raw.
        AuthStyle::SigV4 => None,
    }
}

/// Resolves host names without blocking a Pingora worker, with a small TTL cache.
#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl Resolver {
    /// An address for `host:port`: a literal at once, a cached name, or a fresh async lookup.
    pub async fn resolve(&self, host: &str, port: u16, now: Instant) -> Result<SocketAddr, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let key = (host.to_string(), port);
        if let Some(addr) = self.cached(&key, now) {
            return Ok(addr);
        }
        let mut addrs =
            tokio::net::lookup_host((host, port)).await.map_err(|e| format!("cannot resolve {host}: {e}"))?;
        let Some(addr) = addrs.next() else {
            return Err(format!("{host} resolved to no address"));
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (addr, now + DNS_TTL));
        }
        Ok(addr)
    }

    fn cached(&self, key: &(String, u16), now: Instant) -> Option<SocketAddr> {
        let cache = self.cache.lock().ok()?;
        let (addr, expires) = cache.get(key)?;
        (*expires > now).then_some(*addr)
    }
}

/// A Pingora peer for a resolved target: SNI and ALPN (h2 offered over TLS), pooled connections.
pub fn peer(target: &Target, addr: SocketAddr) -> HttpPeer {
    let mut peer = HttpPeer::new(addr, target.tls, target.host.clone());
    peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
    peer.options.total_connection_timeout = Some(CONNECT_TIMEOUT);
    peer.options.idle_timeout = Some(IDLE_TIMEOUT);
    if target.tls {
        peer.options.alpn = ALPN::H2H1;
        // Pingora's default of one stream per h2 connection would serialize concurrent calls.
        peer.options.max_h2_streams = 100;
    }
    peer
}

/// The pool idle timeout handed back with a released connection.
pub fn idle_timeout() -> Option<Duration> {
    Some(IDLE_TIMEOUT)
}

/// Maps a connect or transport failure of a deployment to the client's error.
pub fn transport_error(deployment: &str, reason: impl std::fmt::Display) -> Error {
    Error::UpstreamTransport { deployment: deployment.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_api_base_with_port_and_path() -> Result<(), String> {
        let t = Target::parse("http://127.0.0.1:8080/v1/")?;
        assert!(!t.tls);
        assert_eq!((t.host.as_str(), t.port, t.base_path.as_str()), ("127.0.0.1", 8080, "/v1"));
        assert_eq!(t.authority, "127.0.0.1:8080");
        let t = Target::parse("https://api.openai.com/v1")?;
        assert!(t.tls);
        assert_eq!((t.port, t.authority.as_str()), (443, "api.openai.com"));
        Ok(())
    }

    #[test]
    fn refuses_api_base_without_scheme() {
        assert!(Target::parse("api.openai.com/v1").is_err());
        assert!(Target::parse("ftp://x/v1").is_err());
    }
}
