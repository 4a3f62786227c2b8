//! The report: one markdown table of gateway vs direct with the targets next to the
//! figures, headed by the machine, the versions and the exact knobs of the run.

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

/// The gateway's CPU and memory over a closed loop.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Gateway CPU seconds per 1000 successful requests.
    pub cpu_per_1000: f64,
    /// Gateway CPU time over wall time: how many cores it kept busy.
    pub cores_busy: f64,
    /// Requests the gateway had served in all when `usage` was read.
    pub served: u64,
    /// The reading at the end.
    pub usage: ProcessUsage,
}

impl Cost {
    /// The gateway's cost between two readings around `phase`.
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

/// Everything one run of the bench measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// `tollgate --version`, `rustc -V`, the tree's revision.
    pub versions: Vec<String>,
    /// `NAME=value` of every knob, defaults included.
    pub knobs: Vec<String>,
    /// Who runs on how many threads: the three processes share the machine.
    pub threads: String,
    /// Open-loop rate, req/s.
    pub rate: u32,
    /// Closed-loop connections.
    pub connections: usize,
    /// Open loop, direct and through the gateway.
    pub open: [Phase; 2],
    /// Closed loop, direct and through the gateway.
    pub closed: [Phase; 2],
    /// Gateway RSS once live, before any load.
    pub idle: ProcessUsage,
    /// Gateway cost over the closed loop.
    pub cost: Cost,
    /// The long run of `LOAD_RSS_REQUESTS`, when asked for.
    pub long: Option<(Phase, Cost)>,
    /// Completions the fake upstream served, and how many the client got back in all.
    pub upstream_served: (u64, u64),
    /// Cores other processes kept busy on average during the run.
    pub other_cores: f64,
}

impl Report {
    /// The report as markdown.
    pub fn markdown(&self) -> String {
        let [open_direct, open_gateway] = &self.open;
        let [closed_direct, closed_gateway] = &self.closed;
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
            "- path: client → gateway → fake upstream vs client → fake upstream, all on 127.0.0.1 \
             of this machine; `POST /v1/chat/completions`, {} B non-streaming request, {} B \
             answer, master-key auth on\n",
            super::client::CHAT_REQUEST.len(),
            super::upstream::COMPLETION.len()
        );

        let _ = writeln!(out, "| measure | direct | gateway | added | target | met |");
        let _ = writeln!(out, "|---|--:|--:|--:|---|:-:|");
        let rate = self.rate;
        let open_row = |out: &mut String, name: &str, pick: fn(&Latency) -> Duration, max: Option<Duration>| {
            let direct = pick(&open_direct.latency);
            let gateway = pick(&open_gateway.latency);
            let added = ms(gateway) - ms(direct);
            let (target, met) = match max {
                Some(max) => (format!("added ≤ {} ms", ms(max)), verdict(added <= ms(max))),
                None => (String::new(), String::new()),
            };
            let _ = writeln!(
                out,
                "| {name}, open loop {rate} req/s | {:.3} ms | {:.3} ms | {added:+.3} ms | {target} | {met} |",
                ms(direct),
                ms(gateway)
            );
        };
        open_row(&mut out, "p50", |l| l.p50, Some(ADDED_P50_MAX));
        open_row(&mut out, "p90", |l| l.p90, None);
        open_row(&mut out, "p99", |l| l.p99, Some(ADDED_P99_MAX));
        open_row(&mut out, "max", |l| l.max, None);

        let _ = writeln!(
            out,
            "| throughput, closed loop {} conns | {} req/s | {} req/s | | ≥ {} req/s | {} |",
            self.connections,
            thousands(closed_direct.throughput),
            thousands(closed_gateway.throughput),
            thousands(THROUGHPUT_MIN),
            verdict(closed_gateway.throughput >= THROUGHPUT_MIN)
        );
        let _ = writeln!(
            out,
            "| p50 / p99, closed loop | {:.2} / {:.2} ms | {:.2} / {:.2} ms | | | |",
            ms(closed_direct.latency.p50),
            ms(closed_direct.latency.p99),
            ms(closed_gateway.latency.p50),
            ms(closed_gateway.latency.p99)
        );
        let cost = &self.cost;
        let _ = writeln!(
            out,
            "| gateway CPU per 1000 requests, closed loop | | {:.3} s ({:.2} cores busy) | | ≤ {CPU_PER_1000_MAX} s | {} |",
            cost.cpu_per_1000,
            cost.cores_busy,
            verdict(cost.cpu_per_1000 <= CPU_PER_1000_MAX)
        );
        let _ = writeln!(out, "| gateway RSS live, before load | | {} | | | |", megabytes(self.idle.rss_bytes));
        for (name, cost) in
            std::iter::once(("closed loop", cost)).chain(self.long.as_ref().map(|(_, long)| ("long run", long)))
        {
            let applies = cost.served >= RSS_AFTER_REQUESTS;
            let _ = writeln!(
                out,
                "| gateway RSS after {} requests ({name}) | | {} (peak {}) | | ≤ {} after {} | {} |",
                thousands(cost.served as f64),
                megabytes(cost.usage.rss_bytes),
                megabytes(cost.usage.peak_rss_bytes),
                megabytes(RSS_MAX),
                thousands(RSS_AFTER_REQUESTS as f64),
                if applies { verdict(cost.usage.rss_bytes <= RSS_MAX) } else { "n/a (too few requests)".to_owned() }
            );
        }
        if let Some((long, long_cost)) = &self.long {
            let _ = writeln!(
                out,
                "| long run: throughput, CPU per 1000 | | {} req/s, {:.3} s | | | |",
                thousands(long.throughput),
                long_cost.cpu_per_1000
            );
        }
        let failed = |phases: &[&Phase]| phases.iter().map(|p| p.failures).sum::<u64>();
        let direct_failed = failed(&[open_direct, closed_direct]);
        let mut gateway_phases = vec![open_gateway, closed_gateway];
        gateway_phases.extend(self.long.as_ref().map(|(p, _)| p));
        let gateway_failed = failed(&gateway_phases);
        let _ = writeln!(
            out,
            "| failed requests | {direct_failed} | {gateway_failed} | | 0 | {} |",
            verdict(direct_failed == 0 && gateway_failed == 0)
        );

        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "- open loop: {} + {} requests answered; worst dispatch lag {:.2} / {:.2} ms; {} ticks dropped",
            open_direct.ok,
            open_gateway.ok,
            ms(open_direct.max_dispatch_lag),
            ms(open_gateway.max_dispatch_lag),
            open_direct.dropped + open_gateway.dropped
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
        for phase in [open_direct, open_gateway, closed_direct, closed_gateway]
            .into_iter()
            .chain(self.long.as_ref().map(|(p, _)| p))
        {
            if let Some(first) = &phase.first_failure {
                let _ = writeln!(out, "- first failure: {first}");
                break;
            }
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
