//! The gateway binary as a user starts it: config written to a temp dir, a free port, readiness
//! awaited on `/health/liveliness`, killed when dropped. Its stderr goes to a file whose tail is
//! printed when a test panics, so a failure shows what the gateway said. Reload and stop tests
//! rewrite its config file and send it signals as an operator would (`kill -s HUP|TERM`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// How long a gateway gets to answer its liveliness probe.
const READY_DEADLINE: Duration = Duration::from_secs(20);
/// How often to try a new port when the one chosen was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// A running `tollgate` process on 127.0.0.1 and a free port.
pub struct Gateway {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Gateway {
    /// Starts the gateway on `config_yaml` and waits until it serves.
    pub async fn start(config_yaml: &str) -> Gateway {
        Gateway::start_with_env(config_yaml, &[]).await
    }

    /// Starts the gateway with extra environment variables (for `os.environ/NAME`).
    pub async fn start_with_env(config_yaml: &str, env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, config_yaml).expect("write config");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut child = spawn(&config, &state, dir.path(), port, env);
            match wait_ready(&mut child, port).await {
                Ok(()) => return Gateway { child, port, dir },
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                    // Another process may take the port between our probe and the gateway's bind.
                    let lost_port_race = stderr.contains("in use");
                    last_failure = format!("{why}\n--- gateway stderr ---\n{stderr}");
                    if !lost_port_race {
                        break;
                    }
                }
            }
        }
        panic!("gateway did not become ready: {last_failure}");
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The port the gateway listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything the gateway wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// Polls stderr until it contains `needle` or `limit` passes; true if it did.
    pub async fn stderr_contains_within(&self, needle: &str, limit: Duration) -> bool {
        let started = Instant::now();
        loop {
            if self.stderr().contains(needle) {
                return true;
            }
            if started.elapsed() >= limit {
                return false;
            }
            // Poll interval of a log file, not a stand-in for an event.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends signal `name` (`HUP`, `TERM`, ...) to the gateway, as an operator's `kill -s NAME` does.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {name} {} failed: {status}", self.pid());
    }

    /// The gateway's `--state-dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The config file the gateway was started on (and re-reads on SIGHUP).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// Replaces the config file in one step (write aside, then rename), so a reload never reads
    /// half a file.
    pub fn rewrite_config(&self, yaml: &str) {
        let aside = self.dir.path().join("config.yaml.next");
        std::fs::write(&aside, yaml).expect("write the next config");
        std::fs::rename(&aside, self.config_path()).expect("rename the next config into place");
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait on the gateway")
    }

    /// Polls until the process exits or `limit` passes; the exit status and when it was seen.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<(ExitStatus, Instant)> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return Some((status, Instant::now()));
            }
            if started.elapsed() >= limit {
                return None;
            }
            // Poll interval of the exit check: a child's exit has no async notification here.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Polls `/health/liveliness` until it answers 200, the process exits, or the deadline passes.
async fn wait_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let client =
        reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(1)).build().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/health/liveliness");
    while started.elapsed() < READY_DEADLINE {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("gateway exited before serving: {status}"));
        }
        if let Ok(resp) = client.get(&url).send().await {
            if resp.status().as_u16() == 200 {
                return Ok(());
            }
        }
        // Poll interval of the readiness probe, not a stand-in for it.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("no 200 from {url} within {READY_DEADLINE:?}"))
}

fn spawn(config: &Path, state: &Path, dir: &Path, port: u16, env: &[(&str, &str)]) -> Child {
    let stderr = File::create(dir.join("stderr.log")).expect("stderr file");
    let stdout = File::create(dir.join("stdout.log")).expect("stdout file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.arg("--config")
        .arg(config)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--state-dir")
        .arg(state)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // The CLI also reads these; a developer's shell must not change what the test runs.
    for var in [
        "TOLLGATE_CONFIG",
        "TOLLGATE_HOST",
        "TOLLGATE_PORT",
        "TOLLGATE_STATE_DIR",
        "STATE_DIRECTORY",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn tollgate")
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let err = self.stderr();
            let tail: String = {
                let lines: Vec<&str> = err.lines().collect();
                lines[lines.len().saturating_sub(60)..].join("\n")
            };
            eprintln!("--- tollgate stderr (last 60 lines, port {}) ---\n{tail}", self.port);
        }
    }
}
