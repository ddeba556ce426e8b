//! ADD-PATH (RFC 7911): the Send/Receive mode a speaker announces per
//! address family, and what two OPENs agree on.
//!
//! RFC 7911 §5: "the ADD-PATH Capability [...] for an <AFI, SAFI> is
//! negotiated" in one direction when one side said it is able to send and
//! the other that it is able to receive; the two directions are negotiated
//! independently. Where it is negotiated, every prefix of that family in
//! UPDATEs going that way carries a 4-octet Path Identifier (RFC 7911 §3).
//!
//! The negotiated families are kept as a small bit set ([`AddPathFamilies`])
//! so the codec context ([`crate::wire::Ctx`]) stays `Copy`. Only IPv4 and
//! IPv6 unicast are interpreted by the codec; ADD-PATH for another family
//! is announced by no one here and, when a peer offers it, is not
//! negotiated.

use super::open::AddrFamily;

/// The Send/Receive field of one ADD-PATH tuple (RFC 7911 §4): "(a)
/// willing to receive multiple paths from its peer (value 1), (b) would
/// like to send multiple paths to its peer (value 2), or (c) both (value
/// 3)".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddPathMode {
    /// 1: willing to receive multiple paths.
    Receive,
    /// 2: would like to send multiple paths.
    Send,
    /// 3: both.
    Both,
}

impl AddPathMode {
    /// The mode of a wire value; `None` for any other value (RFC 7911 §4:
    /// such a capability "SHOULD be treated as not understood and
    /// ignored").
    pub fn from_wire(v: u8) -> Option<AddPathMode> {
        match v {
            1 => Some(AddPathMode::Receive),
            2 => Some(AddPathMode::Send),
            3 => Some(AddPathMode::Both),
            _ => None,
        }
    }

    /// The wire value.
    pub fn wire(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
        }
    }

    /// Whether this side may receive multiple paths.
    pub fn receives(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }

    /// Whether this side may send multiple paths.
    pub fn sends(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

/// A set of the address families the codec interprets (IPv4 and IPv6
/// unicast); any other family is never a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AddPathFamilies(u8);

impl AddPathFamilies {
    /// No family.
    pub const NONE: AddPathFamilies = AddPathFamilies(0);
    /// IPv4 and IPv6 unicast.
    pub const UNICAST: AddPathFamilies = AddPathFamilies(0b11);

    fn bit(f: AddrFamily) -> u8 {
        match f {
            AddrFamily::IPV4_UNICAST => 0b01,
            AddrFamily::IPV6_UNICAST => 0b10,
            _ => 0,
        }
    }

    /// Whether `f` is in the set.
    pub fn contains(self, f: AddrFamily) -> bool {
        Self::bit(f) != 0 && self.0 & Self::bit(f) != 0
    }

    /// Adds `f`; returns whether it could be added (IPv4 or IPv6 unicast).
    pub fn insert(&mut self, f: AddrFamily) -> bool {
        self.0 |= Self::bit(f);
        Self::bit(f) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members, IPv4 unicast first.
    pub fn iter(self) -> impl Iterator<Item = AddrFamily> {
        [AddrFamily::IPV4_UNICAST, AddrFamily::IPV6_UNICAST]
            .into_iter()
            .filter(move |f| self.contains(*f))
    }
}

/// ADD-PATH as negotiated for one session, per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AddPath {
    /// Families whose prefixes the peer sends us with Path Identifiers (we
    /// said receive, it said send).
    pub receive: AddPathFamilies,
    /// Families whose prefixes we send with Path Identifiers (we said
    /// send, it said receive).
    pub send: AddPathFamilies,
}

impl AddPath {
    /// Negotiates from our announced tuples and the peer's (RFC 7911 §5),
    /// restricted to `families` (the families of the session). A family
    /// listed twice by one side counts with its first tuple.
    pub fn negotiate(
        ours: &[(AddrFamily, AddPathMode)],
        theirs: &[(AddrFamily, AddPathMode)],
        families: &[AddrFamily],
    ) -> AddPath {
        let first = |list: &[(AddrFamily, AddPathMode)], f: AddrFamily| {
            list.iter().find(|(g, _)| *g == f).map(|(_, m)| *m)
        };
        let mut out = AddPath::default();
        for &f in families {
            let (Some(us), Some(them)) = (first(ours, f), first(theirs, f)) else {
                continue;
            };
            if us.receives() && them.sends() {
                out.receive.insert(f);
            }
            if us.sends() && them.receives() {
                out.send.insert(f);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Afi, Safi};

    const V4: AddrFamily = AddrFamily::IPV4_UNICAST;
    const V6: AddrFamily = AddrFamily::IPV6_UNICAST;

    #[test]
    fn modes_round_trip_and_others_are_not_understood() {
        for m in [AddPathMode::Receive, AddPathMode::Send, AddPathMode::Both] {
            assert_eq!(AddPathMode::from_wire(m.wire()), Some(m));
        }
        assert_eq!(AddPathMode::from_wire(0), None);
        assert_eq!(AddPathMode::from_wire(4), None);
    }

    #[test]
    fn each_direction_needs_a_sender_and_a_receiver() {
        use AddPathMode::*;
        let fams = [V4, V6];
        // We receive, they send: path ids come to us only.
        let n = AddPath::negotiate(&[(V4, Receive)], &[(V4, Send)], &fams);
        assert!(n.receive.contains(V4) && n.send.is_empty());
        // Both receive: nothing.
        let n = AddPath::negotiate(&[(V4, Receive)], &[(V4, Receive)], &fams);
        assert_eq!(n, AddPath::default());
        // Both both: each way.
        let n = AddPath::negotiate(&[(V4, Both), (V6, Both)], &[(V6, Both)], &fams);
        assert!(!n.receive.contains(V4) && n.receive.contains(V6) && n.send.contains(V6));
        // We send, they receive.
        let n = AddPath::negotiate(&[(V6, Send)], &[(V6, Both)], &fams);
        assert!(n.send.contains(V6) && n.receive.is_empty());
        // A family outside the session is not negotiated.
        let n = AddPath::negotiate(&[(V6, Both)], &[(V6, Both)], &[V4]);
        assert_eq!(n, AddPath::default());
    }

    #[test]
    fn family_set() {
        let mut s = AddPathFamilies::NONE;
        assert!(s.insert(V6));
        let evpn = AddrFamily {
            afi: Afi(25),
            safi: Safi(70),
        };
        assert!(!s.insert(evpn));
        assert!(!s.contains(evpn) && s.contains(V6) && !s.contains(V4));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![V6]);
        assert_eq!(AddPathFamilies::UNICAST.iter().count(), 2);
    }
}
