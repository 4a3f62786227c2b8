//! Fake providers that replay the golden fixtures of the translators byte for byte.
//!
//! The fixtures live in `filters/tests/fixtures/<provider>/<case>/` and feed the translators' golden tests;
//! here the same files feed a fake provider on 127.0.0.1 and a free port ([`ReplayProvider`]), so an
//! integration test can send `openai.request.json` through the gateway and check both sides of the wire:
//! what the provider received against `provider.request.json`, what the client got against
//! `openai.response.json` / `openai.stream.sse`.
//!
//! The providers keep their error cases in different shapes; [`FixtureCase`] reads them all into one:
//! - `provider.status` + `provider.response.json` (Cohere, Gemini), the client's side in `openai.status` +
//!   `openai.response.json`;
//! - `provider.error.json` as `{"status", "body"}` (Anthropic), the client's side in `openai.error.json`
//!   of the same shape;
//! - `provider.error.json` as the raw body with `error_status` and `error_type` (the `x-amzn-ErrorType`
//!   header) in `case.json` (Bedrock), the client's side in `openai.error.json` as the bare body;
//! - a stream that fails mid-way: `openai.stream.error.json` (`{"status", "message"}`), or Bedrock's
//!   `stream_error_status` in `case.json`.
//!
//! The fake decides stream or not from the request as the real provider does (Bedrock's and Gemini's
//! stream methods are in the path, Anthropic's and Cohere's in the body's `stream`), answers with the
//! fixture's bytes and the provider's headers, and records every request. A Vertex AI case also gets the
//! OAuth token endpoint of its service account at `POST /token`.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Recorded;

type ReplayBody = BoxBody<Bytes, Infallible>;

/// The upstream model of a Gemini case without `upstream_model.txt` (the Gemini golden test's default).
pub const GEMINI_DEFAULT_UPSTREAM: &str = "gemini-2.5-flash";
/// The access token the fake's `/token` endpoint hands out to a Vertex AI service account.
pub const VERTEX_ACCESS_TOKEN: &str = "ya29.replay-access-token";
/// The path of the fake's OAuth token endpoint (the `token_uri` of [`vertex_service_account`]).
pub const VERTEX_TOKEN_PATH: &str = "/token";
/// The service account's e-mail in [`vertex_service_account`].
pub const VERTEX_CLIENT_EMAIL: &str = "replay@tollgate-test.iam.gserviceaccount.com";
/// How long the fake pauses between two writes of a split body, so the gateway reads them as separate
/// chunks (pacing of the writes, not a wait for anything).
const WRITE_PAUSE: Duration = Duration::from_millis(1);

/// The provider API a fixture case speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Bedrock Runtime Converse (`/model/{id}/converse`), SigV4-signed, AWS eventstream.
    Bedrock,
    /// Cohere v2 (`/v2/chat`, `/v2/embed`).
    Cohere,
    /// Gemini API (`/v1beta/models/{m}:generateContent`).
    Gemini,
    /// Vertex AI's Gemini (`/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:...`), OAuth bearer.
    VertexAi,
}

impl Wire {
    /// The wire of a case in fixture folder `folder`: Gemini's folder holds the Vertex AI cases too, named
    /// `vertex_*`. `None` for a folder no replay knows yet.
    pub fn of(folder: &str, case: &str) -> Option<Wire> {
        Some(match folder {
            "anthropic" => Wire::Anthropic,
            "bedrock" => Wire::Bedrock,
            "cohere" => Wire::Cohere,
            "gemini" if case.starts_with("vertex") => Wire::VertexAi,
            "gemini" => Wire::Gemini,
            _ => return None,
        })
    }

    /// The provider prefix of `litellm_params.model`.
    pub fn litellm_prefix(self) -> &'static str {
        match self {
            Wire::Anthropic => "anthropic",
            Wire::Bedrock => "bedrock",
            Wire::Cohere => "cohere",
            Wire::Gemini => "gemini",
            Wire::VertexAi => "vertex_ai",
        }
    }

    /// The content type of the provider's stream.
    pub fn stream_content_type(self) -> &'static str {
        match self {
            Wire::Bedrock => "application/vnd.amazon.eventstream",
            Wire::Anthropic => "text/event-stream; charset=utf-8",
            Wire::Cohere | Wire::Gemini | Wire::VertexAi => "text/event-stream",
        }
    }

    /// The content type of the provider's JSON answers.
    fn json_content_type(self) -> &'static str {
        match self {
            Wire::Gemini | Wire::VertexAi => "application/json; charset=UTF-8",
            Wire::Anthropic | Wire::Bedrock | Wire::Cohere => "application/json",
        }
    }

    /// Whether `req` asks for a stream, read where this provider reads it.
    fn asks_for_stream(self, req: &Recorded) -> bool {
        let path = req.path_and_query.as_str();
        match self {
            Wire::Bedrock => path.contains("/converse-stream"),
            Wire::Gemini | Wire::VertexAi => path.contains(":streamGenerateContent"),
            Wire::Anthropic | Wire::Cohere => serde_json::from_slice::<Value>(&req.body)
                .is_ok_and(|body| body.get("stream").and_then(Value::as_bool) == Some(true)),
        }
    }
}

/// The root of the translators' fixtures.
pub fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("filters/tests/fixtures")
}

/// The provider folders that exist right now, sorted.
pub fn fixture_folders() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(fixture_root()) else {
        return Vec::new();
    };
    let mut folders: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    folders
}

/// An answer of the provider: status, body bytes, and the error type Bedrock puts in a header.
#[derive(Clone, Debug)]
pub struct ProviderAnswer {
    /// HTTP status.
    pub status: u16,
    /// The body exactly as the fixture has it.
    pub body: Bytes,
    /// Bedrock's `x-amzn-ErrorType` of an error answer.
    pub error_type: Option<String>,
}

/// How a fixture stream ends in a provider error: the status, and the message when the fixture gives it.
#[derive(Clone, Debug)]
pub struct StreamFailure {
    /// The status of the provider's error event.
    pub status: u16,
    /// Its message (Bedrock's fixtures name only the status).
    pub message: Option<String>,
}

/// One case folder of the fixtures.
#[derive(Clone, Debug)]
pub struct FixtureCase {
    /// The provider folder, e.g. `bedrock`.
    pub folder: String,
    /// The case folder, e.g. `streamed_tools`.
    pub name: String,
    /// Its path.
    pub dir: PathBuf,
    /// The provider API it speaks.
    pub wire: Wire,
}

impl FixtureCase {
    /// Every case of provider folder `folder`, sorted by name; empty when the folder does not exist.
    /// Panics for a folder whose wire no replay knows, so a new provider cannot go untested unnoticed.
    pub fn all_of(folder: &str) -> Vec<FixtureCase> {
        let root = fixture_root().join(folder);
        let Ok(entries) = std::fs::read_dir(&root) else {
            return Vec::new();
        };
        let mut cases: Vec<FixtureCase> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .map(|dir| {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let wire = Wire::of(folder, &name)
                    .unwrap_or_else(|| panic!("fixture folder {folder}/ speaks a provider API no replay knows"));
                FixtureCase { folder: folder.to_owned(), name, dir, wire }
            })
            .collect();
        cases.sort_by(|a, b| a.name.cmp(&b.name));
        cases
    }

    /// `provider/case`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.folder, self.name)
    }

    /// The bytes of file `name`, if the case has it.
    pub fn file(&self, name: &str) -> Option<Bytes> {
        std::fs::read(self.dir.join(name)).ok().map(Bytes::from)
    }

    /// File `name` as JSON, if the case has it (panics, naming the file, when it is not JSON).
    pub fn json(&self, name: &str) -> Option<Value> {
        self.file(name).map(|bytes| {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}/{name} is not JSON: {e}", self.label()))
        })
    }

    /// A small text file such as `provider.status`, trimmed.
    fn text(&self, name: &str) -> Option<String> {
        self.file(name).map(|b| String::from_utf8_lossy(&b).trim().to_owned())
    }

    /// `case.json`, or `null`.
    pub fn case_json(&self) -> Value {
        self.json("case.json").unwrap_or(Value::Null)
    }

    /// The client's request (`openai.request.json`), if the case has one.
    pub fn openai_request(&self) -> Option<Value> {
        self.json("openai.request.json")
    }

    /// The model group the client asks for, which every answer names.
    pub fn group(&self) -> String {
        let request = self.openai_request().unwrap_or(Value::Null);
        let Some(group) = request["model"].as_str() else {
            panic!("{}: openai.request.json has no string `model`", self.label());
        };
        group.to_owned()
    }

    /// Whether the client asks for embeddings (the request has `input`, or `case.json` says so).
    pub fn is_embeddings(&self) -> bool {
        let request = self.openai_request().unwrap_or(Value::Null);
        request.get("input").is_some() || self.case_json()["endpoint"] == "embeddings"
    }

    /// Whether the fixture's request asks for a stream.
    pub fn asks_for_stream(&self) -> bool {
        self.openai_request().is_some_and(|r| r["stream"] == Value::Bool(true))
    }

    /// The model the provider is asked for, as each golden test finds it: `case.json`'s `upstream_model`
    /// (Bedrock), `upstream_model.txt` (Gemini, else its default), the `model` of `provider.request.json`.
    pub fn upstream_model(&self) -> String {
        if let Some(model) = self.case_json()["upstream_model"].as_str() {
            return model.to_owned();
        }
        if let Some(model) = self.text("upstream_model.txt") {
            return model;
        }
        if matches!(self.wire, Wire::Gemini | Wire::VertexAi) {
            return GEMINI_DEFAULT_UPSTREAM.to_owned();
        }
        let request = self.json("provider.request.json").unwrap_or(Value::Null);
        let Some(model) = request["model"].as_str() else {
            panic!("{}: no upstream model in case.json, upstream_model.txt or provider.request.json", self.label());
        };
        model.to_owned()
    }

    /// The provider's stream (`provider.stream.sse` or Bedrock's `provider.stream.bin`).
    pub fn provider_stream(&self) -> Option<Bytes> {
        self.file("provider.stream.sse").or_else(|| self.file("provider.stream.bin"))
    }

    /// The provider's answer to a request that is not a stream: an error if the case has one, else
    /// `provider.response.json` with 200.
    pub fn provider_answer(&self) -> Option<ProviderAnswer> {
        if let Some(status) = self.text("provider.status") {
            let status = parse_status(&self.label(), "provider.status", &status);
            let body = self.file("provider.response.json")?;
            return Some(ProviderAnswer { status, body, error_type: None });
        }
        if let Some(raw) = self.file("provider.error.json") {
            let case = self.case_json();
            if let Some(status) = case["error_status"].as_u64() {
                let status = u16::try_from(status).unwrap_or(500);
                let error_type = case["error_type"].as_str().map(str::to_owned);
                return Some(ProviderAnswer { status, body: raw, error_type });
            }
            let wrapped = self.json("provider.error.json").unwrap_or(Value::Null);
            let status = wrapped["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or_else(|| {
                panic!("{}: provider.error.json has no `status` and case.json no `error_status`", self.label())
            });
            let body = Bytes::from(serde_json::to_vec(&wrapped["body"]).unwrap_or_default());
            return Some(ProviderAnswer { status, body, error_type: None });
        }
        let body = self.file("provider.response.json")?;
        Some(ProviderAnswer { status: 200, body, error_type: None })
    }

    /// What the client gets for a request that is not a stream: status and body.
    pub fn openai_answer(&self) -> Option<(u16, Value)> {
        if let Some(status) = self.text("openai.status") {
            let status = parse_status(&self.label(), "openai.status", &status);
            return Some((status, self.json("openai.response.json")?));
        }
        if let Some(error) = self.json("openai.error.json") {
            if let Some(status) = self.case_json()["error_status"].as_u64() {
                return Some((u16::try_from(status).unwrap_or(500), error));
            }
            let status = error["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or_else(|| {
                panic!("{}: openai.error.json has no `status` and case.json no `error_status`", self.label())
            });
            return Some((status, error["body"].clone()));
        }
        Some((200, self.json("openai.response.json")?))
    }

    /// The client's stream, `openai.stream.sse`.
    pub fn openai_stream(&self) -> Option<Bytes> {
        self.file("openai.stream.sse")
    }

    /// How the provider's stream fails mid-way, if it does.
    pub fn stream_failure(&self) -> Option<StreamFailure> {
        if let Some(error) = self.json("openai.stream.error.json") {
            let status = error["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or_else(|| {
                panic!("{}: openai.stream.error.json has no `status`", self.label());
            });
            return Some(StreamFailure { status, message: error["message"].as_str().map(str::to_owned) });
        }
        let status = self.case_json()["stream_error_status"].as_u64()?;
        Some(StreamFailure { status: u16::try_from(status).unwrap_or(500), message: None })
    }
}

fn parse_status(label: &str, file: &str, text: &str) -> u16 {
    text.parse().unwrap_or_else(|e| panic!("{label}/{file} is not a status ({e}): {text:?}"))
}

/// How the fake writes a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// In one write, with a `Content-Length`.
    Whole,
    /// In writes of this many bytes (chunked), paced so the gateway reads them apart: chunk boundaries
    /// fall inside events, inside `data:` lines, inside eventstream preludes and UTF-8 sequences.
    Every(usize),
}

/// State shared by the fake's tasks and the test.
struct Shared {
    case: FixtureCase,
    writes: Mutex<Writes>,
    requests: Mutex<Vec<Recorded>>,
}

/// A fake provider that replays one fixture case, on 127.0.0.1 and a free port.
pub struct ReplayProvider {
    port: u16,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

impl ReplayProvider {
    /// Starts a fake that answers every request as `case`'s provider did.
    pub async fn start(case: &FixtureCase) -> ReplayProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the replay provider");
        let port = listener.local_addr().expect("replay provider address").port();
        let shared = Arc::new(Shared {
            case: case.clone(),
            writes: Mutex::new(Writes::Whole),
            requests: Mutex::new(Vec::new()),
        });
        let accept_loop = tokio::spawn(accept(listener, shared.clone()));
        ReplayProvider { port, shared, accept_loop }
    }

    /// `http://127.0.0.1:PORT`, the `api_base` of the case's deployment.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Changes how bodies are written from the next request on.
    pub fn set_writes(&self, writes: Writes) {
        *self.shared.writes.lock().expect("writes lock") = writes;
    }

    /// Every request received so far, the Vertex AI token requests included.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// The requests to the provider's API (every request but the token endpoint's).
    pub fn api_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path_and_query != VERTEX_TOKEN_PATH).collect()
    }

    /// The requests to the OAuth token endpoint.
    pub fn token_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path_and_query == VERTEX_TOKEN_PATH).collect()
    }
}

impl Drop for ReplayProvider {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    // Bounded by the fake's life: the task is aborted when the ReplayProvider drops.
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| answer(shared.clone(), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn answer(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<ReplayBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(reply(400, "text/plain", &[], Bytes::from(format!("unreadable body: {e}")), Writes::Whole))
        }
    };
    let recorded = Recorded {
        method: parts.method.to_string(),
        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
    };
    shared.requests.lock().expect("requests lock").push(recorded.clone());
    let writes = *shared.writes.lock().expect("writes lock");
    Ok(replay(&shared.case, &recorded, writes))
}

/// The fixture's answer to `req`.
fn replay(case: &FixtureCase, req: &Recorded, writes: Writes) -> Response<ReplayBody> {
    let wire = case.wire;
    if wire == Wire::VertexAi && req.path_and_query == VERTEX_TOKEN_PATH {
        let token = json!({"access_token": VERTEX_ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"});
        return reply(200, "application/json", &[], Bytes::from(token.to_string()), Writes::Whole);
    }
    let request_id = [("x-amzn-requestid", "4c1b6a9e-0d1f-4b7e-9a51-replay".to_owned())];
    let bedrock_headers: &[(&str, String)] = if wire == Wire::Bedrock { &request_id } else { &[] };
    if wire.asks_for_stream(req) {
        let Some(stream) = case.provider_stream() else {
            return missing(case, "a stream was asked for and the case has no provider.stream.*");
        };
        let mut headers = bedrock_headers.to_vec();
        headers.push(("cache-control", "no-cache".to_owned()));
        return reply(200, wire.stream_content_type(), &headers, stream, writes);
    }
    let Some(answer) = case.provider_answer() else {
        return missing(case, "an answer was asked for and the case has no provider.response.json or error");
    };
    let mut headers = bedrock_headers.to_vec();
    if let Some(error_type) = answer.error_type {
        headers.push(("x-amzn-errortype", error_type));
    }
    if wire == Wire::Anthropic {
        headers.push(("request-id", "req_replay_01".to_owned()));
    }
    reply(answer.status, wire.json_content_type(), &headers, answer.body, writes)
}

/// A 501 naming what the fixture lacks, so the test's failure says it.
fn missing(case: &FixtureCase, what: &str) -> Response<ReplayBody> {
    let text = format!("replay of {}: {what}", case.label());
    reply(501, "text/plain", &[], Bytes::from(text), Writes::Whole)
}

fn reply(
    status: u16,
    content_type: &str,
    headers: &[(&str, String)],
    body: Bytes,
    writes: Writes,
) -> Response<ReplayBody> {
    let length = body.len();
    let mut resp = match writes {
        Writes::Every(n) if n > 0 && length > n => Response::new(paced(body, n)),
        _ => Response::new(Full::new(body).boxed()),
    };
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_str(content_type).expect("content type"));
    h.insert(hyper::header::DATE, HeaderValue::from_static("Wed, 25 Nov 2026 09:00:00 GMT"));
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("header name");
        h.insert(name, HeaderValue::from_str(value).expect("header value"));
    }
    resp
}

/// `body` in writes of `n` bytes, each after a short pause.
fn paced(body: Bytes, n: usize) -> ReplayBody {
    let pieces: Vec<Bytes> = (0..body.len()).step_by(n).map(|at| body.slice(at..(at + n).min(body.len()))).collect();
    let frames = futures_util::stream::unfold(pieces.into_iter(), |mut pieces| async move {
        let piece = pieces.next()?;
        tokio::time::sleep(WRITE_PAUSE).await;
        Some((Ok::<_, Infallible>(Frame::data(piece)), pieces))
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// A Vertex AI service-account key whose `token_uri` is `origin`'s `/token`. The RSA key is the test key
/// of `src/upstream/vertex.rs`'s unit tests, made for tests only; [`VERTEX_TEST_PUBLIC_KEY`] verifies it.
pub fn vertex_service_account(origin: &str, project: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": project,
        "private_key_id": "replay-key-1",
        "private_key": VERTEX_TEST_PRIVATE_KEY,
        "client_email": VERTEX_CLIENT_EMAIL,
        "token_uri": format!("{origin}{VERTEX_TOKEN_PATH}"),
    })
    .to_string()
}

/// The test-only RSA key of the Vertex AI service account (from `src/upstream/vertex.rs`'s tests).
const VERTEX_TEST_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCn23uY07JGjxJ0\nQJrt2TJ5L5n1TAPpIz07o6fgprfYSGjWCCs2WJwN/gB03K4S27O1PaYak5+GCOB0\nq5hg33hSh5TYc02L15YYL0kPOTgkI3+upG/V0oS5MWx9nGC9GN0nhWzRkk6p2Yc5\nTS7qbYVlXfdbcT74xq3u0vnGoOoMO1w4+SxvFSNzmUWlKTA1Sk6cBkNPqssEb+ew\ncaQApRyK5HCSu62/u2VCnziVXDEJaDTpbkNwjFHpr1IVRbTVe1EoRVE8d+ovUz9B\nVrEKhy2Y2KhFmvYPXPjRm6coNNYWzA6YXJDd4l2ppBKCEmbsEWWZ43eIxaCw2QUY\nmDRwP0QLAgMBAAECggEAChpXO5EOS1nkIfQbfxJSC+I2EYIEQD17O4Izof1W1mEx\nUiSGuUwnBF6T13TK016+17tAqpvU/6O8IrmLP9VjcBAyAL8b3T1aDtWVv6FRhDdQ\nwYmrI4L6swzK+1p0phz/fpf0vz5flrB9h5DiMIDsBPhdYXcU87M9l8DCANcBjz/Q\nZsI9mJ0Kym8+FKTjOBn5jaNWeoLkga5bsV5sqPLepAYnJMGRxsxNDUR5BZcfKIhw\nRPfnWN6PG6Z14wcwNLtrsEHa1+1Oc4vTKmzlzbPWSGyvk9IGDNJ2adTRBKDMCI4M\nlli+sb7Mk1y6ESzxCNuow29XxYc6PtAS43lNgDsd5QKBgQDZzHx3F9hrDtLxqL2Y\nuvpwwQni9oTy01gTUnT4BLEjVj08Hbn+iREXUDaAG15eL5Jt44XXO5D19k/YOXqs\ng+MNdNhU1vlrLtxwshDVWYoeVaqNUENmUxpvw6PU3xH2E3U0OJ/pEa66kDQxvjpM\nq1IJa3n/UAosLej5sjIFG2to7QKBgQDFTIwAePn58dVy6yBZNNsZwFGdl3XuOIAi\nAX8FyEICsCPFQYbTXyh7FKzITuNkm33qPNW+SdIuaM5S2qcHrMWR9ZbGenJ/Vfwp\n5A+vENZhP0nAtr0r7a5JkBQguLZRiJtpQlkQIDdALjfO/RX4tl34EPC1dq4JEOtT\ngFjRKJcZ1wKBgHWGZlNNRrbeVO2aBFT58FIPmGokZDEz4f7rK7r5rSxISNq7n7W9\n+L7/xajzG8TvHrC1aW9u8RYIR6WBvrSApnCIcIO3TPeNXd5h97toiaM8zr9aZEQ+\n67ELfMhNZr/GWCRJueBmbka1sbR11bexap8yo64lXpfgXir/AQbIePkxAoGABjqN\nbPJkyexFldQweEB/7kcxDG2croGgIfK0JOWWl+khp/eSnxew+nnDnqtG6IU0K3Hy\nOYixFv/+C4WVoltk/V+oe+mftb9sL5JgoGFCs11BIdFjFYDycKYYzJOoRdivN1p9\n31F1DRSodGNvDyQKwWsffksZ4XVkSIWTyD6kzo8CgYEAzpOCn7PGLT5rBeT+z85K\ntWolBcBRCHDaDEPxsa9rnmU2wlDiTKhhrGZBW/7CknXMt8PT3ld2V5d0VdCqqWGh\nIaEeAalWdDjZwuldQ710rTjY0Y3ZDhFH+mJafIFqjCs2OU+7o/AMAvL66daj7tjj\nr/SpByNCjBByBHJNHUI7src=\n-----END PRIVATE KEY-----";

/// The public half of the service account's test key, to verify the assertion the gateway signs.
pub const VERTEX_TEST_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAp9t7mNOyRo8SdECa7dky\neS+Z9UwD6SM9O6On4Ka32Eho1ggrNlicDf4AdNyuEtuztT2mGpOfhgjgdKuYYN94\nUoeU2HNNi9eWGC9JDzk4JCN/rqRv1dKEuTFsfZxgvRjdJ4Vs0ZJOqdmHOU0u6m2F\nZV33W3E++Mat7tL5xqDqDDtcOPksbxUjc5lFpSkwNUpOnAZDT6rLBG/nsHGkAKUc\niuRwkrutv7tlQp84lVwxCWg06W5DcIxR6a9SFUW01XtRKEVRPHfqL1M/QVaxCoct\nmNioRZr2D1z40ZunKDTWFswOmFyQ3eJdqaQSghJm7BFlmeN3iMWgsNkFGJg0cD9E\nCwIDAQAB\n-----END PUBLIC KEY-----";

/// A SigV4 `Authorization` header's parts.
#[derive(Debug, PartialEq, Eq)]
pub struct SigV4Header {
    /// The access key id of the credential.
    pub key_id: String,
    /// `YYYYMMDD/region/service/aws4_request`.
    pub scope: String,
    /// The signed header names, as listed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

impl SigV4Header {
    /// Parses `AWS4-HMAC-SHA256 Credential=KEY/SCOPE, SignedHeaders=a;b, Signature=hex`.
    pub fn parse(value: &str) -> Result<SigV4Header, String> {
        let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
            return Err(format!("not an AWS4-HMAC-SHA256 authorization: {value}"));
        };
        let field = |name: &str| {
            rest.split(',')
                .map(str::trim)
                .find_map(|part| part.strip_prefix(name).and_then(|p| p.strip_prefix('=')))
                .map(str::to_owned)
                .ok_or_else(|| format!("no {name} in {value}"))
        };
        let credential = field("Credential")?;
        let Some((key_id, scope)) = credential.split_once('/') else {
            return Err(format!("Credential has no scope: {credential}"));
        };
        Ok(SigV4Header {
            key_id: key_id.to_owned(),
            scope: scope.to_owned(),
            signed_headers: field("SignedHeaders")?.split(';').map(str::to_owned).collect(),
            signature: field("Signature")?,
        })
    }
}

/// Checks the SigV4 signature of a request as the provider received it: the signature is computed again
/// (smithy-rs `aws-sigv4`) over the method, `http://{host}{path}`, the signed headers' received values and
/// the received body, at the request's `x-amz-date`; `Err` says what differs.
pub fn verify_sigv4(req: &Recorded, key_id: &str, secret: &str, region: &str, service: &str) -> Result<(), String> {
    let auth = req.header("authorization").ok_or("no authorization header")?;
    let header = SigV4Header::parse(auth)?;
    let amz_date = req.header("x-amz-date").ok_or("no x-amz-date header")?;
    let time = parse_amz_date(amz_date)?;
    let host = req.header("host").ok_or("no host header")?;
    let url = format!("http://{host}{}", req.path_and_query);
    // x-amz-date is added by the signer itself from `time`.
    let mut signed = Vec::new();
    for name in header.signed_headers.iter().filter(|n| *n != "x-amz-date") {
        let value = req.header(name).ok_or_else(|| format!("signed header {name} was not received"))?;
        signed.push((name.as_str(), value));
    }
    let identity = aws_credential_types::Credentials::new(key_id, secret, None, None, "replay").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .map_err(|e| format!("SigV4 parameters: {e}"))?
        .into();
    let signable = aws_sigv4::http_request::SignableRequest::new(
        &req.method,
        &url,
        signed.iter().copied(),
        aws_sigv4::http_request::SignableBody::Bytes(&req.body),
    )
    .map_err(|e| format!("SigV4 request: {e}"))?;
    let (instructions, signature) =
        aws_sigv4::http_request::sign(signable, &params).map_err(|e| format!("SigV4: {e}"))?.into_parts();
    let (added, _) = instructions.into_parts();
    let expected = added
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case("authorization"))
        .map(|h| SigV4Header::parse(h.value()))
        .transpose()?;
    match expected {
        Some(expected) if expected == header => Ok(()),
        Some(expected) => Err(format!(
            "the signature does not match the request as received: got {header:?}, a signer computes {expected:?} \
             (signature {signature})"
        )),
        None => Err("the signer added no authorization header".to_owned()),
    }
}

/// `20261125T093418Z` (SigV4's `x-amz-date`) as a time.
pub fn parse_amz_date(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("x-amz-date is not YYYYMMDDTHHMMSSZ: {text}");
    let digits = |range: std::ops::Range<usize>| -> Result<i64, String> {
        text.get(range).and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad)
    };
    if text.len() != 16 || text.as_bytes()[8] != b'T' || !text.ends_with('Z') {
        return Err(bad());
    }
    let (y, m, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hh, mm, ss) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).map_err(|_| bad())?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}
