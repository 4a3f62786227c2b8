//! A scriptable OpenAI-compatible provider on a free port: it answers each request with the
//! current [`Reply`], records every request (method, path and query, headers, body bytes), counts
//! the TCP connections it accepted, timestamps the SSE events it sends and notices when a stream's
//! write fails because the other side went away.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

type FakeBody = BoxBody<Bytes, std::io::Error>;

/// What the fake answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// An OpenAI-shaped success that echoes the request, chosen by path: chat completions answer
    /// `echo: <last user message text>`, completions `echo: <prompt>`, embeddings one vector.
    Echo,
    /// This status and JSON body.
    Status(u16, Value),
    /// Waits this long, then answers as the inner reply (the delay comes before the headers).
    Delay(Duration, Box<Reply>),
    /// `text/event-stream` of `events` chat.completion.chunk events, one every `interval`,
    /// content `tok{i} `, then `data: [DONE]`.
    SseDrip { events: usize, interval: Duration },
    /// A 200 with a `Content-Length` of 4096 whose body stops after a few bytes: the connection
    /// is closed mid-body.
    CloseMidBody,
    /// The first `count` requests this fake receives get `first`, every later one `then` (a
    /// provider that fails a few calls and recovers, without the test racing to switch replies).
    FirstThen { count: usize, first: Box<Reply>, then: Box<Reply> },
    /// The inner reply with one more response header, e.g. `Retry-After`.
    WithHeader(&'static str, String, Box<Reply>),
    /// This status, `Content-Type` and body as they are: a broken provider's garbage.
    Raw { status: u16, content_type: &'static str, body: &'static str },
    /// `text/event-stream` that stops after `events` chunk events and `partial` bytes of the next one,
    /// without a `finish_reason` or `[DONE]`: a stream cut short (0 events: cut before its first).
    SseCut { events: usize, partial: &'static str },
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path and query, e.g. `/v1/chat/completions` or `/openai/...?api-version=...`.
    pub path_and_query: String,
    /// Header names (lower case) and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body bytes exactly as received.
    pub body: Bytes,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "provider got a non-JSON body ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(400)])
            )
        })
    }
}

/// State shared between the fake's tasks and the test.
struct Shared {
    reply: Mutex<Reply>,
    requests: Mutex<Vec<Recorded>>,
    connections: AtomicUsize,
    /// When each SSE event was handed to the connection, in order, over all streams.
    sent_events: Mutex<Vec<Instant>>,
    /// Streams whose write failed because the peer went away.
    stream_aborts: watch::Sender<usize>,
    /// Streams that sent everything including `[DONE]`.
    streams_completed: AtomicUsize,
}

/// A fake OpenAI-compatible provider listening on 127.0.0.1 and a free port.
pub struct FakeProvider {
    port: u16,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

impl FakeProvider {
    /// Starts a fake that answers every request with `reply`.
    pub async fn start(reply: Reply) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let port = listener.local_addr().expect("fake addr").port();
        let (stream_aborts, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            reply: Mutex::new(reply),
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            sent_events: Mutex::new(Vec::new()),
            stream_aborts,
            streams_completed: AtomicUsize::new(0),
        });
        let accept_loop = tokio::spawn(accept(listener, shared.clone()));
        FakeProvider { port, shared, accept_loop }
    }

    /// `http://127.0.0.1:PORT/v1`, the `api_base` of an OpenAI-compatible deployment.
    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// `http://127.0.0.1:PORT`, the `api_base` of an Azure deployment.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Changes what the fake answers from now on.
    pub fn set_reply(&self, reply: Reply) {
        *self.shared.reply.lock().expect("reply lock") = reply;
    }

    /// How many requests the fake has received so far.
    pub fn hits(&self) -> usize {
        self.shared.requests.lock().expect("requests lock").len()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// The only request received so far (panics if there were none or several).
    pub fn only_request(&self) -> Recorded {
        let reqs = self.requests();
        assert_eq!(
            reqs.len(),
            1,
            "expected exactly one request at the provider, got {}: {:?}",
            reqs.len(),
            reqs.iter().map(|r| &r.path_and_query).collect::<Vec<_>>()
        );
        reqs.into_iter().next().expect("one request")
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// When each SSE event was handed to the connection.
    pub fn sent_event_times(&self) -> Vec<Instant> {
        self.shared.sent_events.lock().expect("events lock").clone()
    }

    /// Streams that ran to `[DONE]`.
    pub fn streams_completed(&self) -> usize {
        self.shared.streams_completed.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for a stream write to fail because the peer closed; true if one did.
    pub async fn wait_for_stream_abort(&self, limit: Duration) -> bool {
        let mut rx = self.shared.stream_aborts.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|n| *n > 0)).await.is_ok_and(|r| r.is_ok())
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    // Bounded by the fake's life: the task is aborted when the FakeProvider drops.
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| answer(shared.clone(), req));
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn answer(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<FakeBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(plain(400, format!("fake could not read the body: {e}"))),
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
    // The position of this request among all the fake received, counted under the same lock.
    let index = {
        let mut requests = shared.requests.lock().expect("requests lock");
        requests.push(recorded.clone());
        requests.len() - 1
    };
    let reply = shared.reply.lock().expect("reply lock").clone();
    Ok(respond(shared, reply, &recorded, index).await)
}

async fn respond(shared: Arc<Shared>, mut reply: Reply, req: &Recorded, index: usize) -> Response<FakeBody> {
    // Unwrap the wrappers iteratively: a Delay holds the headers back, whatever it wraps.
    let mut extra_headers = Vec::new();
    let reply = loop {
        reply = match reply {
            Reply::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                *inner
            }
            Reply::FirstThen { count, first, then } => {
                if index < count {
                    *first
                } else {
                    *then
                }
            }
            Reply::WithHeader(name, value, inner) => {
                extra_headers.push((name, value));
                *inner
            }
            done => break done,
        };
    };
    let mut resp = match reply {
        Reply::Echo => json_response(200, &echo(req)),
        Reply::Status(code, body) => json_response(code, &body),
        Reply::SseDrip { events, interval } => drip(shared, req, events, interval),
        Reply::CloseMidBody => close_mid_body(),
        Reply::Raw { status, content_type, body } => {
            let mut resp = plain(status, body.to_string());
            let value = hyper::header::HeaderValue::from_static(content_type);
            resp.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
            resp
        }
        Reply::SseCut { events, partial } => {
            let model = model_of(req);
            // n = events + 1: none of the events sent is the last, which carries the finish_reason.
            let mut text: String = (0..events).map(|i| drip_event(&model, i, events + 1)).collect();
            text.push_str(partial);
            let mut resp = Response::new(full(Bytes::from(text)));
            let value = hyper::header::HeaderValue::from_static("text/event-stream");
            resp.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
            resp
        }
        Reply::Delay(..) | Reply::FirstThen { .. } | Reply::WithHeader(..) => {
            plain(500, "unreachable: wrappers are unwrapped above".into())
        }
    };
    for (name, value) in extra_headers {
        let value = hyper::header::HeaderValue::from_str(&value).expect("header value");
        resp.headers_mut().insert(name, value);
    }
    resp
}

fn model_of(req: &Recorded) -> Value {
    serde_json::from_slice::<Value>(&req.body).ok().and_then(|v| v.get("model").cloned()).unwrap_or(Value::Null)
}

/// Text of the last user message: a string, or the text parts of a content array joined.
fn last_user_text(body: &Value) -> String {
    let Some(messages) = body.get("messages").and_then(|m| m.as_array()) else {
        return String::new();
    };
    let Some(last) = messages.iter().rev().find(|m| m.get("role").and_then(|r| r.as_str()) == Some("user")) else {
        return String::new();
    };
    match last.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(|t| t.as_str())).collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    }
}

fn echo(req: &Recorded) -> Value {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let model = model_of(req);
    let path = req.path_and_query.split('?').next().unwrap_or_default();
    let usage = json!({"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10});
    if path.ends_with("/embeddings") {
        return json!({
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 0.125]}],
            "model": model,
            "usage": {"prompt_tokens": 7, "total_tokens": 7},
        });
    }
    if path.ends_with("/chat/completions") {
        return json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": format!("echo: {}", last_user_text(&body))},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": usage,
        });
    }
    if path.ends_with("/completions") {
        let prompt = match body.get("prompt") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        return json!({
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"text": format!("echo: {prompt}"), "index": 0, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        });
    }
    json!({"error": {"message": format!("fake has no route {path}"), "type": "invalid_request_error", "param": null, "code": null}})
}

fn json_response(code: u16, body: &Value) -> Response<FakeBody> {
    let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    resp
}

fn plain(code: u16, text: String) -> Response<FakeBody> {
    let mut resp = Response::new(full(Bytes::from(text)));
    *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp
}

fn full(bytes: Bytes) -> FakeBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// The chat.completion.chunk event the drip sends as number `i` of `n`.
pub fn drip_event(model: &Value, i: usize, n: usize) -> String {
    let mut delta = json!({"content": format!("tok{i} ")});
    if i == 0 {
        delta["role"] = json!("assistant");
    }
    let finish = if i + 1 == n { json!("stop") } else { Value::Null };
    let chunk = json!({
        "id": "chatcmpl-drip",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}

fn drip(shared: Arc<Shared>, req: &Recorded, events: usize, interval: Duration) -> Response<FakeBody> {
    // Capacity 1: a send completes only once the previous frame was taken by the connection,
    // and fails once hyper dropped the body because the peer went away.
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    let model = model_of(req);
    // As OpenAI does: a last chunk with `choices: []` and the usage, when the request asked for it.
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let usage_chunk = (body["stream_options"]["include_usage"] == json!(true)).then(|| {
        let n = u64::try_from(events).unwrap_or(u64::MAX);
        let chunk = json!({
            "id": "chatcmpl-drip",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [],
            "usage": {"prompt_tokens": 7, "completion_tokens": n, "total_tokens": 7 + n},
        });
        format!("data: {chunk}\n\n")
    });
    tokio::spawn(async move {
        for i in 0..events {
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            let at = Instant::now();
            let frame = Frame::data(Bytes::from(drip_event(&model, i, events)));
            if tx.send(Ok(frame)).await.is_err() {
                shared.stream_aborts.send_modify(|n| *n += 1);
                return;
            }
            shared.sent_events.lock().expect("events lock").push(at);
        }
        if let Some(chunk) = usage_chunk {
            if tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.is_err() {
                shared.stream_aborts.send_modify(|n| *n += 1);
                return;
            }
        }
        if tx.send(Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n")))).await.is_err() {
            shared.stream_aborts.send_modify(|n| *n += 1);
            return;
        }
        shared.streams_completed.fetch_add(1, Ordering::SeqCst);
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|frame| (frame, rx)) });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let headers = resp.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/event-stream"));
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-cache"));
    resp
}

fn close_mid_body() -> Response<FakeBody> {
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
        Ok(Frame::data(Bytes::from_static(
            b"{\"id\":\"chatcmpl-cut\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,",
        ))),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "fake closes mid-body")),
    ];
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames))));
    let headers = resp.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    headers.insert(hyper::header::CONTENT_LENGTH, hyper::header::HeaderValue::from_static("4096"));
    resp
}
