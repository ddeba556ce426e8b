//! The ICMP error rate limiter: a lock-free token bucket shared by all
//! workers, driven by caller-supplied monotonic time.

use std::sync::atomic::{AtomicU64, Ordering};

/// A token bucket of `burst` tokens refilled at `rate_per_sec`.
///
/// Implemented as GCRA (the "virtual scheduling" form of a token bucket): a
/// single atomic theoretical arrival time, so `try_take` is one
/// compare-and-swap and the bucket can be shared by reference between
/// workers. Behaviour is identical to a token bucket: at most `burst` takes
/// back to back, then one per `1/rate_per_sec` seconds.
#[derive(Debug)]
pub struct TokenBucket {
    /// Theoretical arrival time of the next conforming take, in ns.
    tat: AtomicU64,
    /// Nanoseconds per token; `u64::MAX` disables (never allows).
    interval_ns: u64,
    /// How far ahead of `now` the TAT may run: `(burst - 1) * interval`.
    tolerance_ns: u64,
}

impl TokenBucket {
    /// A bucket allowing `burst` back-to-back takes and `rate_per_sec`
    /// sustained; a zero rate or burst never allows anything.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        if rate_per_sec == 0 || burst == 0 {
            return TokenBucket {
                tat: AtomicU64::new(0),
                interval_ns: u64::MAX,
                tolerance_ns: 0,
            };
        }
        let interval_ns = (1_000_000_000 / u64::from(rate_per_sec)).max(1);
        TokenBucket {
            tat: AtomicU64::new(0),
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(u64::from(burst) - 1),
        }
    }

    /// Takes one token at monotonic time `now_ns`; `false` if none is left.
    pub fn try_take(&self, now_ns: u64) -> bool {
        if self.interval_ns == u64::MAX {
            return false;
        }
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let t = tat.max(now_ns);
            if t - now_ns > self.tolerance_ns {
                return false;
            }
            let next = t.saturating_add(self.interval_ns);
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(cur) => tat = cur,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let b = TokenBucket::new(10, 3); // one token per 100 ms
        let t0 = 5_000_000_000;
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + 50_000_000));
        assert!(b.try_take(t0 + 100_000_000));
        assert!(!b.try_take(t0 + 100_000_000));
        // After a long idle period the bucket is full again, not fuller.
        let t1 = t0 + 60_000_000_000;
        assert_eq!((0..10).filter(|_| b.try_take(t1)).count(), 3);
    }

    #[test]
    fn disabled_and_time_going_backwards() {
        assert!(!TokenBucket::new(0, 10).try_take(1));
        assert!(!TokenBucket::new(10, 0).try_take(1));
        let b = TokenBucket::new(1, 1);
        assert!(b.try_take(10_000_000_000));
        assert!(!b.try_take(0));
        assert!(b.try_take(u64::MAX));
    }
}
