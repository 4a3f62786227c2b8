//! Injected time as plain numbers, so per-deployment state can live in atomics.
//!
//! Every router method takes `now: Instant`; nothing here reads a clock. An [`Epoch`] turns an `Instant`
//! into nanoseconds since the first `Instant` the router saw (shared by every router generation of a
//! process, so carried-over state keeps its meaning across reloads). A time before the epoch counts as the
//! epoch itself: two threads that read the clock a few microseconds apart may call in either order.
//!
//! [`MinuteCount`] is one counter per minute window packed in one `AtomicU64`, so "requests this minute"
//! is one CAS and a new minute needs no background reset. Windows are whole minutes counted from the
//! epoch; LiteLLM keys its counters by the wall-clock minute (`%H-%M`), which an `Instant` cannot give.
//! Either way a window lasts one minute and starts from zero.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Nanoseconds in one minute window.
pub(crate) const MINUTE_NANOS: u64 = 60_000_000_000;

/// The origin of the router's time numbers: the first `now` any router generation was given.
#[derive(Debug, Default)]
pub(crate) struct Epoch(OnceLock<Instant>);

impl Epoch {
    /// `now` as nanoseconds since the epoch (the epoch is set by the first call).
    pub(crate) fn nanos(&self, now: Instant) -> u64 {
        let epoch = *self.0.get_or_init(|| now);
        saturating_nanos(now.saturating_duration_since(epoch))
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The minute window `t` (nanoseconds since the epoch) falls in.
pub(crate) fn minute_of(t: u64) -> u64 {
    t / MINUTE_NANOS
}

/// Time left until the minute window of `t` ends.
pub(crate) fn until_next_minute(t: u64) -> Duration {
    Duration::from_nanos(MINUTE_NANOS - t % MINUTE_NANOS)
}

/// Bits of the packed word that hold the count; the rest hold the minute (modulo 2^24, 31 years).
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// A count that starts from zero every minute window: `minute << 40 | count` in one atomic word.
#[derive(Debug, Default)]
pub(crate) struct MinuteCount(AtomicU64);

impl MinuteCount {
    /// The count in `minute` (zero when the stored window is another one).
    pub(crate) fn get(&self, minute: u64) -> u64 {
        let word = self.0.load(Ordering::Relaxed);
        if word >> COUNT_BITS == tag(minute) {
            word & COUNT_MASK
        } else {
            0
        }
    }

    /// Adds `n` in `minute` (starting the window afresh when it is a new one); returns the new count.
    pub(crate) fn add(&self, minute: u64, n: u64) -> u64 {
        self.update(minute, |count| Some(count.saturating_add(n).min(COUNT_MASK))).unwrap_or(0)
    }

    /// Adds one in `minute` only while the count is below `limit`; returns whether it did. This is the
    /// atomic check-and-take that keeps concurrent requests from overshooting an `rpm`.
    pub(crate) fn add_one_below(&self, minute: u64, limit: u64) -> bool {
        self.update(minute, |count| (count < limit).then_some(count + 1)).is_some()
    }

    /// Starts `minute` afresh at zero.
    pub(crate) fn clear(&self, minute: u64) {
        self.0.store(tag(minute) << COUNT_BITS, Ordering::Relaxed);
    }

    /// One CAS loop: `next` maps the current count (0 in a new window) to the new one, or refuses.
    fn update(&self, minute: u64, next: impl Fn(u64) -> Option<u64>) -> Option<u64> {
        let tag = tag(minute);
        let mut word = self.0.load(Ordering::Relaxed);
        loop {
            let count = if word >> COUNT_BITS == tag { word & COUNT_MASK } else { 0 };
            let new = next(count)?;
            match self.0.compare_exchange_weak(word, tag << COUNT_BITS | new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(new),
                Err(seen) => word = seen,
            }
        }
    }
}

/// The minute as stored in the packed word.
fn tag(minute: u64) -> u64 {
    minute & ((1 << (64 - COUNT_BITS)) - 1)
}
