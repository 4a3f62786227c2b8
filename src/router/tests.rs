//! The router's behaviour on virtual time: every `now` is `t0` plus a duration, nothing sleeps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora_load_balancing::selection::{BackendIter, BackendSelection};

use super::clock::{MinuteCount, MINUTE_NANOS};
use super::ewma::Ewma;
use super::strategy::{backend_for, Key, Slot};
use super::*;
use crate::config::{self, Config, ModelGroup};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// One `model_list` entry: group, id, extra `litellm_params` (`"rpm: 5"`), provider model.
struct Entry<'a> {
    group: &'a str,
    id: &'a str,
    params: &'a str,
    model: &'a str,
}

/// A served deployment `id` in `group` with extra params.
fn served<'a>(group: &'a str, id: &'a str, params: &'a str) -> Entry<'a> {
    Entry { group, id, params, model: "openai/gpt-4o" }
}

/// A deployment on a provider Tollgate does not serve.
fn unserved<'a>(group: &'a str, id: &'a str) -> Entry<'a> {
    Entry { group, id, params: "", model: "xyz/some-model" }
}

/// A config through the real parser: `router_settings` lines, then the entries.
fn config_of(router_settings: &str, entries: &[Entry<'_>]) -> Result<Config, String> {
    let mut yaml = format!("router_settings:\n  {router_settings}\nmodel_list:\n");
    for e in entries {
        let extra = if e.params.is_empty() { String::new() } else { format!(", {}", e.params) };
        yaml.push_str(&format!(
            "  - model_name: {}\n    litellm_params: {{model: {}, api_key: sk-test{extra}}}\n    model_info: {{id: {}}}\n",
            e.group, e.model, e.id
        ));
    }
    config::parse_with_env(&yaml, &|_| None).map_err(|e| e.to_string())
}

/// The group `name` of `config`.
fn group<'a>(config: &'a Config, name: &str) -> Result<&'a Arc<ModelGroup>, String> {
    config.group(name).ok_or_else(|| format!("no group {name}"))
}

/// A deterministic stream of random u64 (SplitMix64 from `seed`).
fn rolls(seed: u64) -> impl Iterator<Item = u64> {
    let mut state = seed;
    std::iter::repeat_with(move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        strategy::mix(state, 0)
    })
}

/// The ids of an order.
fn ids(order: &[Arc<Deployment>]) -> Vec<&str> {
    order.iter().map(|d| d.id.as_str()).collect()
}

/// How often each id comes first in `n` orders at `now`.
fn firsts(router: &Router, g: &ModelGroup, now: Instant, n: usize, seed: u64) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for roll in rolls(seed).take(n) {
        if let Some(d) = router.order(g, now, roll).first() {
            *counts.entry(d.id.clone()).or_insert(0) += 1;
        }
    }
    counts
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

// --- latency-based-routing ---

#[test]
fn latency_routing_sends_nearly_all_calls_to_the_fast_deployment_and_moves_when_it_slows() -> TestResult {
    let config =
        config_of("routing_strategy: latency-based-routing", &[served("g", "fast", ""), served("g", "slow", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    let mut latency = HashMap::from([("fast", 0.1), ("slow", 1.0)]);
    let mut picks = Vec::new();
    for (i, roll) in rolls(1).take(400).enumerate() {
        let now = t0 + Duration::from_millis(100 * i as u64);
        if i == 200 {
            latency.insert("fast", 3.0); // the fast deployment turns slow
        }
        let order = router.order(g, now, roll);
        let d = order.first().ok_or("empty order")?;
        let call = router.begin(&d.id, now);
        router.record_success(&d.id, secs(latency[d.id.as_str()]), None, 100, now);
        drop(call);
        picks.push(d.id.clone());
    }
    let fast_before = picks[..200].iter().filter(|id| *id == "fast").count();
    assert!(fast_before >= 180, "{fast_before} of 200 calls went to the fast deployment");
    let slow_after = picks[300..].iter().filter(|id| *id == "slow").count();
    assert!(slow_after >= 90, "after the fast one slowed down, {slow_after} of the last 100 went to the other");
    Ok(())
}

#[test]
fn lowest_latency_buffer_spreads_calls_among_near_equal_deployments() -> TestResult {
    let entries = [served("g", "a", ""), served("g", "b", ""), served("g", "c", "")];
    let mut config = config_of("routing_strategy: latency-based-routing", &entries)?;
    let t0 = Instant::now();
    let seed = |router: &Router| {
        for (id, s) in [("a", 1.0), ("b", 1.1), ("c", 3.0)] {
            router.record_success(id, secs(s), None, 10, t0);
        }
    };

    let without_buffer = Router::new(&config, None);
    seed(&without_buffer);
    let counts = firsts(&without_buffer, group(&config, "g")?, t0, 300, 2);
    assert_eq!(counts.get("a"), Some(&300), "no buffer: always the fastest ({counts:?})");

    config.router.routing_strategy_args.lowest_latency_buffer = 0.5;
    let with_buffer = Router::new(&config, None);
    seed(&with_buffer);
    let counts = firsts(&with_buffer, group(&config, "g")?, t0, 300, 3);
    let (a, b) = (counts.get("a").copied().unwrap_or(0), counts.get("b").copied().unwrap_or(0));
    assert!(a >= 100 && b >= 100, "a 10 % slower deployment shares the traffic: {counts:?}");
    assert_eq!(counts.get("c"), None, "3x slower is outside a 50 % buffer: {counts:?}");
    Ok(())
}

#[test]
fn latency_routing_ranks_streams_by_time_to_first_token() -> TestResult {
    let config = config_of("routing_strategy: latency-based-routing", &[served("g", "a", ""), served("g", "b", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    // a writes long answers but starts at once; b answers short but starts late.
    router.record_success("a", secs(5.0), Some(secs(0.2)), 10, t0);
    router.record_success("b", secs(1.0), Some(secs(0.9)), 10, t0);
    for roll in rolls(4).take(50) {
        assert_eq!(ids(&router.try_order(g, t0, roll, true)?), ["a", "b"]);
        assert_eq!(ids(&router.try_order(g, t0, roll, false)?), ["b", "a"]);
    }
    Ok(())
}

#[test]
fn latency_samples_older_than_ttl_are_forgotten_so_the_deployment_is_tried_again() -> TestResult {
    let mut config =
        config_of("routing_strategy: latency-based-routing", &[served("g", "a", ""), served("g", "b", "")])?;
    config.router.routing_strategy_args.ttl = Duration::from_secs(10);
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.record_success("a", secs(0.5), None, 10, t0);
    router.record_success("b", secs(4.0), None, 10, t0);
    assert_eq!(firsts(&router, g, t0 + secs(9.0), 100, 5).get("a"), Some(&100));
    // a keeps answering; b's only sample is now older than ttl: it counts as unknown (0 s) and is tried.
    router.record_success("a", secs(0.5), None, 10, t0 + secs(11.0));
    let first = router.order(g, t0 + secs(11.0), 6);
    assert_eq!(ids(&first), ["b", "a"]);
    Ok(())
}

#[test]
fn a_timeout_counts_as_a_very_slow_call_for_latency_routing() -> TestResult {
    let config = config_of("routing_strategy: latency-based-routing", &[served("g", "a", ""), served("g", "b", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.record_success("a", secs(0.5), None, 10, t0);
    router.record_success("b", secs(2.0), None, 10, t0);
    assert_eq!(ids(&router.order(g, t0, 7)), ["a", "b"]);
    router.record_failure("a", FailureKind::Timeout, None, t0 + secs(1.0));
    assert_eq!(ids(&router.order(g, t0 + secs(1.0), 7)), ["b", "a"]);
    Ok(())
}

// --- least-busy ---

#[test]
fn least_busy_prefers_the_deployment_with_the_fewest_calls_in_flight() -> TestResult {
    let entries = [served("g", "a", ""), served("g", "b", ""), served("g", "c", "")];
    let config = config_of("routing_strategy: least-busy", &entries)?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();

    // Nothing in flight: ties are broken at random.
    let counts = firsts(&router, g, t0, 300, 8);
    assert!(counts.values().all(|n| *n >= 60), "idle deployments share the calls: {counts:?}");

    let a1 = router.begin("a", t0);
    let a2 = router.begin("a", t0);
    let b1 = router.begin("b", t0);
    for roll in rolls(9).take(100) {
        assert_eq!(ids(&router.order(g, t0, roll)), ["c", "b", "a"]);
    }
    drop((a1, a2));
    // a's calls ended: a is idle again, b still has one.
    for roll in rolls(10).take(100) {
        let order = router.order(g, t0, roll);
        assert_ne!(order.first().map(|d| d.id.as_str()), Some("b"));
        assert_eq!(order.last().map(|d| d.id.as_str()), Some("b"));
    }
    drop(b1);
    assert_eq!(router.snapshot("b", t0).map(|h| h.in_flight), Some(0));
    Ok(())
}

// --- usage-based-routing-v2 ---

#[test]
fn usage_based_never_exceeds_rpm_within_a_minute_and_starts_again_the_next_minute() -> TestResult {
    let config = config_of(
        "routing_strategy: usage-based-routing-v2",
        &[served("g", "a", "rpm: 5"), served("g", "b", "rpm: 3")],
    )?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    let count = |minute: u64| -> Result<HashMap<String, usize>, String> {
        let mut calls = HashMap::new();
        for (i, roll) in rolls(11 + minute).take(20).enumerate() {
            let now = t0 + Duration::from_secs(60 * minute) + Duration::from_millis(2_000 * i as u64);
            match router.try_order(g, now, roll, false) {
                Ok(order) => {
                    let d = order.first().ok_or("empty")?;
                    let call = router.begin(&d.id, now);
                    router.record_success(&d.id, secs(0.3), None, 50, now);
                    drop(call);
                    *calls.entry(d.id.clone()).or_insert(0) += 1;
                }
                Err(NoDeployment::AtCapacity { retry_after }) => {
                    assert!(retry_after <= Duration::from_secs(60), "{retry_after:?}");
                }
                Err(e) => return Err(format!("{e:?}")),
            }
        }
        Ok(calls)
    };
    let first = count(0)?;
    assert_eq!((first.get("a"), first.get("b")), (Some(&5), Some(&3)), "{first:?}");
    let second = count(1)?;
    assert_eq!((second.get("a"), second.get("b")), (Some(&5), Some(&3)), "{second:?}");
    Ok(())
}

#[test]
fn usage_based_prefers_the_deployment_with_the_fewest_tokens_this_minute() -> TestResult {
    let config = config_of("routing_strategy: usage-based-routing-v2", &[served("g", "a", ""), served("g", "b", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.record_success("a", secs(1.0), None, 1_000, t0);
    router.record_success("b", secs(1.0), None, 10, t0);
    for roll in rolls(12).take(50) {
        assert_eq!(ids(&router.order(g, t0, roll)), ["b", "a"]);
    }
    Ok(())
}

#[test]
fn usage_based_leaves_out_a_deployment_past_its_tpm() -> TestResult {
    let config = config_of(
        "routing_strategy: usage-based-routing-v2",
        &[served("g", "a", "tpm: 100"), served("g", "b", "tpm: 100000")],
    )?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.record_success("a", secs(1.0), None, 100, t0);
    router.record_success("b", secs(1.0), None, 5_000, t0);
    assert_eq!(ids(&router.order(g, t0, 13)), ["b"]);
    assert_eq!(router.order(g, t0 + Duration::from_secs(60), 13).len(), 2, "a new minute, a new budget");
    Ok(())
}

#[test]
fn try_begin_takes_a_call_only_while_the_deployment_is_below_its_rpm() -> TestResult {
    let config = config_of("routing_strategy: simple-shuffle", &[served("g", "a", "rpm: 2")])?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    let calls: Vec<_> = (0..3).map(|_| router.try_begin("a", t0)).collect();
    assert_eq!(calls.iter().filter(|c| c.is_some()).count(), 2);
    assert!(router.try_begin("a", t0 + Duration::from_secs(60)).is_some());
    Ok(())
}

// --- simple-shuffle ---

#[test]
fn simple_shuffle_follows_the_weights() -> TestResult {
    let config =
        config_of("routing_strategy: simple-shuffle", &[served("g", "a", "weight: 1"), served("g", "b", "weight: 3")])?;
    let router = Router::new(&config, None);
    let n = 20_000;
    let counts = firsts(&router, group(&config, "g")?, Instant::now(), n, 14);
    let share = counts.get("b").copied().unwrap_or(0) as f64 / n as f64;
    // 0.75 expected; the standard deviation over 20 000 picks is 0.003.
    assert!((share - 0.75).abs() < 0.015, "b got {share}");
    Ok(())
}

#[test]
fn simple_shuffle_weighs_by_rpm_when_no_weight_is_given() -> TestResult {
    let config =
        config_of("routing_strategy: simple-shuffle", &[served("g", "a", "rpm: 100"), served("g", "b", "rpm: 900")])?;
    let router = Router::new(&config, None);
    let n = 20_000;
    let counts = firsts(&router, group(&config, "g")?, Instant::now(), n, 15);
    let share = counts.get("a").copied().unwrap_or(0) as f64 / n as f64;
    assert!((share - 0.1).abs() < 0.01, "a got {share}");
    Ok(())
}

#[test]
fn an_order_lists_every_served_deployment_once_with_the_choice_first() -> TestResult {
    let entries = [served("g", "a", ""), served("g", "b", ""), unserved("g", "x"), served("g", "c", "")];
    for strategy in ["simple-shuffle", "latency-based-routing", "least-busy", "usage-based-routing-v2"] {
        let config = config_of(&format!("routing_strategy: {strategy}"), &entries)?;
        let router = Router::new(&config, None);
        let g = group(&config, "g")?;
        for roll in rolls(16).take(100) {
            let order = router.order(g, Instant::now(), roll);
            let mut order = ids(&order);
            order.sort_unstable();
            assert_eq!(order, ["a", "b", "c"], "{strategy}");
        }
    }
    Ok(())
}

// --- cooldowns ---

#[test]
fn more_than_allowed_fails_in_a_minute_cools_a_deployment_down_until_cooldown_time_has_passed() -> TestResult {
    let config = config_of(
        "{routing_strategy: simple-shuffle, allowed_fails: 2, cooldown_time: 10}",
        &[served("g", "a", ""), served("g", "b", "")],
    )?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.order(g, t0, 0);
    for s in [1.0, 2.0] {
        router.record_failure("a", FailureKind::ServerError, None, t0 + secs(s));
        assert!(ids(&router.order(g, t0 + secs(s), 0)).contains(&"a"), "{s}: allowed_fails not yet exceeded");
    }
    router.record_failure("a", FailureKind::Connect, None, t0 + secs(3.0));
    for tenth in 30..130 {
        let now = t0 + secs(f64::from(tenth) / 10.0);
        assert_eq!(ids(&router.order(g, now, u64::from(tenth as u32))), ["b"], "at {tenth}/10 s");
    }
    let reason = router.unhealthy_reason("a", t0 + secs(4.0)).ok_or("a should be unhealthy")?;
    assert!(reason.contains("cooling down"), "{reason}");
    let back = t0 + secs(13.0);
    assert!(ids(&router.order(g, back, 0)).contains(&"a"), "cooldown_time has passed");
    Ok(())
}

#[test]
fn failures_in_different_minutes_do_not_add_up() -> TestResult {
    let config = config_of("{allowed_fails: 2}", &[served("g", "a", ""), served("g", "b", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.order(g, t0, 0);
    for s in [58.0, 59.0, 61.0, 62.0] {
        router.record_failure("a", FailureKind::ServerError, None, t0 + secs(s));
    }
    assert!(ids(&router.order(g, t0 + secs(62.5), 0)).contains(&"a"));
    Ok(())
}

#[test]
fn a_429_cools_down_at_once_and_a_longer_retry_after_extends_the_cooldown() -> TestResult {
    let config = config_of("{cooldown_time: 5}", &[served("g", "a", ""), served("g", "b", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.order(g, t0, 0);
    router.record_failure("a", FailureKind::RateLimited, None, t0);
    assert_eq!(ids(&router.order(g, t0 + secs(4.9), 0)), ["b"]);
    assert!(ids(&router.order(g, t0 + secs(5.0), 0)).contains(&"a"));

    router.record_failure("a", FailureKind::RateLimited, Some(Duration::from_secs(30)), t0 + secs(10.0));
    assert_eq!(ids(&router.order(g, t0 + secs(39.9), 0)), ["b"], "Retry-After: 30 outlasts cooldown_time");
    assert!(ids(&router.order(g, t0 + secs(40.0), 0)).contains(&"a"));

    // A shorter Retry-After does not shorten cooldown_time.
    router.record_failure("a", FailureKind::RateLimited, Some(Duration::from_secs(1)), t0 + secs(50.0));
    assert_eq!(ids(&router.order(g, t0 + secs(54.9), 0)), ["b"]);
    Ok(())
}

#[test]
fn context_window_and_content_policy_errors_never_cool_a_deployment_down() -> TestResult {
    let config = config_of("{allowed_fails: 0}", &[served("g", "a", ""), served("g", "b", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.order(g, t0, 0);
    for i in 0..10 {
        let kind = if i % 2 == 0 { FailureKind::ContextWindow } else { FailureKind::ContentPolicy };
        router.record_failure("a", kind, None, t0 + secs(f64::from(i)));
    }
    assert!(ids(&router.order(g, t0 + secs(10.0), 0)).contains(&"a"));
    assert_eq!(router.unhealthy_reason("a", t0 + secs(10.0)), None);
    assert_eq!(router.snapshot("a", t0 + secs(10.0)).map(|h| h.error_rate), Some(0.0));
    Ok(())
}

#[test]
fn disable_cooldowns_keeps_every_deployment_in_rotation() -> TestResult {
    let mut config = config_of("{allowed_fails: 0}", &[served("g", "a", ""), served("g", "b", "")])?;
    config.router.disable_cooldowns = true;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.order(g, t0, 0);
    for i in 0..5 {
        router.record_failure("a", FailureKind::ServerError, None, t0 + secs(f64::from(i)));
    }
    router.record_failure("a", FailureKind::RateLimited, Some(Duration::from_secs(60)), t0 + secs(5.0));
    router.observe_rate_limit("a", Some(0), Some(0), Some(Duration::from_secs(30)), t0 + secs(5.0));
    let counts = firsts(&router, g, t0 + secs(6.0), 200, 17);
    assert!(counts.get("a").copied().unwrap_or(0) > 50, "a still gets its share: {counts:?}");
    assert_eq!(router.snapshot("a", t0 + secs(6.0)).and_then(|h| h.cooling_down_for), None);
    Ok(())
}

#[test]
fn a_group_whose_only_deployment_is_cooling_down_still_gets_it() -> TestResult {
    let config = config_of("{allowed_fails: 1, cooldown_time: 30}", &[served("solo", "a", "")])?;
    let g = group(&config, "solo")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.order(g, t0, 0);
    router.record_failure("a", FailureKind::ServerError, None, t0);
    router.record_failure("a", FailureKind::ServerError, None, t0 + secs(1.0));
    assert!(router.unhealthy_reason("a", t0 + secs(2.0)).is_some_and(|r| r.contains("cooling down")));
    assert_eq!(ids(&router.order(g, t0 + secs(2.0), 0)), ["a"]);
    Ok(())
}

#[test]
fn when_every_deployment_is_cooling_down_all_are_tried_soonest_back_first() -> TestResult {
    let config = config_of("{cooldown_time: 10}", &[served("g", "a", ""), served("g", "b", ""), served("g", "c", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.order(g, t0, 0);
    router.record_failure("b", FailureKind::RateLimited, None, t0);
    router.record_failure("c", FailureKind::RateLimited, None, t0 + secs(1.0));
    router.record_failure("a", FailureKind::RateLimited, None, t0 + secs(2.0));
    for roll in rolls(18).take(20) {
        assert_eq!(ids(&router.order(g, t0 + secs(3.0), roll)), ["b", "c", "a"]);
    }
    Ok(())
}

#[test]
fn a_deployment_on_an_unsupported_provider_is_never_returned() -> TestResult {
    let config =
        config_of("{cooldown_time: 10}", &[served("g", "a", ""), unserved("g", "x"), unserved("only-x", "y")])?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    let g = group(&config, "g")?;
    for roll in rolls(19).take(200) {
        assert_eq!(ids(&router.order(g, t0, roll)), ["a"]);
    }
    router.record_failure("a", FailureKind::RateLimited, None, t0);
    assert_eq!(ids(&router.order(g, t0 + secs(1.0), 0)), ["a"], "cooling, but still not x");

    let only_x = group(&config, "only-x")?;
    assert!(router.order(only_x, t0, 0).is_empty());
    assert_eq!(
        router.try_order(only_x, t0, 0, false).err(),
        Some(NoDeployment::Unsupported { provider: "xyz".to_string() })
    );
    Ok(())
}

#[test]
fn x_ratelimit_remaining_zero_skips_the_deployment_until_the_reset() -> TestResult {
    let config = config_of("{}", &[served("g", "a", ""), served("g", "b", "")])?;
    let g = group(&config, "g")?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    router.order(g, t0, 0);
    router.observe_rate_limit("a", Some(0), Some(5_000), Some(Duration::from_secs(2)), t0);
    assert_eq!(ids(&router.order(g, t0 + secs(1.9), 0)), ["b"]);
    assert!(router.unhealthy_reason("a", t0 + secs(1.0)).is_some_and(|r| r.contains("x-ratelimit-remaining")));
    assert!(ids(&router.order(g, t0 + secs(2.0), 0)).contains(&"a"));

    // No reset header: a short default. Tokens at zero count too.
    router.observe_rate_limit("a", Some(10), Some(0), None, t0 + secs(3.0));
    assert_eq!(ids(&router.order(g, t0 + secs(3.5), 0)), ["b"]);
    assert!(ids(&router.order(g, t0 + secs(4.0), 0)).contains(&"a"));

    // A later answer with room lifts the skip.
    router.observe_rate_limit("a", Some(0), None, Some(Duration::from_secs(30)), t0 + secs(5.0));
    router.observe_rate_limit("a", Some(3), None, None, t0 + secs(6.0));
    assert!(ids(&router.order(g, t0 + secs(6.0), 0)).contains(&"a"));
    Ok(())
}

// --- health ---

#[test]
fn health_shows_the_last_failure_until_the_next_success() -> TestResult {
    let config = config_of("{allowed_fails: 5}", &[served("g", "a", "")])?;
    let router = Router::new(&config, None);
    let t0 = Instant::now();
    assert_eq!(router.unhealthy_reason("a", t0), None);
    router.record_failure_with("a", FailureKind::ServerError, None, "provider answered 503", t0);
    let reason = router.unhealthy_reason("a", t0).ok_or("unhealthy after a failure")?;
    assert!(reason.contains("provider answered 503"), "{reason}");
    let health = router.snapshot("a", t0).ok_or("snapshot")?;
    assert_eq!((health.error_rate, health.failures_this_minute), (1.0, 1));
    router.record_success("a", secs(0.4), None, 10, t0 + secs(1.0));
    assert_eq!(router.unhealthy_reason("a", t0 + secs(1.0)), None);
    let health = router.snapshot("a", t0 + secs(1.0)).ok_or("snapshot")?;
    assert!(health.error_rate < 1.0);
    assert_eq!(health.latency, Some(secs(0.4)));
    assert_eq!(router.snapshot("nope", t0), None);
    Ok(())
}

// --- reload ---

#[test]
fn a_reload_keeps_the_state_of_unchanged_ids_and_drops_removed_ones() -> TestResult {
    let before =
        config_of("{routing_strategy: least-busy, cooldown_time: 60}", &[served("g", "a", ""), served("g", "b", "")])?;
    let old = Router::new(&before, None);
    let t0 = Instant::now();
    old.order(group(&before, "g")?, t0, 0);
    old.record_success("a", secs(0.7), None, 10, t0);
    old.record_failure("b", FailureKind::RateLimited, None, t0);
    let call = old.begin("a", t0);

    let after =
        config_of("{routing_strategy: least-busy, cooldown_time: 60}", &[served("g", "a", ""), served("g", "c", "")])?;
    let new = Router::new(&after, Some(&old));
    let now = t0 + secs(1.0);
    let a = new.snapshot("a", now).ok_or("a kept")?;
    assert_eq!((a.latency, a.in_flight), (Some(secs(0.7)), 1));
    assert_eq!(new.snapshot("b", now), None, "b was removed");
    assert_eq!(new.snapshot("c", now), Some(DeploymentHealth::default()), "c starts fresh");
    // The call begun before the reload ends on the new router's counters.
    drop(call);
    assert_eq!(new.snapshot("a", now).map(|h| h.in_flight), Some(0));
    // b comes back under the same id: its old state went with the reload that removed it.
    let again = Router::new(&before, Some(&new));
    assert_eq!(again.unhealthy_reason("b", now), None);
    Ok(())
}

// --- the pieces ---

#[test]
fn each_deployment_gets_its_own_backend_even_on_one_host() {
    let (a, b) = (backend_for(0), backend_for(1));
    assert_ne!(a, b, "two deployments on one api_base stay two backends");
    assert_eq!(a.ext.get::<Slot>(), Some(&Slot(0)));
    assert_eq!(backend_for(70_000).ext.get::<Slot>(), Some(&Slot(70_000)));
}

#[test]
fn a_selection_key_carries_time_roll_and_flags() {
    let key = Key { now: 123_456_789, roll: u64::MAX - 3, stream: true, recovery: false };
    assert_eq!(Key::decode(&key.encode()), key);
    assert_eq!(Key::decode(b"short"), Key { now: u64::from_le_bytes(*b"short\0\0\0"), ..Key::default() });
}

#[test]
fn a_selection_built_without_our_table_is_empty() {
    let backends = [backend_for(0), backend_for(1)].into_iter().collect();
    let selection = Arc::new(<strategy::Shuffle as BackendSelection>::build(&backends));
    assert!(selection.iter(&Key::default().encode()).next().is_none());
}

#[test]
fn a_minute_count_starts_from_zero_each_minute() {
    let c = MinuteCount::default();
    assert_eq!((c.add(7, 2), c.add(7, 3), c.get(7)), (2, 5, 5));
    assert_eq!((c.get(8), c.add(8, 1), c.get(7)), (0, 1, 0));
    assert!(c.add_one_below(8, 2));
    assert!(!c.add_one_below(8, 2));
    assert_eq!(c.get(8), 2);
}

#[test]
fn the_average_weighs_a_sample_by_the_time_since_the_last_one() {
    let minute = MINUTE_NANOS;
    let e = Ewma::new(minute, 0.1);
    assert_eq!(e.get(0, u64::MAX), None);
    e.add(1.0, 0);
    // A burst: each sample weighs the floor, 1/10.
    e.add(2.0, 1);
    let v = e.get(1, u64::MAX).unwrap_or_default();
    assert!((v - 1.1).abs() < 1e-6, "{v}");
    // After one τ of silence a sample weighs 1 - 1/e.
    e.add(0.0, 1 + minute);
    let v = e.get(1 + minute, u64::MAX).unwrap_or_default();
    assert!((v - 1.1 * (-1.0f64).exp()).abs() < 1e-6, "{v}");
    // Forgotten after ttl.
    assert_eq!(e.get(1 + 3 * minute, minute), None);
}
