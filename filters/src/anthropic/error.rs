//! Anthropic's errors -> OpenAI's: the HTTP status a client sees and the `type` of its error body, for error
//! answers and for the `error` event of a stream.
//!
//! Reference: <https://platform.claude.com/docs/en/api/errors>. The body is
//! `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_..."}`.

use super::wire::ErrorBody;
use crate::openai;

/// The status table, written once: Anthropic's error (by HTTP status, or by `error.type` where there is no
/// status, as in a stream) -> the status the client gets.
///
/// | Anthropic | status | `error.type` | client status | note |
/// |---|---|---|---|---|
/// | bad request | 400 | `invalid_request_error` | 400 | |
/// | bad key | 401 | `authentication_error` | 401 | |
/// | billing | 402 | `billing_error` | 402 | |
/// | no permission | 403 | `permission_error` | 403 | |
/// | not found | 404 | `not_found_error` | 404 | |
/// | body too large | 413 | `request_too_large` | 400 | LiteLLM raises `BadRequestError` for 400 and 413 |
/// | rate limited | 429 | `rate_limit_error` | 429 | |
/// | internal error | 500 | `api_error` | 500 | |
/// | timed out | 504 | `timeout_error` | 504 | |
/// | overloaded | 529 | `overloaded_error` | 500 | LiteLLM raises `InternalServerError` (500) for 529 and for any `overloaded_error`; 529 is no HTTP status a client library knows |
///
/// Source: LiteLLM `litellm_core_utils/exception_mapping_utils.py`, the `anthropic` branch. The gateway
/// retries and falls back on any 5xx, so 529 -> 500 keeps an overloaded deployment retryable.
pub fn client_status(status: u16) -> u16 {
    match status {
        413 => 400,
        529 => 500,
        other => other,
    }
}

/// The status of an `error.type` when there is no HTTP status to go by (a stream's `error` event arrives
/// after a 200); unknown types are 500, as LiteLLM treats every stream error event.
pub fn status_of_type(kind: &str) -> u16 {
    let status = match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        // api_error and anything new.
        _ => 500,
    };
    client_status(status)
}

/// OpenAI's error `type` for a client status: 429 `rate_limit_error`, 401/403 `authentication_error`,
/// other 4xx `invalid_request_error`, 5xx `api_error`.
pub fn openai_type(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_error",
        401 | 403 => "authentication_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An OpenAI-shaped error (status, body) for an Anthropic error answer.
///
/// The message is Anthropic's `error.message` as it is (LiteLLM prefixes `AnthropicException - `; we do
/// not, the message is the provider's). Anthropic's `error.type` is not carried (lossy: the OpenAI `type` is
/// chosen from the status, the `code` is the status as a string, `param` is null). A body that is not
/// Anthropic's error shape (a proxy's HTML page, an empty body) goes through [`crate::openai_error_from`].
pub fn error(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    let Ok(parsed) = serde_json::from_slice::<ErrorBody<'_>>(body) else {
        return crate::openai_error_from(client_status(status), body);
    };
    if parsed.kind != "error" {
        return crate::openai_error_from(client_status(status), body);
    }
    let status = if (400..=599).contains(&status) {
        client_status(status)
    } else {
        // A 2xx/3xx carrying an error body: judge it by its type.
        status_of_type(parsed.error.kind.as_deref().unwrap_or("api_error"))
    };
    let message = parsed.error.message.as_deref().unwrap_or("the provider answered with an error");
    let code = status.to_string();
    (status, openai::error_body(message, openai_type(status), None, Some(&code)))
}
