//! Connect retry with exponential back-off and jitter, and the timer
//! table's invariants.

use super::*;

/// Runs an active session whose every connection attempt is refused at
/// once, for `attempts` attempts; returns the instants of the attempts.
fn refused_attempts(config: SessionConfig, attempts: usize) -> Vec<Instant> {
    let start = Instant::now();
    let mut now = start;
    let mut s = Session::new(config);
    s.handle_input(now, Input::Start);
    let mut at = Vec::new();
    while at.len() < attempts {
        for out in drain(&mut s) {
            if out == Output::Connect {
                at.push(now);
                s.handle_input(now, Input::ConnectionFailed);
            }
        }
        // The Disconnect that acknowledges the failure.
        assert_eq!(drain(&mut s), vec![Output::Disconnect]);
        assert_eq!(s.state(), State::Active);
        now = s.poll_timeout().expect("a retry is armed");
        s.handle_timeout(now);
    }
    at
}

#[test]
fn connect_retry_backs_off_doubling_up_to_the_cap_with_jitter() {
    let at = refused_attempts(config_a(), 10);
    let nominal = [5, 10, 20, 40, 80, 120, 120, 120, 120];
    let mut exact = 0;
    for (w, n) in at.windows(2).zip(nominal) {
        let wait = w[1] - w[0];
        let n = secs(n);
        assert!(
            wait >= n * 3 / 4 && wait <= n * 5 / 4,
            "{wait:?} not within ±25 % of {n:?}"
        );
        exact += usize::from(wait == n);
    }
    assert!(exact < 3, "there is jitter");
}

#[test]
fn the_jitter_is_deterministic_per_seed() {
    let waits = |c: SessionConfig| -> Vec<Duration> {
        refused_attempts(c, 6)
            .windows(2)
            .map(|w| w[1] - w[0])
            .collect()
    };
    let mut c = config_a();
    c.jitter_seed = 7;
    assert_eq!(waits(c.clone()), waits(c.clone()));
    let mut d = c.clone();
    d.jitter_seed = 8;
    assert_ne!(waits(c), waits(d));
}

#[test]
fn backoff_values_stay_in_range_for_extreme_bases() {
    // Saturates instead of overflowing (deadlines that do not fit an
    // Instant mean "never").
    let mut b = Backoff::new(Duration::MAX, 1);
    for _ in 0..40 {
        assert!(b.next_delay() >= Backoff::CAP);
    }
    let mut b = Backoff::new(Duration::from_millis(1), 1);
    for _ in 0..100 {
        assert!(b.next_delay() <= Backoff::CAP * 5 / 4);
    }
    assert_eq!(b.nominal(3), Duration::from_millis(8));
    assert_eq!(b.nominal(1000), Backoff::CAP);
}

#[test]
fn an_unanswered_connect_times_out_after_the_connect_retry_time() {
    let now = Instant::now();
    let mut s = Session::new(config_a());
    s.handle_input(now, Input::Start);
    assert_eq!(drain(&mut s), vec![Output::Connect]);
    assert_eq!(s.timer(Timer::ConnectRetry), Some(now + secs(5)));
    s.handle_timeout(now + secs(5));
    assert_eq!(drain(&mut s), vec![Output::Disconnect]);
    assert_eq!(s.state(), State::Active);
    assert_eq!(
        s.last_error(),
        Some(&DownReason::ConnectTimeout { after: secs(5) })
    );
    // Then it waits out the back-off and tries again.
    let retry = s.timer(Timer::ConnectRetry).expect("retry armed");
    s.handle_timeout(retry);
    assert_eq!(drain(&mut s), vec![Output::Connect]);
    assert_eq!(s.counters().connect_attempts, 2);
}

#[test]
fn an_incoming_connection_while_waiting_in_active_is_accepted() {
    let now = Instant::now();
    let mut s = Session::new(config_a());
    s.handle_input(now, Input::Start);
    s.handle_input(now, Input::ConnectionFailed);
    drain(&mut s);
    assert_eq!(s.state(), State::Active);
    s.handle_input(now, Input::Connected);
    let out = drain(&mut s);
    assert!(matches!(out.as_slice(), [Output::Send(Message::Open(_))]));
    assert_eq!(s.state(), State::OpenSent);
    assert_eq!(s.timer(Timer::ConnectRetry), None);
}

#[test]
fn handle_timeout_never_leaves_a_deadline_in_the_past() {
    let now = Instant::now();
    let mut c = config_a();
    c.connect_retry = Duration::ZERO;
    c.send_hold_time = Some(Duration::ZERO);
    let mut s = Session::new(c);
    s.handle_input(now, Input::Start);
    for step in 0..50u64 {
        let t = now + Duration::from_millis(step * 7);
        s.handle_timeout(t);
        drain(&mut s);
        assert!(s.poll_timeout().is_none_or(|d| d > t));
        if step % 5 == 0 {
            s.handle_input(t, Input::ConnectionFailed);
        }
    }
}
