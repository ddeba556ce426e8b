//! Zero-copy, checked views of the packet formats the dataplane touches
//! (IPv4, IPv6, ICMPv4, ICMPv6, the bits of TCP that MSS clamping needs) and
//! the Internet checksum.
//!
//! smoltcp style: each `Packet<T: AsRef<[u8]>>` is built with `new_checked`,
//! which validates lengths once; after that no accessor panics, and setters
//! on `T: AsMut<[u8]>` modify the buffer in place. Semantic validation (what
//! a router accepts) lives in [`crate::pipeline`], not here.

pub mod checksum;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;

#[cfg(test)]
pub(crate) mod golden;

/// Why a buffer cannot be viewed as a given header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer is shorter than the (fixed or announced) header.
    Truncated,
    /// A length field is inconsistent (e.g. IHL < 5, TCP data offset < 5).
    BadLength,
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::Truncated => f.write_str("buffer shorter than the header"),
            WireError::BadLength => f.write_str("inconsistent header length field"),
        }
    }
}

impl std::error::Error for WireError {}

/// IP protocol / IPv6 next-header numbers used by the dataplane.
pub mod proto {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 hop-by-hop options.
    pub const HOP_BY_HOP: u8 = 0;
    /// IPv6 routing header.
    pub const ROUTING: u8 = 43;
    /// IPv6 fragment header.
    pub const FRAGMENT: u8 = 44;
    /// IPsec authentication header.
    pub const AUTH: u8 = 51;
    /// IPv6 destination options.
    pub const DEST_OPTS: u8 = 60;
}

/// Reads a big-endian u16 at `at`; 0 if out of bounds (callers check lengths first).
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

/// Reads a big-endian u32 at `at`; 0 if out of bounds.
#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Writes a big-endian u16 at `at`; no-op if out of bounds.
#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(s) = b.get_mut(at..at + 2) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Writes a big-endian u32 at `at`; no-op if out of bounds.
#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(s) = b.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}
