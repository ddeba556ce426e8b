//! Raw IP protocol 47 (GRE) underlay sockets, IPv4 or IPv6, opened with
//! libc: one socket per local underlay address, shared by all workers.
//!
//! Owns the system calls only: what is sent is a complete GRE packet (see
//! [`gre`](super::gre)); the kernel adds the outer IP header on send. On
//! receive an IPv4 raw socket delivers the outer IPv4 header in front of
//! the GRE header, an IPv6 one does not; [`GreSocket::recv_from`] and
//! [`GreSocket::recv_batch`] return where the GRE header starts either way.
//!
//! IPv4 sends keep the kernel's default path MTU discovery: DF is set and
//! a packet above the known path MTU fails with `EMSGSIZE`.
//!
//! Every method takes `&self` and the type is `Send + Sync`: several worker
//! threads may send on one socket. Errors carry the operation and the peer;
//! `WouldBlock` and `Interrupted` are passed through untouched (and without
//! allocating) so a busy loop can test `kind()` cheaply.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// IANA protocol number of GRE.
pub const IPPROTO_GRE: libc::c_int = 47;
/// Default requested SO_RCVBUF / SO_SNDBUF size.
pub const DEFAULT_BUFFER_BYTES: usize = 4 << 20;
/// Most datagrams one [`GreSocket::recv_batch`] / [`GreSocket::send_batch`]
/// call moves; longer slices are served partially.
pub const MAX_BATCH: usize = 64;

/// How to open a [`GreSocket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreSocketOptions {
    /// Open with `O_NONBLOCK` (for `poll(2)`-driven workers).
    pub nonblocking: bool,
    /// Requested receive and send buffer size in bytes. Set with SO_RCVBUF
    /// / SO_SNDBUF; when `net.core.[rw]mem_max` caps it lower, retried with
    /// the `*FORCE` variants (needs CAP_NET_ADMIN, silently skipped without).
    pub buffer_bytes: usize,
}

impl Default for GreSocketOptions {
    fn default() -> Self {
        GreSocketOptions {
            nonblocking: false,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
        }
    }
}

/// Where a received GRE packet sits in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Offset of the GRE header (after the outer IPv4 header, if any).
    pub offset: usize,
    /// End of the datagram in the buffer.
    pub end: usize,
    /// Outer source address.
    pub src: IpAddr,
    /// Whether the datagram is usable; when not, skip it (and count it).
    pub status: RecvStatus,
}

impl Default for RecvMeta {
    /// An empty placeholder, to size the `meta` slice of `recv_batch`.
    fn default() -> Self {
        RecvMeta {
            offset: 0,
            end: 0,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            status: RecvStatus::Ok,
        }
    }
}

/// Per-datagram outcome of a receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvStatus {
    /// `buf[offset..end]` is the GRE packet.
    Ok,
    /// The datagram was longer than the buffer; the rest was discarded.
    Truncated,
    /// The outer IPv4 header delivered by the kernel did not parse.
    BadOuterHeader,
}

/// A raw GRE socket bound to one local underlay address.
#[derive(Debug)]
pub struct GreSocket {
    fd: OwnedFd,
    local: IpAddr,
}

impl GreSocket {
    /// Opens a blocking socket for `local` (which may be unspecified) with
    /// [`DEFAULT_BUFFER_BYTES`] buffers.
    pub fn bind(local: IpAddr) -> io::Result<GreSocket> {
        GreSocket::bind_with(local, GreSocketOptions::default())
    }

    /// Opens a socket for `local` with `opts`. Needs CAP_NET_RAW. An IPv6
    /// link-local `local` cannot be bound (no scope id is passed).
    pub fn bind_with(local: IpAddr, opts: GreSocketOptions) -> io::Result<GreSocket> {
        let domain = match local {
            IpAddr::V4(_) => libc::AF_INET,
            IpAddr::V6(_) => libc::AF_INET6,
        };
        let mut ty = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        if opts.nonblocking {
            ty |= libc::SOCK_NONBLOCK;
        }
        // SAFETY: plain system call with integer arguments.
        let raw = unsafe { libc::socket(domain, ty, IPPROTO_GRE) };
        if raw < 0 {
            return Err(context(io::Error::last_os_error(), "socket(SOCK_RAW, GRE)"));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sock = GreSocket { fd, local };
        sock.set_buffer(libc::SO_RCVBUF, libc::SO_RCVBUFFORCE, opts.buffer_bytes)?;
        sock.set_buffer(libc::SO_SNDBUF, libc::SO_SNDBUFFORCE, opts.buffer_bytes)?;
        let (addr, len) = sockaddr(local);
        // SAFETY: `addr` is a valid sockaddr of `len` bytes.
        let rc = unsafe { libc::bind(raw, addr.as_ptr(), len) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(context(e, &format!("bind GRE socket to {local}")));
        }
        Ok(sock)
    }

    /// The address given to [`bind`](GreSocket::bind).
    pub fn local_addr(&self) -> IpAddr {
        self.local
    }

    /// Switches `O_NONBLOCK` on or off.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: fcntl on an owned descriptor with integer arguments.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(context(io::Error::last_os_error(), "fcntl(F_GETFL)"));
        }
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
            return Err(context(io::Error::last_os_error(), "fcntl(F_SETFL)"));
        }
        Ok(())
    }

    /// Effective (receive, send) buffer sizes as the kernel reports them
    /// (twice the requested value, for its bookkeeping).
    pub fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        Ok((
            self.sockopt_int(libc::SO_RCVBUF)?,
            self.sockopt_int(libc::SO_SNDBUF)?,
        ))
    }

    /// Sends one GRE packet (starting at the GRE header) to `dst`.
    pub fn send_to(&self, gre_packet: &[u8], dst: IpAddr) -> io::Result<usize> {
        self.check_family(dst)?;
        let (addr, len) = sockaddr(dst);
        // SAFETY: the buffer and the sockaddr are valid for their lengths.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                gre_packet.as_ptr().cast(),
                gre_packet.len(),
                0,
                addr.as_ptr(),
                len,
            )
        };
        if n < 0 {
            return Err(context(
                io::Error::last_os_error(),
                &format!("GRE sendto {dst}"),
            ));
        }
        // Invariant: non-negative after the check.
        Ok(n as usize)
    }

    /// Receives one datagram into `buf` and returns (offset of the GRE
    /// header, end, outer source). A datagram longer than `buf` or with a
    /// malformed outer header is consumed and reported as `InvalidData`.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, usize, IpAddr)> {
        let mut storage: libc::sockaddr_storage = zeroed_storage();
        let mut alen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the buffer and the sockaddr storage are valid for their
        // lengths; MSG_TRUNC makes the kernel return the full length.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&raw mut storage).cast(),
                &mut alen,
            )
        };
        if n < 0 {
            return Err(context(io::Error::last_os_error(), "GRE recvfrom"));
        }
        // Invariant: non-negative after the check.
        let meta = self.parse(buf, n as usize, &storage);
        match meta.status {
            RecvStatus::Ok => Ok((meta.offset, meta.end, meta.src)),
            RecvStatus::Truncated => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "GRE datagram from {} truncated: {n} bytes, buffer {}",
                    meta.src,
                    buf.len()
                ),
            )),
            RecvStatus::BadOuterHeader => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("GRE datagram from {}: bad outer IPv4 header", meta.src),
            )),
        }
    }

    /// Receives up to `min(bufs.len(), meta.len(), MAX_BATCH)` datagrams with
    /// one `recvmmsg(2)`; returns how many, `meta[i]` describing `bufs[i]`.
    /// Waits for the first datagram only if the socket is blocking.
    pub fn recv_batch(&self, bufs: &mut [&mut [u8]], meta: &mut [RecvMeta]) -> io::Result<usize> {
        let count = bufs.len().min(meta.len()).min(MAX_BATCH);
        if count == 0 {
            return Ok(0);
        }
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_BATCH];
        let mut addrs = [zeroed_storage(); MAX_BATCH];
        // SAFETY: mmsghdr is plain old data; all-zero is a valid value.
        let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { mem::zeroed() };
        for ((buf, iov), (msg, addr)) in bufs
            .iter_mut()
            .zip(iovs.iter_mut())
            .zip(msgs.iter_mut().zip(addrs.iter_mut()))
            .take(count)
        {
            iov.iov_base = buf.as_mut_ptr().cast();
            iov.iov_len = buf.len();
            let h = &mut msg.msg_hdr;
            h.msg_name = (&raw mut *addr).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &raw mut *iov;
            h.msg_iovlen = 1;
        }
        // SAFETY: the first `count` headers point at live buffers, iovecs
        // and sockaddr storage of the stated lengths, all outliving the call.
        let n = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                count as libc::c_uint,
                0,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(context(io::Error::last_os_error(), "GRE recvmmsg"));
        }
        // Invariant: non-negative and at most `count`.
        let n = n as usize;
        for ((m, msg), (buf, addr)) in meta
            .iter_mut()
            .zip(&msgs)
            .zip(bufs.iter().zip(&addrs))
            .take(n)
        {
            let mut len = msg.msg_len as usize;
            if msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                len = len.max(buf.len() + 1);
            }
            *m = self.parse(buf, len, addr);
        }
        Ok(n)
    }

    /// Sends up to [`MAX_BATCH`] GRE packets with one `sendmmsg(2)`; returns
    /// how many the kernel took (possibly fewer: resend the rest). Stops
    /// before the first packet whose destination is of the other address
    /// family. Fails only if the first packet cannot be sent.
    pub fn send_batch(&self, packets: &[(&[u8], IpAddr)]) -> io::Result<usize> {
        let mut count = packets.len().min(MAX_BATCH);
        if count == 0 {
            return Ok(0);
        }
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_BATCH];
        let mut addrs = [zeroed_storage(); MAX_BATCH];
        // SAFETY: mmsghdr is plain old data; all-zero is a valid value.
        let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { mem::zeroed() };
        for (i, (pkt, dst)) in packets[..count].iter().enumerate() {
            if let Err(e) = self.check_family(*dst) {
                // Send what precedes the stray packet; report it when first.
                if i == 0 {
                    return Err(e);
                }
                count = i;
                break;
            }
            let (addr, len) = sockaddr(*dst);
            addrs[i] = addr.0;
            // The kernel only reads through iov_base on send.
            iovs[i].iov_base = pkt.as_ptr().cast_mut().cast();
            iovs[i].iov_len = pkt.len();
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&raw mut addrs[i]).cast();
            h.msg_namelen = len;
            h.msg_iov = &raw mut iovs[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: the first `count` headers point at live packets, iovecs
        // and sockaddrs of the stated lengths, all outliving the call.
        let n = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                count as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            let first = packets.first().map(|p| p.1);
            return Err(match first {
                Some(dst) => context(e, &format!("GRE sendmmsg (first to {dst})")),
                None => context(e, "GRE sendmmsg"),
            });
        }
        // Invariant: non-negative after the check.
        Ok(n as usize)
    }

    /// Turns `len` received bytes in `buf` from `addr` into a [`RecvMeta`].
    fn parse(&self, buf: &[u8], len: usize, addr: &libc::sockaddr_storage) -> RecvMeta {
        let src = from_sockaddr(addr).unwrap_or(match self.local {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        let mut meta = RecvMeta {
            offset: 0,
            end: len.min(buf.len()),
            src,
            status: RecvStatus::Ok,
        };
        if len > buf.len() {
            meta.status = RecvStatus::Truncated;
            return meta;
        }
        if self.local.is_ipv4() {
            match outer_ipv4_len(&buf[..len]) {
                Some(ihl) => meta.offset = ihl,
                None => meta.status = RecvStatus::BadOuterHeader,
            }
        }
        meta
    }

    fn check_family(&self, dst: IpAddr) -> io::Result<()> {
        if dst.is_ipv4() == self.local.is_ipv4() {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("GRE socket on {} cannot send to {dst}", self.local),
        ))
    }

    fn set_buffer(&self, opt: libc::c_int, force: libc::c_int, bytes: usize) -> io::Result<()> {
        let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        self.set_sockopt_int(opt, want)
            .map_err(|e| context(e, &format!("setsockopt buffer size {bytes}")))?;
        // The kernel reports double the value it accepted.
        if self.sockopt_int(opt)? / 2 >= bytes {
            return Ok(());
        }
        match self.set_sockopt_int(force, want) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                tracing::debug!(
                    bytes,
                    "GRE socket buffer capped by [rw]mem_max (no CAP_NET_ADMIN)"
                );
                Ok(())
            }
            r => r.map_err(|e| context(e, "setsockopt buffer size (FORCE)")),
        }
    }

    fn set_sockopt_int(&self, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
        // SAFETY: `v` is a live c_int of the stated size.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw const v).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn sockopt_int(&self, opt: libc::c_int) -> io::Result<usize> {
        let mut v: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `v` is a live c_int and `len` its size.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw mut v).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(context(io::Error::last_os_error(), "getsockopt"));
        }
        Ok(usize::try_from(v).unwrap_or(0))
    }
}

impl AsRawFd for GreSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for GreSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Length of the outer IPv4 header at the front of `pkt`, if it is one
/// and fits.
fn outer_ipv4_len(pkt: &[u8]) -> Option<usize> {
    let first = *pkt.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    (first >> 4 == 4 && ihl >= 20 && ihl <= pkt.len()).then_some(ihl)
}

/// Adds what was being done to an OS error, keeping its kind. `WouldBlock`
/// and `Interrupted` stay as they are (hot path, no allocation).
fn context(e: io::Error, what: &str) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => e,
        kind => io::Error::new(kind, format!("{what}: {e}")),
    }
}

/// A sockaddr_storage filled for `addr`, and the length to pass.
struct SockAddr(libc::sockaddr_storage);

impl SockAddr {
    fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.0).cast()
    }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    unsafe { mem::zeroed() }
}

fn sockaddr(addr: IpAddr) -> (SockAddr, libc::socklen_t) {
    let mut storage = zeroed_storage();
    let len = match addr {
        IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in>().write(sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_storage is larger than and aligned for
            // sockaddr_in6.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in6>().write(sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (SockAddr(storage), len as libc::socklen_t)
}

fn from_sockaddr(s: &libc::sockaddr_storage) -> Option<IpAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let a = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(IpAddr::V4(a))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let a = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(IpAddr::V6(a))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn assert_send_sync<T: Send + Sync>() {}
    const _: () = assert_send_sync::<GreSocket>();

    #[test]
    fn outer_ipv4_header_length() {
        assert_eq!(outer_ipv4_len(&[]), None);
        assert_eq!(outer_ipv4_len(&[0x45; 19]), None);
        assert_eq!(outer_ipv4_len(&[0x45; 20]), Some(20));
        assert_eq!(outer_ipv4_len(&[0x46; 23]), None);
        assert_eq!(outer_ipv4_len(&[0x46; 24]), Some(24));
        assert_eq!(outer_ipv4_len(&[0x44; 40]), None, "IHL below 5");
        assert_eq!(outer_ipv4_len(&[0x65; 40]), None, "version 6");
    }

    #[test]
    fn sockaddr_round_trips() {
        for a in [
            IpAddr::V4(Ipv4Addr::new(10, 77, 1, 1)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x77)),
        ] {
            let (s, _) = sockaddr(a);
            assert_eq!(from_sockaddr(&s.0), Some(a));
        }
        assert_eq!(from_sockaddr(&zeroed_storage()), None);
    }

    #[test]
    fn context_keeps_kind_and_passes_would_block() {
        let e = context(
            io::Error::from_raw_os_error(libc::ENOBUFS),
            "GRE sendto 10.0.0.1",
        );
        assert!(e.to_string().starts_with("GRE sendto 10.0.0.1: "), "{e}");
        let e = context(io::Error::from_raw_os_error(libc::EAGAIN), "x");
        assert_eq!(e.raw_os_error(), Some(libc::EAGAIN));
    }
}
