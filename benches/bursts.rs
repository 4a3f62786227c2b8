//! Bursts benchmark: does the gateway give memory back after bursts of concurrent streams?
//!
//! It starts the release gateway (as the load bench does: `TOLLGATE_BIN` or the binary `cargo
//! bench` built) in front of a fake OpenAI upstream that streams [`upstream::EVENTS`]
//! `chat.completion.chunk` events per call, one every `BURST_EVENT_MS`, then sends `BURSTS` bursts of
//! `STREAMS` concurrent streaming chat calls, each on its own connection. After each burst has
//! ended and the gateway has idled `BURST_SETTLE_MS`, it reads the gateway's `VmRSS`. The table
//! ends with RSS(last)/RSS(1): the issue asks for at most 1.5 after ten bursts of 2,000.
//!
//! ```text
//! cargo bench --bench bursts
//! BURSTS=10 STREAMS=2000 BURST_EVENT_MS=100 BURST_SETTLE_MS=2000 cargo bench --bench bursts
//! ```
#![expect(clippy::expect_used, reason = "a benchmark fails loudly")]

// Shared with the load bench: the gateway as a child process, and /proc readings. The bursts
// bench uses only part of each.
#[allow(dead_code)]
#[path = "load/gateway.rs"]
mod gateway;
#[allow(dead_code)]
#[path = "load/procfs.rs"]
mod procfs;
#[path = "bursts/upstream.rs"]
mod upstream;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use procfs::{Machine, ProcessUsage};
use tokio::net::TcpStream;
use upstream::FakeStreamer;

/// A streaming chat call, usage included, as an SDK sends it.
const STREAM_REQUEST: &str = concat!(
    r#"{"model":"bench-model","stream":true,"stream_options":{"include_usage":true},"messages":["#,
    r#"{"role":"system","content":"You are a concise assistant."},"#,
    r#"{"role":"user","content":"Stream an answer of a few words, please."}],"max_tokens":64}"#
);

/// The longest one burst may take, connections, streams and all, whatever its size.
const BURST_LIMIT: Duration = Duration::from_secs(120);
/// How long the bench waits for the upstream to see every stream of a burst closed.
const CLOSE_LIMIT: Duration = Duration::from_secs(30);
/// File descriptors kept for everything but the streams.
const SPARE_FDS: u64 = 256;

/// The knobs, from the environment.
struct Settings {
    /// `BURSTS`: how many bursts.
    bursts: usize,
    /// `STREAMS`: concurrent streams in each burst.
    streams: usize,
    /// `BURST_EVENT_MS`: the upstream's pause between two events of a stream.
    event_ms: u64,
    /// `BURST_SETTLE_MS`: how long the gateway idles after a burst before its RSS is read.
    settle_ms: u64,
    /// `BURST_LABEL`: what the table calls the binary (such as its allocator).
    label: String,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            bursts: knob("BURSTS").unwrap_or(10).clamp(1, 1000),
            streams: knob("STREAMS").unwrap_or(2000).clamp(1, 20_000),
            event_ms: knob("BURST_EVENT_MS").unwrap_or(100).min(10_000),
            settle_ms: knob("BURST_SETTLE_MS").unwrap_or(2000).min(600_000),
            label: std::env::var("BURST_LABEL").unwrap_or_else(|_| "gateway".to_owned()),
        }
    }
}

/// An environment variable parsed as `T`; unset or empty is `None`, garbage stops the bench.
fn knob<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
    match value.trim().parse() {
        Ok(parsed) => Some(parsed),
        Err(_) => panic!("{name}={value} is not a valid value"),
    }
}

/// Raises this process's open-file limit (the gateway inherits it) to what `streams` need: two
/// sockets per stream here (client and fake upstream) and two in the gateway.
fn raise_fd_limit(streams: usize) {
    let need = 2 * streams as u64 + SPARE_FDS;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(read, 0, "getrlimit(RLIMIT_NOFILE): {}", std::io::Error::last_os_error());
    if limit.rlim_cur >= need {
        return;
    }
    assert!(
        limit.rlim_max >= need,
        "STREAMS={streams} needs {need} open files, the hard limit is {}: raise it (ulimit -Hn) or lower STREAMS",
        limit.rlim_max
    );
    limit.rlim_cur = need;
    // SAFETY: as above.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(set, 0, "setrlimit(RLIMIT_NOFILE, {need}): {}", std::io::Error::last_os_error());
}

/// One burst's figures.
struct Burst {
    ok: usize,
    failed: usize,
    first_failure: Option<String>,
    peak_open: u64,
    elapsed: Duration,
    rss_mb: f64,
    peak_rss_mb: f64,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("bursts: a benchmark, not a test; run it with `cargo bench --bench bursts`");
        return;
    }
    let settings = Settings::from_env();
    raise_fd_limit(settings.streams);
    let machine = Machine::describe();
    let binary = gateway::gateway_binary();
    let upstream =
        FakeStreamer::start(Duration::from_millis(settings.event_ms)).expect("start the fake upstream on 127.0.0.1");
    let gateway = gateway::start_gateway(&binary, upstream.addr(), None, None, None)
        .unwrap_or_else(|e| panic!("start the gateway ({}): {e}", binary.display()));
    let pid = gateway.pid();
    let rss = || {
        let usage = ProcessUsage::of(pid)
            .unwrap_or_else(|e| panic!("read /proc/{pid}: {e}\ngateway log:\n{}", gateway.log_tail()));
        (usage.rss_bytes as f64 / 1e6, usage.peak_rss_bytes as f64 / 1e6)
    };
    eprintln!(
        "bursts: fake upstream on {}, gateway {} (pid {pid}) on {}",
        upstream.addr(),
        binary.display(),
        gateway.addr()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bursts-client")
        .enable_all()
        .build()
        .expect("start the client runtime");
    let target = Arc::new(Target::new(gateway.addr()));
    let started = rss().0;
    let mut bursts = Vec::with_capacity(settings.bursts);
    for number in 1..=settings.bursts {
        let begin = Instant::now();
        let (ok, failures) = runtime.block_on(burst(&target, settings.streams));
        let elapsed = begin.elapsed();
        let peak_open = upstream.take_peak();
        // Every stream closed upstream, then the gateway idles before the reading.
        let deadline = Instant::now() + CLOSE_LIMIT;
        while upstream.take_peak() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(settings.settle_ms));
        let (rss_mb, peak_rss_mb) = rss();
        eprintln!(
            "bursts: burst {number}: {ok} ok, {} failed, {peak_open} open together, {:.1} s, RSS {rss_mb:.1} MB",
            failures.len(),
            elapsed.as_secs_f64()
        );
        bursts.push(Burst {
            ok,
            failed: failures.len(),
            first_failure: failures.into_iter().next(),
            peak_open,
            elapsed,
            rss_mb,
            peak_rss_mb,
        });
    }
    let report = report(&settings, &machine, &binary, started, &bursts, upstream.finished());
    println!("{report}");
    let path = gateway::target_dir().join("bursts-report.md");
    std::fs::write(&path, &report).expect("write the report");
    eprintln!("bursts: report written to {}", path.display());
    let failed: usize = bursts.iter().map(|b| b.failed).sum();
    assert!(
        failed == 0,
        "{failed} streams failed; the first: {}\ngateway log:\n{}",
        bursts.iter().find_map(|b| b.first_failure.clone()).unwrap_or_default(),
        gateway.log_tail()
    );
}

/// The markdown table.
fn report(
    settings: &Settings,
    machine: &Machine,
    binary: &std::path::Path,
    started_mb: f64,
    bursts: &[Burst],
    finished: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "bursts: {} ({}), BURSTS={} STREAMS={} BURST_EVENT_MS={} BURST_SETTLE_MS={}, {} CPUs ({}), load {}",
        settings.label,
        binary.display(),
        settings.bursts,
        settings.streams,
        settings.event_ms,
        settings.settle_ms,
        machine.cpus,
        machine.cpu_model,
        machine.load_average
    );
    let _ = writeln!(
        out,
        "RSS before the first burst: {started_mb:.1} MB; streams the upstream sent to the end: {finished}\n"
    );
    let _ = writeln!(out, "| burst | streams ok | failed | open together (upstream) | burst time | RSS after | RSS / RSS(1) | peak RSS so far |");
    let _ = writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|--:|");
    let first = bursts.first().map_or(1.0, |b| b.rss_mb.max(f64::EPSILON));
    for (i, b) in bursts.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} s | {:.1} MB | {:.2} | {:.1} MB |",
            i + 1,
            b.ok,
            b.failed,
            b.peak_open,
            b.elapsed.as_secs_f64(),
            b.rss_mb,
            b.rss_mb / first,
            b.peak_rss_mb
        );
    }
    if let Some(last) = bursts.last() {
        let ratio = last.rss_mb / first;
        let verdict = if ratio <= 1.5 { "met" } else { "NOT met" };
        let _ = writeln!(
            out,
            "\nRSS({n})/RSS(1) = {:.1}/{:.1} MB = **{ratio:.2}** (target <= 1.5: {verdict})",
            last.rss_mb,
            first,
            n = bursts.len()
        );
    }
    out
}

/// Where the streams go.
struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    authorization: HeaderValue,
}

impl Target {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string()).expect("a socket address is a valid Host"),
            authorization: HeaderValue::from_str(&format!("Bearer {}", gateway::MASTER_KEY))
                .expect("the bench key is a valid header value"),
        }
    }
}

/// `streams` streaming calls at once, each on a connection of its own: how many ended with
/// `[DONE]`, and what went wrong with the others.
async fn burst(target: &Arc<Target>, streams: usize) -> (usize, Vec<String>) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..streams {
        let target = Arc::clone(target);
        tasks.spawn(async move {
            match tokio::time::timeout(BURST_LIMIT, one_stream(&target)).await {
                Ok(result) => result,
                Err(_) => Err(format!("no end within {BURST_LIMIT:?}")),
            }
        });
    }
    let mut ok = 0;
    let mut failures = Vec::new();
    // Each task is bounded by BURST_LIMIT; this bounds the lot the same way.
    let deadline = tokio::time::Instant::now() + BURST_LIMIT + Duration::from_secs(5);
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        match joined {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("task: {e}")),
        }
    }
    if !tasks.is_empty() {
        failures.push(format!("{} streams still running after {BURST_LIMIT:?}", tasks.len()));
        tasks.abort_all();
    }
    (ok, failures)
}

/// One streaming call on a fresh connection, read to the end.
async fn one_stream(target: &Target) -> Result<(), String> {
    let stream = TcpStream::connect(target.addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let mut request = Request::new(Full::new(Bytes::from_static(STREAM_REQUEST.as_bytes())));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = hyper::Uri::from_static("/v1/chat/completions");
    let headers = request.headers_mut();
    headers.insert(HOST, target.host.clone());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(AUTHORIZATION, target.authorization.clone());
    let response = sender.send_request(request).await.map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|e| format!("read the stream: {e}"))?.to_bytes();
    if status != StatusCode::OK || !body.ends_with(b"data: [DONE]\n\n") {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body[body.len().saturating_sub(300)..])));
    }
    Ok(())
}
