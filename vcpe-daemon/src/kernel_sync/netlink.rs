//! Kernel route sync's rtnetlink requests: dump our routes, add one
//! (exclusive), delete one of ours, describe a foreign one.
//!
//! Our routes are plain routes into the TUN: `PREFIX dev TUN proto P table
//! T`, no gateway (a TUN is point-to-point), scope link for IPv4. Deletes
//! name our protocol, so the kernel never removes another daemon's route
//! for the same prefix. The socket checks dump requests strictly
//! (`NETLINK_GET_STRICT_CHK`), so the kernel filters dumps by table and
//! protocol; the answers are filtered again here for older kernels.

use std::ffi::{CStr, CString};
use std::net::IpAddr;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::{Handle, RouteMessageBuilder};
use rustc_hash::FxHashMap;

use super::desired::{Action, Outcome};

/// Where and how our routes go.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
    /// Kernel table id.
    pub table: u32,
    /// Our route protocol number.
    pub protocol: u8,
    /// The TUN's ifindex.
    pub oif: u32,
}

/// A route of the dump, as much as we look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Route {
    pub(super) prefix: IpNet,
    pub(super) protocol: u8,
    pub(super) table: u32,
    kind: RouteType,
    oif: Option<u32>,
    gateway: Option<IpAddr>,
    multipath: bool,
    metric: Option<u32>,
}

impl Netlink {
    /// Opens a netlink socket in this thread's network namespace. The
    /// returned connection must be driven (polled) while `Netlink` is used.
    pub fn connect(
        table: u32,
        protocol: u8,
        oif: u32,
    ) -> std::io::Result<(Netlink, impl Future<Output = ()> + Send)> {
        let (connection, handle, _messages) = rtnetlink::new_connection_with_strict_check()?;
        Ok((
            Netlink {
                handle,
                table,
                protocol,
                oif,
            },
            connection,
        ))
    }

    /// Our routes in our table (IPv4 and IPv6), each with whether it is
    /// exactly what we would install.
    pub async fn dump_ours(&self) -> Result<Vec<(IpNet, bool)>, rtnetlink::Error> {
        let mut ours = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            for r in self.dump(family, Some(self.protocol)).await? {
                if r.protocol == self.protocol && r.table == self.table {
                    let right = r.kind == RouteType::Unicast
                        && r.oif == Some(self.oif)
                        && r.gateway.is_none()
                        && !r.multipath;
                    ours.push((r.prefix, right));
                }
            }
        }
        Ok(ours)
    }

    /// Runs one action.
    pub async fn apply(&self, action: Action) -> (Action, Outcome) {
        let outcome = match action {
            Action::Add(p) => self.add(p).await,
            Action::Delete(p) => self.delete(p).await,
        };
        (action, outcome)
    }

    async fn add(&self, prefix: IpNet) -> Outcome {
        let scope = match prefix {
            IpNet::V4(_) => RouteScope::Link,
            IpNet::V6(_) => RouteScope::Universe,
        };
        let msg = match RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(prefix.network(), prefix.prefix_len())
        {
            Ok(b) => b
                .table_id(self.table)
                .protocol(RouteProtocol::from(self.protocol))
                .scope(scope)
                .kind(RouteType::Unicast)
                .output_interface(self.oif)
                .build(),
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        // rtnetlink's add is NLM_F_CREATE | NLM_F_EXCL: never replaces.
        match self.handle.route().add(msg).execute().await {
            Ok(()) => Outcome::Done,
            Err(e) if errno(&e) == Some(libc::EEXIST) => Outcome::Foreign,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn delete(&self, prefix: IpNet) -> Outcome {
        let msg = match RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(prefix.network(), prefix.prefix_len())
        {
            // Scope "nowhere" and type unspec match any; the protocol
            // restricts the delete to ours.
            Ok(b) => b
                .table_id(self.table)
                .protocol(RouteProtocol::from(self.protocol))
                .scope(RouteScope::NoWhere)
                .kind(RouteType::Unspec)
                .build(),
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        match self.handle.route().del(msg).execute().await {
            Ok(()) => Outcome::Done,
            Err(e) if errno(&e) == Some(libc::ESRCH) => Outcome::Absent,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// How the kernel routes each of `prefixes` in our table now, other
    /// than by us (`proto static dev lo metric 0`), for the conflict
    /// warning. One dump per address family asked about.
    pub async fn describe(&self, prefixes: &[IpNet]) -> FxHashMap<IpNet, String> {
        let mut out = FxHashMap::default();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let wanted: Vec<&IpNet> = prefixes
                .iter()
                .filter(|p| (family == AddressFamily::Inet) == matches!(p, IpNet::V4(_)))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let Ok(routes) = self.dump(family, None).await else {
                continue;
            };
            for r in routes {
                if r.table == self.table
                    && r.protocol != self.protocol
                    && wanted.contains(&&r.prefix)
                {
                    out.entry(r.prefix).or_insert_with(|| r.describe());
                }
            }
        }
        out
    }

    /// The routes of `family` in our table (of `protocol`, if given).
    async fn dump(
        &self,
        family: AddressFamily,
        protocol: Option<u8>,
    ) -> Result<Vec<Route>, rtnetlink::Error> {
        let mut msg = RouteMessageBuilder::<IpAddr>::new()
            .table_id(self.table)
            .protocol(protocol.map_or(RouteProtocol::Unspec, RouteProtocol::from))
            .kind(RouteType::Unspec)
            .build();
        msg.header.address_family = family;
        let mut routes = Vec::new();
        let mut stream = self.handle.route().get(msg).execute();
        loop {
            match stream.try_next().await {
                Ok(Some(m)) => routes.extend(Route::from_message(&m)),
                Ok(None) => break,
                // A table with no route does not exist yet: nothing in it.
                Err(e) if errno(&e) == Some(libc::ENOENT) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(routes)
    }
}

impl Route {
    pub(super) fn from_message(m: &RouteMessage) -> Option<Route> {
        let h = &m.header;
        let len = h.destination_prefix_length;
        let mut dst = match h.address_family {
            AddressFamily::Inet => IpAddr::from([0u8; 4]),
            AddressFamily::Inet6 => IpAddr::from([0u8; 16]),
            _ => return None,
        };
        let mut r = Route {
            prefix: IpNet::new(dst, 0).ok()?,
            protocol: u8::from(h.protocol),
            table: u32::from(h.table),
            kind: h.kind,
            oif: None,
            gateway: None,
            multipath: false,
            metric: None,
        };
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => {
                    if let Some(ip) = ip_of(d) {
                        dst = ip;
                    }
                }
                RouteAttribute::Table(t) => r.table = *t,
                RouteAttribute::Oif(i) => r.oif = Some(*i),
                RouteAttribute::Gateway(g) => r.gateway = ip_of(g),
                RouteAttribute::MultiPath(_) => r.multipath = true,
                RouteAttribute::Priority(p) => r.metric = Some(*p),
                _ => {}
            }
        }
        r.prefix = IpNet::new(dst, len).ok()?.trunc();
        Some(r)
    }

    /// `proto static blackhole via 10.0.0.1 dev lo metric 0`, `ip route`
    /// style.
    fn describe(&self) -> String {
        let mut s = format!("proto {}", RouteProtocol::from(self.protocol));
        if self.kind != RouteType::Unicast {
            s += &format!(" type {:?}", self.kind).to_lowercase();
        }
        if let Some(g) = self.gateway {
            s += &format!(" via {g}");
        }
        if let Some(i) = self.oif {
            s += &format!(" dev {}", ifname(i).unwrap_or_else(|| format!("#{i}")));
        }
        if self.multipath {
            s += " (multipath)";
        }
        if let Some(m) = self.metric {
            s += &format!(" metric {m}");
        }
        s
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The errno of a netlink error answer.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// The ifindex of interface `name` in this namespace.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The name of interface `index`.
fn ifname(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success `buf` holds a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::route::RouteHeader;

    fn message(family: AddressFamily, dst: Option<IpAddr>, len: u8) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header = RouteHeader {
            address_family: family,
            destination_prefix_length: len,
            table: 254,
            protocol: RouteProtocol::from(201),
            kind: RouteType::Unicast,
            ..RouteHeader::default()
        };
        if let Some(d) = dst {
            m.attributes.push(RouteAttribute::Destination(d.into()));
        }
        m.attributes.push(RouteAttribute::Oif(7));
        m
    }

    #[test]
    fn dumped_routes_become_prefixes() {
        let r = Route::from_message(&message(
            AddressFamily::Inet,
            Some("10.9.0.0".parse().unwrap()),
            16,
        ))
        .unwrap();
        assert_eq!(r.prefix, "10.9.0.0/16".parse::<IpNet>().unwrap());
        assert_eq!((r.protocol, r.table, r.oif), (201, 254, Some(7)));
        // A default route has no destination attribute.
        let r = Route::from_message(&message(AddressFamily::Inet6, None, 0)).unwrap();
        assert_eq!(r.prefix, "::/0".parse::<IpNet>().unwrap());
        let mut m = message(AddressFamily::Inet, Some("10.0.0.0".parse().unwrap()), 8);
        m.attributes.push(RouteAttribute::Table(1000));
        assert_eq!(Route::from_message(&m).unwrap().table, 1000);
    }

    #[test]
    fn a_foreign_route_is_described_like_ip_route() {
        let r = Route {
            prefix: "10.8.0.0/16".parse().unwrap(),
            protocol: 4,
            table: 254,
            kind: RouteType::BlackHole,
            oif: None,
            gateway: None,
            multipath: false,
            metric: Some(0),
        };
        assert_eq!(r.describe(), "proto static type blackhole metric 0");
    }
}
