//! Virtual keys, teams, users and end-user budgets: storage (keys kept only as SHA-256), the
//! in-memory cache the request path reads, spend persistence and LiteLLM's admin API for them.
//! No HTTP here: the proxy authenticates with [`Keys::lookup`], enforces, and hands admin calls to
//! [`Keys::admin`] as an [`AdminRequest`].
//!
//! - **Cache**: an `ArcSwap` of an immutable [`Cache`] (token hash -> [`Principal`], customers by
//!   id). The poller reads the change counter every [`POLL_INTERVAL`] and reloads everything when it
//!   moved (every admin write bumps it; spend writes do not), so a change on any instance is seen by
//!   all within a second; it also reloads every [`REFRESH_INTERVAL`] to pick up spend. The instance
//!   that wrote reloads at once. While the database does not answer the old cache stays, so keys
//!   that were valid keep working, and [`Keys::db_healthy`] says false.
//! - **Spend**: [`Keys::record_spend`] pushes onto a `Mutex`'d `Vec` (no I/O); the writer swaps it
//!   out every [`FLUSH_INTERVAL`], sums per record and budget window, and adds the sums to the
//!   key, team, user and customer rows in one transaction. A failed flush keeps its sums for the next.

mod admin;
mod record;
mod store;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;

pub use admin::is_admin_path;
pub use record::{
    hash_key, iso8601, parse_duration, unix_now, unix_now_ms, window_index, CustomerRecord, KeyRecord, Member,
    TeamRecord, UserRecord,
};
use store::{Delta, Dump, Store, Table};

/// How often the change counter is read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often everything is reloaded even when no admin write happened (spend of other instances).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// How often queued spend is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// A key with its team and user, as the request path sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The key's record.
    pub key: KeyRecord,
    /// The key's team, when it has one that exists.
    pub team: Option<TeamRecord>,
    /// The key's user, when it has one that exists.
    pub user: Option<UserRecord>,
}

impl Principal {
    /// True when the key's user has LiteLLM's `proxy_admin` role (then it may call the admin API).
    pub fn is_proxy_admin(&self) -> bool {
        self.user.as_ref().and_then(|u| u.user_role.as_deref()) == Some("proxy_admin")
    }
}

/// Who makes an admin call.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The master key.
    Master,
    /// A virtual key.
    Key(Arc<Principal>),
}

/// One admin call.
#[derive(Debug, Clone)]
pub struct AdminRequest<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// Path without a leading `/v1` and without the query.
    pub path: &'a str,
    /// Raw query string, without `?`.
    pub query: Option<&'a str>,
    /// JSON body (may be empty for GET).
    pub body: &'a [u8],
    /// Who calls.
    pub caller: Caller,
    /// Unix seconds now.
    pub now_unix: i64,
}

/// A successful admin answer: status and JSON body.
#[derive(Debug, Clone)]
pub struct AdminAnswer {
    /// HTTP status (200).
    pub status: u16,
    /// JSON body.
    pub body: bytes::Bytes,
}

/// A failed admin call, in OpenAI's error parts (the proxy renders `{"error": {...}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct AdminError {
    /// HTTP status.
    pub status: u16,
    /// OpenAI's `type` (LiteLLM's: `auth_error`, `bad_request_error`, `not_found_error`, ...).
    pub kind: &'static str,
    /// What went wrong.
    pub message: String,
    /// The request field at fault.
    pub param: Option<String>,
}

/// What the request path reads: immutable, swapped whole.
#[derive(Debug, Default)]
pub struct Cache {
    /// The change counter this cache was loaded at.
    pub version: i64,
    /// Unix seconds of the load: the records' `spend` is the database's as of then (spend this
    /// instance queued since is in [`Keys::record_spend`]'s queue or written after it).
    pub loaded_at: i64,
    /// Keys by token hash.
    pub keys: HashMap<String, Arc<Principal>>,
    /// Teams by id.
    pub teams: HashMap<String, Arc<TeamRecord>>,
    /// Users by id.
    pub users: HashMap<String, Arc<UserRecord>>,
    /// End users by id.
    pub customers: HashMap<String, Arc<CustomerRecord>>,
}

impl Cache {
    /// Builds the cache from a database dump; a row whose JSON does not parse is logged and left out.
    fn from_dump(dump: &Dump, loaded_at: i64) -> Cache {
        fn parse<T: serde::de::DeserializeOwned>(table: Table, row: &store::Row) -> Option<T> {
            match serde_json::from_str(&row.data) {
                Ok(v) => Some(v),
                Err(e) => {
                    log::warn!("keys: {table:?} row {} does not parse, left out: {e}", row.id);
                    None
                }
            }
        }
        let mut cache = Cache { version: dump.version, loaded_at, ..Cache::default() };
        for row in dump.rows(Table::Teams) {
            if let Some(mut team) = parse::<TeamRecord>(Table::Teams, row) {
                (team.spend, team.spend_window) = (row.spend, row.spend_window);
                cache.teams.insert(team.team_id.clone(), Arc::new(team));
            }
        }
        for row in dump.rows(Table::Users) {
            if let Some(mut user) = parse::<UserRecord>(Table::Users, row) {
                (user.spend, user.spend_window) = (row.spend, row.spend_window);
                cache.users.insert(user.user_id.clone(), Arc::new(user));
            }
        }
        for row in dump.rows(Table::Customers) {
            if let Some(mut customer) = parse::<CustomerRecord>(Table::Customers, row) {
                (customer.spend, customer.spend_window) = (row.spend, row.spend_window);
                cache.customers.insert(customer.user_id.clone(), Arc::new(customer));
            }
        }
        for row in dump.rows(Table::Keys) {
            if let Some(mut key) = parse::<KeyRecord>(Table::Keys, row) {
                (key.spend, key.spend_window) = (row.spend, row.spend_window);
                let team = key.team_id.as_ref().and_then(|id| cache.teams.get(id)).map(|t| TeamRecord::clone(t));
                let user = key.user_id.as_ref().and_then(|id| cache.users.get(id)).map(|u| UserRecord::clone(u));
                cache.keys.insert(key.token.clone(), Arc::new(Principal { key, team, user }));
            }
        }
        cache
    }
}

/// One settled cost waiting for the writer.
#[derive(Debug, Clone)]
struct SpendEvent {
    key_token: String,
    team_id: Option<String>,
    user_id: Option<String>,
    end_user: Option<String>,
    cost: f64,
}

/// Virtual keys, teams, users and customers: store, cache, spend writer and admin API.
pub struct Keys {
    store: Store,
    cache: ArcSwap<Cache>,
    healthy: AtomicBool,
    /// Unix seconds of the last full reload.
    loaded_at: AtomicI64,
    pending: Mutex<Vec<SpendEvent>>,
    /// Sums a failed flush could not write, kept for the next one.
    unwritten: Mutex<HashMap<(Table, String, i64), f64>>,
    /// One admin write at a time on this instance (read-check-write of records).
    admin_lock: tokio::sync::Mutex<()>,
    started: AtomicBool,
    /// Keys the cache did not have, looked up in the database (see [`Keys::lookup_missing`]).
    misses: Mutex<Misses>,
    /// Database lookups made for keys the cache did not have, and those the rate bound refused.
    pub miss_counters: MissCounters,
}

/// How often a key the cache does not know may be looked up in the database, per second (a burst of
/// random keys cannot flood the database: beyond this they are refused from memory).
pub const MISS_LOOKUPS_PER_SEC: f64 = 20.0;
/// How long a key the database does not have is answered 401 from memory.
pub const MISS_NEGATIVE_TTL: Duration = Duration::from_secs(2);

/// Keys looked up on a cache miss, until the next reload (which has them, or says they are gone).
#[derive(Default)]
struct Misses {
    /// Found in the database since the last reload.
    found: HashMap<String, Arc<Principal>>,
    /// Not in the database, until the instant.
    absent: HashMap<String, std::time::Instant>,
    /// One lookup per hash in flight; later askers wait for its answer.
    in_flight: HashMap<String, Arc<tokio::sync::OnceCell<Option<Arc<Principal>>>>>,
    /// Bumped by every reload: a lookup that started before one does not keep what it found.
    generation: u64,
    /// The rate bound's tokens and when they were counted.
    tokens: f64,
    counted: Option<std::time::Instant>,
}

/// Counters of the cache-miss path, for `/metrics`.
#[derive(Default)]
pub struct MissCounters {
    /// Lookups that went to the database.
    pub lookups: std::sync::atomic::AtomicU64,
    /// Misses answered 401 without a lookup because the rate bound was spent.
    pub limited: std::sync::atomic::AtomicU64,
}

impl Keys {
    /// Opens (creating tables) SQLite under state_dir, or PostgreSQL when database_url is Some.
    pub async fn open(state_dir: &Path, database_url: Option<&str>) -> Result<Arc<Keys>, String> {
        let store = match database_url {
            Some(url) => Store::open_postgres(url).await,
            None => Store::open_sqlite(state_dir).await,
        }
        .map_err(|e| e.to_string())?;
        let dump = store.dump().await.map_err(|e| e.to_string())?;
        Ok(Arc::new(Keys {
            store,
            cache: ArcSwap::from_pointee(Cache::from_dump(&dump, unix_now())),
            healthy: AtomicBool::new(true),
            loaded_at: AtomicI64::new(unix_now()),
            pending: Mutex::new(Vec::new()),
            unwritten: Mutex::new(HashMap::new()),
            admin_lock: tokio::sync::Mutex::new(()),
            started: AtomicBool::new(false),
            misses: Mutex::new(Misses::default()),
            miss_counters: MissCounters::default(),
        }))
    }

    /// Spawns the cache poller and the spend writer on the current tokio runtime (once).
    pub fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(poll_loop(weak.clone()));
        tokio::spawn(flush_loop(weak));
    }

    /// Hot path: sync, no I/O. SHA-256 of the presented key, looked up in the cache (and, on a miss, among
    /// the keys found in the database since the last reload).
    pub fn lookup(&self, presented: &str) -> Option<Arc<Principal>> {
        let hash = hash_key(presented);
        if let Some(found) = self.cache.load().keys.get(&hash) {
            return Some(found.clone());
        }
        self.lock_misses().found.get(&hash).cloned()
    }

    /// A key the cache does not have (made on another instance a moment ago): looked up in the database,
    /// one lookup per key in flight, at most [`MISS_LOOKUPS_PER_SEC`] a second, a key the database does not
    /// have remembered for [`MISS_NEGATIVE_TTL`]. A key found is served until the next reload, which either
    /// has it or drops it (a delete or block made meanwhile reaches this instance with that reload, within
    /// [`POLL_INTERVAL`]).
    pub async fn lookup_missing(&self, presented: &str) -> Option<Arc<Principal>> {
        let hash = hash_key(presented);
        let now = std::time::Instant::now();
        let (cell, generation) = {
            let mut misses = self.lock_misses();
            let generation = misses.generation;
            if let Some(found) = misses.found.get(&hash) {
                return Some(found.clone());
            }
            if misses.absent.get(&hash).is_some_and(|until| *until > now) {
                return None;
            }
            match misses.in_flight.get(&hash) {
                Some(cell) => (cell.clone(), generation),
                None => {
                    let elapsed = misses.counted.map_or(1.0, |t| now.saturating_duration_since(t).as_secs_f64());
                    misses.tokens = (misses.tokens + elapsed * MISS_LOOKUPS_PER_SEC).min(MISS_LOOKUPS_PER_SEC);
                    misses.counted = Some(now);
                    if misses.tokens < 1.0 {
                        self.miss_counters.limited.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                    misses.tokens -= 1.0;
                    if misses.absent.len() > 10_000 {
                        misses.absent.retain(|_, until| *until > now);
                    }
                    let cell = Arc::new(tokio::sync::OnceCell::new());
                    misses.in_flight.insert(hash.clone(), cell.clone());
                    (cell, generation)
                }
            }
        };
        let found = cell.get_or_init(|| self.fetch_principal(&hash)).await.clone();
        let mut misses = self.lock_misses();
        misses.in_flight.remove(&hash);
        if misses.generation != generation {
            // A reload ran meanwhile: it has the key or says it is gone; what was read before it is stale.
            return found;
        }
        match &found {
            Some(p) => {
                misses.found.insert(hash, p.clone());
            }
            None => {
                misses.absent.insert(hash, std::time::Instant::now() + MISS_NEGATIVE_TTL);
            }
        }
        found
    }

    /// The key with this hash, its team and user, from the database (`None` also when it does not answer).
    async fn fetch_principal(&self, hash: &str) -> Option<Arc<Principal>> {
        self.miss_counters.lookups.fetch_add(1, Ordering::Relaxed);
        let row = self.note_health(self.store.get(Table::Keys, hash).await).ok()??;
        let mut key: KeyRecord = serde_json::from_str(&row.data).ok()?;
        (key.spend, key.spend_window) = (row.spend, row.spend_window);
        let cache = self.cache.load();
        // A team or user that cannot be read now fails the lookup: a key without its team's limits and
        // block would be let through. (One that does not exist is no team, as in the cache.)
        let team = match key.team_id.clone() {
            Some(id) => match cache.teams.get(&id) {
                Some(t) => Some(TeamRecord::clone(t)),
                None => self.fetch_record::<TeamRecord>(Table::Teams, &id).await?.map(|(mut t, spend, window)| {
                    (t.spend, t.spend_window) = (spend, window);
                    t
                }),
            },
            None => None,
        };
        let user = match key.user_id.clone() {
            Some(id) => match cache.users.get(&id) {
                Some(u) => Some(UserRecord::clone(u)),
                None => self.fetch_record::<UserRecord>(Table::Users, &id).await?.map(|(mut u, spend, window)| {
                    (u.spend, u.spend_window) = (spend, window);
                    u
                }),
            },
            None => None,
        };
        Some(Arc::new(Principal { key, team, user }))
    }

    /// One team or user row from the database, parsed, with its spend and window: `Some(None)` when there is
    /// no such row, `None` when it cannot be read or parsed now.
    async fn fetch_record<T: serde::de::DeserializeOwned>(
        &self,
        table: Table,
        id: &str,
    ) -> Option<Option<(T, f64, i64)>> {
        let Some(row) = self.note_health(self.store.get(table, id).await).ok()? else {
            return Some(None);
        };
        Some(Some((serde_json::from_str(&row.data).ok()?, row.spend, row.spend_window)))
    }

    fn lock_misses(&self) -> std::sync::MutexGuard<'_, Misses> {
        self.misses.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// End-user (customer) record by the request's `user` field.
    pub fn customer(&self, end_user_id: &str) -> Option<Arc<CustomerRecord>> {
        self.cache.load().customers.get(end_user_id).cloned()
    }

    /// The whole cache as loaded last (for metrics and tests).
    pub fn cache(&self) -> Arc<Cache> {
        self.cache.load_full()
    }

    /// Non-blocking: queue a settled cost for the writer. `key_token` is the key's SHA-256
    /// (`Principal.key.token`); the spend counts in the budget window current when it is written.
    pub fn record_spend(
        &self,
        key_token: &str,
        team_id: Option<&str>,
        user_id: Option<&str>,
        end_user: Option<&str>,
        cost: f64,
    ) {
        if !cost.is_finite() || cost == 0.0 {
            return;
        }
        let event = SpendEvent {
            key_token: key_token.to_string(),
            team_id: team_id.map(str::to_string),
            user_id: user_id.map(str::to_string),
            end_user: end_user.map(str::to_string),
            cost,
        };
        match self.pending.lock() {
            Ok(mut pending) => pending.push(event),
            Err(poisoned) => poisoned.into_inner().push(event),
        }
    }

    /// The spend of each `(scope, id, window)` (`scope` as [`crate::spend::Scope::as_str`] names it: `key`
    /// with the key's hash, `team`, `user`, `end_user`) read from the database now, plus what this instance
    /// settled and has not written yet; `None` where the database does not answer or the scope has no row.
    /// Off the hot path: only for a budget counter Redis does not have.
    pub async fn fresh_spend(&self, owners: &[(&str, &str, i64)]) -> Vec<Option<f64>> {
        let mut out = Vec::with_capacity(owners.len());
        for &(scope, id, window) in owners {
            let table = match scope {
                "key" => Table::Keys,
                "team" => Table::Teams,
                "user" => Table::Users,
                "end_user" => Table::Customers,
                _ => {
                    out.push(None);
                    continue;
                }
            };
            let row = match self.note_health(self.store.get(table, id).await) {
                Ok(row) => row,
                Err(_) => {
                    out.push(None);
                    continue;
                }
            };
            let stored = row.filter(|r| r.spend_window == window).map_or(0.0, |r| r.spend);
            out.push(Some(stored + self.unwritten_spend(table, id, window)));
        }
        out
    }

    /// Spend this instance queued or carried for `table`/`id` and not yet written (the writer counts
    /// queued events in the window current when it writes them: `window`).
    fn unwritten_spend(&self, table: Table, id: &str, window: i64) -> f64 {
        let carried = match self.unwritten.lock() {
            Ok(c) => c.get(&(table, id.to_string(), window)).copied().unwrap_or(0.0),
            Err(poisoned) => poisoned.into_inner().get(&(table, id.to_string(), window)).copied().unwrap_or(0.0),
        };
        let queued: f64 = {
            let pending = match self.pending.lock() {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
            pending
                .iter()
                .filter(|e| match table {
                    Table::Keys => e.key_token == id,
                    Table::Teams => e.team_id.as_deref() == Some(id),
                    Table::Users => e.user_id.as_deref() == Some(id),
                    Table::Customers => e.end_user.as_deref() == Some(id),
                })
                .map(|e| e.cost)
                .sum()
        };
        carried + queued
    }

    /// False while the database does not answer.
    pub fn db_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// One admin call; body is JSON (may be empty for GET), query the raw query string.
    pub async fn admin(&self, req: AdminRequest<'_>) -> Result<AdminAnswer, AdminError> {
        admin::handle(self, req).await
    }

    /// Reloads the cache from the database now.
    pub async fn reload(&self) -> Result<(), String> {
        let dump = self.store.dump().await;
        let dump = self.note_health(dump).map_err(|e| e.to_string())?;
        let now = unix_now();
        let fresh = Arc::new(Cache::from_dump(&dump, now));
        // A poll's dump that started before an admin write may finish after the writer's reload:
        // never replace a cache with one of an older change counter.
        self.cache
            .rcu(|current| if current.version > fresh.version { Arc::clone(current) } else { Arc::clone(&fresh) });
        self.loaded_at.store(now, Ordering::Relaxed);
        // The reload has every key the database has, and none it deleted: what a miss found is stale now.
        let mut misses = self.lock_misses();
        misses.found.clear();
        misses.absent.clear();
        misses.generation = misses.generation.wrapping_add(1);
        Ok(())
    }

    /// One poll: reloads when the change counter moved or the cache is older than [`REFRESH_INTERVAL`].
    pub async fn poll_once(&self) {
        let version = self.store.version().await;
        let Ok(version) = self.note_health(version) else {
            return;
        };
        let age = unix_now() - self.loaded_at.load(Ordering::Relaxed);
        let stale = age >= i64::try_from(REFRESH_INTERVAL.as_secs()).unwrap_or(i64::MAX);
        if version != self.cache.load().version || stale {
            let _ = self.reload().await;
        }
    }

    /// Writes the queued spend, counted in the windows current at `now_unix`, in one transaction.
    pub async fn flush_spend(&self, now_unix: i64) -> Result<(), String> {
        let events = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        let mut sums = match self.unwritten.lock() {
            Ok(mut carried) => std::mem::take(&mut *carried),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        if events.is_empty() && sums.is_empty() {
            return Ok(());
        }
        let cache = self.cache.load();
        for event in &events {
            let mut add = |table: Table, id: &str, window: i64| {
                *sums.entry((table, id.to_string(), window)).or_insert(0.0) += event.cost;
            };
            let key_window = cache.keys.get(&event.key_token).map_or(0, |p| p.key.window_at(now_unix));
            add(Table::Keys, &event.key_token, key_window);
            if let Some(id) = &event.team_id {
                add(Table::Teams, id, cache.teams.get(id).map_or(0, |t| t.window_at(now_unix)));
            }
            if let Some(id) = &event.user_id {
                add(Table::Users, id, cache.users.get(id).map_or(0, |u| u.window_at(now_unix)));
            }
            if let Some(id) = &event.end_user {
                // Only end users with a row: an unknown `user` value is not worth a row per request.
                if let Some(customer) = cache.customers.get(id) {
                    add(Table::Customers, id, customer.window_at(now_unix));
                }
            }
        }
        let mut deltas: Vec<Delta> = sums
            .iter()
            .map(|((table, id, window), amount)| Delta {
                table: *table,
                id: id.clone(),
                amount: *amount,
                window: *window,
            })
            .collect();
        // Older windows first, so a newer window's spend is never overwritten by an older one.
        deltas.sort_by(|a, b| (a.table, &a.id, a.window).cmp(&(b.table, &b.id, b.window)));
        let written = self.store.add_spend(deltas).await;
        if let Err(e) = self.note_health(written) {
            let mut carried = match self.unwritten.lock() {
                Ok(carried) => carried,
                Err(poisoned) => poisoned.into_inner(),
            };
            for (k, v) in sums {
                *carried.entry(k).or_insert(0.0) += v;
            }
            return Err(e.to_string());
        }
        Ok(())
    }

    /// Records the database's health from one call's outcome; logs the change once.
    fn note_health<T>(&self, outcome: Result<T, store::StoreError>) -> Result<T, store::StoreError> {
        match &outcome {
            Ok(_) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    log::warn!("keys database answers again");
                }
            }
            Err(e) => {
                if self.healthy.swap(false, Ordering::Relaxed) {
                    log::error!("keys database does not answer, serving keys from the cache: {e}");
                }
            }
        }
        outcome
    }
}

async fn poll_loop(keys: Weak<Keys>) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(keys) = keys.upgrade() else { return };
        keys.poll_once().await;
    }
}

async fn flush_loop(keys: Weak<Keys>) {
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(keys) = keys.upgrade() else { return };
        let _ = keys.flush_spend(unix_now()).await;
    }
}
