//! `tollgate check --config F` as a user runs it before a deploy: a good LiteLLM config passes,
//! a bad one fails with the key path of each error; and the server itself refuses a bad file.
//!
//! Run: `cargo test --test cli_check`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use common::{free_port, within, MASTER_KEY};
use tokio::process::Command;

/// `check` reads one file and exits: it has no business taking longer than this.
const DEADLINE: Duration = Duration::from_secs(20);

/// What a finished `tollgate` run said.
struct Run {
    status: ExitStatus,
    /// stdout and stderr together: where a message goes is the binary's choice.
    output: String,
}

/// Runs `tollgate <args>` with the config written to a temp file (`{config}` in args is its path).
async fn run(config_yaml: Option<&str>, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    if let Some(yaml) = config_yaml {
        std::fs::write(&path, yaml).expect("write config");
    }
    let path_str = path.to_string_lossy().into_owned();
    let args: Vec<String> = args.iter().map(|a| a.replace("{config}", &path_str)).collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.args(&args)
        .env("TOLLGATE_TEST_OPENAI_KEY", "sk-from-env")
        .env("RUST_LOG", "info")
        .env("TOLLGATE_STATE_DIR", dir.path().join("state"))
        .env_remove("TOLLGATE_CONFIG")
        .env_remove("TOLLGATE_PORT")
        .env_remove("TOLLGATE_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = cmd.output().await.expect("run tollgate");
    Run {
        status: out.status,
        output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    }
}

async fn check(config_yaml: &str) -> Run {
    run(Some(config_yaml), &["check", "--config", "{config}"]).await
}

/// A config in LiteLLM's own shape, with keys the gateway may only warn about.
fn good_config() -> String {
    format!(
        r#"model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:9/v1
      api_key: os.environ/TOLLGATE_TEST_OPENAI_KEY
      timeout: 30
      stream_timeout: 10
    model_info:
      id: deployment-1
  - model_name: azure-chat
    litellm_params:
      model: azure/my-deployment
      api_base: http://127.0.0.1:9
      api_version: "2024-06-01"
      api_key: sk-azure
  - model_name: mocked
    litellm_params:
      model: openai/gpt-4o-mini
      mock_response: "hello"
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
litellm_settings:
  drop_params: true
  request_timeout: 60
environment_variables:
  SOME_SETTING: "1"
general_settings:
  master_key: {MASTER_KEY}
  max_request_size_mb: 10
"#
    )
}

#[tokio::test]
async fn check_accepts_a_valid_litellm_config() {
    within(DEADLINE, async {
        let run = check(&good_config()).await;
        assert!(run.status.success(), "check refused a good config ({}): {}", run.status, run.output);
        assert!(run.output.to_lowercase().contains("ok"), "no ok-ish output: {}", run.output);
    })
    .await;
}

#[tokio::test]
async fn check_names_the_key_path_of_a_value_of_the_wrong_type() {
    within(DEADLINE, async {
        let bad = good_config().replace(
            "      model: openai/gpt-4o-mini\n      mock_response",
            "      model: [openai/gpt-4o-mini]\n      mock_response",
        );
        assert_ne!(bad, good_config(), "the test's edit must change the config");
        let run = check(&bad).await;
        assert!(!run.status.success(), "check accepted a list as model: {}", run.output);
        assert!(
            run.output.contains("model_list[2].litellm_params.model"),
            "error does not name model_list[2].litellm_params.model: {}",
            run.output
        );
    })
    .await;
}

#[tokio::test]
async fn check_names_the_entry_missing_a_required_key() {
    within(DEADLINE, async {
        let bad =
            good_config().replace("    litellm_params:\n      model: azure/my-deployment\n", "    litellm_params:\n");
        assert_ne!(bad, good_config(), "the test's edit must change the config");
        let run = check(&bad).await;
        assert!(!run.status.success(), "check accepted a deployment without model: {}", run.output);
        assert!(run.output.contains("model_list[1]"), "error does not name model_list[1]: {}", run.output);
        assert!(run.output.contains("model"), "error does not name the missing key: {}", run.output);
    })
    .await;
}

#[tokio::test]
async fn check_refuses_a_file_that_is_not_yaml() {
    within(DEADLINE, async {
        let run = check("model_list:\n  - model_name: [unclosed\n    litellm_params: {\n").await;
        assert!(!run.status.success(), "check accepted broken YAML: {}", run.output);
        assert!(!run.output.trim().is_empty(), "no error message");
    })
    .await;
}

#[tokio::test]
async fn check_refuses_a_missing_file_naming_it() {
    within(DEADLINE, async {
        let run = run(None, &["check", "--config", "{config}"]).await;
        assert!(!run.status.success(), "check accepted a missing file: {}", run.output);
        assert!(run.output.contains("config.yaml"), "error does not name the file: {}", run.output);
    })
    .await;
}

#[tokio::test]
async fn server_refuses_an_invalid_config_and_exits_non_zero() {
    within(DEADLINE, async {
        let bad = good_config().replace("max_request_size_mb: 10", "max_request_size_mb: lots");
        assert_ne!(bad, good_config(), "the test's edit must change the config");
        let port = free_port().to_string();
        let args = ["--config", "{config}", "--host", "127.0.0.1", "--port", &port];
        let Ok(run) = tokio::time::timeout(Duration::from_secs(10), run(Some(&bad), &args)).await else {
            panic!("the server kept running for 10 s on a config with max_request_size_mb: lots");
        };
        assert!(!run.status.success(), "the server started on a bad config: {}", run.output);
        assert!(
            run.output.contains("general_settings.max_request_size_mb"),
            "error does not name general_settings.max_request_size_mb: {}",
            run.output
        );
    })
    .await;
}
