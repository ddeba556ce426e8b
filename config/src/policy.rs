//! Route policy rules of a BGP neighbor (`[[bgp.neighbor.import_rule]]`,
//! `[[bgp.neighbor.export_rule]]`): match conditions, then accept (with
//! attribute changes) or reject. First match wins; a route no rule
//! matches passes unchanged. The daemon turns them into the speaker's
//! rules.

use serde::Serialize;

use crate::community::{Community, LargeCommunity};
use crate::prefix_filter::PrefixFilter;

/// What a matching rule does with the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Keep it (with the rule's changes).
    #[default]
    Accept,
    /// Drop it.
    Reject,
}

/// One rule. Every `match_*` given must hold; none given matches every
/// route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PolicyRule {
    /// The prefix is inside one of these (prefix-list syntax).
    pub match_prefix: Option<Vec<PrefixFilter>>,
    /// The route carries at least one of these communities.
    pub match_community: Vec<Community>,
    /// The route carries at least one of these large communities.
    pub match_large_community: Vec<LargeCommunity>,
    /// Shortest AS path (best-path length) that matches.
    pub match_as_path_min: Option<u32>,
    /// Longest AS path that matches.
    pub match_as_path_max: Option<u32>,
    /// Accept or reject.
    pub action: RuleAction,
    /// LOCAL_PREF to set.
    pub set_local_pref: Option<u32>,
    /// MED to set.
    pub set_med: Option<u32>,
    /// Communities to add.
    pub add_community: Vec<Community>,
    /// Communities to remove.
    pub remove_community: Vec<Community>,
    /// Large communities to add.
    pub add_large_community: Vec<LargeCommunity>,
    /// Large communities to remove.
    pub remove_large_community: Vec<LargeCommunity>,
    /// Prepend our AS this many extra times (export rules only).
    pub prepend: u8,
}
