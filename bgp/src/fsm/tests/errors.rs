//! NOTIFICATIONs received and sent, FSM errors (RFC 6608), ManualStop,
//! decode errors, lost connections and the graceful restart helper
//! (RFC 4724 §4.2).

use super::pair::{Pair, Side};
use super::*;
use crate::model::{AddrFamily, Capability, GracefulRestart, error_code, subcode};

fn established() -> Pair {
    Pair::establish(Session::new(config_a()), Session::new(config_b()))
}

/// Feeds `input` to A of an established pair (not delivered to B) and
/// returns A's outputs.
fn feed_a(p: &mut Pair, input: Input) -> Vec<Output> {
    let now = p.now;
    p.a.handle_input(now, input);
    drain(&mut p.a)
}

#[test]
fn a_notification_received_takes_the_session_down_with_it() {
    let mut p = established();
    let n = Notification::cease_with_message(subcode::cease::ADMIN_SHUTDOWN, "maintenance");
    let out = feed_a(&mut p, Input::Message(Message::Notification(n.clone())));
    assert!(
        notifications(&out).is_empty(),
        "never answer a NOTIFICATION"
    );
    assert_eq!(out[0], Output::Disconnect);
    let down = the_down(&out);
    assert_eq!(down.reason, DownReason::NotificationReceived(n));
    assert!(down.was_established);
    assert_eq!(down.stale_for, None, "a NOTIFICATION is no restart");
    assert_eq!(p.a.state(), State::Idle);
    assert_eq!(p.a.counters().last_down, Some(p.now));
    assert_eq!(
        down.reason.to_string(),
        "the peer sent NOTIFICATION Cease / Administrative Shutdown (6/2): \"maintenance\""
    );
}

#[test]
fn a_notification_in_opensent_also_ends_it() {
    let now = Instant::now();
    let mut a = open_sent(config_a(), now);
    let n = Notification::new(error_code::OPEN_MESSAGE, subcode::open::BAD_PEER_AS);
    a.handle_input(now, Input::Message(Message::Notification(n.clone())));
    let out = drain(&mut a);
    let down = the_down(&out);
    assert_eq!(down.reason, DownReason::NotificationReceived(n));
    assert!(!down.was_established);
    assert_eq!(a.state(), State::Idle);
}

#[test]
fn an_open_in_established_is_an_fsm_error_5_3() {
    let mut p = established();
    let open = open_of(&config_b());
    let out = feed_a(&mut p, Input::Message(Message::Open(open)));
    assert_eq!(
        notifications(&out),
        vec![Notification::new(
            error_code::FSM,
            subcode::fsm::UNEXPECTED_IN_ESTABLISHED
        )]
    );
    let down = the_down(&out);
    assert_eq!(
        down.reason,
        DownReason::UnexpectedMessage {
            state: State::Established,
            message: "OPEN"
        }
    );
    assert_eq!(p.a.state(), State::Idle);
}

#[test]
fn unexpected_messages_in_opensent_and_openconfirm_are_5_1_and_5_2() {
    let now = Instant::now();
    for m in [Message::Keepalive, Message::Update(Default::default())] {
        let mut a = open_sent(config_a(), now);
        a.handle_input(now, Input::Message(m));
        let out = drain(&mut a);
        assert_eq!(
            notifications(&out),
            vec![Notification::new(
                error_code::FSM,
                subcode::fsm::UNEXPECTED_IN_OPENSENT
            )]
        );
    }
    let mut a = open_sent(config_a(), now);
    a.handle_input(now, Input::Message(Message::Open(open_of(&config_b()))));
    drain(&mut a);
    assert_eq!(a.state(), State::OpenConfirm);
    a.handle_input(now, Input::Message(Message::Update(Default::default())));
    let out = drain(&mut a);
    assert_eq!(
        notifications(&out),
        vec![Notification::new(
            error_code::FSM,
            subcode::fsm::UNEXPECTED_IN_OPENCONFIRM
        )]
    );
    assert_eq!(a.state(), State::Idle);
}

#[test]
fn stop_sends_cease_administrative_shutdown_and_stays_idle() {
    let mut p = established();
    let mark = p.log.len();
    p.input(Side::A, Input::Stop { notification: None });
    let out: Vec<Output> = p
        .outputs(Side::A, mark)
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    assert_eq!(
        out[0],
        Output::Send(Message::Notification(Notification::new(
            error_code::CEASE,
            subcode::cease::ADMIN_SHUTDOWN
        )))
    );
    assert_eq!(out[1], Output::Disconnect);
    assert_eq!(the_down(&out).reason, DownReason::AdminStop);
    assert_eq!(p.a.state(), State::Idle);
    assert_eq!(p.a.poll_timeout(), None, "no automatic restart");
    // B saw the Cease and waits for A again.
    assert_eq!(p.b.state(), State::Active);

    p.run_for(secs(3600));
    assert_eq!(p.a.state(), State::Idle);
    let connects = p
        .outputs(Side::A, mark)
        .iter()
        .filter(|(_, o)| *o == Output::Connect)
        .count();
    assert_eq!(connects, 0);

    // Start again: up again.
    p.input(Side::A, Input::Start);
    p.run_until(|p| p.both(State::Established), secs(60));
    assert_eq!(p.a.counters().established_transitions, 2);
}

#[test]
fn stop_can_carry_a_shutdown_communication() {
    let mut p = established();
    let n = Notification::cease_with_message(subcode::cease::ADMIN_SHUTDOWN, "moving racks");
    let out = feed_a(
        &mut p,
        Input::Stop {
            notification: Some(n.clone()),
        },
    );
    assert_eq!(notifications(&out), vec![n]);
}

#[test]
fn stop_while_connecting_abandons_the_attempt() {
    let now = Instant::now();
    let mut a = Session::new(config_a());
    a.handle_input(now, Input::Start);
    assert_eq!(drain(&mut a), vec![Output::Connect]);
    a.handle_input(now, Input::Stop { notification: None });
    assert_eq!(drain(&mut a), vec![Output::Disconnect]);
    assert_eq!((a.state(), a.poll_timeout()), (State::Idle, None));
}

#[test]
fn a_decode_error_sends_the_codec_s_notification_and_closes() {
    let mut p = established();
    let n = Notification::new(
        error_code::UPDATE_MESSAGE,
        subcode::update::MALFORMED_AS_PATH,
    );
    let out = feed_a(&mut p, Input::DecodeError(n.clone()));
    assert_eq!(notifications(&out), vec![n.clone()]);
    assert!(out.contains(&Output::Disconnect));
    assert_eq!(the_down(&out).reason, DownReason::NotificationSent(n));
    assert_eq!(p.a.state(), State::Idle);
}

#[test]
fn a_closed_connection_keeps_the_routes_stale_when_the_peer_does_graceful_restart() {
    // B announces GR for IPv4 unicast with restart time 60 s, as a
    // restarting speaker would.
    let now = Instant::now();
    let mut a = open_sent(config_a(), now);
    let mut open = open_of(&config_b());
    for c in &mut open.capabilities {
        if let Capability::GracefulRestart(g) = c {
            *g = GracefulRestart {
                flags: 0,
                restart_time: 60,
                families: vec![(AddrFamily::IPV4_UNICAST, 0x80)],
            };
        }
    }
    a.handle_input(now, Input::Message(Message::Open(open)));
    a.handle_input(now, Input::Message(Message::Keepalive));
    drain(&mut a);
    assert_eq!(a.state(), State::Established);

    a.handle_input(now, Input::ConnectionClosed);
    let out = drain(&mut a);
    let down = the_down(&out);
    assert_eq!(down.reason, DownReason::ConnectionClosed);
    assert_eq!(down.stale_for, Some(secs(60)));
    assert_eq!(down.stale_families, vec![AddrFamily::IPV4_UNICAST]);
}

#[test]
fn a_closed_connection_withdraws_when_the_peer_listed_no_gr_family() {
    let mut p = established();
    let out = feed_a(&mut p, Input::ConnectionClosed);
    let down = the_down(&out);
    assert!(down.was_established);
    assert_eq!((down.stale_for, down.stale_families), (None, vec![]));
    assert_eq!(
        DownReason::ConnectionClosed.to_string(),
        "the peer closed the TCP connection"
    );
}

#[test]
fn messages_without_a_connection_are_ignored() {
    let now = Instant::now();
    let mut a = Session::new(config_a());
    for input in [
        Input::Message(Message::Keepalive),
        Input::DecodeError(Notification::new(1, 1)),
        Input::ConnectionClosed,
        Input::SendStalled,
    ] {
        a.handle_input(now, input);
    }
    assert!(drain(&mut a).is_empty());
    assert_eq!(a.state(), State::Idle);
    // Idle refuses a connection.
    a.handle_input(now, Input::Connected);
    assert_eq!(drain(&mut a), vec![Output::Disconnect]);
}
