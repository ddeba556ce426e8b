//! Builder for `[bgp]` and its `[[bgp.neighbor]]` entries: session mode,
//! timers (RFC 4271 §4.2), TCP-MD5 password file, prefix filters, limits,
//! the first-AS check (RFC 4271 §6.3), route reflection (RFC 4456:
//! `cluster_id`, `route_reflector_client`), route policy rules
//! (`policy_rule.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::global::asn;
use super::names::object_name;
use super::policy_rule::{Direction, rule};
use crate::diagnostic::Span;
use crate::model::{
    AddPaths, Bgp, DEFAULT_ADD_PATHS_COUNT, MAX_ADD_PATHS_COUNT, Neighbor, NeighborBfd,
    NeighborMode,
};
use crate::prefix_filter::PrefixFilter;
use toml::de::DeValue;

use crate::reader::{Bad, Ctx, Field, Table, bad, boolean, int_in, parsed, string};
use crate::secret::read_password_file;

/// Where a neighbor's checked fields are, for cross-reference checks.
#[derive(Debug)]
pub(crate) struct NeighborLoc {
    pub path: String,
    pub address: Option<Span>,
    pub peer: Option<Span>,
    pub local_address: Option<Span>,
    /// `route_reflector_client = true` (valid on iBGP only).
    pub route_reflector_client: Option<Span>,
    pub next_hop_self: Option<Span>,
    /// `set_local_pref` of each export rule that has one.
    pub export_local_pref: Vec<(Span, String)>,
}

/// The largest `[bgp] maximum_paths` (equal paths per ECMP group).
pub const MAX_PATHS: u16 = 64;

const NEIGHBOR_KEYS: &[&str] = &[
    "address",
    "remote_as",
    "description",
    "enabled",
    "shutdown_message",
    "mode",
    "hold_time",
    "keepalive",
    "password_file",
    "import",
    "export",
    "max_prefixes",
    "enforce_first_as",
    "route_reflector_client",
    "peer",
    "local_address",
    "next_hop_self",
    "add_paths",
    "add_paths_count",
    "import_rule",
    "export_rule",
    "bfd",
    "bfd_interval_ms",
    "bfd_multiplier",
    "bfd_multihop",
    "bfd_key_file",
    "bfd_key_id",
    "bfd_meticulous",
];

pub(crate) fn bgp(ctx: &mut Ctx<'_>, root: &Table<'_, '_>) -> Option<(Bgp, Vec<NeighborLoc>)> {
    let t = root.table(ctx, "bgp")?;
    t.check_keys(
        ctx,
        &[
            "listen",
            "maximum_paths",
            "maximum_paths_ipv6",
            "neighbor",
            "shutdown",
            "shutdown_message",
            "cluster_id",
        ],
    );
    let listen = t
        .field(ctx, "listen", |v| {
            parsed::<SocketAddr>(v, "an address:port", "[::]:179")
        })
        .or(SocketAddr::from(([0u16; 8], 179)));
    let (neighbors, locs) = t
        .tables(ctx, "neighbor")
        .iter()
        .map(|n| neighbor(ctx, n))
        .unzip();
    let paths = |v: &toml::de::DeValue<'_>| {
        int_in::<u16>(
            v,
            1,
            MAX_PATHS,
            "use 1 (best path only) up to 64 equal paths installed as one ECMP group",
        )
    };
    let maximum_paths = t.field(ctx, "maximum_paths", paths).or(1);
    let maximum_paths_ipv6 = t.field(ctx, "maximum_paths_ipv6", paths).or(maximum_paths);
    let shutdown = t.field(ctx, "shutdown", boolean).or(false);
    let shutdown_message = t
        .field(ctx, "shutdown_message", shutdown_communication)
        .opt()
        .map(|(m, _)| m);
    let cluster_id = t
        .field(ctx, "cluster_id", |v| {
            let id: Ipv4Addr = parsed(v, "an IPv4 address", "10.255.0.1")?;
            if id.is_unspecified() {
                return Err(bad(
                    "cluster id 0.0.0.0 is not allowed",
                    "use a non-zero IPv4 address shared by the reflectors of one cluster, or remove the key to use the router id".to_string(),
                ));
            }
            Ok(id)
        })
        .opt()
        .map(|(c, _)| c);
    Some((
        Bgp {
            cluster_id,
            listen,
            neighbors,
            maximum_paths,
            maximum_paths_ipv6,
            shutdown,
            shutdown_message,
        },
        locs,
    ))
}

/// The longest RFC 9003 shutdown communication, in bytes of UTF-8.
pub const MAX_SHUTDOWN_MESSAGE: usize = 255;

/// An RFC 9003 shutdown communication: UTF-8, at most 255 bytes.
fn shutdown_communication(v: &toml::de::DeValue<'_>) -> Result<String, crate::reader::Bad> {
    let m = string(v)?;
    if m.len() > MAX_SHUTDOWN_MESSAGE {
        return Err(bad(
            format!(
                "the shutdown message is {} bytes; RFC 9003 allows at most {MAX_SHUTDOWN_MESSAGE}",
                m.len()
            ),
            "shorten it, e.g. \"maintenance until 14:00 UTC, ticket 1234\"".to_string(),
        ));
    }
    Ok(m)
}

pub(crate) fn filters(
    ctx: &mut Ctx<'_>,
    t: &Table<'_, '_>,
    key: &str,
) -> Option<Vec<PrefixFilter>> {
    let list = t.list(ctx, key, |v| {
        string(v)?
            .parse::<PrefixFilter>()
            .map_err(|e| bad(e.to_string(), e.help()))
    });
    list.opt()
        .map(|(l, _)| l.into_iter().map(|(f, _)| f).collect())
}

fn neighbor(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> (Neighbor, NeighborLoc) {
    t.check_keys(ctx, NEIGHBOR_KEYS);
    let address = t
        .field(ctx, "address", |v| {
            parsed::<IpAddr>(v, "an IP address", "10.255.0.2")
        })
        .required(ctx, t, "address", "\"10.255.0.2\"");
    let remote_as = t
        .field(ctx, "remote_as", asn)
        .required(ctx, t, "remote_as", "65002");
    let description = t.field(ctx, "description", string).opt().map(|(d, _)| d);
    let enabled = t.field(ctx, "enabled", boolean).or(true);
    let shutdown_message = t
        .field(ctx, "shutdown_message", shutdown_communication)
        .opt()
        .map(|(m, _)| m);
    let mode = t
        .field(ctx, "mode", |v| match string(v)?.as_str() {
            "active" => Ok(NeighborMode::Active),
            "passive" => Ok(NeighborMode::Passive),
            other => Err(bad(
                format!("unknown mode '{other}'"),
                "use \"active\" (connect and accept) or \"passive\" (accept only)".to_string(),
            )),
        })
        .or(NeighborMode::Active);
    let hold = t.field(ctx, "hold_time", |v| {
        let help = "use 0 to disable keepalives or a value of 3 or more, e.g. 90";
        match int_in::<u16>(v, 0, u16::MAX, help)? {
            n @ (1 | 2) => Err(bad(
                format!("hold time {n} is not allowed (RFC 4271 §4.2: 0 or at least 3 seconds)"),
                help.to_string(),
            )),
            n => Ok(n),
        }
    });
    let hold_valid = !matches!(hold, Field::Invalid);
    let hold_time = hold.or(90);
    let keepalive = t
        .field(ctx, "keepalive", |v| {
            let k = int_in::<u16>(v, 0, u16::MAX, "use a keepalive below the hold time, usually hold_time / 3")?;
            if !hold_valid {
                return Ok(k);
            }
            if hold_time == 0 && k != 0 {
                return Err(bad(
                    format!("keepalive {k} with hold_time 0: keepalives are disabled when the hold time is 0"),
                    "remove keepalive or set it to 0".to_string(),
                ));
            }
            if hold_time != 0 && (k == 0 || k >= hold_time) {
                return Err(bad(
                    format!("keepalive {k} must be between 1 and the hold time ({hold_time}) exclusive"),
                    format!("use {} (hold_time / 3), or remove the key for that default", (hold_time / 3).max(1)),
                ));
            }
            Ok(k)
        })
        .or(hold_time / 3);
    let base = ctx.base_dir();
    let password = t
        .field(ctx, "password_file", |v| {
            let shown = string(v)?;
            read_password_file(&base.join(&shown), &shown).map_err(|e| bad(e.message, e.help))
        })
        .opt()
        .map(|(p, _)| p);
    let import = filters(ctx, t, "import");
    let export = filters(ctx, t, "export");
    let max_prefixes = t
        .field(ctx, "max_prefixes", |v| {
            int_in::<u32>(
                v,
                1,
                u32::MAX,
                "use a positive limit such as 10000, or remove the key for no limit",
            )
        })
        .opt()
        .map(|(m, _)| m);
    // Off for IXP route servers: they pass routes on without prepending
    // their AS, so the first AS is the originating member's.
    let enforce_first_as = t.field(ctx, "enforce_first_as", boolean).or(true);
    let rr_client = t.field(ctx, "route_reflector_client", boolean).opt();
    let peer = t.field(ctx, "peer", object_name).opt();
    let local_address = t
        .field(ctx, "local_address", |v| {
            parsed::<IpAddr>(v, "an IP address", "10.255.0.1")
        })
        .opt();
    let next_hop_self = t.field(ctx, "next_hop_self", boolean).opt();
    let add_paths = t.field(ctx, "add_paths", add_paths_mode).opt();
    let sends = add_paths.as_ref().is_some_and(|(m, _)| m.sends());
    let add_paths_count = t
        .field(ctx, "add_paths_count", |v| {
            let n = match v {
                DeValue::String(s) if s.as_ref() == "all" => u16::MAX,
                DeValue::String(s) => {
                    return Err(bad(
                        format!("add_paths_count \"{s}\" is neither a number nor \"all\""),
                        format!("use 1 to {MAX_ADD_PATHS_COUNT}, or \"all\""),
                    ));
                }
                _ => int_in::<u16>(
                    v,
                    1,
                    MAX_ADD_PATHS_COUNT,
                    &format!("use 1 to {MAX_ADD_PATHS_COUNT} paths per prefix, or \"all\""),
                )?,
            };
            if !sends {
                return Err(bad(
                    "add_paths_count without add_paths = \"send\" or \"both\": nothing is sent with ADD-PATH".to_string(),
                    "set add_paths = \"send\" (or \"both\"), or remove add_paths_count".to_string(),
                ));
            }
            Ok(n)
        })
        .or(DEFAULT_ADD_PATHS_COUNT);
    let bfd = bfd(ctx, t, peer.is_some());
    let import_rules = t
        .tables(ctx, "import_rule")
        .iter()
        .map(|r| rule(ctx, r, Direction::Import).0)
        .collect();
    let mut export_local_pref = Vec::new();
    let export_rules = t
        .tables(ctx, "export_rule")
        .iter()
        .map(|r| {
            let (rule, lp) = rule(ctx, r, Direction::Export);
            export_local_pref.extend(lp);
            rule
        })
        .collect();
    let loc = NeighborLoc {
        export_local_pref,
        path: t.path.clone(),
        address: address.as_ref().map(|(_, s)| s.clone()),
        peer: peer.as_ref().map(|(_, s)| s.clone()),
        local_address: local_address.as_ref().map(|(_, s)| s.clone()),
        route_reflector_client: rr_client
            .as_ref()
            .filter(|(on, _)| *on)
            .map(|(_, s)| s.clone()),
        next_hop_self: next_hop_self.as_ref().map(|(_, s)| s.clone()),
    };
    let n = Neighbor {
        address: address.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |(a, _)| a),
        remote_as: remote_as.map_or(0, |(a, _)| a),
        description,
        enabled,
        shutdown_message,
        mode,
        hold_time,
        keepalive,
        password,
        import,
        export,
        max_prefixes,
        enforce_first_as,
        route_reflector_client: rr_client.is_some_and(|(on, _)| on),
        peer: peer.map(|(p, _)| p),
        local_address: local_address.map(|(a, _)| a),
        next_hop_self: next_hop_self.map(|(b, _)| b),
        add_paths: add_paths.map(|(m, _)| m),
        add_paths_count,
        import_rules,
        export_rules,
        bfd,
    };
    (n, loc)
}

/// `add_paths`: "receive", "send" or "both".
fn add_paths_mode(v: &DeValue<'_>) -> Result<AddPaths, Bad> {
    match string(v)?.as_str() {
        "receive" => Ok(AddPaths::Receive),
        "send" => Ok(AddPaths::Send),
        "both" => Ok(AddPaths::Both),
        other => Err(bad(
            format!("unknown add_paths '{other}'"),
            "use \"receive\" (take several paths per prefix), \"send\" (send several), \"both\", or remove the key (off)".to_string(),
        )),
    }
}

/// `bfd`, `bfd_interval_ms`, `bfd_multiplier`, `bfd_multihop`: the
/// neighbor's BFD session, if `bfd = true`. The tuning keys without
/// `bfd = true` are an error: they would silently do nothing.
///
/// A session over a tunnel (`peer = ...`) is multihop unless the file says
/// otherwise: both vcpeds route the packets (each takes one off the TTL),
/// so an RFC 5881 single-hop session, which requires TTL 255, never comes
/// up through a vcped tunnel.
fn bfd(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, over_tunnel: bool) -> Option<NeighborBfd> {
    let on = t.field(ctx, "bfd", boolean).or(false);
    let interval = t
        .field(ctx, "bfd_interval_ms", |v| {
            int_in::<u32>(
                v,
                10,
                60_000,
                "use 10 to 60000 milliseconds, e.g. 300 (detection takes interval × multiplier)",
            )
        })
        .opt();
    let multiplier = t
        .field(ctx, "bfd_multiplier", |v| {
            int_in::<u8>(v, 1, 255, "use 1 to 255, e.g. 3")
        })
        .opt();
    let multihop = t.field(ctx, "bfd_multihop", boolean).opt();
    let auth = super::bfd::auth(ctx, t, on);
    if !on {
        for (key, span) in [
            ("bfd_interval_ms", interval.as_ref().map(|(_, s)| s)),
            ("bfd_multiplier", multiplier.as_ref().map(|(_, s)| s)),
            ("bfd_multihop", multihop.as_ref().map(|(_, s)| s)),
        ] {
            if let Some(span) = span {
                ctx.error(
                    span,
                    t.key_path(key),
                    bad(
                        format!("{key} has no effect without bfd = true"),
                        "add `bfd = true` to this neighbor, or remove the key".to_string(),
                    ),
                );
            }
        }
        return None;
    }
    Some(NeighborBfd {
        interval_ms: interval.map_or(NeighborBfd::DEFAULT_INTERVAL_MS, |(v, _)| v),
        multiplier: multiplier.map_or(NeighborBfd::DEFAULT_MULTIPLIER, |(v, _)| v),
        multihop: multihop.map_or(over_tunnel, |(v, _)| v),
        auth,
    })
}
