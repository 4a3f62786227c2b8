//! Cohere's error answers -> OpenAI's `{"error": {"message","type","param","code"}}`.
//!
//! Cohere answers an error with its HTTP status and `{"message": "..."}`, some with an `id` too
//! (<https://docs.cohere.com/reference/errors>). The status is kept, except Cohere's own 498 ("invalid
//! token"), which is a 401 to an OpenAI client; the `type` follows the status:
//!
//! | Cohere status | OpenAI status | `type` |
//! |---|---|---|
//! | 401, 403 | same | `authentication_error` |
//! | 498 (invalid token) | 401 | `authentication_error` |
//! | 429 | 429 | `rate_limit_error` |
//! | 400, 402, 404, 422, 499 and other 4xx | same | `invalid_request_error` |
//! | 5xx and anything else | same | `api_error` |
//!
//! `code` is the status as a string, `param` is `null` (Cohere does not say which parameter).

use super::wire::ErrorBody;
use crate::openai;

/// An OpenAI-shaped error (status, body) for the provider's error answer.
pub fn error(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    let status = match status {
        498 => 401,
        other => other,
    };
    let message = match serde_json::from_slice::<ErrorBody<'_>>(body) {
        Ok(ErrorBody { message: Some(message) }) => message.into_owned(),
        // Already OpenAI-shaped (a proxy in front of Cohere), or not JSON at all.
        _ => return crate::openai_error_from(status, body),
    };
    let code = status.to_string();
    (status, openai::error_body(&message, error_type(status), None, Some(&code)))
}

/// OpenAI's error `type` for a status.
pub(super) fn error_type(status: u16) -> &'static str {
    match status {
        401 | 403 => "authentication_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}
