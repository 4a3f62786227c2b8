//! Google's error bodies -> OpenAI's: `{"error": {"code": 429, "message": "...", "status":
//! "RESOURCE_EXHAUSTED", "details": [...]}}` (both APIs; Vertex sometimes wraps it in an array) becomes
//! `{"error": {"message", "type", "param": null, "code": "<status>"}}`.
//!
//! | Google | HTTP status sent on | OpenAI `type` |
//! |---|---|---|
//! | `RESOURCE_EXHAUSTED` (429) | 429 | `rate_limit_error` |
//! | `UNAUTHENTICATED` (401), `PERMISSION_DENIED` (403) | 401 / 403 | `authentication_error` |
//! | `INVALID_ARGUMENT` (400) with reason `API_KEY_INVALID` | 401 (OpenAI's status for a bad key) | `authentication_error` |
//! | other 4xx (`INVALID_ARGUMENT`, `NOT_FOUND`, `FAILED_PRECONDITION`, ...) | as received | `invalid_request_error` |
//! | 5xx (`INTERNAL`, `UNAVAILABLE`, `DEADLINE_EXCEEDED`) | as received | `api_error` |
//!
//! A body that is not Google's shape is handed to the crate's generic wrapper (`openai_error_from`).

use super::wire::{ErrorBody, GoogleError};
use crate::openai;
use crate::TranslateError;

/// An OpenAI-shaped error (status, body) for Google's error answer.
pub fn error(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    let parsed = serde_json::from_slice::<ErrorBody<'_>>(body)
        .ok()
        .or_else(|| serde_json::from_slice::<Vec<ErrorBody<'_>>>(body).ok().and_then(|v| v.into_iter().next()));
    let Some(ErrorBody { error }) = parsed else {
        return crate::openai_error_from(status, body);
    };
    let status = effective_status(status, &error);
    let message = message_of(&error, status);
    (status, openai::error_body(&message, error_type(status), None, Some(&status.to_string())))
}

/// The OpenAI error `type` for an HTTP status (the crate-wide convention).
pub fn error_type(status: u16) -> &'static str {
    match status {
        429 => "rate_limit_error",
        401 | 403 => "authentication_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The HTTP status for a `google.rpc.Code` name (`https://cloud.google.com/apis/design/errors`).
pub fn status_of_code_name(name: &str) -> Option<u16> {
    let status = match name {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => 400,
        "UNAUTHENTICATED" => 401,
        "PERMISSION_DENIED" => 403,
        "NOT_FOUND" => 404,
        "ABORTED" | "ALREADY_EXISTS" => 409,
        "RESOURCE_EXHAUSTED" => 429,
        "CANCELLED" => 499,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => 500,
        "UNIMPLEMENTED" => 501,
        "UNAVAILABLE" => 503,
        "DEADLINE_EXCEEDED" => 504,
        _ => return None,
    };
    Some(status)
}

/// The status to answer with: a bad API key is 401 as OpenAI answers it (Google says 400), else the
/// HTTP status, else the body's `code`, else its `status` name.
fn effective_status(http_status: u16, error: &GoogleError<'_>) -> u16 {
    if error.details.iter().any(|d| d.reason.as_deref() == Some("API_KEY_INVALID")) {
        return 401;
    }
    if (400..=599).contains(&http_status) {
        return http_status;
    }
    error
        .code
        .filter(|c| (400..=599).contains(c))
        .or_else(|| error.status.as_deref().and_then(status_of_code_name))
        .unwrap_or(500)
}

/// The message, or the status name when Google gave none.
fn message_of(error: &GoogleError<'_>, status: u16) -> String {
    match (&error.message, &error.status) {
        (Some(message), _) if !message.is_empty() => message.to_string(),
        (_, Some(name)) => name.to_string(),
        _ => format!("Gemini answered {status}"),
    }
}

/// An error event inside a stream (`data: {"error": {...}}`) as the error the gateway reports.
pub(crate) fn stream_error(error: &GoogleError<'_>) -> TranslateError {
    let status = effective_status(0, error);
    TranslateError::ProviderStreamError { status, message: message_of(error, status) }
}
