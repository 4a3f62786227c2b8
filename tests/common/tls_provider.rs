//! A fake OpenAI-compatible provider behind TLS, as a real provider's edge is: a certificate for
//! the name `localhost` issued by a CA made at test time (its PEM written to a file a gateway can
//! trust through `SSL_CERT_FILE`), ALPN `h2` then `http/1.1`, HTTP/1.1 and HTTP/2 both served.
//!
//! It records what each layer saw — per TLS connection the SNI and the negotiated ALPN, per request
//! the HTTP version, the `:authority`/`Host`, path, headers and body — counts the TLS connections it
//! completed, and keeps the handshakes it refused (with the SNI offered and the reason), so a test
//! can tell "not verified" from "never reached".

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::Acceptor;
use rustls::ServerConfig;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::LazyConfigAcceptor;

use super::fake_provider::drip_event;
use super::Recorded;

type TlsBody = BoxBody<Bytes, std::io::Error>;

/// How long a client gets to finish its TLS handshake before the fake gives up on it.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// One request as the TLS fake received it, with what its connection negotiated.
#[derive(Clone, Debug)]
pub struct TlsRecorded {
    /// Which TLS connection carried it: 1 for the first the fake completed, 2 for the next, ...
    pub connection: usize,
    /// The server name the client sent in its ClientHello (SNI), as the handshake saw it.
    pub sni: Option<String>,
    /// The ALPN protocol the handshake settled on (`h2`, `http/1.1`), if any.
    pub alpn: Option<String>,
    /// The HTTP version the request arrived in.
    pub version: hyper::Version,
    /// `:authority` for HTTP/2 (the URI's authority), else the `Host` header.
    pub authority: Option<String>,
    /// Method, path, headers and body.
    pub request: Recorded,
}

/// A TLS handshake the fake did not complete.
#[derive(Clone, Debug)]
pub struct RefusedHandshake {
    /// The SNI of the ClientHello, if the hello arrived.
    pub sni: Option<String>,
    /// Why it failed, as rustls put it (e.g. an `UnknownCA` alert from the client).
    pub reason: String,
}

/// State shared between the fake's tasks and the test.
struct Shared {
    requests: Mutex<Vec<TlsRecorded>>,
    /// TLS connections whose handshake completed.
    handshakes: AtomicUsize,
    refused: watch::Sender<Vec<RefusedHandshake>>,
    /// Delay before each answer's headers, in milliseconds, so concurrent calls overlap.
    delay_ms: AtomicU64,
    /// The most requests in flight at once on one connection.
    max_in_flight_per_connection: AtomicUsize,
    /// When each SSE event was handed to the connection, in order, over all streams.
    sent_events: Mutex<Vec<Instant>>,
    /// Streams that sent everything including `[DONE]`.
    streams_completed: AtomicUsize,
}

/// A fake OpenAI-compatible provider on `https://localhost:PORT` with a test-made CA.
pub struct TlsProvider {
    port: u16,
    dir: tempfile::TempDir,
    shared: Arc<Shared>,
    accept_loops: Vec<JoinHandle<()>>,
}

impl TlsProvider {
    /// Events a streamed answer sends (`tok0 ` .. `tok5 `) before `data: [DONE]`.
    pub const DRIP_EVENTS: usize = 6;
    /// Time between two events of a streamed answer.
    pub const DRIP_INTERVAL: Duration = Duration::from_millis(150);

    /// Makes a CA and a `localhost` certificate, writes `ca.pem`, and listens on 127.0.0.1 (and on
    /// ::1 with the same port where it can, since `localhost` may resolve there first).
    pub async fn start() -> TlsProvider {
        let dir = tempfile::tempdir().expect("tempdir for the CA");
        let (config, ca_pem) = tls_config();
        std::fs::write(dir.path().join("ca.pem"), ca_pem).expect("write ca.pem");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TLS fake");
        let port = listener.local_addr().expect("TLS fake addr").port();
        let (refused, _) = watch::channel(Vec::new());
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            handshakes: AtomicUsize::new(0),
            refused,
            delay_ms: AtomicU64::new(0),
            max_in_flight_per_connection: AtomicUsize::new(0),
            sent_events: Mutex::new(Vec::new()),
            streams_completed: AtomicUsize::new(0),
        });
        let mut accept_loops = vec![tokio::spawn(accept(listener, config.clone(), shared.clone()))];
        // Best effort: without an IPv6 loopback `localhost` does not resolve to ::1 either.
        if let Ok(v6) = TcpListener::bind(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))).await {
            accept_loops.push(tokio::spawn(accept(v6, config, shared.clone())));
        }
        TlsProvider { port, dir, shared, accept_loops }
    }

    /// `https://localhost:PORT/v1`: a host NAME, so the gateway has to resolve it.
    pub fn api_base(&self) -> String {
        format!("https://localhost:{}/v1", self.port)
    }

    /// The port the fake listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The PEM file of the CA that issued the fake's certificate (for `SSL_CERT_FILE`).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Holds every answer's headers back by `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<TlsRecorded> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// TLS connections whose handshake completed.
    pub fn tls_connections(&self) -> usize {
        self.shared.handshakes.load(Ordering::SeqCst)
    }

    /// The most requests that were in flight at once on one TLS connection.
    pub fn max_in_flight_per_connection(&self) -> usize {
        self.shared.max_in_flight_per_connection.load(Ordering::SeqCst)
    }

    /// Handshakes refused so far.
    pub fn refused_handshakes(&self) -> Vec<RefusedHandshake> {
        self.shared.refused.borrow().clone()
    }

    /// Waits up to `limit` for a handshake to be refused; returns those refused by then.
    pub async fn wait_for_refused_handshake(&self, limit: Duration) -> Vec<RefusedHandshake> {
        let mut rx = self.shared.refused.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|r| !r.is_empty())).await;
        self.refused_handshakes()
    }

    /// When each SSE event was handed to the connection.
    pub fn sent_event_times(&self) -> Vec<Instant> {
        self.shared.sent_events.lock().expect("events lock").clone()
    }

    /// Streams that ran to `[DONE]`.
    pub fn streams_completed(&self) -> usize {
        self.shared.streams_completed.load(Ordering::SeqCst)
    }
}

impl Drop for TlsProvider {
    fn drop(&mut self) {
        for task in &self.accept_loops {
            task.abort();
        }
    }
}

/// A self-signed CA certificate and its key.
fn certificate_authority(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("self-sign CA");
    (cert, key)
}

/// The server's rustls config (a `localhost` leaf issued by a fresh CA, ALPN h2 + http/1.1) and
/// the CA's PEM.
fn tls_config() -> (Arc<ServerConfig>, String) {
    let (ca, ca_key) = certificate_authority("Tollgate test CA");
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("leaf params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = params.signed_by(&leaf_key, &ca, &ca_key).expect("sign leaf");
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    // ring, as Pingora's rustls: no second crypto stack, and no process-wide default to install.
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server cert");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (Arc::new(config), ca.pem())
}

async fn accept(listener: TcpListener, config: Arc<ServerConfig>, shared: Arc<Shared>) {
    // Bounded by the fake's life: the task is aborted when the TlsProvider drops.
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_connection(tcp, config.clone(), shared.clone()));
    }
}

/// Completes the handshake (or records why not), then serves HTTP/1.1 or HTTP/2 on it.
async fn serve_connection(tcp: TcpStream, config: Arc<ServerConfig>, shared: Arc<Shared>) {
    let handshake = async {
        // Lazy: the ClientHello's SNI is kept even when the client then refuses our certificate.
        let start = LazyConfigAcceptor::new(Acceptor::default(), tcp).await.map_err(|e| (None, e.to_string()))?;
        let hello_sni = start.client_hello().server_name().map(str::to_string);
        start.into_stream(config).await.map_err(|e| (hello_sni, e.to_string()))
    };
    let tls = match tokio::time::timeout(HANDSHAKE_DEADLINE, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err((sni, reason))) => return refuse(&shared, sni, reason),
        Err(_) => return refuse(&shared, None, format!("no handshake within {HANDSHAKE_DEADLINE:?}")),
    };
    let (_, session) = tls.get_ref();
    let sni = session.server_name().map(str::to_string);
    let alpn = session.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
    let connection = shared.handshakes.fetch_add(1, Ordering::SeqCst) + 1;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let svc = service_fn(move |req| {
        let seen = Seen { connection, sni: sni.clone(), alpn: alpn.clone(), in_flight: in_flight.clone() };
        answer(shared.clone(), seen, req)
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), svc)
        .await;
}

fn refuse(shared: &Shared, sni: Option<String>, reason: String) {
    shared.refused.send_modify(|r| r.push(RefusedHandshake { sni, reason }));
}

/// What the connection a request came on negotiated.
struct Seen {
    connection: usize,
    sni: Option<String>,
    alpn: Option<String>,
    in_flight: Arc<AtomicUsize>,
}

async fn answer(shared: Arc<Shared>, seen: Seen, req: Request<Incoming>) -> Result<Response<TlsBody>, Infallible> {
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight_per_connection.fetch_max(now, Ordering::SeqCst);
    let response = respond(&shared, &seen, req).await;
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    Ok(response)
}

async fn respond(shared: &Arc<Shared>, seen: &Seen, req: Request<Incoming>) -> Response<TlsBody> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return json_response(400, &json!({"error": {"message": format!("unreadable body: {e}")}})),
    };
    let authority =
        parts.uri.authority().map(|a| a.to_string()).or_else(|| {
            parts.headers.get(hyper::header::HOST).map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        });
    let request = Recorded {
        method: parts.method.to_string(),
        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
    };
    let recorded = TlsRecorded {
        connection: seen.connection,
        sni: seen.sni.clone(),
        alpn: seen.alpn.clone(),
        version: parts.version,
        authority,
        request,
    };
    shared.requests.lock().expect("requests lock").push(recorded.clone());
    let delay = Duration::from_millis(shared.delay_ms.load(Ordering::SeqCst));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let req = &recorded.request;
    if !(req.method == "POST" && req.path_and_query.ends_with("/chat/completions")) {
        let message =
            format!("the TLS fake serves POST .../chat/completions only, not {} {}", req.method, req.path_and_query);
        return json_response(404, &json!({"error": {"message": message, "type": "invalid_request_error"}}));
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let model = body.get("model").cloned().unwrap_or(Value::Null);
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return drip(shared.clone(), model);
    }
    json_response(
        200,
        &json!({
            "id": "chatcmpl-tls",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": format!("over {:?}", recorded.version)},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }),
    )
}

fn json_response(code: u16, body: &Value) -> Response<TlsBody> {
    let bytes = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
    let mut resp = Response::new(Full::new(bytes).map_err(|never| match never {}).boxed());
    *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    resp
}

/// `DRIP_EVENTS` chat.completion.chunk events, `DRIP_INTERVAL` apart, then `data: [DONE]`.
fn drip(shared: Arc<Shared>, model: Value) -> Response<TlsBody> {
    // Capacity 1: a send completes only once the connection took the previous frame.
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    tokio::spawn(async move {
        let events = TlsProvider::DRIP_EVENTS;
        for i in 0..events {
            if i > 0 {
                tokio::time::sleep(TlsProvider::DRIP_INTERVAL).await;
            }
            let at = Instant::now();
            if tx.send(Ok(Frame::data(Bytes::from(drip_event(&model, i, events))))).await.is_err() {
                return;
            }
            shared.sent_events.lock().expect("events lock").push(at);
        }
        if tx.send(Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n")))).await.is_ok() {
            shared.streams_completed.fetch_add(1, Ordering::SeqCst);
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|frame| (frame, rx)) });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let headers = resp.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/event-stream"));
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-cache"));
    resp
}
