//! Connection collision detection and resolution (RFC 4271 §6.8,
//! RFC 6286 §2.3) through [`Peer`].

use super::net::{End, Net};
use super::*;
use crate::model::{error_code, subcode};

fn cease7() -> Notification {
    Notification::new(error_code::CEASE, subcode::cease::CONNECTION_COLLISION)
}

/// Two active peers with the given identifiers.
fn peers(x_id: Ipv4Addr, y_id: Ipv4Addr) -> Net {
    let mut x = config_a();
    x.local_id = x_id;
    let mut y = config_b();
    y.passive = false;
    y.local_id = y_id;
    Net::new(Peer::new(x), Peer::new(y))
}

#[test]
fn the_connection_initiated_by_the_higher_identifier_survives() {
    assert_eq!(
        collision_winner(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)),
        Collision::KeepRemote
    );
    assert_eq!(
        collision_winner(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)),
        Collision::KeepLocal
    );
    // Identifiers compare as unsigned integers, not as strings.
    assert_eq!(
        collision_winner(Ipv4Addr::new(9, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 0)),
        Collision::KeepRemote
    );
    // RFC 6286: equal identifiers, the larger AS's connection survives.
    let id = Ipv4Addr::new(10, 0, 0, 1);
    assert_eq!(
        collision_winner_by_as(id, 65001, id, 65002),
        Collision::KeepRemote
    );
    assert_eq!(
        collision_winner_by_as(id, 65002, id, 65001),
        Collision::KeepLocal
    );
}

fn both_connect_at_once(x_id: Ipv4Addr, y_id: Ipv4Addr, winner: End) {
    let mut net = peers(x_id, y_id);
    let now = net.now;
    net.x.start(now);
    net.y.start(now);
    net.settle();

    assert_eq!(net.links.len(), 2, "both connected");
    let link = net.established_on_one_link().expect("one session");
    assert_eq!(link.initiator, winner);
    let survivor = net.links.iter().position(|l| l.initiator == winner);
    let loser = net.links.iter().position(|l| l.initiator != winner);
    for end in [End::X, End::Y] {
        let sent = net.sent(end);
        let cease: Vec<usize> = sent
            .iter()
            .filter(|(_, m)| *m == Message::Notification(cease7()))
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(
            cease.iter().map(|i| Some(*i)).collect::<Vec<_>>(),
            vec![loser]
        );
        assert!(
            sent.iter()
                .all(|(i, m)| Some(*i) == survivor || m.name() != "KEEPALIVE"),
            "no KEEPALIVE on the losing connection: {sent:?}"
        );
    }
    // Collision losers are not reported as sessions going down.
    assert!(
        !net.log
            .iter()
            .any(|(_, _, o)| matches!(o, PeerOutput::Down(_))),
        "{:?}",
        net.log
    );
    for p in [&net.x, &net.y] {
        assert_eq!(p.connections().len(), 1);
        assert_eq!(p.counters().established_transitions, 1);
    }

    // The survivor carries on: keepalives for ten minutes.
    net.run_until(|n| n.now >= now + secs(600), secs(700));
    assert!(net.established_on_one_link().is_some());
}

#[test]
fn both_connect_at_once_and_the_higher_identifier_s_connection_survives() {
    both_connect_at_once(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        End::Y,
    );
}

#[test]
fn both_connect_at_once_the_other_way_round() {
    both_connect_at_once(
        Ipv4Addr::new(10, 0, 0, 9),
        Ipv4Addr::new(10, 0, 0, 2),
        End::X,
    );
}

/// X and Y established; Y is passive.
fn established_net(x: SessionConfig) -> Net {
    let mut net = Net::new(Peer::new(x), Peer::new(config_b()));
    let now = net.now;
    net.y.start(now);
    net.x.start(now);
    net.settle();
    assert!(net.established_on_one_link().is_some());
    net
}

/// X with a higher identifier than Y's: X's connection (the Established
/// one in [`established_net`]) is also the one RFC 4271 §6.8 keeps.
fn config_a_winning() -> SessionConfig {
    let mut x = config_a();
    x.local_id = Ipv4Addr::new(10, 0, 0, 9);
    x
}

#[test]
fn a_new_connection_colliding_with_an_established_session_is_closed() {
    let mut x = config_a_winning();
    x.graceful_restart = None;
    let mut net = established_net(x);
    let old = net.x.established_conn();
    let now = net.now;
    let conn = net.x.accept(now);
    let _ = std::iter::from_fn(|| net.x.poll_output()).count();
    net.x.handle_input(
        now,
        conn,
        ConnEvent::Message(Message::Open(open_of(&config_b()))),
    );
    let out: Vec<PeerOutput> = std::iter::from_fn(|| net.x.poll_output()).collect();
    assert_eq!(
        out,
        vec![
            PeerOutput::Send(conn, Message::Notification(cease7())),
            PeerOutput::Disconnect(conn),
        ]
    );
    assert_eq!(net.x.established_conn(), old);
    assert_eq!(net.x.connections().len(), 1);
}

/// Y's OPEN after a restart: graceful restart with the Restart State bit
/// (or without, if `restarted` is false: a late collision).
fn open_after_restart(restarted: bool) -> Open {
    let mut open = open_of(&config_b());
    for c in &mut open.capabilities {
        if let crate::model::Capability::GracefulRestart(g) = c {
            g.flags = if restarted { 0x8 } else { 0 };
        }
    }
    open
}

#[test]
fn a_late_collision_with_graceful_restart_but_no_restart_bit_is_closed() {
    let mut net = established_net(config_a_winning());
    let old = net.x.established_conn();
    let now = net.now;
    let conn = net.x.accept(now);
    let _ = std::iter::from_fn(|| net.x.poll_output()).count();
    let open = open_after_restart(false);
    net.x
        .handle_input(now, conn, ConnEvent::Message(Message::Open(open)));
    let out: Vec<PeerOutput> = std::iter::from_fn(|| net.x.poll_output()).collect();
    assert_eq!(
        out,
        vec![
            PeerOutput::Send(conn, Message::Notification(cease7())),
            PeerOutput::Disconnect(conn),
        ]
    );
    assert_eq!(net.x.established_conn(), old);
}

#[test]
fn a_graceful_restart_peer_reconnecting_replaces_the_established_session() {
    let mut net = established_net(config_a());
    let old = net.x.established_conn().expect("old");
    let now = net.now;
    let conn = net.x.accept(now);
    let _ = std::iter::from_fn(|| net.x.poll_output()).count();
    let open = open_after_restart(true);
    net.x
        .handle_input(now, conn, ConnEvent::Message(Message::Open(open)));
    let out: Vec<PeerOutput> = std::iter::from_fn(|| net.x.poll_output()).collect();
    assert!(out.contains(&PeerOutput::Disconnect(old)), "{out:?}");
    let down = out
        .iter()
        .find_map(|o| match o {
            PeerOutput::Down(d) => Some(d.clone()),
            _ => None,
        })
        .expect("old session down");
    assert_eq!(down.reason, DownReason::PeerRestarted);
    assert!(down.was_established);
    assert!(out.contains(&PeerOutput::Send(conn, Message::Keepalive)));
    net.x
        .handle_input(now, conn, ConnEvent::Message(Message::Keepalive));
    assert_eq!(net.x.established_conn(), Some(conn));
    assert_eq!(net.x.counters().established_transitions, 2);
}

#[test]
fn an_incoming_connection_while_waiting_goes_to_the_primary_session() {
    let now = Instant::now();
    let mut p = Peer::new(config_b());
    let refused = p.accept(now);
    assert_eq!(
        p.poll_output(),
        Some(PeerOutput::Disconnect(refused)),
        "stopped"
    );
    p.start(now);
    let conn = p.accept(now);
    assert!(matches!(
        p.poll_output(),
        Some(PeerOutput::Send(c, Message::Open(_))) if c == conn
    ));
    assert_eq!(
        p.connections(),
        vec![(conn, Direction::Incoming, State::OpenSent)]
    );
    // Events for an unknown connection are answered with a Disconnect.
    p.handle_input(now, ConnId(99), ConnEvent::Message(Message::Keepalive));
    assert_eq!(p.poll_output(), Some(PeerOutput::Disconnect(ConnId(99))));
    p.handle_input(now, ConnId(99), ConnEvent::Closed);
    assert_eq!(p.poll_output(), None);
}

#[test]
fn an_active_peer_keeps_trying_while_an_incoming_session_comes_up() {
    let mut net = Net::new(Peer::new(config_a()), Peer::new(config_b()));
    let now = net.now;
    // X connects but Y is not started: refused.
    net.x.start(now);
    net.settle();
    assert_eq!(net.x.state(), State::Active);
    assert!(matches!(
        net.x.last_error(),
        Some(DownReason::ConnectionClosed)
    ));
    // Y starts as passive; X's next attempt gets through.
    net.y.start(now);
    net.run_until(|n| n.established_on_one_link().is_some(), secs(60));
    assert_eq!(net.x.counters().connect_attempts, 2);
}

/// X (10.0.0.1) Established on its own connection to Y (10.0.0.2), for
/// `age`; then Y's own connection arrives with Y's OPEN, which RFC 4271
/// §6.8 favours by identifier. Returns X's outputs, the old and the new
/// connection.
fn winner_s_connection_after(age: Duration) -> (Net, Vec<PeerOutput>, ConnId, ConnId) {
    let mut x = config_a();
    x.graceful_restart = None;
    let mut net = established_net(x);
    let old = net.x.established_conn().expect("old");
    net.now += age;
    let now = net.now;
    net.x.handle_timeout(now);
    net.y.handle_timeout(now);
    net.settle();
    let conn = net.x.accept(now);
    let _ = std::iter::from_fn(|| net.x.poll_output()).count();
    net.x.handle_input(
        now,
        conn,
        ConnEvent::Message(Message::Open(open_of(&config_b()))),
    );
    let out: Vec<PeerOutput> = std::iter::from_fn(|| net.x.poll_output()).collect();
    (net, out, old, conn)
}

#[test]
fn a_session_up_for_moments_yields_to_the_winner_s_connection() {
    // Y may have the session only in OpenConfirm (our KEEPALIVE in
    // flight) and then closes it by identifier: so do we.
    let (net, out, old, conn) = winner_s_connection_after(Duration::from_millis(2));
    assert!(
        out.contains(&PeerOutput::Send(old, Message::Notification(cease7()))),
        "{out:?}"
    );
    assert!(out.contains(&PeerOutput::Disconnect(old)), "{out:?}");
    let down = out
        .iter()
        .find_map(|o| match o {
            PeerOutput::Down(d) => Some(d.clone()),
            _ => None,
        })
        .expect("the young session is reported down");
    assert_eq!(down.reason, DownReason::CollisionResolution);
    assert!(down.was_established);
    assert!(out.contains(&PeerOutput::Send(conn, Message::Keepalive)));
    assert_eq!(
        net.x.connections(),
        vec![(conn, Direction::Incoming, State::OpenConfirm)]
    );
}

#[test]
fn an_older_session_keeps_even_against_the_winner_s_connection() {
    let retry = config_a().connect_retry;
    let (net, out, old, conn) = winner_s_connection_after(retry + secs(1));
    assert_eq!(
        out,
        vec![
            PeerOutput::Send(conn, Message::Notification(cease7())),
            PeerOutput::Disconnect(conn),
        ]
    );
    assert_eq!(net.x.established_conn(), Some(old));
}

#[test]
fn losing_the_collision_waits_for_the_winning_connection_in_active() {
    // A session told 6/7 before a second connection reached it (still in
    // the listener's backlog) takes that connection when it arrives.
    let mut x = config_a();
    x.passive = false;
    let mut p = Peer::new(x);
    let now = Instant::now();
    p.start(now);
    let Some(PeerOutput::Connect(out_conn)) = p.poll_output() else {
        panic!("connect")
    };
    p.handle_input(now, out_conn, ConnEvent::Connected);
    let _ = std::iter::from_fn(|| p.poll_output()).count();
    p.handle_input(
        now,
        out_conn,
        ConnEvent::Message(Message::Notification(cease7())),
    );
    let _ = std::iter::from_fn(|| p.poll_output()).count();
    assert_eq!(p.state(), State::Active);
    let conn = p.accept(now);
    assert!(matches!(
        p.poll_output(),
        Some(PeerOutput::Send(c, Message::Open(_))) if c == conn
    ));
    assert_eq!(
        p.connections(),
        vec![(conn, Direction::Incoming, State::OpenSent)]
    );
}
