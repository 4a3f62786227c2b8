//! Load benchmark: the release gateway against a fast in-process fake upstream, compared in one
//! run with the same client talking to the fake directly and through a plain Pingora proxy.
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
#[path = "load/passthrough.rs"]
mod passthrough;
#[path = "load/procfs.rs"]
mod procfs;
#[path = "load/report.rs"]
mod report;
#[path = "load/upstream.rs"]
mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{closed_loop, open_loop, Target};
use gateway::{ProxyProcess, MASTER_KEY};
use procfs::{Machine, ProcessUsage};
use report::{Cost, Phase, Report};
use upstream::{FakeUpstream, UPSTREAM_KEY};

/// The hard ceiling on the long `LOAD_RSS_REQUESTS` run, whatever its count.
const LONG_RUN_MAX: Duration = Duration::from_secs(600);
/// The closed loop that warms every path (connections, pools, caches) before anything counts.
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
    /// `LOAD_KEYS`: call the gateway with a virtual key that has a budget and rpm/tpm limits, its
    /// counters in memory (`embedded`) or in a Redis of the bench's own (`redis`); unset: the master key.
    keys: Option<String>,
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
            keys: std::env::var("LOAD_KEYS").ok().filter(|k| !k.is_empty()),
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
        knobs.extend(self.keys.as_ref().map(|k| format!("LOAD_KEYS={k}")));
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
    // The bench starts itself again as the plain Pingora proxy it compares the gateway with.
    if std::env::var("LOAD_ROLE").is_ok_and(|role| role == passthrough::ROLE) {
        passthrough::serve();
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets without it. A
    // release build and a minute of load are not a test: say how to run it and stop.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("load: a benchmark, not a test; run it with `cargo bench --bench load`");
        return;
    }
    let settings = Settings::from_env();
    let machine = Machine::describe();
    let binary = gateway::gateway_binary();
    let versions = report::versions(&binary);
    let upstream = FakeUpstream::start().expect("start the fake upstream on 127.0.0.1");
    let passthrough = passthrough::start(upstream.addr(), settings.gateway_threads)
        .unwrap_or_else(|e| panic!("start the Pingora passthrough: {e}"));
    let redis = match settings.keys.as_deref() {
        Some("redis") => Some(gateway::Redis::start().unwrap_or_else(|e| panic!("start redis-server: {e}"))),
        Some("embedded") | None => None,
        Some(other) => panic!("LOAD_KEYS={other}: expected embedded or redis"),
    };
    let gateway = gateway::start_gateway(
        &binary,
        upstream.addr(),
        settings.gateway_threads,
        settings.routing.as_deref(),
        redis.as_ref().map(gateway::Redis::port),
    )
    .unwrap_or_else(|e| panic!("start the gateway ({}): {e}", binary.display()));
    let gateway_key = match settings.keys {
        Some(_) => gateway::generate_key(gateway.addr()).unwrap_or_else(|e| panic!("make a virtual key: {e}")),
        None => MASTER_KEY.to_owned(),
    };
    eprintln!(
        "load: fake upstream on {}, Pingora passthrough (pid {}) on {}, gateway (pid {}) on {}",
        upstream.addr(),
        passthrough.pid(),
        passthrough.addr(),
        gateway.pid(),
        gateway.addr()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .thread_name("load-client")
        .enable_all()
        .build()
        .expect("start the client runtime");
    let report =
        runtime.block_on(measure(&settings, &upstream, [&passthrough, &gateway], &gateway_key, machine, versions));

    let path = gateway::target_dir().join("load-report.md");
    report.publish(&path).expect("write the report");
}

/// Runs every phase on every path ([`report::PATHS`]) and gathers the figures. `proxies` are the
/// passthrough and the gateway, in that order.
async fn measure(
    settings: &Settings,
    upstream: &FakeUpstream,
    proxies: [&ProxyProcess; 2],
    gateway_key: &str,
    machine: Machine,
    versions: Vec<String>,
) -> Report {
    let [passthrough, gateway] = proxies;
    let pids = proxies.map(ProxyProcess::pid);
    // The passthrough forwards the client's Authorization as it is, so it gets the upstream key.
    let targets: [Arc<Target>; 3] = [
        Arc::new(Target::new(upstream.addr(), UPSTREAM_KEY)),
        Arc::new(Target::new(passthrough.addr(), UPSTREAM_KEY)),
        Arc::new(Target::new(gateway.addr(), gateway_key)),
    ];
    let logs = || format!("\npassthrough log:\n{}\ngateway log:\n{}", passthrough.log_tail(), gateway.log_tail());
    let usage = || pids.map(|pid| ProcessUsage::of(pid).unwrap_or_else(|e| panic!("read /proc/{pid}: {e}{}", logs())));
    let failed = |what: &str, e: client::Failure| -> ! { panic!("{what}: {e}{}", logs()) };

    // Every path must answer a real completion before anything is timed.
    for (target, name) in targets.iter().zip(report::PATHS) {
        probe(target, name, logs).await;
    }
    let idle = usage();
    let others = OtherLoad::start(&pids);
    // Answers the client got on each path.
    let mut answered = [1u64; 3];

    eprintln!("load: warm-up, {WARM_UP:?} closed loop on each path");
    for (target, answered) in targets.iter().zip(&mut answered) {
        let run = closed_loop(target, settings.conc, WARM_UP, u64::MAX).await.unwrap_or_else(|e| failed("warm-up", e));
        *answered += run.ok();
    }

    eprintln!("load: open loop, {} req/s on each path for {} s, in 1 s turns", settings.rate, settings.secs);
    let open = open_loop(&targets, settings.rate, settings.duration(), settings.open_conns)
        .await
        .unwrap_or_else(|e| failed("open loop", e));
    let open: [Phase; 3] = std::array::from_fn(|i| Phase::of(&open[i]));
    for (answered, phase) in answered.iter_mut().zip(&open) {
        *answered += phase.ok;
    }

    // One connection, back to back: the CPUs never idle, so this is each proxy's own work plus
    // its extra hop, without the wake-ups from idle that dominate the 200 req/s figures.
    let serial_time = (settings.duration() / 2).max(Duration::from_secs(1));
    eprintln!("load: back to back on one connection, {serial_time:?} on each path");
    let mut serial = Vec::with_capacity(3);
    for (target, answered) in targets.iter().zip(&mut answered) {
        let run = closed_loop(target, 1, serial_time, u64::MAX).await.unwrap_or_else(|e| failed("back to back", e));
        *answered += run.ok();
        serial.push(Phase::of(&run));
    }

    let mut closed = Vec::with_capacity(3);
    let mut costs = Vec::with_capacity(2);
    for (i, (target, name)) in targets.iter().zip(report::PATHS).enumerate() {
        eprintln!("load: closed loop {name}, {} connections for {} s", settings.conc, settings.secs);
        let before = usage();
        let run = closed_loop(target, settings.conc, settings.duration(), u64::MAX)
            .await
            .unwrap_or_else(|e| failed("closed loop", e));
        let after = usage();
        answered[i] += run.ok();
        let phase = Phase::of(&run);
        // The proxies are paths 1 and 2; readings are in the same order.
        if let Some(proxy) = i.checked_sub(1) {
            costs.push(Cost::between(&before[proxy], &after[proxy], &phase, run.elapsed, answered[i]));
        }
        closed.push(phase);
    }

    let long = if settings.rss_requests > 0 {
        eprintln!(
            "load: long run, {} requests through the gateway on {} connections",
            settings.rss_requests, settings.conc
        );
        let [_, before] = usage();
        let run = closed_loop(&targets[2], settings.conc, LONG_RUN_MAX, settings.rss_requests)
            .await
            .unwrap_or_else(|e| failed("long run", e));
        let [_, after] = usage();
        answered[2] += run.ok();
        let phase = Phase::of(&run);
        let cost = Cost::between(&before, &after, &phase, run.elapsed, answered[2]);
        Some((phase, cost))
    } else {
        None
    };

    Report {
        machine,
        versions,
        knobs: settings.knobs(),
        threads: format!(
            "gateway and passthrough {}, load client {}, fake upstream 1",
            settings.gateway_threads.map_or_else(|| "default (one per core)".to_owned(), |t| t.to_string()),
            settings.client_threads
        ),
        rate: settings.rate,
        connections: settings.conc,
        open,
        serial: serial.try_into().expect("one run per path"),
        closed: closed.try_into().expect("one run per path"),
        idle,
        costs: costs.try_into().expect("one cost per proxy"),
        long,
        upstream_served: (upstream.completions(), answered.iter().sum()),
        other_cores: others.cores(&pids),
    }
}

/// CPU time the rest of the machine used while the bench ran: everything busy minus this
/// process (client and fake upstream) minus the proxies.
struct OtherLoad {
    started: Instant,
    busy: Duration,
    ours: Duration,
}

impl OtherLoad {
    fn start(proxies: &[u32]) -> Self {
        Self { started: Instant::now(), busy: busy(), ours: ours(proxies) }
    }

    /// Cores the other processes kept busy on average since [`OtherLoad::start`].
    fn cores(&self, proxies: &[u32]) -> f64 {
        let busy = busy().saturating_sub(self.busy);
        let ours = ours(proxies).saturating_sub(self.ours);
        busy.saturating_sub(ours).as_secs_f64() / self.started.elapsed().as_secs_f64().max(f64::EPSILON)
    }
}

fn busy() -> Duration {
    procfs::machine_busy().expect("read /proc/stat")
}

/// CPU time of this process (client and fake upstream) plus the proxies'.
fn ours(proxies: &[u32]) -> Duration {
    let own = ProcessUsage::of(std::process::id()).expect("read /proc/self").cpu;
    own + proxies.iter().map(|&pid| ProcessUsage::of(pid).map_or(Duration::ZERO, |u| u.cpu)).sum::<Duration>()
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
