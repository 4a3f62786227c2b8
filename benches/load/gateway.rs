//! The proxies under test as child processes ([`ProxyProcess`]: free port of 127.0.0.1, log file,
//! bounded wait until live, killed when dropped), and the gateway as a user runs it
//! ([`start_gateway`]): the release binary, a LiteLLM `config.yaml` with a master key and one
//! OpenAI deployment on the fake upstream, and a private state directory.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The master key the bench config sets; the client sends it as a Bearer token.
pub const MASTER_KEY: &str = "sk-bench";
/// The model group the bench config declares and the client asks for.
pub const MODEL_GROUP: &str = "bench-model";

/// How long a proxy may take to answer after it starts.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running proxy process.
pub struct ProxyProcess {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl ProxyProcess {
    /// Starts `command` (which must listen on `addr`) with its output in a log file, then polls
    /// `GET /health/liveliness` until the answer starts with `ready`, the process exits, or
    /// [`READY_WITHIN`] is up.
    pub fn spawn(name: &'static str, command: Command, addr: SocketAddr, ready: &[u8]) -> io::Result<Self> {
        Self::spawn_in(name, command, addr, ready, tempfile::Builder::new().prefix("tollgate-load-").tempdir()?)
    }

    fn spawn_in(
        name: &'static str,
        mut command: Command,
        addr: SocketAddr,
        ready: &[u8],
        dir: TempDir,
    ) -> io::Result<Self> {
        let log = std::fs::File::create(dir.path().join("process.log"))?;
        command.stdout(log.try_clone()?).stderr(log);
        let child = command.spawn().map_err(|e| io::Error::new(e.kind(), format!("start the {name}: {e}")))?;
        let mut process = Self { name, child, addr, dir };
        process.wait_live(ready)?;
        Ok(process)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id, for `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines it wrote, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("process.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_live(&mut self, ready: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "the {} exited ({status}) before it was live; its log:\n{}",
                    self.name,
                    self.log_tail()
                )));
            }
            if liveliness(self.addr).is_ok_and(|head| head.starts_with(ready)) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the {} did not answer within {READY_WITHIN:?}; its log:\n{}", self.name, self.log_tail()),
        ))
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // A bench has nothing to drain: SIGKILL, then reap so no zombie is left behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway's release binary: `TOLLGATE_BIN` if set, else the one `cargo bench` built beside this
/// bench (Cargo builds a package's binaries for its benches, in the same profile and with the same
/// features), so the figures never come from a stale build. (Running `cargo build --release` from here
/// instead made the two invocations rebuild Pingora and its TLS stack in turn, five minutes each.)
pub fn gateway_binary() -> PathBuf {
    match std::env::var_os("TOLLGATE_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => PathBuf::from(env!("CARGO_BIN_EXE_tollgate")),
    }
}

/// Writes the config (see [`config_yaml`] for `routing`) and starts the gateway `binary` in front
/// of `upstream` on a free port, then waits until `/health/liveliness` answers 200. `threads` is
/// passed as `--threads` when set (the gateway's default is one per core).
pub fn start_gateway(
    binary: &Path,
    upstream: SocketAddr,
    threads: Option<usize>,
    routing: Option<&str>,
    redis_port: Option<u16>,
) -> io::Result<ProxyProcess> {
    let dir = tempfile::Builder::new().prefix("tollgate-load-").tempdir()?;
    let config = dir.path().join("config.yaml");
    let mut yaml = config_yaml(upstream, routing);
    if let Some(port) = redis_port {
        // Counters in Redis: the settings LiteLLM reads, in a section of their own if routing set none.
        if yaml.contains("router_settings:\n") {
            yaml = yaml.replace(
                "router_settings:\n",
                &format!("router_settings:\n  redis_host: 127.0.0.1\n  redis_port: {port}\n"),
            );
        } else {
            yaml.push_str(&format!("router_settings:\n  redis_host: 127.0.0.1\n  redis_port: {port}\n"));
        }
    }
    std::fs::write(&config, yaml)?;
    let state = dir.path().join("state");
    std::fs::create_dir(&state)?;
    let port = free_port()?;

    let mut command = Command::new(binary);
    command
        .arg("--config")
        .arg(&config)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--state-dir")
        .arg(&state)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    if let Some(threads) = threads {
        command.args(["--threads", &threads.to_string()]);
    }
    ProxyProcess::spawn_in("gateway", command, (Ipv4Addr::LOCALHOST, port).into(), b"HTTP/1.1 200", dir)
}

/// The LiteLLM config: master-key auth on, one group with one OpenAI deployment on the fake; with
/// a `routing` strategy (`LOAD_ROUTING`), two deployments on the fake under that
/// `routing_strategy`, so the strategy runs.
fn config_yaml(upstream: SocketAddr, routing: Option<&str>) -> String {
    let deployment = format!(
        "  - model_name: {MODEL_GROUP}
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://{upstream}/v1
      api_key: {key}
",
        key = super::upstream::UPSTREAM_KEY
    );
    let (deployments, router) = match routing {
        // The second entry differs by its rpm so it is a deployment of its own.
        Some(strategy) => (
            format!("{deployment}{deployment}      rpm: 100000000\n"),
            format!("router_settings:\n  routing_strategy: {strategy}\n"),
        ),
        None => (deployment, String::new()),
    };
    format!("model_list:\n{deployments}{router}general_settings:\n  master_key: {MASTER_KEY}\n")
}

/// One `GET /health/liveliness` on a fresh connection: the first bytes of the answer.
fn liveliness(addr: SocketAddr) -> io::Result<[u8; 12]> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    write!(stream, "GET /health/liveliness HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    Ok(head)
}

/// A port of 127.0.0.1 that was free a moment ago (bound, then released).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Cargo's target directory, found from this bench's own path: `<target>/release/deps/load-*`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its own path");
    exe.ancestors().nth(3).map(Path::to_path_buf).expect("the bench runs from <target>/<profile>/deps")
}

/// A virtual key made through the gateway's `/key/generate` with the master key: a budget far above
/// what the bench spends, and rpm/tpm limits far above its rate, so every check runs and none refuses.
pub fn generate_key(addr: SocketAddr) -> io::Result<String> {
    let body = r#"{"max_budget": 1000000000, "budget_duration": "30d", "rpm_limit": 100000000, "tpm_limit": 100000000000, "key_alias": "load-bench"}"#;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "POST /key/generate HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {MASTER_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| io::Error::other(format!("/key/generate answered no JSON ({e}): {answer}")))?;
    value["key"].as_str().map(str::to_owned).ok_or_else(|| io::Error::other(format!("no key in {answer}")))
}

/// A `redis-server` of the bench's own on a free port, killed when dropped.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> io::Result<Redis> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_millis(200)).is_ok() {
                return Ok(Redis { child, port });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::other("redis-server did not listen within 10 s"))
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
