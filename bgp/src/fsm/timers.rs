//! Timers as data: a deadline per [`Timer`], and the connect retry
//! [`Backoff`] with its deterministic jitter.
//!
//! Nothing here reads a clock: deadlines are `Instant`s computed from the
//! `now` the caller passed in. Deadlines that would overflow `Instant` are
//! treated as "never".

use std::time::{Duration, Instant};

/// The session's timers (RFC 4271 §8.1.3 plus RFC 9687).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Connect: the connection attempt timeout. Active: the wait before the
    /// next attempt (active peers only).
    ConnectRetry,
    /// Idle: the wait before an automatic restart after an error
    /// (RFC 4271's IdleHoldTimer, always on here: it carries the back-off).
    IdleHold,
    /// OpenSent (4 minutes), OpenConfirm and Established (negotiated hold
    /// time): no message from the peer for this long is fatal.
    Hold,
    /// OpenConfirm and Established: time to send a KEEPALIVE.
    Keepalive,
    /// RFC 9687: the socket has not accepted bytes for this long.
    SendHold,
}

impl Timer {
    /// Every timer, in the order ties are fired.
    pub const ALL: [Timer; 5] = [
        Timer::Hold,
        Timer::SendHold,
        Timer::Keepalive,
        Timer::ConnectRetry,
        Timer::IdleHold,
    ];

    fn index(self) -> usize {
        match self {
            Timer::Hold => 0,
            Timer::SendHold => 1,
            Timer::Keepalive => 2,
            Timer::ConnectRetry => 3,
            Timer::IdleHold => 4,
        }
    }
}

/// One optional deadline per timer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Timers {
    deadlines: [Option<Instant>; 5],
}

impl Timers {
    /// Arms `timer` to fire `after` from `now` (never, if that overflows).
    pub(crate) fn start(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.deadlines[timer.index()] = now.checked_add(after);
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Disarms every timer.
    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; 5];
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// Whether `timer` is armed.
    pub(crate) fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest armed deadline.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The armed timer with the earliest deadline `<= now` (ties in
    /// [`Timer::ALL`] order), disarmed: the caller fires it.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let mut best: Option<(Instant, Timer)> = None;
        for timer in Timer::ALL {
            let due = self.get(timer).filter(|at| *at <= now);
            if let Some(at) = due.filter(|at| best.is_none_or(|(b, _)| *at < b)) {
                best = Some((at, timer));
            }
        }
        let (_, timer) = best?;
        self.stop(timer);
        Some(timer)
    }
}

/// Exponential back-off of the connect retry / idle hold waits: the n-th
/// consecutive failure waits `min(base × 2ⁿ, cap)` scaled by a jitter
/// factor uniform in [0.75, 1.25]. The jitter comes from a SplitMix64
/// generator seeded by [`crate::fsm::SessionConfig::jitter_seed`], so runs
/// are reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// The largest nominal wait (before jitter), unless the base is larger.
    pub const CAP: Duration = Duration::from_secs(120);

    /// A back-off starting at `base`.
    pub fn new(base: Duration, seed: u64) -> Backoff {
        Backoff {
            base,
            failures: 0,
            rng: seed,
        }
    }

    /// Consecutive failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The nominal (jitter-free) wait after `failures` previous failures.
    pub fn nominal(&self, failures: u32) -> Duration {
        let cap = Self::CAP.max(self.base);
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).unwrap_or(cap).min(cap)
    }

    /// Counts a failure and returns how long to wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.nominal(self.failures);
        self.failures = self.failures.saturating_add(1);
        let permille = 750 + self.next_random() % 501;
        let nanos = nominal.as_nanos().saturating_mul(u128::from(permille)) / 1000;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Forgets past failures (after an Established session, or a stop).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// SplitMix64.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
