//! The fake streaming OpenAI upstream of the bursts bench: a hyper HTTP/1.1 server on 127.0.0.1
//! that answers every `POST /v1/chat/completions` carrying the upstream key with an SSE stream of
//! [`EVENTS`] `chat.completion.chunk` events and `data: [DONE]`, one event every `event_gap`, so
//! that a burst's streams are all open at once. It counts the streams open now and the most that
//! were open together, so the bench can show that a burst was really concurrent.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Runtime;

/// The key the gateway's deployment sends upstream.
pub const UPSTREAM_KEY: &str = "sk-upstream";

/// Events of one stream before `[DONE]`: a role, ten content deltas, a finish reason, the usage.
pub const EVENTS: usize = 13;

/// The accept queue: a burst connects thousands of sockets at once, far over the default 128.
const BACKLOG: u32 = 4096;

/// The `index`-th event of a stream, as an SSE `data:` line and blank line.
fn event(index: usize) -> Bytes {
    const HEAD: &str = r#"data: {"id":"chatcmpl-burst000000000000000000001","object":"chat.completion.chunk","created":1732500000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_bench0001","choices":["#;
    let body = match index {
        0 => {
            r#"{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#.to_owned()
        }
        i if i < EVENTS - 2 => format!(
            r#"{{"index":0,"delta":{{"content":"word{i} of a streamed answer "}},"logprobs":null,"finish_reason":null}}]}}"#
        ),
        i if i == EVENTS - 2 => r#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#.to_owned(),
        _ => r#"],"usage":{"prompt_tokens":41,"completion_tokens":50,"total_tokens":91}}"#.to_owned(),
    };
    Bytes::from(format!("{HEAD}{body}\n\n"))
}

/// Streams open now and the most open together since [`FakeStreamer::reset_peak`].
#[derive(Default)]
struct Gauge {
    open: AtomicU64,
    peak: AtomicU64,
    finished: AtomicU64,
}

/// Counts one open stream until dropped.
struct Open(Arc<Gauge>);

impl Open {
    fn new(gauge: Arc<Gauge>) -> Self {
        let now = gauge.open.fetch_add(1, Ordering::Relaxed) + 1;
        gauge.peak.fetch_max(now, Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running fake upstream; stops when dropped.
pub struct FakeStreamer {
    addr: SocketAddr,
    gauge: Arc<Gauge>,
    runtime: Option<Runtime>,
}

impl FakeStreamer {
    /// Binds a free port of 127.0.0.1 and serves on a one-thread runtime, one event every `event_gap`.
    pub fn start(event_gap: Duration) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-streamer")
            .enable_all()
            .build()?;
        let listener = {
            let _context = runtime.enter();
            let socket = TcpSocket::new_v4()?;
            socket.bind((Ipv4Addr::LOCALHOST, 0).into())?;
            socket.listen(BACKLOG)?
        };
        let addr = listener.local_addr()?;
        let gauge = Arc::new(Gauge::default());
        runtime.spawn(accept_loop(listener, Arc::clone(&gauge), event_gap));
        Ok(Self { addr, gauge, runtime: Some(runtime) })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Streams sent to the end so far.
    pub fn finished(&self) -> u64 {
        self.gauge.finished.load(Ordering::Relaxed)
    }

    /// The most streams open together since the last call; starts the next count from those open now.
    pub fn take_peak(&self) -> u64 {
        self.gauge.peak.swap(self.gauge.open.load(Ordering::Relaxed), Ordering::Relaxed)
    }
}

impl Drop for FakeStreamer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, gauge: Arc<Gauge>, event_gap: Duration) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, Arc::clone(&gauge), event_gap));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve(stream: TcpStream, gauge: Arc<Gauge>, event_gap: Duration) {
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let service = service_fn(move |request| answer(request, Arc::clone(&gauge), event_gap));
    let _closed = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

type Body = Either<Full<Bytes>, StreamBody<futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>>>;

async fn answer(
    request: Request<Incoming>,
    gauge: Arc<Gauge>,
    event_gap: Duration,
) -> Result<Response<Body>, Infallible> {
    let routed = request.method() == Method::POST && request.uri().path() == "/v1/chat/completions";
    let authorized = request
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().strip_prefix(b"Bearer ") == Some(UPSTREAM_KEY.as_bytes()));
    let streamed = request
        .into_body()
        .collect()
        .await
        .ok()
        .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body.to_bytes()).ok())
        .is_some_and(|json| json["stream"] == serde_json::Value::Bool(true));
    if !(routed && authorized && streamed) {
        let mut response = Response::new(Either::Left(Full::new(Bytes::from_static(
            br#"{"error":{"message":"fake streamer: only authorized streaming POST /v1/chat/completions","type":"invalid_request_error","param":null,"code":"bad_request"}}"#,
        ))));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(response);
    }
    // The first event goes at once (the gateway commits a stream on its first event); the rest
    // one `event_gap` apart; `[DONE]` ends it. The guard counts the stream open until the body
    // is dropped, sent to the end or cut.
    let open = Open::new(gauge);
    let frames = futures_util::stream::unfold((0usize, open), move |(index, open)| async move {
        if index > EVENTS {
            open.0.finished.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if index > 0 {
            tokio::time::sleep(event_gap).await;
        }
        let data = if index == EVENTS { Bytes::from_static(b"data: [DONE]\n\n") } else { event(index) };
        Some((Ok(Frame::data(data)), (index + 1, open)))
    });
    let mut response = Response::new(Either::Right(StreamBody::new(futures_util::StreamExt::boxed(frames))));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    Ok(response)
}
