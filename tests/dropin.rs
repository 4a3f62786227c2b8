//! Where a LiteLLM user who switches must get LiteLLM's answer: the client's own call id, budgets that
//! block when LiteLLM's block (and not earlier), with LiteLLM's status and message.
//!
//! Run: `cargo test --test dropin`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::time::Duration;

use common::{chat_body, client, config_with, within, Gateway, MASTER_KEY};
use serde_json::json;

/// Deadline of one test.
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_call_id_is_the_calls_id_on_every_route_errors_included() {
    within(DEADLINE, async {
        let entry =
            "  - model_name: x\n    litellm_params:\n      model: openai/gpt-4o-mini\n      mock_response: hi\n";
        let gw = Gateway::start(&config_with(entry)).await;
        let id = "client-trace-7f3a:01";
        let http = client();
        let calls = [
            (
                "chat",
                http.post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(&chat_body("x", "hi")),
                200,
            ),
            ("no key", http.post(gw.url("/v1/chat/completions")).json(&chat_body("x", "hi")), 401),
            (
                "unknown model",
                http.post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(&chat_body("y", "hi")),
                400,
            ),
            ("unknown route", http.get(gw.url("/v1/nothing")).bearer_auth(MASTER_KEY), 404),
            ("admin", http.post(gw.url("/key/generate")).bearer_auth(MASTER_KEY).json(&json!({})), 200),
            ("health", http.get(gw.url("/health/readiness")), 200),
        ];
        for (what, req, status) in calls {
            let resp = req.header("x-litellm-call-id", id).send().await.expect(what);
            assert_eq!(resp.status().as_u16(), status, "{what}");
            assert_eq!(resp.headers()["x-litellm-call-id"], id, "{what}");
        }
        // Without one, or with one that is not a header-safe id, the gateway makes its own.
        for sent in [None, Some("x".repeat(300))] {
            let mut req = http.post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(&chat_body("x", "hi"));
            if let Some(s) = &sent {
                req = req.header("x-litellm-call-id", s.as_str());
            }
            let resp = req.send().await.expect("chat");
            let made = resp.headers()["x-litellm-call-id"].to_str().unwrap().to_string();
            assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
        }
    })
    .await;
}

/// One mock call to `priced` costs (10 + 20) tokens at 0.001 USD.
const CALL_COST: f64 = 0.03;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_call_budget_on_a_key_a_team_or_an_end_user_serves_about_two_calls_then_422() {
    within(DEADLINE, async {
        let entry = "  - model_name: priced\n    litellm_params: {model: openai/gpt-4o-mini, mock_response: hi, \
                     input_cost_per_token: 0.001, output_cost_per_token: 0.001}\n";
        let gw = Gateway::start(&config_with(entry)).await;
        let http = client();
        let admin = |path: &'static str, body: serde_json::Value| {
            let req = http.post(gw.url(path)).bearer_auth(MASTER_KEY).json(&body);
            async move {
                let resp = req.send().await.expect(path);
                assert_eq!(resp.status().as_u16(), 200, "{path}");
                resp.json::<serde_json::Value>().await.expect("json")
            }
        };
        let key_of = |v: serde_json::Value| v["key"].as_str().unwrap().to_string();
        let budget = 2.0 * CALL_COST;
        let by_key = key_of(admin("/key/generate", json!({"max_budget": budget})).await);
        admin("/team/new", json!({"team_id": "two-calls", "max_budget": budget})).await;
        let by_team = key_of(admin("/key/generate", json!({"team_id": "two-calls"})).await);
        admin("/customer/new", json!({"user_id": "two-calls-user", "max_budget": budget})).await;
        let by_end_user = key_of(admin("/key/generate", json!({})).await);
        for (what, key, user, words) in [
            ("key", &by_key, None, "Budget has been exceeded! Key=key Current cost: "),
            ("team", &by_team, None, "Budget has been exceeded! Team=two-calls Current cost: "),
            ("end user", &by_end_user, Some("two-calls-user"), "ExceededBudget: End User=two-calls-user over budget."),
        ] {
            let mut served = 0;
            let mut refusal = None;
            for _ in 0..6 {
                let mut body = chat_body("priced", "hi");
                if let Some(u) = user {
                    body["user"] = json!(u);
                }
                let resp = http.post(gw.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.unwrap();
                if resp.status().as_u16() == 200 {
                    served += 1;
                    continue;
                }
                refusal = Some(resp);
                break;
            }
            assert!((1..=3).contains(&served), "{what}: {served} calls served on a two-call budget");
            let error = common::expect_openai_error(refusal.expect("a refusal"), 422).await;
            assert_eq!(error["type"], json!("budget_exceeded"), "{what}: {error}");
            assert!(error["message"].as_str().unwrap().starts_with(words), "{what}: {error}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_urls_are_formed_from_api_base_as_litellm_forms_them() {
    use common::{FakeProvider, Reply};
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let origin = fake.origin();
        // (group, litellm_params members, the path the provider must see), api_base in LiteLLM's doc forms.
        let rows = [
            (
                "oai",
                format!("model: openai/m, api_base: '{origin}/v1', api_key: k"),
                "/v1/chat/completions".to_string(),
            ),
            ("vllm", format!("model: hosted_vllm/m, api_base: '{origin}'"), "/chat/completions".to_string()),
            (
                "az",
                format!("model: azure/dep, api_base: '{origin}', api_key: k, api_version: '2024-10-21'"),
                "/openai/deployments/dep/chat/completions?api-version=2024-10-21".to_string(),
            ),
            ("ant", format!("model: anthropic/claude-x, api_base: '{origin}', api_key: k"), "/v1/messages".to_string()),
            (
                "gem",
                format!("model: gemini/gemini-2.0-flash, api_base: '{origin}/v1beta', api_key: k"),
                "/v1beta/models/gemini-2.0-flash:generateContent".to_string(),
            ),
            (
                "coh",
                format!("model: cohere/command-r, api_base: '{origin}/v2/chat', api_key: k"),
                "/v2/chat".to_string(),
            ),
            (
                "bed",
                format!(
                    "model: bedrock/anthropic.claude-3:0, api_base: 'http://127.0.0.1:9', \
                     aws_bedrock_runtime_endpoint: '{origin}', aws_access_key_id: AK, aws_secret_access_key: SK, \
                     aws_region_name: eu-west-1"
                ),
                "/model/anthropic.claude-3%3A0/converse".to_string(),
            ),
        ];
        let entries: String = rows
            .iter()
            .map(|(group, params, _)| {
                format!("  - model_name: {group}\n    litellm_params: {{{params}, num_retries: 0}}\n")
            })
            .collect();
        let gw = Gateway::start(&config_with(&entries)).await;
        for (group, _, path) in &rows {
            let before = fake.hits();
            let _ = client()
                .post(gw.url("/v1/chat/completions"))
                .bearer_auth(MASTER_KEY)
                .json(&chat_body(group, "hi"))
                .send()
                .await
                .expect(group);
            // The fake speaks OpenAI's shape, so translated providers may answer 502 here: the URL is the point.
            assert_eq!(fake.hits(), before + 1, "{group}: the provider was not called");
            let seen = fake.requests().pop().expect("a request").path_and_query;
            assert_eq!(&seen, path, "{group}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_fallbacks_and_retries_hide_a_failing_group_and_never_reach_the_provider() {
    use common::{expect_openai_error, openai_deployment, FakeProvider, Reply};
    within(DEADLINE, async {
        let bad = FakeProvider::start(Reply::Status(
            503,
            json!({"error": {"message": "overloaded", "type": "server_error", "param": null, "code": null}}),
        ))
        .await;
        let good = FakeProvider::start(Reply::Echo).await;
        let entries =
            [openai_deployment("bad", "bad-model", &bad), openai_deployment("good", "good-model", &good)].concat();
        let gw = Gateway::start(&config_with(&entries)).await;
        let http = client();
        let mut body = chat_body("bad", "hi");
        body["fallbacks"] = json!(["good"]);
        body["num_retries"] = json!(0);
        body["timeout"] = json!(20);
        body["context_window_fallback_dict"] = json!({"bad": "good"});
        let resp = http.post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(&body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.headers()["x-litellm-attempted-fallbacks"], "1");
        assert_eq!(resp.headers()["x-litellm-attempted-retries"], "0");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], json!("echo: hi"));
        assert_eq!(bad.hits(), 1, "num_retries: 0 from the body");
        for fake in [&bad, &good] {
            let sent = fake.requests().pop().expect("a request").json();
            for key in ["fallbacks", "num_retries", "timeout", "context_window_fallback_dict"] {
                assert!(sent.get(key).is_none(), "{key} reached the provider: {sent}");
            }
        }
        // Without the body's fallbacks, the client sees the 503.
        let resp = http
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .json(&chat_body("bad", "hi"))
            .send()
            .await;
        assert_eq!(resp.unwrap().status().as_u16(), 503);
        // A key may not fall back to a model it may not use.
        let made = http
            .post(gw.url("/key/generate"))
            .bearer_auth(MASTER_KEY)
            .json(&json!({"models": ["bad"]}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        let key = made["key"].as_str().unwrap();
        let resp = http.post(gw.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.unwrap();
        let error = expect_openai_error(resp, 403).await;
        assert_eq!(error["type"], json!("key_model_access_denied"), "{error}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_sees_only_its_models_and_reads_only_its_own_team_and_user() {
    within(DEADLINE, async {
        let mock = |group: &str| {
            format!("  - model_name: {group}\n    litellm_params:\n      model: openai/{group}\n      api_base: http://127.0.0.1:9/v1\n")
        };
        let gw = Gateway::start(&config_with(&[mock("open-model"), mock("secret-model")].concat())).await;
        let http = client();
        let admin = |path: &'static str, body: serde_json::Value| {
            let req = http.post(gw.url(path)).bearer_auth(MASTER_KEY).json(&body);
            async move { req.send().await.expect(path).json::<serde_json::Value>().await.expect("json") }
        };
        admin("/team/new", json!({"team_id": "t-own"})).await;
        admin("/team/new", json!({"team_id": "t-other"})).await;
        admin("/user/new", json!({"user_id": "u-own"})).await;
        admin("/user/new", json!({"user_id": "u-other"})).await;
        let made = admin("/key/generate", json!({"models": ["open-model"], "team_id": "t-own", "user_id": "u-own"})).await;
        let key = made["key"].as_str().unwrap().to_string();
        let get = |path: String| {
            let req = http.get(gw.url(&path)).bearer_auth(&key);
            async move {
                let resp = req.send().await.expect("get");
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
        };
        for path in ["/model/info", "/v1/models", "/health"] {
            let (status, text) = get(path.to_string()).await;
            assert_eq!(status, 200, "{path}: {text}");
            assert!(text.contains("open-model"), "{path}: {text}");
            assert!(!text.contains("secret-model"), "{path} shows a model the key may not use: {text}");
        }
        assert_eq!(get("/v1/models/open-model".into()).await.0, 200);
        assert_eq!(get("/v1/models/secret-model".into()).await.0, 400);
        assert_eq!(get("/team/info?team_id=t-own".into()).await.0, 200);
        assert_eq!(get("/team/info?team_id=t-other".into()).await.0, 403);
        assert_eq!(get("/user/info?user_id=u-own".into()).await.0, 200);
        assert_eq!(get("/user/info?user_id=u-other".into()).await.0, 403);
        // The master key still sees everything.
        let all = http.get(gw.url("/model/info")).bearer_auth(MASTER_KEY).send().await.unwrap().text().await.unwrap();
        assert!(all.contains("secret-model"), "{all}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_groups_serve_unlisted_models_and_key_whitelists_still_apply() {
    use common::{expect_openai_error, FakeProvider, Reply};
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let other = FakeProvider::start(Reply::Echo).await;
        let (a, b) = (fake.api_base(), other.api_base());
        let entries = [
            format!("  - model_name: listed\n    litellm_params: {{model: openai/listed-upstream, api_base: '{a}'}}\n"),
            format!("  - model_name: '*'\n    litellm_params: {{model: 'openai/*', api_base: '{a}'}}\n"),
            format!("  - model_name: 'groq/*'\n    litellm_params: {{model: '*', api_base: '{b}'}}\n"),
        ]
        .concat();
        let gw = Gateway::start(&config_with(&entries)).await;
        let http = client();
        let ask = |key: String, model: &str| {
            let req = http.post(gw.url("/v1/chat/completions")).bearer_auth(key).json(&chat_body(model, "hi"));
            async move { req.send().await.expect("chat") }
        };
        // Exact names win; anything else goes to the wildcard with the requested name as the model sent.
        let resp = ask(MASTER_KEY.into(), "listed").await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(fake.requests().pop().unwrap().json()["model"], json!("listed-upstream"));
        let resp = ask(MASTER_KEY.into(), "some-unlisted-model").await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.headers()["x-litellm-model-group"], "some-unlisted-model");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["model"], json!("some-unlisted-model"));
        assert_eq!(fake.requests().pop().unwrap().json()["model"], json!("some-unlisted-model"));
        // The more specific pattern wins, and a bare `*` takes the provider from the requested name.
        let resp = ask(MASTER_KEY.into(), "groq/llama-3.1-8b").await;
        assert_eq!(resp.status().as_u16(), 200);
        let sent = other.requests().pop().expect("the groq wildcard was not used");
        assert_eq!(sent.json()["model"], json!("llama-3.1-8b"));
        assert_eq!(sent.path_and_query, "/v1/chat/completions");
        // A key's whitelist is checked against the requested name, before the wildcard.
        let made = http
            .post(gw.url("/key/generate"))
            .bearer_auth(MASTER_KEY)
            .json(&json!({"models": ["allowed-model"]}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        let key = made["key"].as_str().unwrap().to_string();
        assert_eq!(ask(key.clone(), "allowed-model").await.status().as_u16(), 200);
        let error = expect_openai_error(ask(key, "another-model").await, 403).await;
        assert_eq!(error["type"], json!("key_model_access_denied"), "{error}");
        // /v1/models lists models, not routes.
        let models = http.get(gw.url("/v1/models")).bearer_auth(MASTER_KEY).send().await.unwrap().text().await.unwrap();
        assert!(models.contains("listed") && !models.contains('*'), "{models}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_calls_each_deployment_and_names_a_failing_one_without_prior_traffic() {
    use common::{openai_deployment, FakeProvider, Reply};
    within(DEADLINE, async {
        let broken = FakeProvider::start(Reply::Status(
            500,
            json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}),
        ))
        .await;
        let fine = FakeProvider::start(Reply::Echo).await;
        let entries = [
            openai_deployment("broken", "broken-model", &broken),
            openai_deployment("fine", "fine-model", &fine),
            "  - model_name: embed\n    litellm_params: {model: openai/text-embedding-3-small, api_base: 'FINE'}\n    model_info: {mode: embedding}\n"
                .replace("FINE", &fine.api_base()),
        ]
        .concat();
        let gw = Gateway::start(&config_with(&entries)).await;
        let health: serde_json::Value =
            client().get(gw.url("/health")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
        let names = |list: &str| -> Vec<String> {
            health[list].as_array().unwrap().iter().map(|e| e["model_name"].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(names("unhealthy_endpoints"), ["broken"], "{health}");
        let mut healthy = names("healthy_endpoints");
        healthy.sort();
        assert_eq!(healthy, ["embed", "fine"], "{health}");
        assert!(health["unhealthy_endpoints"][0]["error"].as_str().unwrap().contains("500"), "{health}");
        // One minimal call each: one token of chat, one short embedding input.
        assert_eq!(broken.hits(), 1);
        let paths: Vec<String> = fine.requests().iter().map(|r| r.path_and_query.clone()).collect();
        assert!(paths.contains(&"/v1/chat/completions".to_string()) && paths.contains(&"/v1/embeddings".to_string()));
        let chat = fine.requests().into_iter().find(|r| r.path_and_query.ends_with("/chat/completions")).unwrap();
        assert_eq!(chat.json()["max_tokens"], json!(1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_health_checks_answer_with_the_last_round() {
    use common::{openai_deployment, FakeProvider, Reply};
    within(DEADLINE, async {
        let fine = FakeProvider::start(Reply::Echo).await;
        let yaml = format!(
            "{}  background_health_checks: true\n  health_check_interval: 300\n",
            config_with(&openai_deployment("fine", "fine-model", &fine))
        );
        let gw = Gateway::start(&yaml).await;
        let get = || async {
            client()
                .get(gw.url("/health"))
                .bearer_auth(MASTER_KEY)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        };
        // The first round runs at start; give it a moment, then /health answers with it, calling nobody.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let first = get().await;
        let hits = fine.hits();
        let second = get().await;
        assert_eq!(first["healthy_count"], json!(1), "{first}");
        assert_eq!(first["checked_at"], second["checked_at"]);
        assert_eq!(fine.hits(), hits, "/health called the provider again instead of answering the last round");
        assert!(hits >= 1, "no background round ran");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_model_aliases_apply_to_the_teams_keys() {
    within(DEADLINE, async {
        let entry = "  - model_name: real-group\n    litellm_params: {model: openai/gpt-4o-mini, mock_response: hi}\n";
        let gw = Gateway::start(&config_with(entry)).await;
        let http = client();
        let post = |path: &'static str, key: String, body: serde_json::Value| {
            let req = http.post(gw.url(path)).bearer_auth(key).json(&body);
            async move { req.send().await.expect(path) }
        };
        let team = json!({"team_id": "aliased", "model_aliases": {"friendly": "real-group"}});
        assert_eq!(post("/team/new", MASTER_KEY.into(), team).await.status().as_u16(), 200);
        let made: serde_json::Value =
            post("/key/generate", MASTER_KEY.into(), json!({"team_id": "aliased"})).await.json().await.unwrap();
        let key = made["key"].as_str().unwrap().to_string();
        let resp = post("/v1/chat/completions", key.clone(), chat_body("friendly", "hi")).await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.headers()["x-litellm-model-group"], "real-group");
        // Not for keys outside the team.
        let other: serde_json::Value = post("/key/generate", MASTER_KEY.into(), json!({})).await.json().await.unwrap();
        let resp =
            post("/v1/chat/completions", other["key"].as_str().unwrap().into(), chat_body("friendly", "hi")).await;
        assert_eq!(resp.status().as_u16(), 400);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_wildcard_sends_each_provider_its_own_key_and_serves_only_model_names() {
    use common::{FakeProvider, Reply};
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let entry =
            format!("  - model_name: '*'\n    litellm_params: {{model: '*', api_base: '{}'}}\n", fake.api_base());
        let env = [("OPENAI_API_KEY", "sk-openai-secret-1"), ("GROQ_API_KEY", "gsk-groq-2")];
        let gw = Gateway::start_with_env(&config_with(&entry), &env).await;
        let http = client();
        let ask = |model: &str| {
            let req = http.post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(&chat_body(model, "hi"));
            async move { req.send().await.expect("chat") }
        };
        for (model, key) in [
            ("gpt-4o", Some("Bearer sk-openai-secret-1")),
            ("groq/llama", Some("Bearer gsk-groq-2")),
            ("deepseek/chat", None),
        ] {
            assert_eq!(ask(model).await.status().as_u16(), 200, "{model}");
            let sent = fake.requests().pop().unwrap();
            assert_eq!(sent.header("authorization"), key, "{model}: the key sent");
        }
        // Only model names: a wildcard's name becomes a header, a log field and a URL segment.
        for bad in ["x\u{7}y", "a?b=1", "../../admin", &"m".repeat(300)] {
            let resp = ask(bad).await;
            assert_eq!(resp.status().as_u16(), 400, "{bad:?}");
        }
    })
    .await;
}
