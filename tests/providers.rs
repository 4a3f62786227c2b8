//! The translated providers end to end: every golden fixture case of `filters/tests/fixtures/<provider>/`
//! is replayed byte for byte by a fake provider ([`ReplayProvider`]) behind the gateway binary, and the
//! case's `openai.request.json` is sent through the gateway as a client would.
//!
//! For each case and each way it can be asked (the fixture's own `stream` setting; also the other one when
//! the case has the files for it), the test checks both sides of the wire:
//! - the provider got the provider's path (`/v1/messages`, `/v1beta/models/{m}:generateContent`,
//!   `/model/{id}/converse-stream`, `/v2/chat`, ...), the provider's auth (`x-api-key` and
//!   `anthropic-version`, `x-goog-api-key`, a bearer key, a SigV4 signature that verifies over the request
//!   as received, a Vertex AI OAuth token fetched with a signed assertion), never the gateway's master key,
//!   and a body equal as a JSON value to `provider.request.json`;
//! - the client got `openai.response.json` (status and body as JSON values, `id` and `created` aside, as
//!   the gateway makes its own), or the events of `openai.stream.sse` in order and one `[DONE]`, or, for a
//!   stream the provider breaks, those events and then one OpenAI error event with the provider's status.
//!
//! Streams are replayed twice: in one write, and in writes of [`SPLIT_WRITES`] bytes, so chunk boundaries
//! fall inside events and eventstream frames. One test per provider walks whatever cases exist and reports
//! every failing case by name.
//!
//! Run: `cargo test --test providers` (builds the `tollgate` binary first).
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly at the first broken expectation")]

mod common;

use std::time::Duration;

use common::replay::{
    fixture_folders, parse_amz_date, verify_sigv4, vertex_service_account, FixtureCase, ReplayProvider, SigV4Header,
    Wire, Writes, VERTEX_ACCESS_TOKEN, VERTEX_CLIENT_EMAIL, VERTEX_TEST_PUBLIC_KEY, VERTEX_TOKEN_PATH,
};
use common::{client, expect_openai_error, read_sse, within, Gateway, Recorded, MASTER_KEY, PROVIDER_KEY};
use serde_json::{json, Value};

/// Deadline of one case (its gateways, requests and checks).
const CASE_DEADLINE: Duration = Duration::from_secs(40);
/// Deadline of one provider's whole walk.
const PROVIDER_DEADLINE: Duration = Duration::from_secs(300);
/// Bytes per write when a stream is replayed in pieces: small and odd, so boundaries land everywhere.
const SPLIT_WRITES: usize = 7;
/// The fixture folders this file has a test for.
const REPLAYED_FOLDERS: [&str; 4] = ["anthropic", "bedrock", "cohere", "gemini"];

/// Fake AWS credentials of the Bedrock deployments (never sent; only their signatures are).
const AWS_KEY_ID: &str = "AKIDREPLAYEXAMPLE7Q2";
const AWS_SECRET: &str = "replay/K7MDENG+bPxRfiCYEXAMPLEKEYsecret";
const AWS_REGION: &str = "eu-west-3";
/// The Vertex AI project and location of the Vertex deployments.
const VERTEX_PROJECT: &str = "tollgate-replay";
const VERTEX_LOCATION: &str = "europe-west4";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anthropic_fixtures_replay_through_the_gateway() {
    replay_folder("anthropic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bedrock_fixtures_replay_through_the_gateway() {
    replay_folder("bedrock").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cohere_fixtures_replay_through_the_gateway() {
    replay_folder("cohere").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gemini_and_vertex_fixtures_replay_through_the_gateway() {
    replay_folder("gemini").await;
}

#[test]
fn every_fixture_folder_has_a_replay_test() {
    for folder in fixture_folders() {
        assert!(
            REPLAYED_FOLDERS.contains(&folder.as_str()),
            "filters/tests/fixtures/{folder}/ has no replay test in tests/providers.rs (and no Wire in \
             tests/common/replay.rs)"
        );
    }
}

#[test]
fn sigv4_dates_are_read_as_utc() {
    // AWS's SigV4 test suite time, 2015-08-30T12:36:00Z.
    let t = parse_amz_date("20150830T123600Z").unwrap();
    assert_eq!(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), 1_440_938_160);
    assert!(parse_amz_date("2015-08-30T12:36:00Z").is_err());
}

/// Replays every case of `folder` that has a client request; fails once at the end, naming every case
/// that failed and why.
async fn replay_folder(folder: &str) {
    within(PROVIDER_DEADLINE, async {
        let cases = FixtureCase::all_of(folder);
        if cases.is_empty() {
            eprintln!("filters/tests/fixtures/{folder}/ does not exist yet: nothing to replay");
            return;
        }
        let mut failures = Vec::new();
        let mut passed = Vec::new();
        let mut skipped = Vec::new();
        for case in cases {
            let label = case.label();
            if case.openai_request().is_none() {
                skipped.push(label);
                continue;
            }
            let mut task = tokio::spawn(check_case(case));
            match tokio::time::timeout(CASE_DEADLINE, &mut task).await {
                Ok(Ok(runs)) => passed.push(format!("{label} ({})", runs.join(", "))),
                Ok(Err(e)) => failures.push(format!("{label}: {}", panic_message(e))),
                Err(_) => {
                    task.abort();
                    failures.push(format!("{label}: did not finish within {CASE_DEADLINE:?}"));
                }
            }
        }
        eprintln!("{folder}: {} cases passed: {}", passed.len(), passed.join("; "));
        if !skipped.is_empty() {
            eprintln!("{folder}: skipped (no openai.request.json): {}", skipped.join(", "));
        }
        assert!(
            failures.is_empty(),
            "{} {folder} case(s) failed through the gateway ({} passed):\n\n{}",
            failures.len(),
            passed.len(),
            failures.join("\n\n")
        );
    })
    .await;
}

fn panic_message(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let payload = e.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// How the client asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// One JSON answer.
    Plain,
    /// `stream: true`.
    Stream,
}

/// One way of asking a case, and whether it is the fixture's own or derived from it.
#[derive(Clone, Copy, Debug)]
struct Run {
    mode: Mode,
    /// The fixture's request asks the other way: `stream` is set or removed, and `stream` is left out of
    /// the comparison of the provider's body.
    derived: bool,
}

impl Run {
    fn describe(self) -> String {
        let mode = match self.mode {
            Mode::Plain => "answer",
            Mode::Stream => "stream",
        };
        if self.derived {
            format!("{mode} (derived)")
        } else {
            mode.to_owned()
        }
    }
}

/// Whether the case has the files to be asked in `mode`.
fn can_run(case: &FixtureCase, mode: Mode) -> bool {
    match mode {
        Mode::Plain => case.provider_answer().is_some() && case.openai_answer().is_some(),
        Mode::Stream => case.provider_stream().is_some() && case.openai_stream().is_some(),
    }
}

/// Every run of one case, each on its own fake and gateway; the runs done, for the summary.
async fn check_case(case: FixtureCase) -> Vec<String> {
    let own = if case.asks_for_stream() { Mode::Stream } else { Mode::Plain };
    assert!(can_run(&case, own), "{}: the fixture asks for {own:?} but lacks the files to replay it", case.label());
    let other = match own {
        Mode::Plain => Mode::Stream,
        Mode::Stream => Mode::Plain,
    };
    let mut runs = vec![Run { mode: own, derived: false }];
    if can_run(&case, other) {
        runs.push(Run { mode: other, derived: true });
    }
    let mut done = Vec::new();
    for run in runs {
        let fake = ReplayProvider::start(&case).await;
        let deployment = Deployment::write(&case, &fake);
        let gw = Gateway::start(&deployment.config).await;
        match run.mode {
            Mode::Plain => check_answer(&case, run, &gw, &fake).await,
            Mode::Stream => {
                for writes in [Writes::Whole, Writes::Every(SPLIT_WRITES)] {
                    fake.set_writes(writes);
                    check_stream(&case, run, writes, &gw, &fake).await;
                }
            }
        }
        if case.wire == Wire::VertexAi {
            check_vertex_token_requests(&case, &fake, &deployment);
        }
        done.push(run.describe());
    }
    done
}

/// A case's config: one group named as the fixture's request, its deployment on the fake.
struct Deployment {
    config: String,
    /// The Vertex AI key file lives here while the gateway runs.
    _key_dir: Option<tempfile::TempDir>,
    /// The service account's token endpoint.
    token_uri: Option<String>,
}

impl Deployment {
    fn write(case: &FixtureCase, fake: &ReplayProvider) -> Deployment {
        let q = |s: &str| serde_json::to_string(s).expect("a YAML double-quoted string");
        let model = format!("{}/{}", case.wire.litellm_prefix(), case.upstream_model());
        // `api_base` as LiteLLM's docs write it: Gemini's carries the API version, Cohere's is the whole
        // endpoint URL; the others are the host.
        let base = match case.wire {
            Wire::Gemini => format!("{}/v1beta", fake.origin()),
            Wire::Cohere if case.is_embeddings() => format!("{}/v2/embed", fake.origin()),
            Wire::Cohere => format!("{}/v2/chat", fake.origin()),
            _ => fake.origin(),
        };
        let mut params = format!(
            "      model: {model}\n      api_base: {base}\n      num_retries: 0\n",
            model = q(&model),
            base = q(&base)
        );
        let mut key_dir = None;
        let mut token_uri = None;
        match case.wire {
            Wire::Anthropic | Wire::Cohere | Wire::Gemini => params += &format!("      api_key: {}\n", q(PROVIDER_KEY)),
            Wire::Bedrock => {
                params += &format!(
                    "      aws_access_key_id: {}\n      aws_secret_access_key: {}\n      aws_region_name: {}\n",
                    q(AWS_KEY_ID),
                    q(AWS_SECRET),
                    q(AWS_REGION)
                );
            }
            Wire::VertexAi => {
                let dir = tempfile::tempdir().expect("a dir for the service-account key");
                let path = dir.path().join("service-account.json");
                std::fs::write(&path, vertex_service_account(&fake.origin(), "key-file-project")).expect("key file");
                params += &format!(
                    "      vertex_project: {}\n      vertex_location: {}\n      vertex_credentials: {}\n",
                    q(VERTEX_PROJECT),
                    q(VERTEX_LOCATION),
                    q(&path.to_string_lossy())
                );
                token_uri = Some(format!("{}{VERTEX_TOKEN_PATH}", fake.origin()));
                key_dir = Some(dir);
            }
        }
        let config = format!(
            "model_list:\n  - model_name: {group}\n    litellm_params:\n{params}general_settings:\n  master_key: {MASTER_KEY}\n",
            group = q(&case.group())
        );
        Deployment { config, _key_dir: key_dir, token_uri }
    }
}

/// The client's body for `run`: the fixture's request, with `stream` set or removed when derived.
fn client_body(case: &FixtureCase, run: Run) -> Value {
    let mut body = case.openai_request().expect("a client request");
    if run.derived {
        let Some(obj) = body.as_object_mut() else { panic!("{}: openai.request.json is not an object", case.label()) };
        match run.mode {
            Mode::Stream => {
                obj.insert("stream".to_owned(), Value::Bool(true));
            }
            Mode::Plain => {
                obj.remove("stream");
                obj.remove("stream_options");
            }
        }
    }
    body
}

async fn send(case: &FixtureCase, gw: &Gateway, body: &Value) -> reqwest::Response {
    let path = if case.is_embeddings() { "/v1/embeddings" } else { "/v1/chat/completions" };
    client().post(gw.url(path)).bearer_auth(MASTER_KEY).json(body).send().await.expect("request to the gateway")
}

/// A non-streamed call: the provider's side, then the answer.
async fn check_answer(case: &FixtureCase, run: Run, gw: &Gateway, fake: &ReplayProvider) {
    let at = format!("{} [{}]", case.label(), run.describe());
    let seen = fake.api_requests().len();
    let resp = send(case, gw, &client_body(case, run)).await;
    let status = resp.status().as_u16();
    let content_type = header_of(&resp, "content-type");
    let text = resp.text().await.expect("the gateway's answer");
    check_provider_request(case, run, fake, seen, &at);

    let (want_status, want) = case.openai_answer().expect("an expected answer");
    assert_eq!(status, want_status, "{at}: status; body: {text}");
    assert!(content_type.starts_with("application/json"), "{at}: content-type {content_type:?}");
    let got: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{at}: the answer is not JSON ({e}): {text}"));
    let (got, want) = comparable(&got, &want, &at);
    assert_eq!(got, want, "{at}: the client's answer differs from openai.{}", answer_file(case));
}

fn answer_file(case: &FixtureCase) -> &'static str {
    if case.file("openai.error.json").is_some() {
        "error.json"
    } else {
        "response.json"
    }
}

/// A streamed call: the provider's side, then the events in order.
async fn check_stream(case: &FixtureCase, run: Run, writes: Writes, gw: &Gateway, fake: &ReplayProvider) {
    let how = match writes {
        Writes::Whole => "one write".to_owned(),
        Writes::Every(n) => format!("writes of {n} bytes"),
    };
    let at = format!("{} [{}, provider stream in {how}]", case.label(), run.describe());
    let seen = fake.api_requests().len();
    let resp = send(case, gw, &client_body(case, run)).await;
    let status = resp.status().as_u16();
    let content_type = header_of(&resp, "content-type");
    let want = sse_values(&case.openai_stream().expect("openai.stream.sse"), &at);
    if let (Some(failure), true) = (case.stream_failure(), want.is_empty()) {
        // The provider's error is its stream's first event: nothing has gone to the client, so the client
        // gets the error's status and an OpenAI error body, whatever the chunk boundaries (as LiteLLM, which
        // reads a stream's first chunk before it answers).
        check_provider_request(case, run, fake, seen, &at);
        let error = expect_openai_error(resp, failure.status).await;
        if let Some(message) = &failure.message {
            assert_eq!(error["message"], json!(message), "{at}: error message");
        }
        return;
    }
    if status != 200 {
        let text = resp.text().await.unwrap_or_default();
        check_provider_request(case, run, fake, seen, &at);
        panic!("{at}: status {status}, expected a 200 stream; body: {text}");
    }
    assert!(content_type.starts_with("text/event-stream"), "{at}: content-type {content_type:?}");
    let (events, broken) = read_sse(resp).await;
    check_provider_request(case, run, fake, seen, &at);
    assert_eq!(broken, None, "{at}: the stream broke");
    let got: Vec<Value> = events
        .iter()
        .map(|e| match e.json() {
            Some(v) => v,
            None if e.data == "[DONE]" => Value::from("[DONE]"),
            None => panic!("{at}: an event that is neither JSON nor [DONE]: {:?}", e.data),
        })
        .collect();
    let shown = || got.iter().map(Value::to_string).collect::<Vec<_>>().join("\n");

    // One answer: every chunk carries the same id and created.
    let chunks: Vec<&Value> = got.iter().filter(|v| v.get("choices").is_some()).collect();
    if let Some(first) = chunks.first() {
        assert!(first["id"].as_str().is_some_and(|id| !id.is_empty()), "{at}: chunk without an id: {first}");
        assert!(first["created"].is_u64(), "{at}: chunk without created: {first}");
        for chunk in &chunks {
            assert_eq!((&chunk["id"], &chunk["created"]), (&first["id"], &first["created"]), "{at}: chunks differ");
        }
    }
    let dones = got.iter().filter(|v| v.as_str() == Some("[DONE]")).count();
    let failure = case.stream_failure();
    let translated = match &failure {
        None => {
            assert_eq!(dones, 1, "{at}: exactly one [DONE], got:\n{}", shown());
            assert_eq!(got.last().and_then(Value::as_str), Some("[DONE]"), "{at}: [DONE] comes last:\n{}", shown());
            &got[..]
        }
        Some(failure) => {
            assert_eq!(dones, 0, "{at}: no [DONE] after the provider's error:\n{}", shown());
            let Some((last, before)) = got.split_last() else { panic!("{at}: no events at all") };
            let error = &last["error"];
            assert!(error.is_object(), "{at}: the stream should end in an OpenAI error event, got:\n{}", shown());
            assert_eq!(error["code"], json!(failure.status.to_string()), "{at}: error event's code: {last}");
            if let Some(message) = &failure.message {
                assert_eq!(error["message"], json!(message), "{at}: error event's message: {last}");
            }
            assert!(error["type"].is_string(), "{at}: error event's type: {last}");
            before
        }
    };
    assert_eq!(
        translated.len(),
        want.len(),
        "{at}: {} events, openai.stream.sse has {}; got:\n{}",
        translated.len(),
        want.len(),
        shown()
    );
    for (i, (g, w)) in translated.iter().zip(&want).enumerate() {
        let (g, w) = comparable(g, w, &at);
        assert_eq!(g, w, "{at}: event {i} differs from openai.stream.sse");
    }
}

/// The one request the provider's API got after the first `seen`: path, auth and body.
fn check_provider_request(case: &FixtureCase, run: Run, fake: &ReplayProvider, seen: usize, at: &str) {
    let requests: Vec<Recorded> = fake.api_requests().into_iter().skip(seen).collect();
    let paths: Vec<&str> = requests.iter().map(|r| r.path_and_query.as_str()).collect();
    assert_eq!(requests.len(), 1, "{at}: expected one request at the provider, got {paths:?}");
    let req = &requests[0];
    assert_eq!(req.method, "POST", "{at}: method");
    assert_eq!(req.path_and_query, expected_path(case, run.mode), "{at}: provider path");
    for (name, value) in &fake.requests().iter().flat_map(|r| r.headers.clone()).collect::<Vec<_>>() {
        assert!(!value.contains(MASTER_KEY), "{at}: the master key reached the provider in {name}: {value}");
    }
    check_auth(case, req, at);

    let mut want = case.json("provider.request.json").unwrap_or_else(|| panic!("{at}: no provider.request.json"));
    let mut got = req.json();
    if run.derived {
        // The fixture was written for the other mode; only `stream` may differ in the body.
        for body in [&mut want, &mut got] {
            if let Some(obj) = body.as_object_mut() {
                obj.remove("stream");
            }
        }
    }
    assert_eq!(got, want, "{at}: the provider's body differs from provider.request.json");
}

/// The provider path of a case, as each provider's API reference writes it.
fn expected_path(case: &FixtureCase, mode: Mode) -> String {
    let model = case.upstream_model();
    let embeddings = case.is_embeddings();
    // Gemini embeds with batchEmbedContents, Vertex AI with predict.
    let google_method = match (embeddings, mode, case.wire) {
        (true, _, Wire::VertexAi) => "predict",
        (true, _, _) => "batchEmbedContents",
        (false, Mode::Stream, _) => "streamGenerateContent?alt=sse",
        (false, Mode::Plain, _) => "generateContent",
    };
    match case.wire {
        Wire::Anthropic => "/v1/messages".to_owned(),
        Wire::Cohere if embeddings => "/v2/embed".to_owned(),
        Wire::Cohere => "/v2/chat".to_owned(),
        Wire::Gemini => format!("/v1beta/models/{model}:{google_method}"),
        Wire::VertexAi => format!(
            "/v1/projects/{VERTEX_PROJECT}/locations/{VERTEX_LOCATION}/publishers/google/models/{model}:{google_method}"
        ),
        Wire::Bedrock => {
            let id = percent_encode(&model);
            match (embeddings, mode) {
                (true, _) => format!("/model/{id}/invoke"),
                (false, Mode::Stream) => format!("/model/{id}/converse-stream"),
                (false, Mode::Plain) => format!("/model/{id}/converse"),
            }
        }
    }
}

/// A path segment with everything but RFC 3986's unreserved characters percent-encoded, as the AWS SDKs
/// send a Bedrock model id (`:` of `...-v1:0` as `%3A`).
fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The provider's own auth, and nothing of another provider's.
fn check_auth(case: &FixtureCase, req: &Recorded, at: &str) {
    let bearer = format!("Bearer {PROVIDER_KEY}");
    match case.wire {
        Wire::Anthropic => {
            assert_eq!(req.header("x-api-key"), Some(PROVIDER_KEY), "{at}: x-api-key");
            assert_eq!(req.header("anthropic-version"), Some("2023-06-01"), "{at}: anthropic-version");
            assert_eq!(req.header("authorization"), None, "{at}: Anthropic takes no authorization header");
        }
        Wire::Gemini => {
            assert_eq!(req.header("x-goog-api-key"), Some(PROVIDER_KEY), "{at}: x-goog-api-key");
            assert!(!req.path_and_query.contains(PROVIDER_KEY), "{at}: the key is in the URL: {}", req.path_and_query);
        }
        Wire::Cohere => assert_eq!(req.header("authorization"), Some(bearer.as_str()), "{at}: authorization"),
        Wire::VertexAi => {
            let want = format!("Bearer {VERTEX_ACCESS_TOKEN}");
            assert_eq!(req.header("authorization"), Some(want.as_str()), "{at}: the token from the token endpoint");
        }
        Wire::Bedrock => {
            let auth = req.header("authorization").unwrap_or_else(|| panic!("{at}: no authorization header"));
            let parsed = SigV4Header::parse(auth).unwrap_or_else(|e| panic!("{at}: {e}"));
            let date = req.header("x-amz-date").unwrap_or_else(|| panic!("{at}: no x-amz-date"));
            assert_eq!(parsed.key_id, AWS_KEY_ID, "{at}: credential key id");
            let scope = format!("{}/{AWS_REGION}/bedrock/aws4_request", date.get(..8).unwrap_or_default());
            assert_eq!(parsed.scope, scope, "{at}: credential scope");
            for name in ["host", "x-amz-date"] {
                assert!(parsed.signed_headers.iter().any(|h| h == name), "{at}: {name} is not signed: {auth}");
            }
            assert!(!auth.contains(AWS_SECRET), "{at}: the secret key was sent");
            assert_eq!(req.header("x-api-key"), None, "{at}: Bedrock takes no x-api-key");
            verify_sigv4(req, AWS_KEY_ID, AWS_SECRET, AWS_REGION, "bedrock").unwrap_or_else(|e| panic!("{at}: {e}"));
        }
    }
}

/// A Vertex AI gateway asked its service account's token endpoint once, with an RS256 assertion signed
/// by the account's key, and reused the token for every later call.
fn check_vertex_token_requests(case: &FixtureCase, fake: &ReplayProvider, deployment: &Deployment) {
    let at = format!("{} [token endpoint]", case.label());
    let tokens = fake.token_requests();
    assert_eq!(tokens.len(), 1, "{at}: one token request per gateway (the token is cached), got {}", tokens.len());
    let req = &tokens[0];
    assert_eq!(req.method, "POST", "{at}: method");
    assert_eq!(req.header("content-type"), Some("application/x-www-form-urlencoded"), "{at}: content-type");
    let form = String::from_utf8_lossy(&req.body).into_owned();
    let field = |name: &str| {
        form.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('='))).map(str::to_owned)
    };
    assert_eq!(
        field("grant_type").as_deref(),
        Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
        "{at}: grant_type in {form}"
    );
    let assertion = field("assertion").unwrap_or_else(|| panic!("{at}: no assertion in {form}"));
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(VERTEX_TEST_PUBLIC_KEY.as_bytes()).expect("the test public key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    let token_uri = deployment.token_uri.clone().expect("a token endpoint");
    validation.set_audience(&[token_uri]);
    validation.set_issuer(&[VERTEX_CLIENT_EMAIL]);
    let claims = jsonwebtoken::decode::<Value>(&assertion, &key, &validation)
        .unwrap_or_else(|e| panic!("{at}: the assertion does not verify with the account's key: {e}"))
        .claims;
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/cloud-platform", "{at}: scope in {claims}");
}

fn header_of(resp: &reqwest::Response, name: &str) -> String {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// The `data:` payloads of an SSE file: JSON values, `[DONE]` as the string `"[DONE]"`.
fn sse_values(bytes: &[u8], at: &str) -> Vec<Value> {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .map(|data| {
            if data == "[DONE]" {
                Value::from("[DONE]")
            } else {
                serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("{at}: openai.stream.sse event not JSON ({e}): {data}"))
            }
        })
        .collect()
}

/// `got` and `want` ready to compare: without `id` and `created` (the gateway makes its own), and with
/// ids derived from the answer's id (Gemini's tool calls, `call_<id>_<n>`) rewritten to the fixture's.
fn comparable(got: &Value, want: &Value, at: &str) -> (Value, Value) {
    let mut got = got.clone();
    let mut want = want.clone();
    if let (Some(g), Some(w)) = (got["id"].as_str().map(str::to_owned), want["id"].as_str().map(str::to_owned)) {
        if w.starts_with("chatcmpl-") {
            assert!(g.starts_with("chatcmpl-"), "{at}: id {g:?} is not a chat completion id");
        }
        let stem = |id: &str| format!("call_{}_", id.strip_prefix("chatcmpl-").unwrap_or(id));
        rewrite_strings(&mut got, &stem(&g), &stem(&w));
    }
    if want.get("created").is_some() {
        assert!(got["created"].is_u64(), "{at}: created is not a number: {got}");
    }
    for value in [&mut got, &mut want] {
        if let Some(obj) = value.as_object_mut() {
            obj.remove("id");
            obj.remove("created");
        }
    }
    (got, want)
}

/// Replaces `from` by `to` in every string of `value`.
fn rewrite_strings(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_strings(v, from, to)),
        Value::Object(map) => map.values_mut().for_each(|v| rewrite_strings(v, from, to)),
        _ => {}
    }
}
