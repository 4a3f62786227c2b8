//! The routing strategies, each a Pingora [`BackendSelection`] over one model group.
//!
//! Pingora's `Backend` is an address and a weight, and two backends with the same address and weight are
//! the same backend: two deployments on one host (say two Azure deployments behind one `api_base`) would
//! merge. So a group's backends are synthetic, one per deployment: the address is built from the
//! deployment's dense index in our deployment table ([`backend_for`]), and `Backend.ext` carries that index as a
//! [`Slot`] so whoever gets a `Backend` back finds the deployment without parsing an address. The address
//! is never dialled: it lies in `100::/64`, the IPv6 discard-only prefix (RFC 6666).
//!
//! A routing decision needs the time and a random number, and strategies read no clock and no RNG: both
//! travel in the selection key ([`Key::encode`]), 17 bytes, so an iterator is a pure function of the key and
//! the deployments' state, and several threads can route through one selection at once.
//!
//! Every strategy ranks the group's members: [`BackendIter::next`] yields the strategy's choice first,
//! then the others best-first, so a retry lands on the next best deployment. Members that are cooling down
//! or skipped for `x-ratelimit-remaining: 0` are not yielded; a key with `recovery` set yields them instead,
//! soonest back first (for a group where nothing else is left). Scores of the first
//! [`CACHED_MEMBERS`] members are read once per iteration, so an order is consistent even while other
//! calls update the counters; an iteration allocates nothing (groups above 64 members: one bitset).
//!
//! | strategy | first choice | then | excluded |
//! |---|---|---|---|
//! | [`Shuffle`] (`simple-shuffle`) | random, weighted by `weight`, else `rpm`, else `tpm` | a weighted random order | — |
//! | [`Latency`] (`latency-based-routing`) | random among those within `lowest_latency_buffer` of the lowest latency (time to first token for streams) | by latency | past `rpm`/`tpm` this minute |
//! | [`LeastBusy`] (`least-busy`) | fewest calls in flight (ties at random) | by calls in flight | — |
//! | [`Usage`] (`usage-based-routing-v2`) | fewest tokens used this minute, then fewest calls (ties at random) | by use | past `rpm`/`tpm` this minute |

use std::collections::BTreeSet;
use std::net::{Ipv6Addr, SocketAddr as InetAddr, SocketAddrV6};
use std::sync::Arc;

use pingora_core::protocols::l4::socket::SocketAddr;
use pingora_load_balancing::selection::{BackendIter, BackendSelection};
use pingora_load_balancing::{Backend, Extensions};

use super::state::{DeploymentState, Table};
use crate::config::{Deployment, RoutingStrategyArgs};

/// A deployment's dense index in the router's deployment table, carried in `Backend.ext`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(pub u32);

/// The synthetic backend of the deployment at `slot`: a unique, never-dialled address, and the slot in
/// `ext`.
pub fn backend_for(slot: u32) -> Backend {
    let [a, b, c, d] = slot.to_be_bytes();
    let ip = Ipv6Addr::new(0x0100, 0, 0, 0, 0, 0, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
    let mut ext = Extensions::new();
    ext.insert(Slot(slot));
    Backend { addr: SocketAddr::Inet(InetAddr::V6(SocketAddrV6::new(ip, 0, 0, 0))), weight: 1, ext }
}

/// What one routing decision needs besides the group, carried in the selection key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Key {
    /// Now, in nanoseconds since the router's epoch.
    pub now: u64,
    /// A random number for the random parts of a choice.
    pub roll: u64,
    /// Whether the call streams (latency routing then ranks by time to first token).
    pub stream: bool,
    /// Rank the members that are cooling down or rate limited, soonest back first, instead of the others.
    pub recovery: bool,
}

impl Key {
    /// The key's bytes: `now` and `roll` little-endian, then a flag byte.
    pub fn encode(&self) -> [u8; 17] {
        let mut out = [0; 17];
        out[..8].copy_from_slice(&self.now.to_le_bytes());
        out[8..16].copy_from_slice(&self.roll.to_le_bytes());
        out[16] = u8::from(self.stream) | u8::from(self.recovery) << 1;
        out
    }

    /// A key from its bytes; missing bytes count as zero (a key that is not ours routes as at the epoch).
    pub fn decode(bytes: &[u8]) -> Key {
        let mut raw = [0; 17];
        let n = bytes.len().min(17);
        raw[..n].copy_from_slice(&bytes[..n]);
        let word = |i: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&raw[i..i + 8]);
            u64::from_le_bytes(w)
        };
        Key { now: word(0), roll: word(8), stream: raw[16] & 1 != 0, recovery: raw[16] & 2 != 0 }
    }
}

/// How every strategy is built: our table and the config's strategy arguments.
#[derive(Debug, Clone, Default)]
pub struct PoolConfig {
    /// The deployment table the backends' slots index.
    pub(crate) table: Arc<Table>,
    /// `routing_strategy_args`.
    pub(crate) args: RoutingStrategyArgs,
}

/// The members of one group, as every strategy sees them.
#[derive(Debug)]
pub struct Pool {
    /// One synthetic backend per member, in slot order.
    backends: Box<[Backend]>,
    /// Each member's state.
    states: Box<[Arc<DeploymentState>]>,
    /// Each member's `(rpm, tpm)` limit (`u64::MAX`: none).
    limits: Box<[(u64, u64)]>,
    /// Each member's deployment.
    deployments: Box<[Arc<Deployment>]>,
}

impl Pool {
    /// The members among `backends` that have a slot in `config`'s table; others are not ours and are
    /// left out (a `build` without our table so yields an empty selection).
    fn build(backends: &BTreeSet<Backend>, config: &PoolConfig) -> Pool {
        let mut members = Vec::with_capacity(backends.len());
        let mut states = Vec::with_capacity(backends.len());
        let mut limits = Vec::with_capacity(backends.len());
        let mut deployments = Vec::with_capacity(backends.len());
        for b in backends {
            let Some(Slot(slot)) = b.ext.get::<Slot>().copied() else { continue };
            let i = slot as usize;
            let (Some(d), Some(s)) = (config.table.deployments.get(i), config.table.states.get(i)) else { continue };
            members.push(b.clone());
            states.push(s.clone());
            limits.push((d.rpm.unwrap_or(u64::MAX), d.tpm.unwrap_or(u64::MAX)));
            deployments.push(d.clone());
        }
        Pool {
            backends: members.into_boxed_slice(),
            states: states.into_boxed_slice(),
            limits: limits.into_boxed_slice(),
            deployments: deployments.into_boxed_slice(),
        }
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.backends.len()
    }

    /// Whether the group has no member.
    pub fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// Whether member `m` is still below its `rpm` and `tpm` in the minute of `t` (LiteLLM's usage-based
    /// and latency-based routing skip a deployment once `used + 1 > rpm`).
    fn within_limits(&self, m: usize, t: u64) -> bool {
        let (Some(s), Some(&(rpm, tpm))) = (self.states.get(m), self.limits.get(m)) else { return false };
        (rpm == u64::MAX || s.requests_at(t) < rpm) && (tpm == u64::MAX || s.tokens_at(t) < tpm)
    }

    /// Whether member `m` is not cooling down or rate limited at `t`.
    fn available(&self, m: usize, t: u64) -> bool {
        self.states.get(m).is_some_and(|s| s.cooldown.available(t))
    }
}

/// A member's rank: lower is better. The high 64 bits carry the strategy's measure, the low 64 bits a
/// random tie-break.
type Score = u128;
/// The rank of a member that may not be chosen.
const EXCLUDED: Score = u128::MAX;
/// Members whose score an iteration reads once and keeps (larger groups re-read the rest per step).
pub const CACHED_MEMBERS: usize = 16;

/// What makes a strategy: how it ranks a member, and how it picks the first one.
pub trait Rank: Sized {
    /// The group's members.
    fn pool(&self) -> &Pool;
    /// Whether members past their `rpm`/`tpm` this minute are left out.
    fn honours_limits(&self) -> bool;
    /// The strategy's measure of member `m` (lower is better) and a tie-break.
    fn measure(&self, m: usize, key: &Key) -> (u64, u64);
    /// The first choice among the ranked members; the best by default.
    fn first(&self, ranked: &Ranked<Self>) -> Option<usize> {
        ranked.best()
    }

    /// The rank of member `m` for `key` (`u128::MAX`: it may not be chosen).
    fn rank(&self, m: usize, key: &Key) -> Score {
        let pool = self.pool();
        if self.honours_limits() && !pool.within_limits(m, key.now) {
            return EXCLUDED;
        }
        let tie = u128::from(mix(key.roll, m as u64));
        if key.recovery {
            let back = pool.states.get(m).map_or(u64::MAX, |s| s.cooldown.back_at());
            return u128::from(back) << 64 | tie;
        }
        if !pool.available(m, key.now) {
            return EXCLUDED;
        }
        let (measure, tie_hi) = self.measure(m, key);
        // Keep the low word's top bits for the strategy's own second measure (usage: calls this minute).
        u128::from(measure) << 64 | u128::from(tie_hi) << 32 | (tie & 0xffff_ffff)
    }
}

/// Members already yielded by an iteration.
#[derive(Debug)]
enum Seen {
    /// Groups of up to 64 members: one word.
    Small(u64),
    /// Larger groups: one bit per member.
    Large(Box<[u64]>),
}

impl Seen {
    fn new(n: usize) -> Seen {
        if n <= 64 {
            Seen::Small(0)
        } else {
            Seen::Large(vec![0; n.div_ceil(64)].into_boxed_slice())
        }
    }

    fn contains(&self, m: usize) -> bool {
        match self {
            Seen::Small(bits) => m < 64 && bits >> m & 1 == 1,
            Seen::Large(words) => words.get(m / 64).is_some_and(|w| w >> (m % 64) & 1 == 1),
        }
    }

    fn insert(&mut self, m: usize) {
        match self {
            Seen::Small(bits) => {
                if m < 64 {
                    *bits |= 1 << m;
                }
            }
            Seen::Large(words) => {
                if let Some(w) = words.get_mut(m / 64) {
                    *w |= 1 << (m % 64);
                }
            }
        }
    }
}

/// The iterator of every strategy: the first choice, then the rest best-first, each member once.
#[derive(Debug)]
pub struct Ranked<S> {
    selection: Arc<S>,
    key: Key,
    cache: [Score; CACHED_MEMBERS],
    seen: Seen,
    started: bool,
}

impl<S: Rank> Ranked<S> {
    fn new(selection: Arc<S>, key: Key) -> Self {
        let n = selection.pool().len();
        Ranked { selection, key, cache: [EXCLUDED; CACHED_MEMBERS], seen: Seen::new(n), started: false }
    }

    /// The key this iteration routes for.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Member `m`'s score (cached for the first members).
    pub fn score(&self, m: usize) -> Score {
        match self.cache.get(m) {
            Some(s) => *s,
            None => self.selection.rank(m, &self.key),
        }
    }

    /// Whether member `m` may be yielded next.
    pub fn open(&self, m: usize) -> bool {
        !self.seen.contains(m) && self.score(m) != EXCLUDED
    }

    /// The best member not yet yielded.
    pub fn best(&self) -> Option<usize> {
        let mut best: Option<(Score, usize)> = None;
        for m in 0..self.selection.pool().len() {
            if self.seen.contains(m) {
                continue;
            }
            let s = self.score(m);
            if s != EXCLUDED && best.is_none_or(|(b, _)| s < b) {
                best = Some((s, m));
            }
        }
        best.map(|(_, m)| m)
    }
}

impl<S: Rank> BackendIter for Ranked<S> {
    fn next(&mut self) -> Option<&Backend> {
        let m = if self.started {
            self.best()?
        } else {
            self.started = true;
            let n = self.selection.pool().len().min(CACHED_MEMBERS);
            for m in 0..n {
                self.cache[m] = self.selection.rank(m, &self.key);
            }
            if self.key.recovery {
                self.best()?
            } else {
                self.selection.first(self)?
            }
        };
        self.seen.insert(m);
        self.selection.pool().backends.get(m)
    }
}

/// `simple-shuffle`: a weighted random order (Efraimidis–Spirakis: each member draws `-ln(u) / weight`,
/// lowest first, so the first choice is member *i* with probability `weight_i / Σ weight`).
///
/// Weights follow LiteLLM's `simple_shuffle.py`: `weight` when the group's deployments give one, else
/// `rpm`, else `tpm`, else all equal; a deployment without the chosen field weighs 0 (it only serves as
/// a retry). LiteLLM decides the field from the first healthy deployment; we decide it from the whole
/// group, so the basis does not change when that deployment cools down.
#[derive(Debug)]
pub struct Shuffle {
    pool: Pool,
    weights: Box<[f64]>,
}

impl Shuffle {
    /// The weight of each member of `pool`.
    fn weights(pool: &Pool) -> Box<[f64]> {
        let ds = &pool.deployments;
        let field: fn(&Deployment) -> Option<f64> = if ds.iter().any(|d| d.weight.is_some()) {
            |d| d.weight
        } else if ds.iter().any(|d| d.rpm.is_some()) {
            |d| d.rpm.map(|r| r as f64)
        } else if ds.iter().any(|d| d.tpm.is_some()) {
            |d| d.tpm.map(|t| t as f64)
        } else {
            |_| Some(1.0)
        };
        let weights: Vec<f64> =
            ds.iter().map(|d| field(d).filter(|w| w.is_finite() && *w > 0.0).unwrap_or(0.0)).collect();
        if weights.iter().sum::<f64>() > 0.0 {
            weights.into_boxed_slice()
        } else {
            vec![1.0; ds.len()].into_boxed_slice()
        }
    }
}

impl Rank for Shuffle {
    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn honours_limits(&self) -> bool {
        false
    }

    fn measure(&self, m: usize, key: &Key) -> (u64, u64) {
        let w = self.weights.get(m).copied().unwrap_or(0.0);
        // u in (0, 1] from 53 random bits.
        let u = ((mix(key.roll ^ SHUFFLE_SALT, m as u64) >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let draw = if w > 0.0 { -u.ln() / w } else { f64::INFINITY };
        (draw.to_bits(), 0)
    }
}

/// `latency-based-routing`: LiteLLM's `lowest_latency.py` on time-decayed averages (`ewma.rs`).
///
/// A deployment's latency is its average whole-call time, or for a stream its average time to first
/// token when it has one (else its whole-call time), as LiteLLM picks. A deployment with no sample
/// younger than `ttl` counts as 0 s, so new and forgotten deployments are tried first (LiteLLM seeds
/// unseen deployments with latency 0). The first choice is random among those within
/// `lowest_latency_buffer × lowest` of the lowest. LiteLLM divides a call's time by its completion
/// tokens; the router is told total tokens only, so it averages whole-call time.
#[derive(Debug)]
pub struct Latency {
    pool: Pool,
    buffer: f64,
    ttl: u64,
}

impl Latency {
    /// Member `m`'s latency in seconds for `key` (0 when unknown).
    fn seconds(&self, m: usize, key: &Key) -> f64 {
        let Some(s) = self.pool.states.get(m) else { return 0.0 };
        let ttft = if key.stream { s.ttft.get(key.now, self.ttl) } else { None };
        ttft.or_else(|| s.latency.get(key.now, self.ttl)).unwrap_or(0.0).max(0.0)
    }
}

impl Rank for Latency {
    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn honours_limits(&self) -> bool {
        true
    }

    fn measure(&self, m: usize, key: &Key) -> (u64, u64) {
        (self.seconds(m, key).to_bits(), 0)
    }

    fn first(&self, ranked: &Ranked<Self>) -> Option<usize> {
        let lowest = ranked.best()?;
        // Non-negative floats order like their bits.
        let lowest_secs = f64::from_bits((ranked.score(lowest) >> 64) as u64);
        let limit = lowest_secs + self.buffer.max(0.0) * lowest_secs;
        let within = |m: &usize| ranked.open(*m) && f64::from_bits((ranked.score(*m) >> 64) as u64) <= limit;
        let n = self.pool.len();
        let count = (0..n).filter(within).count() as u64;
        if count <= 1 {
            return Some(lowest);
        }
        let pick = mix(ranked.key().roll, LATENCY_SALT) % count;
        (0..n).filter(within).nth(pick as usize).or(Some(lowest))
    }
}

/// `least-busy`: fewest calls in flight, as LiteLLM's `least_busy.py` counts them (begun, not yet
/// answered); ties at random.
#[derive(Debug)]
pub struct LeastBusy {
    pool: Pool,
}

impl Rank for LeastBusy {
    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn honours_limits(&self) -> bool {
        false
    }

    fn measure(&self, m: usize, _key: &Key) -> (u64, u64) {
        (self.pool.states.get(m).map_or(u64::MAX, |s| s.in_flight()), 0)
    }
}

/// `usage-based-routing-v2`: LiteLLM's `lowest_tpm_rpm_v2.py`. Fewest tokens used this minute first, then
/// fewest calls begun, ties at random; a deployment that has used its `rpm` or `tpm` this minute is
/// left out until the next minute. LiteLLM skips at `rpm_used + 1 >= rpm` (one call short of the limit);
/// we allow exactly `rpm` calls, as the limit says.
#[derive(Debug)]
pub struct Usage {
    pool: Pool,
}

impl Rank for Usage {
    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn honours_limits(&self) -> bool {
        true
    }

    fn measure(&self, m: usize, key: &Key) -> (u64, u64) {
        let Some(s) = self.pool.states.get(m) else { return (u64::MAX, u64::MAX) };
        (s.tokens_at(key.now), s.requests_at(key.now).min(u64::from(u32::MAX)))
    }
}

/// Implements [`BackendSelection`] for a strategy built from a [`Pool`] and the strategy arguments.
macro_rules! selection {
    ($strategy:ident, |$pool:ident, $args:ident| $make:expr) => {
        impl BackendSelection for $strategy {
            type Iter = Ranked<$strategy>;
            type Config = PoolConfig;

            fn build_with_config(backends: &BTreeSet<Backend>, config: &PoolConfig) -> Self {
                let $pool = Pool::build(backends, config);
                let $args = &config.args;
                $make
            }

            /// Without our table no backend has a deployment: the selection is empty.
            fn build(backends: &BTreeSet<Backend>) -> Self {
                Self::build_with_config(backends, &PoolConfig::default())
            }

            fn iter(self: &Arc<Self>, key: &[u8]) -> Ranked<$strategy> {
                Ranked::new(self.clone(), Key::decode(key))
            }
        }
    };
}

selection!(Shuffle, |pool, _args| Shuffle { weights: Shuffle::weights(&pool), pool });
selection!(Latency, |pool, args| Latency {
    pool,
    buffer: if args.lowest_latency_buffer.is_finite() { args.lowest_latency_buffer } else { 0.0 },
    ttl: super::clock::saturating_nanos(args.ttl),
});
selection!(LeastBusy, |pool, _args| LeastBusy { pool });
selection!(Usage, |pool, _args| Usage { pool });

/// Salts so the shuffle draw, the latency pick and the tie-breaks use unrelated bits of one roll.
const SHUFFLE_SALT: u64 = 0x5eed_5a1f_f1e0_0001;
const LATENCY_SALT: u64 = 0x1a7e_0c90_0000_0002;

/// SplitMix64 of `a` and `b`: well-mixed random bits from the roll and a member index.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
