//! From the typed mirror to the immutable model: ranges, providers, deployment ids, groups and fallbacks.
//!
//! Every check appends to a [`Report`] and carries on, so one load reports every problem of the file, each
//! as `key.path: message`. Empty strings count as unset where LiteLLM treats them as falsy (`api_base: ""`,
//! an `os.environ/` variable set to nothing), so a LiteLLM config means the same here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;
use serde_yaml::Value;
use tollgate_filters::{split_model, Provider};

use super::env::Environment;
use super::litellm::{self, Pairs, Seconds};
use super::model::{
    CloudParams, Config, Deployment, GeneralSettings, LitellmSettings, ModelGroup, ProviderChoice, RouterSettings,
    RoutingStrategy, RoutingStrategyArgs,
};
use super::{index_path, key_path};

/// Problems found so far: errors refuse the file, warnings are kept in [`Config::warnings`].
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// `key.path: message`, the file is refused.
    pub errors: Vec<String>,
    /// `key.path: message`, the file is served.
    pub warnings: Vec<String>,
}

impl Report {
    fn error(&mut self, path: &str, message: impl std::fmt::Display) {
        self.errors.push(format!("{path}: {message}"));
    }

    fn warn(&mut self, path: &str, message: impl std::fmt::Display) {
        self.warnings.push(format!("{path}: {message}"));
    }
}

/// One typed `model_list[]` entry with what validation needs besides it.
pub(crate) struct Entry {
    /// Position in `model_list`.
    pub index: usize,
    /// The typed entry (strings resolved).
    pub entry: litellm::ModelEntry,
    /// `litellm_params` as written (before pruning and `os.environ/` resolution): what the id hashes.
    pub raw_params: Value,
}

/// The typed sections.
pub(crate) struct Typed {
    /// Entries that typed cleanly.
    pub entries: Vec<Entry>,
    /// `router_settings`.
    pub router: litellm::RouterSettings,
    /// `litellm_settings`.
    pub litellm: litellm::LitellmSettings,
    /// `general_settings`.
    pub general: litellm::GeneralSettings,
}

/// Builds the model from the typed sections; problems go to `report`.
pub(crate) fn build(typed: Typed, env: &Environment<'_>, report: &mut Report) -> Config {
    let litellm = litellm_settings(&typed.litellm, report);

    let mut typed_litellm = typed.litellm;
    let litellm_extra = LitellmFallbacks {
        default_fallbacks: typed_litellm.default_fallbacks.take(),
        context_window_fallbacks: typed_litellm.context_window_fallbacks.take(),
        content_policy_fallbacks: typed_litellm.content_policy_fallbacks.take(),
    };
    let redis_url = redis_url(&typed.router, env, report);
    let (router, router_extra) =
        router_settings(typed.router, typed_litellm.fallbacks, litellm_extra, &litellm, report);
    let mut general = general_settings(typed.general, report);
    general.database_url = general.database_url.or_else(|| env.get("DATABASE_URL").filter(|u| !u.is_empty()));
    general.redis_url = redis_url;
    let defaults = Defaults {
        timeout: router.timeout,
        stream_timeout: router_extra.stream_timeout,
        drop_params: litellm.drop_params,
    };
    let mut drafts: Vec<Draft> =
        typed.entries.into_iter().filter_map(|entry| deployment(entry, &defaults, env, report)).collect();
    assign_ids(&mut drafts, report);
    let (groups, group_index) = group(drafts);
    let mut wildcards: Vec<usize> =
        groups.iter().enumerate().filter(|(_, g)| g.name.contains('*')).map(|(i, _)| i).collect();
    wildcards.sort_by_key(|i| std::cmp::Reverse(groups.get(*i).map(|g| super::wildcard::specificity(&g.name))));
    let config = Config { groups, group_index, router, general, litellm, wildcards, warnings: Vec::new() };
    check_fallbacks(&config, &router_extra.fallback_paths, report);
    config
}

/// `litellm_settings`.
fn litellm_settings(raw: &litellm::LitellmSettings, report: &mut Report) -> LitellmSettings {
    LitellmSettings {
        request_timeout: raw
            .request_timeout
            .and_then(|s| positive_duration("litellm_settings.request_timeout", s, report)),
        num_retries: raw.num_retries,
        drop_params: raw.drop_params.unwrap_or(false),
        budget_exceeded_status_code: match raw.budget_exceeded_status_code {
            None => LitellmSettings::DEFAULT_BUDGET_EXCEEDED_STATUS,
            Some(code @ 400..=599) => code,
            Some(code) => {
                report.error(
                    "litellm_settings.budget_exceeded_status_code",
                    format_args!("must be an error status from 400 to 599, found {code}"),
                );
                LitellmSettings::DEFAULT_BUDGET_EXCEEDED_STATUS
            }
        },
    }
}

/// `router_settings`, completed from `litellm_settings` as LiteLLM's router does (`timeout or
/// litellm.request_timeout`, `num_retries or litellm.num_retries`, `fallbacks or litellm.fallbacks`).
fn router_settings(
    raw: litellm::RouterSettings,
    litellm_fallbacks: Option<Vec<Pairs<Vec<String>>>>,
    litellm_extra: LitellmFallbacks,
    litellm: &LitellmSettings,
    report: &mut Report,
) -> (RouterSettings, RouterExtra) {
    let routing_strategy = match raw.routing_strategy.as_deref() {
        None => RoutingStrategy::default(),
        Some(name) => routing_strategy(name).unwrap_or_else(|| {
            report.error(
                "router_settings.routing_strategy",
                format_args!("unknown strategy \"{name}\"; expected one of {}", ROUTING_STRATEGIES.join(", ")),
            );
            RoutingStrategy::default()
        }),
    };
    let timeout = raw.timeout.and_then(|s| positive_duration("router_settings.timeout", s, report));
    let stream_timeout =
        raw.stream_timeout.and_then(|s| positive_duration("router_settings.stream_timeout", s, report));
    let cooldown_time = raw.cooldown_time.and_then(|s| cooldown("router_settings.cooldown_time", s, report));
    let (fallbacks, source) = match (raw.fallbacks, litellm_fallbacks) {
        (Some(fallbacks), _) => (fallbacks, "router_settings.fallbacks"),
        (None, Some(fallbacks)) => (fallbacks, "litellm_settings.fallbacks"),
        (None, None) => (Vec::new(), ""),
    };
    let fallback_paths = fallbacks
        .iter()
        .enumerate()
        .flat_map(|(i, Pairs(pairs))| pairs.iter().map(move |(group, _)| key_path(&index_path(source, i), group)))
        .collect();
    let pairs = |list: Option<Vec<Pairs<Vec<String>>>>| -> Vec<(String, Vec<String>)> {
        list.unwrap_or_default().into_iter().flat_map(|Pairs(pairs)| pairs).collect()
    };
    let retry_after = raw.retry_after.and_then(|s| cooldown("router_settings.retry_after", s, report));
    let mut args = RoutingStrategyArgs::default();
    if let Some(a) = raw.routing_strategy_args {
        if let Some(b) = a.lowest_latency_buffer {
            if b.is_finite() && b >= 0.0 {
                args.lowest_latency_buffer = b;
            } else {
                report.error(
                    "router_settings.routing_strategy_args.lowest_latency_buffer",
                    format_args!("must be a number, zero or more, found {b}"),
                );
            }
        }
        if let Some(ttl) = a.ttl.and_then(|s| positive_duration("router_settings.routing_strategy_args.ttl", s, report))
        {
            args.ttl = ttl;
        }
    }
    let settings = RouterSettings {
        routing_strategy,
        num_retries: raw.num_retries.or(litellm.num_retries),
        timeout: timeout.or(litellm.request_timeout),
        allowed_fails: raw.allowed_fails,
        cooldown_time,
        fallbacks: fallbacks.into_iter().flat_map(|Pairs(pairs)| pairs).collect(),
        default_fallbacks: raw.default_fallbacks.or(litellm_extra.default_fallbacks).unwrap_or_default(),
        context_window_fallbacks: pairs(raw.context_window_fallbacks.or(litellm_extra.context_window_fallbacks)),
        content_policy_fallbacks: pairs(raw.content_policy_fallbacks.or(litellm_extra.content_policy_fallbacks)),
        retry_after: retry_after.unwrap_or_default(),
        max_fallbacks: raw.max_fallbacks.map_or(RouterSettings::DEFAULT_MAX_FALLBACKS, |m| m as usize),
        disable_cooldowns: raw.disable_cooldowns.unwrap_or(false),
        routing_strategy_args: args,
    };
    (settings, RouterExtra { stream_timeout, fallback_paths })
}

/// The special fallback lists `litellm_settings` may carry instead of `router_settings`.
struct LitellmFallbacks {
    default_fallbacks: Option<Vec<String>>,
    context_window_fallbacks: Option<Vec<Pairs<Vec<String>>>>,
    content_policy_fallbacks: Option<Vec<Pairs<Vec<String>>>>,
}

/// What `router_settings` gives besides [`RouterSettings`].
struct RouterExtra {
    /// `router_settings.stream_timeout`: only deployments carry it.
    stream_timeout: Option<Duration>,
    /// The key path of each entry of [`RouterSettings::fallbacks`], for warnings.
    fallback_paths: Vec<String>,
}

/// The names `routing_strategy` takes.
const ROUTING_STRATEGIES: [&str; 5] =
    ["simple-shuffle", "latency-based-routing", "least-busy", "usage-based-routing", "usage-based-routing-v2"];

/// A `routing_strategy` name, `None` if we do not know it.
fn routing_strategy(name: &str) -> Option<RoutingStrategy> {
    Some(match name {
        "simple-shuffle" => RoutingStrategy::SimpleShuffle,
        "latency-based-routing" => RoutingStrategy::LatencyBased,
        "least-busy" => RoutingStrategy::LeastBusy,
        "usage-based-routing" | "usage-based-routing-v2" => RoutingStrategy::UsageBased,
        _ => return None,
    })
}

/// `general_settings`.
fn general_settings(raw: litellm::GeneralSettings, report: &mut Report) -> GeneralSettings {
    let mut general = GeneralSettings::default();
    if let Some(key) = raw.master_key {
        if key.is_empty() {
            report.error("general_settings.master_key", "must not be empty (leave the key out for an open gateway)");
        } else {
            if !key.starts_with("sk-") {
                report.warn(
                    "general_settings.master_key",
                    "does not start with \"sk-\" as LiteLLM requires; accepted, but LiteLLM's clients and UI may refuse it",
                );
            }
            general.master_key = Some(key);
        }
    }
    if let Some(mb) = raw.max_request_size_mb {
        match megabytes(mb) {
            Some(bytes) => general.max_request_size_bytes = bytes,
            None => report.error(
                "general_settings.max_request_size_mb",
                format_args!("must be a positive number of megabytes, found {mb}"),
            ),
        }
    }
    general.database_url = raw.database_url.filter(|url| !url.is_empty());
    general.fail_closed = raw.fail_closed.unwrap_or(false);
    match raw.budget_reserve_max_tokens {
        Some(0) => report.error("general_settings.budget_reserve_max_tokens", "must be at least 1"),
        Some(n) => general.budget_reserve_max_tokens = n,
        None => {}
    }
    general.open_gateway = raw.open_gateway.unwrap_or(false);
    general.background_health_checks = raw.background_health_checks.unwrap_or(false);
    if let Some(interval) = raw.health_check_interval {
        if let Some(d) = positive_duration("general_settings.health_check_interval", interval, report) {
            general.health_check_interval = d;
        }
    }
    if general.open_gateway && general.master_key.is_some() {
        report.error("general_settings.open_gateway", "true contradicts general_settings.master_key: keep one of them");
    }
    general
}

/// Redis for shared counters, in LiteLLM's order: `router_settings.redis_url`, `redis_host` (+ port,
/// password, db), then `REDIS_URL`, then `REDIS_HOST` (+ `REDIS_PORT`, `REDIS_PASSWORD`).
fn redis_url(raw: &litellm::RouterSettings, env: &Environment<'_>, report: &mut Report) -> Option<String> {
    if let Some(url) = raw.redis_url.as_deref().filter(|u| !u.is_empty()) {
        if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
            report.error("router_settings.redis_url", "must start with redis://, rediss:// or unix://");
            return None;
        }
        return Some(url.to_owned());
    }
    let port_of = |value: Option<String>, path: &str, report: &mut Report| -> Option<u16> {
        let text = value?;
        match text.trim().parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => {
                report.error(path, format_args!("must be a port number, found \"{text}\""));
                None
            }
        }
    };
    let build = |host: &str, port: u16, password: Option<&str>, db: Option<u32>| {
        let auth = password.filter(|p| !p.is_empty()).map(|p| format!(":{}@", percent_encode(p))).unwrap_or_default();
        let db = db.map(|d| format!("/{d}")).unwrap_or_default();
        format!("redis://{auth}{host}:{port}{db}")
    };
    if let Some(host) = raw.redis_host.as_deref().filter(|h| !h.is_empty()) {
        let port = match &raw.redis_port {
            None => Some(6379),
            Some(serde_yaml::Value::Number(n)) => port_of(Some(n.to_string()), "router_settings.redis_port", report),
            Some(serde_yaml::Value::String(s)) => port_of(Some(s.clone()), "router_settings.redis_port", report),
            Some(_) => port_of(Some(String::new()), "router_settings.redis_port", report),
        }?;
        return Some(build(host, port, raw.redis_password.as_deref(), raw.redis_db));
    }
    if let Some(url) = env.get("REDIS_URL").filter(|u| !u.is_empty()) {
        return Some(url);
    }
    let host = env.get("REDIS_HOST").filter(|h| !h.is_empty())?;
    let port = match env.get("REDIS_PORT") {
        None => 6379,
        Some(p) => port_of(Some(p), "REDIS_PORT", report)?,
    };
    Some(build(&host, port, env.get("REDIS_PASSWORD").as_deref(), None))
}

/// Percent-encodes the characters a URL's userinfo cannot hold as they are.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Megabytes (LiteLLM's MB are 1024 * 1024 bytes) as a byte count, `None` unless positive and representable.
fn megabytes(mb: f64) -> Option<usize> {
    let bytes = mb * 1024.0 * 1024.0;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < usize::MAX as f64) {
        return None;
    }
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked above: 1 <= bytes < MAX")]
    Some(bytes as usize)
}

/// A timeout: positive seconds.
fn positive_duration(path: &str, seconds: Seconds, report: &mut Report) -> Option<Duration> {
    if !(seconds.0.is_finite() && seconds.0 > 0.0) {
        report.error(path, format_args!("must be a positive number of seconds, found {}", seconds.0));
        return None;
    }
    duration(path, seconds, report)
}

/// A cooldown: seconds, zero allowed (no cooldown).
fn cooldown(path: &str, seconds: Seconds, report: &mut Report) -> Option<Duration> {
    if !(seconds.0.is_finite() && seconds.0 >= 0.0) {
        report.error(path, format_args!("must be a number of seconds, zero or more, found {}", seconds.0));
        return None;
    }
    duration(path, seconds, report)
}

/// Seconds as a [`Duration`] without panicking on huge values.
fn duration(path: &str, seconds: Seconds, report: &mut Report) -> Option<Duration> {
    match Duration::try_from_secs_f64(seconds.0) {
        Ok(duration) => Some(duration),
        Err(_) => {
            report.error(path, "is too long a duration");
            None
        }
    }
}

/// Defaults a deployment takes from the settings sections.
struct Defaults {
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    drop_params: bool,
}

/// A deployment before its id is known.
struct Draft {
    deployment: Deployment,
    /// `model_info.id`, when given.
    explicit_id: Option<String>,
    /// Hash of `model_name` and the raw `litellm_params`.
    hash: Fnv,
}

/// The model name a provider expects: Fireworks wants its account path, which LiteLLM adds when missing.
fn provider_model_name(provider: Option<Provider>, name: String) -> String {
    match provider {
        Some(Provider::FireworksAi) if !name.starts_with("accounts/") => format!("accounts/fireworks/models/{name}"),
        _ => name,
    }
}

/// Vertex AI and Bedrock live on regional hosts: their default api_base follows the configured region.
fn regional_api_base(
    provider: Option<Provider>,
    vertex_location: Option<&str>,
    aws_region: Option<&str>,
    env: &Environment<'_>,
) -> Option<String> {
    match provider? {
        Provider::VertexAi => {
            let location = vertex_location
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .or_else(|| env.get("VERTEXAI_LOCATION"))?;
            // LiteLLM's `get_vertex_base_url`: the global endpoint, a multi-region (`us`, `eu`), a region.
            Some(match location.as_str() {
                "global" => "https://aiplatform.googleapis.com".to_string(),
                multi if !multi.contains('-') => format!("https://aiplatform.{multi}.rep.googleapis.com"),
                region => format!("https://{region}-aiplatform.googleapis.com"),
            })
        }
        Provider::Bedrock => {
            let region = aws_region
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .or_else(|| env.get("AWS_REGION"))
                .or_else(|| env.get("AWS_DEFAULT_REGION"))?;
            Some(format!("https://bedrock-runtime.{region}.amazonaws.com"))
        }
        _ => None,
    }
}

/// LiteLLM's Azure API version when neither `api_version` nor `AZURE_API_VERSION` gives one.
const AZURE_DEFAULT_API_VERSION: &str = "2025-02-01-preview";

/// The provider's default `api_base` for `model` (`litellm_params.model`): Gemini 3 and later models are
/// served by `v1alpha` (LiteLLM's `is_gemini_3_or_newer`), older ones by `v1beta`.
fn default_api_base(provider: Provider, model: &str) -> Option<String> {
    if provider == Provider::Gemini {
        let name = model.rsplit('/').next().unwrap_or(model);
        let major =
            name.strip_prefix("gemini-").and_then(|r| r.split(['-', '.']).next()).and_then(|v| v.parse::<u32>().ok());
        if major.is_some_and(|m| m >= 3) {
            return Some("https://generativelanguage.googleapis.com/v1alpha".to_string());
        }
    }
    provider.default_api_base().map(str::to_owned)
}

/// The environment variable LiteLLM reads a provider's key from when `api_key` is not configured.
fn default_key_var(provider: Provider) -> Option<&'static str> {
    Some(match provider {
        Provider::OpenAI | Provider::TextCompletionOpenAI => "OPENAI_API_KEY",
        Provider::Azure => "AZURE_API_KEY",
        Provider::Groq => "GROQ_API_KEY",
        Provider::Mistral => "MISTRAL_API_KEY",
        Provider::DeepSeek => "DEEPSEEK_API_KEY",
        Provider::TogetherAi => "TOGETHERAI_API_KEY",
        Provider::Perplexity => "PERPLEXITYAI_API_KEY",
        Provider::OpenRouter => "OPENROUTER_API_KEY",
        Provider::FireworksAi => "FIREWORKS_AI_API_KEY",
        Provider::Xai => "XAI_API_KEY",
        Provider::HostedVllm => "HOSTED_VLLM_API_KEY",
        Provider::Anthropic => "ANTHROPIC_API_KEY",
        Provider::Gemini => "GEMINI_API_KEY",
        Provider::Cohere => "COHERE_API_KEY",
        Provider::Ollama | Provider::OllamaChat | Provider::VertexAi | Provider::Bedrock => return None,
    })
}

/// One `model_list[]` entry; `None` when it has errors (they are in `report`).
fn deployment(entry: Entry, defaults: &Defaults, env: &Environment<'_>, report: &mut Report) -> Option<Draft> {
    let Entry { index, entry, raw_params } = entry;
    let errors_before = report.errors.len();
    let base = index_path("model_list", index);
    let params_path = key_path(&base, "litellm_params");
    let at = |key: &str| key_path(&params_path, key);
    let params = entry.litellm_params;
    let model_name = entry.model_name;
    if model_name.trim().is_empty() {
        report.error(&key_path(&base, "model_name"), "must not be empty");
    }

    let (provider, upstream_model) =
        provider_of(&params.model, params.custom_llm_provider.as_deref(), &model_name, &params_path, report)?;
    let served = match &provider {
        ProviderChoice::Served(p) => Some(*p),
        ProviderChoice::Unsupported(_) => None,
    };
    let mock_response = params.mock_response;
    let azure = served == Some(Provider::Azure);

    // LiteLLM reads Azure's endpoint and version from the environment when the config leaves them out.
    let configured_base = non_empty(params.api_base).or_else(|| azure.then(|| env.get("AZURE_API_BASE")).flatten());
    let bedrock = served == Some(Provider::Bedrock);
    let runtime_endpoint = non_empty(params.aws_bedrock_runtime_endpoint.clone())
        .or_else(|| bedrock.then(|| env.get("AWS_BEDROCK_RUNTIME_ENDPOINT")).flatten());
    let api_base_given = configured_base.is_some();
    let api_base = match configured_base {
        Some(base) => url(&at("api_base"), &base, report),
        // Bedrock's endpoint: api_base, else the runtime endpoint, else the region's (LiteLLM's order).
        None if bedrock && runtime_endpoint.is_some() => runtime_endpoint.clone(),
        None => regional_api_base(served, params.vertex_location.as_deref(), params.aws_region_name.as_deref(), env)
            .or_else(|| served.and_then(|p| default_api_base(p, &params.model))),
    };
    // LiteLLM's default Azure API version (`litellm.AZURE_DEFAULT_API_VERSION`).
    let api_version = non_empty(params.api_version)
        .or_else(|| azure.then(|| env.get("AZURE_API_VERSION")).flatten())
        .or_else(|| azure.then(|| AZURE_DEFAULT_API_VERSION.to_string()));
    if let (Some(p), None, None) = (served, &api_base, &mock_response) {
        if p.default_api_base().is_none() {
            report.error(
                &at("api_base"),
                format_args!("api_base is required for provider {} (or give a mock_response)", p.prefix()),
            );
        }
    }

    let timeout = params.timeout.and_then(|s| positive_duration(&at("timeout"), s, report));
    let stream_timeout = params.stream_timeout.and_then(|s| positive_duration(&at("stream_timeout"), s, report));
    if let Some(weight) = params.weight {
        if !(weight.is_finite() && weight > 0.0) {
            report.error(&at("weight"), format_args!("must be a positive number, found {weight}"));
        }
    }

    let mut model_info = entry.model_info.unwrap_or_default();
    let info_path = key_path(&base, "model_info");
    let input_cost =
        cost(params.input_cost_per_token, &model_info, "input_cost_per_token", &params_path, &info_path, report);
    let output_cost =
        cost(params.output_cost_per_token, &model_info, "output_cost_per_token", &params_path, &info_path, report);
    let explicit_id = match model_info.get("id") {
        None | Some(Json::Null) => None,
        Some(Json::String(id)) if !id.is_empty() => Some(id.clone()),
        Some(Json::Number(n)) => Some(n.to_string()),
        Some(other) => {
            report.error(&key_path(&info_path, "id"), format_args!("expected a non-empty string, found {other}"));
            None
        }
    };

    if report.errors.len() > errors_before {
        return None;
    }
    let mut hash = Fnv::new();
    hash.write(model_name.as_bytes());
    hash.write(&[0xff]);
    canonical(&raw_params, &mut hash);
    if let Some(id) = &explicit_id {
        model_info.insert("id".to_owned(), Json::String(id.clone()));
    }
    let api_key_given = params.api_key.as_deref().is_some_and(|k| !k.is_empty());
    let bare_wildcard = params.model == "*";
    let deployment = Deployment {
        id: explicit_id.clone().unwrap_or_default(),
        index,
        model_name,
        litellm_model: params.model,
        provider,
        upstream_model: provider_model_name(served, upstream_model),
        api_base,
        wildcard_keys: if bare_wildcard && !api_key_given {
            tollgate_filters::Provider::ALL
                .iter()
                .filter_map(|p| default_key_var(*p).and_then(|v| env.get(v)).map(|k| (*p, k)))
                .collect()
        } else {
            Vec::new()
        },
        from_wildcard: false,
        provider_from_request: false,
        api_key_given,
        api_base_given,
        // LiteLLM falls back to the provider's usual variable (OPENAI_API_KEY, GROQ_API_KEY, ...).
        api_key: non_empty(params.api_key).or_else(|| served.and_then(default_key_var).and_then(|v| env.get(v))),
        api_version,
        timeout: timeout.or(defaults.timeout),
        stream_timeout: stream_timeout.or(defaults.stream_timeout),
        max_retries: params.num_retries.or(params.max_retries),
        cloud: CloudParams {
            vertex_project: non_empty(params.vertex_project).or_else(|| env.get("VERTEXAI_PROJECT")),
            vertex_location: non_empty(params.vertex_location).or_else(|| env.get("VERTEXAI_LOCATION")),
            vertex_credentials: non_empty(params.vertex_credentials)
                .or_else(|| env.get("GOOGLE_APPLICATION_CREDENTIALS")),
            aws_access_key_id: non_empty(params.aws_access_key_id).or_else(|| env.get("AWS_ACCESS_KEY_ID")),
            aws_secret_access_key: non_empty(params.aws_secret_access_key).or_else(|| env.get("AWS_SECRET_ACCESS_KEY")),
            aws_session_token: non_empty(params.aws_session_token).or_else(|| env.get("AWS_SESSION_TOKEN")),
            aws_region_name: non_empty(params.aws_region_name)
                .or_else(|| env.get("AWS_REGION"))
                .or_else(|| env.get("AWS_DEFAULT_REGION")),
            aws_bedrock_runtime_endpoint: runtime_endpoint,
        },
        rpm: params.rpm,
        tpm: params.tpm,
        weight: params.weight,
        input_cost_per_token: input_cost,
        output_cost_per_token: output_cost,
        mock_response,
        drop_params: params.drop_params.unwrap_or(defaults.drop_params),
        model_info,
    };
    Some(Draft { deployment, explicit_id, hash })
}

/// `None` for an absent or empty string.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.trim().is_empty())
}

/// An `api_base`: an http(s) URL with a host; the trailing `/` is trimmed.
fn url(path: &str, base: &str, report: &mut Report) -> Option<String> {
    let trimmed = base.trim().trim_end_matches('/');
    let ok = trimmed.parse::<http::Uri>().ok().is_some_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty())
    });
    if !ok {
        report.error(path, format_args!("expected an http:// or https:// URL, found \"{base}\""));
        return None;
    }
    Some(trimmed.to_owned())
}

/// The provider of `litellm_params.model` and the model name sent upstream; `None` on an error.
///
/// A bare name (`gpt-4o`) is OpenAI's, as LiteLLM infers it. `custom_llm_provider` names the provider when
/// given (LiteLLM then sends `model` as is, minus that prefix). A prefix we do not know, or a provider whose
/// translator has not landed, is warned about and kept as [`ProviderChoice::Unsupported`]: the file still
/// loads, and requests to that deployment answer 400 naming it.
fn provider_of(
    model: &str,
    custom_llm_provider: Option<&str>,
    model_name: &str,
    params_path: &str,
    report: &mut Report,
) -> Option<(ProviderChoice, String)> {
    let model_path = key_path(params_path, "model");
    if model.trim().is_empty() {
        report.error(&model_path, "must not be empty");
        return None;
    }
    let (prefix, provider, upstream, path) = match custom_llm_provider {
        Some(custom) => {
            let upstream = model.strip_prefix(custom).and_then(|rest| rest.strip_prefix('/')).unwrap_or(model);
            (custom, Provider::from_prefix(custom), upstream, key_path(params_path, "custom_llm_provider"))
        }
        None => match model.split_once('/') {
            None => ("openai", Some(Provider::OpenAI), model, model_path.clone()),
            Some((prefix, rest)) => match split_model(model) {
                Ok((provider, upstream)) => (prefix, Some(provider), upstream, model_path.clone()),
                Err(_) => (prefix, None, rest, model_path.clone()),
            },
        },
    };
    if upstream.trim().is_empty() {
        report.error(&model_path, format_args!("names no model after the provider prefix \"{prefix}/\""));
        return None;
    }
    let choice = match provider {
        Some(p) => ProviderChoice::Served(p),
        None => {
            report.warn(
                &path,
                format_args!("provider \"{prefix}\" is not served yet; requests to model \"{model_name}\" answer 400"),
            );
            ProviderChoice::Unsupported(prefix.to_owned())
        }
    };
    Some((choice, upstream.to_owned()))
}

/// A per-token price from `litellm_params`, else from `model_info`; a number, zero or more.
fn cost(
    in_params: Option<f64>,
    model_info: &serde_json::Map<String, Json>,
    key: &str,
    params_path: &str,
    info_path: &str,
    report: &mut Report,
) -> Option<f64> {
    let (value, path) = match (in_params, model_info.get(key)) {
        (Some(value), _) => (value, key_path(params_path, key)),
        (None, None | Some(Json::Null)) => return None,
        (None, Some(Json::Number(n))) => match n.as_f64() {
            Some(value) => (value, key_path(info_path, key)),
            None => return None,
        },
        (None, Some(other)) => {
            report.error(&key_path(info_path, key), format_args!("expected a number, found {other}"));
            return None;
        }
    };
    if !(value.is_finite() && value >= 0.0) {
        report.error(&path, format_args!("must be a number, zero or more, found {value}"));
        return None;
    }
    Some(value)
}

/// Gives every deployment its id: `model_info.id` when given (each must be unique), else the hash of its
/// `model_name` and `litellm_params` as 16 hex digits. An entry whose hash is taken (an identical entry
/// earlier in the file) mixes in its index, so the first of identical entries keeps the plain hash and ids
/// only change for the entries that would collide.
fn assign_ids(drafts: &mut [Draft], report: &mut Report) {
    let mut taken: HashMap<String, usize> = HashMap::new();
    for draft in drafts.iter() {
        let Some(id) = &draft.explicit_id else { continue };
        let index = draft.deployment.index;
        if let Some(first) = taken.insert(id.clone(), index) {
            report.error(
                &key_path(&index_path("model_list", index), "model_info.id"),
                format_args!("id \"{id}\" is already used by model_list[{first}]"),
            );
        }
    }
    let mut taken: HashSet<String> = taken.into_keys().collect();
    for draft in drafts.iter_mut() {
        if draft.explicit_id.is_none() {
            let mut id = draft.hash.hex();
            let mut attempt: u64 = 0;
            while taken.contains(&id) {
                let mut salted = draft.hash;
                salted.write(&(draft.deployment.index as u64).to_le_bytes());
                salted.write(&attempt.to_le_bytes());
                id = salted.hex();
                attempt += 1;
            }
            taken.insert(id.clone());
            draft.deployment.model_info.insert("id".to_owned(), Json::String(id.clone()));
            draft.deployment.id = id;
        }
    }
}

/// Deployments with the same `model_name` form one group, groups in order of first appearance.
fn group(drafts: Vec<Draft>) -> (Vec<Arc<ModelGroup>>, HashMap<String, usize>) {
    let mut groups: Vec<ModelGroup> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for draft in drafts {
        let deployment = draft.deployment;
        let position = *index.entry(deployment.model_name.clone()).or_insert_with(|| {
            groups.push(ModelGroup { name: deployment.model_name.clone(), deployments: Vec::new() });
            groups.len() - 1
        });
        if let Some(group) = groups.get_mut(position) {
            group.deployments.push(Arc::new(deployment));
        }
    }
    (groups.into_iter().map(Arc::new).collect(), index)
}

/// Fallbacks naming a group that does not exist are warned about (LiteLLM only finds out at request time).
fn check_fallbacks(config: &Config, paths: &[String], report: &mut Report) {
    for ((group, targets), path) in config.router.fallbacks.iter().zip(paths) {
        if config.group(group).is_none() {
            report.warn(path, format_args!("group \"{group}\" is not in model_list"));
        }
        for (i, target) in targets.iter().enumerate() {
            if config.group(target).is_none() {
                report.warn(&index_path(path, i), format_args!("fallback group \"{target}\" is not in model_list"));
            }
        }
    }
}

/// FNV-1a, 64 bits: small, stable across Rust versions and platforms (std's hasher is neither).
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// Feeds a YAML value to the hasher in a canonical form: mapping keys sorted, every item typed and
/// length-prefixed so that no two different values feed the same bytes.
///
/// A literal `api_key` is left out: the id is public (`x-litellm-model-id`) and must not be derived from a
/// secret. An `os.environ/NAME` key is kept (it is a name, and it tells two keys of one model apart).
fn canonical(value: &Value, hash: &mut Fnv) {
    match value {
        Value::Null => hash.write(b"n"),
        Value::Bool(b) => hash.write(if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            let text = n.to_string();
            hash.write(b"#");
            hash.write(&(text.len() as u64).to_le_bytes());
            hash.write(text.as_bytes());
        }
        Value::String(s) => {
            hash.write(b"s");
            hash.write(&(s.len() as u64).to_le_bytes());
            hash.write(s.as_bytes());
        }
        Value::Sequence(items) => {
            hash.write(b"[");
            hash.write(&(items.len() as u64).to_le_bytes());
            for item in items {
                canonical(item, hash);
            }
        }
        Value::Mapping(map) => {
            let mut entries: Vec<(Vec<u8>, &Value)> = map
                .iter()
                .filter(|(key, value)| !is_literal_api_key(key, value))
                .map(|(key, value)| (key_bytes(key), value))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            hash.write(b"{");
            hash.write(&(entries.len() as u64).to_le_bytes());
            for (key, value) in entries {
                hash.write(&key);
                canonical(value, hash);
            }
        }
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            hash.write(b"!");
            hash.write(&(tag.len() as u64).to_le_bytes());
            hash.write(tag.as_bytes());
            canonical(&tagged.value, hash);
        }
    }
}

/// Whether a mapping entry is an `api_key` given literally (not as `os.environ/NAME`).
fn is_literal_api_key(key: &Value, value: &Value) -> bool {
    key.as_str() == Some("api_key") && !value.as_str().is_some_and(|s| s.starts_with(super::env::PREFIX))
}

/// The canonical bytes of a mapping key (length-prefixed text), for sorting and hashing.
fn key_bytes(key: &Value) -> Vec<u8> {
    let text = litellm::key_text(key);
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}
