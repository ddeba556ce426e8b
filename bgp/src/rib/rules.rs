//! Route policy rules per neighbor and direction: an ordered list, the
//! first rule whose match conditions all hold decides (accept, with
//! attribute changes, or reject); a route no rule matches passes
//! unchanged.
//!
//! Pure: [`Rules::evaluate`] looks at a prefix and its attributes and
//! names the rule that matched; [`Set::apply`] computes the changed
//! attributes. The RIB calls them on import (before the path is stored)
//! and on export (after the outgoing transform), and caches the results
//! per interned attribute set, so a full table sharing a few attribute
//! sets evaluates the changes a few times.

use ipnet::IpNet;

use super::policy::{Action, PrefixPolicy};
use crate::model::{AsPath, Community, LargeCommunity, PathAttributes};

/// What a rule matches. Every condition given must hold; a rule without
/// any matches every route.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Match {
    /// The prefix is permitted by this prefix list (`None`: any prefix).
    pub prefixes: Option<PrefixPolicy>,
    /// The route carries at least one of these communities (empty: no
    /// condition).
    pub communities: Vec<Community>,
    /// The route carries at least one of these large communities (empty:
    /// no condition).
    pub large_communities: Vec<LargeCommunity>,
    /// The AS path length (as best-path selection counts it) is in this
    /// inclusive range.
    pub as_path_len: Option<(u32, u32)>,
}

impl Match {
    /// Whether `prefix` with `attrs` satisfies every condition.
    pub fn matches(&self, prefix: &IpNet, attrs: &PathAttributes) -> bool {
        if let Some(p) = &self.prefixes
            && !p.permits(prefix)
        {
            return false;
        }
        if !self.communities.is_empty()
            && !attrs
                .communities
                .iter()
                .any(|c| self.communities.contains(c))
        {
            return false;
        }
        if !self.large_communities.is_empty()
            && !attrs
                .large_communities
                .iter()
                .any(|c| self.large_communities.contains(c))
        {
            return false;
        }
        if let Some((lo, hi)) = self.as_path_len {
            let len = attrs.as_path.path_len();
            if len < lo as usize || len > hi as usize {
                return false;
            }
        }
        true
    }
}

/// The attribute changes of an accepting rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Set {
    /// Set LOCAL_PREF (import; export towards iBGP only).
    pub local_pref: Option<u32>,
    /// Set MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// Communities added (after `remove_communities`), kept in order,
    /// never twice.
    pub add_communities: Vec<Community>,
    /// Communities removed.
    pub remove_communities: Vec<Community>,
    /// Large communities added (after `remove_large_communities`).
    pub add_large_communities: Vec<LargeCommunity>,
    /// Large communities removed.
    pub remove_large_communities: Vec<LargeCommunity>,
    /// Prepend our AS this many times more (export).
    pub prepend: u8,
}

impl Set {
    /// Whether the rule changes nothing (the route keeps its interned
    /// attributes).
    pub fn is_empty(&self) -> bool {
        *self == Set::default()
    }

    /// `attrs` with these changes; `asn` is ours (for `prepend`).
    pub fn apply(&self, attrs: &PathAttributes, asn: u32) -> PathAttributes {
        let mut out = attrs.clone();
        if let Some(lp) = self.local_pref {
            out.local_pref = Some(lp);
        }
        if let Some(med) = self.med {
            out.med = Some(med);
        }
        if !self.add_communities.is_empty() || !self.remove_communities.is_empty() {
            out.communities = edit(
                &attrs.communities,
                &self.remove_communities,
                &self.add_communities,
            );
        }
        if !self.add_large_communities.is_empty() || !self.remove_large_communities.is_empty() {
            out.large_communities = edit(
                &attrs.large_communities,
                &self.remove_large_communities,
                &self.add_large_communities,
            );
        }
        if self.prepend > 0 {
            out.as_path = prepend(&out.as_path, asn, self.prepend);
        }
        out
    }
}

/// `have` without `remove`, then `add` (each value once).
fn edit<T: Copy + PartialEq>(have: &[T], remove: &[T], add: &[T]) -> Box<[T]> {
    let mut v: Vec<T> = have
        .iter()
        .copied()
        .filter(|c| !remove.contains(c))
        .collect();
    for c in add {
        if !v.contains(c) {
            v.push(*c);
        }
    }
    v.into_boxed_slice()
}

/// `path` with `asn` prepended `n` times.
pub(crate) fn prepend(path: &AsPath, asn: u32, n: u8) -> AsPath {
    (0..n).fold(path.clone(), |p, _| p.prepend(asn))
}

/// One rule: match conditions, then accept (with changes) or reject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Rule {
    /// When the rule applies.
    pub when: Match,
    /// Accept or reject a matching route.
    pub action: Action,
    /// Changes to an accepted route.
    pub set: Set,
}

/// What the rules decided for one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No rule matched: the route passes unchanged.
    NoMatch,
    /// Rule `i` (0-based) matched and accepts the route.
    Accept(usize),
    /// Rule `i` (0-based) matched and rejects the route.
    Reject(usize),
}

impl Verdict {
    /// The rule that matched, if any.
    pub fn rule(self) -> Option<usize> {
        match self {
            Verdict::NoMatch => None,
            Verdict::Accept(i) | Verdict::Reject(i) => Some(i),
        }
    }
}

/// An ordered rule list; first match wins. Empty: every route passes
/// unchanged (and costs nothing on the hot paths).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Rules(pub Vec<Rule>);

impl Rules {
    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The decision for `prefix` with `attrs`.
    pub fn evaluate(&self, prefix: &IpNet, attrs: &PathAttributes) -> Verdict {
        match self.0.iter().position(|r| r.when.matches(prefix, attrs)) {
            None => Verdict::NoMatch,
            Some(i) if self.0[i].action == Action::Reject => Verdict::Reject(i),
            Some(i) => Verdict::Accept(i),
        }
    }

    /// The changes rule `i` makes, when it has any.
    pub(crate) fn changes(&self, i: usize) -> Option<&Set> {
        self.0.get(i).map(|r| &r.set).filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rib::PrefixRule;

    fn attrs(path: &[u32], comms: &[u32]) -> PathAttributes {
        PathAttributes {
            as_path: AsPath::sequence(path.to_vec()),
            communities: comms.iter().map(|&c| Community(c)).collect(),
            ..PathAttributes::default()
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    #[test]
    fn first_match_wins_and_no_match_passes() {
        let rules = Rules(vec![
            Rule {
                when: Match {
                    communities: vec![Community(0xfde9_0064)],
                    ..Match::default()
                },
                action: Action::Reject,
                set: Set::default(),
            },
            Rule {
                when: Match {
                    prefixes: Some(PrefixPolicy::new(
                        vec![PrefixRule::range(
                            net("10.0.0.0/8"),
                            None,
                            Some(24),
                            Action::Accept,
                        )],
                        Action::Reject,
                    )),
                    ..Match::default()
                },
                action: Action::Accept,
                set: Set {
                    local_pref: Some(200),
                    ..Set::default()
                },
            },
        ]);
        let tagged = attrs(&[65001], &[0xfde9_0064]);
        let plain = attrs(&[65001], &[]);
        assert_eq!(
            rules.evaluate(&net("10.1.0.0/16"), &tagged),
            Verdict::Reject(0)
        );
        assert_eq!(
            rules.evaluate(&net("10.1.0.0/16"), &plain),
            Verdict::Accept(1)
        );
        assert_eq!(
            rules.evaluate(&net("192.0.2.0/24"), &plain),
            Verdict::NoMatch
        );
        assert_eq!(rules.changes(1).and_then(|s| s.local_pref), Some(200));
        assert!(rules.changes(0).is_none());
    }

    #[test]
    fn as_path_length_and_large_communities_match() {
        let m = Match {
            as_path_len: Some((2, 3)),
            large_communities: vec![LargeCommunity(65001, 1, 2)],
            ..Match::default()
        };
        let mut a = attrs(&[1, 2], &[]);
        assert!(!m.matches(&net("10.0.0.0/8"), &a), "large community absent");
        a.large_communities = vec![LargeCommunity(9, 9, 9), LargeCommunity(65001, 1, 2)].into();
        assert!(m.matches(&net("10.0.0.0/8"), &a));
        a.as_path = AsPath::sequence(vec![1]);
        assert!(!m.matches(&net("10.0.0.0/8"), &a), "path too short");
        a.as_path = AsPath::sequence(vec![1, 2, 3, 4]);
        assert!(!m.matches(&net("10.0.0.0/8"), &a), "path too long");
    }

    #[test]
    fn set_edits_attributes() {
        let s = Set {
            med: Some(50),
            add_communities: vec![Community(3), Community(1)],
            remove_communities: vec![Community(2)],
            add_large_communities: vec![LargeCommunity(1, 2, 3)],
            prepend: 2,
            ..Set::default()
        };
        let out = s.apply(&attrs(&[65002], &[1, 2]), 65001);
        assert_eq!(out.med, Some(50));
        assert_eq!(&*out.communities, &[Community(1), Community(3)]);
        assert_eq!(&*out.large_communities, &[LargeCommunity(1, 2, 3)]);
        assert_eq!(out.as_path, AsPath::sequence(vec![65001, 65001, 65002]));
        assert_eq!(out.local_pref, None);
        assert!(Set::default().is_empty());
        assert!(!s.is_empty());
    }
}
