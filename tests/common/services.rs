//! Real Redis and PostgreSQL for the tests: a `redis-server` of our own on a free port (killed and
//! restarted at will), a fresh PostgreSQL schema in the machine's `test` database (dropped afterwards),
//! and a TCP relay that can cut a gateway off from its database. A server that is missing fails the
//! test loudly under `CI=true`; elsewhere too, since silently skipping would hide the gap.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::free_port;

/// A `redis-server` process on 127.0.0.1 that keeps nothing on disk.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers PING.
    pub fn start() -> RedisServer {
        let mut server = RedisServer { child: None, port: free_port() };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would: SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server is needed for this test (apt-get install redis-server): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.cli(&["PING"]).is_some_and(|out| out.trim() == "PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not answer PING within 10 s", self.port);
    }

    /// Runs `redis-cli` against this server; `None` when it could not be run or failed.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &self.port.to_string()]).args(args).output();
        let out = out.ok().filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The test PostgreSQL's port: `TOLLGATE_TEST_PGPORT` (set by tests/run when it started a cluster of its
/// own), else 5432.
pub fn pg_port() -> u16 {
    std::env::var("TOLLGATE_TEST_PGPORT").ok().and_then(|p| p.parse().ok()).unwrap_or(5432)
}

/// A schema of its own in the machine's PostgreSQL `test` database, dropped when this is dropped.
pub struct PgSchema {
    name: String,
}

impl PgSchema {
    /// Creates `tg_<random>` in database `test` on 127.0.0.1:[`pg_port`] (user postgres, trust auth).
    pub fn create() -> PgSchema {
        let name = format!("tg_{}", uuid_like());
        psql(&format!("CREATE SCHEMA {name}"));
        PgSchema { name }
    }

    /// The URL of the schema through `host:port` (the server itself, or a [`TcpRelay`] in front of it).
    pub fn url_via(&self, port: u16) -> String {
        format!("postgresql://postgres@127.0.0.1:{port}/test?options=-csearch_path%3D{}", self.name)
    }

    /// The URL of the schema on the server itself.
    pub fn url(&self) -> String {
        self.url_via(pg_port())
    }

    /// Runs SQL in this schema and returns psql's unaligned output.
    pub fn query(&self, sql: &str) -> String {
        psql(&format!("SET search_path TO {}; {sql}", self.name))
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &pg_port().to_string(), "-U", "postgres", "-d", "test", "-qAtc"])
            .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .output();
    }
}

fn psql(sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &pg_port().to_string(), "-U", "postgres", "-d", "test"])
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .unwrap_or_else(|e| panic!("psql is needed for this test: {e}"));
    assert!(
        out.status.success(),
        "PostgreSQL on 127.0.0.1:{} (database test) is needed for this test; psql said: {}",
        pg_port(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", nanos & 0xffff_ffff_ffff, std::process::id())
}

/// A TCP relay on a free port of 127.0.0.1 to `target`: cut it to make a server unreachable, as a
/// network failure or a stopped database would, without stopping the server for the other tests.
pub struct TcpRelay {
    port: u16,
    up: Arc<AtomicBool>,
    _thread: std::thread::JoinHandle<()>,
}

impl TcpRelay {
    /// Starts relaying to `127.0.0.1:target`.
    pub fn start(target: u16) -> TcpRelay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().expect("relay addr").port();
        listener.set_nonblocking(true).expect("nonblocking relay");
        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        let thread = std::thread::spawn(move || {
            let mut live: Vec<(std::net::TcpStream, std::net::TcpStream)> = Vec::new();
            loop {
                if Arc::strong_count(&flag) == 1 {
                    return; // the relay was dropped
                }
                if !flag.load(Ordering::SeqCst) {
                    for (a, b) in live.drain(..) {
                        let _ = a.shutdown(std::net::Shutdown::Both);
                        let _ = b.shutdown(std::net::Shutdown::Both);
                    }
                }
                match listener.accept() {
                    Ok((client, _)) if flag.load(Ordering::SeqCst) => {
                        let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else { continue };
                        pipe(&client, &server);
                        pipe(&server, &client);
                        if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
                            live.push((a, b));
                        }
                    }
                    Ok((client, _)) => drop(client),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TcpRelay { port, up, _thread: thread }
    }

    /// The relay's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every relayed connection and refuses new ones until [`TcpRelay::restore`].
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
    }

    /// Relays again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn pipe(from: &std::net::TcpStream, to: &std::net::TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else { return };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
