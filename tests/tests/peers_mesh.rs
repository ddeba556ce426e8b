//! The interop harness itself, checked against the real daemons: BIRD,
//! GoBGP, FRR and OpenBGPD mesh on one LAN (as in `../shared/interop/`),
//! each originates one IPv4 prefix, and every daemon's CLI output, as
//! parsed by `vcpe_tests::peers`, shows every prefix with the originator's
//! AS path and next hop. The vcped interop tests rely on these parsers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::{Result, ensure};
use vcpe_tests::peers::{
    BgpPeer, Bird, Frr, Gobgp, NeighborSpec, Openbgpd, PeerSpec, wait_established, wait_for_route,
};
use vcpe_tests::{Lab, require_root};

const NODES: [(&str, u8, u32, &str); 4] = [
    ("bird", 1, 65001, "10.201.0.0/24"),
    ("gobgp", 2, 65002, "10.202.0.0/24"),
    ("frr", 3, 65003, "10.203.0.0/24"),
    ("obgp", 4, 65004, "10.204.0.0/24"),
];

fn addr(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, i)
}

#[test]
fn four_daemons_mesh_and_their_ribs_parse() -> Result<()> {
    require_root!();
    let lab = Lab::new("peermesh")?;
    let sw = lab.netns("sw")?;
    let br = lab.bridge(&sw, "br0")?;
    let mut peers: Vec<Box<dyn BgpPeer>> = Vec::new();
    for (name, i, asn, prefix) in NODES {
        let ns = lab.netns(name)?;
        br.plug(&format!("p-{name}"), &ns, "eth0")?;
        ns.addr("eth0", &format!("{}/24", addr(i)))?;
        let spec = PeerSpec {
            asn,
            router_id: addr(i),
            hold_time: 30,
            neighbors: NODES
                .iter()
                .filter(|n| n.1 != i)
                .map(|n| NeighborSpec::new(IpAddr::V4(addr(n.1)), n.2))
                .collect(),
            originate: vec![prefix.to_owned()],
            v6_next_hop: None,
            dir: lab.dir().to_owned(),
            graceful_restart: false,
        };
        let peer: Box<dyn BgpPeer> = match name {
            "bird" => Box::new(Bird::start(&ns, &spec)?),
            "gobgp" => Box::new(Gobgp::start(&ns, &spec)?),
            "frr" => Box::new(Frr::start(&ns, &spec)?),
            _ => Box::new(Openbgpd::start(&ns, &spec)?),
        };
        peers.push(peer);
    }
    for (p, (_, i, _, _)) in peers.iter().zip(NODES) {
        for (_, j, _, _) in NODES.iter().filter(|n| n.1 != i) {
            wait_established(p.as_ref(), IpAddr::V4(addr(*j)), Duration::from_secs(30))?;
        }
    }
    for (p, (_, i, _, _)) in peers.iter().zip(NODES) {
        for (_, j, asn, prefix) in NODES.iter().filter(|n| n.1 != i) {
            let r = wait_for_route(p.as_ref(), prefix, Duration::from_secs(20))?;
            // Some path to the prefix is the direct one from its originator.
            let all = p.routes()?;
            let direct = all
                .iter()
                .find(|x| x.prefix == *prefix && x.as_path == vec![*asn]);
            ensure!(
                direct.is_some_and(|d| d.next_hop == Some(IpAddr::V4(addr(*j)))),
                "{} has {prefix} but not directly from AS{asn} via {}: {r:?} / {all:?}",
                p.kind(),
                addr(*j)
            );
        }
    }
    Ok(())
}
