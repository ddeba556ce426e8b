//! Property test: random sequences of UPDATEs, session events, graceful
//! restarts and local routes over a small prefix space. After each step
//! the RIB's best route per prefix must equal a naive reference (all
//! candidates kept in a plain map, best picked with `compare`), and the
//! concatenation of `take_fib_changes` / `take_exports` (for an observer
//! eBGP peer) must reproduce the reference state.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use proptest::prelude::*;
use vcpe_bgp::model::{AddrFamily, AsPath, Origin, PathAttributes};
use vcpe_bgp::rib::{
    BestChange, Candidate, CandidateSource, PeerId, Rib, RouteSource, compare, same_neighbor_as,
};

#[path = "rib_helpers.rs"]
mod helpers;
use helpers::*;

const PREFIXES: [&str; 5] = [
    "10.0.0.0/24",
    "10.0.1.0/24",
    "10.0.0.0/16",
    "2001:db8::/48",
    "2001:db8:1::/48",
];

/// Peers that announce: (n, AS). 1 and 3 share a neighbor AS (MED
/// compared), 4 is iBGP.
const PEERS: [(u8, u32); 4] = [(1, 64501), (2, 64502), (3, 64501), (4, LOCAL_AS)];
/// Untouched local routes originated first.
const BACKGROUND: u32 = 64;
/// The observer: eBGP, never announces, always up.
const OBSERVER: (u8, u32) = (9, 64509);

#[derive(Debug, Clone)]
enum Op {
    Announce {
        peer: usize,
        prefixes: Vec<usize>,
        attrs: AttrSpec,
    },
    Withdraw {
        peer: usize,
        prefixes: Vec<usize>,
    },
    Down(usize),
    DownGraceful(usize, bool, bool),
    Up(usize),
    EndOfRib(usize, bool),
    Purge(usize),
    Originate(usize, bool),
    WithdrawLocal(usize),
    TakeFib,
    TakeExports,
}

#[derive(Debug, Clone)]
struct AttrSpec {
    path: usize,
    med: Option<u32>,
    local_pref: Option<u32>,
    origin: u8,
}

fn attr_spec() -> impl Strategy<Value = AttrSpec> {
    // Skewed towards equal attributes, so that the later tie-breaks (and
    // MED cycles between three paths) are reached often.
    (
        prop_oneof![6 => Just(0usize), 1 => 1..6usize],
        proptest::option::of(0..3u32),
        prop_oneof![6 => Just(None), 1 => prop_oneof![Just(Some(50u32)), Just(Some(100)), Just(Some(200))]],
        prop_oneof![6 => Just(0u8), 1 => 1..3u8],
    )
        .prop_map(|(path, med, local_pref, origin)| AttrSpec {
            path,
            med,
            local_pref,
            origin,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let peer = 0..PEERS.len();
    let prefixes = proptest::collection::vec(0..PREFIXES.len(), 1..4);
    prop_oneof![
        8 => (peer.clone(), prefixes.clone(), attr_spec())
            .prop_map(|(peer, prefixes, attrs)| Op::Announce { peer, prefixes, attrs }),
        3 => (peer.clone(), prefixes).prop_map(|(peer, prefixes)| Op::Withdraw { peer, prefixes }),
        1 => peer.clone().prop_map(Op::Down),
        1 => (peer.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(p, a, b)| Op::DownGraceful(p, a, b)),
        2 => peer.clone().prop_map(Op::Up),
        1 => (peer.clone(), any::<bool>()).prop_map(|(p, v4)| Op::EndOfRib(p, v4)),
        1 => peer.prop_map(Op::Purge),
        2 => (0..PREFIXES.len(), any::<bool>()).prop_map(|(p, nh)| Op::Originate(p, nh)),
        1 => (0..PREFIXES.len()).prop_map(Op::WithdrawLocal),
        2 => Just(Op::TakeFib),
        2 => Just(Op::TakeExports),
    ]
}

fn family(p: &IpNet) -> AddrFamily {
    match p {
        IpNet::V4(_) => AddrFamily::IPV4_UNICAST,
        IpNet::V6(_) => AddrFamily::IPV6_UNICAST,
    }
}

/// The attributes a spec stands for, from peer AS `asn`, for `prefix`'s
/// family.
fn build(spec: &AttrSpec, asn: u32, v4: bool) -> PathAttributes {
    let first = if asn == LOCAL_AS { 64502 } else { asn };
    let path = match spec.path {
        0 => vec![first],
        1 => vec![first, 7],
        2 => vec![first, 7, 8],
        3 => vec![first, LOCAL_AS],
        4 => vec![first, OBSERVER.1],
        _ => vec![],
    };
    let mut a = attrs(&path);
    a.med = spec.med;
    a.local_pref = spec.local_pref;
    a.origin = [Origin::Igp, Origin::Egp, Origin::Incomplete][usize::from(spec.origin)];
    if !v4 {
        a.next_hop = Some("2001:db8:ff::1".parse().expect("v6"));
    }
    a
}

#[derive(Debug, Clone, PartialEq)]
struct RefPath {
    attrs: PathAttributes,
    stale: bool,
}

/// The reference: every candidate in plain maps.
#[derive(Debug, Default)]
struct Reference {
    up: [bool; PEERS.len()],
    /// (peer index or None = local, prefix) -> path.
    paths: BTreeMap<(IpNet, Option<usize>), RefPath>,
}

fn source(peer: Option<usize>) -> CandidateSource {
    match peer {
        None => CandidateSource::Local,
        Some(i) => {
            let (n, asn) = PEERS[i];
            CandidateSource::Peer {
                ebgp: asn != LOCAL_AS,
                router_id: router_id(n),
                addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)),
            }
        }
    }
}

impl Reference {
    fn best(&self, prefix: &IpNet) -> Option<(RouteSource, PathAttributes)> {
        let cands: Vec<(Option<usize>, &PathAttributes)> = self
            .paths
            .iter()
            .filter(|((p, _), _)| p == prefix)
            .map(|((_, s), rp)| (*s, &rp.attrs))
            .collect();
        let c = |i: usize| Candidate {
            attrs: cands[i].1,
            source: source(cands[i].0),
        };
        let beats = |i: usize, j: usize| compare(&c(i), &c(j)).0 == Ordering::Less;
        let n = cands.len();
        if n == 0 {
            return None;
        }
        // A path that beats every other one must be chosen.
        let condorcet = (0..n).find(|&i| (0..n).all(|j| i == j || beats(i, j)));
        let chosen = condorcet.unwrap_or_else(|| {
            // Otherwise deterministic MED: best per neighbor AS, then best
            // of those (both stages are total orders).
            let winners: Vec<usize> = (0..n)
                .filter(|&i| {
                    (0..n)
                        .all(|j| i == j || !same_neighbor_as(cands[i].1, cands[j].1) || beats(i, j))
                })
                .collect();
            *winners
                .iter()
                .find(|&&i| winners.iter().all(|&j| i == j || beats(i, j)))
                .expect("a total order has a maximum")
        });
        let src = match cands[chosen].0 {
            None => RouteSource::Local,
            Some(i) => RouteSource::Peer(PeerId(u32::from(PEERS[i].0))),
        };
        Some((src, cands[chosen].1.clone()))
    }

    fn bests(&self) -> BTreeMap<IpNet, (RouteSource, PathAttributes)> {
        let prefixes: std::collections::BTreeSet<IpNet> =
            self.paths.keys().map(|(p, _)| *p).collect();
        prefixes
            .into_iter()
            .filter_map(|p| self.best(&p).map(|b| (p, b)))
            .collect()
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut rib = rib();
    let mut reference = Reference::default();
    for (n, asn) in PEERS {
        rib.add_peer(PeerId(u32::from(n)), peer_config(asn, n));
    }
    let observer = add_up(&mut rib, OBSERVER.0, peer_config(OBSERVER.1, OBSERVER.0));
    // Background routes nobody touches: the table is large compared to the
    // changes between takes, so the RIB reads changes from its journal
    // (small windows) as well as by walking the table (large ones).
    for i in 0..BACKGROUND {
        let p = net(&format!("10.99.{i}.0/24"));
        rib.originate(p, None);
        reference.paths.insert(
            (p, None),
            RefPath {
                attrs: PathAttributes {
                    origin: Origin::Igp,
                    as_path: AsPath::default(),
                    next_hop: None,
                    local_pref: Some(100),
                    ..PathAttributes::default()
                },
                stale: false,
            },
        );
    }
    let mut fib: BTreeMap<IpNet, (RouteSource, PathAttributes)> = BTreeMap::new();
    let mut adj_out: BTreeMap<IpNet, PathAttributes> = BTreeMap::new();
    let id = |i: usize| PeerId(u32::from(PEERS[i].0));

    for op in ops {
        match op {
            Op::Announce {
                peer,
                prefixes,
                attrs,
            } => {
                let (_, asn) = PEERS[peer];
                for v4 in [true, false] {
                    let ps: Vec<IpNet> = prefixes
                        .iter()
                        .map(|&i| net(PREFIXES[i]))
                        .filter(|p| matches!(p, IpNet::V4(_)) == v4)
                        .collect();
                    let a = build(&attrs, asn, v4);
                    let out = rib.apply(id(peer), &[], &ps, Some(&a)).expect("no limit");
                    prop_assert_eq!(out.ignored, !reference.up[peer]);
                    if !reference.up[peer] {
                        continue;
                    }
                    let ebgp = asn != LOCAL_AS;
                    let mut stored = a.clone();
                    if ebgp {
                        stored.local_pref = None;
                    }
                    for p in ps {
                        if ebgp && a.as_path.contains(LOCAL_AS) {
                            reference.paths.remove(&(p, Some(peer)));
                        } else {
                            reference.paths.insert(
                                (p, Some(peer)),
                                RefPath {
                                    attrs: stored.clone(),
                                    stale: false,
                                },
                            );
                        }
                    }
                }
            }
            Op::Withdraw { peer, prefixes } => {
                let ps: Vec<IpNet> = prefixes.iter().map(|&i| net(PREFIXES[i])).collect();
                rib.apply(id(peer), &ps, &[], None).expect("no limit");
                if reference.up[peer] {
                    for p in ps {
                        reference.paths.remove(&(p, Some(peer)));
                    }
                }
            }
            Op::Down(peer) => {
                rib.peer_down(id(peer));
                reference.up[peer] = false;
                reference.paths.retain(|(_, s), _| *s != Some(peer));
            }
            Op::DownGraceful(peer, keep4, keep6) => {
                let mut fams = Vec::new();
                if keep4 {
                    fams.push(AddrFamily::IPV4_UNICAST);
                }
                if keep6 {
                    fams.push(AddrFamily::IPV6_UNICAST);
                }
                rib.peer_down_graceful(id(peer), &fams);
                reference.up[peer] = false;
                reference.paths.retain(|(p, s), rp| {
                    if *s != Some(peer) {
                        return true;
                    }
                    rp.stale = true;
                    fams.contains(&family(p))
                });
            }
            Op::Up(peer) => {
                rib.peer_up(id(peer), up(PEERS[peer].0));
                reference.up[peer] = true;
            }
            Op::EndOfRib(peer, v4) => {
                let f = if v4 {
                    AddrFamily::IPV4_UNICAST
                } else {
                    AddrFamily::IPV6_UNICAST
                };
                rib.end_of_rib(id(peer), f);
                reference
                    .paths
                    .retain(|(p, s), rp| !(*s == Some(peer) && rp.stale && family(p) == f));
            }
            Op::Purge(peer) => {
                rib.purge_stale(id(peer));
                reference
                    .paths
                    .retain(|(_, s), rp| !(*s == Some(peer) && rp.stale));
            }
            Op::Originate(i, with_nh) => {
                let p = net(PREFIXES[i]);
                let nh = with_nh.then(|| match p {
                    IpNet::V4(_) => IpAddr::V4(Ipv4Addr::new(172, 16, 0, 1)),
                    IpNet::V6(_) => "2001:db8:aa::1".parse().expect("v6"),
                });
                rib.originate(p, nh);
                let a = PathAttributes {
                    origin: Origin::Igp,
                    as_path: AsPath::default(),
                    next_hop: nh,
                    local_pref: Some(100),
                    ..PathAttributes::default()
                };
                reference.paths.insert(
                    (p, None),
                    RefPath {
                        attrs: a,
                        stale: false,
                    },
                );
            }
            Op::WithdrawLocal(i) => {
                let p = net(PREFIXES[i]);
                rib.withdraw_local(p);
                reference.paths.remove(&(p, None));
            }
            Op::TakeFib => {
                apply_fib(&mut fib, rib.take_fib_changes())?;
                prop_assert_eq!(&fib, &reference.bests());
            }
            Op::TakeExports => {
                apply_export(&mut adj_out, &mut rib, observer)?;
                prop_assert_eq!(&adj_out, &expected_out(&reference));
            }
        }
        // Best routes equal the reference after every step.
        for p in PREFIXES {
            let got = rib.best(net(p)).map(|b| (b.source, (*b.attrs).clone()));
            prop_assert_eq!(got, reference.best(&net(p)), "prefix {}", p);
        }
        let paths = rib.counts().paths;
        prop_assert_eq!(paths, reference.paths.len() as u64);
    }
    apply_fib(&mut fib, rib.take_fib_changes())?;
    prop_assert_eq!(&fib, &reference.bests());
    apply_export(&mut adj_out, &mut rib, observer)?;
    prop_assert_eq!(&adj_out, &expected_out(&reference));
    // And the CLI view agrees with what was sent.
    let shown: BTreeMap<IpNet, PathAttributes> = rib
        .adj_out(observer)
        .into_iter()
        .map(|r| (r.prefix, (*r.attrs).clone()))
        .collect();
    prop_assert_eq!(&shown, &adj_out);
    Ok(())
}

fn apply_fib(
    fib: &mut BTreeMap<IpNet, (RouteSource, PathAttributes)>,
    changes: Vec<BestChange>,
) -> Result<(), TestCaseError> {
    let mut seen = std::collections::BTreeSet::new();
    for c in changes {
        prop_assert!(seen.insert(c.prefix()), "one change per prefix");
        match c {
            BestChange::Add { prefix, route } => {
                prop_assert!(!fib.contains_key(&prefix), "Add of a present prefix");
                fib.insert(prefix, (route.source, (*route.attrs).clone()));
            }
            BestChange::Replace { prefix, route } => {
                let old = fib.insert(prefix, (route.source, (*route.attrs).clone()));
                prop_assert!(old.is_some(), "Replace of an absent prefix");
                prop_assert_ne!(old, fib.get(&prefix).cloned(), "Replace with no change");
            }
            BestChange::Remove { prefix } => {
                prop_assert!(fib.remove(&prefix).is_some(), "Remove of an absent prefix");
            }
        }
    }
    Ok(())
}

fn apply_export(
    adj_out: &mut BTreeMap<IpNet, PathAttributes>,
    rib: &mut Rib,
    observer: PeerId,
) -> Result<(), TestCaseError> {
    let e = rib.take_exports(observer);
    for w in &e.withdraw {
        prop_assert!(adj_out.remove(w).is_some(), "withdrawal of {} not held", w);
    }
    for (a, ps) in &e.announce {
        for p in ps {
            prop_assert!(!e.withdraw.contains(p));
            let old = adj_out.insert(*p, (**a).clone());
            prop_assert_ne!(old.as_ref(), Some(&**a), "re-announced unchanged {}", p);
        }
    }
    Ok(())
}

/// What the observer (eBGP, AS 64509) must hold: every best route except
/// those with its AS in the path, prepended, next hop ours, no
/// LOCAL_PREF/MED.
fn expected_out(reference: &Reference) -> BTreeMap<IpNet, PathAttributes> {
    reference
        .bests()
        .into_iter()
        .filter(|(_, (_, a))| !a.as_path.contains(OBSERVER.1))
        .map(|(p, (_, a))| {
            let mut o = a.clone();
            o.as_path = a.as_path.prepend(LOCAL_AS);
            o.local_pref = None;
            o.med = None;
            o.link_local_next_hop = None;
            o.next_hop = Some(match p {
                IpNet::V4(_) => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
                IpNet::V6(_) => "2001:db8::fe".parse().expect("v6"),
            });
            (p, o)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn rib_matches_reference(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
