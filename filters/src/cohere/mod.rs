//! OpenAI <-> Cohere's v2 API: chat (`POST /v2/chat`, JSON and SSE stream) and embed (`POST /v2/embed`).
//!
//! Written from Cohere's v2 reference (<https://docs.cohere.com/reference/chat>,
//! <https://docs.cohere.com/reference/chat-stream>, <https://docs.cohere.com/v2/docs/streaming>,
//! <https://docs.cohere.com/reference/embed>) and LiteLLM's `CohereV2ChatConfig`
//! (`litellm/llms/cohere/chat/v2_transformation.py`) and `CohereEmbeddingConfig`
//! (`litellm/llms/cohere/embed/transformation.py`) for which OpenAI parameters map and which are refused.
//!
//! | OpenAI | Cohere v2 | where |
//! |---|---|---|
//! | `messages` (`system`/`developer`, `user`, `assistant`, `tool`) | `messages` (`system`, `user`, `assistant`, `tool`) | [`request()`] |
//! | assistant `content` next to `tool_calls` | `tool_plan` | both ways: the text said before calling tools |
//! | `tools`, `tool_choice` | `tools`, `tool_choice` (`REQUIRED`/`NONE`) | a named choice keeps only that tool |
//! | `max_tokens`/`max_completion_tokens`, `top_p`, `stop` | `max_tokens`, `p`, `stop_sequences` | |
//! | `response_format` | `response_format` (`json_object` + `json_schema`) | |
//! | `finish_reason` | `finish_reason` | [`finish_reason`], one table |
//! | `usage` | `usage.tokens` (+ `usage.cached_tokens`) | `usage_of`, table in [`crate::usage`] |
//! | `reasoning_content` | `thinking` content | answers and streams |
//! | embeddings `input` | `texts` (+ `input_type`, `embedding_types: ["float"]`) | [`request()`], [`embeddings_response`] |
//!
//! Cohere's citations (`message.citations`, `citation-start`/`citation-end` events) are not carried:
//! OpenAI's chat format has no field for document citations.

mod error;
mod json;
mod request;
mod response;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

pub use error::error;
pub use request::{encoding_format, EncodingFormat};
pub use response::{embeddings_response, finish_reason};
pub use stream::{Stream, MAX_EVENT_BYTES, MAX_TOOL_CALLS};

use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError, Usage};

/// The provider's LiteLLM prefix, as errors name it.
const PROVIDER: &str = "cohere";

/// The path under the API base (`https://api.cohere.com`) for an endpoint; `None` where Cohere has none.
///
/// One path serves both ways of answering: a chat streams when its body says `"stream": true`.
pub fn path(endpoint: Endpoint) -> Option<&'static str> {
    match endpoint {
        Endpoint::ChatCompletions => Some("/v2/chat"),
        Endpoint::Embeddings => Some("/v2/embed"),
        // Cohere's v2 API has no legacy text completions (v1 `/generate` is deprecated).
        Endpoint::Completions => None,
    }
}

/// The provider's request body for an OpenAI request.
pub fn request(
    endpoint: Endpoint,
    view: &RequestView<'_>,
    model: &str,
    opts: &RequestOptions,
) -> Result<Vec<u8>, TranslateError> {
    match endpoint {
        Endpoint::ChatCompletions => request::chat(view, model, opts),
        Endpoint::Embeddings => request::embed(view, model, opts),
        Endpoint::Completions => Err(unsupported(endpoint)),
    }
}

/// The OpenAI answer for the provider's (non-stream) answer.
///
/// Embeddings come back as float arrays here: the client's `encoding_format` is not known at this point,
/// so a gateway that honours `"base64"` calls [`embeddings_response`] with [`encoding_format`] instead.
pub fn response(endpoint: Endpoint, body: &[u8], meta: &ResponseMeta<'_>) -> Result<(Vec<u8>, Usage), TranslateError> {
    match endpoint {
        Endpoint::ChatCompletions => response::chat(body, meta),
        Endpoint::Embeddings => embeddings_response(body, meta, EncodingFormat::Float),
        Endpoint::Completions => Err(unsupported(endpoint)),
    }
}

/// The error for an endpoint Cohere does not serve.
fn unsupported(endpoint: Endpoint) -> TranslateError {
    TranslateError::Unsupported { provider: PROVIDER, what: format!("{} requests", endpoint.path()) }
}
