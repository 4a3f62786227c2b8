//! What Linux says a process has used: CPU time from `/proc/<pid>/stat`, resident memory from
//! `/proc/<pid>/status`, and the machine from `/proc/cpuinfo`. Linux only, like the gateway's
//! deployment target.

use std::io;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// One reading of a process's resource use.
#[derive(Debug, Clone, Copy)]
pub struct ProcessUsage {
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    /// Resident set size now (`VmRSS`), in bytes.
    pub rss_bytes: u64,
    /// Highest resident set size so far (`VmHWM`), in bytes.
    pub peak_rss_bytes: u64,
}

impl ProcessUsage {
    /// Reads the usage of process `pid`.
    pub fn of(pid: u32) -> io::Result<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let ticks = cpu_ticks(&stat).ok_or_else(|| io::Error::other(format!("unreadable /proc/{pid}/stat: {stat}")))?;
        let cpu = Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64);
        let rss_bytes = status_kib(&status, "VmRSS:").unwrap_or(0) * 1024;
        let peak_rss_bytes = status_kib(&status, "VmHWM:").unwrap_or(0) * 1024;
        Ok(Self { cpu, rss_bytes, peak_rss_bytes })
    }
}

/// CPU time the whole machine has spent busy since boot (all CPUs, idle and iowait excluded),
/// from the first line of `/proc/stat`: with the bench's and the gateway's own CPU time taken
/// away, what is left over a run is other work that skewed it.
pub fn machine_busy() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .filter(|l| l.starts_with("cpu "))
        .map(|l| l.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect())
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal ...: skip idle (3) and iowait (4).
    let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = fields[..] else {
        return Err(io::Error::other(format!("unreadable /proc/stat: {stat}")));
    };
    let ticks = user + nice + system + irq + softirq + steal;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64))
}

/// `utime + stime` in clock ticks. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`: `state` is then field 0, `utime` 11, `stime` 12.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The value of a `Name:   1234 kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// `getconf CLK_TCK`, else 100, the value on every Linux the gateway targets.
fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// The machine a report was made on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPUs this process may run on.
    pub cpus: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// The 1-minute load average when the bench started: other work on the machine skews it all.
    pub load_average: String,
}

impl Machine {
    /// Reads the machine's description; unknown parts say so.
    pub fn describe() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned());
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        Self { cpus, cpu_model, kernel, load_average }
    }
}
