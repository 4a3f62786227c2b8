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

/// The provider path (with query) for one call: LiteLLM's rule for the provider (its source, release
/// 1.110; the README's "Provider URLs" table says each). `vertex_key_project` is the `project_id` of a
/// Vertex AI deployment's service-account key.
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
            let version = deployment.api_version.as_deref().unwrap_or("2025-02-01-preview");
            if matches!(version, "v1" | "latest" | "preview") {
                // Azure's v1 API: an OpenAI client on `{api_base}/openai/v1`.
                return format!("{}{}", ensure_route(base, "openai/v1"), endpoint.path());
            }
            if base.contains("/openai/deployments") {
                // The deployment is in api_base already: the SDK's base_url.
                return format!("{base}{}?api-version={version}", endpoint.path());
            }
            format!("{base}/openai/deployments/{model}{}?api-version={version}", endpoint.path())
        }
        // Ollama's OpenAI-compatible API lives under /v1; LiteLLM users write the bare host. (LiteLLM itself
        // calls Ollama's native /api/chat and /api/generate; the answers are the same.)
        Provider::Ollama | Provider::OllamaChat if !base.ends_with("/v1") => format!("{base}/v1{}", endpoint.path()),
        // `ensure_api_route(api_base, "v1/messages")`: a host gets the path, a whole URL stays.
        Provider::Anthropic => ensure_route(base, "v1/messages"),
        // `{api_base}/models/{model}:{method}`: the API version is part of api_base.
        Provider::Gemini => format!("{base}/models/{model}:{}", google_method(endpoint, stream)),
        Provider::VertexAi => {
            // LiteLLM falls back to the service-account key's own project.
            let project = deployment.cloud.vertex_project.as_deref().or(vertex_key_project).unwrap_or_default();
            let location = deployment.cloud.vertex_location.as_deref().unwrap_or(DEFAULT_VERTEX_LOCATION);
            let method = match endpoint {
                Endpoint::Embeddings => "predict",
                _ => google_method(endpoint, stream),
            };
            let resource = format!("projects/{project}/locations/{location}/publishers/google/models/{model}");
            match base {
                // No path: the whole default path.
                "" => format!("/v1/{resource}:{method}"),
                // Only a version: grafted onto the default path, keeping that version.
                "/v1" | "/v1beta1" => format!("{base}/{resource}:{method}"),
                // Any other path is the model's URL as it is (a proxy's own layout).
                _ => format!("{base}:{method}"),
            }
        }
        Provider::Bedrock => {
            let id = percent_encode_path(model);
            match (endpoint, stream) {
                (Endpoint::Embeddings, _) => format!("{base}/model/{id}/invoke"),
                (_, true) => format!("{base}/model/{id}/converse-stream"),
                (_, false) => format!("{base}/model/{id}/converse"),
            }
        }
        // A configured api_base is the whole endpoint URL; the defaults are `/v2/chat` and `/v2/embed`.
        Provider::Cohere if deployment.api_base_given => {
            if base.is_empty() {
                "/".to_string()
            } else {
                base.to_string()
            }
        }
        Provider::Cohere => match endpoint {
            Endpoint::Embeddings => "/v2/embed".to_string(),
            _ => "/v2/chat".to_string(),
        },
        // `ensure_api_route(api_base, "v1")`: a bare host gets /v1.
        Provider::Mistral => format!("{}{}", ensure_route(base, "v1"), endpoint.path()),
        // OpenAI-compatible: `{api_base}/chat/completions`, or api_base itself when it is that URL already.
        _ if endpoint == Endpoint::ChatCompletions && base.contains("chat/completions") => base.to_string(),
        _ => format!("{base}{}", endpoint.path()),
    }
}

/// LiteLLM's `ensure_api_route`: `base` when its path ends with `/{route}` already, else `base/{route}` (no
/// cleverness about a partial overlap: `/v1` + `v1/messages` is `/v1/v1/messages`, as in LiteLLM).
fn ensure_route(base: &str, route: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with(&format!("/{route}")) {
        base.to_string()
    } else {
        format!("{base}/{route}")
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
    use crate::config::ProviderChoice;

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

    /// The URL a deployment of `params` (YAML flow-mapping members after `model`) calls for `endpoint`.
    fn url_of(model: &str, params: &str, endpoint: Endpoint, stream: bool) -> String {
        let yaml = format!("model_list:\n  - model_name: m\n    litellm_params: {{model: {model}{params}}}\n");
        let config = crate::config::parse_with_env(&yaml, &|_| None).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        let d = &config.groups[0].deployments[0];
        let ProviderChoice::Served(provider) = d.provider else { panic!("{model} is not served") };
        let base = match (provider, endpoint, &d.cloud.aws_bedrock_runtime_endpoint) {
            (Provider::Bedrock, e, Some(runtime)) if e != Endpoint::Embeddings => runtime.clone(),
            _ => d.api_base.clone().unwrap_or_default(),
        };
        let target = Target::parse(&base).unwrap_or_else(|e| panic!("{base}: {e}"));
        let scheme = if target.tls { "https" } else { "http" };
        let path = request_path(&target, d, provider, endpoint, stream, Some("key-project"));
        format!("{scheme}://{}{path}", target.authority)
    }

    #[test]
    fn every_provider_forms_its_url_from_api_base_as_litellm_does() {
        use Endpoint::{ChatCompletions as Chat, Embeddings as Embed};
        let vertex = ", vertex_project: p, vertex_location: europe-west4, vertex_credentials: '{}'";
        let rows: &[(&str, &str, Endpoint, bool, &str)] = &[
            // OpenAI-compatible: {api_base}/chat/completions, or api_base when it is that URL.
            ("openai/gpt-4o", "", Chat, false, "https://api.openai.com/v1/chat/completions"),
            ("openai/gpt-4o", ", api_base: 'http://h:8000/v1'", Embed, false, "http://h:8000/v1/embeddings"),
            ("openai/gpt-4o", ", api_base: 'http://h/x/chat/completions'", Chat, false, "http://h/x/chat/completions"),
            ("hosted_vllm/m", ", api_base: 'http://h:8000'", Chat, false, "http://h:8000/chat/completions"),
            ("groq/llama", "", Chat, false, "https://api.groq.com/openai/v1/chat/completions"),
            ("mistral/m", ", api_base: 'http://h'", Chat, false, "http://h/v1/chat/completions"),
            ("mistral/m", "", Chat, false, "https://api.mistral.ai/v1/chat/completions"),
            ("deepseek/deepseek-chat", "", Chat, false, "https://api.deepseek.com/beta/chat/completions"),
            ("together_ai/m", "", Chat, false, "https://api.together.ai/v1/chat/completions"),
            // Azure.
            ("azure/dep", ", api_base: 'https://r.openai.azure.com', api_version: '2024-10-21'", Chat, false,
             "https://r.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21"),
            ("azure/dep", ", api_base: 'https://r.openai.azure.com'", Embed, false,
             "https://r.openai.azure.com/openai/deployments/dep/embeddings?api-version=2025-02-01-preview"),
            ("azure/dep", ", api_base: 'https://r.openai.azure.com/openai/deployments/other', api_version: '2024-10-21'",
             Chat, false, "https://r.openai.azure.com/openai/deployments/other/chat/completions?api-version=2024-10-21"),
            ("azure/dep", ", api_base: 'https://r.openai.azure.com', api_version: v1", Chat, false,
             "https://r.openai.azure.com/openai/v1/chat/completions"),
            // Anthropic: ensure_api_route(api_base, "v1/messages").
            ("anthropic/claude", "", Chat, false, "https://api.anthropic.com/v1/messages"),
            ("anthropic/claude", ", api_base: 'https://gw'", Chat, true, "https://gw/v1/messages"),
            ("anthropic/claude", ", api_base: 'https://gw/v1/messages'", Chat, false, "https://gw/v1/messages"),
            ("anthropic/claude", ", api_base: 'https://gw/v1'", Chat, false, "https://gw/v1/v1/messages"),
            // Gemini: {api_base}/models/{model}:{method}; the version is part of api_base.
            ("gemini/gemini-2.0-flash", "", Chat, false,
             "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"),
            ("gemini/gemini-3-pro-preview", "", Chat, false,
             "https://generativelanguage.googleapis.com/v1alpha/models/gemini-3-pro-preview:generateContent"),
            ("gemini/gemini-2.0-flash", ", api_base: 'https://gw/v1beta'", Chat, true,
             "https://gw/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"),
            ("gemini/text-embedding-004", ", api_base: 'https://gw/v1beta'", Embed, false,
             "https://gw/v1beta/models/text-embedding-004:batchEmbedContents"),
            // Vertex AI: no path -> the default path; /v1 or /v1beta1 -> grafted; any other path as is.
            ("vertex_ai/gemini-2.0-flash", vertex, Chat, false,
             "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"),
            ("vertex_ai/gemini-2.0-flash", &format!("{vertex}, api_base: 'https://gw'"), Chat, true,
             "https://gw/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse"),
            ("vertex_ai/gemini-2.0-flash", &format!("{vertex}, api_base: 'https://gw/v1beta1'"), Chat, false,
             "https://gw/v1beta1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"),
            ("vertex_ai/gemini-2.0-flash", &format!("{vertex}, api_base: 'https://gw/my/model'"), Chat, false,
             "https://gw/my/model:generateContent"),
            ("vertex_ai/gemini-2.0-flash", ", vertex_project: p, vertex_location: global, vertex_credentials: '{}'", Chat, false,
             "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/gemini-2.0-flash:generateContent"),
            // Cohere: a configured api_base is the whole endpoint; the defaults are /v2/chat and /v2/embed.
            ("cohere/command-r", "", Chat, false, "https://api.cohere.com/v2/chat"),
            ("cohere/embed-english-v3.0", "", Embed, false, "https://api.cohere.com/v2/embed"),
            ("cohere/command-r", ", api_base: 'https://gw/v2/chat'", Chat, true, "https://gw/v2/chat"),
            ("cohere/command-r", ", api_base: 'https://gw/cohere'", Chat, false, "https://gw/cohere"),
            // Bedrock: Converse to the runtime endpoint first, invoke to api_base first.
            ("bedrock/anthropic.claude-3:0", ", aws_region_name: eu-west-1", Chat, false,
             "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3%3A0/converse"),
            ("bedrock/anthropic.claude-3:0", ", aws_region_name: eu-west-1, api_base: 'https://vpce'", Chat, true,
             "https://vpce/model/anthropic.claude-3%3A0/converse-stream"),
            ("bedrock/anthropic.claude-3:0", ", api_base: 'https://a', aws_bedrock_runtime_endpoint: 'https://rt'",
             Chat, false, "https://rt/model/anthropic.claude-3%3A0/converse"),
            ("bedrock/amazon.titan-embed-text-v2:0", ", api_base: 'https://a', aws_bedrock_runtime_endpoint: 'https://rt'",
             Embed, false, "https://a/model/amazon.titan-embed-text-v2%3A0/invoke"),
        ];
        for (model, params, endpoint, stream, want) in rows {
            assert_eq!(url_of(model, params, *endpoint, *stream), *want, "{model}{params}");
        }
    }

    #[test]
    fn refuses_api_base_without_scheme() {
        assert!(Target::parse("api.openai.com/v1").is_err());
        assert!(Target::parse("ftp://x/v1").is_err());
    }
}
