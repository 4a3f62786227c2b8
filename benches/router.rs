//! Criterion bench of one routing decision: `Router::order` (pick a deployment and build the plan of the
//! others) with 1,000 deployments in 100 groups of 10, for each strategy, on deployments with live stats
//! (latencies recorded, calls in flight, tokens used this minute, one deployment in ten cooling down).
//!
//! Run: `cargo bench --bench router -- --warm-up-time 1 --measurement-time 3`
//! (smoke test: `cargo bench --bench router -- --test`). Target: ≤ 2 µs per pick.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate::config::{self, Config, ModelGroup};
use tollgate::router::{FailureKind, InFlight, Router};

const GROUPS: usize = 100;
const PER_GROUP: usize = 10;

/// A config of `GROUPS` groups of `PER_GROUP` deployments under `strategy`.
fn config(strategy: &str) -> Config {
    let mut yaml = format!("router_settings:\n  routing_strategy: {strategy}\nmodel_list:\n");
    for g in 0..GROUPS {
        for d in 0..PER_GROUP {
            yaml.push_str(&format!(
                "  - model_name: group-{g}\n    litellm_params: {{model: openai/gpt-4o, api_key: sk-bench, \
                 api_base: 'https://host-{g}.example/v1', rpm: {}, tpm: 10000000, weight: {}}}\n    \
                 model_info: {{id: g{g}-d{d}}}\n",
                1_000_000 + d,
                1 + d % 3
            ));
        }
    }
    match config::parse_with_env(&yaml, &|_| None) {
        Ok(c) => c,
        Err(e) => panic!("bench config: {e}"),
    }
}

/// Live stats on every deployment, as after some traffic; returns the calls left in flight.
fn warm(router: &Router, groups: &[Arc<ModelGroup>], t0: Instant) -> Vec<InFlight> {
    let mut calls = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        for (di, d) in g.deployments.iter().enumerate() {
            let latency = Duration::from_millis(200 + 37 * ((gi + di) % 10) as u64);
            for k in 0..3u64 {
                let now = t0 + Duration::from_millis(10 * k);
                router.record_success(&d.id, latency, Some(latency / 4), 500 + k, now);
            }
            for _ in 0..(di % 3) {
                calls.push(router.begin(&d.id, t0));
            }
            if di == 7 {
                router.record_failure(&d.id, FailureKind::RateLimited, Some(Duration::from_secs(3600)), t0);
            }
        }
    }
    calls
}

fn order(c: &mut Criterion) {
    let mut bench = c.benchmark_group("router_order_1000_deployments_100_groups");
    for strategy in ["simple-shuffle", "latency-based-routing", "least-busy", "usage-based-routing-v2"] {
        let config = config(strategy);
        let router = Router::new(&config, None);
        let t0 = Instant::now();
        let _calls = warm(&router, &config.groups, t0);
        let groups = &config.groups;
        let mut i: u64 = 0;
        bench.bench_function(strategy, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let g = &groups[(i as usize).wrapping_mul(7919) % GROUPS];
                let now = t0 + Duration::from_micros(i % 50_000_000);
                let roll = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                black_box(router.order(black_box(g), now, roll))
            })
        });
    }
    bench.finish();
}

criterion_group!(benches, order);
criterion_main!(benches);
