//! `vcpectl explain ADDRESS` in words: the matching FIB entry and where it
//! sends the address, the route behind it and why it won, what lost.

use vcpe_api::view::{Explain, Hop, RibRoute};

use crate::table::kv;

/// One next hop: "peer vpc02 (wireguard to 100.64.2.2:51820, MTU 1300)
/// via 10.255.0.2".
pub fn hop(h: &Hop) -> String {
    let name = h.name.as_deref().unwrap_or("?");
    let mut s = match h.kind.as_str() {
        "interface" => format!("dev {name}"),
        "tunnel" => format!("peer {name}"),
        _ => "blackhole (dropped)".to_owned(),
    };
    let mut info = Vec::new();
    if let (Some(e), Some(ep)) = (&h.encapsulation, &h.endpoint) {
        info.push(format!("{e} to {ep}"));
    }
    if let Some(m) = h.mtu {
        info.push(format!("MTU {m}"));
    }
    if !info.is_empty() {
        s += &format!(" ({})", info.join(", "));
    }
    if let Some(g) = &h.gateway {
        s += &format!(" via {g}");
    }
    s
}

fn route(r: &RibRoute) -> String {
    let mut s = format!("{} {}", r.protocol, r.source);
    if let Some(id) = r.path_id {
        s += &format!(" path {id}");
    }
    if r.protocol == "bgp" {
        let path: Vec<String> = r.as_path.iter().map(u32::to_string).collect();
        s += &format!(" [{}]", path.join(" "));
        if let Some(o) = &r.origin {
            s += &format!(" {o}");
        }
        if let Some(nh) = &r.next_hop {
            s += &format!(", next hop {nh}");
        }
        if let Some(rule) = &r.rule {
            s += &format!(", {rule} matched");
        }
    }
    s
}

/// `vcpectl explain ADDRESS`.
pub fn explain(e: &Explain) -> String {
    let hops: Vec<String> = e.hops.iter().map(hop).collect();
    let mut out = if hops.len() > 1 {
        // ECMP: one member per line.
        let mut s = format!(
            "{} matches {} -> {} equal-cost next hops:\n",
            e.address,
            e.prefix,
            hops.len()
        );
        for (i, h) in hops.iter().enumerate() {
            let taken = e.flow.as_ref().is_some_and(|f| f.member == i);
            s += &format!("  {} {h}\n", if taken { "=>" } else { " -" });
        }
        s
    } else {
        format!(
            "{} matches {} -> {}\n",
            e.address,
            e.prefix,
            hops.join(" | ")
        )
    };
    let mut pairs = vec![
        (
            "route",
            e.route.as_ref().map_or_else(|| "?".to_owned(), route),
        ),
        ("why", e.why.clone()),
    ];
    let (equal, losers): (Vec<&RibRoute>, Vec<&RibRoute>) =
        e.losers.iter().partition(|l| l.multipath);
    let equal: Vec<String> = equal
        .iter()
        .map(|l| format!("{}: {}", route(l), l.reason))
        .collect();
    if !equal.is_empty() {
        pairs.push(("equal", equal.join("\n")));
    }
    let lost: Vec<String> = losers
        .iter()
        .map(|l| format!("{}: {}", route(l), l.reason))
        .collect();
    if !lost.is_empty() {
        pairs.push(("lost", lost.join("\n")));
    }
    if !e.less_specific.is_empty() {
        pairs.push((
            "also",
            format!(
                "{} cover{} it too, less specific",
                e.less_specific.join(", "),
                if e.less_specific.len() == 1 { "s" } else { "" }
            ),
        ));
    }
    if let Some(f) = &e.flow {
        pairs.push((
            "flow",
            format!(
                "{} takes {} (member {} of {}, flow hash {:#010x})",
                f.flow,
                hop(&f.hop),
                f.member + 1,
                e.hops.len(),
                f.hash
            ),
        ));
    }
    if !e.notes.is_empty() {
        pairs.push(("note", e.notes.join("\n")));
    }
    out += &kv(2, &pairs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_read_like_ip_route() {
        let h = Hop {
            kind: "tunnel".into(),
            name: Some("vpc02".into()),
            gateway: Some("10.255.0.2".into()),
            encapsulation: Some("wireguard".into()),
            endpoint: Some("100.64.2.2:51820".into()),
            mtu: Some(1300),
        };
        assert_eq!(
            hop(&h),
            "peer vpc02 (wireguard to 100.64.2.2:51820, MTU 1300) via 10.255.0.2"
        );
        let d = Hop {
            kind: "interface".into(),
            name: Some("vcpe0".into()),
            gateway: None,
            encapsulation: None,
            endpoint: None,
            mtu: Some(1400),
        };
        assert_eq!(hop(&d), "dev vcpe0 (MTU 1400)");
    }

    #[test]
    fn ecmp_lists_members_and_marks_the_flow() {
        let member = |name: &str| Hop {
            kind: "tunnel".into(),
            name: Some(name.into()),
            gateway: None,
            encapsulation: Some("gre".into()),
            endpoint: Some("100.64.2.2".into()),
            mtu: Some(1300),
        };
        let equal = RibRoute {
            prefix: "10.50.0.0/24".into(),
            protocol: "bgp".into(),
            source: "10.255.0.3".into(),
            best: false,
            in_fib: true,
            next_hop: Some("10.255.0.3".into()),
            egress: None,
            as_path: vec![65002],
            origin: Some("igp".into()),
            med: None,
            local_pref: None,
            communities: vec![],
            large_communities: vec![],
            bgp_best: false,
            reason: "equal to the best path".into(),
            beaten_by: None,
            stale: false,
            advertised: false,
            multipath: true,
            path_id: None,
            rule: None,
        };
        let e = Explain {
            address: "10.50.0.10".into(),
            prefix: "10.50.0.0/24".into(),
            hops: vec![member("b1"), member("b2")],
            route: None,
            why: "best".into(),
            losers: vec![equal],
            less_specific: vec![],
            notes: vec![],
            flow: Some(vcpe_api::view::FlowChoice {
                flow: "udp 10.1.1.10:40000 -> 10.50.0.10:7000".into(),
                hash: 0x1234,
                member: 1,
                hop: member("b2"),
            }),
        };
        let text = explain(&e);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "10.50.0.10 matches 10.50.0.0/24 -> 2 equal-cost next hops:"
        );
        assert_eq!(lines[1], "   - peer b1 (gre to 100.64.2.2, MTU 1300)");
        assert_eq!(lines[2], "  => peer b2 (gre to 100.64.2.2, MTU 1300)");
        assert!(text.contains("equal  bgp 10.255.0.3 [65002] igp"), "{text}");
        assert!(!text.contains("lost"), "{text}");
        assert!(
            text.contains("flow   udp 10.1.1.10:40000 -> 10.50.0.10:7000 takes peer b2"),
            "{text}"
        );
        assert!(
            text.contains("(member 2 of 2, flow hash 0x00001234)"),
            "{text}"
        );
    }
}
