//! Reaching Established (RFC 4271 §8.2.2) and what is negotiated on the
//! way (§4.2, §4.4, RFC 5492, RFC 6793).

use super::pair::{Pair, Side};
use super::*;
use crate::model::{AS_TRANS, AddrFamily, Capability};

#[test]
fn two_peers_reach_established_with_keepalive_a_third_of_the_smaller_hold_time() {
    let mut a = config_a();
    a.hold_time = 90;
    let mut b = config_b();
    b.hold_time = 30;
    let p = Pair::establish(Session::new(a), Session::new(b));

    for s in [&p.a, &p.b] {
        let n = s.negotiated().expect("negotiated");
        assert_eq!(n.hold_time, 30, "hold time = min(90, 30)");
        assert_eq!(n.keepalive, 10, "keepalive = hold time / 3");
        assert!(n.four_octet_as);
        assert!(n.route_refresh);
        assert!(n.graceful_restart);
        assert_eq!(
            n.families,
            vec![AddrFamily::IPV4_UNICAST, AddrFamily::IPV6_UNICAST]
        );
        assert_eq!(s.counters().established_transitions, 1);
        assert_eq!(s.counters().last_up, Some(p.start));
    }
    assert_eq!(p.a.negotiated().map(|n| n.peer_as), Some(65002));
    assert_eq!(
        p.a.negotiated().map(|n| n.peer_id),
        Some(Ipv4Addr::new(10, 0, 0, 2))
    );

    // The exchange: each side sends OPEN then KEEPALIVE, and reports
    // Established once.
    for side in [Side::A, Side::B] {
        let kinds: Vec<&str> = p.sent(side).iter().map(|(_, m)| m.name()).collect();
        assert_eq!(kinds, ["OPEN", "KEEPALIVE"]);
        let established = p
            .outputs(side, 0)
            .iter()
            .filter(|(_, o)| matches!(o, Output::Established(_)))
            .count();
        assert_eq!(established, 1);
    }
    // Only the active side connected.
    let connects = |side| {
        p.outputs(side, 0)
            .iter()
            .filter(|(_, o)| *o == Output::Connect)
            .count()
    };
    assert_eq!((connects(Side::A), connects(Side::B)), (1, 0));
}

#[test]
fn hold_time_zero_negotiates_no_keepalives_and_no_hold_timer() {
    let mut a = config_a();
    a.hold_time = 0;
    let mut p = Pair::establish(Session::new(a), Session::new(config_b()));
    for s in [&p.a, &p.b] {
        let n = s.negotiated().expect("negotiated");
        assert_eq!((n.hold_time, n.keepalive), (0, 0));
        assert_eq!(s.timer(Timer::Hold), None);
        assert_eq!(s.timer(Timer::Keepalive), None);
    }
    let t = p.now;
    p.run_for(secs(24 * 3600));
    assert!(p.both(State::Established), "a day of silence is fine");
    // (The KEEPALIVE answering the OPEN, at t, is not periodic.)
    assert_eq!(p.keepalives_sent(Side::A, t + secs(1)), 0);
    assert_eq!(p.keepalives_sent(Side::B, t + secs(1)), 0);
}

#[test]
fn keepalives_flow_every_keepalive_interval() {
    let mut p = Pair::establish(Session::new(config_a()), Session::new(config_b()));
    let t = p.now;
    p.run_for(secs(600));
    assert!(p.both(State::Established));
    // Hold 90 s: a KEEPALIVE every 30 s, 20 in 10 minutes, each side.
    assert_eq!(p.keepalives_sent(Side::A, t + secs(1)), 20);
    assert_eq!(p.keepalives_sent(Side::B, t + secs(1)), 20);
    let times: Vec<Instant> = p
        .sent(Side::A)
        .into_iter()
        .filter(|(at, m)| *at > t && *m == Message::Keepalive)
        .map(|(at, _)| at)
        .collect();
    for w in times.windows(2) {
        assert_eq!(w[1] - w[0], secs(30));
    }
}

#[test]
fn configured_keepalive_is_used_but_never_more_than_a_third_of_the_hold_time() {
    let mut a = config_a();
    a.keepalive = Some(10);
    let p = Pair::establish(Session::new(a.clone()), Session::new(config_b()));
    assert_eq!(p.a.negotiated().map(|n| n.keepalive), Some(10));
    assert_eq!(p.b.negotiated().map(|n| n.keepalive), Some(30));

    a.keepalive = Some(60);
    let mut b = config_b();
    b.hold_time = 9;
    let p = Pair::establish(Session::new(a), Session::new(b));
    assert_eq!(p.a.negotiated().map(|n| n.keepalive), Some(3));
}

#[test]
fn our_open_announces_the_configured_capabilities() {
    let open = open_of(&config_a());
    assert_eq!(open.version, 4);
    assert_eq!(open.my_as, 65001);
    assert_eq!(open.hold_time, 90);
    assert_eq!(open.bgp_id, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(
        open.capabilities,
        vec![
            Capability::Multiprotocol(AddrFamily::IPV4_UNICAST),
            Capability::Multiprotocol(AddrFamily::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(65001),
            Capability::GracefulRestart(crate::model::GracefulRestart {
                flags: 0,
                restart_time: 120,
                families: vec![],
            }),
        ]
    );
}

#[test]
fn a_four_octet_as_goes_in_the_capability_and_as_trans_in_the_header() {
    let mut c = config_a();
    c.local_as = 4_200_000_001;
    c.route_refresh = false;
    c.graceful_restart = None;
    let open = open_of(&c);
    assert_eq!(open.my_as, AS_TRANS);
    assert_eq!(open.asn(), 4_200_000_001);
    assert!(!open.route_refresh());
    assert!(open.graceful_restart().is_none());

    // And a peer configured with that AS accepts it.
    let mut b = config_b();
    b.peer_as = 4_200_000_001;
    let p = Pair::establish(Session::new(c), Session::new(b));
    assert_eq!(p.b.negotiated().map(|n| n.peer_as), Some(4_200_000_001));
    assert_eq!(p.b.negotiated().map(|n| n.route_refresh), Some(false));
    assert_eq!(p.b.negotiated().map(|n| n.graceful_restart), Some(false));
}

#[test]
fn families_are_the_intersection_and_no_multiprotocol_means_ipv4_unicast() {
    let mut a = config_a();
    a.families = vec![AddrFamily::IPV6_UNICAST, AddrFamily::IPV4_UNICAST];
    let mut b = config_b();
    b.families = vec![AddrFamily::IPV6_UNICAST];
    let p = Pair::establish(Session::new(a.clone()), Session::new(b));
    assert_eq!(
        p.a.negotiated().map(|n| n.families.clone()),
        Some(vec![AddrFamily::IPV6_UNICAST])
    );

    // RFC 4760 §8: a peer announcing no multiprotocol capability speaks
    // IPv4 unicast.
    let mut b = config_b();
    b.families = vec![];
    let p = Pair::establish(Session::new(a), Session::new(b));
    assert_eq!(
        p.a.negotiated().map(|n| n.families.clone()),
        Some(vec![AddrFamily::IPV4_UNICAST])
    );
}

#[test]
fn passive_peer_never_connects_and_waits_in_active() {
    let mut p = Pair::new(Session::new(config_b()), Session::new(config_b()));
    p.input(Side::A, Input::Start);
    assert_eq!(p.a.state(), State::Active);
    assert_eq!(p.a.poll_timeout(), None, "nothing to wait for");
    p.run_for(secs(3600));
    assert!(p.outputs(Side::A, 0).is_empty(), "{:?}", p.log);
    assert_eq!(p.a.state(), State::Active);
}

#[test]
fn updates_and_route_refresh_are_passed_on_and_can_be_sent() {
    let mut p = Pair::establish(Session::new(config_a()), Session::new(config_b()));
    let now = p.now;
    let eor = Message::Update(crate::model::Update::default());
    assert_eq!(p.a.send(now, eor.clone()), Ok(()));
    let rr = Message::RouteRefresh {
        family: AddrFamily::IPV6_UNICAST,
        subtype: 0,
    };
    assert_eq!(p.a.send(now, rr.clone()), Ok(()));
    assert_eq!(
        p.a.send(now, Message::Keepalive),
        Err(SendError::NotAllowed("KEEPALIVE"))
    );
    let mark = p.log.len();
    p.settle();
    let received: Vec<Output> = p
        .outputs(Side::B, mark)
        .into_iter()
        .map(|(_, o)| o)
        .filter(|o| matches!(o, Output::Received(_)))
        .collect();
    assert_eq!(received, vec![Output::Received(eor), Output::Received(rr)]);
    assert_eq!(p.b.counters().updates_in, 1);
    assert_eq!(p.a.counters().updates_out, 1);

    // An UPDATE restarts the keepalive timer (RFC 4271 §8.2.2).
    assert_eq!(p.a.timer(Timer::Keepalive), Some(now + secs(30)));
}

#[test]
fn sending_before_established_is_refused() {
    let mut s = Session::new(config_a());
    let now = Instant::now();
    assert_eq!(
        s.send(now, Message::Update(Default::default())),
        Err(SendError::NotEstablished(State::Idle))
    );
    let mut b = config_b();
    b.route_refresh = false;
    let mut p = Pair::establish(Session::new(config_a()), Session::new(b));
    let rr = Message::RouteRefresh {
        family: AddrFamily::IPV4_UNICAST,
        subtype: 0,
    };
    assert_eq!(
        p.a.send(p.now, rr.clone()),
        Err(SendError::RouteRefreshNotNegotiated)
    );
    // And a ROUTE-REFRESH it did not negotiate is ignored by the receiver.
    let now = p.now;
    p.b.handle_input(now, Input::Message(rr));
    assert!(drain(&mut p.b).is_empty());
    assert_eq!(p.b.state(), State::Established);
}

/// RFC 7911 §4, §5: ADD-PATH is announced only when configured, and each
/// direction of each family is negotiated on its own: A receives IPv4 and
/// sends IPv6, B sends IPv4 and does both for IPv6.
#[test]
fn add_path_is_negotiated_per_family_and_direction() {
    use crate::model::AddPathMode::{Both, Receive, Send};
    const V4: AddrFamily = AddrFamily::IPV4_UNICAST;
    const V6: AddrFamily = AddrFamily::IPV6_UNICAST;
    let mut a = config_a();
    a.add_path = vec![(V4, Receive), (V6, Send)];
    let mut b = config_b();
    b.add_path = vec![(V4, Send), (V6, Both)];
    assert!(
        open_of(&a)
            .capabilities
            .contains(&Capability::AddPath(a.add_path.clone()))
    );
    assert!(open_of(&config_a()).add_path().is_empty());
    let p = Pair::establish(Session::new(a), Session::new(b));

    let na = p.a.negotiated().expect("negotiated").add_path;
    assert_eq!(na.receive.iter().collect::<Vec<_>>(), vec![V4]);
    assert_eq!(na.send.iter().collect::<Vec<_>>(), vec![V6]);
    let nb = p.b.negotiated().expect("negotiated").add_path;
    assert_eq!(nb.receive, na.send);
    assert_eq!(nb.send, na.receive);

    // Without the capability on one side nothing is negotiated.
    let mut a = config_a();
    a.add_path = vec![(V4, Both), (V6, Both)];
    let p = Pair::establish(Session::new(a), Session::new(config_b()));
    for s in [&p.a, &p.b] {
        let n = s.negotiated().expect("negotiated").add_path;
        assert!(n.receive.is_empty() && n.send.is_empty());
    }
}
