//! Path attributes (RFC 4271 §4.3, §5; RFC 1997, RFC 8092, RFC 4760,
//! RFC 6793, RFC 4456) as they appear in an UPDATE ([`Attribute`]), and the
//! normalized set a route carries in the RIB ([`PathAttributes`]).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::open::AddrFamily;

/// AS_TRANS (RFC 6793): the 2-octet stand-in for a 4-octet AS.
pub const AS_TRANS: u16 = 23456;

/// Attribute flags octet (RFC 4271 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AttrFlags(pub u8);

impl AttrFlags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial.
    pub const PARTIAL: u8 = 0x20;
    /// Two-octet length field.
    pub const EXTENDED_LENGTH: u8 = 0x10;

    /// Whether the optional bit is set.
    pub fn optional(self) -> bool {
        self.0 & Self::OPTIONAL != 0
    }
    /// Whether the transitive bit is set.
    pub fn transitive(self) -> bool {
        self.0 & Self::TRANSITIVE != 0
    }
    /// Whether the partial bit is set.
    pub fn partial(self) -> bool {
        self.0 & Self::PARTIAL != 0
    }
    /// Whether the extended length bit is set.
    pub fn extended_length(self) -> bool {
        self.0 & Self::EXTENDED_LENGTH != 0
    }
}

/// Attribute type codes (IANA). A newtype so unknown codes survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrType(pub u8);

impl AttrType {
    /// 1.
    pub const ORIGIN: AttrType = AttrType(1);
    /// 2.
    pub const AS_PATH: AttrType = AttrType(2);
    /// 3.
    pub const NEXT_HOP: AttrType = AttrType(3);
    /// 4.
    pub const MED: AttrType = AttrType(4);
    /// 5.
    pub const LOCAL_PREF: AttrType = AttrType(5);
    /// 6.
    pub const ATOMIC_AGGREGATE: AttrType = AttrType(6);
    /// 7.
    pub const AGGREGATOR: AttrType = AttrType(7);
    /// 8 (RFC 1997).
    pub const COMMUNITIES: AttrType = AttrType(8);
    /// 9 (RFC 4456).
    pub const ORIGINATOR_ID: AttrType = AttrType(9);
    /// 10 (RFC 4456).
    pub const CLUSTER_LIST: AttrType = AttrType(10);
    /// 14 (RFC 4760).
    pub const MP_REACH_NLRI: AttrType = AttrType(14);
    /// 15 (RFC 4760).
    pub const MP_UNREACH_NLRI: AttrType = AttrType(15);
    /// 17 (RFC 6793).
    pub const AS4_PATH: AttrType = AttrType(17);
    /// 18 (RFC 6793).
    pub const AS4_AGGREGATOR: AttrType = AttrType(18);
    /// 32 (RFC 8092).
    pub const LARGE_COMMUNITIES: AttrType = AttrType(32);
}

/// ORIGIN values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Origin {
    /// 0: IGP (preferred).
    #[default]
    Igp,
    /// 1: EGP.
    Egp,
    /// 2: INCOMPLETE.
    Incomplete,
}

/// One AS_PATH segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AsSegment {
    /// Type 2: AS_SEQUENCE.
    Sequence(Vec<u32>),
    /// Type 1: AS_SET.
    Set(Vec<u32>),
    /// Type 3: AS_CONFED_SEQUENCE (RFC 5065), kept but not interpreted.
    ConfedSequence(Vec<u32>),
    /// Type 4: AS_CONFED_SET (RFC 5065), kept but not interpreted.
    ConfedSet(Vec<u32>),
}

/// The kind of an AS path segment, by its wire type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// Type 1: AS_SET.
    Set = 1,
    /// Type 2: AS_SEQUENCE.
    Sequence = 2,
    /// Type 3: AS_CONFED_SEQUENCE.
    ConfedSequence = 3,
    /// Type 4: AS_CONFED_SET.
    ConfedSet = 4,
}

impl AsSegment {
    /// The segment's kind and AS numbers.
    pub fn parts(&self) -> (SegmentKind, &[u32]) {
        match self {
            AsSegment::Set(v) => (SegmentKind::Set, v),
            AsSegment::Sequence(v) => (SegmentKind::Sequence, v),
            AsSegment::ConfedSequence(v) => (SegmentKind::ConfedSequence, v),
            AsSegment::ConfedSet(v) => (SegmentKind::ConfedSet, v),
        }
    }

    /// A segment of `kind` holding `asns`.
    pub fn new(kind: SegmentKind, asns: Vec<u32>) -> AsSegment {
        match kind {
            SegmentKind::Set => AsSegment::Set(asns),
            SegmentKind::Sequence => AsSegment::Sequence(asns),
            SegmentKind::ConfedSequence => AsSegment::ConfedSequence(asns),
            SegmentKind::ConfedSet => AsSegment::ConfedSet(asns),
        }
    }
}

/// An AS path: segments in order, AS numbers always 32-bit here.
///
/// Stored in one allocation (every interned attribute set has one, and a
/// full table has ~250k sets): each segment is a header word (kind in the
/// top byte, length below) followed by its AS numbers. As a
/// `Vec<AsSegment>` the usual one-segment path took two allocations more
/// (the rib bench's distinct-attributes profile: 175 bytes a route, 143
/// now). Build one from segments with `From`, read it with
/// [`AsPath::segments`].
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath(Box<[u32]>);

/// One segment of an [`AsPath`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The segment's kind.
    pub kind: SegmentKind,
    /// Its AS numbers.
    pub asns: &'a [u32],
}

const KIND_SHIFT: u32 = 24;
const LEN_MASK: u32 = (1 << KIND_SHIFT) - 1;

impl From<Vec<AsSegment>> for AsPath {
    fn from(segments: Vec<AsSegment>) -> AsPath {
        AsPath::from_parts(segments.iter().map(AsSegment::parts))
    }
}

impl std::fmt::Debug for AsPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("AsPath").field(&self.to_segments()).finish()
    }
}

impl AsPath {
    /// A path of one AS_SEQUENCE.
    pub fn sequence(asns: impl Into<Vec<u32>>) -> AsPath {
        let asns = asns.into();
        if asns.is_empty() {
            AsPath::default()
        } else {
            AsPath::from_parts([(SegmentKind::Sequence, asns.as_slice())])
        }
    }

    /// A path of these segments (kind, AS numbers), in order. A segment
    /// longer than 2^24 - 1 AS numbers (no UPDATE could carry it) is cut.
    pub fn from_parts<'a>(parts: impl IntoIterator<Item = (SegmentKind, &'a [u32])>) -> AsPath {
        let mut words = Vec::new();
        for (kind, asns) in parts {
            let asns = &asns[..asns.len().min(LEN_MASK as usize)];
            words.push((kind as u32) << KIND_SHIFT | asns.len() as u32);
            words.extend_from_slice(asns);
        }
        AsPath(words.into_boxed_slice())
    }

    /// A path from its stored form (headers made by [`AsPath::header`],
    /// each followed by its AS numbers), for decoders that build it in
    /// place.
    pub(crate) fn from_words(words: Vec<u32>) -> AsPath {
        AsPath(words.into_boxed_slice())
    }

    /// The header word of a segment of `kind` with `len` AS numbers (at
    /// most 2^24 - 1).
    pub(crate) fn header(kind: SegmentKind, len: usize) -> u32 {
        (kind as u32) << KIND_SHIFT | (len as u32 & LEN_MASK)
    }

    /// The segments, in order.
    pub fn segments(&self) -> Segments<'_> {
        Segments { rest: &self.0 }
    }

    /// The segments, owned.
    pub fn to_segments(&self) -> Vec<AsSegment> {
        self.segments()
            .map(|s| AsSegment::new(s.kind, s.asns.to_vec()))
            .collect()
    }

    /// Whether the path has no segment.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2 a): each AS
    /// in a sequence counts 1, each AS_SET counts 1, confederation segments
    /// count 0 (RFC 5065 §5.3).
    pub fn path_len(&self) -> usize {
        self.segments()
            .map(|s| match s.kind {
                SegmentKind::Sequence => s.asns.len(),
                SegmentKind::Set => 1,
                SegmentKind::ConfedSequence | SegmentKind::ConfedSet => 0,
            })
            .sum()
    }

    /// The neighbor AS (first AS of a leading AS_SEQUENCE), used for MED
    /// comparison; `None` for an empty path (a locally originated or iBGP
    /// route from inside the AS).
    pub fn first_as(&self) -> Option<u32> {
        match self.segments().next() {
            Some(Segment {
                kind: SegmentKind::Sequence,
                asns,
            }) => asns.first().copied(),
            _ => None,
        }
    }

    /// Whether `asn` appears anywhere in the path (eBGP loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments().any(|s| s.asns.contains(&asn))
    }

    /// This path with `asn` prepended (what an eBGP speaker sends).
    pub fn prepend(&self, asn: u32) -> AsPath {
        let mut words = Vec::with_capacity(self.0.len() + 2);
        match self.segments().next() {
            Some(Segment {
                kind: SegmentKind::Sequence,
                asns,
            }) if asns.len() < 255 => {
                words.push((SegmentKind::Sequence as u32) << KIND_SHIFT | (asns.len() as u32 + 1));
                words.push(asn);
                words.extend_from_slice(&self.0[1..]);
            }
            _ => {
                words.push((SegmentKind::Sequence as u32) << KIND_SHIFT | 1);
                words.push(asn);
                words.extend_from_slice(&self.0);
            }
        }
        AsPath(words.into_boxed_slice())
    }
}

/// The segments of an [`AsPath`] ([`AsPath::segments`]).
#[derive(Debug, Clone)]
pub struct Segments<'a> {
    rest: &'a [u32],
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        let (&head, tail) = self.rest.split_first()?;
        let kind = match head >> KIND_SHIFT {
            1 => SegmentKind::Set,
            2 => SegmentKind::Sequence,
            3 => SegmentKind::ConfedSequence,
            _ => SegmentKind::ConfedSet,
        };
        let len = ((head & LEN_MASK) as usize).min(tail.len());
        let (asns, rest) = tail.split_at(len);
        self.rest = rest;
        Some(Segment { kind, asns })
    }
}

/// A standard community (RFC 1997), as its 32-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT.
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE.
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
}

/// A large community (RFC 8092): global administrator, two local data parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

/// MP_REACH_NLRI value (RFC 4760 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReach {
    /// AFI/SAFI of the NLRI.
    pub family: AddrFamily,
    /// Next hop(s): for IPv6 a global address, optionally followed by a
    /// link-local one (length 16 or 32).
    pub next_hops: Vec<IpAddr>,
    /// The reserved octet (SNPA count in RFC 2858), kept for re-encoding.
    pub reserved: u8,
    /// Reachable prefixes.
    pub nlri: Vec<IpNet>,
    /// Their ADD-PATH Path Identifiers (RFC 7911 §3): one per prefix when
    /// ADD-PATH is negotiated for `family` in this direction, else empty.
    pub path_ids: Vec<u32>,
}

/// MP_UNREACH_NLRI value (RFC 4760 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    /// AFI/SAFI of the withdrawn prefixes.
    pub family: AddrFamily,
    /// Withdrawn prefixes (empty: End-of-RIB marker for this family).
    pub withdrawn: Vec<IpNet>,
    /// Their Path Identifiers, as for [`MpReach::path_ids`].
    pub path_ids: Vec<u32>,
}

/// An attribute whose value is kept as raw bytes (unknown or not
/// interpreted), for byte-exact pass-through.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Flags as received (the Partial bit is set when passed on, per
    /// RFC 4271 §5 for optional transitive attributes).
    pub flags: AttrFlags,
    /// Type code.
    pub type_code: AttrType,
    /// Value bytes.
    pub value: Vec<u8>,
}

/// The value of one path attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// ORIGIN.
    Origin(Origin),
    /// AS_PATH (2- or 4-octet on the wire per session).
    AsPath(AsPath),
    /// NEXT_HOP.
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC.
    Med(u32),
    /// LOCAL_PREF.
    LocalPref(u32),
    /// ATOMIC_AGGREGATE.
    AtomicAggregate,
    /// AGGREGATOR: AS (2 or 4 octets on the wire per session) and address.
    Aggregator {
        /// Aggregating AS.
        asn: u32,
        /// Aggregating router's address.
        addr: Ipv4Addr,
    },
    /// COMMUNITIES.
    Communities(Vec<Community>),
    /// ORIGINATOR_ID (RFC 4456 §8): the BGP identifier of the route's
    /// originator in the local AS, set by the first route reflector.
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST (RFC 4456 §8): the cluster ids the route was reflected
    /// through, the last reflector's first.
    ClusterList(Vec<Ipv4Addr>),
    /// LARGE_COMMUNITIES.
    LargeCommunities(Vec<LargeCommunity>),
    /// AS4_PATH (always 4-octet).
    As4Path(AsPath),
    /// AS4_AGGREGATOR (always 4-octet AS).
    As4Aggregator {
        /// Aggregating AS.
        asn: u32,
        /// Aggregating router's address.
        addr: Ipv4Addr,
    },
    /// MP_REACH_NLRI.
    MpReach(MpReach),
    /// MP_UNREACH_NLRI.
    MpUnreach(MpUnreach),
    /// Anything else, byte-exact.
    Raw(RawAttribute),
}

/// One attribute as it appears in an UPDATE: flags as received (so the
/// extended-length choice re-encodes byte-exact) plus the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The flags octet. For [`AttrValue::Raw`] the raw attribute's own flags
    /// are authoritative.
    pub flags: AttrFlags,
    /// The value.
    pub value: AttrValue,
}

/// The attributes a route carries in the RIB: normalized (AS4_PATH merged
/// into AS_PATH, NLRI and MP attributes removed), hashable so that routes
/// sharing attributes share one interned copy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttributes {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH with 32-bit AS numbers.
    pub as_path: AsPath,
    /// The next hop: NEXT_HOP for IPv4 NLRI, the MP_REACH global next hop
    /// otherwise.
    pub next_hop: Option<IpAddr>,
    /// IPv6 link-local next hop from MP_REACH, if present.
    pub link_local_next_hop: Option<std::net::Ipv6Addr>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// LOCAL_PREF (iBGP).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (AS, address), AS4_AGGREGATOR merged in.
    pub aggregator: Option<(u32, Ipv4Addr)>,
    /// COMMUNITIES. Boxed slices, not `Vec`s: 16 bytes each instead of
    /// 24 in every interned attribute set (a full table has ~250k).
    pub communities: Box<[Community]>,
    /// LARGE_COMMUNITIES.
    pub large_communities: Box<[LargeCommunity]>,
    /// ORIGINATOR_ID and CLUSTER_LIST (RFC 4456), `None` when the route
    /// carries neither (never reflected). Read and set them with
    /// [`PathAttributes::originator_id`], [`PathAttributes::cluster_list`]
    /// and the setters, which keep "neither" as `None`.
    pub reflection: Option<Box<Reflection>>,
    /// Unknown optional transitive attributes, passed on with Partial set.
    pub unknown: Box<[RawAttribute]>,
}

/// The route-reflection attributes of a route (RFC 4456 §8). Boxed in
/// [`PathAttributes`]: most routes never carry them, and inline the two
/// fields would add 24 bytes to every interned attribute set, boxed 8.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Reflection {
    /// ORIGINATOR_ID: the BGP identifier of the route's originator in the
    /// AS, set by the first reflector; best path takes it for the peer's
    /// router id.
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST, the last reflector's cluster id first.
    pub cluster_list: Box<[Ipv4Addr]>,
}

impl PathAttributes {
    /// ORIGINATOR_ID (RFC 4456), if present.
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        self.reflection.as_ref().and_then(|r| r.originator_id)
    }

    /// CLUSTER_LIST (RFC 4456), the last reflector's cluster id first;
    /// empty when absent.
    pub fn cluster_list(&self) -> &[Ipv4Addr] {
        self.reflection
            .as_ref()
            .map_or(&[][..], |r| &r.cluster_list[..])
    }

    /// Sets ORIGINATOR_ID (`None`: removes it).
    pub fn set_originator_id(&mut self, id: Option<Ipv4Addr>) {
        let list = self.take_cluster_list();
        self.set_reflection(id, list);
    }

    /// Sets CLUSTER_LIST (empty: removes it).
    pub fn set_cluster_list(&mut self, list: Box<[Ipv4Addr]>) {
        let id = self.originator_id();
        self.set_reflection(id, list);
    }

    /// Sets both; neither present leaves no box, so that equal attribute
    /// sets stay equal (and intern together).
    pub fn set_reflection(
        &mut self,
        originator_id: Option<Ipv4Addr>,
        cluster_list: Box<[Ipv4Addr]>,
    ) {
        self.reflection = (originator_id.is_some() || !cluster_list.is_empty()).then(|| {
            Box::new(Reflection {
                originator_id,
                cluster_list,
            })
        });
    }

    fn take_cluster_list(&mut self) -> Box<[Ipv4Addr]> {
        self.reflection
            .take()
            .map(|r| r.cluster_list)
            .unwrap_or_default()
    }
}
