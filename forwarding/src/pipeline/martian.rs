//! Martian address checks, as Linux's `ip_route_input_slow` and
//! `ip6_route_input`/`ipv6_rcv` apply them to forwarded traffic. Martians are
//! dropped and counted, never answered with ICMP.

use core::net::{Ipv4Addr, Ipv6Addr};

/// A source no forwarded IPv4 packet may carry: 0.0.0.0/8 (this network /
/// unspecified), 127.0.0.0/8 loopback, 224.0.0.0/4 multicast and
/// 240.0.0.0/4 class E (which includes 255.255.255.255).
#[inline]
pub fn is_martian_src_v4(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o == 0 || o == 127 || o >= 224
}

/// A destination we never forward to: 0.0.0.0/8, 127.0.0.0/8, multicast
/// (224.0.0.0/4: we do not route multicast) and limited broadcast.
#[inline]
pub fn is_martian_dst_v4(a: Ipv4Addr) -> bool {
    let o = a.octets()[0];
    o == 0 || o == 127 || a.is_multicast() || a.is_broadcast()
}

/// fe80::/10.
#[inline]
fn is_link_local_v6(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// A source no forwarded IPv6 packet may carry: multicast, ::1, :: (only
/// legitimate for DAD, which is link-local and never forwarded),
/// IPv4-mapped ::ffff:0:0/96 and link-local fe80::/10 (not forwarded).
#[inline]
pub fn is_martian_src_v6(a: Ipv6Addr) -> bool {
    a.is_multicast()
        || a.is_loopback()
        || a.is_unspecified()
        || a.to_ipv4_mapped().is_some()
        || is_link_local_v6(a)
}

/// A destination we never forward to: ::, ::1, multicast and link-local.
#[inline]
pub fn is_martian_dst_v6(a: Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.is_multicast() || is_link_local_v6(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().expect("v4")
    }
    fn v6(s: &str) -> Ipv6Addr {
        s.parse().expect("v6")
    }

    #[test]
    fn v4_sources() {
        for m in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "224.0.0.1",
            "239.1.1.1",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_martian_src_v4(v4(m)), "{m}");
        }
        for ok in [
            "10.0.0.1",
            "192.0.2.1",
            "223.255.255.255",
            "100.64.0.1",
            "169.254.1.1",
        ] {
            assert!(!is_martian_src_v4(v4(ok)), "{ok}");
        }
    }

    #[test]
    fn v4_destinations() {
        for m in ["0.0.0.0", "127.0.0.53", "224.0.0.251", "255.255.255.255"] {
            assert!(is_martian_dst_v4(v4(m)), "{m}");
        }
        for ok in ["10.0.0.1", "198.51.100.255", "240.0.0.1"] {
            assert!(!is_martian_dst_v4(v4(ok)), "{ok}");
        }
    }

    #[test]
    fn v6_addresses() {
        for m in [
            "ff02::1",
            "::1",
            "::",
            "::ffff:10.0.0.1",
            "fe80::1",
            "febf::1",
        ] {
            assert!(is_martian_src_v6(v6(m)), "{m}");
        }
        for m in ["::", "::1", "ff05::2", "fe80::1"] {
            assert!(is_martian_dst_v6(v6(m)), "{m}");
        }
        for ok in ["2001:db8::1", "fd00::1", "fec0::1", "64:ff9b::1"] {
            assert!(!is_martian_src_v6(v6(ok)), "{ok}");
            assert!(!is_martian_dst_v6(v6(ok)), "{ok}");
        }
    }
}
