//! The load generator: HTTP/1.1 keep-alive connections (hyper's connection-level client, no
//! pool in the way) sending one typical non-streaming chat request, in two shapes:
//!
//! - **open loop** ([`open_loop`]): a ticker dispatches a request every `1/rate` s whether or not
//!   the previous one has finished, round-robin over a few connections, to several targets in
//!   turn, a slice of time each. Latency is measured from
//!   the moment the tick is dispatched, so time spent queued behind a slow request counts (no
//!   coordinated omission), while the timer's own wake-up lag (tokio's wheel has 1 ms slots)
//!   does not.
//! - **closed loop** ([`closed_loop`]): each of C connections sends its next request as soon as
//!   the previous answer is read; the throughput is what the path can sustain.
//!
//! Every loop ends on a request count or a deadline, whichever comes first, and every request
//! has its own timeout.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

/// The request body: a typical short chat call (~300 bytes), not streamed.
pub const CHAT_REQUEST: &str = concat!(
    r#"{"model":"bench-model","messages":["#,
    r#"{"role":"system","content":"You are a concise assistant. Answer in one sentence."},"#,
    r#"{"role":"user","content":"Why should an LLM gateway add as little latency as possible "#,
    r#"to each request that it forwards to a provider?"}],"#,
    r#""temperature":0.2,"max_tokens":64,"user":"load-bench"}"#
);

/// How long the open loop stays on one target before it moves to the next.
const OPEN_SLICE: Duration = Duration::from_secs(1);

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where requests go and with which key.
pub struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    authorization: HeaderValue,
    body: Bytes,
}

impl Target {
    /// A server at `addr` that accepts `Bearer <key>`.
    pub fn new(addr: SocketAddr, key: &str) -> Self {
        Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string()).expect("a socket address is a valid Host"),
            authorization: HeaderValue::from_str(&format!("Bearer {key}"))
                .expect("the bench keys are valid header values"),
            body: Bytes::from_static(CHAT_REQUEST.as_bytes()),
        }
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = hyper::Uri::from_static("/v1/chat/completions");
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, self.authorization.clone());
        // hyper adds Content-Length: a Full body knows its exact size.
        request
    }

    /// Opens one keep-alive connection.
    pub async fn connect(&self) -> Result<Connection, Failure> {
        let stream = TcpStream::connect(self.addr).await.map_err(Failure::Connect)?;
        stream.set_nodelay(true).map_err(Failure::Connect)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(Failure::Http)?;
        // The connection task ends when the sender is dropped or the server closes.
        tokio::spawn(connection);
        Ok(Connection { sender })
    }

    /// Sends one request on a fresh connection and returns the status and body: a sanity check
    /// before measuring.
    pub async fn probe(&self) -> Result<(StatusCode, Bytes), Failure> {
        let mut connection = self.connect().await?;
        connection.exchange_raw(self).await
    }
}

/// One HTTP/1.1 connection: one request at a time.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Sends the chat request and reads the whole answer; anything but a 200 is a failure.
    async fn exchange(&mut self, target: &Target) -> Result<(), Failure> {
        let (status, _body) = self.exchange_raw(target).await?;
        if status != StatusCode::OK {
            return Err(Failure::Status(status));
        }
        Ok(())
    }

    async fn exchange_raw(&mut self, target: &Target) -> Result<(StatusCode, Bytes), Failure> {
        let send = async {
            self.sender.ready().await.map_err(Failure::Http)?;
            let response = self.sender.send_request(target.request()).await.map_err(Failure::Http)?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(Failure::Http)?.to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, send).await.map_err(|_| Failure::Timeout)?
    }

    /// After a transport failure the connection is unusable: a fresh one, or `None`.
    async fn renewed(self, target: &Target, failure: &Failure) -> Option<Self> {
        if matches!(failure, Failure::Status(_)) {
            return Some(self);
        }
        target.connect().await.ok()
    }
}

/// Why a request did not count.
#[derive(Debug)]
pub enum Failure {
    /// TCP connect failed.
    Connect(std::io::Error),
    /// HTTP/1.1 framing or a closed connection.
    Http(hyper::Error),
    /// No answer within [`REQUEST_TIMEOUT`].
    Timeout,
    /// The answer was not a 200.
    Status(StatusCode),
    /// The connection broke and could not be reopened.
    Lost,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Http(e) => write!(f, "http: {e}"),
            Self::Timeout => write!(f, "no answer within {REQUEST_TIMEOUT:?}"),
            Self::Status(s) => write!(f, "status {s}"),
            Self::Lost => write!(f, "connection lost and not reopened"),
        }
    }
}

/// What one loop saw.
#[derive(Debug, Default)]
pub struct Run {
    /// Latencies of the requests that got a 200, unsorted.
    pub latencies: Vec<Duration>,
    /// Requests that failed.
    pub failures: u64,
    /// The first failure, to say what went wrong.
    pub first_failure: Option<String>,
    /// From the first request sent to the last answer read.
    pub elapsed: Duration,
    /// Open loop only: ticks that found their connection's queue full and were dropped.
    pub dropped: u64,
    /// Open loop only: the latest a tick was dispatched after its scheduled time.
    pub max_dispatch_lag: Duration,
}

impl Run {
    /// Requests that got a 200.
    pub fn ok(&self) -> u64 {
        self.latencies.len() as u64
    }

    /// Successful requests per second of wall time.
    pub fn throughput(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency distribution of the successful requests.
    pub fn latency(&self) -> Latency {
        Latency::of(&self.latencies)
    }

    fn merge(&mut self, worker: Worker) {
        self.latencies.extend(worker.latencies);
        self.failures += worker.failures;
        if self.first_failure.is_none() {
            self.first_failure = worker.first_failure;
        }
    }
}

/// Percentiles (nearest rank) of a set of latencies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Latency {
    fn of(latencies: &[Duration]) -> Self {
        let mut sorted = latencies.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| -> Duration {
            if sorted.is_empty() {
                return Duration::ZERO;
            }
            let index = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[index]
        };
        Self { p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: rank(1.0) }
    }
}

/// What each connection task hands back.
#[derive(Default)]
struct Worker {
    latencies: Vec<Duration>,
    failures: u64,
    first_failure: Option<String>,
}

impl Worker {
    fn fail(&mut self, failure: &Failure) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(failure.to_string());
        }
    }
}

/// Opens `n` connections to `target`, all before the clock starts.
async fn connections(target: &Target, n: usize) -> Result<Vec<Connection>, Failure> {
    let mut opened = Vec::with_capacity(n);
    for _ in 0..n {
        opened.push(target.connect().await?);
    }
    Ok(opened)
}

/// Sends `rate` requests per second to each of `targets` for `duration`, whatever the answers'
/// pace, over `connections_n` connections per target, and measures each request's latency.
///
/// The targets take turns in slices of [`OPEN_SLICE`] at the full rate (direct for a second,
/// gateway for a second, ...): each path sees exactly the traffic of a lone 200 req/s client,
/// with the same idle gaps between requests, while a burst of other work on the machine, or a
/// slow drift, lands on both paths alike instead of on whichever ran then.
pub async fn open_loop(
    targets: &[Arc<Target>],
    rate: u32,
    duration: Duration,
    connections_n: usize,
) -> Result<Vec<Run>, Failure> {
    let rate = rate.max(1);
    let per_target = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let per_slice = ((f64::from(rate) * OPEN_SLICE.as_secs_f64()).round() as u64).max(1);
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    // Deep enough that a connection stuck for a whole request timeout does not drop ticks.
    let queue = (rate as usize).max(16) * REQUEST_TIMEOUT.as_secs() as usize;

    // lanes[t][c]: the queue of connection c to target t.
    let mut lanes = Vec::with_capacity(targets.len());
    let mut workers = Vec::with_capacity(targets.len());
    for target in targets {
        let mut target_lanes = Vec::with_capacity(connections_n);
        let mut target_workers = Vec::with_capacity(connections_n);
        for connection in connections(target, connections_n).await? {
            let (tx, rx) = mpsc::channel::<Instant>(queue);
            target_lanes.push(tx);
            target_workers.push(tokio::spawn(serve_ticks(Arc::clone(target), connection, rx)));
        }
        lanes.push(target_lanes);
        workers.push(target_workers);
    }

    let mut runs: Vec<Run> = targets.iter().map(|_| Run::default()).collect();
    let mut sent = vec![0u64; targets.len()];
    let mut ticker = tokio::time::interval(period);
    // Behind schedule, catch up at once: an open loop keeps its rate.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let start = Instant::now();
    for i in 0..per_target * targets.len() as u64 {
        let scheduled = ticker.tick().await;
        let dispatched = Instant::now();
        let target = ((i / per_slice) % targets.len() as u64) as usize;
        let run = &mut runs[target];
        run.max_dispatch_lag = run.max_dispatch_lag.max(dispatched.saturating_duration_since(scheduled.into_std()));
        let lane = &lanes[target][(sent[target] % connections_n as u64) as usize];
        sent[target] += 1;
        if lane.try_send(dispatched).is_err() {
            run.dropped += 1;
        }
    }
    drop(lanes);
    for (run, target_workers) in runs.iter_mut().zip(workers) {
        for worker in target_workers {
            run.merge(worker.await.expect("a connection task does not panic"));
        }
        run.elapsed = start.elapsed();
    }
    Ok(runs)
}

/// One open-loop connection: a request per tick received, latency counted from the dispatch.
async fn serve_ticks(target: Arc<Target>, connection: Connection, mut ticks: mpsc::Receiver<Instant>) -> Worker {
    let mut worker = Worker::default();
    let mut connection = Some(connection);
    while let Some(dispatched) = ticks.recv().await {
        let Some(mut open) = connection.take() else {
            worker.fail(&Failure::Lost);
            continue;
        };
        match open.exchange(&target).await {
            Ok(()) => {
                worker.latencies.push(dispatched.elapsed());
                connection = Some(open);
            }
            Err(failure) => {
                worker.fail(&failure);
                connection = open.renewed(&target, &failure).await;
            }
        }
    }
    worker
}

/// Keeps `connections_n` requests in flight for `duration`, or until `max_requests` have been
/// sent, and measures throughput and latency.
pub async fn closed_loop(
    target: &Arc<Target>,
    connections_n: usize,
    duration: Duration,
    max_requests: u64,
) -> Result<Run, Failure> {
    let opened = connections(target, connections_n).await?;
    let sent = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::with_capacity(connections_n);
    for connection in opened {
        let target = Arc::clone(target);
        let sent = Arc::clone(&sent);
        workers.push(tokio::spawn(async move {
            let mut worker = Worker::default();
            let mut connection = Some(connection);
            while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < max_requests {
                let Some(mut open) = connection.take() else { break };
                let began = Instant::now();
                match open.exchange(&target).await {
                    Ok(()) => {
                        worker.latencies.push(began.elapsed());
                        connection = Some(open);
                    }
                    Err(failure) => {
                        worker.fail(&failure);
                        connection = open.renewed(&target, &failure).await;
                    }
                }
            }
            worker
        }));
    }
    let mut run = Run::default();
    for worker in workers {
        run.merge(worker.await.expect("a connection task does not panic"));
    }
    run.elapsed = start.elapsed();
    Ok(run)
}
