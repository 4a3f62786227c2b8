//! Unit tests of config loading: what a LiteLLM user's config.yaml becomes, and what each mistake says.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_yaml::Value;
use tollgate_filters::Provider;

use super::litellm::{self, KeyTable};
use super::{load, parse_with_env, Config, ConfigError, Deployment, ProviderChoice, RoutingStrategy};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An environment with exactly these variables.
fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name: &str| vars.get(name).cloned()
}

/// Parses with an empty process environment.
/// A `model_list` of one mock deployment, for tests about the other sections (a file needs one).
const ONE_MODEL: &str = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, mock_response: hi}\n";

fn parse_clean(yaml: &str) -> Result<Config, ConfigError> {
    parse_with_env(yaml, &|_| None)
}

/// The errors of a config that must be refused.
fn errors_of(yaml: &str) -> Result<Vec<String>, String> {
    match parse_clean(yaml) {
        Ok(config) => Err(format!("accepted a bad config; warnings: {:?}", config.warnings)),
        Err(e) => Ok(e.errors),
    }
}

/// The deployment at `model_list[index]`.
fn deployment(config: &Config, index: usize) -> Result<&Deployment, String> {
    config
        .groups
        .iter()
        .flat_map(|g| g.deployments.iter())
        .find(|d| d.index == index)
        .map(|d| &**d)
        .ok_or_else(|| format!("no deployment model_list[{index}]"))
}

/// Every key LiteLLM's config knows that we read, with values of the right type.
const FULL: &str = r#"
environment_variables:
  FILE_KEY: sk-from-file
  MASTER: sk-master-from-file
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: https://api.openai.com/v1/
      api_key: os.environ/FILE_KEY
      timeout: 30
      stream_timeout: "7.5"
      max_retries: 2
      rpm: 600
      tpm: 100000
      weight: 2
      input_cost_per_token: 0.0000025
      output_cost_per_token: 0.00001
      drop_params: false
    model_info:
      id: gpt-4o-primary
      mode: chat
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://example-eu.openai.azure.com
      api_key: os.environ/AZURE_KEY
      api_version: "2024-06-01"
    model_info:
      input_cost_per_token: 0.000002
      output_cost_per_token: 0.000008
  - model_name: offline
    litellm_params:
      model: groq/llama-3.1-8b-instant
      mock_response: "hi there"
router_settings:
  routing_strategy: latency-based-routing
  num_retries: 3
  timeout: 45
  stream_timeout: 12
  allowed_fails: 4
  cooldown_time: 0.5
  fallbacks:
    - gpt-4o: ["offline"]
litellm_settings:
  request_timeout: 600
  num_retries: 1
  drop_params: true
general_settings:
  master_key: os.environ/MASTER
  max_request_size_mb: 1.5
  database_url: postgresql://tollgate@localhost/tollgate
"#;

#[test]
fn a_file_with_every_key_we_read_loads_with_each_value_in_place() -> TestResult {
    let config = parse_with_env(FULL, &env_of(&[("AZURE_KEY", "az-key-from-env")]))?;
    assert_eq!(config.warnings, Vec::<String>::new());
    assert_eq!(config.groups.len(), 2);

    let primary = deployment(&config, 0)?;
    assert_eq!(primary.id, "gpt-4o-primary");
    assert_eq!(primary.model_name, "gpt-4o");
    assert_eq!(primary.litellm_model, "openai/gpt-4o");
    assert_eq!(primary.provider, ProviderChoice::Served(Provider::OpenAI));
    assert_eq!(primary.upstream_model, "gpt-4o");
    assert_eq!(primary.api_base.as_deref(), Some("https://api.openai.com/v1"), "trailing / trimmed");
    assert_eq!(primary.api_key.as_deref(), Some("sk-from-file"));
    assert_eq!(primary.api_version, None);
    assert_eq!(primary.timeout, Some(Duration::from_secs(30)));
    assert_eq!(primary.stream_timeout, Some(Duration::from_millis(7500)), "numeric string accepted");
    assert_eq!(primary.max_retries, Some(2));
    assert_eq!(primary.rpm, Some(600));
    assert_eq!(primary.tpm, Some(100_000));
    assert_eq!(primary.weight, Some(2.0));
    assert_eq!(primary.input_cost_per_token, Some(0.0000025));
    assert_eq!(primary.output_cost_per_token, Some(0.00001));
    assert_eq!(primary.mock_response, None);
    assert!(!primary.drop_params, "the deployment's drop_params wins over litellm_settings");
    assert_eq!(primary.model_info.get("mode"), Some(&serde_json::json!("chat")));
    assert_eq!(primary.model_info.get("id"), Some(&serde_json::json!("gpt-4o-primary")));

    let azure = deployment(&config, 1)?;
    assert_eq!(azure.provider, ProviderChoice::Served(Provider::Azure));
    assert_eq!(azure.upstream_model, "gpt-4o-eu");
    assert_eq!(azure.api_key.as_deref(), Some("az-key-from-env"));
    assert_eq!(azure.api_version.as_deref(), Some("2024-06-01"));
    assert_eq!(azure.timeout, Some(Duration::from_secs(45)), "router_settings.timeout");
    assert_eq!(azure.stream_timeout, Some(Duration::from_secs(12)), "router_settings.stream_timeout");
    assert_eq!(azure.input_cost_per_token, Some(0.000002), "from model_info");
    assert_eq!(azure.output_cost_per_token, Some(0.000008), "from model_info");
    assert!(azure.drop_params, "litellm_settings.drop_params");
    assert_eq!(azure.id.len(), 16, "hashed id: {}", azure.id);
    assert_eq!(azure.model_info.get("id"), Some(&serde_json::json!(azure.id)));

    let offline = deployment(&config, 2)?;
    assert_eq!(offline.provider, ProviderChoice::Served(Provider::Groq));
    assert_eq!(offline.api_base.as_deref(), Provider::Groq.default_api_base());
    assert_eq!(offline.mock_response.as_deref(), Some("hi there"));

    assert_eq!(config.router.routing_strategy, RoutingStrategy::LatencyBased);
    assert_eq!(config.router.num_retries, Some(3));
    assert_eq!(config.router.timeout, Some(Duration::from_secs(45)));
    assert_eq!(config.router.allowed_fails, Some(4));
    assert_eq!(config.router.cooldown_time, Some(Duration::from_millis(500)));
    assert_eq!(config.router.fallbacks, vec![("gpt-4o".to_owned(), vec!["offline".to_owned()])]);
    assert_eq!(config.litellm.request_timeout, Some(Duration::from_secs(600)));
    assert_eq!(config.litellm.num_retries, Some(1));
    assert!(config.litellm.drop_params);
    assert_eq!(config.general.master_key.as_deref(), Some("sk-master-from-file"));
    assert_eq!(config.general.max_request_size_bytes, 1_572_864);
    assert_eq!(config.general.database_url.as_deref(), Some("postgresql://tollgate@localhost/tollgate"));
    Ok(())
}

#[test]
fn an_empty_file_or_one_without_model_list_entries_is_refused() {
    // Each would load as "no models, no master key": an open gateway that serves nothing.
    for yaml in ["", "# only a comment\n", "model_list:\n", "model_list: []\n", "router_settings:\ngeneral_settings:\n"]
    {
        let Err(e) = parse_clean(yaml) else { panic!("{yaml:?} was accepted") };
        assert!(e.errors.iter().any(|e| e.starts_with("model_list: required")), "{yaml:?}: {e}");
    }
}

#[test]
fn open_gateway_is_read_and_contradicting_a_master_key_is_refused() -> TestResult {
    let entry = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, mock_response: hi}\n";
    let config = parse_clean(&format!("{entry}general_settings:\n  open_gateway: true\n"))?;
    assert!(config.general.open_gateway);
    assert!(!parse_clean(entry)?.general.open_gateway);
    let Err(e) = parse_clean(&format!("{entry}general_settings:\n  open_gateway: true\n  master_key: sk-1\n")) else {
        panic!("open_gateway with a master_key was accepted");
    };
    assert!(e.errors.iter().any(|e| e.starts_with("general_settings.open_gateway")), "{e}");
    Ok(())
}

#[test]
fn os_environ_reads_environment_variables_of_the_file_before_the_process() -> TestResult {
    let yaml = r#"
environment_variables:
  OPENAI_API_KEY: sk-file
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY, api_base: os.environ/BASE}
"#;
    let env = env_of(&[("OPENAI_API_KEY", "sk-process"), ("BASE", "http://127.0.0.1:8080/v1")]);
    let config = parse_with_env(yaml, &env)?;
    let d = deployment(&config, 0)?;
    assert_eq!(d.api_key.as_deref(), Some("sk-file"));
    assert_eq!(d.api_base.as_deref(), Some("http://127.0.0.1:8080/v1"), "from the process environment");
    Ok(())
}

#[test]
fn os_environ_works_for_any_string_anywhere() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: os.environ/GROUP
    litellm_params:
      model: os.environ/MODEL
      mock_response: os.environ/ANSWER
    model_info: {owner: os.environ/OWNER}
router_settings:
  routing_strategy: os.environ/STRATEGY
general_settings:
  master_key: os.environ/MASTER_KEY
  database_url: os.environ/DATABASE_URL
"#;
    let env = env_of(&[
        ("GROUP", "g"),
        ("MODEL", "mistral/mistral-small"),
        ("ANSWER", "mocked"),
        ("OWNER", "team-a"),
        ("STRATEGY", "least-busy"),
        ("MASTER_KEY", "sk-admin"),
        ("DATABASE_URL", "postgresql://db/tollgate"),
    ]);
    let config = parse_with_env(yaml, &env)?;
    let d = deployment(&config, 0)?;
    assert_eq!(d.model_name, "g");
    assert_eq!(d.provider, ProviderChoice::Served(Provider::Mistral));
    assert_eq!(d.upstream_model, "mistral-small");
    assert_eq!(d.mock_response.as_deref(), Some("mocked"));
    assert_eq!(d.model_info.get("owner"), Some(&serde_json::json!("team-a")));
    assert_eq!(config.router.routing_strategy, RoutingStrategy::LeastBusy);
    assert_eq!(config.general.master_key.as_deref(), Some("sk-admin"));
    assert_eq!(config.general.database_url.as_deref(), Some("postgresql://db/tollgate"));
    Ok(())
}

#[test]
fn a_missing_environment_variable_names_the_key_path_and_the_variable() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"#;
    let errors = errors_of(yaml)?;
    assert_eq!(
        errors,
        vec![
            "model_list[0].litellm_params.api_key: environment variable OPENAI_API_KEY is not set",
            "general_settings.master_key: environment variable LITELLM_MASTER_KEY is not set",
        ]
    );
    Ok(())
}

#[test]
fn a_key_we_ignore_may_name_a_missing_variable() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, mock_response: hi, watsonx_region_name: os.environ/NOT_SET}
"#;
    let config = parse_clean(yaml)?;
    assert_eq!(config.warnings, vec!["model_list[0].litellm_params.watsonx_region_name: not supported yet, ignored"]);
    Ok(())
}

#[test]
fn a_value_of_the_wrong_type_names_its_key_path() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: a
    litellm_params: {model: openai/a, mock_response: x}
  - model_name: b
    litellm_params: {model: openai/b, mock_response: x}
  - model_name: c
    litellm_params: {model: 42, mock_response: x}
"#;
    let errors = errors_of(yaml)?;
    assert_eq!(errors, vec!["model_list[2].litellm_params.model: invalid type: integer `42`, expected a string"]);
    Ok(())
}

#[test]
fn every_mistake_of_the_file_is_reported_not_just_the_first() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: a
    litellm_params: {model: openai/a, rpm: many}
  - model_name: b
    litellm_params: {model: openai/b, timeout: -1, weight: 0, input_cost_per_token: -0.1}
  - model_name: c
  - litellm_params: {model: openai/d}
router_settings:
  routing_strategy: round-robin
  fallbacks: {a: [b]}
litellm_settings:
  request_timeout: 10s
general_settings:
  max_request_size_mb: lots
"#;
    let errors = errors_of(yaml)?;
    let expected = [
        "model_list[0].litellm_params.rpm: invalid type: string \"many\", expected a whole number, zero or more",
        "model_list[1].litellm_params.timeout: must be a positive number of seconds, found -1",
        "model_list[1].litellm_params.weight: must be a positive number, found 0",
        "model_list[1].litellm_params.input_cost_per_token: must be a number, zero or more, found -0.1",
        "model_list[2]: missing field `litellm_params`",
        "model_list[3]: missing field `model_name`",
        "router_settings.fallbacks: invalid type: map, expected a sequence",
        "litellm_settings.request_timeout: invalid value: string \"10s\", expected a number of seconds",
        "general_settings.max_request_size_mb: invalid type: string \"lots\", expected a number",
    ];
    for line in expected {
        assert!(errors.iter().any(|e| e == line), "missing {line:?} in {errors:#?}");
    }
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    Ok(())
}

#[test]
fn a_range_error_and_a_type_error_in_different_sections_are_both_reported() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: a
    litellm_params: {model: openai/a, mock_response: x}
router_settings:
  routing_strategy: round-robin
"#;
    let errors = errors_of(yaml)?;
    assert_eq!(
        errors,
        vec![
            "router_settings.routing_strategy: unknown strategy \"round-robin\"; expected one of simple-shuffle, \
             latency-based-routing, least-busy, usage-based-routing, usage-based-routing-v2"
        ]
    );
    Ok(())
}

#[test]
fn unknown_and_not_yet_supported_keys_are_warned_about_with_their_path() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: m
    litellm_params:
      model: openai/gpt-4o
      mock_response: hi
      foo: 1
      organization: org-1
      aws_region_name: eu-west-1
      temperature: 0.2
    modle_info: {}
router_settings:
  enable_pre_call_checks: true
  routing_strategy_args: {ttl: 60}
  colldown_time: 5
litellm_settings:
  set_verbose: true
  json_logs: true
  success_callback: ["langfuse"]
general_settings:
  alerting: ["slack"]
  master_key: sk-1234
callback_settings:
  otel: {message_logging: false}
guardrails: []
mcp_servers: {}
credential_list: []
not_a_litellm_section: 1
"#;
    let config = parse_clean(yaml)?;
    assert_eq!(
        config.warnings,
        vec![
            "callback_settings: not supported yet, ignored",
            "guardrails: not supported yet, ignored",
            "mcp_servers: not supported yet, ignored",
            "credential_list: not supported yet, ignored",
            "not_a_litellm_section: unknown key, ignored",
            "model_list[0].modle_info: unknown key, ignored",
            "model_list[0].litellm_params.foo: unknown key, ignored",
            "model_list[0].litellm_params.organization: not supported yet, ignored",
            "model_list[0].litellm_params.temperature: not supported yet, ignored",
            "router_settings.enable_pre_call_checks: not supported yet, ignored",
            "router_settings.colldown_time: unknown key, ignored",
            "litellm_settings.set_verbose: not supported yet, ignored",
            "litellm_settings.json_logs: not supported yet, ignored",
            "litellm_settings.success_callback: not supported yet, ignored",
            "general_settings.alerting: not supported yet, ignored",
        ]
    );
    Ok(())
}

#[test]
fn translated_providers_are_served_and_unknown_ones_warned_about() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: claude
    litellm_params: {model: anthropic/claude-3-5-sonnet, api_key: sk-ant}
  - model_name: odd
    litellm_params: {model: xyz/some-model}
  - model_name: chat
    litellm_params: {model: cohere_chat/command-r}
"#;
    let config = parse_clean(yaml)?;
    assert_eq!(
        config.warnings,
        vec!["model_list[1].litellm_params.model: provider \"xyz\" is not served yet; requests to model \"odd\" answer 400"]
    );
    let claude = deployment(&config, 0)?;
    assert_eq!(claude.provider, ProviderChoice::Served(Provider::Anthropic));
    assert_eq!(claude.upstream_model, "claude-3-5-sonnet");
    assert_eq!(claude.api_base.as_deref(), Provider::Anthropic.default_api_base());
    assert_eq!(deployment(&config, 2)?.provider, ProviderChoice::Served(Provider::Cohere));
    assert_eq!(deployment(&config, 1)?.provider, ProviderChoice::Unsupported("xyz".to_owned()));
    assert_eq!(deployment(&config, 1)?.upstream_model, "some-model");
    assert_eq!(deployment(&config, 1)?.api_base, None);
    Ok(())
}

#[test]
fn a_bare_model_name_is_openai_and_only_the_first_slash_splits() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: bare
    litellm_params: {model: gpt-4o-mini}
  - model_name: vllm
    litellm_params: {model: hosted_vllm/meta-llama/Llama-3.1-8B, api_base: "http://10.0.0.5:8000/v1/"}
  - model_name: custom
    litellm_params: {model: llama3, custom_llm_provider: ollama}
"#;
    let config = parse_clean(yaml)?;
    let bare = deployment(&config, 0)?;
    assert_eq!(bare.provider, ProviderChoice::Served(Provider::OpenAI));
    assert_eq!(bare.upstream_model, "gpt-4o-mini");
    assert_eq!(bare.litellm_model, "gpt-4o-mini");
    assert_eq!(bare.api_base.as_deref(), Some("https://api.openai.com/v1"));
    let vllm = deployment(&config, 1)?;
    assert_eq!(vllm.provider, ProviderChoice::Served(Provider::HostedVllm));
    assert_eq!(vllm.upstream_model, "meta-llama/Llama-3.1-8B");
    assert_eq!(vllm.api_base.as_deref(), Some("http://10.0.0.5:8000/v1"));
    let custom = deployment(&config, 2)?;
    assert_eq!(custom.provider, ProviderChoice::Served(Provider::Ollama));
    assert_eq!(custom.upstream_model, "llama3");
    Ok(())
}

#[test]
fn a_model_without_a_name_after_the_prefix_is_refused() -> TestResult {
    let errors = errors_of("model_list:\n  - model_name: m\n    litellm_params: {model: openai/}\n")?;
    assert_eq!(
        errors,
        vec!["model_list[0].litellm_params.model: names no model after the provider prefix \"openai/\""]
    );
    Ok(())
}

#[test]
fn azure_without_api_base_is_refused() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: az
    litellm_params: {model: azure/gpt-4o, api_key: k, api_version: "2024-06-01"}
  - model_name: vllm
    litellm_params: {model: hosted_vllm/llama}
"#;
    let errors = errors_of(yaml)?;
    assert_eq!(
        errors,
        vec![
            "model_list[0].litellm_params.api_base: api_base is required for provider azure (or give a mock_response)",
            "model_list[1].litellm_params.api_base: api_base is required for provider hosted_vllm (or give a mock_response)",
        ]
    );
    Ok(())
}

#[test]
fn azure_without_api_version_takes_the_environments_else_litellms_default() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: az
    litellm_params: {model: azure/gpt-4o, api_base: "https://x.openai.azure.com"}
"#;
    assert_eq!(deployment(&parse_clean(yaml)?, 0)?.api_version.as_deref(), Some("2025-02-01-preview"));
    let config = parse_with_env(yaml, &env_of(&[("AZURE_API_VERSION", "2024-10-21")]))?;
    assert_eq!(deployment(&config, 0)?.api_version.as_deref(), Some("2024-10-21"));
    Ok(())
}

#[test]
fn azure_takes_its_endpoint_from_azure_api_base_as_litellm_does() -> TestResult {
    let yaml =
        "model_list:\n  - model_name: az\n    litellm_params: {model: azure/gpt-4o, api_version: '2024-06-01'}\n";
    let config = parse_with_env(yaml, &env_of(&[("AZURE_API_BASE", "https://y.openai.azure.com/")]))?;
    assert_eq!(deployment(&config, 0)?.api_base.as_deref(), Some("https://y.openai.azure.com"));
    Ok(())
}

#[test]
fn a_mock_response_needs_no_endpoint() -> TestResult {
    let yaml = "model_list:\n  - model_name: az\n    litellm_params: {model: azure/gpt-4o, mock_response: ok}\n";
    let config = parse_clean(yaml)?;
    let d = deployment(&config, 0)?;
    assert_eq!(d.api_base, None);
    assert_eq!(d.mock_response.as_deref(), Some("ok"));
    Ok(())
}

#[test]
fn an_api_base_that_is_not_an_http_url_is_refused() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: a
    litellm_params: {model: openai/a, api_base: "localhost:8080"}
  - model_name: b
    litellm_params: {model: openai/b, api_base: "ftp://files.example.com"}
"#;
    let errors = errors_of(yaml)?;
    assert_eq!(
        errors,
        vec![
            "model_list[0].litellm_params.api_base: expected an http:// or https:// URL, found \"localhost:8080\"",
            "model_list[1].litellm_params.api_base: expected an http:// or https:// URL, found \"ftp://files.example.com\"",
        ]
    );
    Ok(())
}

#[test]
fn deployments_with_one_model_name_form_one_group_in_file_order() -> TestResult {
    let yaml = r#"
model_list:
  - {model_name: b, litellm_params: {model: openai/b1, mock_response: x}}
  - {model_name: a, litellm_params: {model: openai/a1, mock_response: x}}
  - {model_name: b, litellm_params: {model: openai/b2, mock_response: x}}
  - {model_name: c, litellm_params: {model: openai/c1, mock_response: x}}
  - {model_name: a, litellm_params: {model: openai/a2, mock_response: x}}
"#;
    let config = parse_clean(yaml)?;
    let names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["b", "a", "c"]);
    let b: Vec<&str> = config.group("b").ok_or("no b")?.deployments.iter().map(|d| d.upstream_model.as_str()).collect();
    assert_eq!(b, ["b1", "b2"]);
    let a: Vec<usize> = config.group("a").ok_or("no a")?.deployments.iter().map(|d| d.index).collect();
    assert_eq!(a, [1, 4]);
    assert_eq!(config.group_index.get("c"), Some(&2));
    assert!(config.group("missing").is_none());
    Ok(())
}

#[test]
fn deployment_ids_are_stable_hashes_unless_model_info_gives_one() -> TestResult {
    let yaml = r#"
model_list:
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/KEY_A, rpm: 10}
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/KEY_B, rpm: 10}
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/KEY_A, rpm: 10}
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/KEY_A, rpm: 10}
    model_info: {id: mine}
"#;
    let env = env_of(&[("KEY_A", "sk-a"), ("KEY_B", "sk-b")]);
    let ids = |config: &Config| -> Vec<String> {
        config.groups.iter().flat_map(|g| g.deployments.iter()).map(|d| d.id.clone()).collect()
    };
    let first = ids(&parse_with_env(yaml, &env)?);
    // The same file, keys in another order and a rotated secret: the same ids.
    let reordered = yaml.replace(
        "{model: openai/gpt-4o, api_key: os.environ/KEY_A, rpm: 10}",
        "{rpm: 10, api_key: os.environ/KEY_A, model: openai/gpt-4o}",
    );
    let again = ids(&parse_with_env(&reordered, &env_of(&[("KEY_A", "sk-rotated"), ("KEY_B", "sk-b")]))?);
    assert_eq!(first, again);
    // Frozen: ids are public (x-litellm-model-id, spend logs), so the hash must not change by accident.
    assert_eq!(first[0], "0f11b6ee30b212a2");
    assert_eq!(first.len(), 4);
    assert_ne!(first[0], first[1], "different key variables, different ids");
    assert_ne!(first[0], first[2], "identical entries get distinct ids");
    assert_eq!(first[3], "mine");
    assert!(first[..3].iter().all(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())), "{first:?}");
    Ok(())
}

#[test]
fn a_literal_api_key_does_not_feed_the_public_id() -> TestResult {
    let with = |key: &str| {
        format!("model_list:\n  - model_name: m\n    litellm_params: {{model: openai/x, api_key: {key}}}\n")
    };
    let a = parse_clean(&with("sk-one"))?;
    let b = parse_clean(&with("sk-two"))?;
    assert_eq!(deployment(&a, 0)?.id, deployment(&b, 0)?.id);
    let c = parse_clean("model_list:\n  - model_name: m\n    litellm_params: {model: openai/y}\n")?;
    assert_ne!(deployment(&a, 0)?.id, deployment(&c, 0)?.id);
    Ok(())
}

#[test]
fn two_deployments_with_one_explicit_id_are_refused() -> TestResult {
    let yaml = r#"
model_list:
  - {model_name: a, litellm_params: {model: openai/a, mock_response: x}, model_info: {id: same}}
  - {model_name: b, litellm_params: {model: openai/b, mock_response: x}, model_info: {id: same}}
"#;
    assert_eq!(errors_of(yaml)?, vec!["model_list[1].model_info.id: id \"same\" is already used by model_list[0]"]);
    Ok(())
}

#[test]
fn timeouts_fall_back_from_deployment_to_router_to_litellm_settings() -> TestResult {
    let base = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, mock_response: y}\n";
    let config = parse_clean(base)?;
    assert_eq!(deployment(&config, 0)?.timeout, None, "gateway default applies");
    assert_eq!(deployment(&config, 0)?.stream_timeout, None);

    let config = parse_clean(&format!("{base}litellm_settings: {{request_timeout: 90}}\n"))?;
    assert_eq!(deployment(&config, 0)?.timeout, Some(Duration::from_secs(90)));
    assert_eq!(config.router.timeout, Some(Duration::from_secs(90)), "as LiteLLM's router: timeout or request_timeout");

    let config = parse_clean(&format!(
        "{base}litellm_settings: {{request_timeout: 90}}\nrouter_settings: {{timeout: 20, stream_timeout: 5}}\n"
    ))?;
    assert_eq!(deployment(&config, 0)?.timeout, Some(Duration::from_secs(20)));
    assert_eq!(deployment(&config, 0)?.stream_timeout, Some(Duration::from_secs(5)));
    Ok(())
}

#[test]
fn seconds_take_integers_floats_and_numeric_strings_but_nothing_else() -> TestResult {
    for (text, expected) in [("3", 3000), ("2.5", 2500), ("\"4\"", 4000), ("' 0.25 '", 250)] {
        let yaml =
            format!("model_list:\n  - model_name: m\n    litellm_params: {{model: openai/x, timeout: {text}}}\n");
        let config = parse_clean(&yaml).map_err(|e| format!("{text}: {e}"))?;
        assert_eq!(deployment(&config, 0)?.timeout, Some(Duration::from_millis(expected)), "{text}");
    }
    for (text, message) in [
        ("0", "must be a positive number of seconds, found 0"),
        (".nan", "must be a positive number of seconds, found NaN"),
        ("1e300", "is too long a duration"),
        ("[1]", "invalid type: sequence, expected a number of seconds"),
        ("true", "invalid type: boolean `true`, expected a number of seconds"),
    ] {
        let yaml =
            format!("model_list:\n  - model_name: m\n    litellm_params: {{model: openai/x, timeout: {text}}}\n");
        assert_eq!(errors_of(&yaml)?, vec![format!("model_list[0].litellm_params.timeout: {message}")], "{text}");
    }
    Ok(())
}

#[test]
fn a_secret_from_the_environment_is_not_echoed_in_an_error() -> TestResult {
    let yaml = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, rpm: os.environ/RPM}\n";
    let errors =
        parse_with_env(yaml, &env_of(&[("RPM", "sk-very-secret")])).err().ok_or("accepted rpm: sk-very-secret")?.errors;
    assert_eq!(errors, vec!["model_list[0].litellm_params.rpm: invalid type: string \"<redacted>\", expected a whole number, zero or more"]);
    Ok(())
}

#[test]
fn fallbacks_to_groups_that_do_not_exist_are_warned_about() -> TestResult {
    let yaml = r#"
model_list:
  - {model_name: a, litellm_params: {model: openai/a, mock_response: x}}
  - {model_name: b, litellm_params: {model: openai/b, mock_response: x}}
router_settings:
  fallbacks:
    - a: [b, ghost]
    - phantom: [a]
"#;
    let config = parse_clean(yaml)?;
    assert_eq!(
        config.warnings,
        vec![
            "router_settings.fallbacks[0].a[1]: fallback group \"ghost\" is not in model_list",
            "router_settings.fallbacks[1].phantom: group \"phantom\" is not in model_list",
        ]
    );
    assert_eq!(
        config.router.fallbacks,
        vec![("a".to_owned(), vec!["b".to_owned(), "ghost".to_owned()]), ("phantom".to_owned(), vec!["a".to_owned()])]
    );
    Ok(())
}

#[test]
fn litellm_settings_fallbacks_apply_when_the_router_has_none() -> TestResult {
    let yaml = r#"
model_list:
  - {model_name: a, litellm_params: {model: openai/a, mock_response: x}}
  - {model_name: b, litellm_params: {model: openai/b, mock_response: x}}
litellm_settings:
  num_retries: 5
  fallbacks: [{a: [b]}]
"#;
    let config = parse_clean(yaml)?;
    assert_eq!(config.router.fallbacks, vec![("a".to_owned(), vec!["b".to_owned()])]);
    assert_eq!(config.router.num_retries, Some(5));
    let with_router = format!("{yaml}router_settings:\n  num_retries: 1\n  fallbacks: [{{b: [a]}}]\n");
    let config = parse_clean(&with_router)?;
    assert_eq!(config.router.fallbacks, vec![("b".to_owned(), vec!["a".to_owned()])]);
    assert_eq!(config.router.num_retries, Some(1));
    Ok(())
}

#[test]
fn every_routing_strategy_litellm_names_is_read() -> TestResult {
    for (name, strategy) in [
        ("simple-shuffle", RoutingStrategy::SimpleShuffle),
        ("latency-based-routing", RoutingStrategy::LatencyBased),
        ("least-busy", RoutingStrategy::LeastBusy),
        ("usage-based-routing", RoutingStrategy::UsageBased),
        ("usage-based-routing-v2", RoutingStrategy::UsageBased),
    ] {
        let config = parse_clean(&format!("{ONE_MODEL}router_settings:\n  routing_strategy: {name}\n"))?;
        assert_eq!(config.router.routing_strategy, strategy, "{name}");
    }
    Ok(())
}

#[test]
fn a_master_key_without_the_sk_prefix_is_accepted_with_a_warning() -> TestResult {
    let config = parse_clean(&format!("{ONE_MODEL}general_settings:\n  master_key: admin-1234\n"))?;
    assert_eq!(config.general.master_key.as_deref(), Some("admin-1234"));
    assert_eq!(
        config.warnings,
        vec![
            "general_settings.master_key: does not start with \"sk-\" as LiteLLM requires; accepted, but LiteLLM's \
             clients and UI may refuse it"
        ]
    );
    assert_eq!(
        errors_of(&format!("{ONE_MODEL}general_settings:\n  master_key: ''\n"))?,
        vec!["general_settings.master_key: must not be empty (leave the key out for an open gateway)"]
    );
    Ok(())
}

#[test]
fn max_request_size_mb_becomes_bytes_and_must_be_positive() -> TestResult {
    let config = parse_clean(&format!("{ONE_MODEL}general_settings:\n  max_request_size_mb: 10\n"))?;
    assert_eq!(config.general.max_request_size_bytes, 10 * 1024 * 1024);
    assert_eq!(
        errors_of(&format!("{ONE_MODEL}general_settings:\n  max_request_size_mb: 0\n"))?,
        vec!["general_settings.max_request_size_mb: must be a positive number of megabytes, found 0"]
    );
    Ok(())
}

#[test]
fn environment_variables_take_scalars_as_litellm_does() -> TestResult {
    let yaml = r#"
environment_variables:
  PORT: 6379
  FLAG: true
  EMPTY:
model_list:
  - model_name: m
    litellm_params: {model: openai/x, mock_response: os.environ/FLAG, api_key: os.environ/PORT}
"#;
    let config = parse_clean(yaml)?;
    assert_eq!(deployment(&config, 0)?.mock_response.as_deref(), Some("True"));
    assert_eq!(deployment(&config, 0)?.api_key.as_deref(), Some("6379"));
    assert_eq!(config.warnings, vec!["environment_variables.EMPTY: has no value, variable not set"]);
    assert_eq!(
        errors_of(&format!("{ONE_MODEL}environment_variables:\n  NESTED: {{a: 1}}\n"))?,
        vec!["environment_variables.NESTED: expected a string, a number or a boolean, found a mapping"]
    );
    Ok(())
}

#[test]
fn yaml_merge_keys_work_as_in_pyyaml() -> TestResult {
    let yaml = r#"
x-common: &common
  api_base: http://127.0.0.1:9/v1
  rpm: 10
model_list:
  - model_name: m
    litellm_params:
      <<: *common
      model: openai/gpt-4o
"#;
    let config = parse_clean(yaml)?;
    let d = deployment(&config, 0)?;
    assert_eq!(d.api_base.as_deref(), Some("http://127.0.0.1:9/v1"));
    assert_eq!(d.rpm, Some(10));
    assert_eq!(config.warnings, vec!["x-common: unknown key, ignored"]);
    Ok(())
}

#[test]
fn a_document_that_is_not_a_config_is_refused_naming_it() -> TestResult {
    let errors = errors_of("model_list:\n  - model_name: [unclosed\n")?;
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("config: invalid YAML: "), "{errors:?}");
    assert_eq!(errors_of("- a\n- b\n")?, vec!["config: expected a mapping of config sections, found a list"]);
    assert_eq!(errors_of("model_list: {a: 1}\n")?, vec!["model_list: expected a list of deployments, found a mapping"]);
    assert_eq!(
        errors_of(&format!("{ONE_MODEL}router_settings: [1]\n"))?,
        vec!["router_settings: invalid type: sequence, expected a mapping of router_settings"]
    );
    assert_eq!(
        errors_of("model_list:\n  - model_name: m\n    litellm_params:\n")?,
        vec!["model_list[0].litellm_params: missing field `model`"]
    );
    Ok(())
}

#[test]
fn config_error_displays_one_problem_per_line() {
    let error = ConfigError { errors: vec!["a.b: one".to_owned(), "c[1]: two".to_owned()] };
    assert_eq!(error.to_string(), "a.b: one\nc[1]: two");
}

/// The key tables and the typed structs must list the same keys, or a key would be dropped without a word.
#[test]
fn key_tables_match_the_typed_mirror() -> TestResult {
    fn all_keys(table: &KeyTable, required: &[(&str, Value)]) -> Value {
        let mut map = serde_yaml::Mapping::new();
        for key in table.read {
            map.insert(Value::from(*key), Value::Null);
        }
        for (key, value) in required {
            map.insert(Value::from(*key), value.clone());
        }
        Value::Mapping(map)
    }
    let params = all_keys(&litellm::LITELLM_PARAMS, &[("model", Value::from("openai/x"))]);
    litellm::typed::<litellm::LitellmParams>(params.clone(), "p")?;
    let entry = all_keys(&litellm::MODEL_ENTRY, &[("model_name", Value::from("m")), ("litellm_params", params)]);
    litellm::typed::<litellm::ModelEntry>(entry, "e")?;
    litellm::typed::<litellm::RouterSettings>(all_keys(&litellm::ROUTER_SETTINGS, &[]), "r")?;
    litellm::typed::<litellm::LitellmSettings>(all_keys(&litellm::LITELLM_SETTINGS, &[]), "l")?;
    litellm::typed::<litellm::GeneralSettings>(all_keys(&litellm::GENERAL_SETTINGS, &[]), "g")?;
    for table in [
        &litellm::TOP_LEVEL,
        &litellm::MODEL_ENTRY,
        &litellm::LITELLM_PARAMS,
        &litellm::ROUTER_SETTINGS,
        &litellm::LITELLM_SETTINGS,
        &litellm::GENERAL_SETTINGS,
    ] {
        for key in table.read {
            assert!(!table.not_yet.contains(key), "{key} is both read and not supported yet");
        }
    }
    Ok(())
}

#[test]
fn load_names_a_file_it_cannot_read() -> TestResult {
    let missing = Path::new("tests/configs/does-not-exist.yaml");
    let error = load(missing).err().ok_or("loaded a missing file")?;
    assert_eq!(error.errors.len(), 1);
    assert!(error.errors[0].starts_with("tests/configs/does-not-exist.yaml: cannot read the config file: "), "{error}");
    Ok(())
}

#[test]
fn the_shipped_configs_load_as_documented() -> TestResult {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = load(&root.join("conf/config.example.yaml"))?;
    let names: Vec<&str> = example.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["gpt-4o-mini", "mistral-eu-secure", "local-llama", "text-embedding-3-small"]);
    assert_eq!(example.group("gpt-4o-mini").ok_or("no gpt-4o-mini")?.deployments.len(), 2);
    assert!(
        example.groups.iter().flat_map(|g| g.deployments.iter()).all(|d| d.mock_response.is_some()),
        "the example must run offline"
    );
    assert!(
        example
            .groups
            .iter()
            .flat_map(|g| g.deployments.iter())
            .all(|d| matches!(d.provider, ProviderChoice::Served(_))),
        "every example deployment is served"
    );
    assert_eq!(example.general.master_key.as_deref(), Some("sk-tollgate-example"));
    assert_eq!(example.warnings, Vec::<String>::new());

    let good = load(&root.join("tests/configs/good.yaml"))?;
    assert!(!good.groups.is_empty());

    let bad = load(&root.join("tests/configs/bad.yaml")).err().ok_or("bad.yaml loaded")?;
    assert!(bad.errors.iter().any(|e| e.starts_with("model_list[2].litellm_params.model: ")), "{bad}");
    assert!(bad.errors.len() >= 2, "{bad}");
    Ok(())
}

#[test]
fn number_errors_speak_of_numbers_not_rust_types() -> TestResult {
    let yaml = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, max_retries: -1}\n";
    assert_eq!(
        errors_of(yaml)?,
        vec!["model_list[0].litellm_params.max_retries: invalid value: integer `-1`, expected a whole number from 0 to 4294967295"]
    );
    let yaml = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, weight: heavy}\n";
    assert_eq!(
        errors_of(yaml)?,
        vec!["model_list[0].litellm_params.weight: invalid type: string \"heavy\", expected a number"]
    );
    Ok(())
}

#[test]
fn provider_key_falls_back_to_litellm_env_var() -> TestResult {
    let yaml = "model_list:\n  - model_name: g\n    litellm_params:\n      model: groq/llama3\n  - model_name: o\n    litellm_params:\n      model: openai/gpt-4o\n      api_key: explicit\n";
    let config = parse_with_env(yaml, &env_of(&[("GROQ_API_KEY", "gk"), ("OPENAI_API_KEY", "ok")]))?;
    assert_eq!(deployment(&config, 0)?.api_key.as_deref(), Some("gk"));
    assert_eq!(deployment(&config, 1)?.api_key.as_deref(), Some("explicit"));
    Ok(())
}

#[test]
fn fireworks_models_get_their_account_path() -> TestResult {
    let yaml = "model_list:\n  - model_name: f\n    litellm_params:\n      model: fireworks_ai/llama-v3-70b\n  - model_name: g\n    litellm_params:\n      model: fireworks_ai/accounts/me/models/x\n";
    let config = parse_clean(yaml)?;
    assert_eq!(deployment(&config, 0)?.upstream_model, "accounts/fireworks/models/llama-v3-70b");
    assert_eq!(deployment(&config, 1)?.upstream_model, "accounts/me/models/x");
    Ok(())
}

#[test]
fn fallback_and_cooldown_settings_are_read() -> TestResult {
    let yaml = r#"
model_list:
  - {model_name: a, litellm_params: {model: openai/a, mock_response: x}}
  - {model_name: b, litellm_params: {model: openai/b, mock_response: x}}
router_settings:
  routing_strategy: latency-based-routing
  routing_strategy_args: {lowest_latency_buffer: 0.5, ttl: 60}
  default_fallbacks: [b]
  context_window_fallbacks: [{a: [b]}]
  retry_after: 2
  max_fallbacks: 3
  disable_cooldowns: true
litellm_settings:
  content_policy_fallbacks: [{a: [b]}]
"#;
    let config = parse_clean(yaml)?;
    let r = &config.router;
    assert_eq!(r.routing_strategy_args.lowest_latency_buffer, 0.5);
    assert_eq!(r.routing_strategy_args.ttl, Duration::from_secs(60));
    assert_eq!(r.fallbacks_for("a"), ["b".to_string()]);
    assert_eq!(r.context_window_fallbacks, vec![("a".to_string(), vec!["b".to_string()])]);
    assert_eq!(r.content_policy_fallbacks, vec![("a".to_string(), vec!["b".to_string()])]);
    assert_eq!((r.retry_after, r.max_fallbacks, r.disable_cooldowns), (Duration::from_secs(2), 3, true));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    Ok(())
}

#[test]
fn redis_comes_from_router_settings_then_the_environment_in_litellms_order() -> TestResult {
    let base = "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o, mock_response: hi}\n";
    let none = parse_with_env(base, &env_of(&[]))?;
    assert_eq!(none.general.redis_url, None);
    assert!(!none.general.fail_closed);
    assert_eq!(none.general.budget_reserve_max_tokens, 4096);

    let hosted = format!(
        "{base}router_settings:\n  redis_host: 127.0.0.1\n  redis_port: \"6390\"\n  redis_password: p@ss\ngeneral_settings:\n  fail_closed: true\n  budget_reserve_max_tokens: 256\n"
    );
    let config = parse_with_env(&hosted, &env_of(&[("REDIS_URL", "redis://elsewhere:1")]))?;
    assert_eq!(config.general.redis_url.as_deref(), Some("redis://:p%40ss@127.0.0.1:6390"));
    assert!(config.general.fail_closed);
    assert_eq!(config.general.budget_reserve_max_tokens, 256);

    let from_url = parse_with_env(base, &env_of(&[("REDIS_URL", "redis://127.0.0.1:7000"), ("REDIS_HOST", "x")]))?;
    assert_eq!(from_url.general.redis_url.as_deref(), Some("redis://127.0.0.1:7000"));
    let from_host = parse_with_env(base, &env_of(&[("REDIS_HOST", "cache"), ("REDIS_PORT", "7001")]))?;
    assert_eq!(from_host.general.redis_url.as_deref(), Some("redis://cache:7001"));
    let db = parse_with_env(base, &env_of(&[("DATABASE_URL", "postgresql://postgres@127.0.0.1/test")]))?;
    assert_eq!(db.general.database_url.as_deref(), Some("postgresql://postgres@127.0.0.1/test"));

    let bad = format!("{base}router_settings:\n  redis_host: h\n  redis_port: seventy\n");
    let errors = parse_with_env(&bad, &env_of(&[])).err().map(|e| e.errors.join("\n")).unwrap_or_default();
    assert!(errors.contains("router_settings.redis_port: must be a port number"), "{errors}");
    Ok(())
}
