//! OpenAI <-> Gemini's generateContent API, for Google AI Studio (`gemini/`) and Vertex AI (`vertex_ai/`),
//! which share the request and answer bodies: request, answer, stream and error translation, and
//! embeddings.
//!
//! - [`request`]: `/chat/completions` -> `GenerateContentRequest` (table in `request`), `/embeddings` ->
//!   `batchEmbedContents` (AI Studio; Vertex's `:predict` body is [`vertex_embeddings_request`]).
//! - [`response`]: `GenerateContentResponse` -> `chat.completion`; embeddings answers -> OpenAI's list.
//! - [`Stream`]: `streamGenerateContent?alt=sse` -> `chat.completion.chunk` events.
//! - [`error`]: Google's `{"error": {"code", "message", "status"}}` -> OpenAI's error body.
//!
//! Two mapping tables decide what a customer sees and is billed: [`finish_reason`] and `usage_of` (the
//! Gemini row of the table in `usage.rs`). Tool-call ids are made here (Gemini has none): see `ids`.
//!
//! Where the gateway sends the bodies: [`gemini_path`] and [`vertex_path`]. Both APIs stream with
//! `Content-Type: text/event-stream`, events `data: {...}\r\n\r\n`.
//!
//! Not translated (refused unless `drop_params`): `logit_bias`, `audio` and image/audio `modalities` (no
//! media answers), `prediction`, legacy `function_call`; the legacy `/completions` endpoint.

mod error;
mod ids;
mod json;
mod request;
mod response;
pub mod schema;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

pub use error::{error, error_type, status_of_code_name};
pub use ids::{call_id_base, THOUGHT_SEPARATOR};
pub use request::{supports_response_json_schema, thinking_for_effort, vertex_embeddings as vertex_embeddings_request};
pub use response::{embeddings as embeddings_response, EmbeddingEncoding};
pub use stream::{Stream, DEFAULT_MAX_EVENT_BYTES, MAX_CHOICES};
pub use wire::ThinkingConfig;

use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError, Usage};
use wire::UsageMetadata;

/// The provider name in refusals (`UnsupportedParam`); Vertex AI is served by the same translator.
const PROVIDER: &str = "gemini";

/// The provider's request body for an OpenAI request; `model` is the upstream model (as in the URL).
pub fn request(
    endpoint: Endpoint,
    view: &RequestView<'_>,
    model: &str,
    opts: &RequestOptions,
) -> Result<Vec<u8>, TranslateError> {
    match endpoint {
        Endpoint::ChatCompletions => request::chat(view, model, opts),
        Endpoint::Embeddings => request::embeddings(view, model, opts),
        Endpoint::Completions => Err(unsupported(endpoint)),
    }
}

/// The OpenAI answer for the provider's (non-stream) answer.
///
/// Embeddings are written as floats: `encoding_format` is in the request, which this seam does not see;
/// [`embeddings_response`] takes it.
pub fn response(endpoint: Endpoint, body: &[u8], meta: &ResponseMeta<'_>) -> Result<(Vec<u8>, Usage), TranslateError> {
    match endpoint {
        Endpoint::ChatCompletions => response::chat(body, meta),
        Endpoint::Embeddings => response::embeddings(body, meta, EmbeddingEncoding::Float),
        Endpoint::Completions => Err(unsupported(endpoint)),
    }
}

fn unsupported(endpoint: Endpoint) -> TranslateError {
    TranslateError::Unsupported { provider: PROVIDER, what: format!("{} requests", endpoint.path()) }
}

/// Gemini's `finishReason` -> OpenAI's `finish_reason` (LiteLLM's `_FINISH_REASON_MAP`, Gemini rows):
///
/// | Gemini | OpenAI |
/// |---|---|
/// | `STOP` | `stop` |
/// | `MAX_TOKENS` | `length` |
/// | `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `LANGUAGE`, `OTHER`, `IMAGE_SAFETY`, `IMAGE_PROHIBITED_CONTENT`, `IMAGE_RECITATION`, `IMAGE_OTHER`, `NO_IMAGE`, `ESCALATION` | `content_filter` |
/// | `FINISH_REASON_UNSPECIFIED`, `MALFORMED_FUNCTION_CALL`, `TOO_MANY_TOOL_CALLS`, `UNEXPECTED_TOOL_CALL`, `MALFORMED_RESPONSE`, `MISSING_THOUGHT_SIGNATURE`, anything new | `stop` |
///
/// A choice that called a tool finishes with `tool_calls` whatever Gemini said (it says `STOP`), as
/// LiteLLM's `_check_finish_reason` does; that is decided by the callers. Lossy: the `stop` rows that are
/// really failures (`MALFORMED_FUNCTION_CALL`) cannot be told apart by an OpenAI client.
pub fn finish_reason(gemini: &str) -> &'static str {
    match gemini {
        "STOP" => "stop",
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "LANGUAGE"
        | "OTHER"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "IMAGE_OTHER"
        | "NO_IMAGE"
        | "ESCALATION" => "content_filter",
        _ => "stop",
    }
}

/// Gemini's `usageMetadata` -> [`Usage`] (LiteLLM's `VertexGeminiConfig._calculate_usage`):
///
/// | `Usage` | from |
/// |---|---|
/// | `prompt_tokens` | `promptTokenCount` (it includes the cached tokens) |
/// | `completion_tokens` | `candidatesTokenCount` + `thoughtsTokenCount`, unless `promptTokenCount` + `candidatesTokenCount` already equals `totalTokenCount` (older Vertex answers count thoughts inside candidates) |
/// | `cached_tokens` | `cachedContentTokenCount` |
/// | `reasoning_tokens` | `thoughtsTokenCount` |
/// | `cache_creation_tokens` | `None`: Gemini bills cache storage per hour, not per request |
///
/// `toolUsePromptTokenCount` (tokens of server-side tool results, e.g. Google Search) is not counted, as
/// LiteLLM does not count it (lossy: `total_tokens` can be below Gemini's `totalTokenCount`).
pub(crate) fn usage_of(m: &UsageMetadata) -> Usage {
    let prompt = m.prompt_token_count.unwrap_or(0);
    let candidates = m.candidates_token_count.unwrap_or(0);
    // Saturating: the counts are the provider's, and a wrapped sum would be a wrong bill.
    let inclusive = m.total_token_count == Some(prompt.saturating_add(candidates));
    let completion =
        if inclusive { candidates } else { candidates.saturating_add(m.thoughts_token_count.unwrap_or(0)) };
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: m.cached_content_token_count,
        cache_creation_tokens: None,
        reasoning_tokens: m.thoughts_token_count,
    }
}

/// Writes OpenAI's `usage` object for `usage`: the same members as [`Usage::to_openai`] (a unit test holds
/// them equal), written straight into the buffer rather than through a `serde_json::Value`.
pub(crate) fn write_usage(out: &mut Vec<u8>, usage: &Usage) {
    out.extend_from_slice(b"{\"prompt_tokens\":");
    json::write_u64(out, usage.prompt_tokens);
    out.extend_from_slice(b",\"completion_tokens\":");
    json::write_u64(out, usage.completion_tokens);
    out.extend_from_slice(b",\"total_tokens\":");
    json::write_u64(out, usage.total_tokens());
    if usage.cached_tokens.is_some() || usage.cache_creation_tokens.is_some() {
        out.extend_from_slice(b",\"prompt_tokens_details\":{\"cached_tokens\":");
        json::write_u64(out, usage.cached_tokens.unwrap_or(0));
        out.push(b'}');
    }
    if let Some(written) = usage.cache_creation_tokens {
        out.extend_from_slice(b",\"cache_creation_input_tokens\":");
        json::write_u64(out, written);
    }
    if let Some(read) = usage.cached_tokens {
        out.extend_from_slice(b",\"cache_read_input_tokens\":");
        json::write_u64(out, read);
    }
    if let Some(reasoning) = usage.reasoning_tokens {
        out.extend_from_slice(b",\"completion_tokens_details\":{\"reasoning_tokens\":");
        json::write_u64(out, reasoning);
        out.push(b'}');
    }
    out.push(b'}');
}

/// The path (and query) of a Google AI Studio call under `https://generativelanguage.googleapis.com`:
/// `/v1beta/models/<model>:generateContent`, `:streamGenerateContent?alt=sse` when streaming,
/// `:batchEmbedContents` for embeddings; `None` for an endpoint Gemini does not serve. The key goes in
/// the `x-goog-api-key` header.
pub fn gemini_path(model: &str, endpoint: Endpoint, stream: bool) -> Option<String> {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let method = method(endpoint, stream, "batchEmbedContents")?;
    Some(format!("/v1beta/models/{model}:{method}"))
}

/// The path (and query) of a Vertex AI call under `https://{location}-aiplatform.googleapis.com`
/// ([`vertex_host`]): `/v1/projects/<p>/locations/<l>/publishers/google/models/<m>:generateContent`,
/// `:streamGenerateContent?alt=sse`, or `:predict` for embeddings (body: [`vertex_embeddings_request`]).
/// A model given as digits only is a tuned model's endpoint id: `/endpoints/<id>:...` (as LiteLLM).
pub fn vertex_path(project: &str, location: &str, model: &str, endpoint: Endpoint, stream: bool) -> Option<String> {
    let method = method(endpoint, stream, "predict")?;
    if !model.is_empty() && model.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("/v1/projects/{project}/locations/{location}/endpoints/{model}:{method}"));
    }
    Some(format!("/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}"))
}

/// Vertex AI's host for a location: `aiplatform.googleapis.com` for `global`, else
/// `<location>-aiplatform.googleapis.com`.
pub fn vertex_host(location: &str) -> String {
    if location == "global" {
        return "aiplatform.googleapis.com".to_owned();
    }
    format!("{location}-aiplatform.googleapis.com")
}

/// The method part of a call's path.
fn method(endpoint: Endpoint, stream: bool, embed: &'static str) -> Option<&'static str> {
    match endpoint {
        Endpoint::ChatCompletions if stream => Some("streamGenerateContent?alt=sse"),
        Endpoint::ChatCompletions => Some("generateContent"),
        Endpoint::Embeddings => Some(embed),
        Endpoint::Completions => None,
    }
}
