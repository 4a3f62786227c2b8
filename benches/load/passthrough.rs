//! The floor under the gateway: a plain Pingora reverse proxy with the gateway's server settings
//! and no logic at all (no auth, no parsing, no routing), forwarding every request to the fake
//! upstream. What the gateway adds above this column is Tollgate's own cost; what this column
//! adds above the direct one is Pingora's and the extra hop's.
//!
//! It runs as its own process, like the gateway: the bench starts its own binary again with
//! `LOAD_ROLE=passthrough` ([`ROLE`]), so both proxies are measured with `/proc` the same way.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};

use async_trait::async_trait;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_proxy::{ProxyHttp, Session};

use super::gateway::{free_port, ProxyProcess};

/// The value of `LOAD_ROLE` that makes the bench binary a passthrough proxy.
pub const ROLE: &str = "passthrough";

/// Starts the passthrough proxy in a child process in front of `upstream` and waits until it
/// answers. `threads` as the gateway's `--threads`: one per core unless set.
pub fn start(upstream: SocketAddr, threads: Option<usize>) -> io::Result<ProxyProcess> {
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let mut command = Command::new(std::env::current_exe()?);
    command
        .env("LOAD_ROLE", ROLE)
        .env("LOAD_PASSTHROUGH_LISTEN", listen.to_string())
        .env("LOAD_PASSTHROUGH_UPSTREAM", upstream.to_string())
        .env("LOAD_PASSTHROUGH_THREADS", threads.unwrap_or_else(cpus).to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    // Any HTTP answer means it is up: it forwards the probe to the fake, which answers 404.
    ProxyProcess::spawn("Pingora passthrough", command, listen, b"HTTP/1.1 ")
}

/// The child's `main`: serves until killed. Settings come from the environment set by [`start`].
pub fn serve() -> ! {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the bench"));
    let listen = var("LOAD_PASSTHROUGH_LISTEN");
    let upstream: SocketAddr = var("LOAD_PASSTHROUGH_UPSTREAM").parse().expect("an upstream address");
    let threads: usize = var("LOAD_PASSTHROUGH_THREADS").parse().expect("a thread count");
    // The gateway's own server settings (src/server.rs), so only the logic differs.
    let conf = ServerConf { threads, work_stealing: true, ..ServerConf::default() };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy =
        pingora_proxy::http_proxy_service_with_name(&server.configuration, Passthrough { upstream }, "passthrough");
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.run_forever()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Every request to one plain-HTTP upstream, untouched.
struct Passthrough {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> pingora_core::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}
