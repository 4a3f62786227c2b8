//! OpenAI <-> Anthropic's Messages API (`POST /v1/messages`): request, response, stream and error
//! translation, following LiteLLM's `anthropic/` provider so a LiteLLM user sees the same answers.
//!
//! - [`request`]: OpenAI chat request -> Anthropic body (system prompt hoisted, roles merged to alternate,
//!   tools and tool results with their ids, images, `max_tokens` always set, thinking, prompt caching).
//! - [`response`]: Anthropic `Message` -> `chat.completion` (finish reason and usage through the tables of
//!   [`finish_reason`] and [`WireUsage::to_usage`]).
//! - [`Stream`]: Anthropic's SSE events -> `chat.completion.chunk` events, one state machine per stream.
//! - [`error`]: Anthropic's error answers -> OpenAI's error body and a fitting status.
//!
//! What the gateway must do for this provider: `POST {api_base}/v1/messages` for both stream and non-stream
//! (the body says `"stream": true`), headers `x-api-key: <key>`, `anthropic-version: 2023-06-01` and
//! `content-type: application/json`; a stream answers `content-type: text/event-stream`.

mod error;
mod request;
mod response;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

pub use error::{client_status, openai_type, status_of_type};
pub use request::{
    default_max_tokens, param, supports_reasoning, thinking_budget, valid_user_id, Param, DEFAULT_MAX_TOKENS,
    THINKING_HEADROOM,
};
pub use stream::{Stream, DEFAULT_MAX_EVENT_BYTES, MAX_BLOCKS};
pub use wire::{finish_reason, WireUsage, JSON_TOOL_NAME};

use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError, Usage};

/// The provider's LiteLLM prefix, as errors name it.
const PROVIDER: &str = "anthropic";

/// The path of the Messages API under Anthropic's `api_base` (`https://api.anthropic.com`).
pub const MESSAGES_PATH: &str = "/v1/messages";

/// The `anthropic-version` header every request carries.
pub const API_VERSION: &str = "2023-06-01";

/// The provider's request body for an OpenAI request (chat completions only).
pub fn request(
    endpoint: Endpoint,
    view: &RequestView<'_>,
    model: &str,
    opts: &RequestOptions,
) -> Result<Vec<u8>, TranslateError> {
    match endpoint {
        Endpoint::ChatCompletions => request::chat(view, model, opts),
        Endpoint::Completions | Endpoint::Embeddings => Err(unsupported(endpoint)),
    }
}

/// The OpenAI answer for the provider's (non-stream) answer.
pub fn response(endpoint: Endpoint, body: &[u8], meta: &ResponseMeta<'_>) -> Result<(Vec<u8>, Usage), TranslateError> {
    match endpoint {
        Endpoint::ChatCompletions => response::chat(body, meta),
        Endpoint::Completions | Endpoint::Embeddings => Err(unsupported(endpoint)),
    }
}

/// An OpenAI-shaped error (status, body) for the provider's error answer.
pub fn error(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    error::error(status, body)
}

fn unsupported(endpoint: Endpoint) -> TranslateError {
    // Anthropic has no embeddings API, and LiteLLM's legacy text completions for Claude went away with
    // Anthropic's `/v1/complete`.
    TranslateError::Unsupported { provider: PROVIDER, what: format!("{} requests", endpoint.path()) }
}
