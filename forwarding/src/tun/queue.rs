//! One queue of a TUN device ([`TunQueue`]): non-blocking packet reads and
//! zero-copy `writev` writes with the vnet header in front, and
//! [`wait_readable`], which polls the queues a worker owns.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use super::sys;
use super::vnet::{GsoType, VnetHdr};

/// A buffer this long holds any packet a queue returns: the vnet header
/// plus a 64 KiB GSO super-packet.
pub const RECV_BUF_LEN: usize = VnetHdr::LEN + 65_536;

/// The all-zero vnet header: no GSO, checksum complete.
static ZERO_HDR: [u8; VnetHdr::LEN] = [0; VnetHdr::LEN];

/// One queue (file descriptor) of a TUN device, owned by one worker thread.
///
/// The fd is non-blocking: `recv` and `send` return
/// [`io::ErrorKind::WouldBlock`] instead of waiting; wait with
/// [`wait_readable`].
#[derive(Debug)]
pub struct TunQueue {
    fd: OwnedFd,
    vnet_hdr: bool,
}

impl TunQueue {
    pub(super) fn new(fd: OwnedFd, vnet_hdr: bool) -> TunQueue {
        TunQueue { fd, vnet_hdr }
    }

    /// Whether every packet read or written starts with a [`VnetHdr`].
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Length of the vnet header in front of each packet: 10 or 0.
    pub fn vnet_hdr_len(&self) -> usize {
        if self.vnet_hdr { VnetHdr::LEN } else { 0 }
    }

    /// Reads one packet into `buf` and returns its length. With a vnet
    /// header the first [`VnetHdr::LEN`] bytes are the header, then the IP
    /// packet. Use a buffer of [`RECV_BUF_LEN`] bytes: a shorter one
    /// truncates (or, below the header length, fails with `EINVAL`).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(self.fd.as_fd(), buf)
    }

    /// Writes one IP packet. With a vnet header, `hdr` is written in front
    /// of it (the zero header if `None`) by one `writev`, without copying.
    ///
    /// Without a vnet header, `hdr` must be `None` or ask for nothing (no
    /// GSO, no partial checksum): otherwise `InvalidInput`, since the kernel
    /// could not complete the packet; split it with [`super::gso::split`].
    pub fn send(&self, hdr: Option<&VnetHdr>, pkt: &[u8]) -> io::Result<()> {
        if !self.vnet_hdr {
            if let Some(h) = hdr
                && (h.gso_type != GsoType::None || h.needs_csum())
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "GSO or partial checksum on a TUN queue without vnet header",
                ));
            }
            return self.send_raw(pkt);
        }
        let bytes;
        let head: &[u8] = match hdr {
            Some(h) => {
                bytes = h.to_bytes();
                &bytes
            }
            None => &ZERO_HDR,
        };
        let n = sys::writev(self.fd.as_fd(), &[head, pkt])?;
        complete(n, head.len() + pkt.len())
    }

    /// Another handle on the same queue (a `dup` of the fd), for a thread
    /// that only writes into it (the tunnel receive threads): reading from
    /// both would split the queue's packets between them.
    pub fn try_clone(&self) -> io::Result<TunQueue> {
        Ok(TunQueue {
            fd: self.fd.try_clone()?,
            vnet_hdr: self.vnet_hdr,
        })
    }

    /// Writes `buf` as is: the vnet header (if the queue has one) and the
    /// packet in one buffer.
    pub fn send_raw(&self, buf: &[u8]) -> io::Result<()> {
        let n = sys::writev(self.fd.as_fd(), &[buf])?;
        complete(n, buf.len())
    }
}

impl AsFd for TunQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TunQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A TUN write is all or nothing; anything else is reported.
fn complete(written: usize, expected: usize) -> io::Result<()> {
    if written == expected {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short TUN write: {written} of {expected} bytes"),
        ))
    }
}

/// Most fds [`wait_readable`] polls at once (the width of [`Readable`]).
pub const MAX_POLL_FDS: usize = 64;

/// The set of indexes (into the slice given to [`wait_readable`]) whose fd
/// is readable or in error. Error conditions count as readable so that the
/// next `recv` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readable(u64);

impl Readable {
    /// Whether fd number `i` of the polled slice is ready.
    pub fn contains(self, i: usize) -> bool {
        i < MAX_POLL_FDS && self.0 & (1 << i) != 0
    }

    /// Whether nothing is ready (timeout or signal).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The ready indexes, ascending.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_POLL_FDS).filter(move |&i| self.contains(i))
    }
}

/// Waits with `poll(2)` until at least one of `fds` is readable, or
/// `timeout` passes (`None`: no limit), and returns which are. No allocation.
///
/// A worker owns one queue of each of several TUN devices and polls them
/// all. An interrupted wait (`EINTR`) returns the empty set, like a timeout.
/// More than [`MAX_POLL_FDS`] fds is `InvalidInput`.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Readable> {
    if fds.len() > MAX_POLL_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("wait_readable polls at most {MAX_POLL_FDS} fds"),
        ));
    }
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_POLL_FDS];
    for (p, fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd.as_raw_fd();
        p.events = libc::POLLIN;
    }
    let timeout_ms = match timeout {
        None => -1,
        // Round up so that a sub-millisecond timeout still waits.
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    };
    let pfds = &mut pfds[..fds.len()];
    match sys::poll(pfds, timeout_ms) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Readable::default()),
        Err(e) => return Err(e),
    }
    let ready = libc::POLLIN | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;
    let mut set = 0u64;
    for (i, p) in pfds.iter().enumerate() {
        if p.revents & ready != 0 {
            set |= 1 << i;
        }
    }
    Ok(Readable(set))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_set() {
        let r = Readable(0b1010);
        assert!(r.contains(1) && r.contains(3) && !r.contains(0));
        assert!(!r.contains(64) && !r.contains(usize::MAX));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![1, 3]);
        assert!(Readable::default().is_empty());
    }

    #[test]
    fn wait_on_a_socket_pair() {
        let (rx, tx) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let fds = [rx.as_fd()];
        let r = wait_readable(&fds, Some(Duration::from_millis(1))).expect("poll");
        assert!(r.is_empty());
        io::Write::write_all(&mut &tx, b"x").expect("write");
        let r = wait_readable(&fds, Some(Duration::ZERO)).expect("poll");
        assert!(r.contains(0));
    }

    #[test]
    fn too_many_fds() {
        let (rx, _tx) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let fds = vec![rx.as_fd(); MAX_POLL_FDS + 1];
        let e = wait_readable(&fds, Some(Duration::ZERO)).expect_err("too many");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
