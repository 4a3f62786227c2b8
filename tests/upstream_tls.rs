//! Upstream connections as a real provider sees them: the gateway binary in front of a fake
//! provider behind TLS on loopback, reached by the NAME `localhost` (so resolved by the gateway),
//! with a certificate from a CA made at test time that the gateway trusts through `SSL_CERT_FILE`
//! (Pingora's rustls connector loads its roots with rustls-native-certs, which reads that
//! variable). Proves: the certificate is verified, SNI and `:authority` name the host, HTTP/2 is
//! spoken when offered, connections are reused (sequentially and by concurrent calls), and streams
//! arrive event by event over HTTP/2.
//!
//! Run: `cargo test --test upstream_tls` (builds the `tollgate` binary first).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::time::{Duration, Instant};

use common::{chat_body, client, expect_openai_error, read_sse, within, Gateway, TlsProvider, MASTER_KEY};
use serde_json::{json, Value};

/// Deadline of one test.
const DEADLINE: Duration = Duration::from_secs(45);
/// The provider key of the TLS deployment.
const UPSTREAM_KEY: &str = "sk-upstream";
/// The model name clients ask for.
const MODEL: &str = "gpt-4o-mini";

/// A config with one deployment, `openai/gpt-4o-mini` at the fake's `https://localhost:PORT/v1`.
fn tls_config(fake: &TlsProvider) -> String {
    format!(
        r#"model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {base}
      api_key: {UPSTREAM_KEY}
general_settings:
  master_key: {MASTER_KEY}
"#,
        base = fake.api_base()
    )
}

/// The gateway on `tls_config`, trusting the fake's CA.
async fn trusting_gateway(fake: &TlsProvider) -> Gateway {
    let ca = fake.ca_pem();
    let ca = ca.to_str().expect("temp path is UTF-8");
    Gateway::start_with_env(&tls_config(fake), &[("SSL_CERT_FILE", ca)]).await
}

/// POSTs `body` to `/v1/chat/completions` with the master key.
async fn post_chat(gw: &Gateway, body: &Value) -> reqwest::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(body)
        .send()
        .await
        .expect("request to the gateway")
}

/// Makes one non-streamed call and returns the chat.completion, asserting a 200.
async fn chat(gw: &Gateway, text: &str) -> Value {
    let resp = post_chat(gw, &chat_body(MODEL, text)).await;
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("response body");
    assert_eq!(status, 200, "expected 200 through the TLS upstream, got {status}; body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upstream_is_verified_with_sni_and_speaks_h2() {
    within(DEADLINE, async {
        let fake = TlsProvider::start().await;
        let gw = trusting_gateway(&fake).await;
        let answer = chat(&gw, "hello over tls").await;
        assert_eq!(answer["object"], json!("chat.completion"), "answer: {answer}");
        assert_eq!(answer["model"], json!(MODEL), "answer: {answer}");
        assert_eq!(answer["choices"][0]["message"]["content"], json!("over HTTP/2.0"), "answer: {answer}");

        let requests = fake.requests();
        assert_eq!(requests.len(), 1, "requests at the provider: {requests:?}");
        let seen = &requests[0];
        assert_eq!(seen.sni.as_deref(), Some("localhost"), "SNI the handshake saw");
        assert_eq!(seen.alpn.as_deref(), Some("h2"), "ALPN the handshake settled on");
        assert_eq!(seen.version, hyper::Version::HTTP_2, "HTTP version of the call");
        let authority = format!("localhost:{}", fake.port());
        assert_eq!(seen.authority.as_deref(), Some(authority.as_str()), ":authority of the call");
        assert_eq!(seen.request.method, "POST");
        assert_eq!(seen.request.path_and_query, "/v1/chat/completions");
        let bearer = format!("Bearer {UPSTREAM_KEY}");
        assert_eq!(seen.request.header("authorization"), Some(bearer.as_str()), "provider key");
        let sent: Value = serde_json::from_slice(&seen.request.body).expect("provider got JSON");
        assert_eq!(sent["model"], json!("gpt-4o-mini"));
        assert_eq!(sent["messages"], json!([{"role": "user", "content": "hello over tls"}]));
        for (name, value) in &seen.request.headers {
            assert!(!value.contains(MASTER_KEY), "client key leaked to the provider in header {name}");
        }
        assert!(fake.refused_handshakes().is_empty(), "refused: {:?}", fake.refused_handshakes());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upstream_connections_are_reused() {
    within(DEADLINE, async {
        let fake = TlsProvider::start().await;
        let gw = trusting_gateway(&fake).await;
        for i in 0..20 {
            chat(&gw, &format!("n{i}")).await;
        }
        assert_eq!(fake.requests().len(), 20);
        let conns = fake.tls_connections();
        assert!(conns <= 2, "20 sequential calls opened {conns} TLS connections to the provider");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upstream_with_untrusted_cert_is_502() {
    within(DEADLINE, async {
        let fake = TlsProvider::start().await;
        // No SSL_CERT_FILE for our CA: the gateway trusts only the platform's roots, and the CA was
        // made a moment ago, so no trust store on any machine can hold it.
        let gw = Gateway::start(&tls_config(&fake)).await;
        let resp = post_chat(&gw, &chat_body(MODEL, "should not arrive")).await;
        let error = expect_openai_error(resp, 502).await;
        assert!(fake.requests().is_empty(), "a request reached an unverified provider: {:?}", fake.requests());
        assert_eq!(fake.tls_connections(), 0, "a TLS connection to an unverified provider completed");
        // The refusal happened in the handshake (not a DNS or connect failure): the fake saw the
        // ClientHello for `localhost` and then the client's alert.
        let refused = fake.wait_for_refused_handshake(Duration::from_secs(5)).await;
        assert!(!refused.is_empty(), "the provider saw no TLS handshake; gateway error: {error}");
        assert_eq!(refused[0].sni.as_deref(), Some("localhost"), "refused: {refused:?}");
        // The gateway keeps serving after a failed handshake.
        let live = client().get(gw.url("/health/liveliness")).send().await.expect("liveliness");
        assert_eq!(live.status().as_u16(), 200);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_share_h2_connections() {
    within(DEADLINE, async {
        const CALLS: usize = 20;
        let fake = TlsProvider::start().await;
        let gw = trusting_gateway(&fake).await;
        // One call first, so the burst finds an h2 connection in the pool: Pingora does not
        // coalesce connects that start at the same moment, so a cold burst may open several.
        chat(&gw, "warm").await;
        // Long enough that the calls overlap at the provider.
        fake.set_delay(Duration::from_millis(400));
        let calls = (0..CALLS).map(|i| {
            let gw = &gw;
            async move { (i, chat(gw, &format!("c{i}")).await) }
        });
        let started = Instant::now();
        let answers = futures_util::future::join_all(calls).await;
        let took = started.elapsed();
        assert_eq!(answers.len(), CALLS);
        for (i, answer) in &answers {
            assert_eq!(answer["choices"][0]["message"]["content"], json!("over HTTP/2.0"), "call {i}: {answer}");
        }
        let requests = fake.requests();
        assert_eq!(requests.len(), CALLS + 1);
        assert!(requests.iter().all(|r| r.version == hyper::Version::HTTP_2), "a call was not HTTP/2");
        let conns = fake.tls_connections();
        let shared = fake.max_in_flight_per_connection();
        // Pingora pops an h2 connection from its pool while it opens a stream on it, and a caller arriving
        // in that moment opens a new one (a false negative its connector documents, in
        // `reused_http_session`), so how many a burst opens depends on scheduling: 2 to 6 of 20 on a busy
        // 2-core machine. Without sharing (`max_h2_streams` left at 1) every call opens its own and
        // carries one call.
        assert!(conns <= CALLS / 2, "{CALLS} concurrent calls opened {conns} TLS connections (took {took:?})");
        assert!(shared >= 3, "at most {shared} calls were in flight on one connection over {conns} connections");
        assert!(took < Duration::from_secs(4), "{CALLS} calls of 400 ms took {took:?}: they were serialized");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_over_h2_arrives_event_by_event() {
    within(DEADLINE, async {
        let fake = TlsProvider::start().await;
        let gw = trusting_gateway(&fake).await;
        let mut body = chat_body(MODEL, "stream over h2");
        body["stream"] = json!(true);
        let resp = post_chat(&gw, &body).await;
        assert_eq!(resp.status().as_u16(), 200);
        let content_type =
            resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        assert!(content_type.starts_with("text/event-stream"), "content-type: {content_type}");
        let (events, error) = read_sse(resp).await;
        assert_eq!(error, None, "stream failed");

        let requests = fake.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].version, hyper::Version::HTTP_2, "the stream did not go over HTTP/2");
        let sent = fake.sent_event_times();
        let n = TlsProvider::DRIP_EVENTS;
        assert_eq!(sent.len(), n);
        assert_eq!(fake.streams_completed(), 1);

        let mut arrived = vec![None; n];
        for ev in &events {
            let Some(v) = ev.json() else { continue };
            assert_eq!(v["model"], json!(MODEL), "chunk: {v}");
            let Some(text) = v["choices"][0]["delta"]["content"].as_str() else { continue };
            let Some(i) = text.trim().strip_prefix("tok").and_then(|k| k.parse::<usize>().ok()) else { continue };
            assert!(arrived[i].is_none(), "event {i} arrived twice");
            arrived[i] = Some(ev.at);
        }
        let arrived: Vec<Instant> = arrived
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.unwrap_or_else(|| panic!("event tok{i} never reached the client")))
            .collect();
        for i in 0..n {
            let lag = arrived[i].saturating_duration_since(sent[i]);
            assert!(lag < Duration::from_millis(300), "event {i} reached the client {lag:?} after it was sent");
        }
        let drip = TlsProvider::DRIP_INTERVAL * (n as u32 - 1);
        assert!(
            arrived[0] + drip / 2 < sent[n - 1],
            "the first event arrived only {:?} before the last was sent: the stream was buffered",
            sent[n - 1].saturating_duration_since(arrived[0])
        );
        let done = events.iter().filter(|e| e.data.trim() == "[DONE]").count();
        assert_eq!(done, 1, "exactly one [DONE]");
        assert_eq!(events.last().map(|e| e.data.trim()), Some("[DONE]"), "[DONE] comes last");
    })
    .await;
}
