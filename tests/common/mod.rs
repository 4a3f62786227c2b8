//! The test harness shared by the integration tests: the gateway binary as a user starts it
//! ([`Gateway`]), a scriptable OpenAI-compatible upstream ([`FakeProvider`]) and one behind TLS
//! ([`TlsProvider`]), fake providers replaying the translators' golden fixtures ([`replay`]), an SSE
//! reader that timestamps each event ([`SseEvents`]), and small assertions on OpenAI-shaped errors.
//!
//! Everything listens on a free port of 127.0.0.1 and every wait is bounded: a test that hangs
//! fails with a message instead of stalling the suite.
#![allow(dead_code, unused_imports, reason = "each test crate includes this module and uses a different part of it")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a harness fails the test loudly at the first broken expectation"
)]

mod fake_provider;
mod gateway;
pub mod replay;
mod services;
mod sse;
mod tls_provider;

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

pub use fake_provider::{FakeProvider, Recorded, Reply};
pub use gateway::Gateway;
pub use services::{pg_port, PgSchema, RedisServer, TcpRelay};
pub use sse::{read_sse, SseEvent, SseEvents};
pub use tls_provider::{RefusedHandshake, TlsProvider, TlsRecorded};

/// The master key every test config uses.
pub const MASTER_KEY: &str = "sk-tollgate-test-master-7f3c";
/// The provider key every test config gives its deployments.
pub const PROVIDER_KEY: &str = "sk-fake-provider-key-19ab";

/// A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A port on which nothing listens: bound, then released, so a connect is refused.
pub fn closed_port() -> u16 {
    free_port()
}

/// Runs a test body under a deadline, so a hung gateway fails the test instead of the suite.
pub async fn within<F: Future>(limit: Duration, body: F) -> F::Output {
    match tokio::time::timeout(limit, body).await {
        Ok(out) => out,
        Err(_) => panic!("test did not finish within {limit:?}"),
    }
}

/// A reqwest client with a per-request deadline and no proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().expect("reqwest client")
}

/// `model_list` entry for an OpenAI-compatible deployment on `fake`.
pub fn openai_deployment(model_name: &str, provider_model: &str, fake: &FakeProvider) -> String {
    format!(
        r#"  - model_name: {model_name}
    litellm_params:
      model: openai/{provider_model}
      api_base: {base}
      api_key: {PROVIDER_KEY}
"#,
        base = fake.api_base()
    )
}

/// A whole config: the given `model_list` entries under the test master key.
pub fn config_with(model_list_entries: &str) -> String {
    format!("model_list:\n{model_list_entries}general_settings:\n  master_key: {MASTER_KEY}\n")
}

/// A one-message chat request for `model`.
pub fn chat_body(model: &str, text: &str) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": text}],
    })
}

/// Asserts `resp` has `status` and an OpenAI-shaped error body; returns the `error` object.
pub async fn expect_openai_error(resp: reqwest::Response, status: u16) -> serde_json::Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "expected status {status}, got {got}; body: {text}");
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("error body is not JSON ({e}): {text}"));
    let Some(error) = body.get("error").and_then(|e| e.as_object()) else {
        panic!("error body has no `error` object: {text}");
    };
    assert!(error.get("message").is_some_and(|m| m.is_string()), "error.message must be a string: {text}");
    for key in ["type", "param", "code"] {
        assert!(error.contains_key(key), "error.{key} missing: {text}");
    }
    serde_json::Value::Object(error.clone())
}

/// Asserts the master key appears in none of the headers of any request the fake received.
pub fn assert_master_key_not_forwarded(fake: &FakeProvider) {
    for req in fake.requests() {
        for (name, value) in &req.headers {
            assert!(!value.contains(MASTER_KEY), "client key leaked to the provider in header {name}: {value}");
        }
    }
}
