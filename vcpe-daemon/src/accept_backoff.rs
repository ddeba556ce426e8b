//! What an accept loop does when `accept` fails: a listener whose accept
//! fails with EMFILE/ENFILE stays readable, so retrying at once spins a
//! core and logs the same line millions of times. Each failure in a row
//! doubles the pause before the next try (5 ms up to 1 s); a success
//! resets it. The log line is rate-limited ([`crate::log_limit`]).
//! Used by the control socket, the BGP listener and the metrics endpoint.

use std::io;
use std::time::{Duration, Instant};

use crate::log_limit::{LogLimiter, Verdict};

/// The first pause after a failed accept.
pub const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause between tries.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);
/// A failure's log line is repeated at most this often.
pub const LOG_WINDOW: Duration = Duration::from_secs(10);

/// The pause schedule of failing accepts (sans-IO: returns durations).
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_PAUSE }
    }
}

impl Backoff {
    /// An accept failed: how long to wait before the next one.
    pub fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_PAUSE);
        pause
    }

    /// An accept succeeded: the next failure pauses briefly again.
    pub fn succeeded(&mut self) {
        self.next = FIRST_PAUSE;
    }
}

/// The failures of one listener's accept loop: backoff and quiet logs.
#[derive(Debug)]
pub struct AcceptErrors {
    what: &'static str,
    backoff: Backoff,
    log: LogLimiter,
}

impl AcceptErrors {
    /// For the listener named `what` in log lines ("control socket").
    pub fn new(what: &'static str) -> AcceptErrors {
        AcceptErrors {
            what,
            backoff: Backoff::default(),
            log: LogLimiter::new(LOG_WINDOW),
        }
    }

    /// An accept succeeded.
    pub fn succeeded(&mut self) {
        self.backoff.succeeded();
    }

    /// An accept failed with `e`: logs (rate-limited) and returns how long
    /// to pause before accepting again (zero for a client that gave up
    /// before it was accepted, which says nothing about us).
    pub fn failed(&mut self, e: &io::Error, now: Instant) -> Duration {
        if e.kind() == io::ErrorKind::ConnectionAborted {
            tracing::debug!(error = %e, "{} accept: connection aborted", self.what);
            return Duration::ZERO;
        }
        let pause = self.backoff.failed();
        let message = e.to_string();
        if let v @ Verdict::Log { .. } = self.log.check(&message, now) {
            let hint = if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                "; out of file descriptors: raise LimitNOFILE (ulimit -n) or find who holds \
                 connections open"
            } else {
                ""
            };
            tracing::warn!(
                error = %e,
                "{} accept failed, retrying with backoff{hint}{}",
                self.what,
                v.suffix()
            );
        }
        pause
    }

    /// [`AcceptErrors::failed`], then the pause.
    pub async fn pause_after(&mut self, e: &io::Error) {
        let pause = self.failed(e, Instant::now());
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_a_second_and_reset_on_success() {
        let mut b = Backoff::default();
        let pauses: Vec<_> = (0..10).map(|_| b.failed().as_millis()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(), FIRST_PAUSE);
    }

    #[test]
    fn emfile_backs_off_and_an_aborted_client_does_not() {
        let mut a = AcceptErrors::new("test");
        let now = Instant::now();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(a.failed(&emfile, now), FIRST_PAUSE);
        assert_eq!(a.failed(&emfile, now), FIRST_PAUSE * 2);
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(a.failed(&aborted, now), Duration::ZERO);
    }
}
