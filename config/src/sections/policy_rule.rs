//! Builder for a neighbor's `[[bgp.neighbor.import_rule]]` and
//! `[[bgp.neighbor.export_rule]]` tables, and the community lists that
//! static routes share with them.

use crate::community::{Community, LargeCommunity};
use crate::diagnostic::Span;
use crate::policy::{PolicyRule, RuleAction};
use crate::reader::{Ctx, Table, bad, int_in, string};

use super::bgp::filters;

/// Which list a rule is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Import,
    Export,
}

const RULE_KEYS: &[&str] = &[
    "match_prefix",
    "match_community",
    "match_large_community",
    "match_as_path_min",
    "match_as_path_max",
    "action",
    "set_local_pref",
    "set_med",
    "add_community",
    "remove_community",
    "add_large_community",
    "remove_large_community",
    "prepend",
];

/// Keys that change the route (meaningless in a reject rule).
const SET_KEYS: &[&str] = &[
    "set_local_pref",
    "set_med",
    "add_community",
    "remove_community",
    "add_large_community",
    "remove_large_community",
    "prepend",
];

/// A list of communities under `key` (empty when absent).
pub(crate) fn communities(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, key: &str) -> Vec<Community> {
    t.list(ctx, key, |v| {
        string(v)?
            .parse::<Community>()
            .map_err(|e| bad(e.to_string(), e.help()))
    })
    .opt()
    .map(|(l, _)| l.into_iter().map(|(c, _)| c).collect())
    .unwrap_or_default()
}

/// A list of large communities under `key` (empty when absent).
pub(crate) fn large_communities(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    key: &str,
) -> Vec<LargeCommunity> {
    t.list(ctx, key, |v| {
        string(v)?
            .parse::<LargeCommunity>()
            .map_err(|e| bad(e.to_string(), e.help()))
    })
    .opt()
    .map(|(l, _)| l.into_iter().map(|(c, _)| c).collect())
    .unwrap_or_default()
}

/// `prepend = N`: 1..=10 extra copies of our AS (more only makes the path
/// too long for some peers' limits).
pub(crate) fn prepend(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Option<(u8, Span)> {
    t.field(ctx, "prepend", |v| {
        int_in::<u8>(
            v,
            1,
            10,
            "use 1 to 10 extra copies of our AS, e.g. prepend = 2, or remove the key",
        )
    })
    .opt()
}

/// Reads one rule. Returns it, and where `set_local_pref` is when an
/// export rule has one (checked against the neighbor's kind later).
pub(crate) fn rule(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    dir: Direction,
) -> (PolicyRule, Option<(Span, String)>) {
    t.check_keys(ctx, RULE_KEYS);
    let match_prefix = filters(ctx, t, "match_prefix");
    let match_community = communities(ctx, t, "match_community");
    let match_large_community = large_communities(ctx, t, "match_large_community");
    let len = |ctx: &mut Ctx<'_>, key: &str| {
        t.field(ctx, key, |v| {
            int_in::<u32>(v, 0, 255, "use an AS path length such as 2")
        })
        .opt()
    };
    let min = len(ctx, "match_as_path_min");
    let max = len(ctx, "match_as_path_max");
    if let (Some((lo, _)), Some((hi, span))) = (&min, &max)
        && lo > hi
    {
        ctx.error(
            span,
            t.key_path("match_as_path_max"),
            bad(
                format!("match_as_path_max {hi} is below match_as_path_min {lo}: the rule matches nothing"),
                "make match_as_path_max at least match_as_path_min".to_string(),
            ),
        );
    }
    let action = t
        .field(ctx, "action", |v| match string(v)?.as_str() {
            "accept" => Ok(RuleAction::Accept),
            "reject" => Ok(RuleAction::Reject),
            other => Err(bad(
                format!("unknown action '{other}'"),
                "use \"accept\" (the default; applies the set_*/add_*/remove_* keys) or \"reject\""
                    .to_string(),
            )),
        })
        .or(RuleAction::Accept);
    let set_local_pref = t
        .field(ctx, "set_local_pref", |v| {
            int_in::<u32>(
                v,
                0,
                u32::MAX,
                "use a LOCAL_PREF such as 200 (default is 100; higher wins)",
            )
        })
        .opt();
    let set_med = t
        .field(ctx, "set_med", |v| {
            int_in::<u32>(v, 0, u32::MAX, "use a MED such as 10 (lower wins)")
        })
        .opt()
        .map(|(m, _)| m);
    let add_community = communities(ctx, t, "add_community");
    let remove_community = communities(ctx, t, "remove_community");
    let add_large_community = large_communities(ctx, t, "add_large_community");
    let remove_large_community = large_communities(ctx, t, "remove_large_community");
    let prepend = prepend(ctx, t);
    if dir == Direction::Import
        && let Some(v) = t.inner.get("prepend")
    {
        ctx.error(
            &v.span(),
            t.key_path("prepend"),
            bad(
                "prepend in an import rule: our AS is prepended on what we send, not on what we receive",
                "move it to an [[bgp.neighbor.export_rule]], or use set_local_pref to rank received routes".to_string(),
            ),
        );
    }
    if action == RuleAction::Reject {
        for key in SET_KEYS {
            if let Some(v) = t.inner.get(*key) {
                ctx.error(
                    &v.span(),
                    t.key_path(key),
                    bad(
                        format!("'{key}' in a rule with action = \"reject\": a rejected route is not changed"),
                        "remove the key, or make the rule action = \"accept\"".to_string(),
                    ),
                );
            }
        }
    }
    let local_pref_span = match dir {
        Direction::Export => set_local_pref
            .as_ref()
            .map(|(_, s)| (s.clone(), t.key_path("set_local_pref"))),
        Direction::Import => None,
    };
    let rule = PolicyRule {
        match_prefix,
        match_community,
        match_large_community,
        match_as_path_min: min.map(|(m, _)| m),
        match_as_path_max: max.map(|(m, _)| m),
        action,
        set_local_pref: set_local_pref.map(|(l, _)| l),
        set_med,
        add_community,
        remove_community,
        add_large_community,
        remove_large_community,
        prepend: prepend.map_or(0, |(p, _)| p),
    };
    (rule, local_pref_span)
}
