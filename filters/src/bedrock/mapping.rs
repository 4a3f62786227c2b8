//! The mapping tables of the Bedrock translator, each written once: stop reasons, usage, error types.
//!
//! They decide what a client is told and what a customer is billed, so every lossy row says so.

use serde::Deserialize;

use crate::Usage;

/// Bedrock `stopReason` -> OpenAI `finish_reason`.
///
/// | Bedrock | OpenAI | note |
/// |---|---|---|
/// | `end_turn` | `stop` | |
/// | `stop_sequence` | `stop` | OpenAI does not say which sequence either |
/// | `max_tokens` | `length` | |
/// | `model_context_window_exceeded` | `length` | LiteLLM has no row and falls back to `stop`; the answer *was* cut |
/// | `tool_use` | `tool_calls` | |
/// | `guardrail_intervened` | `content_filter` | as LiteLLM's `map_finish_reason` |
/// | `content_filtered` | `content_filter` | as LiteLLM's `map_finish_reason` |
/// | anything else | `stop` | lossy: LiteLLM's default for unmapped reasons |
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
}

/// Bedrock's `TokenUsage` (Converse's `usage`, ConverseStream's `metadata.usage`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Input tokens that were neither read from nor written to the prompt cache.
    #[serde(default)]
    pub input_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache (absent when caching was not used).
    pub cache_read_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache (absent when caching was not used).
    pub cache_write_input_tokens: Option<u64>,
}

impl TokenUsage {
    /// Our [`Usage`] (see the Bedrock row of the table in `usage.rs`).
    ///
    /// Bedrock's `inputTokens` excludes the cached tokens (`totalTokens` = input + output + cache read + cache
    /// write), so `prompt_tokens` adds both cache counts back, as LiteLLM's `_transform_usage` does; the cache
    /// counts stay `None` when Bedrock did not send them and `Some(0)` when it said zero.
    pub fn to_usage(self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let written = self.cache_write_input_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: self.input_tokens.saturating_add(cached).saturating_add(written),
            completion_tokens: self.output_tokens,
            cached_tokens: self.cache_read_input_tokens,
            cache_creation_tokens: self.cache_write_input_tokens,
            // Bedrock counts reasoning inside `outputTokens` and does not break it out.
            reasoning_tokens: None,
        }
    }
}

/// An error Bedrock names (the `x-amzn-ErrorType` header, an in-stream `:exception-type`, or the body's
/// `__type`), as the HTTP status and OpenAI `type` a client gets.
///
/// | Bedrock error | status | OpenAI type |
/// |---|---|---|
/// | `ValidationException` | 400 | `invalid_request_error` |
/// | `AccessDeniedException`, `UnrecognizedClientException`, `InvalidSignatureException`, `IncompleteSignatureException`, `MissingAuthenticationTokenException`, `ExpiredTokenException` | 403 | `authentication_error` |
/// | `ResourceNotFoundException` | 404 | `invalid_request_error` |
/// | `ModelTimeoutException` | 408 | `api_error` (the model's fault, not the client's) |
/// | `ModelErrorException`, `ModelStreamErrorException` | 424 | `api_error` (AWS's status kept; the model failed) |
/// | `ThrottlingException`, `ModelNotReadyException`, `ServiceQuotaExceededException`, `TooManyRequestsException` | 429 | `rate_limit_error` |
/// | `InternalServerException` | 500 | `api_error` |
/// | `ServiceUnavailableException` | 503 | `api_error` |
///
/// Names are matched case-insensitively and without anything after a `:` (the header's value is
/// `ValidationException:http://internal.amazon.com/coral/...`; in-stream names start lower-case).
pub fn error_kind(name: &str) -> Option<(u16, &'static str)> {
    let name = name.split(':').next().unwrap_or(name).trim();
    let name = name.rsplit('#').next().unwrap_or(name);
    let is = |known: &str| name.eq_ignore_ascii_case(known);
    let kind = if is("ValidationException") {
        (400, "invalid_request_error")
    } else if is("AccessDeniedException")
        || is("UnrecognizedClientException")
        || is("InvalidSignatureException")
        || is("IncompleteSignatureException")
        || is("MissingAuthenticationTokenException")
        || is("ExpiredTokenException")
    {
        (403, "authentication_error")
    } else if is("ResourceNotFoundException") {
        (404, "invalid_request_error")
    } else if is("ModelTimeoutException") {
        (408, "api_error")
    } else if is("ModelErrorException") || is("ModelStreamErrorException") {
        (424, "api_error")
    } else if is("ThrottlingException")
        || is("ModelNotReadyException")
        || is("ServiceQuotaExceededException")
        || is("TooManyRequestsException")
    {
        (429, "rate_limit_error")
    } else if is("InternalServerException") {
        (500, "api_error")
    } else if is("ServiceUnavailableException") {
        (503, "api_error")
    } else {
        return None;
    };
    Some(kind)
}

/// The OpenAI `type` for a status when Bedrock did not name the error.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_error",
        401 | 403 => "authentication_error",
        408 | 424 => "api_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}
