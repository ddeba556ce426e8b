//! BFD's UDP sockets (RFC 5881 §4-5, RFC 5883 §2): receive sockets on the
//! well-known ports that report each datagram's TTL (hop limit) and
//! destination address, and one send socket per session with TTL 255 and
//! a source port of its own in 49152-65535.
//!
//! Owns the `unsafe` of the BFD driver: `setsockopt` for the options
//! socket2 does not name, and `recvmsg` with its control messages.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

/// RFC 5881 §4: "BFD Control packets MUST be transmitted in UDP packets
/// with destination port 3784".
pub const SINGLE_HOP_PORT: u16 = 3784;
/// RFC 5883 §5: multihop control packets go to port 4784.
pub const MULTI_HOP_PORT: u16 = 4784;
/// RFC 5881 §4: "The source port MUST be in the range 49152 through
/// 65535."
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// One datagram as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Payload length in the buffer.
    pub len: usize,
    /// Source address.
    pub from: IpAddr,
    /// Destination address (IP_PKTINFO / IPV6_PKTINFO).
    pub to: Option<IpAddr>,
    /// TTL or hop limit (IP_RECVTTL / IPV6_RECVHOPLIMIT).
    pub ttl: Option<u8>,
}

fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A non-blocking receive socket on `port` of every address of one family,
/// reporting TTL and destination of each datagram.
pub fn receiver(v6: bool, port: u16) -> io::Result<std::net::UdpSocket> {
    let (domain, addr) = if v6 {
        (
            Domain::IPV6,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        )
    } else {
        (
            Domain::IPV4,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        )
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    let fd = s.as_raw_fd();
    if v6 {
        s.set_only_v6(true)?;
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
    } else {
        set_int(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1)?;
        set_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// A non-blocking send socket for one session: bound to `local` (or any
/// address of the peer's family) and a free port in 49152-65535, TTL /
/// hop limit 255 ("MUST be transmitted with a TTL or Hop Limit value of
/// 255", RFC 5881 §5), DSCP CS6 as routing protocols use.
pub fn sender(
    peer: IpAddr,
    local: Option<IpAddr>,
    first_port: u16,
) -> io::Result<std::net::UdpSocket> {
    let v6 = peer.is_ipv6();
    let s = Socket::new(
        if v6 { Domain::IPV6 } else { Domain::IPV4 },
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    let fd = s.as_raw_fd();
    if v6 {
        s.set_only_v6(true)?;
        s.set_unicast_hops_v6(255)?;
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0xc0)?;
    } else {
        s.set_ttl_v4(255)?;
        set_int(fd, libc::IPPROTO_IP, libc::IP_TOS, 0xc0)?;
    }
    s.set_nonblocking(true)?;
    let any = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let ip = local.unwrap_or(any);
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let start = u32::from(first_port.saturating_sub(*SOURCE_PORTS.start())) % span;
    let mut last = io::Error::from(io::ErrorKind::AddrInUse);
    for i in 0..span {
        // Within 49152..=65535 by construction.
        let port = SOURCE_PORTS.start() + ((start + i) % span) as u16;
        match s.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => return Ok(s.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Reads one datagram into `buf` (`WouldBlock` when there is none).
pub fn recv(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<Datagram> {
    // SAFETY: all-zero is valid for these plain C structs.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` points at a live buffer of the length
    // given, for the duration of the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let from =
        sockaddr_ip(&name).ok_or_else(|| io::Error::other("datagram without an IP source"))?;
    let mut d = Datagram {
        // Nonnegative, checked above.
        len: n as usize,
        from,
        to: None,
        ttl: None,
    };
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled,
    // within msg_controllen; each payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                    d.ttl = u8::try_from(v).ok();
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    d.to = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    d.to = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(d)
}

fn sockaddr_ip(s: &libc::sockaddr_storage) -> Option<IpAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let sin = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let a = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_over_loopback_carries_ttl_255_and_its_destination() {
        let rx = receiver(false, 0).expect("bind");
        let port = rx.local_addr().expect("addr").port();
        let tx = sender(IpAddr::V4(Ipv4Addr::LOCALHOST), None, 50000).expect("sender");
        let sport = tx.local_addr().expect("addr").port();
        assert!(SOURCE_PORTS.contains(&sport), "{sport}");
        tx.send_to(b"hello", (Ipv4Addr::LOCALHOST, port))
            .expect("send");
        let mut buf = [0u8; 64];
        let d = loop {
            match recv(&rx, &mut buf) {
                Ok(d) => break d,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..d.len], b"hello");
        assert_eq!(d.from, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(d.to, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(d.ttl, Some(255));
    }

    #[test]
    fn two_senders_get_two_source_ports() {
        let a = sender(IpAddr::V4(Ipv4Addr::LOCALHOST), None, 60000).expect("a");
        let b = sender(IpAddr::V4(Ipv4Addr::LOCALHOST), None, 60000).expect("b");
        assert_ne!(
            a.local_addr().expect("a").port(),
            b.local_addr().expect("b").port()
        );
    }
}
