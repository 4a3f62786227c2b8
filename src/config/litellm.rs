//! Serde mirror of LiteLLM's config.yaml: the shapes LiteLLM accepts and the keys we know of, nothing decided yet.
//!
//! Tolerant about keys, strict about types. Before typing, [`prune`] drops every key we do not read and warns
//! about it with its path: "not supported yet" for keys LiteLLM has, "unknown key" for the rest (a typo, or a key
//! of a newer LiteLLM). The key tables below are the one list of what we read; the typed structs say
//! `deny_unknown_fields` so a table that drifts from its struct fails the tests instead of dropping a key.
//! Each section is then typed on its own with serde_path_to_error ([`typed`]), so a wrong type names its path
//! (`model_list[2].litellm_params.model: invalid type: integer `42`, expected a string`) and a mistake in one
//! deployment does not hide a mistake in another. Ranges and cross-field rules live in `validate.rs`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use serde_yaml::Value;

use super::{index_path, key_path};

/// A `model_list[]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with model_name and litellm_params")]
pub(crate) struct ModelEntry {
    /// The public group name.
    pub model_name: String,
    /// How to call the deployment.
    pub litellm_params: LitellmParams,
    /// Free-form metadata shown by `/model/info`; `id` and costs are read from it.
    #[serde(default)]
    pub model_info: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `model_list[].litellm_params`: the keys we read (see [`LITELLM_PARAMS`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of litellm_params")]
pub(crate) struct LitellmParams {
    /// `provider/name`, or a bare name (OpenAI).
    pub model: String,
    /// Names the provider when `model` has no prefix (LiteLLM's `custom_llm_provider`).
    #[serde(default)]
    pub custom_llm_provider: Option<String>,
    /// Provider base URL.
    #[serde(default)]
    pub api_base: Option<String>,
    /// Provider key.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Azure API version.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Whole-call timeout.
    #[serde(default)]
    pub timeout: Option<Seconds>,
    /// Time to the first byte of a stream.
    #[serde(default)]
    pub stream_timeout: Option<Seconds>,
    /// Retries on this deployment (the provider client's own retries in LiteLLM).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Retries of a request whose first pick is this deployment (LiteLLM's per-deployment `num_retries`).
    #[serde(default)]
    pub num_retries: Option<u32>,
    /// Vertex AI: the Google Cloud project.
    #[serde(default)]
    pub vertex_project: Option<String>,
    /// Vertex AI: the region, e.g. `us-central1`.
    #[serde(default)]
    pub vertex_location: Option<String>,
    /// Vertex AI: a service-account JSON, inline or as a file path.
    #[serde(default)]
    pub vertex_credentials: Option<String>,
    /// Bedrock: the AWS access key id.
    #[serde(default)]
    pub aws_access_key_id: Option<String>,
    /// Bedrock: the AWS secret access key.
    #[serde(default)]
    pub aws_secret_access_key: Option<String>,
    /// Bedrock: a session token for temporary credentials.
    #[serde(default)]
    pub aws_session_token: Option<String>,
    /// Bedrock: the AWS region, e.g. `eu-central-1`.
    #[serde(default)]
    pub aws_region_name: Option<String>,
    /// Bedrock: the runtime endpoint (a VPC endpoint, a proxy); Converse calls go there before `api_base`.
    #[serde(default)]
    pub aws_bedrock_runtime_endpoint: Option<String>,
    /// Requests per minute.
    #[serde(default)]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Shuffle weight.
    #[serde(default)]
    pub weight: Option<f64>,
    /// Price of one prompt token.
    #[serde(default)]
    pub input_cost_per_token: Option<f64>,
    /// Price of one completion token.
    #[serde(default)]
    pub output_cost_per_token: Option<f64>,
    /// Canned answer, no provider call.
    #[serde(default)]
    pub mock_response: Option<String>,
    /// Drop params the provider does not take.
    #[serde(default)]
    pub drop_params: Option<bool>,
}

/// `router_settings`: the keys we read (see [`ROUTER_SETTINGS`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of router_settings")]
pub(crate) struct RouterSettings {
    /// Redis host for shared counters (LiteLLM's `redis_host`).
    #[serde(default)]
    pub redis_host: Option<String>,
    /// Redis port: a number or a string holding one.
    #[serde(default)]
    pub redis_port: Option<serde_yaml::Value>,
    /// Redis password.
    #[serde(default)]
    pub redis_password: Option<String>,
    /// A whole `redis://` URL (wins over host/port/password).
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Redis database number.
    #[serde(default)]
    pub redis_db: Option<u32>,
    /// Strategy name, checked in `validate.rs`.
    #[serde(default)]
    pub routing_strategy: Option<String>,
    /// Retries per request.
    #[serde(default)]
    pub num_retries: Option<u32>,
    /// Default whole-call timeout.
    #[serde(default)]
    pub timeout: Option<Seconds>,
    /// Default time to the first byte of a stream.
    #[serde(default)]
    pub stream_timeout: Option<Seconds>,
    /// Failures in a minute before a cooldown.
    #[serde(default)]
    pub allowed_fails: Option<u32>,
    /// Cooldown length.
    #[serde(default)]
    pub cooldown_time: Option<Seconds>,
    /// `[{group: [fallback, ...]}, ...]`.
    #[serde(default)]
    pub fallbacks: Option<Vec<Pairs<Vec<String>>>>,
    /// Groups tried after a group without a `fallbacks` entry.
    #[serde(default)]
    pub default_fallbacks: Option<Vec<String>>,
    /// `[{group: [fallback, ...]}, ...]` for context-window errors.
    #[serde(default)]
    pub context_window_fallbacks: Option<Vec<Pairs<Vec<String>>>>,
    /// `[{group: [fallback, ...]}, ...]` for content-policy refusals.
    #[serde(default)]
    pub content_policy_fallbacks: Option<Vec<Pairs<Vec<String>>>>,
    /// Least wait before a retry.
    #[serde(default)]
    pub retry_after: Option<Seconds>,
    /// Most fallback groups per request.
    #[serde(default)]
    pub max_fallbacks: Option<u32>,
    /// Never cool a deployment down.
    #[serde(default)]
    pub disable_cooldowns: Option<bool>,
    /// Arguments of the routing strategy.
    #[serde(default)]
    pub routing_strategy_args: Option<RoutingStrategyArgs>,
}

/// `router_settings.routing_strategy_args`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of routing_strategy_args (lowest_latency_buffer, ttl)")]
pub(crate) struct RoutingStrategyArgs {
    /// Fraction above the fastest latency that still shares traffic.
    #[serde(default)]
    pub lowest_latency_buffer: Option<f64>,
    /// Seconds a latency sample is remembered.
    #[serde(default)]
    pub ttl: Option<Seconds>,
}

/// `litellm_settings`: the keys we read (see [`LITELLM_SETTINGS`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of litellm_settings")]
pub(crate) struct LitellmSettings {
    /// Default whole-call timeout (LiteLLM's router uses it when `router_settings.timeout` is unset).
    #[serde(default)]
    pub request_timeout: Option<Seconds>,
    /// Retries (used when `router_settings.num_retries` is unset).
    #[serde(default)]
    pub num_retries: Option<u32>,
    /// `drop_params` for every deployment.
    #[serde(default)]
    pub drop_params: Option<bool>,
    /// Fallbacks (used when `router_settings.fallbacks` is unset, as LiteLLM's router does).
    #[serde(default)]
    pub fallbacks: Option<Vec<Pairs<Vec<String>>>>,
    /// Default fallbacks (used when `router_settings.default_fallbacks` is unset).
    #[serde(default)]
    pub default_fallbacks: Option<Vec<String>>,
    /// Context-window fallbacks (used when `router_settings.context_window_fallbacks` is unset).
    #[serde(default)]
    pub context_window_fallbacks: Option<Vec<Pairs<Vec<String>>>>,
    /// Content-policy fallbacks (used when `router_settings.content_policy_fallbacks` is unset).
    #[serde(default)]
    pub content_policy_fallbacks: Option<Vec<Pairs<Vec<String>>>>,
    /// The status of a budget refusal (LiteLLM's default 422).
    #[serde(default)]
    pub budget_exceeded_status_code: Option<u16>,
}

/// `general_settings`: the keys we read (see [`GENERAL_SETTINGS`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of general_settings")]
pub(crate) struct GeneralSettings {
    /// Admin key.
    #[serde(default)]
    pub master_key: Option<String>,
    /// Request body limit in MB.
    #[serde(default)]
    pub max_request_size_mb: Option<f64>,
    /// Database for keys and spend.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Refuse calls with budgets or limits while Redis is down (Tollgate's own key; default false).
    #[serde(default)]
    pub fail_closed: Option<bool>,
    /// Output tokens reserved for a call that sets no `max_tokens` (Tollgate's own key; default 4096).
    #[serde(default)]
    pub budget_reserve_max_tokens: Option<u64>,
    /// The gateway is meant to run without a master key (Tollgate's own key; LiteLLM ignores it).
    #[serde(default)]
    pub open_gateway: Option<bool>,
    /// Run `/health`'s checks in the background and answer with the last round.
    #[serde(default)]
    pub background_health_checks: Option<bool>,
    /// Seconds between background health-check rounds (LiteLLM's default 300).
    #[serde(default)]
    pub health_check_interval: Option<Seconds>,
}

/// A number of seconds as LiteLLM takes it: an integer, a float, or a string holding a number.
///
/// Only the shape is checked here; `validate.rs` checks the range, so that every bad value is reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Seconds(pub f64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecondsVisitor;
        impl Visitor<'_> for SecondsVisitor {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                Ok(Seconds(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                Ok(Seconds(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seconds, E> {
                Ok(Seconds(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                match v.trim().parse::<f64>() {
                    Ok(n) => Ok(Seconds(n)),
                    Err(_) => Err(E::invalid_value(Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(SecondsVisitor)
    }
}

/// A mapping read as `(key, value)` pairs in file order (serde maps would lose the order of fallbacks).
#[derive(Debug)]
pub(crate) struct Pairs<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Pairs<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<V> {
            type Value = Pairs<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<V>, A::Error> {
                let mut pairs = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, V>()? {
                    pairs.push((key, value));
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

/// The keys of one mapping: those we read, and those LiteLLM has that we do not read yet.
pub(crate) struct KeyTable {
    /// Keys read into the typed mirror.
    pub read: &'static [&'static str],
    /// LiteLLM keys we do not implement yet.
    pub not_yet: &'static [&'static str],
    /// Families of LiteLLM keys we do not implement yet (`aws_*`, ...).
    pub not_yet_prefixes: &'static [&'static str],
}

/// Top-level sections.
pub(crate) const TOP_LEVEL: KeyTable = KeyTable {
    read: &["model_list", "router_settings", "litellm_settings", "general_settings", "environment_variables"],
    not_yet: &[
        "callback_settings",
        "guardrails",
        "mcp_servers",
        "mcp_tools",
        "credential_list",
        "include",
        "assistant_settings",
        "files_settings",
        "finetune_settings",
        "vector_store_registry",
        "search_tools",
        "prompts",
        "pass_through_endpoints",
        "agent_list",
    ],
    not_yet_prefixes: &[],
};

/// `model_list[]` entries.
pub(crate) const MODEL_ENTRY: KeyTable =
    KeyTable { read: &["model_name", "litellm_params", "model_info"], not_yet: &[], not_yet_prefixes: &[] };

/// `model_list[].litellm_params`.
pub(crate) const LITELLM_PARAMS: KeyTable = KeyTable {
    read: &[
        "model",
        "custom_llm_provider",
        "api_base",
        "api_key",
        "api_version",
        "timeout",
        "stream_timeout",
        "max_retries",
        "num_retries",
        "vertex_project",
        "vertex_location",
        "vertex_credentials",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "aws_bedrock_runtime_endpoint",
        "rpm",
        "tpm",
        "weight",
        "input_cost_per_token",
        "output_cost_per_token",
        "mock_response",
        "drop_params",
    ],
    not_yet: &[
        "organization",
        "region_name",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "response_format",
        "reasoning_effort",
        "thinking",
        "extra_headers",
        "extra_body",
        "headers",
        "tags",
        "order",
        "use_in_pass_through",
        "use_litellm_proxy",
        "input_cost_per_second",
        "output_cost_per_second",
        "max_budget",
        "budget_duration",
        "max_file_size_mb",
        "merge_reasoning_content_in_choices",
        "litellm_credential_name",
        "configurable_clientside_auth_params",
        "additional_drop_params",
        "cache_control_injection_points",
        "tenant_id",
        "client_id",
        "client_secret",
        "base_model",
        "custom_tokenizer",
        "api_type",
        "deployment_id",
        "model_info",
        "litellm_trace_id",
        "auto_router_config",
        "auto_router_config_path",
        "auto_router_default_model",
        "auto_router_embedding_model",
    ],
    not_yet_prefixes: &["aws_", "vertex_", "azure_", "watsonx_", "bedrock_"],
};

/// `router_settings`.
pub(crate) const ROUTER_SETTINGS: KeyTable = KeyTable {
    read: &[
        "routing_strategy",
        "num_retries",
        "timeout",
        "stream_timeout",
        "allowed_fails",
        "cooldown_time",
        "fallbacks",
        "default_fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "retry_after",
        "max_fallbacks",
        "disable_cooldowns",
        "routing_strategy_args",
        "redis_host",
        "redis_port",
        "redis_password",
        "redis_url",
        "redis_db",
    ],
    not_yet: &[
        "retry_policy",
        "allowed_fails_policy",
        "enable_pre_call_checks",
        "enable_pre_call_check",
        "optional_pre_call_checks",
        "model_group_alias",
        "model_group_retry_policy",
        "enable_tag_filtering",
        "tag_filtering_match_any",
        "default_max_parallel_requests",
        "default_priority",
        "polling_interval",
        "default_litellm_params",
        "debug_level",
        "client_ttl",
        "cache_kwargs",
        "cache_responses",
        "caching_groups",
        "set_verbose",
        "provider_budget_config",
        "deployment_affinity_ttl_seconds",
        "ignore_invalid_deployments",
        "search_tools",
        "guardrail_list",
        "alerting_config",
        "assistants_config",
        "router_general_settings",
    ],
    not_yet_prefixes: &[],
};

/// `litellm_settings`.
pub(crate) const LITELLM_SETTINGS: KeyTable = KeyTable {
    read: &[
        "request_timeout",
        "num_retries",
        "drop_params",
        "fallbacks",
        "default_fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "budget_exceeded_status_code",
    ],
    not_yet: &[
        "set_verbose",
        "json_logs",
        "success_callback",
        "failure_callback",
        "callbacks",
        "service_callbacks",
        "service_callback",
        "turn_off_message_logging",
        "redact_user_api_key_info",
        "redact_messages_in_exceptions",
        "langfuse_default_tags",
        "force_ipv4",
        "allowed_fails",
        "mcp_aliases",
        "cache",
        "cache_params",
        "modify_params",
        "enable_preview_features",
        "disable_end_user_cost_tracking",
        "disable_end_user_cost_tracking_prometheus_only",
        "key_generation_settings",
        "default_key_generate_params",
        "upperbound_key_generate_params",
        "default_team_settings",
        "default_internal_user_params",
        "max_internal_user_budget",
        "internal_user_budget_duration",
        "max_end_user_budget",
        "max_budget",
        "budget_duration",
        "public_model_groups",
        "max_parallel_requests",
        "ssl_verify",
        "telemetry",
        "store_audit_logs",
        "return_response_headers",
        "disable_add_transform_inline_image_block",
        "use_chat_completions_url_for_anthropic_messages",
        "disable_hf_tokenizer_download",
        "enable_json_schema_validation",
        "enable_key_alias_format_validation",
        "disable_copilot_system_to_assistant",
        "model_group_alias",
        "default_max_internal_user_budget",
        "global_disable_no_log_param",
    ],
    not_yet_prefixes: &[],
};

/// `general_settings`.
pub(crate) const GENERAL_SETTINGS: KeyTable = KeyTable {
    read: &[
        "master_key",
        "max_request_size_mb",
        "database_url",
        "fail_closed",
        "budget_reserve_max_tokens",
        "open_gateway",
        "background_health_checks",
        "health_check_interval",
    ],
    not_yet: &[
        "completion_model",
        "store_prompts_in_spend_logs",
        "forward_client_headers_to_llm_api",
        "forward_openai_org_id",
        "disable_spend_logs",
        "disable_spend_updates",
        "disable_master_key_return",
        "disable_retry_on_max_parallel_request_limit_error",
        "disable_reset_budget",
        "disable_adding_master_key_hash_to_db",
        "disable_responses_id_security",
        "disable_prisma_schema_update",
        "enable_jwt_auth",
        "enforce_user_param",
        "reject_clientside_metadata_tags",
        "allowed_routes",
        "admin_only_routes",
        "public_routes",
        "key_management_system",
        "key_management_settings",
        "maximum_spend_logs_retention_period",
        "maximum_spend_logs_retention_interval",
        "user_mcp_management_mode",
        "database_connection_pool_limit",
        "database_connection_timeout",
        "allow_requests_on_db_unavailable",
        "custom_auth",
        "custom_key_generate",
        "custom_sso",
        "max_parallel_requests",
        "global_max_parallel_requests",
        "infer_model_from_keys",
        "health_check_details",
        "alerting",
        "alerting_threshold",
        "alerting_args",
        "alert_types",
        "alert_to_webhook_url",
        "use_client_credentials_pass_through_routes",
        "enforced_params",
        "enable_oauth2_auth",
        "enable_oauth2_proxy_auth",
        "oauth2_config_mappings",
        "use_x_forwarded_for",
        "service_account_settings",
        "image_generation_model",
        "embedding_model",
        "moderation_model",
        "store_model_in_db",
        "supported_db_objects",
        "max_response_size_mb",
        "proxy_budget_rescheduler_min_time",
        "proxy_budget_rescheduler_max_time",
        "proxy_batch_write_at",
        "proxy_batch_polling_interval",
        "allowed_ips",
        "default_team_disabled",
        "allow_user_auth",
        "user_api_key_cache_ttl",
        "litellm_key_header_name",
        "allow_client_side_credentials",
        "use_azure_key_vault",
        "use_google_kms",
        "spend_report_frequency",
        "ui_access_mode",
        "litellm_jwtauth",
        "litellm_license",
        "pass_through_endpoints",
    ],
    not_yet_prefixes: &[],
};

/// What a key is to us.
enum KeyKind {
    Read,
    NotYet,
    Unknown,
}

impl KeyTable {
    fn kind(&self, key: &str) -> KeyKind {
        if self.read.contains(&key) {
            KeyKind::Read
        } else if self.not_yet.contains(&key) || self.not_yet_prefixes.iter().any(|p| key.starts_with(p)) {
            KeyKind::NotYet
        } else {
            KeyKind::Unknown
        }
    }
}

/// Drops every key of `value` (when it is a mapping) that `table` does not read, warning with its path.
///
/// A value that is not a mapping is left alone: typing it reports the wrong type with its path.
pub(crate) fn prune(value: &mut Value, path: &str, table: &KeyTable, warnings: &mut Vec<String>) {
    let Value::Mapping(map) = value else { return };
    map.retain(|key, _| {
        let name = key_text(key);
        match table.kind(&name) {
            KeyKind::Read => true,
            KeyKind::NotYet => {
                warnings.push(format!("{}: not supported yet, ignored", key_path(path, &name)));
                false
            }
            KeyKind::Unknown => {
                warnings.push(format!("{}: unknown key, ignored", key_path(path, &name)));
                false
            }
        }
    });
}

/// Prunes one `model_list[index]` entry and its `litellm_params`.
pub(crate) fn prune_entry(entry: &mut Value, index: usize, warnings: &mut Vec<String>) {
    let path = index_path("model_list", index);
    prune(entry, &path, &MODEL_ENTRY, warnings);
    if let Some(params) = entry.get_mut("litellm_params") {
        prune(params, &key_path(&path, "litellm_params"), &LITELLM_PARAMS, warnings);
    }
}

/// A mapping key as text, for paths (YAML allows non-string keys; LiteLLM never uses them).
pub(crate) fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        _ => "?".to_owned(),
    }
}

/// What kind of YAML value this is, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The top-level mapping split into its sections, still untyped.
#[derive(Default)]
pub(crate) struct Sections {
    /// `model_list` entries.
    pub model_list: Vec<Value>,
    /// `router_settings` (`Null` when absent).
    pub router_settings: Value,
    /// `litellm_settings` (`Null` when absent).
    pub litellm_settings: Value,
    /// `general_settings` (`Null` when absent).
    pub general_settings: Value,
    /// `environment_variables` (`Null` when absent).
    pub environment_variables: Value,
}

/// Splits the document into its sections; top-level keys we do not read are warned about.
///
/// `origin` names the document (the file) for errors that have no key path.
pub(crate) fn sections(root: Value, origin: &str, errors: &mut Vec<String>, warnings: &mut Vec<String>) -> Sections {
    let mut root = match root {
        Value::Null => return Sections::default(),
        Value::Mapping(map) => Value::Mapping(map),
        other => {
            errors.push(format!("{origin}: expected a mapping of config sections, found {}", kind_of(&other)));
            return Sections::default();
        }
    };
    prune(&mut root, "", &TOP_LEVEL, warnings);
    let Value::Mapping(mut map) = root else { return Sections::default() };
    let mut take = |name: &str| map.remove(name).unwrap_or(Value::Null);
    let model_list = match take("model_list") {
        Value::Null => Vec::new(),
        Value::Sequence(entries) => entries,
        other => {
            errors.push(format!("model_list: expected a list of deployments, found {}", kind_of(&other)));
            Vec::new()
        }
    };
    Sections {
        model_list,
        router_settings: take("router_settings"),
        litellm_settings: take("litellm_settings"),
        general_settings: take("general_settings"),
        environment_variables: take("environment_variables"),
    }
}

/// Types one value, naming the full key path (`base` plus the path inside the value) on a wrong type.
pub(crate) fn typed<T: DeserializeOwned>(value: Value, base: &str) -> Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let mut path = base.to_owned();
        for segment in e.path().iter() {
            path = match segment {
                serde_path_to_error::Segment::Seq { index } => index_path(&path, *index),
                serde_path_to_error::Segment::Map { key } => key_path(&path, key),
                serde_path_to_error::Segment::Enum { variant } => key_path(&path, variant),
                serde_path_to_error::Segment::Unknown => key_path(&path, "?"),
            };
        }
        format!("{path}: {}", plain_words(&e.inner().to_string()))
    })
}

/// serde names Rust types in its messages (`expected u64`); a config's reader knows numbers.
fn plain_words(message: &str) -> String {
    const RUST_TYPES: [(&str, &str); 3] = [
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected u64", "expected a whole number, zero or more"),
        ("expected f64", "expected a number"),
    ];
    RUST_TYPES.iter().fold(message.to_owned(), |message, (rust, plain)| match message.strip_suffix(rust) {
        Some(head) => format!("{head}{plain}"),
        None => message,
    })
}

/// Types a settings section; an absent or empty section (`router_settings:` with nothing under it) is the default.
pub(crate) fn typed_section<T: DeserializeOwned + Default>(value: Value, base: &str) -> Result<T, String> {
    if value.is_null() {
        return Ok(T::default());
    }
    typed(value, base)
}
