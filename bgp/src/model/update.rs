//! UPDATE message (RFC 4271 §4.3).

use ipnet::Ipv4Net;

use super::attrs::{AttrValue, Attribute, MpReach, MpUnreach};

/// UPDATE message, structured as on the wire: IPv4 withdrawn routes, path
/// attributes in wire order (MP_REACH/MP_UNREACH among them), IPv4 NLRI.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn IPv4 unicast prefixes.
    pub withdrawn: Vec<Ipv4Net>,
    /// Their ADD-PATH Path Identifiers (RFC 7911 §3), one per prefix when
    /// ADD-PATH is negotiated for IPv4 unicast in this direction, else
    /// empty.
    pub withdrawn_path_ids: Vec<u32>,
    /// Path attributes, in the order received or to be sent.
    pub attributes: Vec<Attribute>,
    /// Announced IPv4 unicast prefixes.
    pub nlri: Vec<Ipv4Net>,
    /// Their Path Identifiers, as for `withdrawn_path_ids`.
    pub nlri_path_ids: Vec<u32>,
}

impl Update {
    /// Whether this is an End-of-RIB marker (RFC 4724 §2): for IPv4 unicast
    /// an empty UPDATE, for other families an UPDATE with only an empty
    /// MP_UNREACH_NLRI.
    pub fn is_end_of_rib(&self) -> bool {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return false;
        }
        match self.attributes.as_slice() {
            [] => true,
            [a] => matches!(&a.value, AttrValue::MpUnreach(u) if u.withdrawn.is_empty()),
            _ => false,
        }
    }

    /// The MP_REACH_NLRI attribute, if any.
    pub fn mp_reach(&self) -> Option<&MpReach> {
        self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::MpReach(r) => Some(r),
            _ => None,
        })
    }

    /// The MP_UNREACH_NLRI attribute, if any.
    pub fn mp_unreach(&self) -> Option<&MpUnreach> {
        self.attributes.iter().find_map(|a| match &a.value {
            AttrValue::MpUnreach(u) => Some(u),
            _ => None,
        })
    }
}
