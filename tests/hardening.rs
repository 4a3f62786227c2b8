//! What an attacker, a broken provider and a careless operator can do to the gateway, and what it must
//! do instead: a reload that would open the gateway is refused, a provider's garbage is its failure (502,
//! retried elsewhere, cooled down, logged), malformed requests get OpenAI-shaped refusals, idle and
//! trickling connections are closed on time, and the state directory is private.
//!
//! Every test runs the gateway binary on a free port of 127.0.0.1 in front of fake providers; every wait
//! is bounded.
//!
//! Run: `cargo test --test hardening`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::time::Duration;

use common::{
    chat_body, client, config_with, expect_openai_error, openai_deployment, within, FakeProvider, Gateway, Reply,
    SseEvents, MASTER_KEY,
};
use serde_json::{json, Value};

/// Deadline of one test.
const DEADLINE: Duration = Duration::from_secs(60);

/// A `model_list` entry of group `group` answering `text` from `mock_response`, no provider.
fn mock_deployment(group: &str, text: &str) -> String {
    format!("  - model_name: {group}\n    litellm_params:\n      model: openai/gpt-4o-mini\n      mock_response: \"{text}\"\n")
}

/// The text of a chat answer from `model` with the master key, or the status and body.
async fn ask(gw: &Gateway, model: &str) -> Result<String, String> {
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&chat_body(model, "hi"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    match body["choices"][0]["message"]["content"].as_str() {
        Some(text) if status == 200 => Ok(text.to_string()),
        _ => Err(format!("{status} {body}")),
    }
}

/// Rewrites the config, sends SIGHUP and waits until the reload's verdict is logged; true if refused.
async fn reload(gw: &Gateway, yaml: &str) -> bool {
    let count = |log: &str| (log.matches("reload refused").count(), log.matches(" applied").count());
    let before = count(&gw.stderr());
    gw.rewrite_config(yaml);
    gw.signal("HUP");
    for _ in 0..200 {
        let now = count(&gw.stderr());
        if now.0 > before.0 {
            return true;
        }
        if now.1 > before.1 {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the reload was neither refused nor applied within 5 s:\n{}", gw.stderr());
}

/// `POST /key/generate` without any key: the status.
async fn mint_without_key(gw: &Gateway) -> u16 {
    let resp = client().post(gw.url("/key/generate")).json(&json!({})).send().await.expect("key/generate");
    resp.status().as_u16()
}

// ---------------------------------------------------------------- 1. a reload never opens the gateway

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_that_would_open_the_gateway_are_refused_and_the_old_config_serves() {
    within(DEADLINE, async {
        let good = config_with(&mock_deployment("x", "from x"));
        let gw = Gateway::start(&good).await;
        assert_eq!(ask(&gw, "x").await.as_deref(), Ok("from x"));
        assert_eq!(mint_without_key(&gw).await, 401);

        let no_master_key = format!("model_list:\n{}", mock_deployment("x", "open x"));
        let no_groups = format!("model_list: []\ngeneral_settings:\n  master_key: {MASTER_KEY}\n");
        for (what, yaml) in [("an empty file", ""), ("no master_key", &no_master_key), ("no model group", &no_groups)] {
            assert!(reload(&gw, yaml).await, "the reload of {what} was applied");
            assert_eq!(ask(&gw, "x").await.as_deref(), Ok("from x"), "after the reload of {what}");
            assert_eq!(mint_without_key(&gw).await, 401, "a key could be minted without the master key after {what}");
        }
        let log = gw.stderr();
        assert!(log.contains("general_settings.master_key: the new file has none"), "{log}");
        assert!(log.contains("model_list: required"), "{log}");

        // Said explicitly, an open gateway is what the operator wants: applied, warned about, and shown.
        let open = format!("{no_master_key}general_settings:\n  open_gateway: true\n");
        assert!(!reload(&gw, &open).await, "the explicit open_gateway reload was refused:\n{}", gw.stderr());
        assert_eq!(ask(&gw, "x").await.as_deref(), Ok("open x"));
        assert!(gw.stderr().contains("(open_gateway: true): the gateway is OPEN"), "{}", gw.stderr());
        let ready: Value =
            client().get(gw.url("/health/readiness")).send().await.expect("readiness").json().await.expect("json");
        assert_eq!(ready["open_gateway"], json!(true), "{ready}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_gateway_says_so_at_start_and_in_health() {
    within(DEADLINE, async {
        let gw = Gateway::start(&format!("model_list:\n{}", mock_deployment("x", "hi"))).await;
        assert!(gw.stderr().contains("the gateway is OPEN"), "{}", gw.stderr());
        let health: Value = client().get(gw.url("/health")).send().await.expect("health").json().await.expect("json");
        assert_eq!(health["open_gateway"], json!(true), "{health}");
    })
    .await;
}

// ---------------------------------------------------------------- 3. a provider's garbage is its failure

/// A group `g` of two deployments, the first on `bad`, the second on `good`; cooldown after one failure.
fn pair(bad: &FakeProvider, good: &FakeProvider) -> String {
    format!(
        "{}router_settings:\n  allowed_fails: 0\n  cooldown_time: 30\n",
        config_with(&[openai_deployment("g", "bad-model", bad), openai_deployment("g", "good-model", good)].concat())
    )
}

/// Whether `/health` lists the deployment on `fake` as cooling down.
async fn cooling_down(gw: &Gateway, fake: &FakeProvider) -> bool {
    let health: Value = client()
        .get(gw.url("/health"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .expect("/health")
        .json()
        .await
        .expect("json");
    let unhealthy = health["unhealthy_endpoints"].as_array().cloned().unwrap_or_default();
    unhealthy.iter().any(|d| d["api_base"] == json!(fake.api_base()))
}

/// Sends `body` until the bad fake was hit once; every answer must be the good fake's.
async fn served_by_the_good_one(gw: &Gateway, bad: &FakeProvider, body: &Value) {
    for _ in 0..20 {
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .json(body)
            .send()
            .await
            .expect("chat");
        assert_eq!(resp.status().as_u16(), 200, "the client saw the bad provider: {:?}", resp.text().await);
        if body["stream"] == json!(true) {
            let (events, _) = SseEvents::new(resp).collect().await;
            assert!(events.iter().any(|e| e.data == "[DONE]"), "stream not whole: {events:?}");
            assert!(events.iter().all(|e| !e.data.contains("bad-model")), "{events:?}");
        } else {
            let v: Value = resp.json().await.expect("json");
            assert_eq!(v["choices"][0]["message"]["content"], json!("echo: hi"), "{v}");
        }
        if bad.hits() > 0 {
            return;
        }
    }
    panic!("the bad deployment was never tried in 20 calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_that_is_not_json_is_retried_on_the_other_deployment_and_cools_it_down() {
    within(DEADLINE, async {
        let bad = FakeProvider::start(Reply::Raw { status: 200, content_type: "text/plain", body: "OK" }).await;
        let good = FakeProvider::start(Reply::Echo).await;
        let gw = Gateway::start(&pair(&bad, &good)).await;
        served_by_the_good_one(&gw, &bad, &chat_body("g", "hi")).await;
        assert!(cooling_down(&gw, &bad).await, "the deployment answering garbage is not cooling down");
        assert!(
            gw.stderr_contains_within("provider failures (1)", Duration::from_secs(5)).await,
            "no warn line for the provider failure:\n{}",
            gw.stderr()
        );
        let log = gw.stderr();
        let line = log.lines().find(|l| l.contains("provider failures")).unwrap_or_default();
        assert!(line.contains("WARN") && line.contains("call_id=") && line.contains("not a JSON object"), "{line}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_cut_streams_are_retried_before_the_client_sees_a_byte() {
    within(DEADLINE, async {
        let good = FakeProvider::start(Reply::SseDrip { events: 3, interval: Duration::ZERO }).await;
        let mut stream = chat_body("g", "hi");
        stream["stream"] = json!(true);
        let cases = [
            Reply::Raw { status: 200, content_type: "text/plain", body: "OK" },
            Reply::Raw { status: 200, content_type: "application/json", body: "{\"id\":\"x\"}" },
            Reply::Raw { status: 200, content_type: "text/event-stream", body: "data: <html>oops</html>\n\n" },
            Reply::SseCut { events: 0, partial: "data: {\"id\":\"chatcmpl-cut\",\"obj" },
            Reply::SseCut { events: 0, partial: "" },
        ];
        for reply in cases {
            let what = format!("{reply:?}");
            let bad = FakeProvider::start(reply).await;
            let gw = Gateway::start(&pair(&bad, &good)).await;
            served_by_the_good_one(&gw, &bad, &stream).await;
            assert!(cooling_down(&gw, &bad).await, "{what}: not cooling down");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_bad_provider_is_a_502_not_a_success() {
    within(DEADLINE, async {
        let bad = FakeProvider::start(Reply::Raw { status: 200, content_type: "text/plain", body: "OK" }).await;
        let gw = Gateway::start(&config_with(&openai_deployment("g", "m", &bad))).await;
        for stream in [false, true] {
            let mut body = chat_body("g", "hi");
            body["stream"] = json!(stream);
            let resp = client()
                .post(gw.url("/v1/chat/completions"))
                .bearer_auth(MASTER_KEY)
                .json(&body)
                .send()
                .await
                .expect("chat");
            assert_eq!(resp.headers()["content-type"], "application/json");
            let error = expect_openai_error(resp, 502).await;
            assert_eq!(error["type"], json!("api_error"), "{error}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_after_its_first_events_ends_with_an_error_event_and_counts_as_a_failure() {
    within(DEADLINE, async {
        let bad = FakeProvider::start(Reply::SseCut { events: 2, partial: "" }).await;
        let cfg = format!(
            "{}router_settings:\n  allowed_fails: 0\n  cooldown_time: 30\n",
            config_with(&openai_deployment("g", "m", &bad))
        );
        let gw = Gateway::start(&cfg).await;
        let mut body = chat_body("g", "hi");
        body["stream"] = json!(true);
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .json(&body)
            .send()
            .await
            .expect("chat");
        assert_eq!(resp.status().as_u16(), 200);
        let (events, _) = SseEvents::new(resp).collect().await;
        let last = events.last().expect("events");
        let error: Value = serde_json::from_str(&last.data).expect("last event is JSON");
        assert_eq!(error["error"]["type"], json!("api_error"), "{events:?}");
        assert!(!events.iter().any(|e| e.data == "[DONE]"), "a cut stream must not look whole: {events:?}");
        assert!(cooling_down(&gw, &bad).await, "the cut stream did not count as a failure");
    })
    .await;
}

// ---------------------------------------------------------------- 5, 6. connections are bounded

/// Reads from `stream` until it closes or `limit` passes; what was read, and whether it closed.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

/// A gateway whose idle keep-alive is 1 s and whose clients get 2 s for a body.
async fn short_timeouts() -> Gateway {
    let env = [("TOLLGATE_KEEPALIVE_TIMEOUT", "1"), ("TOLLGATE_CLIENT_TIMEOUT", "2")];
    Gateway::start_with_env(&config_with(&mock_deployment("x", "hi")), &env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_keepalive_timeout_also_after_several_requests() {
    use tokio::io::AsyncWriteExt;
    within(DEADLINE, async {
        let gw = short_timeouts().await;
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", gw.port())).await.unwrap();
        let get = b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n";
        for _ in 0..3 {
            conn.write_all(get).await.unwrap();
            let mut buf = [0u8; 1024];
            let n = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await.unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        }
        let started = std::time::Instant::now();
        let (_, closed) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
        assert!(closed, "an idle connection stayed open 5 s with a keep-alive timeout of 1 s");
        assert!(started.elapsed() >= Duration::from_millis(900), "closed too early: {:?}", started.elapsed());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_is_cut_at_the_deadline_with_a_408_while_others_are_served() {
    use tokio::io::AsyncWriteExt;
    within(DEADLINE, async {
        let gw = short_timeouts().await;
        let mut slow = Vec::new();
        for _ in 0..20 {
            let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", gw.port())).await.unwrap();
            let head = format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MASTER_KEY}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            );
            conn.write_all(head.as_bytes()).await.unwrap();
            slow.push(conn);
        }
        let started = std::time::Instant::now();
        // One byte every 400 ms, bounded: at most 10 rounds.
        let mut answers = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert_eq!(ask(&gw, "x").await.as_deref(), Ok("hi"), "normal traffic was not served meanwhile");
            for conn in &mut slow {
                let _ = conn.write_all(b" ").await;
            }
            if started.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        for conn in &mut slow {
            answers.push(read_until_closed(conn, Duration::from_secs(3)).await);
        }
        for (text, closed) in answers {
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            assert!(text.contains("\"type\":\"invalid_request_error\""), "{text}");
            assert!(closed, "the connection stayed open after the 408");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_all_answered_in_order() {
    use tokio::io::AsyncWriteExt;
    within(DEADLINE, async {
        let gw = short_timeouts().await;
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", gw.port())).await.unwrap();
        let body = json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]}).to_string();
        let post = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MASTER_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let get = "GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n";
        conn.write_all(format!("{get}{post}{get}").as_bytes()).await.unwrap();
        let (text, _) = read_until_closed(&mut conn, Duration::from_secs(3)).await;
        let statuses: Vec<&str> = text.match_indices("HTTP/1.1 ").map(|(i, _)| &text[i + 9..i + 12]).collect();
        assert_eq!(statuses, ["200", "200", "200"], "{text}");
        let first = text.find("I'm alive").unwrap_or(usize::MAX);
        let chat = text.find("chat.completion").unwrap_or(usize::MAX);
        let last = text.rfind("I'm alive").unwrap_or(0);
        assert!(first < chat && chat < last, "answers out of order: {text}");
    })
    .await;
}

/// Sends `raw` on a fresh connection and reads the answer until the gateway closes (at most 5 s).
async fn raw_exchange(gw: &Gateway, raw: &[u8]) -> String {
    use tokio::io::AsyncWriteExt;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", gw.port())).await.unwrap();
    // The gateway may answer and close before all of a huge request is written: that is fine.
    let _ = conn.write_all(raw).await;
    let (text, closed) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
    assert!(closed, "the connection stayed open after a refusal: {text}");
    text
}

/// The status and the parsed JSON body of a raw HTTP/1.1 answer.
fn status_and_json(text: &str) -> (u16, Value) {
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_request_is_refused_with_an_openai_shaped_body() {
    within(DEADLINE, async {
        let gw = short_timeouts().await;
        let many: String = (0..10_000).map(|i| format!("x-h{i}: v\r\n")).collect();
        let huge = format!("x-big: {}\r\n", "a".repeat(1024 * 1024));
        let post = |headers: &str| format!("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let cases = [
            ("10,000 headers", format!("GET /health/liveliness HTTP/1.1\r\nHost: x\r\n{many}\r\n"), 431),
            ("a 1 MB header", format!("GET /health/liveliness HTTP/1.1\r\nHost: x\r\n{huge}\r\n"), 431),
            ("a negative Content-Length", post("Content-Length: -5\r\n"), 400),
            ("two Content-Lengths", post("Content-Length: 5\r\nContent-Length: 6\r\n"), 400),
            ("chunked, identity", post("Transfer-Encoding: chunked, identity\r\n"), 400),
            ("chunked and a length", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), 400),
            ("a bad request line", "GET / HTTP/9\x01\r\n\r\n".to_string(), 400),
        ];
        for (what, raw, want) in cases {
            let text = raw_exchange(&gw, raw.as_bytes()).await;
            let (status, body) = status_and_json(&text);
            assert_eq!(status, want, "{what}: {text}");
            let error = &body["error"];
            assert!(error["message"].is_string() && error["type"].is_string(), "{what}: {body}");
            assert_eq!(error["code"], json!(want.to_string()), "{what}: {body}");
        }
        // A huge Content-Length reaches the gateway's own limit: 413, JSON too.
        let big = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {MASTER_KEY}\r\n\
             Content-Length: 1000000000000000000\r\n\r\n"
        );
        let (status, body) = status_and_json(&raw_exchange(&gw, big.as_bytes()).await);
        assert_eq!(status, 413, "{body}");
        // And normal traffic still flows.
        assert_eq!(ask(&gw, "x").await.as_deref(), Ok("hi"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_trickles_in_is_cut_at_the_deadline_with_a_408() {
    use tokio::io::AsyncWriteExt;
    within(DEADLINE, async {
        let gw = short_timeouts().await;
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", gw.port())).await.unwrap();
        let started = std::time::Instant::now();
        // A header byte every 300 ms, bounded: at most 20.
        for byte in b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().take(20) {
            if conn.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let (text, closed) = read_until_closed(&mut conn, Duration::from_secs(5)).await;
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(closed);
        assert!(started.elapsed() < Duration::from_secs(6), "cut after {:?}", started.elapsed());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused_cleanly_and_served_again_once_others_close() {
    within(DEADLINE, async {
        let env = [("TOLLGATE_MAX_CONNECTIONS", "4")];
        let gw = Gateway::start_with_env(&config_with(&mock_deployment("x", "hi")), &env).await;
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(tokio::net::TcpStream::connect(("127.0.0.1", gw.port())).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let text = raw_exchange(&gw, b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let (status, body) = status_and_json(&text);
        assert_eq!(status, 503, "{text}");
        assert_eq!(body["error"]["type"], json!("service_unavailable"), "{body}");
        drop(held);
        let mut served = false;
        for _ in 0..50 {
            if ask(&gw, "x").await.as_deref() == Ok("hi") {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(served, "no call was served after the held connections closed");
    })
    .await;
}

// ---------------------------------------------------------------- 7, 8. operators, logs, files, the database

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_reach_the_log_even_at_trace_level() {
    within(DEADLINE, async {
        let fake = FakeProvider::start(Reply::Echo).await;
        let env = [("RUST_LOG", "trace")];
        let gw = Gateway::start_with_env(&config_with(&openai_deployment("g", "m", &fake)), &env).await;
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(MASTER_KEY)
            .header("x-api-key", "sk-client-secret-4711")
            .header("api-key", "az-client-secret-4712")
            .json(&chat_body("g", "hi"))
            .send()
            .await
            .expect("chat");
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(fake.hits(), 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let log = gw.stderr();
        assert!(log.contains("[REDACTED]"), "no header dump was logged at trace, so the test proves nothing");
        for secret in [MASTER_KEY, "sk-client-secret-4711", "az-client-secret-4712", common::PROVIDER_KEY] {
            assert!(!log.contains(secret), "{secret} reached the log");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_files_are_readable_by_the_gateway_alone() {
    use std::os::unix::fs::PermissionsExt;
    within(DEADLINE, async {
        let gw = Gateway::start(&config_with(&mock_deployment("x", "hi"))).await;
        // A key makes the store write (WAL and shared-memory files included).
        let resp = client().post(gw.url("/key/generate")).bearer_auth(MASTER_KEY).json(&json!({})).send().await;
        assert_eq!(resp.expect("key/generate").status().as_u16(), 200);
        let files: Vec<_> = std::fs::read_dir(gw.state_dir()).expect("state dir").flatten().collect();
        assert!(!files.is_empty(), "the state dir is empty");
        for f in files {
            let mode = f.metadata().expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", f.path().display());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_a_clear_error_and_a_non_zero_exit() {
    within(DEADLINE, async {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port().to_string();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, config_with(&mock_deployment("x", "hi"))).expect("config");
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("--config")
            .arg(&config)
            .args(["--host", "127.0.0.1", "--port", &port, "--state-dir"])
            .arg(dir.path().join("state"))
            .env_remove("TOLLGATE_PORT")
            .output();
        let out = tokio::time::timeout(Duration::from_secs(10), run).await.expect("it kept running").expect("run");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{text}");
        drop(taken);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_an_admin_field_is_a_400_naming_it_on_postgresql() {
    within(DEADLINE, async {
        let schema = common::PgSchema::create();
        let yaml = format!("{}  database_url: \"{}\"\n", config_with(&mock_deployment("x", "hi")), schema.url());
        let gw = Gateway::start(&yaml).await;
        for (path, body, field) in [
            ("/key/generate", json!({"key_alias": "a\u{0}b"}), "key_alias"),
            ("/team/new", json!({"team_id": "t\u{0}", "metadata": {"x": 1}}), "team_id"),
            ("/key/generate", json!({"metadata": {"tags": ["ok", "n\u{0}"]}}), "metadata.tags[1]"),
        ] {
            let resp = client().post(gw.url(path)).bearer_auth(MASTER_KEY).json(&body).send().await.expect(path);
            let error = expect_openai_error(resp, 400).await;
            assert_eq!(error["param"], json!(field), "{path}: {error}");
        }
        // The database is fine: the same calls without the NUL succeed.
        let resp =
            client().post(gw.url("/team/new")).bearer_auth(MASTER_KEY).json(&json!({"team_id": "t"})).send().await;
        assert_eq!(resp.expect("team/new").status().as_u16(), 200);
        let health: Value =
            client().get(gw.url("/health")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
        assert_eq!(health["tollgate"]["database"], json!("up"), "{health}");
    })
    .await;
}
