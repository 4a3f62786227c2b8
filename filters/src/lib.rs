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

pub mod framing;
pub mod mock;
pub mod openai;

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

    /// The `api_base` LiteLLM uses when the config gives none; `None` where the config must give one.
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
            Provider::DeepSeek => Some("https://api.deepseek.com/v1"),
            Provider::TogetherAi => Some("https://api.together.xyz/v1"),
            Provider::Perplexity => Some("https://api.perplexity.ai"),
            Provider::OpenRouter => Some("https://openrouter.ai/api/v1"),
            Provider::FireworksAi => Some("https://api.fireworks.ai/inference/v1"),
            Provider::Xai => Some("https://api.x.ai/v1"),
            Provider::Anthropic => Some("https://api.anthropic.com"),
            Provider::Gemini => Some("https://generativelanguage.googleapis.com"),
            Provider::VertexAi => Some("https://us-central1-aiplatform.googleapis.com"),
            Provider::Bedrock => Some("https://bedrock-runtime.us-west-2.amazonaws.com"),
            Provider::Cohere => Some("https://api.cohere.com"),
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
}

/// The translate seam: the body to send to `provider` for a parsed client request.
///
/// Passthrough providers get the client body with `model` replaced by `upstream_model` (Azure too: it
/// ignores the member, the deployment is in the path). Translated providers are `Unsupported` until their
/// translators land.
pub fn translate_request(
    provider: Provider,
    endpoint: Endpoint,
    request: &openai::RequestView<'_>,
    upstream_model: &str,
) -> Result<Vec<u8>, TranslateError> {
    match provider.translation() {
        Translation::Passthrough => {
            let mut out = Vec::new();
            request.write_with_model(upstream_model, &mut out);
            Ok(out)
        }
        Translation::Translated => Err(TranslateError::Unsupported {
            provider: provider.prefix(),
            what: format!("{} requests", endpoint.path()),
        }),
    }
}
