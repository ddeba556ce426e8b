//! The hold timer (RFC 4271 §4.4, §6.5, §8.2.2) and the automatic restart
//! after it fires.

use super::pair::{Pair, Side};
use super::*;
use crate::model::error_code;

/// When B last sent something A received.
fn last_heard_from_b(p: &Pair) -> Instant {
    p.sent(Side::B).last().map(|(t, _)| *t).unwrap_or(p.start)
}

#[test]
fn a_silent_peer_is_dropped_exactly_one_hold_time_after_its_last_message() {
    let mut p = Pair::establish(Session::new(config_a()), Session::new(config_b()));
    p.run_for(secs(45));
    let heard = last_heard_from_b(&p);
    p.mute_b = true;
    let mark = p.log.len();
    p.run_until(|p| p.a.state() != State::Established, secs(600));

    let out = p.outputs(Side::A, mark);
    let (at, _) = out
        .iter()
        .find(|(_, o)| matches!(o, Output::Down(_)))
        .expect("down");
    assert_eq!(*at - heard, secs(90), "the negotiated hold time, exactly");
    let hold_expired = Notification::new(error_code::HOLD_TIMER_EXPIRED, 0);
    let tail: Vec<&Output> = out
        .iter()
        .filter(|(t, _)| t == at)
        .map(|(_, o)| o)
        .collect();
    assert_eq!(
        tail[..2],
        [
            &Output::Send(Message::Notification(hold_expired)),
            &Output::Disconnect
        ]
    );
    let down = the_down(&tail.into_iter().cloned().collect::<Vec<_>>());
    assert_eq!(
        down.reason,
        DownReason::HoldTimerExpired {
            hold_time: 90,
            state: State::Established
        }
    );
    assert_eq!(
        down.reason.to_string(),
        "hold timer expired: no KEEPALIVE or UPDATE from the peer for 90 s"
    );
    // It kept sending its own keepalives meanwhile (B still hears A).
    assert_eq!(p.keepalives_sent(Side::A, heard + secs(1)), 2);
}

#[test]
fn every_keepalive_and_update_restarts_the_hold_timer() {
    let mut p = Pair::establish(Session::new(config_a()), Session::new(config_b()));
    let now = p.now;
    assert_eq!(p.a.timer(Timer::Hold), Some(now + secs(90)));
    p.now += secs(20);
    let now = p.now;
    p.a.handle_input(now, Input::Message(Message::Keepalive));
    assert_eq!(p.a.timer(Timer::Hold), Some(now + secs(90)));
    p.now += secs(20);
    let now = p.now;
    p.a.handle_input(now, Input::Message(Message::Update(Default::default())));
    assert_eq!(p.a.timer(Timer::Hold), Some(now + secs(90)));
}

#[test]
fn in_opensent_the_hold_timer_is_four_minutes() {
    let now = Instant::now();
    let mut a = open_sent(config_a(), now);
    assert_eq!(a.timer(Timer::Hold), Some(now + secs(240)));
    a.handle_timeout(now + secs(239));
    assert_eq!(a.state(), State::OpenSent);
    a.handle_timeout(now + secs(240));
    let out = drain(&mut a);
    assert_eq!(
        notifications(&out),
        vec![Notification::new(error_code::HOLD_TIMER_EXPIRED, 0)]
    );
    let down = the_down(&out);
    assert_eq!(
        down.reason.to_string(),
        "hold timer expired: no OPEN from the peer within 240 s of sending ours"
    );
}

#[test]
fn after_a_hold_timer_expiry_the_session_restarts_and_comes_back() {
    let mut p = Pair::establish(Session::new(config_a()), Session::new(config_b()));
    p.mute_b = true;
    p.run_until(|p| p.a.state() == State::Idle, secs(600));
    let down_at = p.now;
    // B got A's Hold Timer Expired NOTIFICATION and, passive, waits again.
    assert_eq!(p.b.state(), State::Active);
    assert!(matches!(
        p.b.last_error(),
        Some(DownReason::NotificationReceived(_))
    ));
    p.mute_b = false;

    // A waits out the first back-off step (5 s ± 25 %) and reconnects.
    let restart = p.a.timer(Timer::IdleHold).expect("automatic restart");
    let wait = restart - down_at;
    assert!(wait >= Duration::from_millis(3750) && wait <= Duration::from_millis(6250));
    p.run_until(|p| p.both(State::Established), secs(60));
    assert!(p.now >= restart);
    assert_eq!(p.a.counters().established_transitions, 2);
    assert_eq!(p.b.counters().established_transitions, 2);
    assert_eq!(p.a.backoff().failures(), 0, "reset by Established");
}
