//! Builders for the single-instance sections: `[router]`, `[control]`,
//! `[metrics]`, `[kernel]` and `[forwarding]`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::names::ifname;
use crate::diagnostic::Span;
use crate::model::{Control, Forwarding, Kernel, Metrics, Router};
use crate::reader::{Ctx, Table, bad, boolean, int_in, parsed, string};

/// Default control socket path.
pub const DEFAULT_SOCKET: &str = "/run/vcpe/vcped.sock";
/// AS_TRANS (RFC 6793), never a real AS.
pub const AS_TRANS: u32 = 23456;

/// Checks an AS number: 1..=4294967295 and not AS_TRANS.
pub(crate) fn asn(v: &toml::de::DeValue<'_>) -> Result<u32, crate::reader::Bad> {
    let help =
        "use your AS number, 1..=4294967295 (private: 64512..=65534 or 4200000000..=4294967294)";
    let n = int_in::<u32>(v, 0, u32::MAX, help)?;
    match n {
        0 => Err(bad(
            "AS 0 is reserved and cannot be used (RFC 7607)",
            help.to_string(),
        )),
        AS_TRANS => Err(bad(
            "AS 23456 is AS_TRANS (RFC 6793) and cannot be configured",
            help.to_string(),
        )),
        n => Ok(n),
    }
}

pub(crate) fn router(ctx: &mut Ctx<'_>, root: &Table<'_, '_>) -> Router {
    let Some(t) = root.table(ctx, "router") else {
        if !root.inner.contains_key("router") {
            ctx.error(
                &(0..0),
                "router",
                bad(
                    "missing required section [router]",
                    "add:\n  [router]\n  id = \"10.255.0.1\"\n  asn = 65001".to_string(),
                ),
            );
        }
        return Router {
            id: Ipv4Addr::UNSPECIFIED,
            asn: 0,
        };
    };
    t.check_keys(ctx, &["id", "asn"]);
    let id = t
        .field(ctx, "id", |v| {
            let id: Ipv4Addr = parsed(v, "an IPv4 address", "10.255.0.1")?;
            if id.is_unspecified() {
                return Err(bad(
                    "router id 0.0.0.0 is not allowed (RFC 6286)",
                    "use a unique non-zero IPv4 address, usually a loopback or overlay address"
                        .to_string(),
                ));
            }
            Ok(id)
        })
        .required(ctx, &t, "id", "\"10.255.0.1\"");
    let asn = t.field(ctx, "asn", asn).required(ctx, &t, "asn", "65001");
    Router {
        id: id.map_or(Ipv4Addr::UNSPECIFIED, |(v, _)| v),
        asn: asn.map_or(0, |(v, _)| v),
    }
}

/// `[control]`, and where its `group` is written.
pub(crate) fn control(
    ctx: &mut Ctx<'_>,
    root: &Table<'_, '_>,
) -> (Control, Option<crate::diagnostic::Span>) {
    let default_socket = PathBuf::from(DEFAULT_SOCKET);
    let Some(t) = root.table(ctx, "control") else {
        return (
            Control {
                socket: default_socket,
                group: None,
            },
            None,
        );
    };
    t.check_keys(ctx, &["socket", "group"]);
    let socket = t
        .field(ctx, "socket", |v| {
            let s = string(v)?;
            if !s.starts_with('/') {
                return Err(bad(
                    format!("control socket path '{s}' is not absolute"),
                    format!("use an absolute path, e.g. \"{DEFAULT_SOCKET}\""),
                ));
            }
            Ok(PathBuf::from(s))
        })
        .or(default_socket);
    let group = t
        .field(ctx, "group", |v| {
            let s = string(v)?;
            let ok = !s.is_empty()
                && s.len() <= 32
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if ok {
                Ok(Some(s))
            } else {
                Err(bad(
                    format!("'{s}' is not a valid group name"),
                    "use an existing system group, e.g. \"vcpe\"".to_string(),
                ))
            }
        })
        .opt();
    let span = group.as_ref().map(|(_, s)| s.clone());
    let group = group.and_then(|(g, _)| g);
    (Control { socket, group }, span)
}

pub(crate) fn metrics(ctx: &mut Ctx<'_>, root: &Table<'_, '_>) -> Option<Metrics> {
    let t = root.table(ctx, "metrics")?;
    t.check_keys(ctx, &["listen"]);
    let listen = t
        .field(ctx, "listen", |v| {
            parsed::<SocketAddr>(v, "an address:port", "127.0.0.1:9472")
        })
        .required(ctx, &t, "listen", "\"127.0.0.1:9472\"");
    Some(Metrics {
        listen: listen.map_or(SocketAddr::from(([127, 0, 0, 1], 9472)), |(v, _)| v),
    })
}

/// `[kernel]`, and where its `interface` value is (checked against the
/// `[[interface]]` names later; absent: the first of them).
pub(crate) fn kernel(ctx: &mut Ctx<'_>, root: &Table<'_, '_>) -> (Kernel, Option<Span>) {
    let mut k = Kernel {
        route_sync: true,
        table: 254,
        protocol: 201,
        interface: None,
    };
    let Some(t) = root.table(ctx, "kernel") else {
        return (k, None);
    };
    t.check_keys(ctx, &["route_sync", "table", "protocol", "interface"]);
    k.route_sync = t.field(ctx, "route_sync", boolean).or(true);
    k.table = t
        .field(ctx, "table", |v| {
            let help = "use 254 (main) or a dedicated table id such as 100";
            match int_in::<u32>(v, 1, u32::MAX, help)? {
                255 => Err(bad(
                    "table 255 is the kernel's local table",
                    help.to_string(),
                )),
                n => Ok(n),
            }
        })
        .or(254);
    k.protocol = t
        .field(ctx, "protocol", |v| {
            let help =
                "use a number from 5 to 255 not used by another routing daemon; the default is 201";
            match int_in::<u8>(v, 0, 255, help)? {
                n @ 0..=4 => Err(bad(
                    format!("route protocol {n} is reserved by the kernel"),
                    help.to_string(),
                )),
                n => Ok(n),
            }
        })
        .or(201);
    let interface = t.field(ctx, "interface", ifname).opt();
    let span = interface.as_ref().map(|(_, s)| s.clone());
    k.interface = interface.map(|(i, _)| i);
    (k, span)
}

pub(crate) fn forwarding(ctx: &mut Ctx<'_>, root: &Table<'_, '_>) -> Forwarding {
    let mut f = Forwarding {
        mss_clamp: true,
        icmp_rate_limit: 100,
        workers: 0,
    };
    let Some(t) = root.table(ctx, "forwarding") else {
        return f;
    };
    t.check_keys(ctx, &["mss_clamp", "icmp_rate_limit", "workers"]);
    f.mss_clamp = t.field(ctx, "mss_clamp", boolean).or(true);
    f.icmp_rate_limit = t
        .field(ctx, "icmp_rate_limit", |v| {
            int_in::<u32>(
                v,
                0,
                1_000_000,
                "ICMP errors per second, 0..=1000000 (0 = never send)",
            )
        })
        .or(100);
    f.workers = t
        .field(ctx, "workers", |v| {
            int_in::<u16>(v, 0, 1024, "worker threads, 0..=1024 (0 = one per core)")
        })
        .or(0);
    f
}
