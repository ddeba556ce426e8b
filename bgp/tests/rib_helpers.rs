//! Shared helpers for the `rib_*` integration tests (included with
//! `#[path]`; as a test target of its own it holds no tests).
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use vcpe_bgp::model::{AddrFamily, AsPath, Origin, PathAttributes};
use vcpe_bgp::rib::{Export, LocalConfig, PeerConfig, PeerId, PeerUp, Rib};

/// Our AS in the tests.
pub const LOCAL_AS: u32 = 65000;

/// A RIB with AS 65000, router id 10.255.255.1.
pub fn rib() -> Rib {
    Rib::new(LocalConfig {
        asn: LOCAL_AS,
        router_id: Ipv4Addr::new(10, 255, 255, 1),
    })
}

/// A prefix from text.
pub fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

/// Prefixes from text.
pub fn nets(v: &[&str]) -> Vec<IpNet> {
    v.iter().map(|s| net(s)).collect()
}

/// The config of peer `n`: address 192.0.2.n, our address 192.0.2.254 and
/// 2001:db8::fe on the session.
pub fn peer_config(asn: u32, n: u8) -> PeerConfig {
    let mut c = PeerConfig::new(asn, IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)));
    c.local_addr_v4 = Some(Ipv4Addr::new(192, 0, 2, 254));
    c.local_addr_v6 = Some("2001:db8::fe".parse::<Ipv6Addr>().expect("v6"));
    c
}

/// Router id of peer `n`: 10.0.0.n.
pub fn router_id(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

/// Both unicast families.
pub fn both_families() -> Vec<AddrFamily> {
    vec![AddrFamily::IPV4_UNICAST, AddrFamily::IPV6_UNICAST]
}

/// The session-up event of peer `n` with both families.
pub fn up(n: u8) -> PeerUp {
    PeerUp {
        router_id: router_id(n),
        families: both_families(),
        four_octet_as: true,
        add_path_receive: Default::default(),
        add_path_send: Default::default(),
    }
}

/// Add peer `n` (id n) with `cfg` and bring it up with both families.
pub fn add_up(rib: &mut Rib, n: u8, cfg: PeerConfig) -> PeerId {
    let id = PeerId(u32::from(n));
    rib.add_peer(id, cfg);
    rib.peer_up(id, up(n));
    id
}

/// An eBGP peer `n` in `asn`, up, its initial dump taken.
pub fn ebgp(rib: &mut Rib, n: u8, asn: u32) -> PeerId {
    let id = add_up(rib, n, peer_config(asn, n));
    rib.take_exports(id);
    id
}

/// An iBGP peer `n`, up, its initial dump taken.
pub fn ibgp(rib: &mut Rib, n: u8) -> PeerId {
    let id = add_up(rib, n, peer_config(LOCAL_AS, n));
    rib.take_exports(id);
    id
}

/// Attributes with AS path `path`, next hop 198.51.100.1.
pub fn attrs(path: &[u32]) -> PathAttributes {
    PathAttributes {
        origin: Origin::Igp,
        as_path: AsPath::sequence(path.to_vec()),
        next_hop: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))),
        ..PathAttributes::default()
    }
}

/// Announce `prefixes` from `id` with `a`.
pub fn announce(rib: &mut Rib, id: PeerId, prefixes: &[&str], a: &PathAttributes) {
    rib.apply(id, &[], &nets(prefixes), Some(a))
        .expect("under max-prefix");
}

/// Withdraw `prefixes` from `id`.
pub fn withdraw(rib: &mut Rib, id: PeerId, prefixes: &[&str]) {
    rib.apply(id, &nets(prefixes), &[], None)
        .expect("under max-prefix");
}

/// All announced prefixes of an export, sorted.
pub fn announced(e: &Export) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = e.announce.iter().flat_map(|(_, p)| p.clone()).collect();
    v.sort();
    v
}

/// The outgoing attributes of `prefix` in an export.
pub fn out_attrs(e: &Export, prefix: &str) -> Option<PathAttributes> {
    let p = net(prefix);
    e.announce
        .iter()
        .find(|(_, v)| v.contains(&p))
        .map(|(a, _)| (**a).clone())
}

/// Withdrawn prefixes of an export, sorted.
pub fn withdrawn(e: &Export) -> Vec<IpNet> {
    let mut v = e.withdraw.clone();
    v.sort();
    v
}
