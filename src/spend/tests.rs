//! Budgets, rates and parallel limits on virtual time (memory), and against real `redis-server`s that each
//! test starts on a free port (two gateway instances sharing one; killed and restarted mid-run).
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::keys::parse_duration;

/// 2026-11-25T00:00:00Z, a minute boundary.
const T0_MS: i64 = 1_795_564_800_000;

fn budget(scope: Scope, id: &str, max: f64, window: Option<Window>) -> Budget {
    Budget { scope, id: id.to_string(), max, window, seed: 0.0 }
}

fn spend_only(budgets: Vec<Budget>, amount: f64) -> Reservation {
    Reservation { budgets, rates: vec![], parallel: vec![], amount }
}

fn rpm(scope: Scope, id: &str, rpm: u64) -> Reservation {
    Reservation {
        budgets: vec![],
        rates: vec![Rate { scope, id: id.to_string(), rpm: Some(rpm), tpm: None }],
        parallel: vec![],
        amount: 0.0,
    }
}

#[test]
fn windows_are_fixed_from_their_anchor() {
    let w = Window { anchor_unix: 1_000, secs: 30 };
    assert_eq!(w.index(1_000), 0);
    assert_eq!(w.index(1_029), 0);
    assert_eq!(w.index(1_030), 1);
    assert_eq!(w.resets_at(1_029), 1_030);
    assert_eq!(w.resets_at(1_030), 1_060);
    // Before the anchor (another instance's clock a little ahead made the record): its first window, as the
    // store counts it, so counters and the database's spend agree.
    assert_eq!(w.index(999), 0);
    assert_eq!(w.resets_at(999), 1_030);
    let endless = Window { anchor_unix: 0, secs: 0 };
    assert_eq!(endless.index(123_456), 0);
}

#[test]
fn budget_durations_parse_like_litellm() {
    assert_eq!(parse_duration("30s"), Some(30));
    assert_eq!(parse_duration("1h"), Some(3_600));
    assert_eq!(parse_duration("1d"), Some(86_400));
    assert_eq!(parse_duration("30d"), Some(2_592_000));
    assert_eq!(parse_duration("15m"), Some(900));
    assert_eq!(parse_duration("1mo"), Some(2_592_000));
    assert_eq!(parse_duration("2w"), Some(1_209_600));
    assert_eq!(parse_duration("0d"), None);
    assert_eq!(parse_duration("d"), None);
    assert_eq!(parse_duration("5y"), None);
}

#[tokio::test]
async fn budget_of_zero_blocks_the_first_call() {
    let l = Limits::memory();
    let r = l.reserve(spend_only(vec![budget(Scope::Key, "k", 0.0, None)], 0.0), T0_MS).await;
    assert!(
        matches!(r, Err(Refusal::Budget { scope: Scope::Key, max, spent, resets_at: None, .. }) if max == 0.0 && spent == 0.0)
    );
    assert_eq!(l.metrics().refusals[Scope::Key.index()], 1);
}

#[tokio::test]
async fn reservations_in_flight_count_against_the_budget() {
    let l = Limits::memory();
    let chain = || vec![budget(Scope::Key, "k", 1.0, None), budget(Scope::Team, "t", 10.0, None)];
    let a = l.reserve(spend_only(chain(), 0.4), T0_MS).await.unwrap();
    let b = l.reserve(spend_only(chain(), 0.4), T0_MS).await.unwrap();
    // 0.2 is left, less than the worst case, and other calls are in flight: refused.
    let third = l.reserve(spend_only(chain(), 0.4), T0_MS).await;
    assert!(matches!(third, Err(Refusal::Budget { scope: Scope::Key, .. })), "{third:?}");
    let held = |key: &str| l.memory.budget(key, T0_MS).map(|(s, r)| (s, (r * 1e9).round() / 1e9));
    // The refused call took nothing from the team either.
    assert_eq!(held("tg:b:team:t:all"), Some((0.0, 0.8)));
    l.settle(a, 0.1, 100, T0_MS).await;
    assert_eq!(held("tg:b:key:k:all"), Some((0.1, 0.4)));
    l.settle(b, 0.1, 100, T0_MS).await;
    // Alone on the budget, a call whose worst case (0.9) is more than is left (0.8) holds what is left.
    l.reserve(spend_only(chain(), 0.9), T0_MS).await.unwrap();
    assert_eq!(held("tg:b:key:k:all"), Some((0.2, 0.8)));
    assert!(l.reserve(spend_only(chain(), 0.01), T0_MS).await.is_err());
}

#[tokio::test]
async fn a_failed_call_is_refunded() {
    let l = Limits::memory();
    let chain = || vec![budget(Scope::Key, "k", 1.0, None)];
    for _ in 0..10 {
        let t = l.reserve(spend_only(chain(), 0.9), T0_MS).await.unwrap();
        l.settle(t, 0.0, 0, T0_MS).await;
    }
    assert_eq!(l.memory.budget("tg:b:key:k:all", T0_MS), Some((0.0, 0.0)));
}

#[tokio::test]
async fn a_memory_ticket_settles_in_place_and_a_redis_one_is_handed_back() {
    let l = Limits::memory();
    let chain = || vec![budget(Scope::Key, "k", 1.0, None)];
    let t = l.reserve(spend_only(chain(), 0.9), T0_MS).await.unwrap();
    assert!(l.settle_local(t, 0.25, 10, T0_MS).is_none());
    assert_eq!(l.memory.budget("tg:b:key:k:all", T0_MS), Some((0.25, 0.0)));
    let Some(server) = RedisServer::start() else {
        return;
    };
    let r = Limits::with_redis(&server.url(), false).await;
    let t = r.reserve(spend_only(chain(), 0.5), T0_MS).await.unwrap();
    let t = r.settle_local(t, 0.25, 10, T0_MS).expect("a Redis ticket needs its round trip");
    r.settle(t, 0.25, 10, T0_MS).await;
    let (spent, reserved) = r.redis.as_ref().unwrap().budget("tg:b:key:k:all").await.unwrap();
    assert_eq!((spent, reserved), (Some(0.25), Some(0.0)));
}

#[tokio::test]
async fn the_seed_is_where_a_new_counter_starts() {
    let l = Limits::memory();
    let mut b = budget(Scope::Team, "t", 1.0, None);
    b.seed = 1.0;
    let r = l.reserve(spend_only(vec![b.clone()], 0.2), T0_MS).await;
    assert!(matches!(r, Err(Refusal::Budget { spent, .. }) if (spent - 1.0).abs() < 1e-12), "{r:?}");
    b.id = "u".into();
    b.seed = 0.9;
    // 0.1 is left: the call holds that, and the next finds nothing left.
    l.reserve(spend_only(vec![b.clone()], 0.2), T0_MS).await.unwrap();
    let r = l.reserve(spend_only(vec![b], 0.2), T0_MS).await;
    assert!(matches!(r, Err(Refusal::Budget { spent, .. }) if (spent - 0.9).abs() < 1e-12), "{r:?}");
}

#[tokio::test]
async fn budget_windows_reset_and_say_when() {
    let l = Limits::memory();
    let day = Window { anchor_unix: T0_MS / 1000, secs: 86_400 };
    let chain = || vec![budget(Scope::User, "u", 1.0, Some(day))];
    let t = l.reserve(spend_only(chain(), 0.5), T0_MS).await.unwrap();
    l.settle(t, 1.0, 10, T0_MS + 1_000).await;
    let late = T0_MS + 86_399_000;
    let r = l.reserve(spend_only(chain(), 0.1), late).await;
    let reset = T0_MS / 1000 + 86_400;
    assert!(matches!(r, Err(Refusal::Budget { scope: Scope::User, resets_at: Some(x), .. }) if x == reset), "{r:?}");
    // The next window starts empty.
    l.reserve(spend_only(chain(), 0.9), reset * 1000).await.unwrap();
}

#[tokio::test]
async fn a_settle_after_the_window_rolled_books_on_the_new_window() {
    let l = Limits::memory();
    let w = Window { anchor_unix: T0_MS / 1000, secs: 30 };
    let chain = || vec![budget(Scope::Key, "k", 1.0, Some(w))];
    let t = l.reserve(spend_only(chain(), 0.5), T0_MS + 29_000).await.unwrap();
    l.settle(t, 0.25, 0, T0_MS + 31_000).await;
    let old = format!("tg:b:key:k:30:{}", w.index(T0_MS / 1000));
    let new = format!("tg:b:key:k:30:{}", w.index(T0_MS / 1000) + 1);
    assert_eq!(l.memory.budget(&old, T0_MS + 31_000), Some((0.0, 0.0)));
    assert_eq!(l.memory.budget(&new, T0_MS + 31_000), Some((0.25, 0.0)));
}

#[tokio::test]
async fn rpm_allows_exactly_the_limit_each_minute() {
    let l = Limits::memory();
    let now = T0_MS + 15_000;
    let mut granted = 0;
    let mut last = None;
    for _ in 0..25 {
        match l.reserve(rpm(Scope::Key, "k", 10), now).await {
            Ok(t) => {
                granted += 1;
                l.settle(t, 0.0, 0, now).await;
            }
            Err(e) => last = Some(e),
        }
    }
    assert_eq!(granted, 10);
    let Some(Refusal::Rate { kind, limit, retry_after_secs, resets_at_unix, .. }) = last else {
        panic!("expected a rate refusal, got {last:?}");
    };
    assert_eq!((kind, limit, retry_after_secs, resets_at_unix), (RateKind::Requests, 10, 45, T0_MS / 1000 + 60));
    // The next minute grants ten again.
    let next = T0_MS + 60_000;
    let mut granted = 0;
    for _ in 0..25 {
        if l.reserve(rpm(Scope::Key, "k", 10), next).await.is_ok() {
            granted += 1;
        }
    }
    assert_eq!(granted, 10);
}

#[tokio::test]
async fn tpm_refuses_once_the_minute_used_its_tokens() {
    let l = Limits::memory();
    let r = || Reservation {
        rates: vec![Rate { scope: Scope::Deployment, id: "d".into(), rpm: None, tpm: Some(1_000) }],
        ..Reservation::default()
    };
    let t = l.reserve(r(), T0_MS).await.unwrap();
    l.settle(t, 0.0, 999, T0_MS + 100).await;
    let t = l.reserve(r(), T0_MS + 200).await.unwrap();
    l.settle(t, 0.0, 1, T0_MS + 300).await;
    let refused = l.reserve(r(), T0_MS + 400).await;
    assert!(
        matches!(refused, Err(Refusal::Rate { kind: RateKind::Tokens, limit: 1_000, retry_after_secs: 60, .. })),
        "{refused:?}"
    );
    l.reserve(r(), T0_MS + 60_000).await.unwrap();
}

#[tokio::test]
async fn parallel_limits_count_calls_in_flight() {
    let l = Limits::memory();
    let r = || Reservation {
        parallel: vec![Parallel { scope: Scope::Key, id: "k".into(), max: 2 }],
        ..Reservation::default()
    };
    let a = l.reserve(r(), T0_MS).await.unwrap();
    let _b = l.reserve(r(), T0_MS).await.unwrap();
    let third = l.reserve(r(), T0_MS).await;
    assert_eq!(third.err(), Some(Refusal::Parallel { scope: Scope::Key, id: "k".into(), limit: 2 }));
    l.settle(a, 0.0, 0, T0_MS).await;
    l.reserve(r(), T0_MS).await.unwrap();
}

#[tokio::test]
async fn a_refusal_takes_nothing() {
    let l = Limits::memory();
    let r = || Reservation {
        budgets: vec![budget(Scope::Key, "k", 1.0, None)],
        rates: vec![Rate { scope: Scope::Team, id: "t".into(), rpm: Some(1), tpm: None }],
        parallel: vec![Parallel { scope: Scope::Key, id: "k".into(), max: 5 }],
        amount: 0.1,
    };
    l.reserve(r(), T0_MS).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(l.reserve(r(), T0_MS).await, Err(Refusal::Rate { scope: Scope::Team, .. })));
    }
    assert_eq!(l.memory.budget("tg:b:key:k:all", T0_MS), Some((0.0, 0.1)));
    // Four parallel slots are still free.
    let p = || Reservation { parallel: r().parallel, ..Reservation::default() };
    for _ in 0..4 {
        l.reserve(p(), T0_MS).await.unwrap();
    }
    assert!(l.reserve(p(), T0_MS).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_on_memory_never_overspend() {
    let l = Limits::memory();
    let settled = run_budget_load(std::slice::from_ref(&l), 500, "mem").await;
    // The last call may hold less than it costs (what was left): at most one call (0.01) over.
    assert!(settled <= 1.0 + 0.01 + 1e-9, "settled {settled}");
    assert!(settled > 0.5, "settled {settled}: the budget should mostly be used");
    assert_eq!(l.state(), BackendState::Memory);
}

/// `calls` concurrent reserve+settle calls spread over `instances` against a key budget of 1.0 USD with a
/// team budget of 100 and an rpm of 100,000; each holds 0.01 and spends 0.004..0.01. Returns the cost settled.
async fn run_budget_load(instances: &[Arc<Limits>], calls: usize, id: &str) -> f64 {
    let mut tasks = Vec::new();
    for i in 0..calls {
        let l = instances[i % instances.len()].clone();
        let id = id.to_string();
        tasks.push(tokio::spawn(async move {
            let r = Reservation {
                budgets: vec![budget(Scope::Key, &id, 1.0, None), budget(Scope::Team, &id, 100.0, None)],
                rates: vec![Rate { scope: Scope::Key, id: id.clone(), rpm: Some(100_000), tpm: None }],
                parallel: vec![],
                amount: 0.01,
            };
            let Ok(t) = l.reserve(r, T0_MS).await else {
                return 0.0;
            };
            tokio::task::yield_now().await;
            let cost = 0.004 + 0.006 * ((i % 7) as f64 / 6.0);
            l.settle(t, cost, 10, T0_MS).await;
            cost
        }));
    }
    let mut total = 0.0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

// ---- Redis ----

/// A `redis-server` of this test on a free loopback port; killed on drop.
struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// A fresh server, or `None` (with a note) when `redis-server` is missing outside CI.
    fn start() -> Option<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        RedisServer::start_on(port)
    }

    fn start_on(port: u16) -> Option<RedisServer> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert!(std::env::var("CI").as_deref() != Ok("true"), "redis-server is missing under CI: {e}");
                eprintln!("note: redis-server not found; skipping a Redis test");
                return None;
            }
            Err(e) => panic!("redis-server: {e}"),
        };
        let server = RedisServer { child: Some(child), port };
        server.wait_ready();
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Waits (at most 5 s) until the server answers PING.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer within 5 s", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` every 50 ms for at most `secs` seconds.
async fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_never_overspend() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = Limits::with_redis(&server.url(), false).await;
    let b = Limits::with_redis(&server.url(), false).await;
    assert_eq!((a.state(), b.state()), (BackendState::Redis, BackendState::Redis));
    let settled = run_budget_load(&[a.clone(), b.clone()], 500, "shared").await;
    assert!(settled <= 1.0 + 0.01 + 1e-9, "settled {settled} over a budget of 1.0 plus one call");
    assert!(settled > 0.5, "settled {settled}: the budget should mostly be used");
    let redis = a.redis.as_ref().unwrap();
    let (spent, reserved) = redis.budget("tg:b:key:shared:all").await.unwrap();
    assert!((spent.unwrap() - settled).abs() < 1e-9, "redis says {spent:?}, calls settled {settled}");
    assert!(reserved.unwrap().abs() < 1e-9, "nothing is in flight any more: {reserved:?}");
    let m = a.metrics();
    let n = b.metrics();
    assert_eq!(m.reservations + n.reservations + m.refusals[0] + n.refusals[0], 500);
    assert_eq!(m.local_fallbacks + n.local_fallbacks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_holds_exactly_across_two_instances() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = Limits::with_redis(&server.url(), false).await;
    let b = Limits::with_redis(&server.url(), false).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { l.reserve(rpm(Scope::Key, "shared", 10), T0_MS + 5_000).await.is_ok() }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.unwrap());
    }
    assert_eq!(granted, 10);
    let refused = a.reserve(rpm(Scope::Key, "shared", 10), T0_MS + 59_999).await;
    assert!(matches!(refused, Err(Refusal::Rate { retry_after_secs: 1, .. })), "{refused:?}");
    b.reserve(rpm(Scope::Key, "shared", 10), T0_MS + 60_000).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_limits_hold_across_two_instances() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = Limits::with_redis(&server.url(), false).await;
    let b = Limits::with_redis(&server.url(), false).await;
    let r = || Reservation {
        parallel: vec![Parallel { scope: Scope::Team, id: "t".into(), max: 3 }],
        ..Reservation::default()
    };
    let t1 = a.reserve(r(), T0_MS).await.unwrap();
    let _t2 = b.reserve(r(), T0_MS).await.unwrap();
    let _t3 = a.reserve(r(), T0_MS).await.unwrap();
    assert!(matches!(b.reserve(r(), T0_MS).await, Err(Refusal::Parallel { limit: 3, .. })));
    a.settle(t1, 0.0, 0, T0_MS).await;
    b.reserve(r(), T0_MS).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_death_fails_open_and_the_spend_reaches_redis_when_it_returns() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let port = server.port;
    let l = Limits::with_redis(&server.url(), false).await;
    l.start();
    // The database, which every settled cost reaches: 2.0 before, then 20 × 0.125 and the 0.5 in flight.
    l.set_spend_source(Arc::new(FixedSpend(2.0 + 2.5 + 0.5)));
    let mut chain = vec![budget(Scope::Key, "k", 100.0, None)];
    chain[0].seed = 2.0;
    let r = || spend_only(chain.clone(), 0.5);

    // Before: on Redis.
    let t = l.reserve(r(), T0_MS).await.unwrap();
    l.settle(t, 0.25, 10, T0_MS).await;
    // A call in flight on Redis when it dies.
    let in_flight = l.reserve(r(), T0_MS).await.unwrap();

    server.kill();
    let mut served = 0;
    for _ in 0..20 {
        let t = l.reserve(r(), T0_MS).await.expect("fail open: calls keep being served");
        l.settle(t, 0.125, 10, T0_MS).await;
        served += 1;
    }
    assert_eq!(served, 20);
    assert_eq!(l.state(), BackendState::RedisDown);
    l.settle(in_flight, 0.5, 10, T0_MS).await;
    let m = l.metrics();
    assert!(m.redis_errors >= 1 && m.local_fallbacks >= 19, "{m:?}");

    // The restarted Redis is empty (no persistence): the reconcile does not create the counter from a stale
    // seed; the next reserve seeds it from the database, read at that moment.
    let _server = RedisServer::start_on(port).unwrap();
    assert!(eventually(10, || l.state() == BackendState::Redis).await, "state stays {:?}", l.state());
    assert_eq!(l.metrics().reconciles, 1);
    let (spent, _) = l.redis.as_ref().unwrap().budget("tg:b:key:k:all").await.unwrap();
    assert_eq!(spent, None);
    let t = l.reserve(r(), T0_MS).await.unwrap();
    assert_eq!(t.backend, Backend::Redis);
    let (spent, reserved) = l.redis.as_ref().unwrap().budget("tg:b:key:k:all").await.unwrap();
    assert_eq!(spent, Some(2.0 + 2.5 + 0.5));
    assert_eq!(reserved, Some(0.5));
}

/// A database whose spend for every budget is this amount.
struct FixedSpend(f64);

impl SpendSource for FixedSpend {
    fn spend_now<'a>(
        &'a self,
        budgets: &'a [Budget],
        _now_unix: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Option<f64>>> + Send + 'a>> {
        Box::pin(async move { budgets.iter().map(|_| Some(self.0)).collect() })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_redis_lost_is_seeded_from_the_database_now_with_the_calls_in_flight_reserved() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let l = Limits::with_redis(&server.url(), false).await;
    // The cache says 1.0 (up to 30 s old); the database, read now, 6.0.
    l.set_spend_source(Arc::new(FixedSpend(6.0)));
    let mut chain = vec![budget(Scope::Key, "k", 10.0, None)];
    chain[0].seed = 1.0;
    let r = |amount| spend_only(chain.clone(), amount);
    let redis = l.redis.as_ref().unwrap();

    // A new counter is seeded from the database, not from the cache.
    let in_flight = l.reserve(r(1.5), T0_MS).await.unwrap();
    assert_eq!(redis.budget("tg:b:key:k:all").await.unwrap(), (Some(6.0), Some(1.5)));

    // Redis loses everything (FLUSHALL) with that call still in flight.
    let mut c = ::redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let _: () = ::redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
    // 6.0 spent + 1.5 in flight + 2.5 = 10.0: fits; one cent more would not, with a call in flight.
    assert!(matches!(l.reserve(r(2.51), T0_MS).await, Err(Refusal::Budget { .. })));
    let t = l.reserve(r(2.5), T0_MS).await.unwrap();
    assert_eq!(redis.budget("tg:b:key:k:all").await.unwrap(), (Some(6.0), Some(4.0)));
    l.settle(in_flight, 1.0, 0, T0_MS).await;
    l.settle(t, 0.0, 0, T0_MS).await;
    assert_eq!(redis.budget("tg:b:key:k:all").await.unwrap(), (Some(7.0), Some(0.0)));

    // An existing counter below what the database knows (a stale one that came back) is raised to it.
    let _: () = ::redis::cmd("HSET").arg("tg:b:key:k:all").arg("spent").arg("0.5").query_async(&mut c).await.unwrap();
    chain[0].seed = 7.0;
    let t = l.reserve(spend_only(chain.clone(), 0.25), T0_MS).await.unwrap();
    assert_eq!(redis.budget("tg:b:key:k:all").await.unwrap(), (Some(7.0), Some(0.25)));
    l.settle(t, 0.0, 0, T0_MS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_while_redis_is_down() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let port = server.port;
    let l = Limits::with_redis(&server.url(), true).await;
    l.start();
    let r = || spend_only(vec![budget(Scope::Key, "k", 100.0, None)], 0.5);
    l.reserve(r(), T0_MS).await.unwrap();
    server.kill();
    let refused = l.reserve(r(), T0_MS).await;
    assert!(matches!(refused, Err(Refusal::Unavailable(_))), "{refused:?}");
    assert_eq!(l.state(), BackendState::RedisDown);
    assert!(matches!(l.reserve(r(), T0_MS).await, Err(Refusal::Unavailable(_))));
    assert_eq!(l.metrics().unavailable, 2);
    let _server = RedisServer::start_on(port).unwrap();
    assert!(eventually(10, || l.state() == BackendState::Redis).await);
    l.reserve(r(), T0_MS).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_redis_starts_down_and_serves_locally() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let l = Limits::with_redis(&format!("redis://127.0.0.1:{port}/"), false).await;
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(l.state(), BackendState::RedisDown);
    let t = l.reserve(spend_only(vec![budget(Scope::Key, "k", 1.0, None)], 0.5), T0_MS).await.unwrap();
    assert_eq!(t.backend, Backend::Memory);
    let bad = Limits::with_redis("not a url", false).await;
    assert_eq!(bad.state(), BackendState::RedisDown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_when_redis_dies_are_all_served() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let a = Limits::with_redis(&server.url(), false).await;
    let b = Limits::with_redis(&server.url(), false).await;
    a.start();
    b.start();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..300 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            // Spread the calls over ~300 ms so the kill lands in the middle of the run.
            tokio::time::sleep(Duration::from_millis(i as u64)).await;
            let r = Reservation {
                budgets: vec![budget(Scope::Key, "k", 1_000.0, None), budget(Scope::Team, "t", 1_000.0, None)],
                rates: vec![Rate { scope: Scope::Key, id: "k".into(), rpm: Some(1_000_000), tpm: Some(1 << 40) }],
                parallel: vec![Parallel { scope: Scope::Key, id: "k".into(), max: 1_000 }],
                amount: 0.5,
            };
            let t = l.reserve(r, T0_MS).await?;
            tokio::task::yield_now().await;
            l.settle(t, 0.25, 100, T0_MS).await;
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), Refusal>(())
        }));
    }
    // Kill once a third of the calls went through.
    assert!(eventually(10, || done.load(std::sync::atomic::Ordering::SeqCst) >= 100).await);
    server.kill();
    for t in tasks {
        t.await.unwrap().expect("fail open: every call is served");
    }
    assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 300);
    assert_eq!((a.state(), b.state()), (BackendState::RedisDown, BackendState::RedisDown));
    assert!(a.metrics().local_fallbacks + b.metrics().local_fallbacks > 0);
}

#[test]
fn refusals_say_which_limit_and_when_to_come_back() {
    let r = Refusal::Budget { scope: Scope::Team, id: "t1".into(), max: 10.0, spent: 10.5, resets_at: Some(1_000) };
    assert_eq!(
        r.to_string(),
        "Budget has been exceeded! team t1: current cost 10.5, max budget 10; resets at 1000 (unix seconds)"
    );
    assert_eq!(r.retry_after_secs(), None);
    let r = Refusal::Rate {
        scope: Scope::Deployment,
        id: "d".into(),
        kind: RateKind::Tokens,
        limit: 1_000,
        retry_after_secs: 12,
        resets_at_unix: 60,
    };
    assert_eq!(r.to_string(), "Rate limit reached for deployment d: 1000 tokens per minute; retry after 12 s");
    assert_eq!(r.retry_after_secs(), Some(12));
    assert_eq!(Refusal::Parallel { scope: Scope::Key, id: "k".into(), limit: 2 }.retry_after_secs(), Some(1));
}

#[tokio::test]
async fn an_empty_reservation_is_granted_even_fail_closed_without_redis() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let l = Limits::with_redis(&format!("redis://127.0.0.1:{port}/"), true).await;
    let t = l.reserve(Reservation::default(), T0_MS).await.unwrap();
    l.settle(t, 1.0, 10, T0_MS).await;
    assert!(matches!(
        l.reserve(spend_only(vec![budget(Scope::Key, "k", 1.0, None)], 0.1), T0_MS).await,
        Err(Refusal::Unavailable(_))
    ));
}

#[test]
fn absurd_windows_neither_panic_nor_expire_at_once() {
    let w = Window { anchor_unix: 0, secs: u64::MAX };
    assert_eq!(w.index(i64::MAX), 1);
    assert_eq!(w.index(T0_MS / 1000), 0);
    assert_eq!(w.resets_at(0), i64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let l = Limits::memory();
    let b = Budget { scope: Scope::Key, id: "k".into(), max: 1.0, window: Some(w), seed: 0.0 };
    let r = rt.block_on(l.reserve(spend_only(vec![b.clone()], 0.6), T0_MS)).unwrap();
    // An hour later the window has not rolled: the first call still holds 0.6 of it.
    assert!(rt.block_on(l.reserve(spend_only(vec![b], 0.6), T0_MS + 3_600_000)).is_err());
    rt.block_on(l.settle(r, 0.1, 1, T0_MS));
}

#[test]
fn a_limits_on_its_own_runtime_serves_callers_on_other_runtimes() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // Built outside any runtime, like before Pingora starts.
    let l = Limits::with_redis_on_own_runtime(&server.url(), false).unwrap();
    assert_eq!(l.state(), BackendState::Redis);
    for _ in 0..2 {
        // Each caller runtime comes and goes: the thread's reserve/settle connection, made on the first one,
        // is made again on the second (its task died with the first), and health stays on the Limits' runtime.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let t = l.reserve(spend_only(vec![budget(Scope::Key, "own", 1.0, None)], 0.25), T0_MS).await.unwrap();
            assert_eq!(t.backend, Backend::Redis);
            l.settle(t, 0.125, 1, T0_MS).await;
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (spent, _) = rt.block_on(l.redis.as_ref().unwrap().budget("tg:b:key:own:all")).unwrap();
    assert_eq!(spent, Some(0.25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_call_alone_holds_what_is_left_and_overspends_by_one_call_at_most() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let l = Limits::with_redis(&server.url(), false).await;
    let mut b = budget(Scope::Key, "small", 1.0, None);
    b.seed = 0.5;
    let r = |amount| spend_only(vec![b.clone()], amount);
    let redis = l.redis.as_ref().unwrap();
    // The worst case (0.9) is more than is left (0.5): alone on the budget, the call holds the 0.5.
    let t = l.reserve(r(0.9), T0_MS).await.unwrap();
    assert_eq!(t.backend, Backend::Redis);
    assert_eq!(redis.budget("tg:b:key:small:all").await.unwrap(), (Some(0.5), Some(0.5)));
    assert!(matches!(l.reserve(r(0.01), T0_MS).await, Err(Refusal::Budget { .. })));
    // It costs more than it held: the budget is crossed once, and then every call is refused.
    l.settle(t, 0.7, 10, T0_MS).await;
    assert_eq!(redis.budget("tg:b:key:small:all").await.unwrap(), (Some(1.2), Some(0.0)));
    assert!(matches!(l.reserve(r(0.01), T0_MS).await, Err(Refusal::Budget { .. })));
}
