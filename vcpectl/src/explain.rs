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
    let mut out = format!(
        "{} matches {} -> {}\n",
        e.address,
        e.prefix,
        hops.join(" | ")
    );
    let mut pairs = vec![
        (
            "route",
            e.route.as_ref().map_or_else(|| "?".to_owned(), route),
        ),
        ("why", e.why.clone()),
    ];
    let lost: Vec<String> = e
        .losers
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
}
