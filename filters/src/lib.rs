//! Pure body translators between OpenAI's API and the LLM providers behind Tollgate.
//!
//! The contract of this crate:
//!
//! - **Pure.** Bytes or typed values in, bytes out. No I/O, no clock, no random numbers, no async runtime,
//!   no Pingora: anything that varies per call (response ids, `created` timestamps) is passed in by the
//!   caller. The same input always gives the same output, which is what lets the golden fixtures, the
//!   chunk-split tests, the fuzzer and the benches all exercise exactly what the gateway runs.
//! - **OpenAI is the hub.** Clients speak OpenAI's REST shapes; every translation is OpenAI <-> one provider
//!   in a single hop, never provider <-> provider. What a client sends and we do not understand is carried
//!   through untouched ([`openai::RequestView`] keeps every member byte for byte).
//! - **Closed set of providers.** [`Provider`] names every `provider/` prefix of LiteLLM's model names we
//!   accept; behaviour is chosen by an exhaustive `match`, so adding a provider is a compile error at every
//!   place that must decide something about it.
//! - **One error type.** Every failure to understand or translate a body is a [`TranslateError`]; the
//!   gateway maps it to an HTTP status and an OpenAI error body.
//! - **Bounded.** Stream decoders ([`framing`]) own their cross-chunk state, accept any chunk boundary and
//!   refuse to buffer more than a configured limit.

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod framing;
pub mod gemini;
pub mod mock;
pub mod openai;
pub mod usage;

pub use usage::Usage;

#[cfg(test)]
mod tests;

/// Every provider prefix LiteLLM's `provider/model` names; closed enum, matched exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// `openai/`: OpenAI's own API.
    OpenAI,
    /// `azure/`: Azure OpenAI; the model name is the deployment name.
    Azure,
    /// `text-completion-openai/`: OpenAI's legacy `/completions` models.
    TextCompletionOpenAI,
    /// `hosted_vllm/`: a self-hosted vLLM server (OpenAI-compatible).
    HostedVllm,
    /// `ollama/`: Ollama, served through its OpenAI-compatible `/v1` API.
    Ollama,
    /// `ollama_chat/`: Ollama's chat models, served through the same `/v1` API.
    OllamaChat,
    /// `groq/`: Groq (OpenAI-compatible).
    Groq,
    /// `mistral/`: Mistral's La Plateforme (OpenAI-compatible).
    Mistral,
    /// `deepseek/`: DeepSeek (OpenAI-compatible).
    DeepSeek,
    /// `together_ai/`: Together AI (OpenAI-compatible).
    TogetherAi,
    /// `perplexity/`: Perplexity (OpenAI-compatible).
    Perplexity,
    /// `openrouter/`: OpenRouter (OpenAI-compatible).
    OpenRouter,
    /// `fireworks_ai/`: Fireworks AI (OpenAI-compatible).
    FireworksAi,
    /// `xai/`: xAI's Grok (OpenAI-compatible).
    Xai,
    /// `anthropic/`: Anthropic's Messages API (translated).
    Anthropic,
    /// `gemini/`: Google AI Studio's Gemini API (translated).
    Gemini,
    /// `vertex_ai/`: Google Cloud Vertex AI (translated).
    VertexAi,
    /// `bedrock/`: AWS Bedrock (translated, SigV4-signed).
    Bedrock,
    /// `cohere/` and `cohere_chat/`: Cohere's chat API (translated).
    Cohere,
}

/// How a provider's request body is made from the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    /// The provider speaks OpenAI's API: the client body is sent with only `model` replaced.
    Passthrough,
    /// The provider has its own API: the body is translated both ways.
    Translated,
}

/// How the provider expects its API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The key alone, as the value of the named header.
    Header(&'static str),
    /// AWS Signature Version 4 over the request (no key header).
    SigV4,
}

impl Provider {
    /// Every provider, in declaration order.
    pub const ALL: [Provider; 19] = [
        Provider::OpenAI,
        Provider::Azure,
        Provider::TextCompletionOpenAI,
        Provider::HostedVllm,
        Provider::Ollama,
        Provider::OllamaChat,
        Provider::Groq,
        Provider::Mistral,
        Provider::DeepSeek,
        Provider::TogetherAi,
        Provider::Perplexity,
        Provider::OpenRouter,
        Provider::FireworksAi,
        Provider::Xai,
        Provider::Anthropic,
        Provider::Gemini,
        Provider::VertexAi,
        Provider::Bedrock,
        Provider::Cohere,
    ];

    /// The provider for a LiteLLM prefix (`"openai"`, `"together_ai"`, ...); `cohere_chat` is Cohere.
    pub fn from_prefix(prefix: &str) -> Option<Provider> {
        let provider = match prefix {
            "openai" => Provider::OpenAI,
            "azure" => Provider::Azure,
            "text-completion-openai" => Provider::TextCompletionOpenAI,
            "hosted_vllm" => Provider::HostedVllm,
            "ollama" => Provider::Ollama,
            "ollama_chat" => Provider::OllamaChat,
            "groq" => Provider::Groq,
            "mistral" => Provider::Mistral,
            "deepseek" => Provider::DeepSeek,
            "together_ai" => Provider::TogetherAi,
            "perplexity" => Provider::Perplexity,
            "openrouter" => Provider::OpenRouter,
            "fireworks_ai" => Provider::FireworksAi,
            "xai" => Provider::Xai,
            "anthropic" => Provider::Anthropic,
            "gemini" => Provider::Gemini,
            "vertex_ai" => Provider::VertexAi,
            "bedrock" => Provider::Bedrock,
            // LiteLLM routes both prefixes to Cohere's chat API; `cohere_chat` is the older spelling.
            "cohere" | "cohere_chat" => Provider::Cohere,
            _ => return None,
        };
        Some(provider)
    }

    /// The canonical LiteLLM prefix (`from_prefix(p.prefix()) == Some(p)`).
    pub fn prefix(self) -> &'static str {
        match self {
            Provider::OpenAI => "openai",
            Provider::Azure => "azure",
            Provider::TextCompletionOpenAI => "text-completion-openai",
            Provider::HostedVllm => "hosted_vllm",
            Provider::Ollama => "ollama",
            Provider::OllamaChat => "ollama_chat",
            Provider::Groq => "groq",
            Provider::Mistral => "mistral",
            Provider::DeepSeek => "deepseek",
            Provider::TogetherAi => "together_ai",
            Provider::Perplexity => "perplexity",
            Provider::OpenRouter => "openrouter",
            Provider::FireworksAi => "fireworks_ai",
            Provider::Xai => "xai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::VertexAi => "vertex_ai",
            Provider::Bedrock => "bedrock",
            Provider::Cohere => "cohere",
        }
    }

    /// Whether the body is passed through (OpenAI-compatible) or translated.
    pub fn translation(self) -> Translation {
        match self {
            Provider::OpenAI
            | Provider::Azure
            | Provider::TextCompletionOpenAI
            | Provider::HostedVllm
            | Provider::Ollama
            | Provider::OllamaChat
            | Provider::Groq
            | Provider::Mistral
            | Provider::DeepSeek
            | Provider::TogetherAi
            | Provider::Perplexity
            | Provider::OpenRouter
            | Provider::FireworksAi
            | Provider::Xai => Translation::Passthrough,
            Provider::Anthropic | Provider::Gemini | Provider::VertexAi | Provider::Bedrock | Provider::Cohere => {
                Translation::Translated
            }
        }
    }

    /// The `api_base` LiteLLM uses when the config gives none; `None` where the config must give one. What
    /// the gateway appends to it, per provider, is LiteLLM's rule (the gateway's `upstream::request_path`).
    ///
    /// Vertex AI and Bedrock are regional: the base is LiteLLM's default region (`us-central1`, `us-west-2`)
    /// and the gateway is expected to build the real one from `vertex_location` / `aws_region_name`.
    /// Ollama's base is its OpenAI-compatible `/v1` API, not its native `/api`.
    pub fn default_api_base(self) -> Option<&'static str> {
        match self {
            Provider::OpenAI | Provider::TextCompletionOpenAI => Some("https://api.openai.com/v1"),
            // Azure needs the resource's endpoint, vLLM its host: there is nothing to default to.
            Provider::Azure | Provider::HostedVllm => None,
            Provider::Ollama | Provider::OllamaChat => Some("http://localhost:11434/v1"),
            Provider::Groq => Some("https://api.groq.com/openai/v1"),
            Provider::Mistral => Some("https://api.mistral.ai/v1"),
            Provider::DeepSeek => Some("https://api.deepseek.com/beta"),
            Provider::TogetherAi => Some("https://api.together.ai/v1"),
            Provider::Perplexity => Some("https://api.perplexity.ai"),
            Provider::OpenRouter => Some("https://openrouter.ai/api/v1"),
            Provider::FireworksAi => Some("https://api.fireworks.ai/inference/v1"),
            Provider::Xai => Some("https://api.x.ai/v1"),
            Provider::Anthropic => Some("https://api.anthropic.com"),
            Provider::Gemini => Some("https://generativelanguage.googleapis.com/v1beta"),
            Provider::VertexAi => Some("https://us-central1-aiplatform.googleapis.com"),
            Provider::Bedrock => Some("https://bedrock-runtime.us-west-2.amazonaws.com"),
            Provider::Cohere => Some("https://api.cohere.com"),
        }
    }

    /// Whether a stream request to this OpenAI-compatible provider may carry `stream_options.include_usage`
    /// (so [`translate_request`] asks every stream for its usage); `false` for translated providers, whose
    /// bodies have no such member.
    ///
    /// Mistral refuses the member (422 `extra_forbidden`) and sends the usage on its last chunk anyway;
    /// Perplexity does not document it and sends the usage on every chunk. Azure takes it from API version
    /// 2024-09-01-preview on.
    pub fn accepts_stream_options(self) -> bool {
        match self {
            Provider::OpenAI
            | Provider::Azure
            | Provider::TextCompletionOpenAI
            | Provider::HostedVllm
            | Provider::Ollama
            | Provider::OllamaChat
            | Provider::Groq
            | Provider::DeepSeek
            | Provider::TogetherAi
            | Provider::OpenRouter
            | Provider::FireworksAi
            | Provider::Xai => true,
            Provider::Mistral | Provider::Perplexity => false,
            Provider::Anthropic | Provider::Gemini | Provider::VertexAi | Provider::Bedrock | Provider::Cohere => false,
        }
    }

    /// How the provider's API key is sent.
    pub fn auth(self) -> AuthStyle {
        match self {
            Provider::Azure => AuthStyle::Header("api-key"),
            Provider::Anthropic => AuthStyle::Header("x-api-key"),
            Provider::Gemini => AuthStyle::Header("x-goog-api-key"),
            Provider::Bedrock => AuthStyle::SigV4,
            // Vertex AI takes an OAuth access token as a bearer; Ollama and vLLM only if a key is configured.
            Provider::OpenAI
            | Provider::TextCompletionOpenAI
            | Provider::HostedVllm
            | Provider::Ollama
            | Provider::OllamaChat
            | Provider::Groq
            | Provider::Mistral
            | Provider::DeepSeek
            | Provider::TogetherAi
            | Provider::Perplexity
            | Provider::OpenRouter
            | Provider::FireworksAi
            | Provider::Xai
            | Provider::VertexAi
            | Provider::Cohere => AuthStyle::Bearer,
        }
    }
}

/// Splits LiteLLM's `provider/model` at the first `/` only (`openai/org/model` -> `(OpenAI, "org/model")`).
///
/// An unknown prefix is `UnknownProvider(prefix)`; a name without `/` is `UnknownProvider(name)`.
pub fn split_model(litellm_model: &str) -> Result<(Provider, &str), TranslateError> {
    let Some((prefix, model)) = litellm_model.split_once('/') else {
        // LiteLLM guesses a provider for bare names ("gpt-4o"); a gateway config should say it, so we do not.
        return Err(TranslateError::UnknownProvider(litellm_model.to_owned()));
    };
    let Some(provider) = Provider::from_prefix(prefix) else {
        return Err(TranslateError::UnknownProvider(prefix.to_owned()));
    };
    Ok((provider, model))
}

/// The client-facing endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /chat/completions`.
    ChatCompletions,
    /// `POST /completions` (legacy text completions).
    Completions,
    /// `POST /embeddings`.
    Embeddings,
}

impl Endpoint {
    /// The path under the API base (`/v1` is part of the base, not of the path).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
        }
    }
}

/// The one error type of translation (thiserror; the message is the doc comment text).
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    /// invalid JSON body: {0}
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// the request body must be a JSON object
    #[error("the request body must be a JSON object")]
    NotAnObject,
    /// missing required field `{0}`
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// field `{field}` must be {expected}
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The top-level member at fault.
        field: &'static str,
        /// What it should have been, with its article ("a string").
        expected: &'static str,
    },
    /// unknown LLM provider `{0}`: a model name must start with a provider prefix such as `openai/`
    #[error("unknown LLM provider `{0}`: a model name must start with a provider prefix such as `openai/`")]
    UnknownProvider(String),
    /// provider `{provider}` is not served yet for {what}
    #[error("provider `{provider}` is not served yet for {what}")]
    Unsupported {
        /// The provider's LiteLLM prefix.
        provider: &'static str,
        /// What was asked of it, e.g. the endpoint's path.
        what: String,
    },
    /// `{provider}` does not support parameter `{param}`; set `drop_params: true` to drop it
    #[error("{provider} does not support parameter `{param}`; set `drop_params: true` to drop it")]
    UnsupportedParam {
        /// The provider's LiteLLM prefix.
        provider: &'static str,
        /// The OpenAI parameter it cannot take.
        param: String,
    },
    /// the provider's answer could not be read: {0}
    #[error("the provider's answer could not be read: {0}")]
    ProviderBody(String),
    /// the provider reported an error mid-stream ({status}): {message}
    #[error("the provider reported an error mid-stream ({status}): {message}")]
    ProviderStreamError {
        /// The HTTP status that fits the provider's error.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// {0}
    #[error(transparent)]
    Framing(#[from] framing::FramingError),
}

/// The translate seam: the body to send to `provider` for a parsed client request.
///
/// Passthrough providers get the client body with `model` replaced by `upstream_model` (Azure too: it
/// ignores the member, the deployment is in the path); a stream (`"stream": true` on chat or text
/// completions) also gets `stream_options.include_usage: true` where the provider takes it
/// ([`Provider::accepts_stream_options`]), so its usage is always known. Translated providers are `Unsupported` until their
/// translators land.
pub fn translate_request(
    provider: Provider,
    endpoint: Endpoint,
    request: &openai::RequestView<'_>,
    upstream_model: &str,
    opts: &RequestOptions,
) -> Result<Vec<u8>, TranslateError> {
    match provider {
        Provider::Anthropic => anthropic::request(endpoint, request, upstream_model, opts),
        // Vertex AI embeds through `:predict` with its own body; chat is Gemini's body on both.
        Provider::VertexAi if endpoint == Endpoint::Embeddings => gemini::vertex_embeddings_request(request, opts),
        Provider::Gemini | Provider::VertexAi => gemini::request(endpoint, request, upstream_model, opts),
        Provider::Bedrock => bedrock::request(endpoint, request, upstream_model, opts),
        Provider::Cohere => cohere::request(endpoint, request, upstream_model, opts),
        _ => {
            let mut out = Vec::with_capacity(request.body_len() + 48);
            // A stream always asks for its usage (budgets charge every call); the translator drops the usage
            // chunk again when the client did not ask for it. Embeddings have no stream.
            let stream = provider.accepts_stream_options()
                && endpoint != Endpoint::Embeddings
                && request.stream().unwrap_or(false);
            request.write_request(upstream_model, stream, &mut out);
            Ok(out)
        }
    }
}

/// Per-deployment choices that shape a translated request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestOptions {
    /// LiteLLM's `drop_params`: drop a parameter the provider cannot take instead of refusing it (400).
    pub drop_params: bool,
}

/// What varies per answer and is passed in, never made up here (style rule 4).
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta<'a> {
    /// The `id` of the OpenAI answer (`chatcmpl-...`).
    pub id: &'a str,
    /// The `created` Unix time of the answer.
    pub created: u64,
    /// The `model` the client sees (the model group it asked for, as LiteLLM answers).
    pub model: &'a str,
}

/// The OpenAI answer for a provider's non-stream success answer, and its usage.
pub fn translate_response(
    provider: Provider,
    endpoint: Endpoint,
    body: &[u8],
    meta: &ResponseMeta<'_>,
) -> Result<(Vec<u8>, Option<Usage>), TranslateError> {
    let translated = match provider {
        Provider::Anthropic => anthropic::response(endpoint, body, meta)?,
        Provider::Gemini | Provider::VertexAi => gemini::response(endpoint, body, meta)?,
        Provider::Bedrock => bedrock::response(endpoint, body, meta)?,
        Provider::Cohere => cohere::response(endpoint, body, meta)?,
        _ => return openai::restamp_response(body, meta.model),
    };
    Ok((translated.0, Some(translated.1)))
}

/// An OpenAI-shaped error answer (status, body) for a provider's error answer.
pub fn translate_error(provider: Provider, status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    match provider {
        Provider::Anthropic => anthropic::error(status, body),
        Provider::Gemini | Provider::VertexAi => gemini::error(status, body),
        Provider::Bedrock => bedrock::error(status, body),
        Provider::Cohere => cohere::error(status, body),
        _ => openai_error_from(status, body),
    }
}

/// A provider error body made OpenAI-shaped: kept as is when it already is (`{"error": {...}}`), else
/// wrapped with a `type` that fits the status (`rate_limit_error`, `invalid_request_error`, `api_error`).
pub fn openai_error_from(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    let shaped = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("error").is_some_and(|e| e.is_object()));
    if shaped {
        return (status, body.to_vec());
    }
    let kind = match status {
        429 => "rate_limit_error",
        401 | 403 => "authentication_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    let text = String::from_utf8_lossy(body);
    let message = format!("provider answered {status}: {}", text.chars().take(2000).collect::<String>());
    (status, openai::error_body(&message, kind, None, Some(&status.to_string())))
}

/// A provider's stream turned into OpenAI SSE, one state machine per provider, chosen once per stream.
#[derive(Debug)]
pub enum StreamTranslator {
    /// OpenAI-compatible providers: events passed on with `model` restamped.
    Passthrough(openai::StreamRestamper),
    /// Anthropic's Messages events.
    Anthropic(anthropic::Stream),
    /// Gemini's `streamGenerateContent?alt=sse` (also Vertex AI).
    Gemini(gemini::Stream),
    /// Bedrock's ConverseStream (AWS binary eventstream).
    Bedrock(bedrock::Stream),
    /// Cohere's v2 chat stream.
    Cohere(cohere::Stream),
}

impl StreamTranslator {
    /// The translator for a stream from `provider`; `include_usage` is the client's
    /// `stream_options.include_usage` (a usage chunk before `[DONE]`). OpenAI-compatible providers are always
    /// asked for the usage ([`translate_request`]); without `include_usage` their usage chunk is read and
    /// dropped. One provider event (an SSE event, or for Bedrock an eventstream frame) larger than
    /// `max_event_bytes` ends the stream with an error.
    pub fn new(provider: Provider, meta: &ResponseMeta<'_>, include_usage: bool, max_event_bytes: usize) -> Self {
        match provider {
            Provider::Anthropic => StreamTranslator::Anthropic(anthropic::Stream::with_max_event_bytes(
                meta,
                include_usage,
                max_event_bytes,
            )),
            Provider::Gemini | Provider::VertexAi => {
                StreamTranslator::Gemini(gemini::Stream::with_limit(meta, include_usage, max_event_bytes))
            }
            Provider::Bedrock => {
                StreamTranslator::Bedrock(bedrock::Stream::with_max_frame_bytes(meta, include_usage, max_event_bytes))
            }
            Provider::Cohere => {
                StreamTranslator::Cohere(cohere::Stream::with_max_event_bytes(meta, include_usage, max_event_bytes))
            }
            _ => {
                StreamTranslator::Passthrough(openai::StreamRestamper::new(meta.model, include_usage, max_event_bytes))
            }
        }
    }

    /// Feeds a chunk of the provider's stream (any boundary); complete OpenAI events go to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        match self {
            StreamTranslator::Passthrough(s) => s.push(chunk, out),
            StreamTranslator::Anthropic(s) => s.push(chunk, out),
            StreamTranslator::Gemini(s) => s.push(chunk, out),
            StreamTranslator::Bedrock(s) => s.push(chunk, out),
            StreamTranslator::Cohere(s) => s.push(chunk, out),
        }
    }

    /// Ends the stream: what is left, and for translated providers the final `data: [DONE]`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        match self {
            StreamTranslator::Passthrough(s) => s.finish(out),
            StreamTranslator::Anthropic(s) => s.finish(out),
            StreamTranslator::Gemini(s) => s.finish(out),
            StreamTranslator::Bedrock(s) => s.finish(out),
            StreamTranslator::Cohere(s) => s.finish(out),
        }
    }

    /// Whether the provider's stream reached its own end marker (`[DONE]` or a `finish_reason` for
    /// OpenAI-compatible providers, Anthropic's `stop_reason`, Gemini's `finishReason`, Bedrock's
    /// `messageStop`, Cohere's `message-end`). A stream that ends without it was cut short.
    pub fn complete(&self) -> bool {
        match self {
            StreamTranslator::Passthrough(s) => s.complete(),
            StreamTranslator::Anthropic(s) => s.complete(),
            StreamTranslator::Gemini(s) => s.complete(),
            StreamTranslator::Bedrock(s) => s.complete(),
            StreamTranslator::Cohere(s) => s.complete(),
        }
    }

    /// The stream's usage as far as the provider has said it (for Anthropic and Gemini it may be a running
    /// count until the stream ends; see [`Self::produced_estimate`] for what to charge).
    pub fn usage(&self) -> Option<Usage> {
        match self {
            StreamTranslator::Passthrough(s) => s.usage(),
            StreamTranslator::Anthropic(s) => s.usage(),
            StreamTranslator::Gemini(s) => s.usage(),
            StreamTranslator::Bedrock(s) => s.usage(),
            StreamTranslator::Cohere(s) => s.usage(),
        }
    }

    /// What to charge for the stream so far, also when it was cut short: the provider's usage when it said
    /// its final one, else an estimate (lossy; see [`usage::Produced::charge`]): completion tokens from the
    /// bytes of content, reasoning and tool-call arguments passed on (about 4 bytes a token), prompt tokens
    /// only when the provider already reported them (else 0).
    pub fn produced_estimate(&self) -> Usage {
        match self {
            StreamTranslator::Passthrough(s) => s.produced_estimate(),
            StreamTranslator::Anthropic(s) => s.produced_estimate(),
            StreamTranslator::Gemini(s) => s.produced_estimate(),
            StreamTranslator::Bedrock(s) => s.produced_estimate(),
            StreamTranslator::Cohere(s) => s.produced_estimate(),
        }
    }

    /// Total tokens of the stream, once the provider has said them.
    pub fn total_tokens(&self) -> Option<u64> {
        match self {
            StreamTranslator::Passthrough(s) => s.total_tokens(),
            StreamTranslator::Anthropic(s) => s.usage().map(|u| u.total_tokens()),
            StreamTranslator::Gemini(s) => s.usage().map(|u| u.total_tokens()),
            StreamTranslator::Bedrock(s) => s.usage().map(|u| u.total_tokens()),
            StreamTranslator::Cohere(s) => s.usage().map(|u| u.total_tokens()),
        }
    }
}
