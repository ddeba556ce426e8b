//! Output flow control (issue 19 item 4): a neighbor that reads slowly
//! while another flaps its routes gets its pending changes coalesced per
//! prefix in the RIB, not one encoded UPDATE per change queued towards it.
//!
//! Three speakers in memory: X (under test) between F, which flaps its
//! routes, and S, whose connection takes nothing while `slow` is set: X's
//! writes towards it wait in `held` and are not reported written.

use super::*;

const X: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const F: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

/// Prefixes F flaps.
const ROUTES: u32 = 4000;
/// Flaps (announce all, withdraw all).
const FLAPS: usize = 50;

struct Mesh {
    now: Instant,
    /// X, F, S.
    sp: [Speaker; 3],
    /// (speaker, key) ↔ (speaker, key).
    links: Vec<((usize, ConnKey), (usize, ConnKey))>,
    /// X's connection to S takes nothing: X's writes wait here.
    slow: bool,
    held: Vec<(ConnKey, Bytes)>,
    /// Bytes X handed out towards S, and F towards X.
    x_to_s: usize,
    f_to_x: usize,
    /// The largest single write of X towards S.
    x_to_s_largest: usize,
}

fn addr(i: usize) -> Ipv4Addr {
    [X, F, S][i]
}

impl Mesh {
    fn new() -> Mesh {
        let now = Instant::now();
        let asn = |i: usize| 65001 + i as u32;
        let mut sp = [0, 1, 2].map(|i| {
            Speaker::new(LocalConfig {
                asn: asn(i),
                router_id: addr(i),
            })
        });
        for j in [1, 2] {
            sp[0].add_neighbor(now, neighbor(asn(0), X, asn(j), addr(j), true));
            sp[j].add_neighbor(now, neighbor(asn(j), addr(j), asn(0), X, false));
        }
        Mesh {
            now,
            sp,
            links: Vec::new(),
            slow: false,
            held: Vec::new(),
            x_to_s: 0,
            f_to_x: 0,
            x_to_s_largest: 0,
        }
    }

    fn other_end(&self, i: usize, key: ConnKey) -> Option<(usize, ConnKey)> {
        self.links.iter().find_map(|&(l, r)| {
            if l == (i, key) {
                Some(r)
            } else if r == (i, key) {
                Some(l)
            } else {
                None
            }
        })
    }

    fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            for i in 0..3 {
                while let Some(act) = self.sp[i].poll_action() {
                    moved = true;
                    self.act(i, act);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("speakers never went quiet");
    }

    fn act(&mut self, i: usize, act: Action) {
        let now = self.now;
        match act {
            Action::Connect { key, addr: to } => {
                let j = (0..3).find(|&j| IpAddr::V4(addr(j)) == to).unwrap();
                let peer = self.sp[j].neighbor_by_addr(IpAddr::V4(addr(i))).unwrap();
                match self.sp[j].accept(now, peer) {
                    Some(jk) => {
                        self.links.push(((i, key), (j, jk)));
                        self.sp[i].connected(now, key);
                    }
                    None => self.sp[i].connect_failed(now, key),
                }
            }
            Action::Write { key, bytes } => {
                let Some((j, jk)) = self.other_end(i, key) else {
                    return;
                };
                if i == 0 && j == 2 {
                    self.x_to_s += bytes.len();
                    self.x_to_s_largest = self.x_to_s_largest.max(bytes.len());
                    if self.slow {
                        self.held.push((key, bytes));
                        return;
                    }
                }
                if i == 1 && j == 0 {
                    self.f_to_x += bytes.len();
                }
                self.sp[j].received(now, jk, &bytes);
                self.sp[i].written(now, key, bytes.len() as u64);
            }
            Action::Close { key } => {
                if let Some((j, jk)) = self.other_end(i, key) {
                    self.links.retain(|&(l, r)| l != (i, key) && r != (i, key));
                    self.sp[j].closed(now, jk);
                }
            }
            Action::Up { .. } | Action::Down { .. } => {}
        }
    }

    /// S reads everything X queued (and what that frees up), at full speed.
    fn drain_slow(&mut self) {
        self.slow = false;
        loop {
            let held = std::mem::take(&mut self.held);
            if held.is_empty() {
                break;
            }
            for (key, bytes) in held {
                let (j, jk) = self.other_end(0, key).unwrap();
                self.sp[j].received(self.now, jk, &bytes);
                self.sp[0].written(self.now, key, bytes.len() as u64);
            }
            self.pump();
        }
    }

    fn x_sees_s(&self) -> NeighborSummary {
        let id = self.sp[0].neighbor_by_addr(IpAddr::V4(S)).unwrap();
        self.sp[0]
            .summaries(self.now)
            .into_iter()
            .find(|s| s.id == id)
            .unwrap()
    }
}

fn prefix(i: u32) -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).unwrap())
}

#[test]
fn a_slow_peer_gets_changes_coalesced_not_every_flap_queued() {
    let mut m = Mesh::new();
    m.pump();
    assert!(
        m.sp[0]
            .summaries(m.now)
            .iter()
            .all(|s| s.state == "Established"),
        "{:?}",
        m.sp[0].summaries(m.now)
    );
    m.slow = true;
    for _ in 0..FLAPS {
        for i in 0..ROUTES {
            m.sp[1].originate(m.now, prefix(i), None);
        }
        m.pump();
        for i in 0..ROUTES {
            m.sp[1].withdraw_local(m.now, prefix(i));
        }
        m.pump();
    }
    // Final state: the first three quarters announced.
    let last = ROUTES * 3 / 4;
    for i in 0..last {
        m.sp[1].originate(m.now, prefix(i), None);
    }
    m.pump();
    assert_eq!(
        m.sp[0]
            .rib()
            .adj_in(m.sp[0].neighbor_by_addr(IpAddr::V4(F)).unwrap())
            .len(),
        last as usize
    );

    // Bounded: output stopped at the high watermark plus one batch.
    let held: usize = m.held.iter().map(|(_, b)| b.len()).sum();
    assert!(
        m.x_to_s as u64 <= OUT_HIGH + m.x_to_s_largest as u64,
        "{} bytes handed out towards the slow peer (largest write {}), {} of F's flaps towards X",
        m.x_to_s,
        m.x_to_s_largest,
        m.f_to_x
    );
    let s = m.x_sees_s();
    assert!(s.out_behind, "{s:?}");
    assert_eq!(s.out_queued_bytes, held as u64, "{s:?}");
    let detail = m.sp[0].neighbor_detail(IpAddr::V4(S), m.now).unwrap();
    let pending = detail.counts.unwrap().pending_out;
    assert!(
        pending > 0 && pending <= u64::from(ROUTES),
        "pending {pending}: one per prefix at most"
    );

    // S reads at full speed: it ends with exactly F's final table, and
    // got far fewer bytes than F's flaps took.
    m.drain_slow();
    let s = m.x_sees_s();
    assert!(!s.out_behind && s.out_queued_bytes == 0, "{s:?}");
    let x_at_s = m.sp[2].neighbor_by_addr(IpAddr::V4(X)).unwrap();
    let mut got: Vec<IpNet> = m.sp[2]
        .rib()
        .adj_in(x_at_s)
        .iter()
        .map(|r| r.prefix)
        .collect();
    got.sort();
    let mut want: Vec<IpNet> = (0..last).map(prefix).collect();
    want.sort();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "S's table is not F's final one");
    eprintln!(
        "slow peer: {} bytes towards it in all, {} of flaps from F",
        m.x_to_s, m.f_to_x
    );
    assert!(
        m.x_to_s * 4 < m.f_to_x,
        "{} bytes towards the slow peer for {} of flaps",
        m.x_to_s,
        m.f_to_x
    );
}
