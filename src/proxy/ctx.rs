//! All per-request state in one typed struct; per-attempt state is a sub-struct reset per attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::access::Caller;
use crate::reload::{InFlight, Snapshot};
use crate::spend::Ticket;

/// Per-request state, created in `new_ctx`.
pub struct RequestCtx {
    /// The config this request started with; a reload does not change it.
    pub snapshot: Arc<Snapshot>,
    /// `x-litellm-call-id`.
    pub call_id: String,
    /// When the request was accepted by the gateway.
    pub started: Instant,
    /// The model group asked for, once known.
    pub model_group: Option<String>,
    /// The deployment that served (or last failed) the request.
    pub deployment_id: Option<String>,
    /// The status sent to the client.
    pub status: u16,
    /// Whether response headers have gone to the client (no retry, no error body after that).
    pub response_started: bool,
    /// Retries made within model groups (`x-litellm-attempted-retries`).
    pub attempted_retries: u32,
    /// Fallback groups tried (`x-litellm-attempted-fallbacks`).
    pub attempted_fallbacks: u32,
    /// The error label of a failed request, for logs and metrics.
    pub error_label: Option<&'static str>,
    /// Time spent waiting on providers (connect, send, until headers; whole bodies when buffered) and
    /// in retry backoff: not the gateway's own overhead.
    pub waited: Duration,
    /// The current attempt.
    pub attempt: Attempt,
    /// Who is calling, once authenticated.
    pub caller: Option<Caller>,
    /// The request's `user` field: the end-user (customer) whose budget also applies.
    pub end_user: Option<String>,
    /// The reservation against the caller's budgets and limits, settled in the logging hook.
    pub ticket: Option<Ticket>,
    /// The answering deployment's rpm/tpm reservation (with Redis), settled with the call's tokens.
    pub deployment_ticket: Option<Ticket>,
    /// Tokens of the call that answered: the provider's usage, or an estimate of what a stream produced
    /// before it was cut.
    pub usage: Option<tollgate_filters::usage::Usage>,
    /// What the call cost in USD (`x-litellm-response-cost`), once known.
    pub cost: Option<f64>,
    /// Each provider failure of this call (deployment id, reason), logged once at its end.
    pub provider_failures: Vec<(String, String)>,
    /// Keeps the request counted as in flight until the context is dropped.
    _in_flight: InFlight,
}

/// State of one call to one deployment, reset for every attempt.
pub struct Attempt {
    /// 0 for the first attempt of the request, then one more per retry or fallback.
    pub number: u32,
    /// When this attempt started.
    pub started: Instant,
}

impl Attempt {
    /// A fresh attempt.
    pub fn new(number: u32, started: Instant) -> Self {
        Attempt { number, started }
    }
}

impl RequestCtx {
    /// A fresh context on the current snapshot.
    pub fn new(snapshot: Arc<Snapshot>, in_flight: InFlight) -> Self {
        RequestCtx {
            snapshot,
            call_id: uuid::Uuid::new_v4().to_string(),
            started: Instant::now(),
            model_group: None,
            deployment_id: None,
            status: 0,
            response_started: false,
            error_label: None,
            attempted_retries: 0,
            attempted_fallbacks: 0,
            waited: Duration::ZERO,
            attempt: Attempt::new(0, Instant::now()),
            caller: None,
            end_user: None,
            ticket: None,
            deployment_ticket: None,
            usage: None,
            cost: None,
            provider_failures: Vec::new(),
            _in_flight: in_flight,
        }
    }

    /// What the gateway itself added so far: time since accept minus time spent waiting on the provider.
    pub fn overhead(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started).saturating_sub(self.waited)
    }
}
