//! Virtual keys as a company uses them, through the gateway binary: LiteLLM's admin API, model
//! whitelists, expiry and blocking, budgets (zero, windows that reset, one budget shared by two
//! instances over real Redis and PostgreSQL), rpm limits across instances, Redis killed mid-run and the
//! database cut off.
//!
//! Every deployment here is a `mock_response` priced at 0.001 USD per token: LiteLLM's mock usage is
//! 10 prompt + 20 completion tokens, so every successful call costs exactly 0.03 USD.
//!
//! Run: `cargo test --test keys` (needs `redis-server` and PostgreSQL on 127.0.0.1, `TOLLGATE_TEST_PGPORT` or 5432).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    chat_body, client, expect_openai_error, within, FakeProvider, Gateway, PgSchema, RedisServer, Reply, SseEvents,
    TcpRelay, MASTER_KEY, PROVIDER_KEY,
};
use serde_json::{json, Value};

/// Deadline of one ordinary test.
const DEADLINE: Duration = Duration::from_secs(90);
/// What one mock call costs: (10 + 20) tokens at 0.001 USD.
const CALL_COST: f64 = 0.03;

/// Two priced mock models, `cheap` and `other`, plus `extra` settings lines appended under the master key.
fn config(general_extra: &str, router: &str) -> String {
    format!(
        r#"model_list:
  - model_name: cheap
    litellm_params: {{model: openai/gpt-4o-mini, mock_response: "hi", input_cost_per_token: 0.001, output_cost_per_token: 0.001}}
  - model_name: other
    litellm_params: {{model: openai/gpt-4o, mock_response: "hi", input_cost_per_token: 0.001, output_cost_per_token: 0.001}}
general_settings:
  master_key: {MASTER_KEY}
{general_extra}{router}"#
    )
}

/// An admin call with the master key; asserts 200 and returns the JSON.
async fn admin(gw: &Gateway, path: &str, body: Value) -> Value {
    let resp = client().post(gw.url(path)).bearer_auth(MASTER_KEY).json(&body).send().await.expect("admin call");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{path} answered {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
}

/// A new key from `/key/generate` with `body`.
async fn new_key(gw: &Gateway, body: Value) -> String {
    let v = admin(gw, "/key/generate", body).await;
    v["key"].as_str().unwrap_or_else(|| panic!("no key in {v}")).to_owned()
}

/// A chat call to `model` with `key`.
async fn chat(gw: &Gateway, key: &str, model: &str) -> reqwest::Response {
    let mut body = chat_body(model, "hello");
    body["max_tokens"] = json!(20);
    client().post(gw.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.expect("chat call")
}

/// The `x-litellm-response-cost` of an answer.
fn cost_of(resp: &reqwest::Response) -> f64 {
    let header = resp.headers().get("x-litellm-response-cost").expect("x-litellm-response-cost on every answer");
    header.to_str().unwrap().parse().unwrap()
}

/// The `error` of a budget refusal, asserting LiteLLM's shape: 422, `budget_exceeded`, the budget named in
/// LiteLLM's words for it (`key`, `team`, `end_user`), with the spend and the budget.
async fn expect_budget_exceeded(resp: reqwest::Response, scope: &str) -> Value {
    assert_eq!(cost_of(&resp), 0.0, "a refused call costs nothing, and says so");
    let error = expect_openai_error(resp, 422).await;
    assert_eq!(error["type"], "budget_exceeded", "{error}");
    assert_eq!(error["code"], "422", "{error}");
    let message = error["message"].as_str().unwrap();
    let named = match scope {
        "key" => message.starts_with("Budget has been exceeded! Key=") && message.contains("Current cost: "),
        "team" => message.starts_with("Budget has been exceeded! Team=") && message.contains("Max budget: "),
        "end_user" => message.starts_with("ExceededBudget: End User=") && message.contains("Budget="),
        _ => false,
    };
    assert!(named, "{scope}: {message}");
    error
}

/// Sleeps until at least `margin` is left in the current wall-clock minute (fixed rpm windows).
async fn away_from_minute_end(margin: Duration) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let into = Duration::from_millis(u64::try_from(now.as_millis() % 60_000).unwrap());
    if Duration::from_secs(60) - into < margin {
        tokio::time::sleep(Duration::from_secs(60) - into + Duration::from_millis(200)).await;
    }
}

/// Polls `check` every 50 ms until it holds or `limit` passes; true when it held.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_whitelist_block_expiry_and_info_on_the_embedded_store() {
    within(DEADLINE, async {
        let gw = Gateway::start(&config("", "")).await;
        let key = new_key(&gw, json!({"models": ["cheap"], "key_alias": "ci-key", "metadata": {"team": "ci"}})).await;
        assert!(key.starts_with("sk-"), "{key}");

        let ok = chat(&gw, &key, "cheap").await;
        assert_eq!(ok.status().as_u16(), 200);
        assert!((cost_of(&ok) - CALL_COST).abs() < 1e-9, "cost {}", cost_of(&ok));

        let error = expect_openai_error(chat(&gw, &key, "other").await, 403).await;
        assert_eq!(error["type"], "key_model_access_denied", "{error}");

        // A key reads its own info; another key's is refused.
        let own = client().get(gw.url("/key/info")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(own.status().as_u16(), 200);
        let own: Value = own.json().await.unwrap();
        assert_eq!(own["info"]["key_alias"], "ci-key", "{own}");
        let other = new_key(&gw, json!({})).await;
        let peek = client().get(gw.url(&format!("/key/info?key={other}"))).bearer_auth(&key).send().await.unwrap();
        expect_openai_error(peek, 403).await;

        // Block, unblock, delete: each takes effect on the next call.
        admin(&gw, "/key/block", json!({"key": key})).await;
        expect_openai_error(chat(&gw, &key, "cheap").await, 401).await;
        admin(&gw, "/key/unblock", json!({"key": key})).await;
        assert_eq!(chat(&gw, &key, "cheap").await.status().as_u16(), 200);
        admin(&gw, "/key/delete", json!({"keys": [key]})).await;
        expect_openai_error(chat(&gw, &key, "cheap").await, 401).await;

        // A key that expires.
        let brief = new_key(&gw, json!({"duration": "1s"})).await;
        assert_eq!(chat(&gw, &brief, "cheap").await.status().as_u16(), 200);
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let error = expect_openai_error(chat(&gw, &brief, "cheap").await, 401).await;
        assert!(error["message"].as_str().unwrap().contains("Expired"), "{error}");

        // A team's models bound its keys'.
        admin(&gw, "/team/new", json!({"team_id": "t-other", "models": ["other"]})).await;
        let member = new_key(&gw, json!({"team_id": "t-other"})).await;
        assert_eq!(chat(&gw, &member, "other").await.status().as_u16(), 200);
        let error = expect_openai_error(chat(&gw, &member, "cheap").await, 403).await;
        assert_eq!(error["type"], "team_model_access_denied", "{error}");

        // A key lists only the models it may call.
        let listed: Value =
            client().get(gw.url("/v1/models")).bearer_auth(&member).send().await.unwrap().json().await.unwrap();
        let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
        assert_eq!(ids, ["other"], "{listed}");

        // An unknown key is 401.
        expect_openai_error(chat(&gw, "sk-not-a-key", "cheap").await, 401).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_of_zero_blocks_the_first_call_and_windows_reset() {
    within(DEADLINE, async {
        let gw = Gateway::start(&config("", "")).await;
        let broke = new_key(&gw, json!({"max_budget": 0.0})).await;
        expect_budget_exceeded(chat(&gw, &broke, "cheap").await, "key").await;

        // 0.05 per 2-second window: a call (0.03) leaves 0.02, so a second call still goes through (LiteLLM
        // refuses once spend reaches the budget), and a third is refused.
        // (A call's spend is settled just after its answer: a call sent at once may still see it reserved,
        // so one or two calls go through.)
        let key = new_key(&gw, json!({"max_budget": 0.05, "budget_duration": "2s", "key_alias": "ci-key"})).await;
        let mut served = 0;
        let mut refusal = None;
        for _ in 0..4 {
            let resp = chat(&gw, &key, "cheap").await;
            if resp.status().as_u16() == 200 {
                served += 1;
            } else {
                refusal = Some(resp);
                break;
            }
        }
        assert!((1..=2).contains(&served), "{served} calls on a budget of 0.05 at 0.03 a call");
        let error = expect_budget_exceeded(refusal.expect("a refusal"), "key").await;
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with("Budget has been exceeded! Key=ci-key Current cost: ")
                && message.ends_with(", Max budget: 0.05"),
            "{error}"
        );
        let reset =
            eventually(Duration::from_secs(5), || async { chat(&gw, &key, "cheap").await.status().as_u16() == 200 })
                .await;
        assert!(reset, "the budget window did not reset within 5 s");

        // A team budget applies to every key of the team.
        admin(&gw, "/team/new", json!({"team_id": "t-broke", "max_budget": 0})).await;
        let member = new_key(&gw, json!({"team_id": "t-broke"})).await;
        expect_budget_exceeded(chat(&gw, &member, "cheap").await, "team").await;

        // An end-user budget, by the request's `user` field.
        admin(&gw, "/customer/new", json!({"user_id": "end-user-1", "max_budget": 0})).await;
        let free = new_key(&gw, json!({})).await;
        let mut body = chat_body("cheap", "hi");
        body["user"] = json!("end-user-1");
        let resp = client().post(gw.url("/v1/chat/completions")).bearer_auth(&free).json(&body).send().await.unwrap();
        expect_budget_exceeded(resp, "end_user").await;
    })
    .await;
}

/// Redis and PostgreSQL settings lines for a config.
fn shared(redis: &RedisServer, db_url: &str) -> (String, String) {
    let port = redis.url().rsplit(':').next().unwrap().to_owned();
    (
        format!("  database_url: \"{db_url}\"\n"),
        format!("router_settings:\n  redis_host: 127.0.0.1\n  redis_port: {port}\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_redis_and_postgres_never_spend_more_than_the_budget() {
    within(Duration::from_secs(150), async {
        let redis = RedisServer::start();
        let schema = PgSchema::create();
        let (general, router) = shared(&redis, &schema.url());
        let yaml = config(&general, &router);
        let a = Gateway::start(&yaml).await;
        let b = Gateway::start(&yaml).await;
        let budget = 0.3; // ten calls
        let key = new_key(&a, json!({"max_budget": budget})).await;
        // The key reaches b's cache through the database within a second.
        assert!(
            eventually(Duration::from_secs(3), || async { chat(&b, &key, "cheap").await.status().as_u16() == 200 })
                .await,
            "b never accepted a key made on a"
        );
        let spent_before = CALL_COST;

        let mut calls = Vec::new();
        for i in 0..500 {
            let gw_url = if i % 2 == 0 { a.url("/v1/chat/completions") } else { b.url("/v1/chat/completions") };
            let key = key.clone();
            calls.push(tokio::spawn(async move {
                let mut body = chat_body("cheap", "hello");
                body["max_tokens"] = json!(20);
                let resp = client().post(gw_url).bearer_auth(key).json(&body).send().await.expect("call");
                let status = resp.status().as_u16();
                let cost =
                    resp.headers().get("x-litellm-response-cost").map(|v| v.to_str().unwrap().parse::<f64>().unwrap());
                (status, cost)
            }));
        }
        let (mut ok, mut refused, mut charged) = (0usize, 0usize, spent_before);
        for call in calls {
            let (status, cost) = call.await.unwrap();
            match status {
                200 => {
                    ok += 1;
                    charged += cost.expect("a cost on every answer");
                }
                422 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(ok + refused, 500);
        assert!(ok >= 1, "no call went through");
        assert!(charged <= budget + CALL_COST + 1e-9, "charged {charged} over budget {budget} + one call ({ok} calls)");
        // The spend reaches the database, and /key/info, within a few seconds.
        let info_spend = || async {
            let resp = client().get(a.url(&format!("/key/info?key={key}"))).bearer_auth(MASTER_KEY).send().await;
            let v: Value = resp.unwrap().json().await.unwrap();
            v["info"]["spend"].as_f64().unwrap_or(0.0)
        };
        let expected = charged;
        assert!(
            eventually(Duration::from_secs(5), || async { (info_spend().await - expected).abs() < 1e-6 }).await,
            "key spend in the database {} != charged {expected}",
            info_spend().await
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpm_limit_of_ten_holds_exactly_across_two_instances() {
    within(Duration::from_secs(150), async {
        let redis = RedisServer::start();
        let schema = PgSchema::create();
        let (general, router) = shared(&redis, &schema.url());
        let yaml = config(&general, &router);
        let a = Gateway::start(&yaml).await;
        let b = Gateway::start(&yaml).await;
        let key = new_key(&a, json!({"rpm_limit": 10})).await;
        assert!(
            eventually(Duration::from_secs(3), || async {
                let resp = client().get(b.url("/key/info")).bearer_auth(&key).send().await.unwrap();
                resp.status().as_u16() == 200
            })
            .await,
            "b never saw the key"
        );
        away_from_minute_end(Duration::from_secs(15)).await;
        let mut ok = 0;
        let mut last_refusal = None;
        for i in 0..20 {
            let gw = if i % 2 == 0 { &a } else { &b };
            let resp = chat(gw, &key, "cheap").await;
            match resp.status().as_u16() {
                200 => ok += 1,
                429 => last_refusal = Some(resp),
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(ok, 10, "rpm_limit 10 let {ok} calls through across two instances");
        let refusal = last_refusal.expect("a refusal");
        let retry_after: u64 = refusal.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "retry-after {retry_after}");
        assert_eq!(refusal.headers()["x-ratelimit-limit-requests"], "10");
        assert_eq!(refusal.headers()["x-ratelimit-remaining-requests"], "0");
        let error = expect_openai_error(refusal, 429).await;
        assert_eq!(error["type"], "rate_limit_error", "{error}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_keeps_calls_served_and_counters_reconcile() {
    within(Duration::from_secs(120), async {
        let mut redis = RedisServer::start();
        let schema = PgSchema::create();
        let (general, router) = shared(&redis, &schema.url());
        let gw = Gateway::start(&config(&general, &router)).await;
        let key = new_key(&gw, json!({"max_budget": 100.0})).await;
        for _ in 0..5 {
            assert_eq!(chat(&gw, &key, "cheap").await.status().as_u16(), 200);
        }
        redis.kill();
        for i in 0..10 {
            let resp = chat(&gw, &key, "cheap").await;
            assert_eq!(resp.status().as_u16(), 200, "call {i} with Redis down was not served");
        }
        let health = || async {
            let resp = client().get(gw.url("/health")).bearer_auth(MASTER_KEY).send().await.unwrap();
            resp.json::<Value>().await.unwrap()
        };
        let h = health().await;
        assert_eq!(h["tollgate"]["redis"], "down", "{h}");
        let metrics = client().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("tollgate_redis_up 0"), "{metrics}");
        assert!(!metrics.contains("tollgate_limit_local_fallbacks_total 0\n"), "{metrics}");

        redis.restart(); // empty: what the gateway spent while it was down must come back into it
        assert!(
            eventually(Duration::from_secs(10), || async { health().await["tollgate"]["redis"] == "up" }).await,
            "the gateway never saw Redis come back"
        );
        let metrics = client().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("tollgate_redis_up 1"), "{metrics}");
        assert!(!metrics.contains("tollgate_redis_reconciles_total 0\n"), "{metrics}");
        // Served on Redis again; the key's counter, gone with Redis' memory, starts from the database's
        // spend read at that moment: every call before and during the outage.
        assert_eq!(chat(&gw, &key, "cheap").await.status().as_u16(), 200);
        let counters = redis.cli(&["--scan", "--pattern", "tg:b:key:*"]).unwrap_or_default();
        let counter = counters.lines().next().expect("the key's budget counter is back in Redis").trim().to_owned();
        let spent: f64 = redis.cli(&["HGET", &counter, "spent"]).unwrap_or_default().trim().parse().unwrap();
        assert!(spent >= 15.0 * CALL_COST - 1e-9, "the counter restarted below the database's spend: {spent}");
        // One outage, one line each way: the health check does not flap while Redis restarts.
        let log = gw.stderr();
        assert_eq!(log.matches("spend: redis failed").count(), 1, "{log}");
        assert_eq!(log.matches("redis is back").count(), 1, "{log}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_budget_holds_when_redis_loses_its_data_under_load() {
    within(Duration::from_secs(120), async {
        let redis = RedisServer::start();
        let schema = PgSchema::create();
        let (general, router) = shared(&redis, &schema.url());
        let gw = Gateway::start(&config(&general, &router)).await;
        let budget = 40.0 * CALL_COST;
        let key = new_key(&gw, json!({"max_budget": budget})).await;
        let url = gw.url("/v1/chat/completions");
        // Four clients call until refused; Redis loses everything (FLUSHALL) twice along the way.
        let charged = Arc::new(Mutex::new(0.0f64));
        let served = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for _ in 0..4 {
            let (url, key, charged, served) = (url.clone(), key.clone(), charged.clone(), served.clone());
            clients.push(tokio::spawn(async move {
                for _ in 0..200 {
                    let mut body = chat_body("cheap", "hello");
                    body["max_tokens"] = json!(20);
                    let resp = client().post(&url).bearer_auth(&key).json(&body).send().await.expect("call");
                    match resp.status().as_u16() {
                        200 => {
                            *charged.lock().unwrap() += cost_of(&resp);
                            served.fetch_add(1, Ordering::SeqCst);
                        }
                        422 => return,
                        other => panic!("unexpected status {other}"),
                    }
                }
            }));
        }
        for at in [10, 25] {
            assert!(
                eventually(Duration::from_secs(20), || async { served.load(Ordering::SeqCst) >= at }).await,
                "calls stopped before {at}"
            );
            redis.cli(&["FLUSHALL"]).expect("FLUSHALL");
        }
        for c in clients {
            c.await.unwrap();
        }
        let charged = *charged.lock().unwrap();
        assert!(
            charged <= budget + CALL_COST + 1e-9,
            "charged {charged} over budget {budget} + one call after Redis lost its data ({} calls)",
            served.load(Ordering::SeqCst)
        );
        assert!(charged >= budget - 5.0 * CALL_COST, "refused too early: {charged} of {budget}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_cut_off_existing_keys_keep_working() {
    within(Duration::from_secs(90), async {
        let schema = PgSchema::create();
        let relay = TcpRelay::start(common::pg_port());
        let yaml = config(&format!("  database_url: \"{}\"\n", schema.url_via(relay.port())), "");
        let gw = Gateway::start(&yaml).await;
        let key = new_key(&gw, json!({"models": ["cheap"]})).await;
        assert_eq!(chat(&gw, &key, "cheap").await.status().as_u16(), 200);

        relay.cut();
        tokio::time::sleep(Duration::from_millis(1500)).await; // at least one failed poll
        for _ in 0..5 {
            assert_eq!(chat(&gw, &key, "cheap").await.status().as_u16(), 200, "a valid key was refused");
        }
        expect_openai_error(chat(&gw, &key, "other").await, 403).await;
        expect_openai_error(chat(&gw, "sk-unknown", "cheap").await, 401).await;
        let h: Value =
            client().get(gw.url("/health")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
        assert_eq!(h["tollgate"]["database"], "down", "{h}");

        relay.restore();
        assert!(
            eventually(Duration::from_secs(10), || async {
                let h: Value =
                    client().get(gw.url("/health")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
                h["tollgate"]["database"] == "up"
            })
            .await,
            "the database never came back"
        );
        // Spend made while it was away reaches it.
        let six_calls = 6.0 * CALL_COST;
        assert!(
            eventually(Duration::from_secs(10), || async {
                let spend = schema.query("SELECT COALESCE(SUM(spend), 0) FROM tollgate_keys");
                spend.trim().parse::<f64>().is_ok_and(|s| s + 1e-9 >= six_calls)
            })
            .await,
            "the spend made while the database was away did not reach it"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_on_one_instance_takes_effect_on_another_within_a_second() {
    within(DEADLINE, async {
        let schema = PgSchema::create();
        let yaml = config(&format!("  database_url: \"{}\"\n", schema.url()), "");
        let a = Gateway::start(&yaml).await;
        let b = Gateway::start(&yaml).await;
        let key = new_key(&a, json!({})).await;
        assert!(
            eventually(Duration::from_millis(1500), || async {
                chat(&b, &key, "cheap").await.status().as_u16() == 200
            })
            .await
        );
        admin(&a, "/key/update", json!({"key": key, "models": ["other"]})).await;
        let started = Instant::now();
        assert!(
            eventually(Duration::from_millis(1500), || async {
                chat(&b, &key, "cheap").await.status().as_u16() == 403
            })
            .await,
            "b still let the key use a model it lost"
        );
        admin(&a, "/key/delete", json!({"keys": [key]})).await;
        assert!(
            eventually(Duration::from_millis(1500), || async {
                chat(&b, &key, "other").await.status().as_u16() == 401
            })
            .await,
            "b still accepted a deleted key"
        );
        assert!(started.elapsed() < Duration::from_secs(4));
    })
    .await;
}

/// `/key/info`'s spend for `key`, read with the master key.
async fn spend_of(gw: &Gateway, key: &str) -> f64 {
    let resp = client().get(gw.url(&format!("/key/info?key={key}"))).bearer_auth(MASTER_KEY).send().await.unwrap();
    let v: Value = resp.json().await.unwrap();
    v["info"]["spend"].as_f64().unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_always_report_usage_to_the_gateway_and_are_charged_even_when_cut_short() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::SseDrip { events: 4, interval: Duration::from_millis(5) }).await;
        let yaml = format!(
            "model_list:\n  - model_name: live\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {}\n      api_key: {PROVIDER_KEY}\n      input_cost_per_token: 0.001\n      output_cost_per_token: 0.001\ngeneral_settings:\n  master_key: {MASTER_KEY}\n",
            fake.api_base()
        );
        let gw = Gateway::start(&yaml).await;
        let key = new_key(&gw, json!({"max_budget": 100})).await;
        let stream = |usage: bool| {
            let mut body = chat_body("live", "stream please");
            body["stream"] = json!(true);
            if usage {
                body["stream_options"] = json!({"include_usage": true});
            }
            client().post(gw.url("/v1/chat/completions")).bearer_auth(&key).json(&body).send()
        };
        // The client did not ask for usage: the gateway asks for it, counts it, and does not pass it on.
        let text = stream(false).await.unwrap().text().await.unwrap();
        assert!(text.contains("tok3") && text.ends_with("data: [DONE]\n\n"), "{text}");
        assert!(!text.contains("\"usage\":{"), "a usage chunk the client did not ask for: {text}");
        assert_eq!(fake.requests()[0].json()["stream_options"]["include_usage"], json!(true));
        // (7 prompt + 4 completion tokens) at 0.001.
        let one_stream = 0.011;
        assert!(
            eventually(Duration::from_secs(5), || async { (spend_of(&gw, &key).await - one_stream).abs() < 1e-9 }).await,
            "spend {} after one stream",
            spend_of(&gw, &key).await
        );
        // Asked for, it is passed on.
        let text = stream(true).await.unwrap().text().await.unwrap();
        assert!(text.contains("\"choices\":[]") && text.contains("\"prompt_tokens\":7"), "{text}");

        // Cut short by the client after two events: charged for what was produced, not refunded.
        fake.set_reply(Reply::SseDrip { events: 200, interval: Duration::from_millis(50) });
        let mut events = SseEvents::new(stream(false).await.unwrap());
        for _ in 0..2 {
            assert!(events.next_event().await.is_some(), "stream ended early");
        }
        drop(events);
        assert!(fake.wait_for_stream_abort(Duration::from_secs(10)).await, "the provider stream was not cut");
        let before = 2.0 * one_stream;
        assert!(
            eventually(Duration::from_secs(5), || async {
                let spend = spend_of(&gw, &key).await;
                spend > before + 1e-9 && spend < before + 0.207
            })
            .await,
            "a cut stream was not charged for what it produced: spend {}",
            spend_of(&gw, &key).await
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_rpm_holds_across_two_instances_sharing_redis() {
    within(Duration::from_secs(120), async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let redis = RedisServer::start();
        let port = redis.url().rsplit(':').next().unwrap().to_owned();
        let yaml = format!(
            "model_list:\n  - model_name: limited\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {}\n      api_key: {PROVIDER_KEY}\n      rpm: 5\nrouter_settings:\n  num_retries: 0\n  redis_host: 127.0.0.1\n  redis_port: {port}\ngeneral_settings:\n  master_key: {MASTER_KEY}\n",
            fake.api_base()
        );
        let a = Gateway::start(&yaml).await;
        let b = Gateway::start(&yaml).await;
        away_from_minute_end(Duration::from_secs(15)).await;
        let mut ok = 0;
        for i in 0..12 {
            let gw = if i % 2 == 0 { &a } else { &b };
            let resp = chat(gw, MASTER_KEY, "limited").await;
            match resp.status().as_u16() {
                200 => ok += 1,
                429 => {
                    let error = expect_openai_error(resp, 429).await;
                    assert_eq!(error["type"], "rate_limit_error", "{error}");
                }
                other => panic!("unexpected status {other}"),
            }
        }
        // Each instance alone would let 5 through (10 in all); shared, the deployment takes 5.
        assert_eq!(ok, 5, "rpm 5 on the deployment let {ok} calls through two instances");
        assert_eq!(fake.hits(), 5);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_on_one_instance_works_on_the_other_in_the_next_request() {
    within(DEADLINE, async {
        let schema = PgSchema::create();
        let yaml = config(&format!("  database_url: \"{}\"\n", schema.url()), "");
        let a = Gateway::start(&yaml).await;
        let b = Gateway::start(&yaml).await;
        // Random keys first: a short negative memory, and a bounded rate of database lookups.
        let http = client();
        for i in 0..200 {
            let resp = chat(&b, &format!("sk-random-{i}"), "cheap").await;
            assert_eq!(resp.status().as_u16(), 401);
        }
        let metrics = http.get(b.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let lookups: u64 = metrics
            .lines()
            .find(|l| l.starts_with("tollgate_key_miss_lookups_total{result=\"database\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("the miss lookup counter");
        assert!(lookups <= 60, "{lookups} database lookups for 200 random keys");
        // The flood spent the lookup rate: it refills within a second (one lookup per 50 ms).
        tokio::time::sleep(Duration::from_millis(1100)).await;

        // A key made on a is used on b at once, before b's next poll.
        for _ in 0..5 {
            let key = new_key(&a, json!({"models": ["cheap"]})).await;
            let resp = chat(&b, &key, "cheap").await;
            assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text().await);
            // Its limits hold there too: another model is refused.
            expect_openai_error(chat(&b, &key, "other").await, 403).await;
        }
        // A key deleted on a is refused on b within the poll interval.
        let key = new_key(&a, json!({})).await;
        assert_eq!(chat(&b, &key, "cheap").await.status().as_u16(), 200);
        admin(&a, "/key/delete", json!({"keys": [key.clone()]})).await;
        assert!(
            eventually(Duration::from_secs(3), || async { chat(&b, &key, "cheap").await.status().as_u16() == 401 })
                .await,
            "a deleted key kept working on the other instance"
        );
    })
    .await;
}
