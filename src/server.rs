//! Config -> Pingora `ServerConf`/`Server`: the proxy service on HOST:PORT and the SIGHUP reloader.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use arc_swap::ArcSwap;
use log::{info, warn};
use pingora_core::connectors::http::Connector;
use pingora_core::connectors::ConnectorOptions;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::services::background::background_service;

use crate::cli::Cli;
use crate::config;
use crate::keys::Keys;
use crate::proxy::Gateway;
use crate::reload::{DrainService, Live, ReloadService, Snapshot};
use crate::spend::Limits;
use crate::upstream::Resolver;

/// Loads the config and runs the gateway until SIGTERM/SIGINT. Returns only on a startup error.
pub fn run(cli: &Cli, config_path: &Path) -> Result<(), String> {
    let config = config::load(config_path).map_err(|e| format!("{}: invalid config:\n{e}", config_path.display()))?;
    for w in &config.warnings {
        warn!("{w}");
    }
    crate::reload::warn_if_open(&config);
    // Taken by another process: say so now, rather than let Pingora's listener retry and warn forever.
    let listen = format!("{}:{}", cli.host, cli.port);
    drop(std::net::TcpListener::bind(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?);
    private_files();
    let state_dir = cli.state_dir();
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("state dir {}: {e}", state_dir.display()))?;
    let created =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    // The control plane (database driver, cache poller, spend writer, Redis reconnects) runs on a runtime
    // of its own that lives as long as the process: Pingora's service runtimes start only later.
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("tollgate-control")
        .enable_all()
        .build()
        .map_err(|e| format!("control runtime: {e}"))?;
    let database_url = config.general.database_url.clone();
    let keys = control.block_on(Keys::open(&state_dir, database_url.as_deref()))?;
    let limits = match config.general.redis_url.as_deref() {
        Some(url) => {
            info!("budget and rate counters in Redis ({})", redact_url(url));
            control.block_on(Limits::with_redis(url, config.general.fail_closed))
        }
        None => Limits::memory(),
    };
    limits.set_spend_source(Arc::new(crate::proxy::access::DatabaseSpend(keys.clone())));
    {
        let _guard = control.enter();
        keys.start();
        limits.start();
    }
    // Never dropped: its threads serve until the process exits.
    std::mem::forget(control);
    let snapshot = Snapshot::build(config, None, created).map_err(|e| e.join("\n"))?;
    info!(
        "serving {} model groups from {} on {}:{}",
        snapshot.config.groups.len(),
        config_path.display(),
        cli.host,
        cli.port
    );
    let live = Arc::new(Live {
        current: ArcSwap::from_pointee(snapshot),
        path: config_path.to_path_buf(),
        created,
        failed_reloads: AtomicU64::new(0),
        reloads: AtomicU64::new(0),
        in_flight: Arc::new(AtomicUsize::new(0)),
        health: arc_swap::ArcSwapOption::empty(),
    });

    let conf = ServerConf {
        threads: cli.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        work_stealing: true,
        grace_period_seconds: Some(cli.grace_period),
        graceful_shutdown_timeout_seconds: Some(cli.grace_period.clamp(1, 5)),
        ..ServerConf::default()
    };
    let connector = Connector::new(Some(ConnectorOptions::from_server_conf(&conf)));
    let health_connector = Connector::new(Some(ConnectorOptions::from_server_conf(&conf)));
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let client = crate::proxy::request::ClientTimeouts { body: std::time::Duration::from_secs(cli.client_timeout) };
    // Background health checks call providers on a connector of their own.
    let health_gw = Gateway {
        live: live.clone(),
        connector: health_connector,
        resolver: Resolver::default(),
        keys: keys.clone(),
        limits: limits.clone(),
        client,
    };
    let gateway =
        Gateway { live: live.clone(), connector, resolver: Resolver::default(), keys: keys.clone(), limits, client };
    let rules = crate::front::FrontRules {
        max_connections: connection_budget(usize::try_from(cli.max_connections).unwrap_or(usize::MAX)),
        keepalive: std::time::Duration::from_secs(cli.keepalive_timeout),
        client_timeout: std::time::Duration::from_secs(cli.client_timeout),
    };
    let front = crate::front::Front::new(pingora_proxy::http_proxy(&server.configuration, gateway), rules);
    let mut proxy = pingora_core::services::listening::Service::new("tollgate".to_string(), front);
    proxy.add_tcp(&listen);
    server.add_service(proxy);
    server.add_service(background_service("config reload", ReloadService { live: live.clone() }));
    server.add_service(background_service("health checks", crate::proxy::health::HealthService { gw: health_gw }));
    let grace = std::time::Duration::from_secs(cli.grace_period);
    server.add_service(background_service("drain on stop", DrainService { live, grace, keys }));
    server.run_forever()
}

/// Every file the process creates from now on is its own alone (0600, directories 0700): the state
/// directory's SQLite files hold key hashes, spend and audit records.
fn private_files() {
    // SAFETY: umask(2) only sets the calling process's file mode creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// `wanted` client connections, as many as the open-file limit allows: each takes two descriptors (the
/// client's and, while it calls, a provider's) and the process needs some of its own. The soft limit is
/// raised to the hard one first; a connection the limit cannot hold would fail at accept with no answer,
/// where the front door answers 503.
fn connection_budget(wanted: usize) -> usize {
    const OWN: u64 = 256;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct passed; they cannot fail for RLIMIT_NOFILE.
    let files = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return wanted;
        }
        let need = (wanted as u64).saturating_mul(2).saturating_add(OWN);
        if lim.rlim_cur < need && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: need.min(lim.rlim_max), rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = raised.rlim_cur;
            }
        }
        lim.rlim_cur
    };
    let fits = usize::try_from(files.saturating_sub(OWN) / 2).unwrap_or(usize::MAX).max(1);
    if fits < wanted {
        let need = (wanted as u64).saturating_mul(2).saturating_add(OWN);
        warn!("--max-connections {wanted} needs {need} open files, the limit is {files}: serving at most {fits}");
    }
    wanted.min(fits)
}

/// A Redis URL without its password, for logs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}***{}", &url[..scheme + 3], &url[at..]),
        _ => url.to_owned(),
    }
}
