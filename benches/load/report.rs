//! The report: one markdown table of direct vs plain Pingora vs gateway with the targets
//! next to the figures, headed by the machine, the versions and the exact knobs of the run.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::client::{Latency, Run};
use super::procfs::{Machine, ProcessUsage};

/// Added latency at the median, at 200 req/s.
const ADDED_P50_MAX: Duration = Duration::from_micros(200);
/// Added latency at the 99th percentile, at 200 req/s.
const ADDED_P99_MAX: Duration = Duration::from_millis(1);
/// Closed-loop throughput through the gateway.
const THROUGHPUT_MIN: f64 = 8_000.0;
/// Gateway CPU seconds per 1000 requests.
const CPU_PER_1000_MAX: f64 = 0.15;
/// Gateway resident memory, in bytes (decimal megabytes: the stricter reading of "40 MB").
const RSS_MAX: u64 = 40_000_000;
/// The number of requests after which the RSS target applies.
const RSS_AFTER_REQUESTS: u64 = 100_000;

/// What the report says about one loop.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Percentiles of the successful requests.
    pub latency: Latency,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests.
    pub failures: u64,
    /// The first failure's message.
    pub first_failure: Option<String>,
    /// Successful requests per second.
    pub throughput: f64,
    /// Open loop: ticks dropped and the worst dispatch lag.
    pub dropped: u64,
    /// Open loop: the latest a tick was dispatched after its time.
    pub max_dispatch_lag: Duration,
}

impl Phase {
    /// Summarises a run.
    pub fn of(run: &Run) -> Self {
        Self {
            latency: run.latency(),
            ok: run.ok(),
            failures: run.failures,
            first_failure: run.first_failure.clone(),
            throughput: run.throughput(),
            dropped: run.dropped,
            max_dispatch_lag: run.max_dispatch_lag,
        }
    }
}

/// A proxy's CPU and memory over a closed loop.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// CPU seconds per 1000 successful requests.
    pub cpu_per_1000: f64,
    /// CPU time over wall time: how many cores it kept busy.
    pub cores_busy: f64,
    /// Requests the process had served in all when `usage` was read.
    pub served: u64,
    /// The reading at the end.
    pub usage: ProcessUsage,
}

impl Cost {
    /// The cost between two readings around `phase`.
    pub fn between(before: &ProcessUsage, after: &ProcessUsage, phase: &Phase, wall: Duration, served: u64) -> Self {
        let cpu = after.cpu.saturating_sub(before.cpu).as_secs_f64();
        Self {
            cpu_per_1000: cpu * 1000.0 / (phase.ok.max(1) as f64),
            cores_busy: cpu / wall.as_secs_f64().max(f64::EPSILON),
            served,
            usage: *after,
        }
    }
}

/// Picks one percentile out of a [`Latency`].
type Percentile = fn(&Latency) -> Duration;

/// The paths a request takes, in the order of every `[_; 3]` below: the fake upstream directly,
/// through a plain Pingora proxy, through the gateway.
pub const PATHS: [&str; 3] = ["direct", "passthrough", "gateway"];

/// Everything one run of the bench measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// `tollgate --version`, `rustc -V`, the tree's revision.
    pub versions: Vec<String>,
    /// `NAME=value` of every knob, defaults included.
    pub knobs: Vec<String>,
    /// Who runs on how many threads: the processes share the machine.
    pub threads: String,
    /// Open-loop rate, req/s.
    pub rate: u32,
    /// Closed-loop connections.
    pub connections: usize,
    /// Open loop, per path.
    pub open: [Phase; 3],
    /// One connection back to back, per path.
    pub serial: [Phase; 3],
    /// Closed loop, per path.
    pub closed: [Phase; 3],
    /// Passthrough and gateway usage once live, before any load.
    pub idle: [ProcessUsage; 2],
    /// Passthrough and gateway cost over their closed loops.
    pub costs: [Cost; 2],
    /// The gateway's long run of `LOAD_RSS_REQUESTS`, when asked for.
    pub long: Option<(Phase, Cost)>,
    /// Completions the fake upstream served, and how many the client got back in all.
    pub upstream_served: (u64, u64),
    /// Cores other processes kept busy on average during the run.
    pub other_cores: f64,
}

impl Report {
    /// The report as markdown.
    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "## Tollgate load benchmark\n");
        let _ = writeln!(
            out,
            "- machine: {} CPU{} ({}), Linux {}, load average {} at start",
            m.cpus,
            if m.cpus == 1 { "" } else { "s" },
            m.cpu_model,
            m.kernel,
            m.load_average
        );
        let _ = writeln!(out, "- build: {}", self.versions.join(", "));
        let _ = writeln!(out, "- command: `{} cargo bench --bench load`", self.knobs.join(" "));
        let _ = writeln!(out, "- threads: {}", self.threads);
        let _ = writeln!(
            out,
            "- paths: client → fake upstream (direct), client → plain Pingora proxy → fake (passthrough), \
             client → gateway → fake, all on 127.0.0.1 of this machine; `POST /v1/chat/completions`, {} B \
             non-streaming request, {} B answer; master-key auth on the gateway\n",
            super::client::CHAT_REQUEST.len(),
            super::upstream::COMPLETION.len()
        );

        let _ = writeln!(out, "| measure | direct | passthrough | gateway | added (gateway − direct) | target | met |");
        let _ = writeln!(out, "|---|--:|--:|--:|--:|---|:-:|");
        let rate = self.rate;
        let targets: [(&str, Percentile, Option<Duration>); 4] = [
            ("p50", |l| l.p50, Some(ADDED_P50_MAX)),
            ("p90", |l| l.p90, None),
            ("p99", |l| l.p99, Some(ADDED_P99_MAX)),
            ("max", |l| l.max, None),
        ];
        for (name, pick, max) in targets {
            let [direct, passthrough, gateway] = self.open.each_ref().map(|p| ms(pick(&p.latency)));
            let added = gateway - direct;
            let (target, met) = match max {
                Some(max) => (format!("added ≤ {} ms", ms(max)), verdict(added <= ms(max))),
                None => (String::new(), String::new()),
            };
            let _ = writeln!(
                out,
                "| {name}, open loop {rate} req/s | {direct:.3} ms | {passthrough:.3} ms | {gateway:.3} ms | \
                 {added:+.3} ms | {target} | {met} |"
            );
        }
        for (name, pick) in [("p50", (|l: &Latency| l.p50) as Percentile), ("p99", |l| l.p99)] {
            let [direct, passthrough, gateway] = self.serial.each_ref().map(|p| ms(pick(&p.latency)));
            let _ = writeln!(
                out,
                "| {name}, 1 conn back to back | {direct:.3} ms | {passthrough:.3} ms | {gateway:.3} ms | \
                 {:+.3} ms | | |",
                gateway - direct
            );
        }
        let [direct, passthrough, gateway] = self.closed.each_ref().map(|p| thousands(p.throughput));
        let _ = writeln!(
            out,
            "| throughput, closed loop {} conns | {direct} req/s | {passthrough} req/s | {gateway} req/s | | \
             ≥ {} req/s | {} |",
            self.connections,
            thousands(THROUGHPUT_MIN),
            verdict(self.closed[2].throughput >= THROUGHPUT_MIN)
        );
        let [direct, passthrough, gateway] =
            self.closed.each_ref().map(|p| format!("{:.2} / {:.2} ms", ms(p.latency.p50), ms(p.latency.p99)));
        let _ = writeln!(out, "| p50 / p99, closed loop | {direct} | {passthrough} | {gateway} | | | |");
        let [passthrough, gateway] = &self.costs;
        let _ = writeln!(
            out,
            "| CPU per 1000 requests, closed loop | | {:.3} s ({:.2} cores busy) | {:.3} s ({:.2} cores busy) | | \
             ≤ {CPU_PER_1000_MAX} s | {} |",
            passthrough.cpu_per_1000,
            passthrough.cores_busy,
            gateway.cpu_per_1000,
            gateway.cores_busy,
            verdict(gateway.cpu_per_1000 <= CPU_PER_1000_MAX)
        );
        let _ = writeln!(
            out,
            "| RSS live, before load | | {} | {} | | | |",
            megabytes(self.idle[0].rss_bytes),
            megabytes(self.idle[1].rss_bytes)
        );
        let _ = writeln!(
            out,
            "| RSS after the closed loop | | {} | {} (peak {}) after {} requests | | ≤ {} after {} | {} |",
            megabytes(passthrough.usage.rss_bytes),
            megabytes(gateway.usage.rss_bytes),
            megabytes(gateway.usage.peak_rss_bytes),
            thousands(gateway.served as f64),
            megabytes(RSS_MAX),
            thousands(RSS_AFTER_REQUESTS as f64),
            rss_verdict(gateway)
        );
        if let Some((long, cost)) = &self.long {
            let _ = writeln!(
                out,
                "| RSS after the long run | | | {} (peak {}) after {} requests | | ≤ {} after {} | {} |",
                megabytes(cost.usage.rss_bytes),
                megabytes(cost.usage.peak_rss_bytes),
                thousands(cost.served as f64),
                megabytes(RSS_MAX),
                thousands(RSS_AFTER_REQUESTS as f64),
                rss_verdict(cost)
            );
            let _ = writeln!(
                out,
                "| long run: throughput, CPU per 1000 | | | {} req/s, {:.3} s | | | |",
                thousands(long.throughput),
                cost.cpu_per_1000
            );
        }
        let phases = |i: usize| {
            let mut all = vec![&self.open[i], &self.serial[i], &self.closed[i]];
            if i == 2 {
                all.extend(self.long.as_ref().map(|(p, _)| p));
            }
            all
        };
        let [direct, passthrough, gateway] = [0, 1, 2].map(|i| phases(i).iter().map(|p| p.failures).sum::<u64>());
        let _ = writeln!(
            out,
            "| failed requests | {direct} | {passthrough} | {gateway} | | 0 | {} |",
            verdict(direct + passthrough + gateway == 0)
        );

        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "- open loop: {} requests answered per path; worst dispatch lag {:.2} ms; {} ticks dropped",
            self.open[2].ok,
            self.open.iter().map(|p| ms(p.max_dispatch_lag)).fold(0.0, f64::max),
            self.open.iter().map(|p| p.dropped).sum::<u64>()
        );
        let _ = writeln!(
            out,
            "- other processes kept {:.2} of {} cores busy during the run{}",
            self.other_cores,
            m.cpus,
            if self.other_cores > 0.1 { " (figures skewed: rerun on a quiet machine)" } else { "" }
        );
        let (served, expected) = self.upstream_served;
        let _ = writeln!(
            out,
            "- the fake upstream served {} completions; the client got {} answers{}",
            thousands(served as f64),
            thousands(expected as f64),
            if served == expected { "" } else { " (MISMATCH: not every answer came from upstream)" }
        );
        if let Some(first) = (0..3).flat_map(phases).find_map(|p| p.first_failure.as_ref()) {
            let _ = writeln!(out, "- first failure: {first}");
        }
        out
    }

    /// Prints the report and writes it to `path`.
    pub fn publish(&self, path: &Path) -> std::io::Result<()> {
        let markdown = self.markdown();
        println!("{markdown}");
        std::fs::write(path, markdown)?;
        println!("written to {}", path.display());
        Ok(())
    }
}

/// `tollgate --version`, `rustc -V`, and `git describe` of the tree, each when available.
pub fn versions(binary: &Path) -> Vec<String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |program: &Path, args: &[&str]| -> Option<String> {
        let out = Command::new(program).args(args).current_dir(workspace).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
    };
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    vec![
        run(binary, &["--version"]).unwrap_or_else(|| "tollgate (version unknown)".to_owned()),
        run(Path::new(&rustc), &["-V"]).unwrap_or_else(|| "rustc (version unknown)".to_owned()),
        run(Path::new("git"), &["describe", "--always", "--dirty"])
            .map_or_else(|| "no git commit yet".to_owned(), |rev| format!("git {rev}")),
    ]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn verdict(met: bool) -> String {
    if met { "yes" } else { "**no**" }.to_owned()
}

/// The RSS target applies only once enough requests have gone through.
fn rss_verdict(cost: &Cost) -> String {
    if cost.served < RSS_AFTER_REQUESTS {
        return "n/a (too few requests)".to_owned();
    }
    verdict(cost.usage.rss_bytes <= RSS_MAX)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `12345.6` as `12,346`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}
