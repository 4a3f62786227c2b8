//! Vertex AI through the gateway: a service-account key becomes a cached OAuth access token (minted at
//! the key's token endpoint), and the call goes to Vertex's regional URL with that token, its answer
//! translated from Gemini's shape.
//!
//! Run: `cargo test --test vertex`.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::time::Duration;

use common::{chat_body, client, config_with, within, FakeProvider, Gateway, Reply, MASTER_KEY};
use serde_json::{json, Value};

/// A throwaway RSA key for tests only (the same one src/upstream/vertex.rs tests sign with).
const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCn23uY07JGjxJ0\nQJrt2TJ5L5n1TAPpIz07o6fgprfYSGjWCCs2WJwN/gB03K4S27O1PaYak5+GCOB0\nq5hg33hSh5TYc02L15YYL0kPOTgkI3+upG/V0oS5MWx9nGC9GN0nhWzRkk6p2Yc5\nTS7qbYVlXfdbcT74xq3u0vnGoOoMO1w4+SxvFSNzmUWlKTA1Sk6cBkNPqssEb+ew\ncaQApRyK5HCSu62/u2VCnziVXDEJaDTpbkNwjFHpr1IVRbTVe1EoRVE8d+ovUz9B\nVrEKhy2Y2KhFmvYPXPjRm6coNNYWzA6YXJDd4l2ppBKCEmbsEWWZ43eIxaCw2QUY\nmDRwP0QLAgMBAAECggEAChpXO5EOS1nkIfQbfxJSC+I2EYIEQD17O4Izof1W1mEx\nUiSGuUwnBF6T13TK016+17tAqpvU/6O8IrmLP9VjcBAyAL8b3T1aDtWVv6FRhDdQ\nwYmrI4L6swzK+1p0phz/fpf0vz5flrB9h5DiMIDsBPhdYXcU87M9l8DCANcBjz/Q\nZsI9mJ0Kym8+FKTjOBn5jaNWeoLkga5bsV5sqPLepAYnJMGRxsxNDUR5BZcfKIhw\nRPfnWN6PG6Z14wcwNLtrsEHa1+1Oc4vTKmzlzbPWSGyvk9IGDNJ2adTRBKDMCI4M\nlli+sb7Mk1y6ESzxCNuow29XxYc6PtAS43lNgDsd5QKBgQDZzHx3F9hrDtLxqL2Y\nuvpwwQni9oTy01gTUnT4BLEjVj08Hbn+iREXUDaAG15eL5Jt44XXO5D19k/YOXqs\ng+MNdNhU1vlrLtxwshDVWYoeVaqNUENmUxpvw6PU3xH2E3U0OJ/pEa66kDQxvjpM\nq1IJa3n/UAosLej5sjIFG2to7QKBgQDFTIwAePn58dVy6yBZNNsZwFGdl3XuOIAi\nAX8FyEICsCPFQYbTXyh7FKzITuNkm33qPNW+SdIuaM5S2qcHrMWR9ZbGenJ/Vfwp\n5A+vENZhP0nAtr0r7a5JkBQguLZRiJtpQlkQIDdALjfO/RX4tl34EPC1dq4JEOtT\ngFjRKJcZ1wKBgHWGZlNNRrbeVO2aBFT58FIPmGokZDEz4f7rK7r5rSxISNq7n7W9\n+L7/xajzG8TvHrC1aW9u8RYIR6WBvrSApnCIcIO3TPeNXd5h97toiaM8zr9aZEQ+\n67ELfMhNZr/GWCRJueBmbka1sbR11bexap8yo64lXpfgXir/AQbIePkxAoGABjqN\nbPJkyexFldQweEB/7kcxDG2croGgIfK0JOWWl+khp/eSnxew+nnDnqtG6IU0K3Hy\nOYixFv/+C4WVoltk/V+oe+mftb9sL5JgoGFCs11BIdFjFYDycKYYzJOoRdivN1p9\n31F1DRSodGNvDyQKwWsffksZ4XVkSIWTyD6kzo8CgYEAzpOCn7PGLT5rBeT+z85K\ntWolBcBRCHDaDEPxsa9rnmU2wlDiTKhhrGZBW/7CknXMt8PT3ld2V5d0VdCqqWGh\nIaEeAalWdDjZwuldQ710rTjY0Y3ZDhFH+mJafIFqjCs2OU+7o/AMAvL66daj7tjj\nr/SpByNCjBByBHJNHUI7src=\n-----END PRIVATE KEY-----";

/// POST a chat body with the master key.
async fn post(gw: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    client().post(gw.url(path)).bearer_auth(MASTER_KEY).json(body).send().await.expect("request to the gateway")
}

/// A Gemini `generateContent` answer.
fn gemini_answer() -> Value {
    json!({
        "candidates": [{"content": {"parts": [{"text": "Bonjour !"}], "role": "model"}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10},
        "modelVersion": "gemini-2.0-flash"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_call_carries_a_minted_token_that_is_cached() {
    within(Duration::from_secs(45), async {
        let token_endpoint =
            FakeProvider::start(Reply::Status(200, json!({"access_token": "ya29.test-token", "expires_in": 3600})))
                .await;
        let vertex = FakeProvider::start(Reply::Status(200, gemini_answer())).await;
        let credentials = json!({
            "type": "service_account",
            "project_id": "key-project",
            "private_key_id": "k1",
            "private_key": TEST_KEY,
            "client_email": "gateway@key-project.iam.gserviceaccount.com",
            "token_uri": format!("{}/token", token_endpoint.origin()),
        });
        let config = config_with(&format!(
            r#"  - model_name: gemini-eu
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      api_base: {base}
      vertex_location: europe-west4
      vertex_credentials: '{credentials}'
      num_retries: 0
"#,
            base = vertex.origin(),
        ));
        let gw = Gateway::start(&config).await;
        for _ in 0..3 {
            let resp = post(&gw, "/v1/chat/completions", &chat_body("gemini-eu", "Say hello in French")).await;
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            assert_eq!(status, 200, "{text}");
            let answer: Value = serde_json::from_str(&text).expect("JSON answer");
            assert_eq!(answer["choices"][0]["message"]["content"], "Bonjour !");
            assert_eq!(answer["model"], "gemini-eu");
            assert_eq!(answer["usage"]["total_tokens"], 10);
        }
        // One token for three calls: it is cached until shortly before it expires.
        assert_eq!(token_endpoint.hits(), 1, "the token was minted more than once");
        let minted = token_endpoint.only_request();
        assert_eq!(minted.path_and_query, "/token");
        let form = String::from_utf8(minted.body.to_vec()).expect("form body");
        assert!(form.starts_with("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="), "{form}");
        let calls = vertex.requests();
        assert_eq!(calls.len(), 3);
        for call in calls {
            assert_eq!(
                call.path_and_query,
                "/v1/projects/key-project/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"
            );
            assert_eq!(call.header("authorization"), Some("Bearer ya29.test-token"));
            let body = call.json();
            assert_eq!(body["contents"][0]["parts"][0]["text"], "Say hello in French");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_token_refusal_is_a_clear_502() {
    within(Duration::from_secs(45), async {
        let token_endpoint = FakeProvider::start(Reply::Status(
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        ))
        .await;
        let vertex = FakeProvider::start(Reply::Status(200, gemini_answer())).await;
        let credentials = json!({
            "type": "service_account",
            "private_key": TEST_KEY,
            "client_email": "gateway@p.iam.gserviceaccount.com",
            "token_uri": format!("{}/token", token_endpoint.origin()),
        });
        let config = config_with(&format!(
            r#"  - model_name: gemini-eu
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      api_base: {base}
      vertex_project: p
      vertex_credentials: '{credentials}'
      num_retries: 0
"#,
            base = vertex.origin(),
        ));
        let gw = Gateway::start(&config).await;
        let resp = post(&gw, "/v1/chat/completions", &chat_body("gemini-eu", "hi")).await;
        let error = common::expect_openai_error(resp, 502).await;
        assert!(error["message"].as_str().unwrap().contains("Invalid JWT Signature"), "{error}");
        assert_eq!(vertex.hits(), 0, "the provider was called without a token");
    })
    .await;
}
