//! BGP prefix filters in FRR prefix-list style: `PREFIX`, `PREFIX le N`,
//! `PREFIX ge N`, `PREFIX ge N le M`, parsed into [`PrefixFilter`].

use std::fmt;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Serialize, Serializer};

/// One prefix-filter entry: matches routes inside `prefix` whose length is
/// within `min_len..=max_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixFilter {
    prefix: IpNet,
    min_len: u8,
    max_len: u8,
}

/// Why a prefix filter string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixFilterError {
    /// The text does not follow the grammar.
    #[error("'{0}' is not a prefix filter")]
    Syntax(String),
    /// The prefix part is not `address/len`.
    #[error("'{0}' is not a prefix (address/length)")]
    Prefix(String),
    /// The prefix has host bits set.
    #[error("prefix {given} has host bits set")]
    HostBits {
        /// As written.
        given: IpNet,
        /// The network it was probably meant to be.
        network: IpNet,
    },
    /// `ge`/`le` are out of order or out of range.
    #[error(
        "length range {ge}..={le} is empty or outside {plen}..={max} (need prefix length <= ge <= le <= {max})"
    )]
    Lengths {
        /// Prefix length.
        plen: u8,
        /// Effective `ge`.
        ge: u32,
        /// Effective `le`.
        le: u32,
        /// Address family maximum (32 or 128).
        max: u8,
    },
}

impl PrefixFilterError {
    /// A suggestion for fixing the error.
    pub fn help(&self) -> String {
        match self {
            Self::Syntax(_) | Self::Prefix(_) => {
                "write PREFIX, 'PREFIX le N', 'PREFIX ge N' or 'PREFIX ge N le M', e.g. \"10.0.0.0/8 le 24\"".into()
            }
            Self::HostBits { network, .. } => format!("use the network address: {network}"),
            Self::Lengths { plen, max, .. } => {
                format!("choose ge and le between {plen} and {max}, with ge <= le")
            }
        }
    }
}

impl PrefixFilter {
    /// Builds a filter; see [`FromStr`] for the rules.
    pub fn new(prefix: IpNet, ge: Option<u8>, le: Option<u8>) -> Result<Self, PrefixFilterError> {
        if prefix.trunc() != prefix {
            return Err(PrefixFilterError::HostBits {
                given: prefix,
                network: prefix.trunc(),
            });
        }
        let plen = prefix.prefix_len();
        let max = prefix.max_prefix_len();
        let (min_len, max_len) = match (ge, le) {
            (None, None) => (plen, plen),
            (Some(ge), None) => (ge, max),
            (None, Some(le)) => (plen, le),
            (Some(ge), Some(le)) => (ge, le),
        };
        if !(plen <= min_len && min_len <= max_len && max_len <= max) {
            return Err(PrefixFilterError::Lengths {
                plen,
                ge: min_len.into(),
                le: max_len.into(),
                max,
            });
        }
        Ok(Self {
            prefix,
            min_len,
            max_len,
        })
    }

    /// The covering prefix.
    pub fn prefix(&self) -> IpNet {
        self.prefix
    }

    /// Shortest matching prefix length.
    pub fn min_len(&self) -> u8 {
        self.min_len
    }

    /// Longest matching prefix length.
    pub fn max_len(&self) -> u8 {
        self.max_len
    }

    /// True if `net` lies inside the filter prefix (same family) and its
    /// length is within `min_len..=max_len`.
    pub fn matches(&self, net: &IpNet) -> bool {
        let len = net.prefix_len();
        self.min_len <= len && len <= self.max_len && self.prefix.contains(&net.trunc())
    }
}

fn parse_len(word: Option<&str>, text: &str) -> Result<u8, PrefixFilterError> {
    word.and_then(|w| w.parse::<u8>().ok())
        .ok_or_else(|| PrefixFilterError::Syntax(text.to_string()))
}

impl FromStr for PrefixFilter {
    type Err = PrefixFilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut words = text.split_whitespace();
        let first = words
            .next()
            .ok_or_else(|| PrefixFilterError::Syntax(text.to_string()))?;
        let prefix: IpNet = first
            .parse()
            .map_err(|_| PrefixFilterError::Prefix(first.to_string()))?;
        let (mut ge, mut le) = (None, None);
        let mut next = words.next();
        if next == Some("ge") {
            ge = Some(parse_len(words.next(), text)?);
            next = words.next();
        }
        if next == Some("le") {
            le = Some(parse_len(words.next(), text)?);
            next = words.next();
        }
        if next.is_some() {
            return Err(PrefixFilterError::Syntax(text.to_string()));
        }
        Self::new(prefix, ge, le)
    }
}

impl fmt::Display for PrefixFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plen = self.prefix.prefix_len();
        let max = self.prefix.max_prefix_len();
        write!(f, "{}", self.prefix)?;
        match (
            self.min_len == plen,
            self.max_len == plen,
            self.max_len == max,
        ) {
            (true, true, _) => Ok(()),
            (true, false, _) => write!(f, " le {}", self.max_len),
            (false, _, true) => write!(f, " ge {}", self.min_len),
            (false, _, false) => write!(f, " ge {} le {}", self.min_len, self.max_len),
        }
    }
}

impl Serialize for PrefixFilter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> PrefixFilter {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn n(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn match_table() {
        let cases = [
            ("10.0.0.0/8", "10.0.0.0/8", true),
            ("10.0.0.0/8", "10.1.0.0/16", false),
            ("10.0.0.0/8 le 24", "10.1.0.0/16", true),
            ("10.0.0.0/8 le 24", "10.1.1.0/24", true),
            ("10.0.0.0/8 le 24", "10.1.1.0/25", false),
            ("10.0.0.0/8 le 24", "11.0.0.0/16", false),
            ("10.0.0.0/8 le 24", "0.0.0.0/0", false),
            ("10.0.0.0/8 ge 16", "10.0.0.0/8", false),
            ("10.0.0.0/8 ge 16", "10.9.9.9/32", true),
            ("10.0.0.0/8 ge 16 le 24", "10.2.0.0/16", true),
            ("10.0.0.0/8 ge 16 le 24", "10.2.3.0/24", true),
            ("10.0.0.0/8 ge 16 le 24", "10.2.3.0/28", false),
            ("0.0.0.0/0 le 32", "192.0.2.0/24", true),
            ("0.0.0.0/0", "0.0.0.0/0", true),
            ("0.0.0.0/0 le 32", "2001:db8::/32", false),
            ("fd00:2::/48 le 64", "fd00:2:0:1::/64", true),
            ("fd00:2::/48 le 64", "fd00:3::/64", false),
            ("fd00:2::/48 le 64", "10.0.0.0/8", false),
            ("::/0 ge 48", "fd00::/48", true),
        ];
        for (filter, net, want) in cases {
            assert_eq!(f(filter).matches(&n(net)), want, "{filter} vs {net}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "10.0.0.0/8",
            "10.0.0.0/8 le 24",
            "10.0.0.0/8 ge 16",
            "10.0.0.0/8 ge 16 le 24",
            "fd00::/16 le 64",
        ] {
            assert_eq!(f(s).to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_filters() {
        let bad = |s: &str| s.parse::<PrefixFilter>().unwrap_err();
        assert!(matches!(bad(""), PrefixFilterError::Syntax(_)));
        assert!(matches!(bad("10.0.0.0"), PrefixFilterError::Prefix(_)));
        assert!(matches!(bad("10.0.0.0/8 le"), PrefixFilterError::Syntax(_)));
        assert!(matches!(
            bad("10.0.0.0/8 le 24 ge 16"),
            PrefixFilterError::Syntax(_)
        ));
        assert!(matches!(
            bad("10.0.0.0/8 foo 3"),
            PrefixFilterError::Syntax(_)
        ));
        assert!(matches!(
            bad("10.0.0.0/8 le 33"),
            PrefixFilterError::Lengths { .. }
        ));
        assert!(matches!(
            bad("10.0.0.0/16 le 8"),
            PrefixFilterError::Lengths { .. }
        ));
        assert!(matches!(
            bad("10.0.0.0/8 ge 24 le 16"),
            PrefixFilterError::Lengths { .. }
        ));
        let e = bad("10.1.0.0/8 le 24");
        assert_eq!(e.help(), "use the network address: 10.0.0.0/8");
    }
}
