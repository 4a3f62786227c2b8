//! Our immutable internal model of a LiteLLM config: what the rest of the gateway reads.
//!
//! Built only by [`crate::config::load`] / [`crate::config::parse`]; every value here has been validated,
//! every `os.environ/NAME` resolved. Cheap to share: the proxy holds one `Arc<Config>` per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tollgate_filters::Provider;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Model groups by their public `model_name`, in file order.
    pub groups: Vec<Arc<ModelGroup>>,
    /// Index into `groups` by `model_name`.
    pub group_index: HashMap<String, usize>,
    /// Groups whose `model_name` has `*`, most specific first (see [`crate::config::wildcard`]).
    pub wildcards: Vec<usize>,
    /// `router_settings`.
    pub router: RouterSettings,
    /// `general_settings`.
    pub general: GeneralSettings,
    /// `litellm_settings` that we read.
    pub litellm: LitellmSettings,
    /// Warnings found while loading (unsupported keys, providers not served yet), each naming its key path.
    pub warnings: Vec<String>,
}

impl Config {
    /// The group serving a public model name.
    pub fn group(&self, name: &str) -> Option<&Arc<ModelGroup>> {
        self.group_index.get(name).and_then(|i| self.groups.get(*i))
    }
}

/// Several deployments under one `model_name`.
#[derive(Debug, Clone)]
pub struct ModelGroup {
    /// The public name clients send as `model`.
    pub name: String,
    /// Deployments in file order.
    pub deployments: Vec<Arc<Deployment>>,
}

/// One `model_list[]` entry: a concrete model at a concrete provider.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Stable id: `model_info.id` if given, else a hash of the entry (LiteLLM's `x-litellm-model-id`).
    pub id: String,
    /// Position in `model_list`, for messages.
    pub index: usize,
    /// The group name (`model_name`).
    pub model_name: String,
    /// `litellm_params.model` as written, e.g. `openai/gpt-4o`.
    pub litellm_model: String,
    /// The provider, or why it is not served.
    pub provider: ProviderChoice,
    /// The model name sent to the provider (`litellm_params.model` without the provider prefix).
    pub upstream_model: String,
    /// `api_base`, or the provider's default; no trailing slash.
    pub api_base: Option<String>,
    /// A bare `*` deployment without its own `api_key`: each provider's key from its usual environment
    /// variable, for the provider the requested name says ([`Deployment::for_request`]); never another's.
    pub wildcard_keys: Vec<(tollgate_filters::Provider, String)>,
    /// A bare `*` deployment serving a request: its provider came from the requested name.
    pub provider_from_request: bool,
    /// Whether `api_key` came from the config, not from the provider's usual environment variable.
    pub api_key_given: bool,
    /// Made for one request by a wildcard group ([`Deployment::for_request`]): its URL and prices are the
    /// served model's, worked out per call.
    pub from_wildcard: bool,
    /// Whether `api_base` came from the config (or the provider's environment variable) rather than the
    /// provider's default: Cohere's `api_base` is a whole endpoint URL, its default one per endpoint.
    pub api_base_given: bool,
    /// `api_key` (resolved); never logged, never shown.
    pub api_key: Option<String>,
    /// `api_version` (Azure).
    pub api_version: Option<String>,
    /// Whole-call timeout (`timeout`, else `router_settings.timeout`/`litellm_settings.request_timeout`).
    pub timeout: Option<Duration>,
    /// Time allowed until the first byte of a stream (`stream_timeout`).
    pub stream_timeout: Option<Duration>,
    /// Retries for a request that starts on this deployment: `litellm_params.num_retries`, else `max_retries`.
    pub max_retries: Option<u32>,
    /// `rpm` limit.
    pub rpm: Option<u64>,
    /// `tpm` limit.
    pub tpm: Option<u64>,
    /// `weight` for simple-shuffle.
    pub weight: Option<f64>,
    /// `input_cost_per_token` (litellm_params or model_info).
    pub input_cost_per_token: Option<f64>,
    /// `output_cost_per_token` (litellm_params or model_info).
    pub output_cost_per_token: Option<f64>,
    /// `mock_response`: answer with this text without calling a provider.
    pub mock_response: Option<String>,
    /// `drop_params`.
    pub drop_params: bool,
    /// Vertex AI and Bedrock settings (`vertex_*`, `aws_*`); secrets never logged or shown.
    pub cloud: CloudParams,
    /// `model_info` as given (shown by `/model/info`), with `id` filled in.
    pub model_info: serde_json::Map<String, serde_json::Value>,
}

/// Cloud-provider settings of a deployment, as LiteLLM names them in `litellm_params`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudParams {
    /// `vertex_project` (else `VERTEXAI_PROJECT`).
    pub vertex_project: Option<String>,
    /// `vertex_location` (else `VERTEXAI_LOCATION`, else `us-central1`).
    pub vertex_location: Option<String>,
    /// `vertex_credentials`: a service-account JSON, inline or a file path (else `GOOGLE_APPLICATION_CREDENTIALS`).
    pub vertex_credentials: Option<String>,
    /// `aws_access_key_id` (else `AWS_ACCESS_KEY_ID`).
    pub aws_access_key_id: Option<String>,
    /// `aws_secret_access_key` (else `AWS_SECRET_ACCESS_KEY`).
    pub aws_secret_access_key: Option<String>,
    /// `aws_session_token` (else `AWS_SESSION_TOKEN`).
    pub aws_session_token: Option<String>,
    /// `aws_region_name` (else `AWS_REGION`, `AWS_DEFAULT_REGION`).
    pub aws_region_name: Option<String>,
    /// `aws_bedrock_runtime_endpoint` (else `AWS_BEDROCK_RUNTIME_ENDPOINT`): where Converse calls go, before
    /// `api_base` (LiteLLM's `get_runtime_endpoint`; invoke calls, embeddings, prefer `api_base`).
    pub aws_bedrock_runtime_endpoint: Option<String>,
}

/// A deployment's provider: one we serve, or one we know of but do not serve yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderChoice {
    /// Served.
    Served(Provider),
    /// Named in the config but not served yet: requests answer 400 naming it.
    Unsupported(String),
}

/// `router_settings`.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    /// `routing_strategy` (default `simple-shuffle`).
    pub routing_strategy: RoutingStrategy,
    /// `num_retries`, else `litellm_settings.num_retries` (as LiteLLM's router reads them).
    pub num_retries: Option<u32>,
    /// `timeout` for the whole call, else `litellm_settings.request_timeout` (as LiteLLM's router reads them).
    pub timeout: Option<Duration>,
    /// `allowed_fails`: failures in a minute a deployment may have before it cools down (`None`: the
    /// router's default, LiteLLM's `DEFAULT_ALLOWED_FAILS` = 3).
    pub allowed_fails: Option<u32>,
    /// `cooldown_time`: how long a deployment gets no traffic once cooled down (`None`: the router's default,
    /// LiteLLM's `DEFAULT_COOLDOWN_TIME_SECONDS` = 5 s).
    pub cooldown_time: Option<Duration>,
    /// `fallbacks` (else `litellm_settings.fallbacks`): group -> fallback groups in order.
    pub fallbacks: Vec<(String, Vec<String>)>,
    /// `disable_cooldowns`: never take a deployment out of rotation, whatever it answers (LiteLLM's
    /// router flag; default `false`).
    pub disable_cooldowns: bool,
    /// `routing_strategy_args` (read by `latency-based-routing`).
    pub routing_strategy_args: RoutingStrategyArgs,
    /// `default_fallbacks`: groups tried after any group that has no `fallbacks` entry of its own.
    pub default_fallbacks: Vec<String>,
    /// `context_window_fallbacks`: group -> groups tried when the provider says the context is too long.
    pub context_window_fallbacks: Vec<(String, Vec<String>)>,
    /// `content_policy_fallbacks`: group -> groups tried when the provider refuses on content policy.
    pub content_policy_fallbacks: Vec<(String, Vec<String>)>,
    /// `retry_after`: the least time to wait before retrying the same deployment (LiteLLM's default 0).
    pub retry_after: Duration,
    /// `max_fallbacks`: how many fallback groups one request may try (LiteLLM's default 5).
    pub max_fallbacks: usize,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            routing_strategy: RoutingStrategy::default(),
            num_retries: None,
            timeout: None,
            allowed_fails: None,
            cooldown_time: None,
            fallbacks: Vec::new(),
            disable_cooldowns: false,
            routing_strategy_args: RoutingStrategyArgs::default(),
            default_fallbacks: Vec::new(),
            context_window_fallbacks: Vec::new(),
            content_policy_fallbacks: Vec::new(),
            retry_after: Duration::ZERO,
            max_fallbacks: Self::DEFAULT_MAX_FALLBACKS,
        }
    }
}

impl RouterSettings {
    /// Retries per group when nothing sets them: LiteLLM's router uses `openai.DEFAULT_MAX_RETRIES` = 2.
    pub const DEFAULT_NUM_RETRIES: u32 = 2;
    /// `max_fallbacks` when not set (LiteLLM's router default).
    pub const DEFAULT_MAX_FALLBACKS: usize = 5;

    /// The fallback groups of `group` for ordinary failures: its own `fallbacks` entry, else `default_fallbacks`.
    pub fn fallbacks_for(&self, group: &str) -> &[String] {
        self.fallbacks
            .iter()
            .find(|(g, _)| g == group)
            .map(|(_, f)| f.as_slice())
            .unwrap_or(self.default_fallbacks.as_slice())
    }

    /// The groups to try when `group` failed for a context-window or content-policy reason.
    pub fn special_fallbacks_for<'a>(list: &'a [(String, Vec<String>)], group: &str) -> &'a [String] {
        list.iter().find(|(g, _)| g == group).map(|(_, f)| f.as_slice()).unwrap_or(&[])
    }
}

/// `router_settings.routing_strategy_args`, as LiteLLM's latency-based-routing reads them (`RoutingArgs` in
/// `litellm/router_strategy/lowest_latency.py`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoutingStrategyArgs {
    /// `lowest_latency_buffer`: deployments up to this fraction slower than the fastest share its traffic
    /// (0.5: up to 50 % slower); LiteLLM's default `0` sends everything to the fastest.
    pub lowest_latency_buffer: f64,
    /// `ttl` (seconds): latency samples older than this are forgotten, so the deployment is tried again;
    /// LiteLLM's default is one hour.
    pub ttl: Duration,
}

impl Default for RoutingStrategyArgs {
    fn default() -> Self {
        Self { lowest_latency_buffer: 0.0, ttl: Duration::from_secs(60 * 60) }
    }
}

/// `router_settings.routing_strategy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RoutingStrategy {
    /// `simple-shuffle`: random, weighted by `weight`/`rpm`/`tpm`.
    #[default]
    SimpleShuffle,
    /// `latency-based-routing`.
    LatencyBased,
    /// `least-busy`.
    LeastBusy,
    /// `usage-based-routing` / `usage-based-routing-v2`.
    UsageBased,
}

/// `general_settings`.
#[derive(Debug, Clone)]
pub struct GeneralSettings {
    /// `master_key`; `None` means the gateway is open.
    pub master_key: Option<String>,
    /// `max_request_size_mb` (LiteLLM's default is unlimited; ours is 32 MB so a client cannot exhaust memory).
    pub max_request_size_bytes: usize,
    /// `database_url`, else `DATABASE_URL`: PostgreSQL for keys and spend, shared by every instance
    /// (`None`: SQLite under the state dir).
    pub database_url: Option<String>,
    /// Redis for shared counters: `router_settings.redis_url`, else `redis_host`/`redis_port`/
    /// `redis_password`/`redis_db`, else `REDIS_URL`, else `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`
    /// (LiteLLM's order). `None`: counters in memory.
    pub redis_url: Option<String>,
    /// `fail_closed`: refuse calls that have budgets or limits while Redis is down (default: serve on
    /// local counters and reconcile later).
    pub fail_closed: bool,
    /// `budget_reserve_max_tokens`: output tokens reserved for a call without `max_tokens`.
    pub budget_reserve_max_tokens: u64,
    /// `open_gateway: true`: the file says on purpose that there is no master key. Without it a reload may
    /// not turn a gateway with a master key into an open one (see `reload::Live::reload`).
    pub open_gateway: bool,
    /// `background_health_checks`: `/health` answers with the last background round.
    pub background_health_checks: bool,
    /// `health_check_interval` (default 300 s, LiteLLM's).
    pub health_check_interval: Duration,
}

impl GeneralSettings {
    /// Output tokens reserved for a call without `max_tokens` unless the config says otherwise.
    pub const DEFAULT_RESERVE_MAX_TOKENS: u64 = 4096;
}

impl Default for GeneralSettings {
    fn default() -> Self {
        Self {
            master_key: None,
            max_request_size_bytes: 32 * 1024 * 1024,
            database_url: None,
            redis_url: None,
            fail_closed: false,
            budget_reserve_max_tokens: Self::DEFAULT_RESERVE_MAX_TOKENS,
            open_gateway: false,
            background_health_checks: false,
            health_check_interval: Duration::from_secs(300),
        }
    }
}

/// `litellm_settings` that we read.
#[derive(Debug, Clone)]
pub struct LitellmSettings {
    /// `request_timeout` (seconds) for every call.
    pub request_timeout: Option<Duration>,
    /// `num_retries`.
    pub num_retries: Option<u32>,
    /// `drop_params` for every deployment.
    pub drop_params: bool,
    /// `budget_exceeded_status_code`: the status of a budget refusal (default 422, as LiteLLM).
    pub budget_exceeded_status_code: u16,
}

impl Default for LitellmSettings {
    fn default() -> Self {
        LitellmSettings {
            request_timeout: None,
            num_retries: None,
            drop_params: false,
            budget_exceeded_status_code: Self::DEFAULT_BUDGET_EXCEEDED_STATUS,
        }
    }
}

impl LitellmSettings {
    /// LiteLLM's status for a budget refusal (`litellm.budget_exceeded_status_code`).
    pub const DEFAULT_BUDGET_EXCEEDED_STATUS: u16 = 422;
}
