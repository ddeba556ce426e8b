//! BGP communities as the config writes them: standard ones (RFC 1997) as
//! `"ASN:VALUE"` or a well-known name (`no-export`, `no-advertise`,
//! `no-export-subconfed`), large ones (RFC 8092) as
//! `"GLOBAL:LOCAL1:LOCAL2"`.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A standard community, its 32-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

/// The RFC 1997 well-known communities by the names the config accepts.
const WELL_KNOWN: [(&str, u32); 3] = [
    ("no-export", 0xFFFF_FF01),
    ("no-advertise", 0xFFFF_FF02),
    ("no-export-subconfed", 0xFFFF_FF03),
];

/// A large community: global administrator and two local data parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

/// Why a community string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommunityError {
    /// Not `ASN:VALUE` (each 0..=65535) nor a well-known name.
    #[error("'{0}' is not a community")]
    Standard(String),
    /// Not `GLOBAL:LOCAL1:LOCAL2` (each 0..=4294967295).
    #[error("'{0}' is not a large community")]
    Large(String),
}

impl CommunityError {
    /// A suggestion for fixing the error.
    pub fn help(&self) -> String {
        match self {
            Self::Standard(_) => "write ASN:VALUE with both parts 0..=65535, e.g. \"65001:100\", or no-export, no-advertise, no-export-subconfed".into(),
            Self::Large(_) => "write GLOBAL:LOCAL1:LOCAL2 with 32-bit parts, e.g. \"4200000001:1:100\"".into(),
        }
    }
}

impl FromStr for Community {
    type Err = CommunityError;

    fn from_str(s: &str) -> Result<Community, CommunityError> {
        let t = s.trim();
        if let Some((_, v)) = WELL_KNOWN.iter().find(|(n, _)| t.eq_ignore_ascii_case(n)) {
            return Ok(Community(*v));
        }
        let err = || CommunityError::Standard(s.to_owned());
        let (hi, lo) = t.split_once(':').ok_or_else(err)?;
        let hi: u16 = hi.parse().map_err(|_| err())?;
        let lo: u16 = lo.parse().map_err(|_| err())?;
        Ok(Community(u32::from(hi) << 16 | u32::from(lo)))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match WELL_KNOWN.iter().find(|(_, v)| *v == self.0) {
            Some((n, _)) => f.write_str(n),
            None => write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff),
        }
    }
}

impl FromStr for LargeCommunity {
    type Err = CommunityError;

    fn from_str(s: &str) -> Result<LargeCommunity, CommunityError> {
        let err = || CommunityError::Large(s.to_owned());
        let mut parts = s
            .trim()
            .split(':')
            .map(|p| p.parse::<u32>().map_err(|_| err()));
        let (Some(g), Some(a), Some(b), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        Ok(LargeCommunity(g?, a?, b?))
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.0, self.1, self.2)
    }
}

impl Serialize for Community {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for LargeCommunity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_communities_parse_and_print() {
        let c: Community = "65001:100".parse().unwrap();
        assert_eq!(c, Community(65001 << 16 | 100));
        assert_eq!(c.to_string(), "65001:100");
        let n: Community = "NO-EXPORT".parse().unwrap();
        assert_eq!(n, Community(0xFFFF_FF01));
        assert_eq!(n.to_string(), "no-export");
        for bad in ["65536:1", "1:65536", "1", "a:b", "1:2:3", ""] {
            assert!(bad.parse::<Community>().is_err(), "{bad}");
        }
    }

    #[test]
    fn large_communities_parse_and_print() {
        let c: LargeCommunity = "4200000001:1:100".parse().unwrap();
        assert_eq!(c, LargeCommunity(4_200_000_001, 1, 100));
        assert_eq!(c.to_string(), "4200000001:1:100");
        for bad in ["1:2", "1:2:3:4", "4294967296:1:1", "x:1:1"] {
            assert!(bad.parse::<LargeCommunity>().is_err(), "{bad}");
        }
    }
}
