//! The only `unsafe` of the TUN module: thin, safe wrappers over the libc
//! calls it makes (`open`, `ioctl`, `read`, `writev`, `poll`,
//! `if_nametoindex`). Each takes and returns Rust types and reports failure
//! as `io::Error` from `errno`; policy (what the errors mean, retries) lives
//! in the callers.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `open(2)` `/dev/net/tun` read-write, non-blocking, close-on-exec.
pub(super) fn open_clone_device() -> io::Result<OwnedFd> {
    let path = c"/dev/net/tun";
    // SAFETY: `path` is a valid NUL-terminated string; `open` does not keep it.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by a successful `open` and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A `struct ifreq` holding an interface name and the `ifr_flags` member,
/// as `TUNSETIFF` reads and writes it.
pub(super) struct IfReq(libc::ifreq);

impl IfReq {
    /// An ifreq with `name` (at most `IFNAMSIZ - 1` bytes, no NUL; the
    /// caller validates) and `flags`.
    pub(super) fn new(name: &[u8], flags: libc::c_short) -> IfReq {
        // SAFETY: `ifreq` is plain old data (a char array and a union of
        // integers, sockaddrs and a pointer); all-zero bytes are a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, &src) in req.ifr_name.iter_mut().zip(name) {
            *dst = src as libc::c_char;
        }
        req.ifr_ifru.ifru_flags = flags;
        IfReq(req)
    }

    /// The name field up to its first NUL (the kernel fills it in when a
    /// `%d` pattern or an empty name was given).
    pub(super) fn name(&self) -> String {
        let bytes: Vec<u8> = self
            .0
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::fmt::Debug for IfReq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IfReq").field("name", &self.name()).finish()
    }
}

/// `ioctl(fd, TUNSETIFF, &ifreq)`: creates or attaches to a TUN device.
pub(super) fn tun_set_iff(fd: BorrowedFd<'_>, req: &mut IfReq) -> io::Result<()> {
    // SAFETY: TUNSETIFF reads and writes exactly one `struct ifreq`, which
    // `req` points to and exclusively borrows for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req.0 as *mut _) };
    check(rc)
}

/// `ioctl(fd, TUNSETVNETHDRSZ, &size)`.
pub(super) fn tun_set_vnet_hdr_sz(fd: BorrowedFd<'_>, size: libc::c_int) -> io::Result<()> {
    // SAFETY: TUNSETVNETHDRSZ reads one `int` through the pointer, which
    // points to a live local.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETVNETHDRSZ,
            &size as *const libc::c_int,
        )
    };
    check(rc)
}

/// `ioctl(fd, TUNSETOFFLOAD, flags)` (the flags are passed by value).
pub(super) fn tun_set_offload(fd: BorrowedFd<'_>, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value and dereferences
    // nothing.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(flags),
        )
    };
    check(rc)
}

/// `if_nametoindex(3)` in the calling thread's network namespace.
pub(super) fn if_nametoindex(name: &CStr) -> io::Result<u32> {
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(idx)
}

/// One `read(2)` into `buf`.
pub(super) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which
    // is exclusively borrowed for the call.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    // A negative return is the only failure; `try_from` fails exactly then.
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// One `writev(2)` of `bufs` in order; returns the bytes written.
pub(super) fn writev(fd: BorrowedFd<'_>, bufs: &[&[u8]]) -> io::Result<usize> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 2];
    if bufs.len() > iov.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    for (slot, b) in iov.iter_mut().zip(bufs) {
        // The kernel only reads through `iov_base` for a write.
        slot.iov_base = b.as_ptr().cast_mut().cast();
        slot.iov_len = b.len();
    }
    // `bufs.len() <= 2`, so the cast is lossless.
    let count = bufs.len() as libc::c_int;
    // SAFETY: the first `count` iovecs describe live, borrowed slices that
    // `writev` only reads.
    let n = unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), count) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `poll(2)` over `fds` with a timeout in milliseconds (-1: forever).
/// Returns the number of entries with a non-zero `revents`.
pub(super) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    let nfds = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `fds` is an exclusively borrowed array of `nfds` pollfds that
    // the kernel reads and writes during the call. A stale fd number is
    // reported as POLLNVAL, not undefined behaviour.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout_ms) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Checks an `ioctl`-style return code.
fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
