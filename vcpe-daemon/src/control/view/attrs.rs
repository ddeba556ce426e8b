//! BGP path attributes in the words `vcpectl` prints: AS paths as flat
//! lists, origins, communities ("65001:100", well-known ones by name).

use vcpe_bgp::model::{Community, LargeCommunity, Origin, PathAttributes};

use vcpe_api::view::AdjRibRoute;

/// The AS numbers of a path, left to right (sets and confederation
/// segments flattened in place).
pub fn as_path(attrs: &PathAttributes) -> Vec<u32> {
    attrs
        .as_path
        .segments()
        .flat_map(|seg| seg.asns.iter().copied())
        .collect()
}

/// "igp", "egp" or "incomplete".
pub fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Igp => "igp",
        Origin::Egp => "egp",
        Origin::Incomplete => "incomplete",
    }
}

/// A standard community as "HIGH:LOW", the RFC 1997 well-known ones by
/// name.
pub fn community(c: Community) -> String {
    match c.0 {
        0xFFFF_FF01 => "no-export".to_owned(),
        0xFFFF_FF02 => "no-advertise".to_owned(),
        0xFFFF_FF03 => "no-export-subconfed".to_owned(),
        v => format!("{}:{}", v >> 16, v & 0xFFFF),
    }
}

/// A large community as "GLOBAL:LOCAL1:LOCAL2".
pub fn large_community(c: LargeCommunity) -> String {
    format!("{}:{}:{}", c.0, c.1, c.2)
}

/// One Adj-RIB route from its attributes.
pub fn adj_route(prefix: String, attrs: &PathAttributes) -> AdjRibRoute {
    AdjRibRoute {
        prefix,
        next_hop: attrs.next_hop.map(|a| a.to_string()),
        as_path: as_path(attrs),
        origin: Some(origin(attrs.origin).to_owned()),
        med: attrs.med,
        local_pref: attrs.local_pref,
        communities: attrs.communities.iter().copied().map(community).collect(),
        large_communities: attrs
            .large_communities
            .iter()
            .copied()
            .map(large_community)
            .collect(),
        originator_id: attrs.originator_id().map(|o| o.to_string()),
        cluster_list: attrs.cluster_list().iter().map(|c| c.to_string()).collect(),
        stale: false,
        filtered: false,
        best: false,
        rule: None,
        path_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcpe_bgp::model::AsPath;
    use vcpe_bgp::model::AsSegment;

    #[test]
    fn communities_read_as_operators_write_them() {
        assert_eq!(community(Community((65001 << 16) | 100)), "65001:100");
        assert_eq!(community(Community::NO_EXPORT), "no-export");
        assert_eq!(
            large_community(LargeCommunity(4200000001, 1, 2)),
            "4200000001:1:2"
        );
    }

    #[test]
    fn as_path_flattens_sets_in_place() {
        let attrs = PathAttributes {
            as_path: AsPath::from(vec![
                AsSegment::Sequence(vec![65002, 65003]),
                AsSegment::Set(vec![65010, 65011]),
            ]),
            ..PathAttributes::default()
        };
        assert_eq!(as_path(&attrs), [65002, 65003, 65010, 65011]);
    }
}
