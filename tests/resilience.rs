//! What a client notices when providers fail and operators act: retries on another deployment,
//! fallback groups (ordinary, context-window), cooldowns that take a failing deployment out of
//! rotation and bring it back, timeouts and stream timeouts, a final 429 that keeps its
//! Retry-After, config reloads on SIGHUP (under load, and refused when the file is bad), and a
//! SIGTERM that lets streams in flight finish.
//!
//! Every test runs the gateway binary on a free port of 127.0.0.1 in front of fake providers that
//! count their hits; every wait is bounded.
//!
//! Run: `cargo test --test resilience` (builds the `tollgate` binary first).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    chat_body, client, config_with, expect_openai_error, within, FakeProvider, Gateway, Reply, SseEvents, MASTER_KEY,
    PROVIDER_KEY,
};
use serde_json::{json, Value};

/// Deadline of one ordinary test.
const DEADLINE: Duration = Duration::from_secs(45);

/// A `model_list` entry of group `group` on `fake`, calling provider model `provider_model`, with
/// extra `litellm_params` (`("timeout", "1")`, ...).
fn deployment(group: &str, provider_model: &str, fake: &FakeProvider, params: &[(&str, &str)]) -> String {
    let mut entry = format!(
        "  - model_name: {group}\n    litellm_params:\n      model: openai/{provider_model}\n      api_base: {base}\n      api_key: {PROVIDER_KEY}\n",
        base = fake.api_base()
    );
    for (key, value) in params {
        entry.push_str(&format!("      {key}: {value}\n"));
    }
    entry
}

/// A `model_list` entry of group `group` answering `text` from `mock_response`, no provider.
fn mock_deployment(group: &str, text: &str) -> String {
    format!("  - model_name: {group}\n    litellm_params:\n      model: openai/gpt-4o-mini\n      mock_response: \"{text}\"\n")
}

/// A whole config: `entries` under the test master key, plus `router_settings` lines (each
/// indented by two spaces).
fn config(entries: &str, router_settings: &str) -> String {
    format!("{}router_settings:\n{router_settings}", config_with(entries))
}

/// POST a chat completion with the master key.
async fn post_chat(gw: &Gateway, body: &Value) -> reqwest::Response {
    client().post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(body).send().await.expect("request")
}

/// A streamed chat request for `model`.
fn stream_body(model: &str, text: &str) -> Value {
    let mut body = chat_body(model, text);
    body["stream"] = json!(true);
    body
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

/// A response header as text ("" when absent).
fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// `value` with `model` replaced, to compare what a provider got with what the client sent.
fn with_model(mut value: Value, model: &str) -> Value {
    value["model"] = json!(model);
    value
}

/// An OpenAI-shaped provider error body.
fn provider_error(message: &str, kind: &str, code: Value) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// A 503 as OpenAI sends it when overloaded.
fn overloaded() -> Reply {
    Reply::Status(503, provider_error("The server is overloaded or not ready yet.", "server_error", Value::Null))
}

/// Whether `/health` lists the deployment on `fake` as cooling down.
async fn cooling_down(gw: &Gateway, fake: &FakeProvider) -> bool {
    let resp = client().get(gw.url("/health")).bearer_auth(MASTER_KEY).send().await.expect("/health");
    let health = json_with_status(resp, 200).await;
    let unhealthy = health["unhealthy_endpoints"].as_array().cloned().unwrap_or_default();
    unhealthy.iter().any(|d| {
        d["api_base"] == json!(fake.api_base()) && d["error"].as_str().is_some_and(|e| e.starts_with("cooling down"))
    })
}

// ---------------------------------------------------------------- retries and fallbacks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_hides_upstream_503() {
    within(DEADLINE, async {
        let down = FakeProvider::start(overloaded()).await;
        let up = FakeProvider::start(Reply::Echo).await;
        let entries =
            [deployment("a", "model-a", &down, &[("num_retries", "0")]), deployment("b", "model-b", &up, &[])].concat();
        let gw = Gateway::start(&config(&entries, "  fallbacks: [{a: [b]}]\n")).await;

        let resp = post_chat(&gw, &chat_body("a", "hello")).await;
        assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
        assert_eq!(header(&resp, "x-litellm-model-group"), "b");
        let answer = json_with_status(resp, 200).await;
        assert_eq!(chat_text(&answer), "echo: hello");
        assert_eq!(down.hits(), 1, "num_retries: 0 means one call to a");
        assert_eq!(up.only_request().json()["model"], "model-b", "the fallback calls b's own provider model");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_lands_on_the_other_deployment() {
    within(DEADLINE, async {
        let broken = FakeProvider::start(Reply::Status(500, provider_error("boom", "server_error", Value::Null))).await;
        let healthy = FakeProvider::start(Reply::Echo).await;
        let entries =
            [deployment("pair", "gpt-4o-mini", &broken, &[]), deployment("pair", "gpt-4o-mini", &healthy, &[])]
                .concat();
        let gw = Gateway::start(&config(&entries, "  allowed_fails: 1\n  cooldown_time: 30\n")).await;

        let mut retries_seen = 0usize;
        for i in 0..20 {
            let resp = post_chat(&gw, &chat_body("pair", &format!("call {i}"))).await;
            retries_seen += header(&resp, "x-litellm-attempted-retries").parse::<usize>().expect("retries header");
            assert_eq!(header(&resp, "x-litellm-model-group"), "pair");
            let answer = json_with_status(resp, 200).await;
            assert_eq!(chat_text(&answer), format!("echo: call {i}"));
        }
        assert_eq!(healthy.hits(), 20, "every call was answered by the healthy deployment");
        // Random picks: the broken one is chosen first half the time until its cooldown.
        let broken_hits = broken.hits();
        assert!(broken_hits >= 1, "the shuffle never tried the broken deployment in 20 calls");
        assert!(
            broken_hits <= 2,
            "allowed_fails: 1 cools the broken deployment down at its 2nd failure, yet it got {broken_hits} calls"
        );
        assert_eq!(retries_seen, broken_hits, "each failed call shows one retry in x-litellm-attempted-retries");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooled_down_deployment_gets_no_traffic_then_returns() {
    within(DEADLINE, async {
        const COOLDOWN: Duration = Duration::from_secs(2);
        let flaky = FakeProvider::start(overloaded()).await;
        let steady = FakeProvider::start(Reply::Echo).await;
        let entries =
            [deployment("pair", "gpt-4o-mini", &flaky, &[]), deployment("pair", "gpt-4o-mini", &steady, &[])].concat();
        let gw = Gateway::start(&config(&entries, "  allowed_fails: 1\n  cooldown_time: 2\n")).await;

        // Until the flaky deployment has failed twice (random picks) and cooled down.
        let mut cooled = false;
        for i in 0..60 {
            let resp = post_chat(&gw, &chat_body("pair", &format!("warm {i}"))).await;
            json_with_status(resp, 200).await;
            if cooling_down(&gw, &flaky).await {
                cooled = true;
                break;
            }
        }
        let cooled_at = Instant::now();
        assert!(cooled, "the flaky deployment never cooled down ({} hits)", flaky.hits());
        let hits_at_cooldown = flaky.hits();

        // Calls inside the cooldown window never reach it.
        let mut in_window = 0;
        for i in 0..20 {
            if cooled_at.elapsed() > COOLDOWN.mul_f64(0.6) {
                break;
            }
            let answer = json_with_status(post_chat(&gw, &chat_body("pair", &format!("cool {i}"))).await, 200).await;
            assert_eq!(chat_text(&answer), format!("echo: cool {i}"));
            in_window += 1;
        }
        assert!(in_window >= 5, "only {in_window} calls fit in the cooldown window");
        assert_eq!(flaky.hits(), hits_at_cooldown, "a cooling deployment got traffic");

        // Healthy again: after the cooldown it gets its share back.
        flaky.set_reply(Reply::Echo);
        let mut back_at = None;
        for i in 0..200 {
            let answer = json_with_status(post_chat(&gw, &chat_body("pair", &format!("back {i}"))).await, 200).await;
            assert_eq!(chat_text(&answer), format!("echo: back {i}"));
            if flaky.hits() > hits_at_cooldown {
                back_at = Some(cooled_at.elapsed());
                break;
            }
            if cooled_at.elapsed() > COOLDOWN * 4 {
                break;
            }
            // Spaces the calls over the cooldown: a bounded poll, not a wait for an event.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let Some(back_at) = back_at else {
            panic!("the recovered deployment got no traffic within {:?} of its cooldown", COOLDOWN * 4);
        };
        assert!(
            back_at >= COOLDOWN.mul_f64(0.75),
            "the deployment got traffic {back_at:?} into a {COOLDOWN:?} cooldown"
        );
        assert!(!cooling_down(&gw, &flaky).await, "/health still shows the recovered deployment cooling down");
        eprintln!("{in_window} calls in the cooldown window; traffic back {back_at:?} into a {COOLDOWN:?} cooldown");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_cooling_deployment_is_still_tried() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::FirstThen {
            count: 1,
            first: Box::new(overloaded()),
            then: Box::new(Reply::Echo),
        })
        .await;
        let entries = deployment("solo", "gpt-4o-mini", &fake, &[("num_retries", "0")]);
        let gw = Gateway::start(&config(&entries, "  allowed_fails: 0\n  cooldown_time: 30\n")).await;

        expect_openai_error(post_chat(&gw, &chat_body("solo", "first")).await, 503).await;
        assert!(cooling_down(&gw, &fake).await, "one failure with allowed_fails: 0 should cool the deployment down");

        let answer = json_with_status(post_chat(&gw, &chat_body("solo", "second")).await, 200).await;
        assert_eq!(chat_text(&answer), "echo: second");
        assert_eq!(fake.hits(), 2, "the only deployment, cooling down, still got the second call");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_deployment_falls_back_within_the_timeout() {
    within(DEADLINE, async {
        let slow = FakeProvider::start(Reply::Delay(Duration::from_secs(5), Box::new(Reply::Echo))).await;
        let fast = FakeProvider::start(Reply::Echo).await;
        let entries = [
            deployment("a", "model-a", &slow, &[("timeout", "1"), ("num_retries", "0")]),
            deployment("b", "model-b", &fast, &[]),
        ]
        .concat();
        let gw = Gateway::start(&config(&entries, "  fallbacks: [{a: [b]}]\n")).await;

        let started = Instant::now();
        let resp = post_chat(&gw, &chat_body("a", "in time")).await;
        let elapsed = started.elapsed();
        assert_eq!(header(&resp, "x-litellm-model-group"), "b");
        assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
        let answer = json_with_status(resp, 200).await;
        assert_eq!(chat_text(&answer), "echo: in time");
        assert!(elapsed < Duration::from_millis(2500), "the fallback answered after {elapsed:?} (timeout: 1)");
        assert_eq!((slow.hits(), fast.hits()), (1, 1));
    })
    .await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_body_survives_retry_and_fallback() {
    within(DEADLINE, async {
        let down = FakeProvider::start(overloaded()).await;
        let up = FakeProvider::start(Reply::Echo).await;
        let entries = [
            deployment("a", "model-a", &down, &[("num_retries", "0")]),
            deployment("b", "model-b", &up, &[]),
        ]
        .concat();
        let gw = Gateway::start(&config(&entries, "  fallbacks: [{a: [b]}]\n")).await;
        let payload_len = 5 * 1024 * 1024;
        let sent = json!({
            "model": "a",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is in this image?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", base64_payload(payload_len)), "detail": "high"}}
            ]}],
            "max_tokens": 300
        });

        let resp = post_chat(&gw, &sent).await;
        assert_eq!(header(&resp, "x-litellm-model-group"), "b");
        let answer = json_with_status(resp, 200).await;
        assert_eq!(chat_text(&answer), "echo: what is in this image?");
        let first = down.only_request();
        assert!(first.body.len() >= payload_len, "a's provider got {} bytes", first.body.len());
        assert!(first.json() == with_model(sent.clone(), "model-a"), "a's provider got a different body");
        let last = up.only_request();
        assert!(last.body.len() >= payload_len, "b's provider got {} bytes", last.body.len());
        assert!(last.json() == with_model(sent, "model-b"), "b's provider got a different body");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_window_error_goes_to_context_window_fallbacks() {
    within(DEADLINE, async {
        let too_long = json!({"error": {
            "message": "This model's maximum context length is 8192 tokens",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded"
        }});
        let small = FakeProvider::start(Reply::Status(400, too_long)).await;
        let big = FakeProvider::start(Reply::Echo).await;
        let spare = FakeProvider::start(Reply::Echo).await;
        let entries = [
            deployment("a", "small-model", &small, &[]),
            deployment("big", "big-model", &big, &[]),
            deployment("spare", "spare-model", &spare, &[]),
        ]
        .concat();
        let router = "  context_window_fallbacks: [{a: [big]}]\n  fallbacks: [{a: [spare]}]\n";
        let gw = Gateway::start(&config(&entries, router)).await;

        let resp = post_chat(&gw, &chat_body("a", "a very long prompt")).await;
        assert_eq!(header(&resp, "x-litellm-model-group"), "big");
        assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
        let answer = json_with_status(resp, 200).await;
        assert_eq!(chat_text(&answer), "echo: a very long prompt");
        assert_eq!(small.hits(), 1, "a context-window error is not retried on the same group");
        assert_eq!(big.only_request().json()["model"], "big-model");
        assert_eq!(spare.hits(), 0, "a context-window error went to the ordinary fallbacks");

        let bad_param = json!({"error": {
            "message": "Invalid value for 'temperature': must be at most 2.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": null
        }});
        small.set_reply(Reply::Status(400, bad_param));
        let error = expect_openai_error(post_chat(&gw, &chat_body("a", "temperature 9")).await, 400).await;
        assert_eq!(error["param"], "temperature", "the provider's error reaches the client: {error}");
        assert_eq!(small.hits(), 2, "a plain 400 is not retried");
        assert_eq!((big.hits(), spare.hits()), (1, 0), "a plain 400 went to a fallback");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_deployment_429_is_retried_elsewhere_and_final_429_keeps_retry_after() {
    within(DEADLINE, async {
        let rate_limited =
            || Reply::Status(429, provider_error("Rate limit reached", "requests", json!("rate_limit_exceeded")));
        let limited = FakeProvider::start(rate_limited()).await;
        let open = FakeProvider::start(Reply::Echo).await;
        let lone = FakeProvider::start(Reply::WithHeader("retry-after", "1".into(), Box::new(rate_limited()))).await;
        let entries = [
            deployment("pair", "gpt-4o-mini", &limited, &[]),
            deployment("pair", "gpt-4o-mini", &open, &[]),
            deployment("solo", "gpt-4o-mini", &lone, &[("num_retries", "0")]),
        ]
        .concat();
        let gw = Gateway::start(&config(&entries, "")).await;

        // Until the shuffle has picked the rate-limited deployment once; every call succeeds.
        for i in 0..40 {
            let answer = json_with_status(post_chat(&gw, &chat_body("pair", &format!("call {i}"))).await, 200).await;
            assert_eq!(chat_text(&answer), format!("echo: call {i}"));
            if limited.hits() > 0 {
                break;
            }
        }
        assert_eq!(limited.hits(), 1, "the 429 deployment was never tried, or tried again during its cooldown");

        let resp = post_chat(&gw, &chat_body("solo", "no luck")).await;
        assert_eq!(header(&resp, "retry-after"), "1", "the provider's Retry-After is passed on");
        let error = expect_openai_error(resp, 429).await;
        assert_eq!(error["code"], "rate_limit_exceeded", "{error}");
        assert_eq!(lone.hits(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_timeout_moves_on_before_the_first_chunk() {
    within(DEADLINE, async {
        const EVENTS: usize = 4;
        let drip = || Reply::SseDrip { events: EVENTS, interval: Duration::from_millis(20) };
        let stalled = FakeProvider::start(Reply::Delay(Duration::from_secs(3), Box::new(drip()))).await;
        let flowing = FakeProvider::start(drip()).await;
        let entries = [
            deployment("a", "model-a", &stalled, &[("stream_timeout", "0.5"), ("num_retries", "0")]),
            deployment("b", "model-b", &flowing, &[]),
        ]
        .concat();
        let gw = Gateway::start(&config(&entries, "  fallbacks: [{a: [b]}]\n")).await;

        let started = Instant::now();
        let resp = post_chat(&gw, &stream_body("a", "stream")).await;
        assert_eq!(resp.status().as_u16(), 200);
        assert!(header(&resp, "content-type").starts_with("text/event-stream"));
        assert_eq!(header(&resp, "x-litellm-model-group"), "b");
        assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
        let (events, error) = SseEvents::new(resp).collect().await;
        let elapsed = started.elapsed();
        assert_eq!(error, None, "stream failed");
        let texts: Vec<String> = events
            .iter()
            .filter_map(|e| e.json())
            .map(|v| v["choices"][0]["delta"]["content"].as_str().unwrap_or_default().to_string())
            .collect();
        let expected: Vec<String> = (0..EVENTS).map(|i| format!("tok{i} ")).collect();
        assert_eq!(texts, expected);
        assert_eq!(events.last().map(|e| e.data.trim()), Some("[DONE]"));
        assert!(elapsed < Duration::from_millis(2500), "the stream from b ended {elapsed:?} after the call");
        assert_eq!((stalled.hits(), flowing.hits()), (1, 1));
    })
    .await;
}

// ---------------------------------------------------------------- reload and stop

/// The text of a 200 chat answer, or why it was not one.
async fn answer_text(http: &reqwest::Client, url: &str, body: &Value) -> Result<String, String> {
    let resp = http.post(url).bearer_auth(MASTER_KEY).json(body).send().await.map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| format!("body: {e}"))?;
    if status != 200 {
        return Err(format!("{status}: {text}"));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
    v["choices"][0]["message"]["content"].as_str().map(str::to_string).ok_or_else(|| format!("no content: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_under_load_drops_nothing() {
    within(Duration::from_secs(50), async {
        const CLIENTS: usize = 8;
        const MAX_REQUESTS: usize = 5_000;
        const LOAD_LIMIT: Duration = Duration::from_secs(10);
        const RELOADS: usize = 100;
        const BAD_RELOAD: usize = 49;
        let fake = FakeProvider::start(Reply::Echo).await;
        // Two valid configs that both serve `m`: one through a provider, one from mock_response.
        let through_provider = config(&deployment("m", "gpt-4o-mini", &fake, &[]), "  num_retries: 0\n");
        let mocked = config(&mock_deployment("m", "mocked"), "  num_retries: 0\n");
        let bad = config(&mock_deployment("m", "mocked"), "  routing_strategy: round-robin\n");
        let gw = Gateway::start(&through_provider).await;

        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::new(Mutex::new((0usize, 0usize))); // (through the provider, mocked)
        let load_started = Instant::now();
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (stop, sent, failures, seen) = (stop.clone(), sent.clone(), failures.clone(), seen.clone());
            let url = gw.url("/v1/chat/completions");
            clients.push(tokio::spawn(async move {
                let http = client();
                let body = chat_body("m", "load");
                while !stop.load(Ordering::SeqCst) && load_started.elapsed() < LOAD_LIMIT {
                    if sent.fetch_add(1, Ordering::SeqCst) >= MAX_REQUESTS {
                        break;
                    }
                    match answer_text(&http, &url, &body).await.as_deref() {
                        Ok("echo: load") => seen.lock().unwrap().0 += 1,
                        Ok("mocked") => seen.lock().unwrap().1 += 1,
                        Ok(other) => failures.lock().unwrap().push(format!("client {c}: unexpected answer {other}")),
                        Err(why) => failures.lock().unwrap().push(format!("client {c}: {why}")),
                    }
                    // Paces each client so the load spans every reload without hitting its cap early.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }));
        }

        let probe = client();
        let probe_url = gw.url("/v1/chat/completions");
        for i in 0..RELOADS {
            let yaml = match i {
                BAD_RELOAD => &bad,
                i if i % 2 == 0 => &mocked,
                _ => &through_provider,
            };
            gw.rewrite_config(yaml);
            gw.signal("HUP");
            if i == BAD_RELOAD {
                assert!(
                    gw.stderr_contains_within("reload refused", Duration::from_secs(5)).await,
                    "no refusal logged for the bad file"
                );
                let after_bad = answer_text(&probe, &probe_url, &chat_body("m", "load")).await;
                assert!(after_bad.is_ok(), "the model stopped serving after a bad reload: {after_bad:?}");
            }
            // Pause between reloads, so requests land on every config.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The last file (through the provider) ends up serving.
        let mut last = Err(String::from("not asked"));
        for _ in 0..100 {
            last = answer_text(&probe, &probe_url, &chat_body("m", "load")).await;
            if last.as_deref() == Ok("echo: load") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(last.as_deref(), Ok("echo: load"), "the last reload never took effect");
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.await.expect("load client");
        }

        let failures = failures.lock().unwrap().clone();
        let (through, mocked_seen) = *seen.lock().unwrap();
        eprintln!(
            "{} requests in {:?}: {through} through the provider, {mocked_seen} mocked, {} failed",
            through + mocked_seen + failures.len(),
            load_started.elapsed(),
            failures.len()
        );
        assert!(
            failures.is_empty(),
            "{} requests failed during reloads, first: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert!(through > 0 && mocked_seen > 0, "the load never saw both configs: {through} / {mocked_seen}");
        let stderr = gw.stderr();
        let refusals = stderr.matches("reload refused").count();
        assert_eq!(refusals, 1, "expected one refused reload, stderr says {refusals}");
        assert!(
            stderr.contains("router_settings.routing_strategy"),
            "the refusal does not name the key path router_settings.routing_strategy"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reload_keeps_the_old_config() {
    within(DEADLINE, async {
        let gw = Gateway::start(&config_with(&mock_deployment("x", "from x"))).await;
        let http = client();
        let url = gw.url("/v1/chat/completions");
        assert_eq!(answer_text(&http, &url, &chat_body("x", "hi")).await.as_deref(), Ok("from x"));

        // y's model is a number, not "provider/model".
        let broken_y = "  - model_name: y\n    litellm_params:\n      model: 42\n      mock_response: \"from y\"\n";
        gw.rewrite_config(&config_with(&[mock_deployment("x", "from x"), broken_y.to_string()].concat()));
        gw.signal("HUP");
        assert!(
            gw.stderr_contains_within("reload refused", Duration::from_secs(5)).await,
            "no refusal logged for the bad file"
        );
        assert!(
            gw.stderr().contains("model_list[1].litellm_params.model"),
            "the refusal does not name the key path model_list[1].litellm_params.model"
        );
        assert_eq!(answer_text(&http, &url, &chat_body("x", "hi")).await.as_deref(), Ok("from x"));
        expect_openai_error(post_chat(&gw, &chat_body("y", "hi")).await, 400).await;

        gw.rewrite_config(&config_with(&[mock_deployment("x", "from x"), mock_deployment("y", "from y")].concat()));
        gw.signal("HUP");
        let mut y = Err(String::from("not asked"));
        for _ in 0..100 {
            y = answer_text(&http, &url, &chat_body("y", "hi")).await;
            if y.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(y.as_deref(), Ok("from y"), "the valid reload adding y never took effect");
        assert_eq!(answer_text(&http, &url, &chat_body("x", "hi")).await.as_deref(), Ok("from x"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_streams_in_flight_finish() {
    within(DEADLINE, async {
        const EVENTS: usize = 10;
        let fake = FakeProvider::start(Reply::SseDrip { events: EVENTS, interval: Duration::from_millis(200) }).await;
        let mut gw = Gateway::start(&config_with(&deployment("m", "gpt-4o-mini", &fake, &[]))).await;

        let resp = post_chat(&gw, &stream_body("m", "slowly")).await;
        assert_eq!(resp.status().as_u16(), 200);
        let mut events = SseEvents::new(resp);
        let first = events.next_event().await.expect("the first event");
        gw.signal("TERM");
        let reader = tokio::spawn(async move {
            let (rest, error) = events.collect().await;
            (rest, error, Instant::now())
        });

        // New connections stop being accepted soon after the signal.
        let liveliness = gw.url("/health/liveliness");
        let mut refused_after = None;
        let term_at = Instant::now();
        for _ in 0..40 {
            let fresh = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_millis(500))
                .build()
                .expect("client");
            if fresh.get(&liveliness).send().await.is_err() {
                refused_after = Some(term_at.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let Some(refused_after) = refused_after else {
            panic!("the gateway still accepted new connections {:?} after SIGTERM", term_at.elapsed());
        };
        assert!(refused_after < Duration::from_secs(1), "new connections were accepted for {refused_after:?}");

        let (rest, error, ended_at) = reader.await.expect("stream reader");
        assert_eq!(error, None, "the stream in flight broke after SIGTERM");
        let texts: Vec<String> = std::iter::once(&first)
            .chain(rest.iter())
            .filter_map(|e| e.json())
            .map(|v| v["choices"][0]["delta"]["content"].as_str().unwrap_or_default().to_string())
            .collect();
        let expected: Vec<String> = (0..EVENTS).map(|i| format!("tok{i} ")).collect();
        assert_eq!(texts, expected, "every event reaches the client");
        assert_eq!(rest.last().map(|e| e.data.trim()), Some("[DONE]"));

        let Some((status, exited_at)) = gw.exit_within(Duration::from_secs(5)).await else {
            panic!("the gateway was still running 5 s after its last stream ended");
        };
        assert!(status.success(), "exit status after SIGTERM: {status}");
        let after_stream = exited_at.saturating_duration_since(ended_at);
        assert!(after_stream < Duration::from_secs(1), "the gateway exited {after_stream:?} after the stream ended");
        eprintln!(
            "new connections refused {refused_after:?} after SIGTERM; exit {after_stream:?} after the stream ended"
        );
    })
    .await;
}
