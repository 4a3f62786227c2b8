//! The Redis backend: one Lua script per reserve (every check of the chain, then every increment), one per
//! settle and one per reconcile, run with EVALSHA (loaded by SCRIPT LOAD when Redis answers NOSCRIPT, as after
//! a restart) through reconnecting [`ConnectionManager`]s. Every call is bounded by a short timeout so a dead
//! Redis costs a request at most that long before the gateway switches to its local counters.
//!
//! Reserve and settle use a connection of the calling thread's own, made on first use on that thread, so its
//! reader and writer task lives on the proxy runtime beside the request: a reserve is then one Redis round
//! trip and no hop to another thread and back. (One shared connection made on the control runtime put two
//! cross-thread wake-ups on every reserve: +0.08 ms at p50 in the load bench.) The control runtime's health
//! check and reconcile use a connection of their own.
//!
//! Amounts travel as Rust's shortest round-trip decimal strings and are added with HINCRBYFLOAT, never
//! through Lua's number formatting (14 digits), so no precision is lost on the way.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Weak};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{ErrorKind, RedisError, RedisResult, Script};
use thread_local::ThreadLocal;

use super::keys::{Denied, ReservePlan, SettlePlan, PARALLEL_TTL_MS};
use super::{Pending, REDIS_TIMEOUT};

/// KEYS: budget windows (nb), rate minutes (nr), parallel counters (np).
/// ARGV: amount, nb, nr, np; per budget: max, seed, ttl_ms, fresh (1/0), in_flight; per rate: rpm, tpm (-1: none),
/// ttl_ms; per parallel: max, ttl_ms.
/// Returns {"ok", held per budget...}, {kind, position (1-based), spent}, or {"unseeded", positions
/// (comma-separated)} when budget counters are missing and their seed is not fresh: nothing is taken then.
///
/// Each budget holds `amount` when it fits in what is left; a call alone on the budget (nothing else reserved)
/// holds what is left when it does not (LiteLLM refuses only once spend reaches the budget, so a small budget
/// still serves its calls). Calls can never hold more than is left, and only a call alone can hold less than
/// its worst case, so a budget is overspent by at most one call. A held amount other than `amount` travels as `%.17g`, which
/// round-trips a double exactly.
///
/// A budget's spend is never below its seed (the database's spend): `max(redis, database)`, so a counter that
/// came back after Redis lost it cannot be below what the database knows.
const RESERVE_LUA: &str = r"
local nb, nr, np = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local amount = tonumber(ARGV[1])
local a = 5
local unseeded = {}
local held = {}
for i = 1, nb do
  local v = redis.call('HMGET', KEYS[i], 'spent', 'reserved')
  if not v[1] and ARGV[a + 3] ~= '1' then
    unseeded[#unseeded + 1] = tostring(i)
  else
    local seed = tonumber(ARGV[a + 1])
    local spent = seed
    local reserved = tonumber(ARGV[a + 4])
    if v[1] then
      spent = math.max(tonumber(v[1]), seed)
      reserved = tonumber(v[2] or '0')
    end
    local max = tonumber(ARGV[a])
    local left = max - spent - reserved
    if spent >= max or left <= 0 or (amount > left and reserved > 0) then
      return {'budget', tostring(i), string.format('%.17g', spent)}
    end
    if amount <= left then
      held[i] = ARGV[1]
    else
      held[i] = string.format('%.17g', left)
    end
  end
  a = a + 5
end
if #unseeded > 0 then
  return {'unseeded', table.concat(unseeded, ','), ''}
end
for i = 1, nr do
  local v = redis.call('HMGET', KEYS[nb + i], 'req', 'tok')
  local rpm, tpm = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  if rpm >= 0 and tonumber(v[1] or '0') + 1 > rpm then
    return {'rpm', tostring(i), ''}
  end
  if tpm >= 0 and tonumber(v[2] or '0') >= tpm then
    return {'tpm', tostring(i), ''}
  end
  a = a + 3
end
for i = 1, np do
  local n = tonumber(redis.call('GET', KEYS[nb + nr + i]) or '0')
  if n < 0 then n = 0 end
  if n + 1 > tonumber(ARGV[a]) then
    return {'parallel', tostring(i), ''}
  end
  a = a + 2
end
a = 5
for i = 1, nb do
  local k = KEYS[i]
  local spent = redis.call('HGET', k, 'spent')
  if not spent then
    redis.call('HSET', k, 'spent', ARGV[a + 1], 'reserved', ARGV[a + 4])
  elseif tonumber(spent) < tonumber(ARGV[a + 1]) then
    redis.call('HSET', k, 'spent', ARGV[a + 1])
  end
  redis.call('HINCRBYFLOAT', k, 'reserved', held[i])
  redis.call('PEXPIRE', k, ARGV[a + 2])
  a = a + 5
end
for i = 1, nr do
  local k = KEYS[nb + i]
  redis.call('HINCRBY', k, 'req', 1)
  redis.call('PEXPIRE', k, ARGV[a + 2])
  a = a + 3
end
for i = 1, np do
  local k = KEYS[nb + nr + i]
  if redis.call('INCR', k) < 1 then
    redis.call('SET', k, '1')
  end
  redis.call('PEXPIRE', k, ARGV[a + 1])
  a = a + 2
end
local reply = {'ok'}
for i = 1, nb do
  reply[i + 1] = held[i]
end
return reply
";

/// KEYS: reserve windows (nb), current windows (nb), rate minutes (nr), parallel counters (np).
/// ARGV: (unused), cost, tokens, nb, nr, np; per budget: seed (unused: see below), ttl_ms, unreserve; per rate:
/// ttl_ms.
///
/// A budget counter that is missing (Redis lost it, or the window rolled) is not created here: the cost is
/// in the database's queue too, and the next reserve seeds the counter from a fresh database read, which a
/// seed carried since the reserve would undercut.
const SETTLE_LUA: &str = r"
local nb, nr, np = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cost = tonumber(ARGV[2])
local a = 7
for i = 1, nb do
  local rk, ck = KEYS[i], KEYS[nb + i]
  if tonumber(ARGV[a + 2]) > 0 and redis.call('HEXISTS', rk, 'reserved') == 1 then
    if tonumber(redis.call('HINCRBYFLOAT', rk, 'reserved', '-' .. ARGV[a + 2])) < 0 then
      redis.call('HSET', rk, 'reserved', '0')
    end
  end
  if cost > 0 and redis.call('HEXISTS', ck, 'spent') == 1 then
    redis.call('HINCRBYFLOAT', ck, 'spent', ARGV[2])
    if redis.call('PTTL', ck) < tonumber(ARGV[a + 1]) then
      redis.call('PEXPIRE', ck, ARGV[a + 1])
    end
  end
  a = a + 3
end
for i = 1, nr do
  local k = KEYS[2 * nb + i]
  redis.call('HINCRBY', k, 'tok', ARGV[3])
  if redis.call('PTTL', k) < tonumber(ARGV[a]) then
    redis.call('PEXPIRE', k, ARGV[a])
  end
  a = a + 1
end
for i = 1, np do
  local k = KEYS[2 * nb + nr + i]
  if redis.call('EXISTS', k) == 1 and redis.call('DECR', k) < 0 then
    redis.call('SET', k, '0', 'KEEPTTL')
  end
end
return 1
";

/// KEYS: budget windows (nb), parallel counters.
/// ARGV: nb; per budget: seed (unused), spent delta, unreserve, ttl_ms; per parallel: calls to release.
///
/// Spend is added only to counters Redis still has: a missing one (Redis restarted empty) is seeded by the
/// next reserve from a fresh database read, which already holds this spend (see `SETTLE_LUA`).
const RECONCILE_LUA: &str = r"
local nb = tonumber(ARGV[1])
local a = 2
for i = 1, nb do
  local k = KEYS[i]
  if tonumber(ARGV[a + 1]) > 0 and redis.call('HEXISTS', k, 'spent') == 1 then
    redis.call('HINCRBYFLOAT', k, 'spent', ARGV[a + 1])
    if redis.call('PTTL', k) < tonumber(ARGV[a + 3]) then
      redis.call('PEXPIRE', k, ARGV[a + 3])
    end
  end
  if tonumber(ARGV[a + 2]) > 0 and redis.call('HEXISTS', k, 'reserved') == 1 then
    if tonumber(redis.call('HINCRBYFLOAT', k, 'reserved', '-' .. ARGV[a + 2])) < 0 then
      redis.call('HSET', k, 'reserved', '0')
    end
  end
  a = a + 4
end
for j = nb + 1, #KEYS do
  local k = KEYS[j]
  if redis.call('EXISTS', k) == 1 and redis.call('DECRBY', k, ARGV[a]) < 0 then
    redis.call('SET', k, '0', 'KEEPTTL')
  end
  a = a + 1
end
return 1
";

/// What the reserve script did.
pub(super) enum Reserved {
    /// Every counter was taken; what each budget holds, in plan order.
    Taken(Vec<f64>),
    /// A check refused; nothing was taken.
    Denied(Denied),
    /// These budgets (positions in the plan) have no counter and the plan's seed for them is not fresh:
    /// nothing was taken; read the database and ask again.
    Unseeded(Vec<usize>),
}

/// A Redis holding the counters of every instance.
pub(super) struct RedisStore {
    url: String,
    /// `None` when the URL does not parse: Redis stays down (and says why in the log).
    client: Option<(::redis::Client, ConnectionManagerConfig)>,
    /// The control runtime's connection (health check, reconcile).
    conn: Option<ConnectionManager>,
    /// Each proxy thread's connection for reserve and settle, made on that thread's first call.
    hot: ThreadLocal<RefCell<Option<HotConn>>>,
    /// Bumped by [`RedisStore::renew_connections`]: a thread's connection of an older generation is replaced.
    generation: std::sync::atomic::AtomicU64,
    reserve: Script,
    settle: Script,
    reconcile: Script,
}

/// A thread's own connection, and a sign of life of the runtime its task runs on.
struct HotConn {
    conn: ConnectionManager,
    runtime_alive: Weak<()>,
    generation: u64,
}

/// The error of a call that took longer than [`REDIS_TIMEOUT`] or could not start.
fn unavailable(what: &'static str) -> RedisError {
    RedisError::from((ErrorKind::Io, what))
}

/// `f` within [`REDIS_TIMEOUT`].
async fn bounded<T>(f: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
    match tokio::time::timeout(REDIS_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(unavailable("redis call timed out")),
    }
}

/// A decimal string that parses back to exactly `x` (Rust's shortest round-trip form).
fn num(x: f64) -> String {
    format!("{x}")
}

impl RedisStore {
    /// A lazily connecting store for `url`; nothing is sent until the first call.
    pub fn new(url: &str) -> RedisStore {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(std::time::Duration::from_millis(500));
        let client = match ::redis::Client::open(url) {
            Ok(client) => Some((client, config)),
            Err(e) => {
                log::error!("spend: redis url {}: {e}", redact(url));
                None
            }
        };
        let conn = client.as_ref().and_then(|(client, config)| connect(client, config, url));
        RedisStore {
            url: redact(url),
            client,
            conn,
            hot: ThreadLocal::new(),
            generation: std::sync::atomic::AtomicU64::new(0),
            reserve: Script::new(RESERVE_LUA),
            settle: Script::new(SETTLE_LUA),
            reconcile: Script::new(RECONCILE_LUA),
        }
    }

    /// The URL without its password, for logs.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn conn(&self) -> RedisResult<ConnectionManager> {
        self.conn.clone().ok_or_else(|| unavailable("redis url is not usable"))
    }

    /// This thread's connection for the hot path, made on first use so that its task is spawned on this
    /// thread's runtime. A connection whose runtime has gone (a caller's runtime that was shut down; never so
    /// for the proxy's) is replaced.
    fn hot_conn(&self) -> RedisResult<ConnectionManager> {
        if tokio::runtime::Handle::try_current().is_err() {
            // No runtime to spawn this thread's connection on (never so in the gateway): the shared one.
            return self.conn();
        }
        let cell = self.hot.get_or(|| RefCell::new(None));
        let mut slot = cell.borrow_mut();
        let generation = self.generation.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(hot) = slot.as_ref().filter(|h| h.runtime_alive.strong_count() > 0 && h.generation == generation) {
            return Ok(hot.conn.clone());
        }
        let conn = self
            .client
            .as_ref()
            .and_then(|(client, config)| connect(client, config, &self.url))
            .ok_or_else(|| unavailable("redis url is not usable"))?;
        // Dropped with its runtime, and with it the only strong reference.
        let alive = Arc::new(());
        let runtime_alive = Arc::downgrade(&alive);
        tokio::spawn(async move {
            let _alive = alive;
            std::future::pending::<()>().await
        });
        *slot = Some(HotConn { conn: conn.clone(), runtime_alive, generation });
        Ok(conn)
    }

    /// Makes every proxy thread open a fresh connection on its next call (after an outage).
    pub fn renew_connections(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// PING.
    pub async fn ping(&self) -> RedisResult<()> {
        let mut c = self.conn()?;
        let pong: String = bounded(::redis::cmd("PING").query_async(&mut c)).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(unavailable("redis answered PING with something else"))
        }
    }

    /// Runs the reserve script: `Err(_)` is a Redis failure.
    pub async fn reserve(&self, plan: &ReservePlan) -> RedisResult<Reserved> {
        let mut c = self.hot_conn()?;
        let mut inv = self.reserve.prepare_invoke();
        for b in &plan.budgets {
            inv.key(&b.key);
        }
        for r in &plan.rates {
            inv.key(&r.key);
        }
        for (k, _) in &plan.parallel {
            inv.key(k);
        }
        inv.arg(num(plan.amount)).arg(plan.budgets.len()).arg(plan.rates.len()).arg(plan.parallel.len());
        for b in &plan.budgets {
            inv.arg(num(b.max)).arg(num(b.seed)).arg(b.ttl_ms.max(1)).arg(if b.fresh { "1" } else { "0" });
            inv.arg(num(b.in_flight.max(0.0)));
        }
        for r in &plan.rates {
            inv.arg(limit_arg(r.rpm)).arg(limit_arg(r.tpm)).arg(r.ttl_ms.max(1));
        }
        for (_, max) in &plan.parallel {
            inv.arg(limit_arg(Some(*max))).arg(PARALLEL_TTL_MS);
        }
        let reply: Vec<String> = bounded(inv.invoke_async(&mut c)).await?;
        let kind = reply.first().map(String::as_str).unwrap_or("");
        if kind == "ok" {
            let held: Vec<f64> = reply.iter().skip(1).filter_map(|s| s.parse::<f64>().ok()).collect();
            if held.len() != plan.budgets.len() {
                return Err(unavailable("reserve script answered without the held amounts"));
            }
            return Ok(Reserved::Taken(held));
        }
        if kind == "unseeded" {
            let positions = reply.get(1).map(String::as_str).unwrap_or("");
            let missing: Vec<usize> =
                positions.split(',').filter_map(|p| p.parse::<usize>().ok()).filter_map(|p| p.checked_sub(1)).collect();
            if missing.is_empty() {
                return Err(unavailable("reserve script answered unseeded without positions"));
            }
            return Ok(Reserved::Unseeded(missing));
        }
        let i = reply.get(1).and_then(|s| s.parse::<usize>().ok()).and_then(|i| i.checked_sub(1));
        let Some(i) = i else {
            return Err(unavailable("reserve script answered without a position"));
        };
        match kind {
            "budget" => {
                let spent = reply.get(2).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
                Ok(Reserved::Denied(Denied::Budget(i, spent)))
            }
            "rpm" => Ok(Reserved::Denied(Denied::Requests(i))),
            "tpm" => Ok(Reserved::Denied(Denied::Tokens(i))),
            "parallel" => Ok(Reserved::Denied(Denied::Parallel(i))),
            _ => Err(unavailable("reserve script answered an unknown kind")),
        }
    }

    /// Runs the settle script.
    pub async fn settle(&self, plan: &SettlePlan) -> RedisResult<()> {
        let mut c = self.hot_conn()?;
        let mut inv = self.settle.prepare_invoke();
        for b in &plan.budgets {
            inv.key(&b.reserve_key);
        }
        for b in &plan.budgets {
            inv.key(&b.current_key);
        }
        for (k, _) in &plan.rates {
            inv.key(k);
        }
        for k in &plan.parallel {
            inv.key(k);
        }
        inv.arg("0")
            .arg(num(plan.cost))
            .arg(plan.tokens)
            .arg(plan.budgets.len())
            .arg(plan.rates.len())
            .arg(plan.parallel.len());
        for b in &plan.budgets {
            inv.arg(num(b.seed)).arg(b.ttl_ms.max(1)).arg(num(b.unreserve.max(0.0)));
        }
        for (_, ttl) in &plan.rates {
            inv.arg((*ttl).max(1));
        }
        let _: i64 = bounded(inv.invoke_async(&mut c)).await?;
        Ok(())
    }

    /// Pushes what was booked while Redis was away.
    pub async fn reconcile(&self, pending: &Pending) -> RedisResult<()> {
        let mut c = self.conn()?;
        let mut inv = self.reconcile.prepare_invoke();
        let mut args: Vec<String> = vec![pending.budgets.len().to_string()];
        for (k, b) in &pending.budgets {
            let elapsed = i64::try_from(b.since.elapsed().as_millis()).unwrap_or(i64::MAX);
            inv.key(k);
            args.push(num(b.seed));
            args.push(num(b.spent));
            args.push(num(b.unreserve));
            args.push((b.ttl_ms.saturating_sub(elapsed)).max(1).to_string());
        }
        for (k, n) in &pending.parallel {
            inv.key(k);
            args.push(n.to_string());
        }
        for a in &args {
            inv.arg(a);
        }
        let _: i64 = bounded(inv.invoke_async(&mut c)).await?;
        Ok(())
    }

    /// The spent and reserved amounts of a budget counter (tests).
    #[cfg(test)]
    pub async fn budget(&self, key: &str) -> RedisResult<(Option<f64>, Option<f64>)> {
        let mut c = self.conn()?;
        let (spent, reserved): (Option<String>, Option<String>) =
            bounded(::redis::cmd("HMGET").arg(key).arg("spent").arg("reserved").query_async(&mut c)).await?;
        Ok((spent.and_then(|s| s.parse().ok()), reserved.and_then(|s| s.parse().ok())))
    }
}

/// A lazily connecting manager: nothing is sent until its first call. It spawns its tasks on the runtime it
/// is made on.
fn connect(client: &::redis::Client, config: &ConnectionManagerConfig, url: &str) -> Option<ConnectionManager> {
    match ConnectionManager::new_lazy_with_config(client.clone(), config.clone()) {
        Ok(c) => Some(c),
        Err(e) => {
            log::error!("spend: redis connection manager for {}: {e}", redact(url));
            None
        }
    }
}

/// A limit as a script argument: -1 for none.
fn limit_arg(limit: Option<u64>) -> i64 {
    limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX))
}

/// `url` without the password between `:` and `@`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((auth, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}
