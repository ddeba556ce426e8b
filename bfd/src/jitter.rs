//! The random source for transmit jitter (RFC 5880 §6.8.7): the interval
//! between packets is reduced by 0-25% at random (by 10-25% when Detect
//! Mult is 1), so that sessions started together do not stay in step.
//!
//! A seeded xorshift64* generator: the daemon seeds it once from the OS,
//! tests seed it with a constant and get the same schedule every run. Not
//! a cryptographic generator, and it does not need to be one: it only
//! spreads transmissions.

use std::time::Duration;

/// A seeded pseudo-random source of jitter.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator seeded with `seed` (any value; 0 is replaced).
    pub fn new(seed: u64) -> Jitter {
        Jitter {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
        }
    }

    /// The next pseudo-random 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniformly drawn value in `lo..=hi` (per mille).
    fn permille(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// `interval` reduced as §6.8.7 says: "the periodic transmission of
    /// BFD Control packets MUST be jittered on a per-packet basis by up to
    /// 25%, that is, the interval MUST be reduced by a random value of 0
    /// to 25%" — and with a Detect Mult of 1, "the interval between
    /// transmitted BFD Control packets MUST be no more than 90% of the
    /// negotiated transmission interval, and MUST be no less than 75%".
    pub fn apply(&mut self, interval: Duration, detect_mult: u8) -> Duration {
        self.apply_early(interval, detect_mult, Duration::ZERO)
    }

    /// [`Jitter::apply`] for a packet that may go out up to `early`
    /// before the returned interval (a driver coalescing wake-ups): the
    /// lower bound is raised by `early` (at most 10% of the interval), so
    /// the packet sent early still keeps the 75% floor.
    pub fn apply_early(
        &mut self,
        interval: Duration,
        detect_mult: u8,
        early: Duration,
    ) -> Duration {
        let hi = if detect_mult == 1 { 900 } else { 1000 };
        let extra = early.min(interval / 10).as_nanos() * 1000 / interval.as_nanos().max(1);
        let lo = 750 + u64::try_from(extra).unwrap_or(100).min(100);
        let p = self.permille(lo, hi);
        // u128 nanoseconds: no overflow for any Duration the session uses.
        let nanos = interval.as_nanos() * u128::from(p) / 1000;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_75_to_100_percent() {
        let mut j = Jitter::new(1);
        let base = Duration::from_millis(300);
        let mut lo = base;
        let mut hi = Duration::ZERO;
        for _ in 0..10_000 {
            let d = j.apply(base, 3);
            assert!(d >= base * 3 / 4 && d <= base, "{d:?}");
            lo = lo.min(d);
            hi = hi.max(d);
        }
        // Spread over the whole range, not stuck at one value.
        assert!(lo < Duration::from_millis(230), "{lo:?}");
        assert!(hi > Duration::from_millis(295), "{hi:?}");
    }

    #[test]
    fn with_detect_mult_1_jitter_stays_within_75_to_90_percent() {
        let mut j = Jitter::new(7);
        let base = Duration::from_millis(1000);
        for _ in 0..10_000 {
            let d = j.apply(base, 1);
            assert!(
                d >= Duration::from_millis(750) && d <= Duration::from_millis(900),
                "{d:?}"
            );
        }
    }

    #[test]
    fn an_early_allowance_raises_the_floor_by_at_most_10_percent() {
        let mut j = Jitter::new(3);
        let base = Duration::from_millis(100);
        for _ in 0..10_000 {
            let d = j.apply_early(base, 3, Duration::from_millis(5));
            assert!(d >= Duration::from_millis(80) && d <= base, "{d:?}");
            let d = j.apply_early(base, 1, Duration::from_millis(50));
            // Capped at 10 ms early: 85% to 90%.
            assert!(
                d >= Duration::from_millis(85) && d <= Duration::from_millis(90),
                "{d:?}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let (mut a, mut b) = (Jitter::new(42), Jitter::new(42));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }
}
