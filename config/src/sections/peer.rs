//! Builder for `[[peer]]`: tunnel peers (other vCPEs), their underlay
//! endpoint, encapsulation (WireGuard, GRE over IP protocol 47, VXLAN) and
//! key files.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;

use super::names::{network, object_name};
use crate::diagnostic::Span;
use crate::model::{Encapsulation, Peer, PeerBfd};
use crate::reader::{Bad, Ctx, Field, Table, bad, boolean, int_in, parsed, string};
use crate::secret::{KeyFile, PublicKey, decode_key, read_key_file};

/// The port recorded for a GRE endpoint: GRE runs directly over IP
/// (protocol 47, RFC 2784), so an endpoint's port means nothing to it.
pub const GRE_NO_PORT: u16 = 0;
/// Default UDP port for VXLAN (RFC 7348).
pub const VXLAN_UDP_PORT: u16 = 4789;

/// Where a peer's checked fields are, for cross-reference checks.
#[derive(Debug)]
pub(crate) struct PeerLoc {
    pub path: String,
    pub name: Option<Span>,
    /// Each inner address (`next_hops`, else the host routes of
    /// `allowed_prefixes`) with where it is written and the key path.
    pub inner: Vec<(IpAddr, Span, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    WireGuard,
    Gre,
    Vxlan,
}

/// Keys that only make sense for one encapsulation.
const SPECIFIC: &[(&str, Kind, &str)] = &[
    ("private_key_file", Kind::WireGuard, "wireguard"),
    ("public_key", Kind::WireGuard, "wireguard"),
    ("preshared_key_file", Kind::WireGuard, "wireguard"),
    ("keepalive", Kind::WireGuard, "wireguard"),
    ("gre_key", Kind::Gre, "gre"),
    ("vni", Kind::Vxlan, "vxlan"),
];

fn kind(v: &toml::de::DeValue<'_>) -> Result<Kind, Bad> {
    match string(v)?.as_str() {
        "wireguard" => Ok(Kind::WireGuard),
        "gre" => Ok(Kind::Gre),
        "vxlan" => Ok(Kind::Vxlan),
        other => Err(bad(
            format!("unknown encapsulation '{other}'"),
            "use \"wireguard\" (encrypted, UDP), \"vxlan\" (plain, UDP 4789) or \"gre\" (plain, IP protocol 47)".to_string(),
        )),
    }
}

/// A parsed `endpoint`: an address, or (WireGuard) a hostname and port.
#[derive(Debug, Clone, PartialEq)]
enum EndpointValue {
    Addr(SocketAddr),
    Host(String, u16),
}

fn endpoint(v: &toml::de::DeValue<'_>, kind: Kind) -> Result<EndpointValue, Bad> {
    let s = string(v)?;
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(EndpointValue::Addr(sa));
    }
    let default_port = match kind {
        Kind::WireGuard => None,
        Kind::Gre => Some(GRE_NO_PORT),
        Kind::Vxlan => Some(VXLAN_UDP_PORT),
    };
    match (s.parse::<IpAddr>(), default_port) {
        (Ok(ip), Some(port)) => Ok(EndpointValue::Addr(SocketAddr::new(ip, port))),
        (Ok(_), None) => Err(bad(
            format!("endpoint '{s}' has no port; wireguard needs one"),
            format!("write address:port, e.g. \"{s}:51820\""),
        )),
        _ if kind == Kind::WireGuard => host_port(&s).map(|(h, p)| EndpointValue::Host(h, p)),
        _ => Err(bad(
            format!("'{s}' is not an underlay address:port"),
            "write e.g. \"198.51.100.2:51820\" (IPv6: \"[2001:db8::2]:51820\"); hostnames are \
             only allowed for wireguard peers"
                .to_string(),
        )),
    }
}

/// `host:port` with a DNS name as host (RFC 1123 labels).
fn host_port(s: &str) -> Result<(String, u16), Bad> {
    let hint = || {
        "write address:port or hostname:port, e.g. \"198.51.100.2:51820\" or \
         \"branch.example.net:51820\""
            .to_string()
    };
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(bad(
            format!("endpoint '{s}' has no port; wireguard needs one"),
            hint(),
        ));
    };
    let Ok(port) = port.parse::<u16>() else {
        return Err(bad(
            format!("'{port}' in endpoint '{s}' is not a UDP port"),
            hint(),
        ));
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) || port == 0 {
        return Err(bad(
            format!("'{s}' is neither an address:port nor a hostname:port"),
            hint(),
        ));
    }
    Ok((host.to_ascii_lowercase(), port))
}

pub(crate) fn peer(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> (Peer, PeerLoc) {
    let mut known = vec![
        "name",
        "endpoint",
        "bind",
        "encapsulation",
        "allowed_prefixes",
        "next_hops",
        "mtu",
        "bfd",
        "bfd_address",
        "bfd_local_address",
        "bfd_interval_ms",
        "bfd_multiplier",
    ];
    known.extend(super::bfd::AUTH_KEYS);
    known.extend(SPECIFIC.iter().map(|(k, _, _)| *k));
    t.check_keys(ctx, &known);
    let name = t
        .field(ctx, "name", object_name)
        .required(ctx, t, "name", "\"vpc02\"");
    // `None` when the encapsulation itself is invalid: skip its specific checks.
    let kind = match t.field(ctx, "encapsulation", kind) {
        Field::Ok(k, _) => Some(k),
        Field::Absent => Some(Kind::WireGuard),
        Field::Invalid => None,
    };
    for (key, for_kind, label) in SPECIFIC {
        if kind.is_some_and(|k| k != *for_kind)
            && let Some((k, _)) = t.inner.get_key_value(*key)
        {
            ctx.error(
                &k.span(),
                t.key_path(key),
                bad(
                    format!("'{key}' only applies to encapsulation = \"{label}\""),
                    "remove it, or change the encapsulation".to_string(),
                ),
            );
        }
    }
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    // Unknown encapsulation (already reported): accept a bare address too.
    let field = t.field(ctx, "endpoint", |v| endpoint(v, kind.unwrap_or(Kind::Gre)));
    // WireGuard may go without: a responder-only peer learns the endpoint
    // from the first authenticated packet, as WireGuard does.
    let value = if kind == Some(Kind::WireGuard) {
        field.opt().map(|(e, _)| e)
    } else {
        field
            .required(ctx, t, "endpoint", "\"198.51.100.2:51820\"")
            .map(|(e, _)| e)
    };
    // Absent, not invalid (an invalid one is reported already).
    let value_absent = t.inner.get_key_value("endpoint").is_none();
    let (endpoint, endpoint_host) = match value {
        Some(EndpointValue::Addr(a)) => (a, None),
        Some(EndpointValue::Host(h, port)) => (
            SocketAddr::new(unspecified.ip(), port),
            Some(format!("{h}:{port}")),
        ),
        None => (unspecified, None),
    };
    let bind = t
        .field(ctx, "bind", |v| {
            parsed::<SocketAddr>(v, "an address:port", "0.0.0.0:51820")
        })
        .opt()
        .map(|(b, _)| b);
    // A peer that has no endpoint and no fixed port can neither reach nor
    // be reached.
    if kind == Some(Kind::WireGuard)
        && value_absent
        && bind.is_none_or(|b: SocketAddr| b.port() == 0)
    {
        ctx.error(
            &t.span,
            t.key_path("endpoint"),
            bad(
                "a wireguard peer without endpoint needs a bind with a fixed port: the other \
                 side must know where to send"
                    .to_string(),
                "add bind = \"0.0.0.0:51820\" (and give the other side our address in its \
                 endpoint), or set endpoint = \"address:port\""
                    .to_string(),
            ),
        );
    }
    let encapsulation = match kind {
        None => Encapsulation::Gre { key: None },
        Some(Kind::WireGuard) => wireguard(ctx, t),
        Some(Kind::Gre) => Encapsulation::Gre {
            key: t
                .field(ctx, "gre_key", |v| {
                    int_in::<u32>(v, 0, u32::MAX, "use a 32-bit GRE key, 0..=4294967295")
                })
                .opt()
                .map(|(k, _)| k),
        },
        Some(Kind::Vxlan) => Encapsulation::Vxlan {
            vni: t
                .field(ctx, "vni", |v| {
                    int_in::<u32>(
                        v,
                        1,
                        16_777_215,
                        "use a VXLAN network identifier, 1..=16777215",
                    )
                })
                .required(ctx, t, "vni", "100")
                .map_or(0, |(v, _)| v),
        },
    };
    let allowed: Vec<(IpNet, Span)> = t
        .list(ctx, "allowed_prefixes", network)
        .required(ctx, t, "allowed_prefixes", "[\"10.2.0.0/16\"]")
        .map(|(l, _)| l)
        .unwrap_or_default();
    let allowed_prefixes: Vec<IpNet> = allowed.iter().map(|(n, _)| *n).collect();
    let next_hops = t
        .list(ctx, "next_hops", |v| {
            let a = parsed::<IpAddr>(v, "an IP address", "10.255.0.2")?;
            if a.is_unspecified() || a.is_multicast() {
                return Err(bad(
                    format!("{a} cannot be a BGP next hop"),
                    "use the other vCPE's address inside the tunnel (its TUN address), e.g. \"10.255.0.2\""
                        .to_string(),
                ));
            }
            Ok(a)
        })
        .opt()
        .map(|(l, _)| l);
    let inner: Vec<(IpAddr, Span, String)> = match &next_hops {
        Some(l) => l
            .iter()
            .enumerate()
            .map(|(i, (a, s))| (*a, s.clone(), format!("{}[{i}]", t.key_path("next_hops"))))
            .collect(),
        None => allowed
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| n.prefix_len() == n.max_prefix_len())
            .map(|(i, (n, s))| {
                (
                    n.addr(),
                    s.clone(),
                    format!("{}[{i}]", t.key_path("allowed_prefixes")),
                )
            })
            .collect(),
    };
    let next_hops = next_hops.map(|l| l.into_iter().map(|(a, _)| a).collect());
    let mtu = t
        .field(ctx, "mtu", |v| {
            int_in::<u16>(v, 576, u16::MAX, "use an MTU from 576 to 65535, e.g. 1420")
        })
        .opt()
        .map(|(m, _)| m);
    let bfd = bfd(ctx, t, &allowed_prefixes);
    let loc = PeerLoc {
        path: t.path.clone(),
        name: name.as_ref().map(|(_, s)| s.clone()),
        inner,
    };
    let peer = Peer {
        name: name.map(|(n, _)| n).unwrap_or_default(),
        endpoint,
        endpoint_host,
        bind,
        encapsulation,
        allowed_prefixes,
        next_hops,
        mtu,
        bfd,
    };
    (peer, loc)
}

/// `bfd`, `bfd_address` (required with it, inside `allowed_prefixes`),
/// `bfd_local_address`, `bfd_interval_ms`, `bfd_multiplier`. The other
/// keys without `bfd = true` are an error: they would do nothing.
fn bfd(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, allowed: &[IpNet]) -> Option<PeerBfd> {
    let on = t.field(ctx, "bfd", boolean).or(false);
    let address = t
        .field(ctx, "bfd_address", |v| {
            let a = parsed::<IpAddr>(v, "an IP address", "10.255.0.2")?;
            if !allowed.is_empty() && !allowed.iter().any(|p| p.contains(&a)) {
                return Err(bad(
                    format!("bfd_address {a} is not inside this peer's allowed_prefixes"),
                    "use the other vCPE's address inside the tunnel (its TUN address), and \
                     list it in allowed_prefixes"
                        .to_string(),
                ));
            }
            Ok(a)
        })
        .opt();
    let local = t
        .field(ctx, "bfd_local_address", |v| {
            parsed::<IpAddr>(v, "an IP address", "10.255.0.1")
        })
        .opt();
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
    let auth = super::bfd::auth(ctx, t, on);
    if !on {
        for (key, span) in [
            ("bfd_address", address.as_ref().map(|(_, s)| s)),
            ("bfd_local_address", local.as_ref().map(|(_, s)| s)),
            ("bfd_interval_ms", interval.as_ref().map(|(_, s)| s)),
            ("bfd_multiplier", multiplier.as_ref().map(|(_, s)| s)),
        ] {
            if let Some(span) = span {
                ctx.error(
                    span,
                    t.key_path(key),
                    bad(
                        format!("{key} has no effect without bfd = true"),
                        "add `bfd = true` to this peer, or remove the key".to_string(),
                    ),
                );
            }
        }
        return None;
    }
    let Some((address, _)) = address else {
        // Absent (an invalid one was reported where it is).
        if t.inner.get("bfd_address").is_none() {
            t.missing(ctx, "bfd_address", "\"10.255.0.2\"");
        }
        return None;
    };
    Some(PeerBfd {
        address,
        local_address: local.map(|(a, _)| a),
        interval_ms: interval.map_or(crate::NeighborBfd::DEFAULT_INTERVAL_MS, |(v, _)| v),
        multiplier: multiplier.map_or(crate::NeighborBfd::DEFAULT_MULTIPLIER, |(v, _)| v),
        auth,
    })
}

fn key_file(ctx: &mut Ctx<'_>, t: &Table<'_, '_>, key: &str) -> Field<KeyFile> {
    let base = ctx.base_dir();
    t.field(ctx, key, |v| {
        let shown = string(v)?;
        read_key_file(&base.join(&shown), &shown).map_err(|e| bad(e.message, e.help))
    })
}

fn wireguard(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> Encapsulation {
    let private_key = key_file(ctx, t, "private_key_file")
        .required(ctx, t, "private_key_file", "\"/etc/vcpe/wg.key\"")
        .map_or_else(|| KeyFile::new(Default::default(), [0; 32]), |(k, _)| k);
    let public_key = t
        .field(ctx, "public_key", |v| {
            let s = string(v)?;
            decode_key(&s).map(PublicKey).ok_or_else(|| {
                bad(
                    format!("'{s}' is not a base64-encoded 32-byte WireGuard public key"),
                    "use the output of `wg pubkey < PEER_PRIVATE_KEY_FILE` on the peer".to_string(),
                )
            })
        })
        .required(ctx, t, "public_key", "\"<base64 public key of the peer>\"")
        .map_or(PublicKey([0; 32]), |(k, _)| k);
    let preshared_key = key_file(ctx, t, "preshared_key_file").opt().map(|(k, _)| k);
    let keepalive = t
        .field(ctx, "keepalive", |v| {
            int_in::<u16>(
                v,
                0,
                u16::MAX,
                "use seconds between keepalives, e.g. 25 (0 = off)",
            )
        })
        .opt()
        .and_then(|(k, _)| (k != 0).then_some(k));
    Encapsulation::WireGuard {
        private_key,
        public_key,
        preshared_key,
        keepalive,
    }
}
