//! OPEN message error handling (RFC 4271 §6.2, RFC 6286 §2.2): each bad
//! OPEN in OpenSent is answered with its NOTIFICATION, the connection is
//! closed and the session goes back to Idle.

use super::*;
use crate::model::{Capability, error_code, subcode};

/// Feeds `open` (B's OPEN, edited by the test) to A in OpenSent and
/// returns A's outputs.
fn answer(open: Open) -> (Session, Vec<Output>) {
    let now = Instant::now();
    let mut a = open_sent(config_a(), now);
    a.handle_input(now, Input::Message(Message::Open(open)));
    let out = drain(&mut a);
    (a, out)
}

/// Asserts A answered with exactly `code/subcode`, disconnected, reported
/// Down(OpenRejected) and is Idle; returns the notification.
fn rejected(open: Open, code: u8, sub: u8) -> Notification {
    let (a, out) = answer(open);
    let sent = notifications(&out);
    assert_eq!(sent.len(), 1, "{out:?}");
    assert_eq!((sent[0].code, sent[0].subcode), (code, sub), "{out:?}");
    assert!(out.contains(&Output::Disconnect));
    let down = the_down(&out);
    assert!(matches!(down.reason, DownReason::OpenRejected(_)));
    assert!(!down.was_established);
    assert_eq!(down.stale_for, None);
    assert_eq!(a.state(), State::Idle);
    assert!(a.negotiated().is_none());
    // The NOTIFICATION goes out before the connection is closed.
    let n_at = out.iter().position(|o| matches!(o, Output::Send(_)));
    let d_at = out.iter().position(|o| *o == Output::Disconnect);
    assert!(n_at < d_at);
    sent[0].clone()
}

fn open_b() -> Open {
    open_of(&config_b())
}

#[test]
fn hold_time_of_one_second_is_unacceptable() {
    let mut open = open_b();
    open.hold_time = 1;
    rejected(
        open,
        error_code::OPEN_MESSAGE,
        subcode::open::UNACCEPTABLE_HOLD_TIME,
    );
}

#[test]
fn hold_time_of_two_seconds_is_unacceptable() {
    let mut open = open_b();
    open.hold_time = 2;
    rejected(
        open,
        error_code::OPEN_MESSAGE,
        subcode::open::UNACCEPTABLE_HOLD_TIME,
    );
}

#[test]
fn hold_time_of_three_seconds_is_fine() {
    let mut open = open_b();
    open.hold_time = 3;
    let (a, out) = answer(open);
    assert_eq!(out, vec![Output::Send(Message::Keepalive)]);
    assert_eq!(a.state(), State::OpenConfirm);
    assert_eq!(
        a.negotiated().map(|n| (n.hold_time, n.keepalive)),
        Some((3, 1))
    );
}

#[test]
fn an_unexpected_peer_as_is_bad_peer_as() {
    let mut b = config_b();
    b.local_as = 65099;
    rejected(
        open_of(&b),
        error_code::OPEN_MESSAGE,
        subcode::open::BAD_PEER_AS,
    );
}

#[test]
fn the_peer_as_is_read_from_the_four_octet_capability() {
    // My AS says 65002 but the capability says otherwise: the capability
    // wins (RFC 6793), and it does not match.
    let mut open = open_b();
    for c in &mut open.capabilities {
        if let Capability::FourOctetAs(asn) = c {
            *asn = 4_200_000_002;
        }
    }
    rejected(open, error_code::OPEN_MESSAGE, subcode::open::BAD_PEER_AS);

    // A 2-octet-only speaker announcing 65002 in My AS is fine.
    let mut open = open_b();
    open.capabilities
        .retain(|c| !matches!(c, Capability::FourOctetAs(_)));
    let (a, _) = answer(open);
    assert_eq!(a.state(), State::OpenConfirm);
    assert_eq!(a.negotiated().map(|n| n.four_octet_as), Some(false));
}

#[test]
fn bgp_version_other_than_4_is_unsupported_version_with_our_version_as_data() {
    let mut open = open_b();
    open.version = 3;
    let n = rejected(
        open,
        error_code::OPEN_MESSAGE,
        subcode::open::UNSUPPORTED_VERSION,
    );
    assert_eq!(n.data, vec![0, 4], "largest supported version, 2 octets");
}

#[test]
fn bgp_identifier_zero_is_bad_bgp_identifier() {
    let mut open = open_b();
    open.bgp_id = Ipv4Addr::UNSPECIFIED;
    rejected(
        open,
        error_code::OPEN_MESSAGE,
        subcode::open::BAD_BGP_IDENTIFIER,
    );
}

#[test]
fn our_own_identifier_is_refused_on_ibgp_but_allowed_on_ebgp() {
    // eBGP: RFC 6286 only asks for uniqueness within an AS.
    let mut open = open_b();
    open.bgp_id = config_a().local_id;
    let (a, _) = answer(open);
    assert_eq!(a.state(), State::OpenConfirm);

    // iBGP: A talks to AS 65001 and the OPEN carries A's identifier.
    let now = Instant::now();
    let mut cfg = config_a();
    cfg.peer_as = 65001;
    let mut a = open_sent(cfg, now);
    let mut b = config_b();
    b.local_as = 65001;
    b.local_id = config_a().local_id;
    a.handle_input(now, Input::Message(Message::Open(open_of(&b))));
    let out = drain(&mut a);
    let n = notifications(&out);
    assert_eq!(
        (n[0].code, n[0].subcode),
        (error_code::OPEN_MESSAGE, subcode::open::BAD_BGP_IDENTIFIER)
    );
}

#[test]
fn an_unknown_optional_parameter_is_unsupported() {
    let mut open = open_b();
    open.other_params.push((1, vec![0]));
    rejected(
        open,
        error_code::OPEN_MESSAGE,
        subcode::open::UNSUPPORTED_OPTIONAL_PARAMETER,
    );
}

#[test]
fn the_reasons_read_well() {
    let mut b = config_b();
    b.local_as = 65099;
    let (a, _) = answer(open_of(&b));
    assert_eq!(
        a.last_error().map(ToString::to_string).as_deref(),
        Some(
            "OPEN rejected: the peer says it is AS 65099, but it is configured as AS 65002; \
             we sent NOTIFICATION OPEN Message Error / Bad Peer AS (2/2)"
        )
    );
}

#[test]
fn after_a_bad_open_the_session_restarts_with_back_off() {
    let mut b = config_b();
    b.local_as = 65099;
    let (mut a, _) = answer(open_of(&b));
    let idle_hold = a.timer(Timer::IdleHold).expect("automatic restart armed");
    assert_eq!(a.backoff().failures(), 1);
    a.handle_timeout(idle_hold);
    assert_eq!(drain(&mut a), vec![Output::Connect]);
    assert_eq!(a.state(), State::Connect);
}
