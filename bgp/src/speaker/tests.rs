//! Two speakers wired back to back in memory, bytes and all, with a fake
//! clock: the whole stack (FSM, codec, RIB) without sockets.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

mod bfd_down;
mod slow_peer;

use super::*;
use crate::fsm::{DownReason, SessionConfig};
use crate::rib::{BestChange, PeerConfig};

struct Pair {
    a: Speaker,
    b: Speaker,
    now: Instant,
    /// Connections: a's key ↔ b's key.
    links: Vec<(ConnKey, ConnKey)>,
    a_peer: PeerId,
    b_peer: PeerId,
    /// Bytes moved in each direction.
    bytes_ab: usize,
    /// Every write of a, in order.
    written_by_a: Vec<Bytes>,
    /// Why a's sessions went down, in order.
    downs_a: Vec<DownCause>,
}

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn neighbor(
    local_as: u32,
    local: Ipv4Addr,
    peer_as: u32,
    peer: Ipv4Addr,
    passive: bool,
) -> NeighborConfig {
    let mut s = SessionConfig::new(local_as, local, peer_as, IpAddr::V4(peer));
    s.passive = passive;
    let mut r = PeerConfig::new(peer_as, IpAddr::V4(peer));
    r.local_addr_v4 = Some(local);
    r.next_hop_self = true;
    NeighborConfig { session: s, rib: r }
}

impl Pair {
    fn new() -> Pair {
        Pair::with(
            neighbor(65001, A, 65002, B, false),
            neighbor(65002, B, 65001, A, true),
        )
    }

    /// a with neighbor b as `a_sees_b`, b with neighbor a as `b_sees_a`.
    fn with(a_sees_b: NeighborConfig, b_sees_a: NeighborConfig) -> Pair {
        let now = Instant::now();
        let mut a = Speaker::new(LocalConfig {
            asn: 65001,
            router_id: A,
        });
        let mut b = Speaker::new(LocalConfig {
            asn: 65002,
            router_id: B,
        });
        let a_peer = a.add_neighbor(now, a_sees_b);
        let b_peer = b.add_neighbor(now, b_sees_a);
        Pair {
            a,
            b,
            now,
            links: Vec::new(),
            a_peer,
            b_peer,
            bytes_ab: 0,
            written_by_a: Vec::new(),
            downs_a: Vec::new(),
        }
    }

    /// Moves actions between the two until both are quiet.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(act) = self.a.poll_action() {
                moved = true;
                match act {
                    Action::Connect { key, .. } => {
                        if let Some(bk) = self.b.accept(self.now, self.b_peer) {
                            self.links.push((key, bk));
                            self.a.connected(self.now, key);
                        } else {
                            self.a.connect_failed(self.now, key);
                        }
                    }
                    Action::Write { key, bytes } => {
                        self.bytes_ab += bytes.len();
                        self.written_by_a.push(bytes.clone());
                        if let Some(&(_, bk)) = self.links.iter().find(|l| l.0 == key) {
                            self.b.received(self.now, bk, &bytes);
                        }
                        self.a.written(self.now, key, bytes.len() as u64);
                    }
                    Action::Close { key } => {
                        if let Some(p) = self.links.iter().position(|l| l.0 == key) {
                            let (_, bk) = self.links.remove(p);
                            self.b.closed(self.now, bk);
                        }
                    }
                    Action::Down { reason, .. } => self.downs_a.push(reason),
                    Action::Up { .. } => {}
                }
            }
            while let Some(act) = self.b.poll_action() {
                moved = true;
                match act {
                    Action::Connect { key, .. } => self.b.connect_failed(self.now, key),
                    Action::Write { key, bytes } => {
                        if let Some(&(ak, _)) = self.links.iter().find(|l| l.1 == key) {
                            self.a.received(self.now, ak, &bytes);
                        }
                        self.b.written(self.now, key, bytes.len() as u64);
                    }
                    Action::Close { key } => {
                        if let Some(p) = self.links.iter().position(|l| l.1 == key) {
                            let (ak, _) = self.links.remove(p);
                            self.a.closed(self.now, ak);
                        }
                    }
                    Action::Up { .. } | Action::Down { .. } => {}
                }
            }
            if !moved {
                return;
            }
        }
        panic!("speakers never went quiet");
    }

    /// Advances the fake clock by `d`, firing timers on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = end;
        self.pump();
    }

    fn established(&self) -> bool {
        self.a.summaries(self.now)[0].state == "Established"
            && self.b.summaries(self.now)[0].state == "Established"
    }
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// The NOTIFICATIONs (code, subcode, data) in `writes`.
fn notifications(writes: &[Bytes]) -> Vec<(u8, u8, Vec<u8>)> {
    let mut out = Vec::new();
    for w in writes {
        let mut rest = &w[..];
        while rest.len() >= 19 {
            let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            let (msg, tail) = rest.split_at(len.clamp(19, rest.len()));
            if msg[18] == 3 && msg.len() >= 21 {
                out.push((msg[19], msg[20], msg[21..].to_vec()));
            }
            rest = tail;
        }
    }
    out
}

#[test]
fn sessions_establish_and_routes_flow_both_ways() {
    let mut p = Pair::new();
    p.a.originate(p.now, net("10.1.0.0/16"), None);
    p.a.originate(p.now, net("fd00:1::/48"), None);
    p.b.originate(p.now, net("10.2.0.0/16"), None);
    p.pump();
    p.advance(Duration::from_secs(1));
    assert!(
        p.established(),
        "{:?} / {:?}",
        p.a.summaries(p.now),
        p.b.summaries(p.now)
    );

    let b_fib = p.b.take_fib_changes();
    let learned: Vec<IpNet> = b_fib
        .iter()
        .filter_map(|c| match c {
            BestChange::Add { prefix, route } if route.source != crate::rib::RouteSource::Local => {
                Some(*prefix)
            }
            _ => None,
        })
        .collect();
    assert!(learned.contains(&net("10.1.0.0/16")), "{b_fib:?}");
    let best = p.b.rib().best(net("10.1.0.0/16")).expect("b has a's route");
    assert_eq!(
        best.attrs.as_path.segments().count(),
        1,
        "{:?}",
        best.attrs.as_path
    );
    assert_eq!(best.attrs.as_path.first_as(), Some(65001));
    assert_eq!(best.next_hop, Some(IpAddr::V4(A)), "next-hop-self on eBGP");
    assert!(p.a.rib().best(net("10.2.0.0/16")).is_some());
    let s = &p.b.summaries(p.now)[0];
    assert!(s.received >= 1 && s.advertised >= 1, "{s:?}");
}

#[test]
fn withdraw_at_one_end_removes_at_the_other() {
    let mut p = Pair::new();
    p.a.originate(p.now, net("10.1.0.0/16"), None);
    p.advance(Duration::from_secs(1));
    assert!(p.b.rib().best(net("10.1.0.0/16")).is_some());
    assert!(p.a.withdraw_local(p.now, net("10.1.0.0/16")));
    p.pump();
    assert!(p.b.rib().best(net("10.1.0.0/16")).is_none());
}

#[test]
fn keepalives_keep_the_session_up_for_ten_minutes() {
    let mut p = Pair::new();
    p.advance(Duration::from_secs(1));
    assert!(p.established());
    p.advance(Duration::from_secs(600));
    assert!(p.established());
    assert_eq!(p.a.summaries(p.now)[0].established_transitions, 1);
}

#[test]
fn a_silent_peer_is_dropped_by_the_hold_timer_and_its_routes_withdrawn() {
    let mut p = Pair::new();
    p.b.originate(p.now, net("10.2.0.0/16"), None);
    p.advance(Duration::from_secs(1));
    assert!(p.a.rib().best(net("10.2.0.0/16")).is_some());
    // Cut the wire silently: nothing moves any more.
    p.links.clear();
    let t0 = p.now;
    let mut down_at = None;
    for _ in 0..200 {
        p.now += Duration::from_secs(1);
        p.a.handle_timeout(p.now);
        while let Some(act) = p.a.poll_action() {
            if let Action::Down { reason, .. } = act {
                down_at.get_or_insert((p.now - t0, reason));
            }
        }
        if down_at.is_some() {
            break;
        }
    }
    let (after, reason) = down_at.expect("hold timer fired");
    assert!(
        after <= Duration::from_secs(91) && after >= Duration::from_secs(60),
        "{after:?}"
    );
    assert!(
        matches!(
            reason,
            DownCause::Session(DownReason::HoldTimerExpired { .. })
        ),
        "{reason}"
    );
    assert!(reason.to_string().contains("hold timer"), "{reason}");
    assert!(p.a.rib().best(net("10.2.0.0/16")).is_none());
}

#[test]
fn garbage_on_the_wire_gets_a_notification_and_the_session_drops() {
    let mut p = Pair::new();
    p.advance(Duration::from_secs(1));
    assert!(p.established());
    let (_, bk) = p.links[0];
    p.b.received(p.now, bk, &[0u8; 19]);
    // b answers with NOTIFICATION 1/1 (connection not synchronized).
    let mut notified = false;
    while let Some(act) = p.b.poll_action() {
        if let Action::Write { bytes, .. } = act
            && bytes.len() >= 21
            && bytes[18] == 3
        {
            assert_eq!((bytes[19], bytes[20]), (1, 1));
            notified = true;
        }
    }
    assert!(notified);
    assert_ne!(p.b.summaries(p.now)[0].state, "Established");
}

#[test]
fn disable_and_enable_a_neighbor() {
    let mut p = Pair::new();
    p.advance(Duration::from_secs(1));
    assert!(p.a.disable(p.now, p.a_peer, Some("maintenance")));
    p.pump();
    assert_eq!(p.a.summaries(p.now)[0].state, "Idle (admin)");
    assert_eq!(p.downs_a, [DownCause::Session(DownReason::AdminStop)]);
    assert!(p.a.enable(p.now, p.a_peer));
    p.advance(Duration::from_secs(10));
    assert!(p.established(), "{:?}", p.a.summaries(p.now));
}

#[test]
fn a_thousand_routes_travel_packed() {
    let mut p = Pair::new();
    p.advance(Duration::from_secs(1));
    for i in 0..1000u32 {
        let n = IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i << 8))), 24).unwrap();
        p.a.rib.originate(n, None);
    }
    let before = p.bytes_ab;
    p.a.flush_exports(p.now);
    p.pump();
    assert!(
        p.b.rib().counts().prefixes >= 1000,
        "{:?}",
        p.b.rib().counts()
    );
    // ~4 bytes per /24 plus a few UPDATE headers, not one UPDATE each.
    assert!(
        p.bytes_ab - before < 1000 * 4 + 10 * 100,
        "{} bytes",
        p.bytes_ab - before
    );
}

/// RFC 4486 §4: the Cease / Maximum Number of Prefixes Reached names the
/// AFI and SAFI of the prefixes that went over the limit, and the limit.
#[test]
fn max_prefix_notification_names_the_family_that_overflowed() {
    for (prefixes, afi) in [
        (["10.2.0.0/16", "10.3.0.0/16"], 1u16),
        (["fd00:2::/48", "fd00:3::/48"], 2u16),
    ] {
        let mut a_sees_b = neighbor(65001, A, 65002, B, false);
        a_sees_b.rib.max_prefixes = Some(1);
        let mut b_sees_a = neighbor(65002, B, 65001, A, true);
        b_sees_a.rib.local_addr_v6 = Some("fd00::2".parse().unwrap());
        let mut p = Pair::with(a_sees_b, b_sees_a);
        p.advance(Duration::from_secs(1));
        assert!(p.established());
        for x in prefixes {
            p.b.rib.originate(net(x), None);
        }
        p.b.flush_exports(p.now);
        p.pump();
        let mut data = afi.to_be_bytes().to_vec();
        data.push(1); // SAFI unicast
        data.extend_from_slice(&1u32.to_be_bytes());
        assert_eq!(
            notifications(&p.written_by_a),
            [(6, 1, data)],
            "{prefixes:?}"
        );
        // Reported as the teardown, not as an operator's stop.
        assert!(
            matches!(
                &p.downs_a[..],
                [DownCause::MaxPrefixes { exceeded, .. }]
                    if exceeded.family.afi.0 == afi && exceeded.limit == 1
            ),
            "{:?}",
            p.downs_a
        );
        let summary = &p.a.summaries(p.now)[0];
        assert_ne!(summary.state, "Established");
        assert!(
            summary
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("max_prefixes")),
            "{summary:?}"
        );
    }
}

/// An UPDATE announcing 10.2.0.0/16 from AS 65002 with ORIGIN `origin`
/// (4-octet AS path; anything above 2 is malformed).
fn update_with_origin(origin: u8) -> Vec<u8> {
    let attrs: &[u8] = &[
        0x40, 1, 1, origin, // ORIGIN
        0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xea, // AS_PATH: AS_SEQUENCE [65002]
        0x40, 3, 4, 10, 0, 0, 2, // NEXT_HOP 10.0.0.2
    ];
    let nlri: &[u8] = &[16, 10, 2];
    let mut m = vec![0xff; 16];
    let len = 19 + 2 + 2 + attrs.len() + nlri.len();
    m.extend_from_slice(&(len as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    m
}

/// RFC 7606 §7.1: a malformed ORIGIN is treat-as-withdraw. The issue
/// travels with its UPDATE only: the next, well-formed UPDATE is applied.
#[test]
fn a_malformed_update_withdraws_and_its_issue_stays_with_it() {
    let mut p = Pair::new();
    p.advance(Duration::from_secs(1));
    assert!(p.established());
    let (ak, _) = p.links[0];
    p.a.received(p.now, ak, &update_with_origin(0));
    p.pump();
    assert!(p.a.rib().best(net("10.2.0.0/16")).is_some());
    p.a.received(p.now, ak, &update_with_origin(7));
    p.pump();
    assert!(
        p.a.rib().best(net("10.2.0.0/16")).is_none(),
        "treat-as-withdraw"
    );
    let s = &p.a.summaries(p.now)[0];
    assert_eq!((s.state.as_str(), s.malformed_updates), ("Established", 1));
    p.a.received(p.now, ak, &update_with_origin(0));
    p.pump();
    assert!(p.a.rib().best(net("10.2.0.0/16")).is_some());
    assert_eq!(p.a.summaries(p.now)[0].malformed_updates, 1);
}
