//! Our addresses on the link towards a neighbor, from `getifaddrs(3)`:
//! the next hop we announce (next-hop-self) must be an address the
//! neighbor reaches directly, or BIRD and others reject the route
//! ("next hop not directly reachable"). For IPv6 routes carried over an
//! IPv4 session that is a global IPv6 address on the same interface. A
//! neighbor over a routed underlay (no shared subnet, no tunnel) gets the
//! address the kernel sends from towards it ([`route_source`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Every interface's addresses with their prefix lengths, by name.
pub fn interface_addresses() -> HashMap<String, Vec<IpNet>> {
    let mut out: HashMap<String, Vec<IpNet>> = HashMap::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free with freeifaddrs below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, valid
        // until freeifaddrs; its pointers are null or point into the list.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: non-null C string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: sa_family is valid for any sockaddr; the cast to the
        // family's concrete sockaddr type is what the family says it is.
        let net = unsafe {
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                    let addr = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                    let len = u32::from_be(m.sin_addr.s_addr).leading_ones() as u8;
                    IpNet::new(IpAddr::V4(addr), len).ok()
                }
                libc::AF_INET6 => {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in6);
                    let addr = Ipv6Addr::from(a.sin6_addr.s6_addr);
                    let len = u128::from_be_bytes(m.sin6_addr.s6_addr).leading_ones() as u8;
                    IpNet::new(IpAddr::V6(addr), len).ok()
                }
                _ => None,
            }
        };
        if let Some(net) = net {
            out.entry(name).or_default().push(net);
        }
    }
    // SAFETY: `head` came from a successful getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// Our IPv4 and global IPv6 address on the interface whose subnet holds
/// `neighbor` (a directly connected neighbor), if any.
pub fn link_addresses(
    ifaces: &HashMap<String, Vec<IpNet>>,
    neighbor: IpAddr,
) -> Option<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    let nets = ifaces.values().find(|nets| {
        nets.iter()
            .any(|n| n.contains(&neighbor) && n.addr() != neighbor)
    })?;
    let v4 = nets.iter().find_map(|n| match n.addr() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    });
    let v6 = nets.iter().find_map(|n| match n.addr() {
        IpAddr::V6(a) if !a.is_unicast_link_local() => Some(a),
        _ => None,
    });
    Some((v4, v6))
}

/// The source address the kernel picks for packets to `dest` (a UDP
/// socket connected to it: a route lookup, nothing is sent); `None`
/// when no route reaches it.
pub fn route_source(dest: IpAddr) -> Option<IpAddr> {
    let bind: std::net::SocketAddr = match dest {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = std::net::UdpSocket::bind(bind).ok()?;
    s.connect((dest, 179)).ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// Our addresses towards neighbor `n`: on its link ([`link_addresses`]);
/// else, over the underlay (no `peer`), the kernel's source address
/// towards it for its own family.
pub fn towards(
    ifaces: &HashMap<String, Vec<IpNet>>,
    n: &vcpe_config::Neighbor,
) -> Option<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    if let Some(l) = link_addresses(ifaces, n.address) {
        return Some(l);
    }
    if n.peer.is_some() {
        return None;
    }
    match route_source(n.address)? {
        IpAddr::V4(a) => Some((Some(a), None)),
        IpAddr::V6(a) => Some((None, Some(a))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_and_neighbors_on_a_link_are_matched() {
        let all = interface_addresses();
        let lo = all.get("lo").expect("lo has addresses");
        assert!(lo.contains(&"127.0.0.1/8".parse().unwrap()), "{lo:?}");
        let mut m = HashMap::new();
        m.insert(
            "eth0".to_owned(),
            vec![
                "10.99.0.10/24".parse().unwrap(),
                "fe80::1/64".parse().unwrap(),
                "fd00:99::10/64".parse().unwrap(),
            ],
        );
        assert_eq!(
            link_addresses(&m, "10.99.0.1".parse().unwrap()),
            Some((
                Some("10.99.0.10".parse().unwrap()),
                Some("fd00:99::10".parse().unwrap())
            ))
        );
        assert_eq!(link_addresses(&m, "10.98.0.1".parse().unwrap()), None);
    }

    #[test]
    fn the_kernel_names_its_source_towards_a_routed_address() {
        assert_eq!(
            route_source("127.0.0.9".parse().unwrap()),
            Some("127.0.0.1".parse().unwrap())
        );
    }
}
