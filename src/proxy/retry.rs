//! Retry and fallback decisions: which failures another attempt can fix, which fallback list applies,
//! and how long to wait before the next attempt.
//!
//! Only failures before the first byte reached the client are retried; after that the stream ends with
//! an error event (proxy/response.rs).

use std::time::Duration;

use crate::error::Error;
use crate::router::FailureKind;

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The provider or the network failed: retry (another deployment first), then the group's fallbacks.
    Retry(FailureKind),
    /// The prompt is too long for the model: `context_window_fallbacks` only, no retry.
    ContextWindow,
    /// The provider refused on content policy: `content_policy_fallbacks` only, no retry.
    ContentPolicy,
    /// The request itself is wrong (400, 401, 404, ...): answer now.
    Answer,
}

/// Classifies an attempt's error (LiteLLM retries connection errors, timeouts, 429 and 5xx).
pub fn classify(e: &Error) -> Next {
    match e {
        Error::UpstreamTransport { .. } => Next::Retry(FailureKind::Connect),
        // A 200 that is not JSON, or a stream cut short: the provider is broken, as with a 5xx.
        Error::UpstreamBadAnswer { .. } => Next::Retry(FailureKind::ServerError),
        Error::UpstreamTimeout(..) => Next::Retry(FailureKind::Timeout),
        Error::UpstreamStatus { status: 429, .. } => Next::Retry(FailureKind::RateLimited),
        Error::UpstreamStatus { status, .. } if *status >= 500 => Next::Retry(FailureKind::ServerError),
        Error::UpstreamStatus { status: 400 | 413 | 422, body, .. } => {
            let text = String::from_utf8_lossy(body).to_ascii_lowercase();
            if is_context_window(&text) {
                Next::ContextWindow
            } else if is_content_policy(&text) {
                Next::ContentPolicy
            } else {
                Next::Answer
            }
        }
        // 408 from a provider is its own timeout: worth another attempt.
        Error::UpstreamStatus { status: 408, .. } => Next::Retry(FailureKind::Timeout),
        _ => Next::Answer,
    }
}

/// The markers LiteLLM's exception mapping looks for (OpenAI, Azure, Anthropic, vLLM wordings).
fn is_context_window(text: &str) -> bool {
    ["context_length_exceeded", "maximum context length", "context window", "prompt is too long", "too many tokens"]
        .iter()
        .any(|m| text.contains(m))
}

/// Content-filter refusals (OpenAI/Azure `content_policy_violation`, `content_filter`).
fn is_content_policy(text: &str) -> bool {
    ["content_policy_violation", "content_filter", "content management policy", "responsibleaipolicyviolation"]
        .iter()
        .any(|m| text.contains(m))
}

/// The wait before attempt number `retry` (1 for the first retry). With another deployment to go to,
/// LiteLLM retries at once; on the same deployment it backs off exponentially from 0.5 s (capped at
/// 8 s), waiting at least the provider's `Retry-After` (capped at 60 s) and `router_settings.retry_after`.
pub fn backoff(
    retry: u32,
    other_deployment: bool,
    provider_retry_after: Option<Duration>,
    floor: Duration,
) -> Duration {
    if other_deployment {
        return floor;
    }
    let exp =
        Duration::from_millis(500).saturating_mul(1u32 << retry.saturating_sub(1).min(4)).min(Duration::from_secs(8));
    let header = provider_retry_after.unwrap_or_default().min(Duration::from_secs(60));
    exp.max(header).max(floor)
}

/// The provider's `Retry-After` carried by an error, if any.
pub fn retry_after_of(e: &Error) -> Option<Duration> {
    match e {
        Error::UpstreamStatus { retry_after, .. } => *retry_after,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn status(status: u16, body: &'static str) -> Error {
        Error::UpstreamStatus { status, body: Bytes::from_static(body.as_bytes()), retry_after: None }
    }

    #[test]
    fn provider_and_network_failures_are_retried_request_errors_are_not() {
        assert_eq!(classify(&status(503, "{}")), Next::Retry(FailureKind::ServerError));
        assert_eq!(classify(&status(429, "{}")), Next::Retry(FailureKind::RateLimited));
        assert_eq!(classify(&Error::UpstreamTimeout(1.0, "d".into())), Next::Retry(FailureKind::Timeout));
        assert_eq!(classify(&status(401, "{}")), Next::Answer);
        assert_eq!(classify(&status(400, r#"{"error":{"message":"bad"}}"#)), Next::Answer);
    }

    #[test]
    fn context_window_and_content_policy_are_recognised() {
        let cw = r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#;
        assert_eq!(classify(&status(400, cw)), Next::ContextWindow);
        let cp = r#"{"error":{"message":"refused","code":"content_policy_violation"}}"#;
        assert_eq!(classify(&status(400, cp)), Next::ContentPolicy);
    }

    #[test]
    fn backoff_is_immediate_with_another_deployment_and_grows_on_the_same_one() {
        assert_eq!(backoff(1, true, None, Duration::ZERO), Duration::ZERO);
        assert_eq!(backoff(1, false, None, Duration::ZERO), Duration::from_millis(500));
        assert_eq!(backoff(2, false, None, Duration::ZERO), Duration::from_secs(1));
        assert_eq!(backoff(9, false, None, Duration::ZERO), Duration::from_secs(8));
        assert_eq!(backoff(1, false, Some(Duration::from_secs(3)), Duration::ZERO), Duration::from_secs(3));
        assert_eq!(backoff(1, true, None, Duration::from_secs(2)), Duration::from_secs(2));
    }
}
