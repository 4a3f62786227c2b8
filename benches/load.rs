//! Load benchmark: the release gateway against a fast in-process fake upstream, compared in one
//! run with the same client talking to the fake directly.
//!
//! It reports added latency (p50/p99) at a fixed 200 req/s, closed-loop throughput, gateway CPU
//! seconds per 1000 requests and gateway RSS, next to the targets of the issue, and writes the
//! table to `target/load-report.md`. How to run and read it: `benches/load/README.md`.
//!
//! ```text
//! cargo bench --bench load
//! LOAD_RSS_REQUESTS=100000 cargo bench --bench load
//! ```
#![expect(clippy::expect_used, reason = "a benchmark fails loudly")]

// A bench's root file looks for modules beside itself; this bench keeps them in `load/`.
#[path = "load/client.rs"]
mod client;
#[path = "load/gateway.rs"]
mod gateway;
#[path = "load/procfs.rs"]
mod procfs;
#[path = "load/report.rs"]
mod report;
#[path = "load/upstream.rs"]
mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{closed_loop, open_loop, Run, Target};
use gateway::{Gateway, MASTER_KEY};
use procfs::{Machine, ProcessUsage};
use report::{Cost, Phase, Report};
use upstream::{FakeUpstream, UPSTREAM_KEY};

/// The hard ceiling on the long `LOAD_RSS_REQUESTS` run, whatever its count.
const LONG_RUN_MAX: Duration = Duration::from_secs(600);
/// The closed loop that warms both paths (connections, pools, caches) before anything counts.
const WARM_UP: Duration = Duration::from_secs(1);

/// The knobs, from the environment.
struct Settings {
    /// `LOAD_SECS`: seconds of each open and closed loop.
    secs: u64,
    /// `LOAD_RATE`: open-loop requests per second.
    rate: u32,
    /// `LOAD_CONC`: closed-loop connections.
    conc: usize,
    /// `LOAD_OPEN_CONNS`: connections the open loop spreads its requests over.
    open_conns: usize,
    /// `LOAD_CLIENT_THREADS`: worker threads of the load generator.
    client_threads: usize,
    /// `LOAD_GATEWAY_THREADS`: the gateway's `--threads`, when set.
    gateway_threads: Option<usize>,
    /// `LOAD_RSS_REQUESTS`: requests of the long closed-loop run that ends with an RSS reading.
    rss_requests: u64,
    /// `LOAD_ROUTING`: a `routing_strategy` for a group of two deployments on the fake (unset: one deployment).
    routing: Option<String>,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            secs: knob("LOAD_SECS").unwrap_or(10).max(1),
            rate: knob("LOAD_RATE").unwrap_or(200).max(1),
            conc: knob("LOAD_CONC").unwrap_or(32).max(1),
            open_conns: knob("LOAD_OPEN_CONNS").unwrap_or(4).max(1),
            client_threads: knob("LOAD_CLIENT_THREADS").unwrap_or(1).max(1),
            gateway_threads: knob("LOAD_GATEWAY_THREADS"),
            rss_requests: knob("LOAD_RSS_REQUESTS").unwrap_or(0),
            routing: std::env::var("LOAD_ROUTING").ok().filter(|r| !r.is_empty()),
        }
    }

    /// Every knob as `NAME=value`, so the report shows the command that reproduces it.
    fn knobs(&self) -> Vec<String> {
        let mut knobs = vec![
            format!("LOAD_SECS={}", self.secs),
            format!("LOAD_RATE={}", self.rate),
            format!("LOAD_CONC={}", self.conc),
            format!("LOAD_OPEN_CONNS={}", self.open_conns),
            format!("LOAD_CLIENT_THREADS={}", self.client_threads),
        ];
        knobs.extend(self.gateway_threads.map(|t| format!("LOAD_GATEWAY_THREADS={t}")));
        if self.rss_requests > 0 {
            knobs.push(format!("LOAD_RSS_REQUESTS={}", self.rss_requests));
        }
        knobs.extend(self.routing.as_ref().map(|r| format!("LOAD_ROUTING={r}")));
        knobs
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.secs)
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

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets without it. A
    // release build and a minute of load are not a test: say how to run it and stop.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("load: a benchmark, not a test; run it with `cargo bench --bench load`");
        return;
    }
    let settings = Settings::from_env();
    let machine = Machine::describe();
    let binary = Gateway::binary();
    let versions = report::versions(&binary);
    let upstream = FakeUpstream::start().expect("start the fake upstream on 127.0.0.1");
    let gateway = Gateway::start(&binary, upstream.addr(), settings.gateway_threads)
        .unwrap_or_else(|e| panic!("start the gateway ({}): {e}", binary.display()));
    eprintln!("load: fake upstream on {}, gateway (pid {}) on {}", upstream.addr(), gateway.pid(), gateway.addr());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .thread_name("load-client")
        .enable_all()
        .build()
        .expect("start the client runtime");
    let report = runtime.block_on(measure(&settings, &upstream, &gateway, machine, versions));

    let path = gateway::target_dir().join("load-report.md");
    report.publish(&path).expect("write the report");
}

/// Runs every phase and gathers the figures.
async fn measure(
    settings: &Settings,
    upstream: &FakeUpstream,
    gateway: &Gateway,
    machine: Machine,
    versions: Vec<String>,
) -> Report {
    let direct = Arc::new(Target::new(upstream.addr(), UPSTREAM_KEY));
    let through = Arc::new(Target::new(gateway.addr(), MASTER_KEY));
    let usage = || {
        ProcessUsage::of(gateway.pid())
            .unwrap_or_else(|e| panic!("read the gateway's /proc: {e}; its log:\n{}", gateway.log_tail()))
    };
    let failed = |what: &str, e: client::Failure| -> ! { panic!("{what}: {e}; gateway log:\n{}", gateway.log_tail()) };

    // Both paths must answer a real completion before anything is timed.
    probe(&direct, "direct", String::new).await;
    probe(&through, "gateway", || format!("; gateway log:\n{}", gateway.log_tail())).await;
    let idle = usage();
    let others = OtherLoad::start(gateway.pid());
    // Answers the client got in all, and those of them that went through the gateway.
    let mut answered = 2;
    let mut through_gateway = 1;

    eprintln!("load: warm-up, {WARM_UP:?} closed loop on each path");
    for target in [&direct, &through] {
        let run = closed_loop(target, settings.conc, WARM_UP, u64::MAX).await.unwrap_or_else(|e| failed("warm-up", e));
        answered += run.ok();
        if Arc::ptr_eq(target, &through) {
            through_gateway += run.ok();
        }
    }

    eprintln!("load: open loop, {} req/s on each path for {} s, interleaved", settings.rate, settings.secs);
    let open = if std::env::var_os("LOAD_AB_SEQ").is_some() {
        let mut a = open_loop(&[Arc::clone(&direct)], settings.rate, settings.duration(), settings.open_conns)
            .await
            .unwrap_or_else(|e| failed("open loop", e));
        let b = open_loop(&[Arc::clone(&through)], settings.rate, settings.duration(), settings.open_conns)
            .await
            .unwrap_or_else(|e| failed("open loop", e));
        a.extend(b);
        a
    } else {
        open_loop(&[Arc::clone(&direct), Arc::clone(&through)], settings.rate, settings.duration(), settings.open_conns)
            .await
            .unwrap_or_else(|e| failed("open loop", e))
    };
    let [open_direct, open_gateway]: [Phase; 2] = [Phase::of(&open[0]), Phase::of(&open[1])];
    answered += open_direct.ok + open_gateway.ok;
    through_gateway += open_gateway.ok;

    eprintln!("load: closed loop direct, {} connections for {} s", settings.conc, settings.secs);
    let closed_direct = closed_loop(&direct, settings.conc, settings.duration(), u64::MAX)
        .await
        .unwrap_or_else(|e| failed("closed loop", e));
    answered += closed_direct.ok();

    eprintln!("load: closed loop gateway, {} connections for {} s", settings.conc, settings.secs);
    let before = usage();
    let closed_gateway = closed_loop(&through, settings.conc, settings.duration(), u64::MAX)
        .await
        .unwrap_or_else(|e| failed("closed loop", e));
    let after = usage();
    answered += closed_gateway.ok();
    through_gateway += closed_gateway.ok();
    let (closed_gateway, cost) = costed(&closed_gateway, &before, &after, through_gateway);

    let long = if settings.rss_requests > 0 {
        eprintln!(
            "load: long run, {} requests through the gateway on {} connections",
            settings.rss_requests, settings.conc
        );
        let before = usage();
        let run = closed_loop(&through, settings.conc, LONG_RUN_MAX, settings.rss_requests)
            .await
            .unwrap_or_else(|e| failed("long run", e));
        let after = usage();
        answered += run.ok();
        through_gateway += run.ok();
        Some(costed(&run, &before, &after, through_gateway))
    } else {
        None
    };

    Report {
        machine,
        versions,
        knobs: settings.knobs(),
        threads: format!(
            "gateway {}, load client {}, fake upstream 1",
            settings.gateway_threads.map_or_else(|| "default (one per core)".to_owned(), |t| t.to_string()),
            settings.client_threads
        ),
        rate: settings.rate,
        connections: settings.conc,
        open: [open_direct, open_gateway],
        closed: [Phase::of(&closed_direct), closed_gateway],
        idle,
        cost,
        long,
        upstream_served: (upstream.completions(), answered),
        other_cores: others.cores(gateway.pid()),
    }
}

/// CPU time the rest of the machine used while the bench ran: everything busy minus this
/// process (client and fake upstream) minus the gateway.
struct OtherLoad {
    started: Instant,
    busy: Duration,
    ours: Duration,
}

impl OtherLoad {
    fn start(gateway: u32) -> Self {
        Self { started: Instant::now(), busy: busy(), ours: ours(gateway) }
    }

    /// Cores the other processes kept busy on average since [`OtherLoad::start`].
    fn cores(&self, gateway: u32) -> f64 {
        let busy = busy().saturating_sub(self.busy);
        let ours = ours(gateway).saturating_sub(self.ours);
        busy.saturating_sub(ours).as_secs_f64() / self.started.elapsed().as_secs_f64().max(f64::EPSILON)
    }
}

fn busy() -> Duration {
    procfs::machine_busy().expect("read /proc/stat")
}

/// CPU time of this process (client and fake upstream) plus the gateway's.
fn ours(gateway: u32) -> Duration {
    let own = ProcessUsage::of(std::process::id()).expect("read /proc/self").cpu;
    own + ProcessUsage::of(gateway).map_or(Duration::ZERO, |u| u.cpu)
}

/// A gateway closed loop with what it cost the gateway between two readings.
fn costed(run: &Run, before: &ProcessUsage, after: &ProcessUsage, served: u64) -> (Phase, Cost) {
    let phase = Phase::of(run);
    let cost = Cost::between(before, after, &phase, run.elapsed, served);
    (phase, cost)
}

/// One request that must come back as a `chat.completion`, or the bench stops and says why
/// (with `context`, such as the gateway's log).
async fn probe(target: &Target, name: &str, context: impl Fn() -> String) {
    let (status, body) =
        target.probe().await.unwrap_or_else(|e| panic!("probe {name}: the chat request failed: {e}{}", context()));
    let object = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("object").and_then(|o| o.as_str()).map(str::to_owned));
    assert!(
        status == hyper::StatusCode::OK && object.as_deref() == Some("chat.completion"),
        "probe {name}: expected 200 with a chat.completion, got {status}: {}{}",
        String::from_utf8_lossy(&body),
        context()
    );
}
