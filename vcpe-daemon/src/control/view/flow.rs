//! `vcpectl explain DST --from SRC --proto P --sport N --dport N`: which
//! member of the destination's ECMP group a flow takes, by the dataplane's
//! own flow hash (`pipeline::flow::of_flow`, the same function the workers
//! and the tunnel receive threads apply to each packet) and the group's own
//! member selection.

use std::net::IpAddr;

use vcpe_api::FlowSpec;
use vcpe_api::view::{FlowChoice, Hop};
use vcpe_forwarding::fib::NextHopGroup;
use vcpe_forwarding::pipeline::flow;
use vcpe_forwarding::wire::proto;

/// The member `spec` takes towards `dst` through `group` (whose members,
/// named, are `hops`), or what is wrong with the flow and how to fix it.
pub fn choice(
    spec: &FlowSpec,
    dst: IpAddr,
    group: &NextHopGroup,
    hops: &[Hop],
) -> Result<FlowChoice, String> {
    let src: IpAddr = spec.source.parse().map_err(|_| {
        format!(
            "--from {:?} is not an IP address; write e.g. --from 10.1.0.5",
            spec.source
        )
    })?;
    if src.is_ipv4() != dst.is_ipv4() {
        return Err(format!(
            "--from {src} and {dst} are of different address families; give a source of the \
             destination's family"
        ));
    }
    let protocol = protocol(&spec.protocol)?;
    let ported = protocol == proto::TCP || protocol == proto::UDP;
    let (sport, dport) = match (ported, spec.source_port, spec.destination_port) {
        (true, Some(s), Some(d)) => (s, d),
        (true, _, _) => {
            return Err(format!(
                "a {} flow is hashed on its ports too: give --sport N and --dport N",
                spec.protocol
            ));
        }
        (false, None, None) => (0, 0),
        (false, _, _) => {
            return Err(format!(
                "only TCP and UDP flows have ports; drop --sport/--dport or use --proto tcp|udp \
                 (protocol {protocol} is hashed on its addresses alone)"
            ));
        }
    };
    let hash = flow::of_flow(src, dst, protocol, sport, dport);
    let member = group.select_index(hash);
    let hop = hops.get(member).cloned().ok_or_else(|| {
        "the FIB changed while this was looked up; run the command again".to_owned()
    })?;
    let name = protocol_name(protocol);
    let flow = if ported {
        format!("{name} {} -> {}", sock(src, sport), sock(dst, dport))
    } else {
        format!("{name} {src} -> {dst}")
    };
    Ok(FlowChoice {
        flow,
        hash,
        member,
        hop,
    })
}

fn sock(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// "tcp", "udp", "icmp", "icmpv6" or a number 0..=255.
fn protocol(s: &str) -> Result<u8, String> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(proto::TCP),
        "udp" => Ok(proto::UDP),
        "icmp" => Ok(proto::ICMP),
        "icmpv6" | "ipv6-icmp" => Ok(proto::ICMPV6),
        n => n.parse::<u8>().map_err(|_| {
            format!("--proto {s:?} is not a protocol; use tcp, udp, icmp, icmpv6 or a number 0-255")
        }),
    }
}

fn protocol_name(p: u8) -> String {
    match p {
        proto::TCP => "tcp".into(),
        proto::UDP => "udp".into(),
        proto::ICMP => "icmp".into(),
        proto::ICMPV6 => "icmpv6".into(),
        n => format!("protocol {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcpe_forwarding::fib::NextHop;

    fn spec(src: &str, p: &str, ports: Option<(u16, u16)>) -> FlowSpec {
        FlowSpec {
            source: src.into(),
            protocol: p.into(),
            source_port: ports.map(|p| p.0),
            destination_port: ports.map(|p| p.1),
        }
    }

    fn named(group: &NextHopGroup) -> Vec<Hop> {
        group
            .hops()
            .iter()
            .map(|h| Hop {
                kind: "tunnel".into(),
                name: Some(format!("{:?}", h.egress)),
                gateway: None,
                encapsulation: None,
                endpoint: None,
                mtu: None,
            })
            .collect()
    }

    #[test]
    fn the_member_is_the_dataplanes_choice() {
        let g = NextHopGroup::new([NextHop::tunnel(0), NextHop::tunnel(1)]).unwrap();
        let hops = named(&g);
        let dst: IpAddr = "10.2.0.7".parse().unwrap();
        let mut seen = [0; 2];
        for sport in 4000..4064u16 {
            let c = choice(
                &spec("10.1.0.5", "udp", Some((sport, 5000))),
                dst,
                &g,
                &hops,
            )
            .unwrap();
            let want = flow::of_flow("10.1.0.5".parse().unwrap(), dst, proto::UDP, sport, 5000);
            assert_eq!(c.hash, want);
            assert_eq!(g.select(want), &g.hops()[c.member]);
            assert_eq!(c.hop, hops[c.member]);
            seen[c.member] += 1;
        }
        assert!(seen.iter().all(|&n| n > 10), "{seen:?}");
        let c = choice(&spec("10.1.0.5", "udp", Some((4000, 5000))), dst, &g, &hops).unwrap();
        assert_eq!(c.flow, "udp 10.1.0.5:4000 -> 10.2.0.7:5000");
    }

    #[test]
    fn bad_flows_say_what_to_fix() {
        let g = NextHopGroup::single(NextHop::tunnel(0));
        let hops = named(&g);
        let dst: IpAddr = "10.2.0.7".parse().unwrap();
        let err = |s: FlowSpec| choice(&s, dst, &g, &hops).unwrap_err();
        assert!(err(spec("x", "udp", Some((1, 2)))).contains("not an IP address"));
        assert!(err(spec("fd00::1", "udp", Some((1, 2)))).contains("families"));
        assert!(err(spec("10.1.0.5", "tcp", None)).contains("--sport N and --dport N"));
        assert!(err(spec("10.1.0.5", "icmp", Some((1, 2)))).contains("only TCP and UDP"));
        assert!(err(spec("10.1.0.5", "sctpx", None)).contains("not a protocol"));
        let c = choice(&spec("10.1.0.5", "icmp", None), dst, &g, &hops).unwrap();
        assert_eq!(
            (c.member, c.flow.as_str()),
            (0, "icmp 10.1.0.5 -> 10.2.0.7")
        );
    }
}
