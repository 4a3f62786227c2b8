//! Cooldowns: when a deployment gets no traffic for a while, and why.
//!
//! LiteLLM's rules (`litellm/router_utils/cooldown_handlers.py`, `litellm/constants.py`), as we apply them:
//!
//! | what happens | LiteLLM | Tollgate |
//! |---|---|---|
//! | failures that count | 429, 401, 404, 408, 5xx (`_is_cooldown_required`); other 4xx never | [`FailureKind::Connect`], `Timeout`, `RateLimited`, `ServerError`; `ContextWindow` and `ContentPolicy` never: they are the request's fault, not the deployment's |
//! | too many failures | more than `allowed_fails` in the current minute (`updated_fails > allowed_fails`) | the same, counted per minute window |
//! | a 429 | cools down at once (`exception_status == 429`), except in a group of one deployment | at once, in any group: our [`crate::router::Router::order`] still returns a lone cooling deployment, so cooling it cannot answer "no deployments" (LiteLLM's reason for the exception) and /health tells the truth |
//! | for how long | `cooldown_time`, default `DEFAULT_COOLDOWN_TIME_SECONDS` = 5 | the same; a longer `Retry-After` extends it (capped at [`MAX_RETRY_AFTER`]) |
//! | a failure with `Retry-After` | counted like any other | cools down at once: the provider has said when it will take calls again |
//! | after a cooldown | the fail counter expires after `cooldown_time` | the minute's count starts again from zero |
//! | defaults | `DEFAULT_ALLOWED_FAILS` = 3 | the same |
//! | `disable_cooldowns: true` | no cooldown at all | no cooldown, and no skipping on `x-ratelimit-remaining: 0` either |
//!
//! A provider that answers `x-ratelimit-remaining-requests: 0` (or `-tokens: 0`) is skipped until the
//! reset it announces (`x-ratelimit-reset-*`), or [`DEFAULT_RATE_LIMIT_RESET`] when it gives none: the next
//! call would only earn a 429.
//!
//! LiteLLM connection errors ("APIConnectionError") do not cool a deployment down; ours do, because a
//! [`FailureKind::Connect`] here is a refused or broken TCP/TLS connection to the provider, not LiteLLM's
//! catch-all for its own exceptions.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::clock::{minute_of, saturating_nanos, MinuteCount};
use crate::config::RouterSettings;

/// LiteLLM's `DEFAULT_ALLOWED_FAILS` (`litellm/constants.py`).
pub const DEFAULT_ALLOWED_FAILS: u32 = 3;
/// LiteLLM's `DEFAULT_COOLDOWN_TIME_SECONDS` (`litellm/constants.py`).
pub const DEFAULT_COOLDOWN_TIME: Duration = Duration::from_secs(5);
/// The longest `Retry-After` we honour: a provider's typo must not take a deployment away for a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);
/// How long a deployment at `x-ratelimit-remaining: 0` is skipped when the provider gives no reset.
pub const DEFAULT_RATE_LIMIT_RESET: Duration = Duration::from_secs(1);
/// The longest skip for `x-ratelimit-remaining: 0`: limits are per minute and refill as they go, so a
/// "reset in 6m0s" (the whole token bucket) does not mean nothing is left for six minutes.
pub const MAX_RATE_LIMIT_RESET: Duration = Duration::from_secs(60);

/// Why a call failed on the provider's side, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The provider could not be reached (refused, reset, TLS failure, DNS).
    Connect,
    /// No answer (or no first byte of a stream) within the deployment's timeout.
    Timeout,
    /// 429 from the provider.
    RateLimited,
    /// 5xx from the provider.
    ServerError,
    /// The prompt is too long for the model: the request's fault, never counted toward a cooldown.
    ContextWindow,
    /// The provider's content filter refused the request: the request's fault, never counted.
    ContentPolicy,
}

impl FailureKind {
    /// Whether this failure is the deployment's fault and so counts toward a cooldown.
    pub fn counts(self) -> bool {
        match self {
            FailureKind::Connect | FailureKind::Timeout | FailureKind::RateLimited | FailureKind::ServerError => true,
            FailureKind::ContextWindow | FailureKind::ContentPolicy => false,
        }
    }

    /// A short label for /health, logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect_error",
            FailureKind::Timeout => "timeout",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::ServerError => "server_error",
            FailureKind::ContextWindow => "context_window_exceeded",
            FailureKind::ContentPolicy => "content_policy_violation",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Connect => "the provider could not be reached",
            FailureKind::Timeout => "the provider did not answer in time",
            FailureKind::RateLimited => "the provider answered 429 (rate limited)",
            FailureKind::ServerError => "the provider answered a server error",
            FailureKind::ContextWindow => "the prompt exceeded the model's context window",
            FailureKind::ContentPolicy => "the provider's content policy refused the request",
        })
    }
}

/// The cooldown settings of one config, read once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Failures allowed in a minute; one more cools the deployment down.
    pub allowed_fails: u64,
    /// How long a cooldown lasts (nanoseconds).
    pub cooldown: u64,
    /// `disable_cooldowns`.
    pub disabled: bool,
}

impl Policy {
    /// The policy of `router_settings`, with LiteLLM's defaults.
    pub(crate) fn from_settings(s: &RouterSettings) -> Policy {
        Policy {
            allowed_fails: u64::from(s.allowed_fails.unwrap_or(DEFAULT_ALLOWED_FAILS)),
            cooldown: saturating_nanos(s.cooldown_time.unwrap_or(DEFAULT_COOLDOWN_TIME)),
            disabled: s.disable_cooldowns,
        }
    }
}

/// The last failure, kept for /health.
#[derive(Debug, Clone)]
pub(crate) struct LastFailure {
    pub kind: FailureKind,
    pub detail: String,
}

/// The cooldown state of one deployment (times in nanoseconds since the router's epoch; 0 = none).
#[derive(Debug, Default)]
pub(crate) struct Cooldown {
    /// No traffic before this (a cooldown).
    cooling_until: AtomicU64,
    /// No traffic before this (the provider said `x-ratelimit-remaining: 0`).
    limited_until: AtomicU64,
    /// Counted failures in the current minute.
    fails: MinuteCount,
    /// Whether the last call failed on the provider's side.
    last_failed: AtomicBool,
    /// The last counted failure.
    last: Mutex<Option<LastFailure>>,
}

impl Cooldown {
    /// Whether the deployment may get traffic at `t`.
    pub(crate) fn available(&self, t: u64) -> bool {
        t >= self.cooling_until.load(Ordering::Relaxed) && t >= self.limited_until.load(Ordering::Relaxed)
    }

    /// When the deployment gets traffic again (at or before `t` when it already does).
    pub(crate) fn back_at(&self) -> u64 {
        self.cooling_until.load(Ordering::Relaxed).max(self.limited_until.load(Ordering::Relaxed))
    }

    /// Counted failures in the minute of `t`.
    pub(crate) fn failures(&self, t: u64) -> u64 {
        self.fails.get(minute_of(t))
    }

    /// A call that the provider answered: the deployment is healthy again as far as /health goes.
    pub(crate) fn on_success(&self) {
        self.last_failed.store(false, Ordering::Relaxed);
    }

    /// A failed call at `t`; returns when the deployment's cooldown ends if this failure started or
    /// extended one.
    pub(crate) fn on_failure(
        &self,
        kind: FailureKind,
        retry_after: Option<Duration>,
        detail: &str,
        t: u64,
        policy: &Policy,
    ) -> Option<u64> {
        if !kind.counts() {
            // The request's fault: the provider did answer, so the deployment is as healthy as it was.
            return None;
        }
        self.last_failed.store(true, Ordering::Relaxed);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(LastFailure { kind, detail: detail.to_string() });
        if policy.disabled {
            return None;
        }
        let minute = minute_of(t);
        let fails = self.fails.add(minute, 1);
        // A 429, or any failure with a Retry-After (the provider names the time it is unavailable), cools
        // down at once; other failures once there are more than `allowed_fails` this minute.
        let now_cool = kind == FailureKind::RateLimited || retry_after.is_some() || fails > policy.allowed_fails;
        if !now_cool {
            return None;
        }
        let wait = retry_after.map_or(0, |r| saturating_nanos(r.min(MAX_RETRY_AFTER))).max(policy.cooldown);
        let until = t.saturating_add(wait);
        // A cooldown is never shortened by a later, shorter one.
        self.cooling_until.fetch_max(until, Ordering::Relaxed);
        // The count starts afresh: after the cooldown a deployment gets `allowed_fails` again.
        self.fails.clear(minute);
        Some(until)
    }

    /// `x-ratelimit-remaining-*` at `t`: skip the deployment until the reset when nothing remains, and
    /// lift an earlier skip when the provider shows room again.
    pub(crate) fn on_rate_limit(
        &self,
        remaining_requests: Option<u64>,
        remaining_tokens: Option<u64>,
        reset: Option<Duration>,
        t: u64,
        policy: &Policy,
    ) {
        if policy.disabled {
            return;
        }
        let exhausted = remaining_requests == Some(0) || remaining_tokens == Some(0);
        if exhausted {
            let wait = reset.unwrap_or(DEFAULT_RATE_LIMIT_RESET).min(MAX_RATE_LIMIT_RESET);
            self.limited_until.fetch_max(t.saturating_add(saturating_nanos(wait)), Ordering::Relaxed);
        } else if remaining_requests.is_some() || remaining_tokens.is_some() {
            self.limited_until.store(0, Ordering::Relaxed);
        }
    }

    /// Why /health should list the deployment as unhealthy at `t`, if it should.
    pub(crate) fn reason(&self, t: u64) -> Option<String> {
        let cooling = self.cooling_until.load(Ordering::Relaxed);
        let limited = self.limited_until.load(Ordering::Relaxed);
        let last = self.last_failure();
        let last_text = || match &last {
            Some(l) if l.detail.is_empty() => l.kind.to_string(),
            Some(l) => format!("{}: {}", l.kind, l.detail),
            None => "failures".to_string(),
        };
        if cooling > t {
            let left = Duration::from_nanos(cooling - t).as_secs_f64();
            return Some(format!("cooling down for {left:.1}s after: {}", last_text()));
        }
        if limited > t {
            let left = Duration::from_nanos(limited - t).as_secs_f64();
            return Some(format!("provider rate limit exhausted (x-ratelimit-remaining: 0) for {left:.1}s"));
        }
        if self.last_failed.load(Ordering::Relaxed) {
            return Some(last_text());
        }
        None
    }

    /// How long until the cooldown ends, if one is running at `t`.
    pub(crate) fn cooling_left(&self, t: u64) -> Option<Duration> {
        let until = self.cooling_until.load(Ordering::Relaxed);
        (until > t).then(|| Duration::from_nanos(until - t))
    }

    /// How long until the rate-limit skip ends, if one is running at `t`.
    pub(crate) fn limited_left(&self, t: u64) -> Option<Duration> {
        let until = self.limited_until.load(Ordering::Relaxed);
        (until > t).then(|| Duration::from_nanos(until - t))
    }

    /// The last counted failure.
    pub(crate) fn last_failure(&self) -> Option<LastFailure> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}
