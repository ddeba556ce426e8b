//! A packet as read from the TUN device or from inside a tunnel: the IPv4,
//! IPv6, ICMPv4, ICMPv6 and TCP views, every accessor once the view is
//! checked, and the ICMP error parser the tunnels use for PMTU.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vcpe_forwarding::wire::{icmpv4, icmpv6, ipv4, ipv6, proto, tcp};

fn tcp_view(segment: &[u8]) {
    if let Ok(t) = tcp::Packet::new_checked(segment) {
        let _ = (t.src_port(), t.dst_port(), t.flags(), t.syn(), t.checksum());
        let _ = t.options();
        if let Some((_, at)) = t.mss() {
            assert!(at < t.header_len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ipv4::Packet::new_checked(data) {
        let _ = (p.version(), p.tos(), p.total_len(), p.ident(), p.ttl());
        let _ = (p.dont_frag(), p.more_frags(), p.frag_offset(), p.checksum());
        let _ = (p.src_addr(), p.dst_addr(), p.verify_checksum());
        assert!(p.header().len() == p.header_len());
        let _ = p.options();
        let range = p.payload_range();
        assert!(range.end <= data.len());
        match p.protocol() {
            proto::ICMP => {
                if let Ok(i) = icmpv4::Packet::new_checked(p.payload()) {
                    let _ = (i.msg_type(), i.code(), i.rest(), i.next_hop_mtu());
                    let _ = (i.echo_ident(), i.echo_seq(), i.verify_checksum());
                    let _ = i.data();
                }
            }
            proto::TCP => tcp_view(p.payload()),
            _ => {}
        }
    }
    let _ = icmpv4::parse_error(data);
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        let _ = (
            p.version(),
            p.traffic_class(),
            p.flow_label(),
            p.hop_limit(),
        );
        let (src, dst) = (p.src_addr(), p.dst_addr());
        let range = p.payload_range();
        assert!(range.end <= data.len());
        let upper = p.upper_layer();
        if let Some(rest) = data.get(upper.offset..) {
            match upper.protocol {
                proto::ICMPV6 => {
                    if let Ok(i) = icmpv6::Packet::new_checked(rest) {
                        let _ = (
                            i.msg_type(),
                            i.code(),
                            i.mtu(),
                            i.echo_ident(),
                            i.echo_seq(),
                        );
                        let _ = (i.data(), i.verify_checksum(src, dst));
                    }
                }
                proto::TCP => tcp_view(rest),
                _ => {}
            }
        }
    }
});
