//! A minimal BGP feeder: the OPEN/KEEPALIVE handshake over a blocking
//! [`TcpStream`], a framed reader of the peer's messages, and a table of N
//! IPv4 /24s encoded into UPDATEs up front, all with the crate's own codec
//! (`vcpe_bgp::wire`).
//!
//! Two users: the BGP load test (`tests/tests/bgp_load.rs`) and the
//! benchmark's feeder and sink (`bgp/examples/bgp_feed.rs`, run by
//! `bench/bgp.sh`). The example cannot depend on this crate (this crate
//! depends on `vcpe-bgp`), so it compiles this file into itself with
//! `#[path]`: keep it to `std`, `vcpe_bgp`, `bytes` and `ipnet`, with no
//! `crate::` paths, and errors as plain `String`s.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};

use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net};
use vcpe_bgp::model::{
    AS_TRANS, AddrFamily, AsPath, Capability, Message, Open, Origin, ParamLayout, PathAttributes,
    Update,
};
use vcpe_bgp::wire::{Ctx, build_updates, decode, end_of_rib, frame_len};

/// Errors are messages for a person (the example prints them, the test
/// fails with them).
pub type Result<T> = std::result::Result<T, String>;

/// Prefixes per UPDATE in the [`Profile::Spread`] profile.
pub const SPREAD: usize = 4;

/// The first private 4-octet AS (RFC 6996): the [`Profile::Spread`] AS
/// paths.
pub const PRIVATE_AS4: u32 = 4_200_000_000;

/// Who we are in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionParams {
    /// Our AS (sent as a 4-octet AS capability; `AS_TRANS` in the OPEN if
    /// it does not fit 2 octets).
    pub local_as: u32,
    /// The AS the peer must have.
    pub peer_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// The hold time we propose, in seconds.
    pub hold: u16,
}

/// An established session: the reading half, a writing handle on the same
/// socket, and the negotiated codec context.
#[derive(Debug)]
pub struct Session {
    /// The peer's messages.
    pub reader: Reader,
    /// A clone of the socket for writing.
    pub writer: TcpStream,
    /// Codec context (4-octet AS negotiated or not).
    pub ctx: Ctx,
}

/// Sends our OPEN on `stream`, checks the peer's OPEN (its AS), answers
/// with a KEEPALIVE and waits for the peer's KEEPALIVE.
pub fn handshake(params: &SessionParams, stream: TcpStream) -> Result<Session> {
    let io = |e: std::io::Error| format!("socket: {e}");
    stream.set_nodelay(true).map_err(io)?;
    let mut writer = stream.try_clone().map_err(io)?;
    let open = Open {
        version: 4,
        my_as: u16::try_from(params.local_as).unwrap_or(AS_TRANS),
        hold_time: params.hold,
        bgp_id: params.router_id,
        capabilities: vec![
            Capability::Multiprotocol(AddrFamily::IPV4_UNICAST),
            Capability::FourOctetAs(params.local_as),
        ],
        layout: ParamLayout::Single,
        other_params: Vec::new(),
    };
    let mut out = BytesMut::new();
    Message::Open(open)
        .encode(&Ctx::default(), &mut out)
        .map_err(|e| format!("encoding OPEN: {e}"))?;
    writer.write_all(&out).map_err(io)?;
    let mut reader = Reader::new(stream);
    let mut ctx = Ctx::default();
    let mut got_open = false;
    loop {
        let msg = reader.next(&ctx)?;
        match decode(msg, &ctx).map_err(|e| format!("decoding: {e}"))?.0 {
            Message::Open(o) if !got_open => {
                if o.asn() != params.peer_as {
                    return Err(format!(
                        "the peer is AS {}, expected {}",
                        o.asn(),
                        params.peer_as
                    ));
                }
                ctx.four_octet_as = o.four_octet_as().is_some();
                got_open = true;
                writer.write_all(&keepalive_bytes()).map_err(io)?;
            }
            Message::Keepalive if got_open => {
                return Ok(Session {
                    reader,
                    writer,
                    ctx,
                });
            }
            Message::Notification(n) => {
                return Err(format!(
                    "NOTIFICATION during the handshake: {}",
                    n.describe()
                ));
            }
            m => return Err(format!("unexpected {} during the handshake", m.name())),
        }
    }
}

/// One encoded KEEPALIVE.
pub fn keepalive_bytes() -> BytesMut {
    let mut out = BytesMut::new();
    Message::Keepalive
        .encode(&Ctx::default(), &mut out)
        .expect("a KEEPALIVE always encodes");
    out
}

/// A framed reader of BGP messages on a stream.
pub struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("buffered", &(self.end - self.start))
            .finish()
    }
}

impl Reader {
    /// Reads from `stream` (1 MiB buffer).
    pub fn new(stream: TcpStream) -> Reader {
        Reader {
            stream,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
        }
    }

    /// The socket, and the bytes read from it that no [`Reader::next`]
    /// returned yet (to go on reading it another way).
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        let rest = self.buf[self.start..self.end].to_vec();
        (self.stream, rest)
    }

    /// The next whole message (header included), or an error on EOF, a
    /// read error or a framing error.
    pub fn next(&mut self, ctx: &Ctx) -> Result<&[u8]> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(len) = frame_len(avail, ctx).map_err(|e| format!("framing: {e}"))?
                && avail.len() >= len
            {
                let at = self.start;
                self.start += len;
                return Ok(&self.buf[at..at + len]);
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            } else if self.buf.len() - self.end < 65536 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let n = self
                .stream
                .read(&mut self.buf[self.end..])
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the peer closed the connection".to_owned());
            }
            self.end += n;
        }
    }
}

/// How the table is cut into UPDATEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// As many prefixes as fit 4096 octets (about 1000) under one shared
    /// attribute set.
    Packed,
    /// [`SPREAD`] prefixes per UPDATE, each UPDATE with its own AS path
    /// (`ORIGIN_AS PRIVATE_AS4+i`).
    Spread,
}

/// A table to announce: `count` consecutive /24s from `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// The first prefix's address.
    pub base: Ipv4Addr,
    /// How many /24s.
    pub count: u32,
    /// How they are packed.
    pub profile: Profile,
    /// The AS path's first (our) AS.
    pub origin_as: u32,
    /// NEXT_HOP of every route.
    pub next_hop: Ipv4Addr,
}

impl Table {
    /// Errors if the range runs past 255.255.255.0.
    pub fn check(&self) -> Result<()> {
        if u64::from(u32::from(self.base)) + (u64::from(self.count) << 8) > 1 << 32 {
            return Err(format!(
                "{} /24s from {} run past 255.255.255.0",
                self.count, self.base
            ));
        }
        Ok(())
    }

    /// The `i`-th prefix.
    pub fn prefix(&self, i: u32) -> IpNet {
        let addr = Ipv4Addr::from(u32::from(self.base) + (i << 8));
        IpNet::V4(Ipv4Net::new(addr, 24).expect("24 is a valid length"))
    }

    /// Every UPDATE of the table, End-of-RIB last, encoded back to back;
    /// and how many UPDATEs carry prefixes.
    pub fn encode(&self, ctx: &Ctx) -> Result<(BytesMut, usize)> {
        self.check()?;
        let prefixes: Vec<IpNet> = (0..self.count).map(|i| self.prefix(i)).collect();
        let base_attrs = PathAttributes {
            origin: Origin::Igp,
            as_path: AsPath::sequence(vec![self.origin_as]),
            next_hop: Some(IpAddr::V4(self.next_hop)),
            ..PathAttributes::default()
        };
        let mut updates: Vec<Update> = Vec::new();
        match self.profile {
            Profile::Packed => {
                build_updates(&base_attrs, &prefixes, ctx, &mut updates);
            }
            Profile::Spread => {
                for (i, chunk) in prefixes.chunks(SPREAD).enumerate() {
                    let attrs = PathAttributes {
                        as_path: AsPath::sequence(vec![self.origin_as, PRIVATE_AS4 + i as u32]),
                        ..base_attrs.clone()
                    };
                    build_updates(&attrs, chunk, ctx, &mut updates);
                }
            }
        }
        let n = updates.len();
        updates.push(end_of_rib(AddrFamily::IPV4_UNICAST));
        let mut out = BytesMut::with_capacity(n * 64 + (self.count as usize) * 4);
        for u in &updates {
            u.encode(ctx, &mut out)
                .map_err(|e| format!("encoding an UPDATE: {e}"))?;
        }
        Ok((out, n))
    }
}
