//! The gateway's core contract as a client sees it: the binary on a free port in front of fake
//! OpenAI-compatible providers. Routes, auth, forwarding (model rewrite, provider key, body values),
//! errors and their statuses, streaming event by event, large bodies, concurrency, LiteLLM's
//! response headers, upstream connection reuse, `mock_response` and unsupported providers.
//!
//! Run: `cargo test --test gateway_core` (builds the `tollgate` binary first).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{
    assert_master_key_not_forwarded, chat_body, client, closed_port, config_with, expect_openai_error,
    openai_deployment, read_sse, within, FakeProvider, Gateway, Reply, SseEvents, MASTER_KEY, PROVIDER_KEY,
};
use serde_json::{json, Value};

/// Deadline of one ordinary test.
const DEADLINE: Duration = Duration::from_secs(45);

/// A gateway with one model `gpt-4o-mini` (openai/gpt-4o-mini) on `fake`.
async fn one_model_gateway(fake: &FakeProvider) -> Gateway {
    Gateway::start(&config_with(&openai_deployment("gpt-4o-mini", "gpt-4o-mini", fake))).await
}

/// POST `body` to `path` with the master key as a bearer token.
async fn post(gw: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    client().post(gw.url(path)).bearer_auth(MASTER_KEY).json(body).send().await.expect("request to the gateway")
}

/// GET `path` with the master key.
async fn get(gw: &Gateway, path: &str) -> reqwest::Response {
    client().get(gw.url(path)).bearer_auth(MASTER_KEY).send().await.expect("request to the gateway")
}

/// Reads a JSON body after asserting the status is `status`.
async fn json_with_status(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.expect("response body");
    assert_eq!(got, status, "expected {status}, got {got}; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The assistant text of a chat.completion.
fn chat_text(v: &Value) -> &str {
    v["choices"][0]["message"]["content"].as_str().unwrap_or_else(|| panic!("no choices[0].message.content in {v}"))
}

/// `value` with `model` replaced, to compare what the provider got with what the client sent.
fn with_model(mut value: Value, model: &str) -> Value {
    value["model"] = json!(model);
    value
}

// ---------------------------------------------------------------- health and readiness

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_probes_answer_without_auth() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        for path in ["/health/liveliness", "/health/liveness"] {
            let resp = client().get(gw.url(path)).send().await.expect("probe");
            assert_eq!(resp.status().as_u16(), 200, "{path} without a key");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_200_once_serving() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let resp = get(&gw, "/health/readiness").await;
        assert_eq!(resp.status().as_u16(), 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_lists_endpoints_and_never_shows_an_api_key() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;

        let anonymous = client().get(gw.url("/health")).send().await.expect("health");
        expect_openai_error(anonymous, 401).await;

        let resp = get(&gw, "/health").await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 200, "{text}");
        assert!(!text.contains(PROVIDER_KEY), "/health shows the api_key: {text}");
        assert!(!text.contains(MASTER_KEY), "/health shows the master key: {text}");
        let v: Value = serde_json::from_str(&text).expect("health JSON");
        assert!(v["healthy_endpoints"].is_array(), "healthy_endpoints: {v}");
        assert!(v["unhealthy_endpoints"].is_array(), "unhealthy_endpoints: {v}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_deployment_state_without_a_key_or_a_secret() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let resp = client().get(gw.url("/metrics")).send().await.expect("metrics");
        assert_eq!(resp.status().as_u16(), 200);
        let text = resp.text().await.expect("body");
        assert!(text.contains("litellm_deployment_state{"), "{text}");
        assert!(text.contains("tollgate_config_reloads_total{result=\"refused\"} 0"), "{text}");
        assert!(!text.contains(PROVIDER_KEY) && !text.contains(MASTER_KEY), "/metrics shows a key: {text}");
    })
    .await;
}

// ---------------------------------------------------------------- forwarding

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completion_reaches_provider_with_its_model_and_key_and_unchanged_fields() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let sent = json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello there"}
            ],
            "temperature": 0.25,
            "max_tokens": 17,
            "top_p": 0.9,
            "user": "user-42",
            "seed": 7,
            "stop": ["\n\n"],
            "response_format": {"type": "json_object"},
            "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
            "tool_choice": "auto",
            "logit_bias": {"50256": -100},
            "x_unknown_vendor_field": {"nested": [1, 2.5, "three", null, true]}
        });
        let resp = post(&gw, "/v1/chat/completions", &sent).await;
        let answer = json_with_status(resp, 200).await;
        assert_eq!(chat_text(&answer), "echo: hello there");
        assert_eq!(answer["object"], "chat.completion");

        let got = fake.only_request();
        assert_eq!(got.method, "POST");
        assert_eq!(got.path_and_query, "/v1/chat/completions");
        assert_eq!(
            got.header("authorization"),
            Some(format!("Bearer {PROVIDER_KEY}").as_str())
        );
        assert_eq!(got.json(), with_model(sent, "gpt-4o-mini"));
        assert_master_key_not_forwarded(&fake);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_prefix_is_stripped_from_the_model_the_provider_sees() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = Gateway::start(&config_with(&openai_deployment("team-alias", "gpt-4.1-nano-2025-04-14", &fake))).await;
        let resp = post(&gw, "/v1/chat/completions", &chat_body("team-alias", "hi")).await;
        json_with_status(resp, 200).await;
        assert_eq!(fake.only_request().json()["model"], "gpt-4.1-nano-2025-04-14");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completion_is_served_with_and_without_v1_prefix() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        for path in ["/v1/chat/completions", "/chat/completions"] {
            let resp = post(&gw, path, &chat_body("gpt-4o-mini", path)).await;
            let answer = json_with_status(resp, 200).await;
            assert_eq!(chat_text(&answer), format!("echo: {path}"));
        }
        let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path_and_query).collect();
        assert_eq!(paths, ["/v1/chat/completions", "/v1/chat/completions"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_completions_are_forwarded_with_and_without_v1_prefix() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = Gateway::start(&config_with(&openai_deployment("instruct", "gpt-3.5-turbo-instruct", &fake))).await;
        for path in ["/v1/completions", "/completions"] {
            let sent = json!({"model": "instruct", "prompt": "say hi", "max_tokens": 5, "echo": false});
            let answer = json_with_status(post(&gw, path, &sent).await, 200).await;
            assert_eq!(answer["object"], "text_completion");
            assert_eq!(answer["choices"][0]["text"], "echo: say hi");
        }
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 2);
        for r in &reqs {
            assert_eq!(r.path_and_query, "/v1/completions");
            assert_eq!(
                r.json(),
                json!({"model": "gpt-3.5-turbo-instruct", "prompt": "say hi", "max_tokens": 5, "echo": false})
            );
        }
        assert_master_key_not_forwarded(&fake);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_forwarded_with_and_without_v1_prefix() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = Gateway::start(&config_with(&openai_deployment("embed", "text-embedding-3-small", &fake))).await;
        let sent = json!({"model": "embed", "input": ["alpha", "beta"], "encoding_format": "float", "dimensions": 3});
        for path in ["/v1/embeddings", "/embeddings"] {
            let answer = json_with_status(post(&gw, path, &sent).await, 200).await;
            assert_eq!(answer["object"], "list");
            assert_eq!(answer["data"][0]["embedding"], json!([0.25, -0.5, 0.125]));
        }
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 2);
        for r in &reqs {
            assert_eq!(r.path_and_query, "/v1/embeddings");
            assert_eq!(r.header("authorization"), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
            assert_eq!(r.json(), with_model(sent.clone(), "text-embedding-3-small"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_deployment_gets_deployment_path_api_version_and_api_key_header() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let config = config_with(&format!(
            r#"  - model_name: azure-chat
    litellm_params:
      model: azure/my-gpt4o-deployment
      api_base: {origin}
      api_version: "2024-06-01"
      api_key: {PROVIDER_KEY}
"#,
            origin = fake.origin()
        ));
        let gw = Gateway::start(&config).await;
        let sent =
            json!({"model": "azure-chat", "messages": [{"role": "user", "content": "hi azure"}], "temperature": 0});
        let answer = json_with_status(post(&gw, "/v1/chat/completions", &sent).await, 200).await;
        assert_eq!(chat_text(&answer), "echo: hi azure");

        let got = fake.only_request();
        assert_eq!(
            got.path_and_query,
            "/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-06-01"
        );
        assert_eq!(got.header("api-key"), Some(PROVIDER_KEY));
        // Azure takes the deployment from the path; fields other than `model` arrive unchanged.
        let mut body = got.json();
        body.as_object_mut().expect("object").remove("model");
        let mut expected = sent;
        expected.as_object_mut().expect("object").remove("model");
        assert_eq!(body, expected);
        assert_master_key_not_forwarded(&fake);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_from_os_environ_and_environment_variables_is_resolved() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let config = format!(
            r#"model_list:
  - model_name: from-process-env
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {base}
      api_key: os.environ/TOLLGATE_TEST_PROCESS_KEY
  - model_name: from-config-env
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {base}
      api_key: os.environ/TOLLGATE_TEST_CONFIG_KEY
environment_variables:
  TOLLGATE_TEST_CONFIG_KEY: sk-from-environment-variables
general_settings:
  master_key: {MASTER_KEY}
"#,
            base = fake.api_base()
        );
        let gw = Gateway::start_with_env(&config, &[("TOLLGATE_TEST_PROCESS_KEY", "sk-from-process-env")]).await;
        for model in ["from-process-env", "from-config-env"] {
            json_with_status(post(&gw, "/v1/chat/completions", &chat_body(model, "k")).await, 200).await;
        }
        let auth: Vec<Option<String>> =
            fake.requests().iter().map(|r| r.header("authorization").map(str::to_string)).collect();
        assert_eq!(
            auth,
            [Some("Bearer sk-from-process-env".to_string()), Some("Bearer sk-from-environment-variables".to_string())]
        );
    })
    .await;
}

// ---------------------------------------------------------------- model listing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_list_shows_every_model_name_once() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let entries = [
            openai_deployment("gpt-4o-mini", "gpt-4o-mini", &fake),
            // Two deployments of one group are one model for the client.
            openai_deployment("gpt-4o-mini", "gpt-4o-mini-2024-07-18", &fake),
            openai_deployment("embed", "text-embedding-3-small", &fake),
        ]
        .concat();
        let gw = Gateway::start(&config_with(&entries)).await;
        for path in ["/v1/models", "/models"] {
            let v = json_with_status(get(&gw, path).await, 200).await;
            assert_eq!(v["object"], "list", "{path}: {v}");
            let data = v["data"].as_array().unwrap_or_else(|| panic!("{path}: no data: {v}"));
            let ids: Vec<&str> = data.iter().filter_map(|m| m["id"].as_str()).collect();
            let unique: BTreeSet<&str> = ids.iter().copied().collect();
            assert_eq!(ids.len(), unique.len(), "{path}: duplicate ids {ids:?}");
            assert_eq!(unique, BTreeSet::from(["gpt-4o-mini", "embed"]), "{path}");
            for m in data {
                assert_eq!(m["object"], "model", "{m}");
                assert!(m["created"].is_u64() || m["created"].is_i64(), "created: {m}");
                assert!(m["owned_by"].is_string(), "owned_by: {m}");
            }
        }
        let anonymous = client().get(gw.url("/v1/models")).send().await.expect("models");
        expect_openai_error(anonymous, 401).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_by_id_returns_that_model() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let v = json_with_status(get(&gw, "/v1/models/gpt-4o-mini").await, 200).await;
        assert_eq!(v["id"], "gpt-4o-mini");
        assert_eq!(v["object"], "model");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_info_lists_deployments_without_api_keys() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let entries = [
            openai_deployment("gpt-4o-mini", "gpt-4o-mini", &fake),
            openai_deployment("embed", "text-embedding-3-small", &fake),
        ]
        .concat();
        let gw = Gateway::start(&config_with(&entries)).await;
        let resp = get(&gw, "/model/info").await;
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        assert_eq!(status, 200, "{text}");
        assert!(!text.contains(PROVIDER_KEY), "/model/info shows the api_key: {text}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        let names: BTreeSet<&str> = v["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no data: {v}"))
            .iter()
            .filter_map(|d| d["model_name"].as_str())
            .collect();
        assert_eq!(names, BTreeSet::from(["gpt-4o-mini", "embed"]));
    })
    .await;
}

// ---------------------------------------------------------------- auth

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_is_accepted_as_bearer_x_api_key_and_api_key_and_never_forwarded() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let body = chat_body("gpt-4o-mini", "auth");
        let bearer = format!("Bearer {MASTER_KEY}");
        for (header, value) in [("authorization", bearer.as_str()), ("x-api-key", MASTER_KEY), ("api-key", MASTER_KEY)]
        {
            let resp = client()
                .post(gw.url("/v1/chat/completions"))
                .header(header, value)
                .json(&body)
                .send()
                .await
                .expect("request");
            let answer = json_with_status(resp, 200).await;
            assert_eq!(chat_text(&answer), "echo: auth", "with {header}");
        }
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 3);
        for r in &reqs {
            assert_eq!(r.header("authorization"), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
        }
        assert_master_key_not_forwarded(&fake);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_key_is_rejected_with_openai_shaped_401() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let body = chat_body("gpt-4o-mini", "no key");
        let none = client().post(gw.url("/v1/chat/completions")).json(&body).send().await.expect("request");
        expect_openai_error(none, 401).await;
        // The master key with its last character missing.
        let truncated = format!("Bearer {}", &MASTER_KEY[..MASTER_KEY.len() - 1]);
        for (header, value) in [
            ("authorization", "Bearer sk-wrong"),
            ("x-api-key", "sk-wrong"),
            ("api-key", "sk-wrong"),
            ("authorization", truncated.as_str()),
        ] {
            let resp = client()
                .post(gw.url("/v1/chat/completions"))
                .header(header, value)
                .json(&body)
                .send()
                .await
                .expect("request");
            expect_openai_error(resp, 401).await;
        }
        assert!(fake.requests().is_empty(), "a rejected request reached the provider");
    })
    .await;
}

// ---------------------------------------------------------------- client errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .header("content-type", "application/json")
            .body(r#"{"model": "gpt-4o-mini", "messages": [ "#)
            .send()
            .await
            .expect("request");
        expect_openai_error(resp, 400).await;
        assert!(fake.requests().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_model_is_400() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let resp = post(&gw, "/v1/chat/completions", &json!({"messages": [{"role": "user", "content": "x"}]})).await;
        expect_openai_error(resp, 400).await;
        assert!(fake.requests().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_model_is_400_naming_the_model() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let resp = post(&gw, "/v1/chat/completions", &chat_body("no-such-model-xyz", "x")).await;
        let error = expect_openai_error(resp, 400).await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("no-such-model-xyz"), "message: {message}");
        assert!(fake.requests().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_route_is_404() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        expect_openai_error(get(&gw, "/v1/definitely-not-a-route").await, 404).await;
        expect_openai_error(post(&gw, "/v1/not-a-route", &json!({"model": "gpt-4o-mini"})).await, 404).await;
        assert!(fake.requests().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_on_known_route_is_405() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        expect_openai_error(get(&gw, "/v1/chat/completions").await, 405).await;
        let resp = client().delete(gw.url("/v1/embeddings")).bearer_auth(MASTER_KEY).send().await.expect("request");
        expect_openai_error(resp, 405).await;
        assert!(fake.requests().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_max_request_size_is_413() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let config = format!(
            "model_list:\n{}general_settings:\n  master_key: {MASTER_KEY}\n  max_request_size_mb: 1\n",
            openai_deployment("gpt-4o-mini", "gpt-4o-mini", &fake)
        );
        let gw = Gateway::start(&config).await;
        let big = "a".repeat(2 * 1024 * 1024);
        let resp = post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", &big)).await;
        expect_openai_error(resp, 413).await;
        assert!(fake.requests().is_empty());
        // Under the limit still works.
        let small = "b".repeat(512 * 1024);
        let resp = post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", &small)).await;
        json_with_status(resp, 200).await;
    })
    .await;
}

// ---------------------------------------------------------------- upstream errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_4xx_reaches_client_with_its_status() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        for code in [400u16, 404] {
            fake.set_reply(Reply::Status(
                code,
                json!({"error": {"message": format!("fake says {code}"), "type": "invalid_request_error", "param": null, "code": "fake_code"}}),
            ));
            let resp = post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", "x")).await;
            let error = expect_openai_error(resp, code).await;
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.contains(&format!("fake says {code}")), "message: {message}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_429_is_429() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Status(
            429,
            json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        ))
        .await;
        let gw = one_model_gateway(&fake).await;
        let resp = post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", "x")).await;
        expect_openai_error(resp, 429).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_slower_than_deployment_timeout_is_408() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Delay(Duration::from_secs(3), Box::new(Reply::Echo))).await;
        let config = config_with(&format!(
            r#"  - model_name: slow
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {base}
      api_key: {PROVIDER_KEY}
      timeout: 1
      num_retries: 0
"#,
            base = fake.api_base()
        ));
        let gw = Gateway::start(&config).await;
        let started = Instant::now();
        let resp = post(&gw, "/v1/chat/completions", &chat_body("slow", "x")).await;
        let elapsed = started.elapsed();
        expect_openai_error(resp, 408).await;
        assert!(
            elapsed < Duration::from_millis(2800),
            "the gateway waited {elapsed:?} for a deployment with timeout: 1"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_502() {
    within(DEADLINE, async {
        let config = config_with(&format!(
            r#"  - model_name: nowhere
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:{port}/v1
      api_key: {PROVIDER_KEY}
"#,
            port = closed_port()
        ));
        let gw = Gateway::start(&config).await;
        let resp = post(&gw, "/v1/chat/completions", &chat_body("nowhere", "x")).await;
        expect_openai_error(resp, 502).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_closing_mid_body_fails_the_request_and_gateway_keeps_serving() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::CloseMidBody).await;
        let gw = one_model_gateway(&fake).await;
        let resp = post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", "cut")).await;
        let status = resp.status().as_u16();
        let body = resp.bytes().await;
        // Either an error status, or a 2xx whose body fails: never a clean 2xx that looks complete.
        if (200..300).contains(&status) {
            assert!(
                body.is_err(),
                "truncated upstream body delivered as a clean {status}: {:?}",
                body.map(|b| String::from_utf8_lossy(&b).into_owned())
            );
        } else {
            assert!(status >= 500, "status for a cut upstream body: {status}");
        }
        fake.set_reply(Reply::Echo);
        let answer =
            json_with_status(post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", "after")).await, 200).await;
        assert_eq!(chat_text(&answer), "echo: after");
    })
    .await;
}

// ---------------------------------------------------------------- streaming

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_reach_client_as_the_provider_sends_them() {
    within(DEADLINE, async {
        const EVENTS: usize = 8;
        const INTERVAL: Duration = Duration::from_millis(200);
        let fake = FakeProvider::start(Reply::SseDrip { events: EVENTS, interval: INTERVAL }).await;
        let gw = one_model_gateway(&fake).await;
        let mut body = chat_body("gpt-4o-mini", "stream please");
        body["stream"] = json!(true);
        let resp = post(&gw, "/v1/chat/completions", &body).await;
        assert_eq!(resp.status().as_u16(), 200);
        let content_type =
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        assert!(content_type.starts_with("text/event-stream"), "content-type: {content_type}");
        let (events, error) = read_sse(resp).await;
        assert_eq!(error, None, "stream failed");

        let sent = fake.sent_event_times();
        assert_eq!(sent.len(), EVENTS);
        // Match each received chunk to the provider's event by its content `tok{i} `.
        let mut arrived = vec![None; EVENTS];
        for ev in &events {
            let Some(v) = ev.json() else { continue };
            if let Some(text) = v["choices"][0]["delta"]["content"].as_str() {
                if let Some(i) = text.trim().strip_prefix("tok").and_then(|n| n.parse::<usize>().ok()) {
                    assert!(arrived[i].is_none(), "event {i} arrived twice");
                    arrived[i] = Some(ev.at);
                }
            }
        }
        let arrived: Vec<Instant> = arrived
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.unwrap_or_else(|| panic!("event tok{i} never reached the client")))
            .collect();
        for i in 0..EVENTS {
            let lag = arrived[i].saturating_duration_since(sent[i]);
            assert!(lag < Duration::from_millis(400), "event {i} reached the client {lag:?} after it was sent");
        }
        assert!(
            arrived[0] + Duration::from_millis(800) < sent[EVENTS - 1],
            "the first event arrived only {:?} before the last was sent: the stream was buffered",
            sent[EVENTS - 1].saturating_duration_since(arrived[0])
        );
        let spread = arrived[EVENTS - 1].duration_since(arrived[0]);
        let drip = INTERVAL * (EVENTS as u32 - 1);
        assert!(spread >= drip.mul_f64(0.75), "events arrived within {spread:?}, drip took {drip:?}");
        let done = events.iter().filter(|e| e.data.trim() == "[DONE]").count();
        assert_eq!(done, 1, "exactly one [DONE]");
        assert_eq!(events.last().map(|e| e.data.trim()), Some("[DONE]"), "[DONE] comes last");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_mid_stream_closes_the_upstream_connection() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::SseDrip { events: 200, interval: Duration::from_millis(100) }).await;
        let gw = one_model_gateway(&fake).await;
        let mut body = chat_body("gpt-4o-mini", "then hang up");
        body["stream"] = json!(true);
        let resp = post(&gw, "/v1/chat/completions", &body).await;
        assert_eq!(resp.status().as_u16(), 200);
        let mut events = SseEvents::new(resp);
        for _ in 0..2 {
            assert!(events.next_event().await.is_some(), "stream ended early: {:?}", events.error);
        }
        drop(events);
        let hung_up = Instant::now();
        assert!(
            fake.wait_for_stream_abort(Duration::from_secs(3)).await,
            "the provider kept streaming for 3 s after the client went away ({} events sent)",
            fake.sent_event_times().len()
        );
        assert_eq!(fake.streams_completed(), 0);
        eprintln!("upstream write failed {:?} after the client hung up", hung_up.elapsed());
    })
    .await;
}

// ---------------------------------------------------------------- bodies and concurrency

/// A deterministic base64 payload of `len` characters (an image the SDK would send inline).
fn base64_payload(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % 64) as usize])
        })
        .collect()
}

async fn vision_request_reaches_provider_intact(payload_len: usize) {
    let fake = FakeProvider::start(Reply::Echo).await;
    let gw = one_model_gateway(&fake).await;
    let sent = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is in this image?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", base64_payload(payload_len)), "detail": "high"}}
        ]}],
        "max_tokens": 300
    });
    let answer = json_with_status(post(&gw, "/v1/chat/completions", &sent).await, 200).await;
    assert_eq!(chat_text(&answer), "echo: what is in this image?");
    let got = fake.only_request();
    assert!(got.body.len() >= payload_len, "provider got {} bytes", got.body.len());
    assert!(got.json() == with_model(sent, "gpt-4o-mini"), "the provider's body differs from the client's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vision_request_of_500_kb_reaches_provider_intact() {
    within(DEADLINE, vision_request_reaches_provider_intact(500 * 1024)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vision_request_of_5_mb_reaches_provider_intact() {
    within(DEADLINE, vision_request_reaches_provider_intact(5 * 1024 * 1024)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_each_get_their_own_answer() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let http = client();
        let calls = (0..50).map(|i| {
            let http = http.clone();
            let url = gw.url("/v1/chat/completions");
            async move {
                let text = format!("request {i} nonce {}", uuid::Uuid::new_v4());
                let resp = http
                    .post(url)
                    .bearer_auth(MASTER_KEY)
                    .json(&chat_body("gpt-4o-mini", &text))
                    .send()
                    .await
                    .expect("request");
                (text, json_with_status(resp, 200).await)
            }
        });
        let results = futures_util::future::join_all(calls).await;
        for (text, answer) in &results {
            assert_eq!(chat_text(answer), format!("echo: {text}"));
        }
        assert_eq!(fake.requests().len(), 50);
    })
    .await;
}

// ---------------------------------------------------------------- headers and connections

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litellm_response_headers_name_call_deployment_group_and_overhead() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let config = config_with(&format!(
            r#"  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {base}
      api_key: {PROVIDER_KEY}
    model_info:
      id: deployment-alpha-1
"#,
            base = fake.api_base()
        ));
        let gw = Gateway::start(&config).await;
        let mut call_ids = BTreeSet::new();
        for _ in 0..2 {
            let resp = post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", "h")).await;
            assert_eq!(resp.status().as_u16(), 200);
            let header = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .unwrap_or_else(|| panic!("missing header {name}: {:?}", resp.headers()))
            };
            let call_id = header("x-litellm-call-id");
            assert!(uuid::Uuid::parse_str(&call_id).is_ok(), "call id is not a uuid: {call_id}");
            call_ids.insert(call_id);
            assert_eq!(header("x-litellm-model-id"), "deployment-alpha-1");
            assert_eq!(header("x-litellm-model-group"), "gpt-4o-mini");
            let overhead = header("x-litellm-overhead-duration-ms");
            assert!(overhead.parse::<f64>().is_ok_and(|ms| ms >= 0.0), "overhead: {overhead}");
        }
        assert_eq!(call_ids.len(), 2, "each call gets its own id");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_reuse_one_upstream_connection() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        for i in 0..20 {
            let resp = post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", &format!("n{i}"))).await;
            json_with_status(resp, 200).await;
        }
        assert_eq!(fake.requests().len(), 20);
        let conns = fake.connections();
        assert!(conns <= 2, "20 sequential requests opened {conns} upstream connections");
    })
    .await;
}

// ---------------------------------------------------------------- mock_response and providers

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_response_answers_without_calling_a_provider() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let config = config_with(&format!(
            r#"  - model_name: mocked
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {base}
      api_key: {PROVIDER_KEY}
      mock_response: "This is a mock answer."
"#,
            base = fake.api_base()
        ));
        let gw = Gateway::start(&config).await;
        let answer = json_with_status(post(&gw, "/v1/chat/completions", &chat_body("mocked", "hi")).await, 200).await;
        assert_eq!(answer["object"], "chat.completion");
        assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
        assert_eq!(chat_text(&answer), "This is a mock answer.");
        assert!(answer["id"].is_string(), "id: {answer}");
        assert!(answer["created"].is_u64() || answer["created"].is_i64(), "created: {answer}");

        let mut body = chat_body("mocked", "hi");
        body["stream"] = json!(true);
        let resp = post(&gw, "/v1/chat/completions", &body).await;
        assert_eq!(resp.status().as_u16(), 200);
        let (events, error) = read_sse(resp).await;
        assert_eq!(error, None);
        let text: String = events
            .iter()
            .filter_map(|e| e.json())
            .map(|v| {
                assert_eq!(v["object"], "chat.completion.chunk", "{v}");
                v["choices"][0]["delta"]["content"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        assert_eq!(text, "This is a mock answer.");
        assert_eq!(events.iter().filter(|e| e.data.trim() == "[DONE]").count(), 1);
        assert_eq!(events.last().map(|e| e.data.trim()), Some("[DONE]"));

        assert!(fake.requests().is_empty(), "mock_response called the provider");
        assert_eq!(fake.connections(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_provider_is_400_naming_it_while_other_models_serve() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let entries = format!(
            r#"  - model_name: sm
    litellm_params:
      model: sagemaker/foo
      api_key: {PROVIDER_KEY}
{ok}"#,
            ok = openai_deployment("gpt-4o-mini", "gpt-4o-mini", &fake)
        );
        let gw = Gateway::start(&config_with(&entries)).await;
        let error = expect_openai_error(post(&gw, "/v1/chat/completions", &chat_body("sm", "x")).await, 400).await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("sagemaker"), "message: {message}");
        let answer =
            json_with_status(post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", "still here")).await, 200)
                .await;
        assert_eq!(chat_text(&answer), "echo: still here");
    })
    .await;
}

// ---------------------------------------------------------------- framing edge cases

/// A body sent with `Transfer-Encoding: chunked` (no Content-Length), in pieces of `piece` bytes.
fn chunked_body(bytes: Vec<u8>, piece: usize) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(piece).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_request_body_of_2_mb_reaches_provider_intact() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let sent = json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "chunked"},
                {"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{}", base64_payload(2 * 1024 * 1024))}}
            ]}]
        });
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .header("content-type", "application/json")
            .body(chunked_body(serde_json::to_vec(&sent).expect("encode"), 16 * 1024))
            .send()
            .await
            .expect("request");
        let answer = json_with_status(resp, 200).await;
        assert_eq!(chat_text(&answer), "echo: chunked");
        assert!(
            fake.only_request().json() == with_model(sent, "gpt-4o-mini"),
            "the provider's body differs from the client's"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_max_request_size_is_413() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let config = format!(
            "model_list:\n{}general_settings:\n  master_key: {MASTER_KEY}\n  max_request_size_mb: 1\n",
            openai_deployment("gpt-4o-mini", "gpt-4o-mini", &fake)
        );
        let gw = Gateway::start(&config).await;
        let big = serde_json::to_vec(&chat_body("gpt-4o-mini", &"c".repeat(2 * 1024 * 1024))).expect("encode");
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .header("content-type", "application/json")
            .body(chunked_body(big, 64 * 1024))
            .send()
            .await;
        // The gateway may answer before it read everything and close: a reset on the
        // client's side after a 413 is fine, a request that reached the provider is not.
        if let Ok(resp) = resp {
            expect_openai_error(resp, 413).await;
        }
        assert!(fake.requests().is_empty(), "an oversized chunked body reached the provider");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answer_of_3_mb_reaches_client_intact() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let text = base64_payload(3 * 1024 * 1024);
        let answer =
            json_with_status(post(&gw, "/v1/chat/completions", &chat_body("gpt-4o-mini", &text)).await, 200).await;
        assert!(
            chat_text(&answer) == format!("echo: {text}"),
            "the 3 MB answer arrived altered ({} bytes of content)",
            chat_text(&answer).len()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_connection_stays_open_across_json_and_streamed_answers() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;

    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let gw = one_model_gateway(&fake).await;
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", gw.port())).await.expect("connect");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<bytes::Bytes>>(TokioIo::new(tcp)).await.expect("handshake");
        let conn = tokio::spawn(conn);
        let plain = chat_body("gpt-4o-mini", "one");
        let mut streamed = chat_body("gpt-4o-mini", "two");
        streamed["stream"] = json!(true);
        let steps = [
            (Reply::Echo, plain.clone()),
            (Reply::SseDrip { events: 3, interval: Duration::from_millis(10) }, streamed),
            (Reply::Echo, plain),
        ];
        for (i, (reply, body)) in steps.into_iter().enumerate() {
            fake.set_reply(reply);
            sender
                .ready()
                .await
                .unwrap_or_else(|e| panic!("the gateway closed the client connection before request {i}: {e}"));
            let req = hyper::Request::post("/v1/chat/completions")
                .header("host", format!("127.0.0.1:{}", gw.port()))
                .header("authorization", format!("Bearer {MASTER_KEY}"))
                .header("content-type", "application/json")
                .body(Full::new(bytes::Bytes::from(serde_json::to_vec(&body).expect("encode"))))
                .expect("request");
            let resp = sender
                .send_request(req)
                .await
                .unwrap_or_else(|e| panic!("request {i} on the kept-alive connection: {e}"));
            assert_eq!(resp.status().as_u16(), 200, "request {i}");
            let framed = resp.headers().contains_key("content-length")
                || resp.headers().get("transfer-encoding").is_some_and(|v| v == "chunked");
            assert!(framed, "request {i}: answer is close-delimited: {:?}", resp.headers());
            resp.into_body().collect().await.expect("answer body");
        }
        assert_eq!(fake.requests().len(), 3);
        drop(sender);
        let _ = conn.await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_request_rejected_upstream_gets_the_upstream_status() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Status(
            400,
            json!({"error": {"message": "fake rejects this stream", "type": "invalid_request_error", "param": "messages", "code": null}}),
        ))
        .await;
        let gw = one_model_gateway(&fake).await;
        let mut body = chat_body("gpt-4o-mini", "x");
        body["stream"] = json!(true);
        let error = expect_openai_error(post(&gw, "/v1/chat/completions", &body).await, 400).await;
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("fake rejects this stream"), "message: {message}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_answer_carries_litellm_headers() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::SseDrip { events: 2, interval: Duration::from_millis(10) }).await;
        let gw = one_model_gateway(&fake).await;
        let mut body = chat_body("gpt-4o-mini", "s");
        body["stream"] = json!(true);
        let resp = post(&gw, "/v1/chat/completions", &body).await;
        assert_eq!(resp.status().as_u16(), 200);
        let call_id =
            resp.headers().get("x-litellm-call-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        assert!(uuid::Uuid::parse_str(&call_id).is_ok(), "x-litellm-call-id: {:?}", resp.headers());
        assert_eq!(resp.headers().get("x-litellm-model-group").and_then(|v| v.to_str().ok()), Some("gpt-4o-mini"));
        let (events, error) = read_sse(resp).await;
        assert_eq!(error, None);
        assert_eq!(events.iter().filter(|e| e.data.trim() == "[DONE]").count(), 1);
    })
    .await;
}
