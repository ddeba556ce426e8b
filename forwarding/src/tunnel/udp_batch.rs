//! Receiving many UDP datagrams with one system call: `recvmmsg(2)` into a
//! set of 64 KiB buffers, with UDP GRO (`UDP_GRO`) on, so that a burst of
//! same-sized datagrams from one sender (what a UDP GSO send produced, or
//! what the kernel's GRO merged) arrives as one buffer plus its segment
//! size. [`RecvBatch::datagrams`] cuts the buffers back into datagrams.

use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Buffers per `recvmmsg` call.
pub const SLOTS: usize = 32;
/// Bytes per buffer: one UDP payload at most (a GRO buffer is one too).
const SLOT_LEN: usize = 65_536;
/// Room for one `UDP_GRO` control message (an int) and alignment.
const CONTROL_LEN: usize = 32;

/// Turns UDP GRO on for `socket`: the kernel may hand over several
/// datagrams of one sender in one buffer. `false` if the kernel refused
/// (before Linux 5.0); receiving works either way.
pub fn enable_gro(socket: &UdpSocket) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// One received buffer: `len` bytes from `src`, made of datagrams of
/// `segment` bytes (the last may be shorter).
#[derive(Debug, Clone, Copy)]
struct Slot {
    len: usize,
    segment: usize,
    src: SocketAddr,
    truncated: bool,
}

/// Buffers for [`RecvBatch::recv`], reused from call to call.
pub struct RecvBatch {
    bufs: Vec<Box<[u8]>>,
    control: Vec<[u64; CONTROL_LEN / 8]>,
    addrs: Vec<libc::sockaddr_storage>,
    slots: Vec<Slot>,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("received", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch::new()
    }
}

impl RecvBatch {
    /// [`SLOTS`] buffers of 64 KiB.
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: (0..SLOTS)
                .map(|_| vec![0u8; SLOT_LEN].into_boxed_slice())
                .collect(),
            control: vec![[0u64; CONTROL_LEN / 8]; SLOTS],
            // SAFETY: sockaddr_storage is plain data; all-zero is valid.
            addrs: vec![unsafe { mem::zeroed() }; SLOTS],
            slots: Vec::with_capacity(SLOTS),
        }
    }

    /// Receives what is waiting (up to [`SLOTS`] buffers) with one
    /// `recvmmsg`; returns how many buffers were filled. `WouldBlock`
    /// when nothing waits on a non-blocking socket.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.slots.clear();
        let mut iovs: [libc::iovec; SLOTS] = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; SLOTS];
        // SAFETY: mmsghdr is plain data; all-zero is a valid value.
        let mut msgs: [libc::mmsghdr; SLOTS] = unsafe { mem::zeroed() };
        for i in 0..SLOTS {
            iovs[i].iov_base = self.bufs[i].as_mut_ptr().cast();
            iovs[i].iov_len = self.bufs[i].len();
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&raw mut self.addrs[i]).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &raw mut iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.control[i].as_mut_ptr().cast();
            h.msg_controllen = CONTROL_LEN as _;
        }
        // SAFETY: every header points at live buffers, iovecs, sockaddr
        // storage and control space of the stated lengths, owned by `self`
        // or this frame, all outliving the call.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                SLOTS as libc::c_uint,
                0,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // Invariant: non-negative and at most SLOTS.
        let n = n as usize;
        for msg in msgs.iter().take(n) {
            let h = &msg.msg_hdr;
            let len = msg.msg_len as usize;
            let segment = gro_segment(h).filter(|&s| s > 0).unwrap_or(len);
            let i = self.slots.len();
            self.slots.push(Slot {
                len: len.min(SLOT_LEN),
                segment,
                src: from_sockaddr(&self.addrs[i]),
                truncated: h.msg_flags & libc::MSG_TRUNC != 0,
            });
        }
        Ok(n)
    }

    /// Calls `f(source, datagram)` for every datagram received by the last
    /// [`RecvBatch::recv`], GRO buffers cut at their segment size, in
    /// order. Truncated buffers are skipped and counted in the result.
    pub fn datagrams<F: FnMut(SocketAddr, &mut [u8])>(&mut self, mut f: F) -> usize {
        let mut truncated = 0;
        for (slot, buf) in self.slots.iter().zip(self.bufs.iter_mut()) {
            if slot.truncated {
                truncated += 1;
                continue;
            }
            for d in buf[..slot.len].chunks_mut(slot.segment.max(1)) {
                f(slot.src, d);
            }
        }
        truncated
    }

    /// The buffers of the last receive as (source, segment size, bytes):
    /// for callers that handle a GRO buffer as a whole.
    pub fn buffers(&mut self) -> impl Iterator<Item = (SocketAddr, usize, &mut [u8])> {
        self.slots
            .iter()
            .zip(self.bufs.iter_mut())
            .filter(|(s, _)| !s.truncated)
            .map(|(s, b)| (s.src, s.segment.max(1), &mut b[..s.len]))
    }
}

/// The `UDP_GRO` segment size in the control messages of `h`, if any.
fn gro_segment(h: &libc::msghdr) -> Option<usize> {
    // SAFETY: `h` was filled by recvmmsg: msg_control/msg_controllen
    // describe our control buffer; CMSG_* walk only within it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// The address the kernel stored (unspecified if of no known family).
fn from_sockaddr(s: &libc::sockaddr_storage) -> SocketAddr {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(a.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            ))
        }
        _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gso_send_arrives_as_one_gro_buffer_and_cuts_back_into_datagrams() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        rx.set_nonblocking(true).expect("nonblocking");
        let gro = enable_gro(&rx);
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        let mut sent = Vec::new();
        for i in 0..10u8 {
            let d = vec![i; if i == 9 { 300 } else { 1000 }];
            tx.send_to(&d, to).expect("send");
            sent.push(d);
        }
        let mut batch = RecvBatch::new();
        let mut got = Vec::new();
        while got.len() < sent.len() {
            match batch.recv(&rx) {
                Ok(_) => {
                    batch.datagrams(|src, d| {
                        assert_eq!(src, tx.local_addr().expect("addr"));
                        got.push(d.to_vec());
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        assert_eq!(got, sent, "gro={gro}");
    }
}
