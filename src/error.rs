//! The gateway's one error enum: every variant knows its HTTP status, its OpenAI `type`/`code` and a
//! low-cardinality metric label, and renders as OpenAI's `{"error": {...}}` body.

use bytes::Bytes;
use tollgate_filters::TranslateError;

/// An error a client sees. The message is the `Display` text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No key, or a wrong one.
    #[error("Authentication Error, {0}")]
    Unauthorized(String),
    /// The body is not the JSON we need.
    #[error("{message}")]
    BadRequest {
        /// What is wrong, naming the field.
        message: String,
        /// The offending parameter, when there is one.
        param: Option<&'static str>,
    },
    /// The requested model group does not exist.
    #[error("Invalid model name passed in model={0}. Call `/v1/models` to view available models for your key.")]
    UnknownModel(String),
    /// The model exists but its provider is not served yet.
    #[error("provider \"{provider}\" (model={model}) is not supported by Tollgate yet")]
    ProviderNotServed {
        /// The provider prefix from the config.
        provider: String,
        /// The model group.
        model: String,
    },
    /// No route with this path.
    #[error("Route not found: {0}")]
    RouteNotFound(String),
    /// No deployment of the group can take the call now (all at their rpm/tpm limit).
    #[error("No deployments available for selected model={model}: {reason}")]
    NoDeployment {
        /// The model group.
        model: String,
        /// Why, without secrets.
        reason: String,
    },
    /// The route exists but not for this method.
    #[error("Method {method} not allowed for {path}")]
    MethodNotAllowed {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// The request body is larger than `max_request_size_mb`.
    #[error("Request size is too large. Request size is {size} bytes, max size is {max} bytes")]
    PayloadTooLarge {
        /// Bytes received (or announced).
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The client did not send its whole request (head or body) in time.
    #[error("Request timeout: the request did not arrive within {0} s")]
    ClientTimeout(u64),
    /// The request head is too large (bytes or header fields).
    #[error("Request header fields too large: {0}")]
    HeaderTooLarge(String),
    /// The request is not valid HTTP/1.1 (framing, syntax).
    #[error("Malformed request: {0}")]
    MalformedRequest(String),
    /// `--max-connections` client connections are open already.
    #[error("Too many connections: the gateway serves at most {0} client connections at once; retry shortly")]
    TooManyConnections(usize),
    /// The client went away or sent a broken body.
    #[error("could not read the request body: {0}")]
    ClientBody(String),
    /// The provider took longer than the deployment's timeout.
    #[error("Request timed out after {0:.1} seconds (deployment {1})")]
    UpstreamTimeout(f64, String),
    /// The provider could not be reached or broke the connection.
    #[error("Could not reach the provider for deployment {deployment}: {reason}")]
    UpstreamTransport {
        /// The deployment id.
        deployment: String,
        /// What failed.
        reason: String,
    },
    /// The provider answered a success that is not what its API promises (not JSON, not the stream
    /// asked for, a stream cut short): its failure, retried elsewhere like a 5xx.
    #[error("The provider of deployment {deployment} answered something its API does not send: {reason}")]
    UpstreamBadAnswer {
        /// The deployment id.
        deployment: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The provider answered an error status; its body is passed on (made OpenAI-shaped if it was not).
    #[error("provider answered {status}")]
    UpstreamStatus {
        /// The provider's status.
        status: u16,
        /// The provider's body, already OpenAI-shaped.
        body: Bytes,
        /// The provider's `Retry-After`, passed on with a 429.
        retry_after: Option<std::time::Duration>,
    },
    /// The key may not use this model (its own list, or its team's).
    #[error("{message}")]
    ModelNotAllowed {
        /// Which list refused: `key_model_access_denied` or `team_model_access_denied` (LiteLLM's types).
        kind: &'static str,
        /// What was refused, naming the model and the allowed ones.
        message: String,
    },
    /// A budget in the key's chain is spent: LiteLLM's message for that budget (with its amounts, as
    /// LiteLLM gives them), and LiteLLM's status (`litellm_settings.budget_exceeded_status_code`, 422).
    #[error("{message}")]
    BudgetExceeded {
        /// `key`, `team`, `user` or `end_user`.
        scope: &'static str,
        /// LiteLLM's wording for the scope, e.g. `Budget has been exceeded! Key=ci Current cost: 1.0, Max
        /// budget: 1.0`.
        message: String,
        /// The status the client gets.
        status: u16,
    },
    /// An rpm, tpm or parallel-request limit of the key, team, user or deployment is reached.
    #[error("Rate limit reached for {scope}: {limit} {kind} {per}. Retry after {retry_after_secs} s", per = if *kind == "parallel requests" { "at once" } else { "per minute" })]
    RateLimited {
        /// `key`, `team`, `user`, `end_user` or `deployment`.
        scope: &'static str,
        /// `requests`, `tokens` or `parallel requests`.
        kind: &'static str,
        /// The limit.
        limit: u64,
        /// Seconds until it frees up (`Retry-After`).
        retry_after_secs: u64,
    },
    /// An admin-API answer other than success (its status, type and message as LiteLLM gives them).
    #[error("{message}")]
    Admin {
        /// HTTP status.
        status: u16,
        /// OpenAI `type`.
        kind: &'static str,
        /// What went wrong.
        message: String,
        /// The offending field.
        param: Option<String>,
    },
    /// Counters cannot be checked (Redis down with `fail_closed`).
    #[error("Budget and rate limits cannot be checked now: {0}")]
    LimitsUnavailable(String),
    /// A bug or an impossible state; never a client's fault.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status the client gets.
    pub fn status(&self) -> u16 {
        match self {
            Error::Unauthorized(_) => 401,
            Error::BadRequest { .. } | Error::UnknownModel(_) | Error::ProviderNotServed { .. } => 400,
            Error::ClientBody(_) => 400,
            Error::ClientTimeout(_) => 408,
            Error::HeaderTooLarge(_) => 431,
            Error::MalformedRequest(_) => 400,
            Error::TooManyConnections(_) => 503,
            Error::RouteNotFound(_) => 404,
            Error::NoDeployment { .. } => 429,
            Error::MethodNotAllowed { .. } => 405,
            Error::PayloadTooLarge { .. } => 413,
            Error::UpstreamTimeout(..) => 408,
            Error::UpstreamTransport { .. } | Error::UpstreamBadAnswer { .. } => 502,
            Error::UpstreamStatus { status, .. } => *status,
            Error::ModelNotAllowed { .. } => 403,
            Error::BudgetExceeded { status, .. } => *status,
            Error::RateLimited { .. } => 429,
            Error::Admin { status, .. } => *status,
            Error::LimitsUnavailable(_) => 503,
            Error::Internal(_) => 500,
        }
    }

    /// OpenAI's error `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Unauthorized(_) => "auth_error",
            Error::BadRequest { .. }
            | Error::UnknownModel(_)
            | Error::ProviderNotServed { .. }
            | Error::ClientBody(_)
            | Error::ClientTimeout(_)
            | Error::HeaderTooLarge(_)
            | Error::MalformedRequest(_)
            | Error::PayloadTooLarge { .. }
            | Error::MethodNotAllowed { .. } => "invalid_request_error",
            Error::RouteNotFound(_) => "not_found_error",
            Error::NoDeployment { .. } => "rate_limit_error",
            Error::UpstreamTimeout(..) => "timeout",
            Error::UpstreamTransport { .. } | Error::UpstreamBadAnswer { .. } | Error::UpstreamStatus { .. } => {
                "api_error"
            }
            Error::ModelNotAllowed { kind, .. } => kind,
            Error::BudgetExceeded { .. } => "budget_exceeded",
            Error::RateLimited { .. } => "rate_limit_error",
            Error::Admin { kind, .. } => kind,
            Error::LimitsUnavailable(_) | Error::TooManyConnections(_) => "service_unavailable",
            Error::Internal(_) => "internal_server_error",
        }
    }

    /// The offending parameter, if any.
    pub fn param(&self) -> Option<&str> {
        match self {
            Error::BadRequest { param, .. } => *param,
            Error::UnknownModel(_) | Error::ProviderNotServed { .. } | Error::ModelNotAllowed { .. } => Some("model"),
            Error::Admin { param, .. } => param.as_deref(),
            _ => None,
        }
    }

    /// A low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Unauthorized(_) => "unauthorized",
            Error::BadRequest { .. } => "bad_request",
            Error::UnknownModel(_) => "unknown_model",
            Error::ProviderNotServed { .. } => "provider_not_served",
            Error::RouteNotFound(_) => "route_not_found",
            Error::NoDeployment { .. } => "no_deployment",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::ClientBody(_) => "client_body",
            Error::ClientTimeout(_) => "client_timeout",
            Error::HeaderTooLarge(_) => "header_too_large",
            Error::MalformedRequest(_) => "malformed_request",
            Error::TooManyConnections(_) => "too_many_connections",
            Error::UpstreamTimeout(..) => "upstream_timeout",
            Error::UpstreamTransport { .. } => "upstream_transport",
            Error::UpstreamBadAnswer { .. } => "upstream_bad_answer",
            Error::UpstreamStatus { .. } => "upstream_status",
            Error::ModelNotAllowed { .. } => "model_not_allowed",
            Error::BudgetExceeded { .. } => "budget_exceeded",
            Error::RateLimited { .. } => "rate_limited",
            Error::Admin { .. } => "admin",
            Error::LimitsUnavailable(_) => "limits_unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The JSON body the client gets. LiteLLM sends `code` as the status in a string.
    pub fn body(&self) -> Bytes {
        if let Error::UpstreamStatus { body, .. } = self {
            return body.clone();
        }
        let code = self.status().to_string();
        Bytes::from(tollgate_filters::openai::error_body(&self.to_string(), self.kind(), self.param(), Some(&code)))
    }
}

impl From<TranslateError> for Error {
    fn from(e: TranslateError) -> Self {
        let param = match &e {
            TranslateError::MissingField(f) => Some(*f),
            TranslateError::WrongType { field, .. } => Some(*field),
            _ => None,
        };
        Error::BadRequest { message: e.to_string(), param }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_errors_are_litellms_status_type_and_message() {
        let message = "Budget has been exceeded! Team=t1 Current cost: 1.0, Max budget: 1.0".to_string();
        let e = Error::BudgetExceeded { scope: "team", message: message.clone(), status: 422 };
        assert_eq!((e.status(), e.kind(), e.param()), (422, "budget_exceeded", None));
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap_or_default();
        assert_eq!(body["error"]["message"], serde_json::json!(message));
        assert_eq!(body["error"]["code"], serde_json::json!("422"));
    }
}
