//! The live configuration: one immutable [`Snapshot`] behind an `ArcSwap`, replaced whole on SIGHUP.
//!
//! A request loads the snapshot once in `new_ctx` and keeps it to the end, so a reload never changes a
//! request in flight. A file that does not validate is refused, logged with its key paths, and the old
//! snapshot keeps serving.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use log::{error, info, warn};
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use crate::config::{self, Config, ProviderChoice};
use crate::cost::Prices;
use crate::router::Router;
use crate::upstream::vertex::VertexAuth;
use crate::upstream::Target;
use tollgate_filters::Provider;

/// Everything derived from one config file, built once per load.
pub struct Snapshot {
    /// The validated config.
    pub config: Arc<Config>,
    /// Parsed `api_base` of every deployment that calls a provider, by deployment id.
    pub targets: HashMap<String, Target>,
    /// Bedrock deployments' `aws_bedrock_runtime_endpoint`, by deployment id: their Converse calls go there.
    pub runtime_targets: HashMap<String, Target>,
    /// Routing state: strategies, passive health and cooldowns (carried over across reloads by id).
    pub router: Router,
    /// The `/v1/models` body, rendered once.
    pub models_body: Bytes,
    /// The master key's bytes, if any.
    pub master_key: Option<Vec<u8>>,
    /// Vertex AI service-account signers by deployment id (their tokens cached until expiry).
    pub vertex: HashMap<String, Arc<VertexAuth>>,
    /// Prices per token by deployment id: the price table, overridden by the deployment's own
    /// `*_cost_per_token` (litellm_params, then model_info). A deployment with no known price is absent
    /// and costs nothing (as in LiteLLM, which logs it).
    pub prices: HashMap<String, Prices>,
}

impl Snapshot {
    /// Builds a snapshot; fails with key paths when an `api_base` cannot be parsed.
    pub fn build(config: Config, previous: Option<&Snapshot>, created: u64) -> Result<Snapshot, Vec<String>> {
        let mut targets = HashMap::new();
        let mut runtime_targets = HashMap::new();
        let mut vertex = HashMap::new();
        let mut errors = Vec::new();
        for group in &config.groups {
            for d in &group.deployments {
                if d.provider == ProviderChoice::Served(Provider::VertexAi) && d.mock_response.is_none() {
                    let Some(credentials) = d.cloud.vertex_credentials.as_deref() else {
                        errors.push(format!(
                            "model_list[{}].litellm_params.vertex_credentials: required for vertex_ai (or set GOOGLE_APPLICATION_CREDENTIALS)",
                            d.index
                        ));
                        continue;
                    };
                    let auth = previous.and_then(|p| p.vertex.get(&d.id)).cloned().map(Ok);
                    match auth.unwrap_or_else(|| VertexAuth::from_credentials(credentials).map(Arc::new)) {
                        Ok(auth) => {
                            vertex.insert(d.id.clone(), auth);
                        }
                        Err(e) => errors.push(format!("model_list[{}].litellm_params.{e}", d.index)),
                    }
                }
                if let Some(endpoint) = d.cloud.aws_bedrock_runtime_endpoint.as_deref() {
                    match Target::parse(endpoint) {
                        Ok(t) => {
                            runtime_targets.insert(d.id.clone(), t);
                        }
                        Err(e) => errors
                            .push(format!("model_list[{}].litellm_params.aws_bedrock_runtime_endpoint: {e}", d.index)),
                    }
                }
                let Some(base) = d.api_base.as_deref() else { continue };
                match Target::parse(base) {
                    Ok(t) => {
                        targets.insert(d.id.clone(), t);
                    }
                    Err(e) => errors.push(format!("model_list[{}].litellm_params.api_base: {e}", d.index)),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let prices = deployment_prices(&config);
        let router = Router::new(&config, previous.map(|p| &p.router));
        let models_body = crate::admin::models_body(&config, created);
        let master_key = config.general.master_key.as_ref().map(|k| k.as_bytes().to_vec());
        Ok(Snapshot {
            config: Arc::new(config),
            targets,
            runtime_targets,
            router,
            models_body,
            master_key,
            vertex,
            prices,
        })
    }
}

/// Every deployment's prices (see [`Snapshot::prices`]); deployments without one are logged once per load
/// (a wildcard's are the served model's, worked out per call).
fn deployment_prices(config: &Config) -> HashMap<String, Prices> {
    let mut prices = HashMap::new();
    for d in config.groups.iter().flat_map(|g| g.deployments.iter()) {
        match prices_of(d) {
            Some(p) => {
                prices.insert(d.id.clone(), p);
            }
            None if d.litellm_model.contains('*') => {}
            None => warn!("model_list[{}] ({}): no price known; its calls cost 0", d.index, d.litellm_model),
        }
    }
    prices
}

/// A deployment's prices: the price table's for its model, overridden by its own `*_cost_per_token`.
pub fn prices_of(d: &crate::config::Deployment) -> Option<Prices> {
    let info = |name: &str| d.model_info.get(name).and_then(serde_json::Value::as_f64);
    let overrides = crate::cost::PriceOverrides {
        input_cost_per_token: d.input_cost_per_token.or_else(|| info("input_cost_per_token")),
        output_cost_per_token: d.output_cost_per_token.or_else(|| info("output_cost_per_token")),
        cache_read_input_token_cost: info("cache_read_input_token_cost"),
        cache_creation_input_token_cost: info("cache_creation_input_token_cost"),
        output_cost_per_reasoning_token: info("output_cost_per_reasoning_token"),
        max_output_tokens: d.model_info.get("max_output_tokens").and_then(serde_json::Value::as_u64),
    };
    crate::cost::prices_for(&d.litellm_model, &overrides)
}

/// The live snapshot and where it came from.
pub struct Live {
    /// The current snapshot.
    pub current: ArcSwap<Snapshot>,
    /// The config file, re-read on SIGHUP.
    pub path: PathBuf,
    /// Unix time the process started (`created` in /v1/models).
    pub created: u64,
    /// Reloads refused because the file was bad.
    pub failed_reloads: AtomicU64,
    /// Reloads applied.
    pub reloads: AtomicU64,
    /// Requests being served now (a SIGTERM waits for them, up to the grace period).
    pub in_flight: Arc<AtomicUsize>,
    /// The last round of background health checks (`general_settings.background_health_checks`).
    pub health: arc_swap::ArcSwapOption<crate::admin::HealthReport>,
}

/// Counts a request as in flight for as long as it lives.
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Starts counting.
    pub fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Live {
    /// Re-reads the file and swaps it in, or keeps the old snapshot and says why.
    pub fn reload(&self) -> Result<(), String> {
        let old = self.current.load();
        let config = config::load(&self.path).map_err(|e| e.to_string())?;
        refuse_opening(&old.config, &config)?;
        let snapshot = Snapshot::build(config, Some(&old), self.created).map_err(|e| e.join("\n"))?;
        log_changes(&old.config, &snapshot.config);
        for w in &snapshot.config.warnings {
            warn!("{w}");
        }
        warn_if_open(&snapshot.config);
        self.current.store(Arc::new(snapshot));
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A reload may not silently open the gateway: it is refused when it would serve no model group, or when it
/// drops the master key of a gateway that has one and the new file does not say `open_gateway: true`.
/// (A bad or truncated file must never leave the admin API open for anyone to mint keys with.)
pub fn refuse_opening(old: &Config, new: &Config) -> Result<(), String> {
    if new.groups.is_empty() {
        return Err("model_list: the new file has no model group; a reload may not remove every one".into());
    }
    if old.general.master_key.is_some() && new.general.master_key.is_none() && !new.general.open_gateway {
        return Err("general_settings.master_key: the new file has none, so every client would be admitted and \
                    anyone could use the admin API; set general_settings.open_gateway: true to mean it"
            .into());
    }
    Ok(())
}

/// Logged at every start and every reload while the gateway has no master key.
pub fn warn_if_open(config: &Config) {
    if config.general.master_key.is_none() {
        let how = if config.general.open_gateway { " (open_gateway: true)" } else { "" };
        warn!("general_settings.master_key is not set{how}: the gateway is OPEN, every client is admitted and anyone may use the admin API");
    }
}

/// Logs groups and deployments added, removed or changed by a reload.
fn log_changes(old: &Config, new: &Config) {
    let ids = |c: &Config| -> HashMap<String, String> {
        c.groups.iter().flat_map(|g| g.deployments.iter().map(|d| (d.id.clone(), g.name.clone()))).collect()
    };
    let (before, after) = (ids(old), ids(new));
    for (id, group) in &after {
        if !before.contains_key(id) {
            info!("reload: deployment {id} added to group {group}");
        }
    }
    for (id, group) in &before {
        if !after.contains_key(id) {
            info!("reload: deployment {id} removed from group {group}");
        }
    }
    for g in &new.groups {
        if old.group(&g.name).is_none() {
            info!("reload: group {} added", g.name);
        }
    }
    for g in &old.groups {
        if new.group(&g.name).is_none() {
            info!("reload: group {} removed", g.name);
        }
    }
}

/// A Pingora background service that reloads the config on SIGHUP (Pingora itself would die on it).
pub struct ReloadService {
    /// The live config to reload.
    pub live: Arc<Live>,
}

#[async_trait]
impl BackgroundService for ReloadService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                error!("cannot listen for SIGHUP, reload disabled: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = hup.recv() => match self.live.reload() {
                    Ok(()) => info!("reload: {} applied", self.live.path.display()),
                    Err(e) => {
                        self.live.failed_reloads.fetch_add(1, Ordering::Relaxed);
                        error!("reload refused, the previous config keeps serving:\n{e}");
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Ends the process as soon as the requests in flight at SIGTERM have finished, or when the grace period
/// is over. Pingora itself would always sleep the whole grace period before exiting.
pub struct DrainService {
    /// The in-flight counter.
    pub live: Arc<Live>,
    /// The most a stop waits for requests in flight.
    pub grace: Duration,
    /// Spend queued for the database is written before the process exits.
    pub keys: Arc<crate::keys::Keys>,
}

impl DrainService {
    /// Writes the spend still queued (bounded: a database that does not answer cannot hold the exit), then
    /// exits.
    async fn exit(&self) -> ! {
        let now = crate::keys::unix_now();
        match tokio::time::timeout(Duration::from_secs(5), self.keys.flush_spend(now)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!("stopping: queued spend not written: {e}"),
            Err(_) => error!("stopping: the database did not take the queued spend within 5 s"),
        }
        std::process::exit(0)
    }
}

#[async_trait]
impl BackgroundService for DrainService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if shutdown.changed().await.is_err() {
            return;
        }
        let deadline = Instant::now() + self.grace;
        info!("stopping: waiting up to {:?} for requests in flight", self.grace);
        // Bounded by the grace period: one check every 20 ms.
        while Instant::now() < deadline {
            let n = self.live.in_flight.load(Ordering::Relaxed);
            if n == 0 {
                info!("stopping: no request in flight, exiting");
                self.exit().await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        warn!("stopping: grace period over with {} requests in flight", self.live.in_flight.load(Ordering::Relaxed));
        self.exit().await;
    }
}
