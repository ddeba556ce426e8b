//! Two systems wired back to back in memory with a fake clock (as
//! quinn's `Pair`): the time jumps to the next deadline, packets cross
//! instantly unless a direction is cut.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use crate::sessions::{PathKind, Received, SessionId, SessionKey, Sessions};
use crate::wire::{self, Diag, State};

use super::{DownCause, Event, SessionConfig};

mod auth;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

struct Side {
    sys: Sessions,
    id: SessionId,
    addr: IpAddr,
    events: Vec<(Instant, Event)>,
    /// Every packet this side sent, decoded.
    sent: Vec<(Instant, wire::ControlPacket)>,
}

struct Pair {
    now: Instant,
    start: Instant,
    a: Side,
    b: Side,
    /// Deliver A's packets to B.
    a_to_b: bool,
    /// Deliver B's packets to A.
    b_to_a: bool,
    /// B is frozen: it neither sends nor receives (a SIGSTOPped peer).
    b_frozen: bool,
}

fn side(now: Instant, seed: u64, addr: IpAddr, peer: IpAddr, config: SessionConfig) -> Side {
    let mut sys = Sessions::new(seed);
    let key = SessionKey {
        peer,
        local: Some(addr),
        path: PathKind::SingleHop,
    };
    let id = sys.add(now, key, config);
    Side {
        sys,
        id,
        addr,
        events: Vec::new(),
        sent: Vec::new(),
    }
}

impl Pair {
    fn new(config: SessionConfig) -> Pair {
        let now = Instant::now();
        Pair {
            now,
            start: now,
            a: side(now, 1, A, B, config.clone()),
            b: side(now, 2, B, A, config),
            a_to_b: true,
            b_to_a: true,
            b_frozen: false,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves packets and events until nothing is queued.
    fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.a.sys.poll_transmit() {
                moved = true;
                self.a
                    .sent
                    .push((self.now, wire::parse(&t.bytes).expect("valid")));
                if self.a_to_b && !self.b_frozen {
                    let rx = received(self.a.addr, self.b.addr);
                    self.b
                        .sys
                        .handle_packet(self.now, rx, &t.bytes)
                        .expect("accepted");
                }
            }
            if !self.b_frozen {
                while let Some(t) = self.b.sys.poll_transmit() {
                    moved = true;
                    self.b
                        .sent
                        .push((self.now, wire::parse(&t.bytes).expect("valid")));
                    if self.b_to_a {
                        let rx = received(self.b.addr, self.a.addr);
                        self.a
                            .sys
                            .handle_packet(self.now, rx, &t.bytes)
                            .expect("accepted");
                    }
                }
            }
            for s in [&mut self.a, &mut self.b] {
                while let Some((_, _, e)) = s.sys.poll_event() {
                    s.events.push((self.now, e));
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Runs until `until` of fake time has passed since the start.
    fn run_until(&mut self, until: Duration) {
        self.drive();
        loop {
            let next = [
                self.a.sys.poll_timeout(),
                (!self.b_frozen)
                    .then(|| self.b.sys.poll_timeout())
                    .flatten(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            if next > self.start + until {
                break;
            }
            self.now = next.max(self.now);
            self.a.sys.handle_timeout(self.now);
            if !self.b_frozen {
                self.b.sys.handle_timeout(self.now);
            }
            self.drive();
        }
        self.now = self.now.max(self.start + until);
    }

    fn state(&self, s: &Side) -> State {
        s.sys.view(s.id).expect("session").state
    }
}

fn received(from: IpAddr, to: IpAddr) -> Received {
    Received {
        from,
        to: Some(to),
        ttl: Some(255),
        path: PathKind::SingleHop,
    }
}

fn up_pair() -> Pair {
    let mut p = Pair::new(SessionConfig::default());
    p.run_until(Duration::from_secs(3));
    assert_eq!(p.state(&p.a), State::Up);
    assert_eq!(p.state(&p.b), State::Up);
    p
}

#[test]
fn two_sessions_back_to_back_come_up_through_init() {
    let mut p = Pair::new(SessionConfig::default());
    p.run_until(Duration::from_secs(3));
    for s in [&p.a, &p.b] {
        let states: Vec<State> = s.events.iter().map(|(_, e)| e.to).collect();
        assert!(
            states == [State::Init, State::Up] || states == [State::Up],
            "{states:?}"
        );
        assert!(
            s.events
                .iter()
                .all(|(t, _)| *t - p.start < Duration::from_secs(1))
        );
    }
    let a = p.a.sys.view(p.a.id).expect("a");
    let b = p.b.sys.view(p.b.id).expect("b");
    assert_eq!(a.remote_discr, b.local_discr);
    assert_eq!(b.remote_discr, a.local_discr);
    // The Poll Sequence that left the one-second rate has ended: 300 ms
    // both ways, detection time 3 × 300 ms.
    assert!(!a.polling && !b.polling);
    assert_eq!(a.tx_interval, Duration::from_millis(300));
    assert_eq!(a.detection_time, Duration::from_millis(900));
}

#[test]
fn while_not_up_packets_go_out_at_most_once_a_second() {
    let mut p = Pair::new(SessionConfig::default());
    p.a_to_b = false;
    p.b_to_a = false;
    p.run_until(Duration::from_secs(10));
    let times: Vec<Instant> = p.a.sent.iter().map(|(t, _)| *t).collect();
    assert!(times.len() >= 10 && times.len() <= 14, "{}", times.len());
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(750) && gap <= Duration::from_secs(1),
            "{gap:?}"
        );
    }
    assert!(
        p.a.sent
            .iter()
            .all(|(_, pk)| pk.desired_min_tx >= 1_000_000 && pk.state == State::Down)
    );
}

#[test]
fn up_sessions_send_every_300ms_with_jitter() {
    let mut p = up_pair();
    let from = p.now;
    p.run_until(Duration::from_secs(13));
    let times: Vec<Instant> =
        p.a.sent
            .iter()
            .filter(|(t, _)| *t > from)
            .map(|(t, _)| *t)
            .collect();
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(225) && gap <= Duration::from_millis(300),
            "{gap:?}"
        );
    }
    // 10 s at 225-300 ms.
    assert!(times.len() >= 33 && times.len() <= 45, "{}", times.len());
}

#[test]
fn a_silent_peer_is_detected_down_after_mult_times_interval() {
    let mut p = up_pair();
    let frozen_at = p.elapsed();
    // The last packet A got from B.
    let last_rx = p.b.sent.last().map(|(t, _)| *t).expect("b sent");
    p.b_frozen = true;
    p.run_until(frozen_at + Duration::from_secs(3));
    let (t, e) = p.a.events.last().copied().expect("a event");
    assert_eq!(e.from, State::Up);
    assert_eq!(e.to, State::Down);
    assert_eq!(e.cause, Some(DownCause::DetectionTimeExpired));
    assert!(e.is_failure());
    assert_eq!(t - last_rx, Duration::from_millis(900));
    let v = p.a.sys.view(p.a.id).expect("a");
    assert_eq!(v.local_diag, Diag::CONTROL_DETECTION_TIME_EXPIRED);
    assert_eq!(v.remote_discr, 0, "forgotten after a detection time");
    assert_eq!(
        v.last_down.map(|(_, c)| c),
        Some(DownCause::DetectionTimeExpired)
    );
    // And back: both come up again once B runs.
    p.b_frozen = false;
    let back_at = p.elapsed();
    p.run_until(back_at + Duration::from_secs(4));
    assert_eq!(p.state(&p.a), State::Up);
    assert_eq!(p.state(&p.b), State::Up);
}

#[test]
fn a_one_way_loss_takes_both_sides_down() {
    let mut p = up_pair();
    let cut = p.elapsed();
    p.b_to_a = false;
    p.run_until(cut + Duration::from_secs(3));
    // A stops hearing B (detection time); B then hears A say Down.
    assert_eq!(
        p.a.events.last().map(|(_, e)| e.cause),
        Some(Some(DownCause::DetectionTimeExpired))
    );
    let b_down =
        p.b.events
            .iter()
            .find(|(_, e)| e.from == State::Up)
            .map(|(_, e)| *e);
    assert_eq!(
        b_down.map(|e| e.cause),
        Some(Some(DownCause::NeighborSignaledDown))
    );
}

#[test]
fn admin_down_is_signalled_and_is_not_a_failure() {
    let mut p = up_pair();
    let now = p.now;
    assert!(p.a.sys.set_admin_down(now, p.a.id, true));
    p.drive();
    assert_eq!(p.state(&p.a), State::AdminDown);
    let (_, e) = p.b.events.last().copied().expect("b event");
    assert_eq!((e.from, e.to), (State::Up, State::Down));
    assert_eq!(e.cause, Some(DownCause::NeighborAdminDown));
    assert!(
        !e.is_failure(),
        "RFC 5882 §3.2: AdminDown is no path failure"
    );
    let t = p.elapsed();
    p.run_until(t + Duration::from_secs(5));
    assert_eq!(p.state(&p.a), State::AdminDown, "stays down");
    assert_eq!(p.state(&p.b), State::Down);
    let last = p.a.sent.last().map(|(_, pk)| pk.clone()).expect("sent");
    assert_eq!(
        (last.state, last.diag),
        (State::AdminDown, Diag::ADMINISTRATIVELY_DOWN)
    );
    let now = p.now;
    p.a.sys.set_admin_down(now, p.a.id, false);
    p.run_until(t + Duration::from_secs(10));
    assert_eq!(p.state(&p.a), State::Up);
    assert_eq!(p.state(&p.b), State::Up);
}

#[test]
fn interval_change_runs_a_poll_sequence() {
    let mut p = up_pair();
    let before = p.a.sent.len();
    let slower = SessionConfig {
        desired_min_tx: Duration::from_millis(500),
        required_min_rx: Duration::from_millis(500),
        detect_mult: 3,
        auth: None,
    };
    let now = p.now;
    p.a.sys.reconfigure(now, p.a.id, slower);
    // Before the Final arrives the old rate is still in use.
    let v = p.a.sys.view(p.a.id).expect("a");
    assert!(v.polling);
    assert_eq!(v.tx_interval, Duration::from_millis(300));
    p.drive();
    let poll = &p.a.sent[before].1;
    assert!(poll.poll && !poll.final_);
    assert_eq!(poll.desired_min_tx, 500_000);
    // B answered with F at once, which ended the sequence.
    let fin =
        p.b.sent
            .iter()
            .rev()
            .find(|(_, pk)| pk.final_)
            .expect("final");
    assert_eq!(fin.0, now);
    assert!(!fin.1.poll);
    let v = p.a.sys.view(p.a.id).expect("a");
    assert!(!v.polling);
    assert_eq!(v.tx_interval, Duration::from_millis(500));
    // B now sees A's 500 ms in its detection time, and sends at A's
    // required 500 ms.
    let vb = p.b.sys.view(p.b.id).expect("b");
    assert_eq!(vb.detection_time, Duration::from_millis(1500));
    assert_eq!(vb.tx_interval, Duration::from_millis(500));
    let t = p.elapsed();
    p.run_until(t + Duration::from_secs(3));
    assert!(p.a.sent.iter().skip(before + 1).all(|(_, pk)| !pk.poll));
    assert_eq!(p.state(&p.a), State::Up);
}

#[test]
fn detect_mult_1_keeps_packets_within_90_percent() {
    let mut p = Pair::new(SessionConfig {
        detect_mult: 1,
        ..SessionConfig::default()
    });
    p.run_until(Duration::from_secs(3));
    let from = p.now;
    p.run_until(Duration::from_secs(8));
    let times: Vec<Instant> =
        p.a.sent
            .iter()
            .filter(|(t, _)| *t > from)
            .map(|(t, _)| *t)
            .collect();
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap <= Duration::from_millis(270), "{gap:?}");
    }
    assert_eq!(p.state(&p.a), State::Up);
}

#[test]
fn malformed_and_stray_packets_are_dropped_with_a_counted_reason() {
    let mut p = up_pair();
    let now = p.now;
    let good = {
        let mut b = bytes::BytesMut::new();
        p.b.sent.last().expect("sent").1.emit(&mut b);
        b
    };
    let rx = received(B, A);
    // Truncated.
    assert!(p.a.sys.handle_packet(now, rx, &good[..10]).is_err());
    // Multipoint bit.
    let mut m = good.to_vec();
    m[1] |= 1;
    assert!(p.a.sys.handle_packet(now, rx, &m).is_err());
    // TTL 254 on a single-hop session.
    let hop = Received {
        ttl: Some(254),
        ..rx
    };
    assert!(p.a.sys.handle_packet(now, hop, &good).is_err());
    // An unknown your-discriminator.
    let mut u = good.to_vec();
    u[8..12].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
    assert!(p.a.sys.handle_packet(now, rx, &u).is_err());
    // The right discriminator from the wrong address.
    let stranger = Received {
        from: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
        ..rx
    };
    assert!(p.a.sys.handle_packet(now, stranger, &good).is_err());
    // Your-discriminator 0 (state Down) from nobody we know.
    let mut z = good.to_vec();
    z[1] = 0x40;
    z[8..12].fill(0);
    assert!(p.a.sys.handle_packet(now, stranger, &z).is_err());
    // Authenticated packet to a session without authentication.
    let mut a = good.to_vec();
    a[1] |= 0x04;
    a[3] = 24 + 28;
    a.extend_from_slice(&[4, 28, 1, 0, 0, 0, 0, 1]);
    a.extend_from_slice(&[0; 20]);
    assert!(p.a.sys.handle_packet(now, rx, &a).is_err());
    let drops = p.a.sys.drops();
    for (name, n) in [
        ("truncated", 1),
        ("multipoint", 1),
        ("ttl_not_255", 1),
        ("unknown_discriminator", 1),
        ("wrong_peer", 1),
        ("no_session", 1),
        ("auth_not_in_use", 1),
    ] {
        assert_eq!(drops.get(name), Some(&n), "{name}: {drops:?}");
    }
    // None of it touched the session.
    assert_eq!(p.state(&p.a), State::Up);
}

#[test]
fn multihop_packets_need_no_ttl_255() {
    let now = Instant::now();
    let mut a = Sessions::new(1);
    let key = SessionKey {
        peer: B,
        local: None,
        path: PathKind::MultiHop,
    };
    let id = a.add(now, key, SessionConfig::default());
    let mut b = Sessions::new(2);
    b.add(
        now,
        SessionKey {
            peer: A,
            local: None,
            path: PathKind::MultiHop,
        },
        SessionConfig::default(),
    );
    let t = b.poll_transmit().expect("b sends at once");
    let rx = Received {
        from: B,
        to: None,
        ttl: Some(250),
        path: PathKind::MultiHop,
    };
    assert_eq!(a.handle_packet(now, rx, &t.bytes), Ok(id));
    assert_eq!(a.view(id).map(|v| v.state), Some(State::Init));
    // The same bytes on the single-hop port match no session.
    let single = Received {
        path: PathKind::SingleHop,
        ttl: Some(255),
        ..rx
    };
    assert!(a.handle_packet(now, single, &t.bytes).is_err());
}

#[test]
fn adding_the_same_key_twice_is_one_session() {
    let now = Instant::now();
    let mut s = Sessions::new(3);
    let key = SessionKey {
        peer: B,
        local: None,
        path: PathKind::SingleHop,
    };
    let a = s.add(now, key, SessionConfig::default());
    let b = s.add(now, key, SessionConfig::default());
    assert_eq!(a, b);
    assert_eq!(s.views().count(), 1);
    assert!(s.remove(a));
    assert_eq!(s.views().count(), 0);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn coalesced_wake_ups_keep_every_session_within_the_jitter_bounds() {
    // 50 sessions to 50 peers in one system that may send 5 ms early:
    // fewer distinct send instants, every interval still 75-100%.
    let start = Instant::now();
    let config = SessionConfig {
        desired_min_tx: Duration::from_millis(100),
        required_min_rx: Duration::from_millis(100),
        ..SessionConfig::default()
    };
    let run = |early: Duration| {
        let mut sys = Sessions::new(9).with_early(early);
        let mut peers = Vec::new();
        for i in 0..50u8 {
            let addr = IpAddr::V4(Ipv4Addr::new(10, 1, 0, i + 1));
            sys.add(
                start,
                SessionKey {
                    peer: addr,
                    local: None,
                    path: PathKind::SingleHop,
                },
                config.clone(),
            );
            let mut p = Sessions::new(100 + u64::from(i));
            p.add(
                start,
                SessionKey {
                    peer: A,
                    local: None,
                    path: PathKind::SingleHop,
                },
                config.clone(),
            );
            peers.push((addr, p));
        }
        let mut now = start;
        let mut sent: std::collections::BTreeMap<IpAddr, Vec<Instant>> = Default::default();
        let mut wakeups = 0;
        while now < start + Duration::from_secs(10) {
            // Deliver everything both ways, then sleep to the next deadline.
            loop {
                let mut moved = false;
                while let Some(t) = sys.poll_transmit() {
                    moved = true;
                    sent.entry(t.key.peer).or_default().push(now);
                    if let Some((_, p)) = peers.iter_mut().find(|(a, _)| *a == t.key.peer) {
                        let _ = p.handle_packet(now, received(A, t.key.peer), &t.bytes);
                    }
                }
                for (addr, p) in peers.iter_mut() {
                    while let Some(t) = p.poll_transmit() {
                        moved = true;
                        let _ = sys.handle_packet(now, received(*addr, A), &t.bytes);
                    }
                }
                if !moved {
                    break;
                }
            }
            let next = peers
                .iter()
                .filter_map(|(_, p)| p.poll_timeout())
                .chain(sys.poll_timeout())
                .min()
                .expect("timers");
            now = next.max(now);
            if sys.poll_timeout().is_some_and(|t| t <= now) {
                wakeups += 1;
                sys.handle_timeout(now);
            }
            for (_, p) in peers.iter_mut() {
                p.handle_timeout(now);
            }
        }
        assert!(sys.views().all(|(_, _, v)| v.state == State::Up));
        (sent, wakeups)
    };
    let (exact, exact_wakeups) = run(Duration::ZERO);
    let (early, early_wakeups) = run(Duration::from_millis(5));
    assert!(
        early_wakeups * 2 < exact_wakeups,
        "{early_wakeups} wake-ups with 5 ms early, {exact_wakeups} without"
    );
    for sent in [&exact, &early] {
        for times in sent.values() {
            // Once Up at 100 ms: skip the slow start and the Poll.
            let up: Vec<&Instant> = times
                .iter()
                .filter(|t| **t > start + Duration::from_secs(3))
                .collect();
            for w in up.windows(2) {
                let gap = *w[1] - *w[0];
                assert!(
                    gap >= Duration::from_millis(75) && gap <= Duration::from_millis(100),
                    "{gap:?}"
                );
            }
        }
    }
}
