//! Prefix filters for import and export: an ordered list of prefix-list
//! rules with a default action.
//!
//! Self-contained on purpose: the config crate has its own filter syntax and
//! the daemon converts it into this.

use ipnet::IpNet;

/// What a matching rule (or the default) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Action {
    /// The prefix passes.
    #[default]
    Accept,
    /// The prefix is dropped.
    Reject,
}

/// One prefix-list rule.
///
/// A prefix `p` matches when it lies inside `prefix` (same family, the
/// first `prefix.prefix_len()` bits equal) and its length is in the range:
/// - neither `ge` nor `le`: exactly `prefix.prefix_len()`;
/// - `ge` only: `ge..=max` (32 or 128);
/// - `le` only: `prefix.prefix_len()..=le`;
/// - both: `ge..=le`.
///
/// (The FRR/Cisco prefix-list semantics.) A rule whose range is empty
/// (e.g. `ge > le`) matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrefixRule {
    /// The covering prefix.
    pub prefix: IpNet,
    /// Minimum length of a matching prefix.
    pub ge: Option<u8>,
    /// Maximum length of a matching prefix.
    pub le: Option<u8>,
    /// What to do on a match.
    pub action: Action,
}

impl PrefixRule {
    /// A rule matching exactly `prefix`.
    pub fn exact(prefix: IpNet, action: Action) -> PrefixRule {
        PrefixRule {
            prefix: prefix.trunc(),
            ge: None,
            le: None,
            action,
        }
    }

    /// A rule matching prefixes inside `prefix` with lengths in the range
    /// described on [`PrefixRule`].
    pub fn range(prefix: IpNet, ge: Option<u8>, le: Option<u8>, action: Action) -> PrefixRule {
        PrefixRule {
            prefix: prefix.trunc(),
            ge,
            le,
            action,
        }
    }

    /// Whether `p` matches this rule.
    pub fn matches(&self, p: &IpNet) -> bool {
        let len = p.prefix_len();
        let base = self.prefix.prefix_len();
        let (lo, hi) = match (self.ge, self.le) {
            (None, None) => (base, base),
            (Some(ge), None) => (ge, p.max_prefix_len()),
            (None, Some(le)) => (base, le),
            (Some(ge), Some(le)) => (ge, le),
        };
        // A prefix shorter than the rule's own is never inside it, whatever
        // `ge` says.
        len >= base && len >= lo && len <= hi && self.prefix.contains(p)
    }
}

/// An ordered prefix list: the first matching rule decides, otherwise
/// `default`. The default value (no rules, default Accept) accepts all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PrefixPolicy {
    /// Rules, evaluated in order.
    pub rules: Vec<PrefixRule>,
    /// The action when no rule matches.
    pub default: Action,
}

impl PrefixPolicy {
    /// Accept everything.
    pub fn accept_all() -> PrefixPolicy {
        PrefixPolicy::default()
    }

    /// Reject everything.
    pub fn reject_all() -> PrefixPolicy {
        PrefixPolicy {
            rules: Vec::new(),
            default: Action::Reject,
        }
    }

    /// `rules`, then `default`.
    pub fn new(rules: Vec<PrefixRule>, default: Action) -> PrefixPolicy {
        PrefixPolicy { rules, default }
    }

    /// Whether `p` passes the policy.
    pub fn permits(&self, p: &IpNet) -> bool {
        let action = self
            .rules
            .iter()
            .find(|r| r.matches(p))
            .map_or(self.default, |r| r.action);
        action == Action::Accept
    }

    /// Whether the policy accepts everything without looking (the fast
    /// path on ingest).
    pub(crate) fn is_accept_all(&self) -> bool {
        self.rules.is_empty() && self.default == Action::Accept
    }
}
