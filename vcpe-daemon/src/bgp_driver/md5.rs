//! TCP-MD5 signatures (RFC 2385) on BGP sockets: `setsockopt(TCP_MD5SIG)`
//! with the neighbor's address and the password, on the listening socket
//! (one key per neighbor) and on an outgoing socket before `connect`.
//!
//! Owns the only `unsafe` of the BGP driver. libc has the option number but
//! not `struct tcp_md5sig`, so it is declared here as in `linux/tcp.h`.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

/// `TCP_MD5SIG_MAXKEYLEN` (linux/tcp.h).
pub const MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` (linux/tcp.h).
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MAX_KEY_LEN],
}

/// Installs (or, with an empty `key`, removes) the MD5 key for segments
/// to and from `peer` on `socket`.
pub fn set_md5_key(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "TCP-MD5 password is {} bytes; Linux allows at most {MAX_KEY_LEN}",
                key.len()
            ),
        ));
    }
    // SAFETY: all-zero bytes are a valid value for this plain C struct.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    match peer {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any
            // sockaddr; we write a sockaddr_in at its start.
            let sin = unsafe { &mut *(&mut sig.addr as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut sig.addr as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = a.octets();
        }
    }
    // Bounded by MAX_KEY_LEN (80) above, so it fits u16.
    sig.keylen = key.len() as u16;
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sig` is a fully initialized tcp_md5sig that lives across the
    // call; the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            &sig as *const TcpMd5Sig as *const libc::c_void,
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layout_matches_the_kernel() {
        // 128 (sockaddr_storage) + 1 + 1 + 2 + 4 + 80.
        assert_eq!(std::mem::size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn keys_install_on_a_tcp_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        set_md5_key(&l, "127.0.0.2".parse().unwrap(), b"secret").expect("v4 key");
        set_md5_key(&l, "127.0.0.2".parse().unwrap(), b"").expect("remove key");
        let long = [b'x'; MAX_KEY_LEN + 1];
        let e = set_md5_key(&l, "127.0.0.2".parse().unwrap(), &long).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
