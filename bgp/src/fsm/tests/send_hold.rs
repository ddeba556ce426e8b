//! The send hold timer (RFC 9687): a peer that keeps talking but stops
//! reading is dropped after the send hold time.

use super::pair::{Pair, Side};
use super::*;
use crate::model::error_code;

#[test]
fn the_send_hold_timer_fires_when_the_peer_stops_reading() {
    let p = Pair::establish(Session::new(config_a()), Session::new(config_b()));
    let (mut a, mut now) = (p.a, p.now);
    // B stops reading: A's socket stops taking bytes. B still sends a
    // KEEPALIVE every 30 s, so A's hold timer never fires.
    a.handle_input(now, Input::SendStalled);
    let stalled = now;
    assert_eq!(a.timer(Timer::SendHold), Some(stalled + secs(480)));
    let mut out = Vec::new();
    while a.state() == State::Established {
        let next = a.poll_timeout().expect("armed").min(now + secs(30));
        now = next;
        a.handle_timeout(now);
        out.extend(drain(&mut a));
        if (now - stalled).as_secs() % 30 == 0 {
            a.handle_input(now, Input::Message(Message::Keepalive));
            // Still stalled, and reported again: the timer is not pushed back.
            a.handle_input(now, Input::SendStalled);
            assert!(
                a.timer(Timer::SendHold)
                    .is_none_or(|t| t == stalled + secs(480))
            );
        }
        assert!(now - stalled <= secs(480), "{out:?}");
    }
    assert_eq!(now - stalled, secs(480), "max(8 min, 2 × 90 s)");
    let at = out
        .iter()
        .position(|o| matches!(o, Output::Send(Message::Notification(_))))
        .expect("8/0 sent, best effort");
    assert_eq!(
        out[at..at + 2],
        [
            Output::Send(Message::Notification(Notification::new(
                error_code::SEND_HOLD_TIMER_EXPIRED,
                0
            ))),
            Output::Disconnect,
        ]
    );
    let down = the_down(&out);
    assert!(down.was_established);
    assert_eq!(
        down.reason,
        DownReason::SendHoldTimerExpired {
            send_hold: secs(480)
        }
    );
    assert_eq!(
        down.reason.to_string(),
        "send hold timer expired: the peer has not read anything from the connection for 480s"
    );
}

#[test]
fn progress_stops_the_send_hold_timer() {
    let mut p = Pair::establish(Session::new(config_a()), Session::new(config_b()));
    p.input(Side::A, Input::SendStalled);
    p.run_for(secs(400));
    p.input(Side::A, Input::SendProgress);
    assert_eq!(p.a.timer(Timer::SendHold), None);
    p.run_for(secs(400));
    assert!(p.both(State::Established));
}

#[test]
fn the_send_hold_time_is_configurable_and_scales_with_large_hold_times() {
    let mut a = config_a();
    a.hold_time = 600;
    let mut b = config_b();
    b.hold_time = 600;
    let mut p = Pair::establish(Session::new(a.clone()), Session::new(b));
    p.input(Side::A, Input::SendStalled);
    assert_eq!(p.a.timer(Timer::SendHold), Some(p.now + secs(1200)));

    a.send_hold_time = Some(secs(60));
    let mut p = Pair::establish(Session::new(a), Session::new(config_b()));
    p.input(Side::A, Input::SendStalled);
    assert_eq!(p.a.timer(Timer::SendHold), Some(p.now + secs(60)));
}
