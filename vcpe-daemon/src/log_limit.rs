//! Rate limits for repeated log lines: the first occurrence of a message is
//! logged, its repeats within a window are counted, and the next one after
//! the window is logged with "N more in the last X s". Sans-IO: the caller
//! passes the time, so the tests need no clock. The accept loops use it
//! (a listener that fails on every call must not fill the disk with logs).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How many distinct messages a limiter tracks; past it, it forgets them
/// all (so a stream of ever-new messages cannot grow it).
const MAX_KEYS: usize = 64;

/// What to do with one occurrence of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it. `repeats` occurrences were kept quiet over `over` before it
    /// (0: none, log the plain line).
    Log {
        /// Repeats not logged since the last logged one.
        repeats: u64,
        /// The time those repeats span.
        over: Duration,
    },
    /// A repeat within the window: count it, log nothing.
    Quiet,
}

impl Verdict {
    /// The suffix to add to the logged line: "" or " (N more in the last X s)".
    pub fn suffix(&self) -> String {
        match *self {
            Verdict::Log { repeats: 0, .. } | Verdict::Quiet => String::new(),
            Verdict::Log { repeats, over } => {
                format!(" ({repeats} more in the last {:.1} s)", over.as_secs_f64())
            }
        }
    }
}

#[derive(Debug)]
struct Seen {
    logged_at: Instant,
    repeats: u64,
}

/// Repeated messages, logged at most once per window each.
#[derive(Debug)]
pub struct LogLimiter {
    window: Duration,
    seen: HashMap<String, Seen>,
}

impl LogLimiter {
    /// A limiter that logs each distinct message at most once per `window`.
    pub fn new(window: Duration) -> LogLimiter {
        LogLimiter {
            window,
            seen: HashMap::new(),
        }
    }

    /// One occurrence of `message` at `now`.
    pub fn check(&mut self, message: &str, now: Instant) -> Verdict {
        if let Some(s) = self.seen.get_mut(message) {
            let since = now.saturating_duration_since(s.logged_at);
            if since < self.window {
                s.repeats += 1;
                return Verdict::Quiet;
            }
            let v = Verdict::Log {
                repeats: s.repeats,
                over: since,
            };
            s.logged_at = now;
            s.repeats = 0;
            return v;
        }
        if self.seen.len() >= MAX_KEYS {
            self.seen.clear();
        }
        self.seen.insert(
            message.to_owned(),
            Seen {
                logged_at: now,
                repeats: 0,
            },
        );
        Verdict::Log {
            repeats: 0,
            over: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_logged_repeats_counted_then_summarized_after_the_window() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(Duration::from_secs(10));
        let first = l.check("accept failed: EMFILE", t0);
        assert_eq!(first.suffix(), "");
        assert!(matches!(first, Verdict::Log { repeats: 0, .. }));
        for i in 1..=1000 {
            assert_eq!(
                l.check("accept failed: EMFILE", t0 + Duration::from_millis(i)),
                Verdict::Quiet
            );
        }
        let later = l.check("accept failed: EMFILE", t0 + Duration::from_secs(12));
        assert_eq!(
            later,
            Verdict::Log {
                repeats: 1000,
                over: Duration::from_secs(12)
            }
        );
        assert_eq!(later.suffix(), " (1000 more in the last 12.0 s)");
        // The window starts again at the logged one.
        assert_eq!(
            l.check("accept failed: EMFILE", t0 + Duration::from_secs(13)),
            Verdict::Quiet
        );
    }

    #[test]
    fn distinct_messages_are_limited_apart_and_the_table_stays_bounded() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(Duration::from_secs(10));
        assert!(matches!(l.check("a", t0), Verdict::Log { .. }));
        assert!(matches!(l.check("b", t0), Verdict::Log { .. }));
        assert_eq!(l.check("a", t0), Verdict::Quiet);
        for i in 0..10 * MAX_KEYS {
            l.check(&format!("m{i}"), t0);
        }
        assert!(l.seen.len() <= MAX_KEYS);
    }
}
