//! Property tests of the session FSM through its public API: random input
//! sequences never panic, the timer table stays consistent, and the
//! outputs respect the state machine's promises.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vcpe_bgp::fsm::{
    ConnEvent, ConnId, Input, Output, Peer, PeerOutput, Session, SessionConfig, State, Timer,
};
use vcpe_bgp::model::{
    AddrFamily, Afi, Capability, GracefulRestart, Message, Notification, Open, ParamLayout, Safi,
    Update,
};

const LOCAL_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn family() -> impl Strategy<Value = AddrFamily> {
    prop_oneof![
        Just(AddrFamily::IPV4_UNICAST),
        Just(AddrFamily::IPV6_UNICAST),
        (0u16..4, 0u8..3).prop_map(|(a, s)| AddrFamily {
            afi: Afi(a),
            safi: Safi(s)
        }),
    ]
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        prop_oneof![Just(65002u32), Just(4_200_000_002), any::<u32>()]
            .prop_map(Capability::FourOctetAs),
        (
            any::<u16>(),
            prop::collection::vec((family(), any::<u8>()), 0..3)
        )
            .prop_map(|(restart_time, families)| Capability::GracefulRestart(
                GracefulRestart {
                    flags: 0,
                    restart_time,
                    families,
                }
            )),
        Just(Capability::EnhancedRouteRefresh),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        prop_oneof![8 => Just(4u8), 1 => any::<u8>()],
        prop_oneof![Just(65002u16), Just(23456), any::<u16>()],
        prop_oneof![
            Just(0u16),
            Just(1),
            Just(2),
            Just(3),
            Just(90),
            any::<u16>()
        ],
        prop_oneof![
            Just(Ipv4Addr::new(10, 0, 0, 2)),
            Just(LOCAL_ID),
            Just(Ipv4Addr::UNSPECIFIED),
            any::<u32>().prop_map(Ipv4Addr::from),
        ],
        prop::collection::vec(capability(), 0..6),
        prop::collection::vec(
            (any::<u8>(), prop::collection::vec(any::<u8>(), 0..3)),
            0..2,
        ),
    )
        .prop_map(
            |(version, my_as, hold_time, bgp_id, capabilities, other)| Open {
                version,
                my_as,
                hold_time,
                bgp_id,
                capabilities,
                layout: ParamLayout::Single,
                other_params: other,
            },
        )
}

/// An OPEN the default configuration accepts, with a random hold time.
fn good_open() -> impl Strategy<Value = Open> {
    prop_oneof![Just(0u16), Just(3), Just(90), 3u16..].prop_map(|hold_time| Open {
        version: 4,
        my_as: 65002,
        hold_time,
        bgp_id: Ipv4Addr::new(10, 0, 0, 2),
        capabilities: vec![
            Capability::Multiprotocol(AddrFamily::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(65002),
            Capability::GracefulRestart(GracefulRestart {
                flags: 0,
                restart_time: 120,
                families: vec![(AddrFamily::IPV4_UNICAST, 0x80)],
            }),
        ],
        layout: ParamLayout::Single,
        other_params: Vec::new(),
    })
}

fn notification() -> impl Strategy<Value = Notification> {
    (0u8..10, 0u8..10, prop::collection::vec(any::<u8>(), 0..8))
        .prop_map(|(c, s, d)| Notification::with_data(c, s, d))
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        3 => open().prop_map(Message::Open),
        3 => good_open().prop_map(Message::Open),
        2 => Just(Message::Update(Update::default())),
        6 => Just(Message::Keepalive),
        1 => notification().prop_map(Message::Notification),
        1 => (family(), 0u8..4)
            .prop_map(|(family, subtype)| Message::RouteRefresh { family, subtype }),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        2 => Just(Input::Start),
        1 => prop::option::of(notification()).prop_map(|notification| Input::Stop { notification }),
        3 => Just(Input::Connected),
        1 => Just(Input::ConnectionFailed),
        1 => Just(Input::ConnectionClosed),
        8 => message().prop_map(Input::Message),
        1 => notification().prop_map(Input::DecodeError),
        1 => Just(Input::SendStalled),
        1 => Just(Input::SendProgress),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Input(Input),
    /// Jump this many milliseconds, then handle timeouts.
    Advance(u64),
    /// Jump to the next deadline, then handle timeouts.
    NextDeadline,
    /// Try sending a message.
    Send(Message),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => input().prop_map(Step::Input),
        2 => prop_oneof![0u64..10, 0u64..200_000, Just(u64::from(u32::MAX))].prop_map(Step::Advance),
        3 => Just(Step::NextDeadline),
        1 => message().prop_map(Step::Send),
    ]
}

fn config() -> impl Strategy<Value = SessionConfig> {
    (
        any::<bool>(),
        prop_oneof![Just(0u16), Just(1), Just(3), Just(90), any::<u16>()],
        prop::option::of(prop_oneof![Just(0u16), Just(1), any::<u16>()]),
        prop_oneof![Just(0u64), Just(1), Just(5000), Just(u64::MAX)],
        prop::option::of(prop_oneof![Just(0u64), Just(1000), Just(u64::MAX)]),
        prop::option::of(any::<u16>()),
        prop::collection::vec(family(), 0..3),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(passive, hold, keepalive, retry_ms, send_hold_ms, gr, families, rr, seed)| {
                let mut c = SessionConfig::new(
                    65001,
                    LOCAL_ID,
                    65002,
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
                );
                c.passive = passive;
                c.hold_time = hold;
                c.keepalive = keepalive;
                c.connect_retry = Duration::from_millis(retry_ms);
                c.send_hold_time = send_hold_ms.map(Duration::from_millis);
                c.graceful_restart = gr;
                c.families = families;
                c.route_refresh = rr;
                c.jitter_seed = seed;
                c
            },
        )
}

/// The timers a state may have armed.
fn timers_fit(s: &Session) -> bool {
    let armed = |t| s.timer(t).is_some();
    let state = s.state();
    (!armed(Timer::Hold) || state.is_connected())
        && (!armed(Timer::SendHold) || state.is_connected())
        && (!armed(Timer::Keepalive) || matches!(state, State::OpenConfirm | State::Established))
        && (!armed(Timer::ConnectRetry) || matches!(state, State::Connect | State::Active))
        && (!armed(Timer::IdleHold) || state == State::Idle)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_never_break_a_session(
        config in config(),
        prefix in prop::option::of(good_open()),
        steps in prop::collection::vec(step(), 0..80),
    ) {
        let passive = config.passive;
        let mut s = Session::new(config);
        let mut now = Instant::now();
        // Half the runs start from a session scripted towards Established
        // (an OPEN the default peer AS accepts; other configs may refuse).
        let scripted = prefix.into_iter().flat_map(|open| {
            [
                Input::Start,
                Input::Connected,
                Input::Message(Message::Open(open)),
                Input::Message(Message::Keepalive),
            ]
        });
        let steps = scripted.map(Step::Input).chain(steps);
        for step in steps {
            let before = s.state();
            let mut timed_out = false;
            match step {
                Step::Input(i) => s.handle_input(now, i),
                Step::Advance(ms) => {
                    now = now.checked_add(Duration::from_millis(ms)).unwrap_or(now);
                    s.handle_timeout(now);
                    timed_out = true;
                }
                Step::NextDeadline => {
                    if let Some(t) = s.poll_timeout() {
                        now = now.max(t);
                    }
                    s.handle_timeout(now);
                    timed_out = true;
                }
                Step::Send(m) => {
                    let ok = s.send(now, m).is_ok();
                    prop_assert!(!ok || s.state() == State::Established);
                }
            }
            if timed_out {
                prop_assert!(
                    s.poll_timeout().is_none_or(|t| t > now),
                    "deadline in the past after handle_timeout"
                );
            }
            let out: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
            let after = s.state();
            let downs = out.iter().filter(|o| matches!(o, Output::Down(_))).count();
            let left = before.is_connected() && !after.is_connected();
            prop_assert_eq!(downs, usize::from(left), "{:?} -> {:?}: {:?}", before, after, out);
            for o in &out {
                match o {
                    Output::Connect => prop_assert!(!passive),
                    Output::Received(_) => prop_assert_eq!(before, State::Established),
                    Output::Established(_) => prop_assert_eq!(after, State::Established),
                    Output::Down(d) => {
                        prop_assert_eq!(d.was_established, before == State::Established);
                        prop_assert!(d.stale_for.is_some() || d.stale_families.is_empty());
                        prop_assert!(!d.reason.to_string().is_empty());
                    }
                    Output::Send(_) | Output::Disconnect => {}
                }
            }
            prop_assert_eq!(
                s.negotiated().is_some(),
                matches!(after, State::OpenConfirm | State::Established)
            );
            prop_assert!(timers_fit(&s), "{:?} with timers {:?}", after, s);
        }
    }
}

#[derive(Debug, Clone)]
enum PeerStep {
    Start,
    Stop,
    Accept,
    /// An event on the n-th connection id seen so far (or an unknown one).
    Event(usize, ConnEvent),
    Advance(u64),
    NextDeadline,
}

fn conn_event() -> impl Strategy<Value = ConnEvent> {
    prop_oneof![
        2 => Just(ConnEvent::Connected),
        1 => Just(ConnEvent::Failed),
        1 => Just(ConnEvent::Closed),
        8 => message().prop_map(ConnEvent::Message),
        1 => notification().prop_map(ConnEvent::DecodeError),
        1 => Just(ConnEvent::SendStalled),
        1 => Just(ConnEvent::SendProgress),
    ]
}

fn peer_step() -> impl Strategy<Value = PeerStep> {
    prop_oneof![
        1 => Just(PeerStep::Start),
        1 => Just(PeerStep::Stop),
        2 => Just(PeerStep::Accept),
        10 => (0usize..6, conn_event()).prop_map(|(i, e)| PeerStep::Event(i, e)),
        2 => (0u64..200_000).prop_map(PeerStep::Advance),
        3 => Just(PeerStep::NextDeadline),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_never_break_a_peer(
        config in config(),
        prefix in prop::option::of(good_open()),
        steps in prop::collection::vec(peer_step(), 0..80),
    ) {
        let mut p = Peer::new(config);
        let mut now = Instant::now();
        let mut ids: Vec<ConnId> = Vec::new();
        // Half the runs start from an incoming session scripted towards
        // Established.
        let scripted = prefix.into_iter().flat_map(|open| {
            [
                PeerStep::Start,
                PeerStep::Accept,
                PeerStep::Event(0, ConnEvent::Message(Message::Open(open))),
                PeerStep::Event(0, ConnEvent::Message(Message::Keepalive)),
            ]
        });
        let steps = scripted.chain(steps);
        for step in steps {
            let mut timed_out = false;
            match step {
                PeerStep::Start => p.start(now),
                PeerStep::Stop => p.stop(now, None),
                PeerStep::Accept => ids.push(p.accept(now)),
                PeerStep::Event(i, e) => {
                    let conn = ids.get(i).copied().unwrap_or(ConnId(u64::MAX));
                    p.handle_input(now, conn, e);
                }
                PeerStep::Advance(ms) => {
                    now += Duration::from_millis(ms);
                    p.handle_timeout(now);
                    timed_out = true;
                }
                PeerStep::NextDeadline => {
                    if let Some(t) = p.poll_timeout() {
                        now = now.max(t);
                    }
                    p.handle_timeout(now);
                    timed_out = true;
                }
            }
            if timed_out {
                prop_assert!(p.poll_timeout().is_none_or(|t| t > now));
            }
            while let Some(o) = p.poll_output() {
                if let PeerOutput::Connect(c) = o {
                    prop_assert!(!ids.contains(&c), "fresh connection ids");
                    ids.push(c);
                }
            }
            let conns = p.connections();
            prop_assert!(conns.len() <= 2);
            let past_open_sent = conns
                .iter()
                .filter(|(_, _, s)| matches!(s, State::OpenConfirm | State::Established))
                .count();
            prop_assert!(past_open_sent <= 1, "{:?}", conns);
        }
    }
}
