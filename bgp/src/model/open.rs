//! OPEN message and capabilities (RFC 4271 §4.2, RFC 5492, RFC 4760,
//! RFC 6793, RFC 2918, RFC 4724, RFC 7911).

use std::net::Ipv4Addr;

use super::add_path::AddPathMode;

/// Address Family Identifier (IANA). A newtype so unknown values survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Afi(pub u16);

impl Afi {
    /// IPv4.
    pub const IPV4: Afi = Afi(1);
    /// IPv6.
    pub const IPV6: Afi = Afi(2);
}

/// Subsequent Address Family Identifier (IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Safi(pub u8);

impl Safi {
    /// Unicast.
    pub const UNICAST: Safi = Safi(1);
}

/// An (AFI, SAFI) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddrFamily {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl AddrFamily {
    /// IPv4 unicast.
    pub const IPV4_UNICAST: AddrFamily = AddrFamily {
        afi: Afi::IPV4,
        safi: Safi::UNICAST,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: AddrFamily = AddrFamily {
        afi: Afi::IPV6,
        safi: Safi::UNICAST,
    };
}

/// Graceful restart capability value (RFC 4724 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GracefulRestart {
    /// The 4 flag bits (R = 0x8, N = 0x4), high nibble of the first octet.
    pub flags: u8,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    /// Per family: (family, flags octet; F = 0x80 forwarding state kept).
    pub families: Vec<(AddrFamily, u8)>,
}

/// One capability (RFC 5492). Unknown codes are kept as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Code 1: multiprotocol extensions (RFC 4760).
    Multiprotocol(AddrFamily),
    /// Code 2: route refresh (RFC 2918).
    RouteRefresh,
    /// Code 64: graceful restart (RFC 4724).
    GracefulRestart(GracefulRestart),
    /// Code 65: 4-octet AS number (RFC 6793).
    FourOctetAs(u32),
    /// Code 69: ADD-PATH (RFC 7911 §4), one (family, Send/Receive) tuple
    /// per family, in wire order.
    AddPath(Vec<(AddrFamily, AddPathMode)>),
    /// Code 70: enhanced route refresh (RFC 7313).
    EnhancedRouteRefresh,
    /// Any other code, value kept byte-exact (e.g. 71 LLGR,
    /// 73 FQDN, 128 Cisco route refresh).
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

impl Capability {
    /// The capability code on the wire.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => 1,
            Capability::RouteRefresh => 2,
            Capability::GracefulRestart(_) => 64,
            Capability::FourOctetAs(_) => 65,
            Capability::AddPath(_) => 69,
            Capability::EnhancedRouteRefresh => 70,
            Capability::Unknown { code, .. } => *code,
        }
    }
}

/// How the capabilities were (or are to be) packed into optional
/// parameters: BIRD, GoBGP and OpenBGPD put all capabilities into one
/// Capabilities parameter; FRR sends one parameter per capability. Both must
/// be accepted; the layout is kept so a decoded OPEN re-encodes byte-exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParamLayout {
    /// One optional parameter (type 2) holding every capability.
    #[default]
    Single,
    /// One optional parameter (type 2) per capability.
    PerCapability,
}

/// OPEN message (RFC 4271 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// BGP version; always 4 when sent.
    pub version: u8,
    /// The "My Autonomous System" field as on the wire (AS_TRANS = 23456
    /// when the real AS does not fit 16 bits). The real AS is
    /// [`Open::asn`].
    pub my_as: u16,
    /// Proposed hold time in seconds (0 or >= 3).
    pub hold_time: u16,
    /// BGP identifier.
    pub bgp_id: Ipv4Addr,
    /// Capabilities, in wire order.
    pub capabilities: Vec<Capability>,
    /// Optional parameter layout of `capabilities`.
    pub layout: ParamLayout,
    /// Optional parameters other than capabilities (type, value), kept.
    pub other_params: Vec<(u8, Vec<u8>)>,
}

impl Open {
    /// The sender's real AS: the 4-octet AS capability if present, else
    /// `my_as`.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// The value of the 4-octet AS capability, if sent.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// Address families announced with the multiprotocol capability. A peer
    /// that sends no multiprotocol capability at all implicitly speaks IPv4
    /// unicast only (RFC 4760 §8).
    pub fn families(&self) -> Vec<AddrFamily> {
        let mp: Vec<AddrFamily> = self
            .capabilities
            .iter()
            .filter_map(|c| match c {
                Capability::Multiprotocol(f) => Some(*f),
                _ => None,
            })
            .collect();
        if mp.is_empty() {
            vec![AddrFamily::IPV4_UNICAST]
        } else {
            mp
        }
    }

    /// Whether the route refresh capability (code 2) was sent.
    pub fn route_refresh(&self) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::RouteRefresh))
    }

    /// The ADD-PATH tuples (RFC 7911), empty if the capability was not
    /// sent. A speaker that sends the capability twice is read by its first.
    pub fn add_path(&self) -> &[(AddrFamily, AddPathMode)] {
        self.capabilities
            .iter()
            .find_map(|c| match c {
                Capability::AddPath(t) => Some(&t[..]),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The graceful restart capability, if sent.
    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g),
            _ => None,
        })
    }
}
