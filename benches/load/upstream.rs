//! The fake OpenAI upstream: a hyper HTTP/1.1 server on 127.0.0.1 that answers every
//! `POST /v1/chat/completions` carrying the upstream key with one fixed `chat.completion`.
//!
//! It runs on its own one-thread runtime so that its cost is the same, and small, whether the
//! client talks to it directly or through the gateway. It reads each request body to the end
//! (as a real provider would) and counts the completions it served, so the bench can check
//! that the gateway really forwarded every request.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// The key the gateway's deployment sends upstream; the direct client sends it too.
pub const UPSTREAM_KEY: &str = "sk-upstream";

/// The answer to every chat request: a typical short non-streaming completion (~440 bytes).
pub const COMPLETION: &[u8] = br#"{"id":"chatcmpl-bench0000000000000000000001","object":"chat.completion","created":1732500000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"A gateway sits on the path of every request, so each microsecond it adds is paid by every call that goes through it.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":41,"completion_tokens":24,"total_tokens":65},"system_fingerprint":"fp_bench0001"}"#;

const UNAUTHORIZED: &[u8] =
    br#"{"error":{"message":"fake upstream: wrong API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
const UNREADABLE: &[u8] =
    br#"{"error":{"message":"fake upstream: request body broken off","type":"invalid_request_error","param":null,"code":"bad_request"}}"#;
const NOT_FOUND: &[u8] =
    br#"{"error":{"message":"fake upstream: only POST /v1/chat/completions","type":"invalid_request_error","param":null,"code":"not_found"}}"#;

/// A running fake upstream; stops when dropped.
pub struct FakeUpstream {
    addr: SocketAddr,
    completions: Arc<AtomicU64>,
    runtime: Option<Runtime>,
}

impl FakeUpstream {
    /// Binds a free port of 127.0.0.1 and starts serving on a one-thread runtime.
    pub fn start() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-upstream")
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let completions = Arc::new(AtomicU64::new(0));
        runtime.spawn(accept_loop(listener, Arc::clone(&completions)));
        Ok(Self { addr, completions, runtime: Some(runtime) })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many completions it has answered with 200 so far.
    pub fn completions(&self) -> u64 {
        self.completions.load(Ordering::Relaxed)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        // Not a blocking shutdown: the bench may drop this from inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept_loop(listener: TcpListener, completions: Arc<AtomicU64>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, Arc::clone(&completions)));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve(stream: TcpStream, completions: Arc<AtomicU64>) {
    // Small responses must not wait for Nagle's algorithm.
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let service = service_fn(move |request| answer(request, Arc::clone(&completions)));
    // A connection ends when its client closes it; nothing to report either way.
    let _closed = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn answer(request: Request<Incoming>, completions: Arc<AtomicU64>) -> Result<Response<Full<Bytes>>, Infallible> {
    let routed = request.method() == Method::POST && request.uri().path() == "/v1/chat/completions";
    let authorized = request
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().strip_prefix(b"Bearer ") == Some(UPSTREAM_KEY.as_bytes()));
    let body_read = request.into_body().collect().await.is_ok();
    let (status, body) = if !routed {
        (StatusCode::NOT_FOUND, NOT_FOUND)
    } else if !authorized {
        (StatusCode::UNAUTHORIZED, UNAUTHORIZED)
    } else if !body_read {
        (StatusCode::BAD_REQUEST, UNREADABLE)
    } else {
        completions.fetch_add(1, Ordering::Relaxed);
        (StatusCode::OK, COMPLETION)
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    Ok(response)
}
