//! Builder for `[[interface]]`: the TUN devices the daemon owns.

use ipnet::IpNet;

use super::names::ifname;
use crate::diagnostic::Span;
use crate::model::Interface;
use crate::reader::{Ctx, Table, bad, int_in, parsed};

/// Where an interface's checked fields are, for cross-reference checks.
#[derive(Debug)]
pub(crate) struct InterfaceLoc {
    pub path: String,
    pub name: Option<Span>,
}

pub(crate) fn interface(ctx: &mut Ctx<'_>, t: &Table<'_, '_>) -> (Interface, InterfaceLoc) {
    t.check_keys(ctx, &["name", "addresses", "mtu"]);
    let name = t
        .field(ctx, "name", ifname)
        .required(ctx, t, "name", "\"vcpe0\"");
    let addresses: Vec<IpNet> = t
        .list(ctx, "addresses", |v| {
            parsed::<IpNet>(v, "an address with prefix length", "10.255.0.1/24")
        })
        .or(Vec::new())
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    let has_v6 = addresses.iter().any(|a| matches!(a, IpNet::V6(_)));
    let mtu = t
        .field(ctx, "mtu", |v| {
            let mtu = int_in::<u16>(v, 576, u16::MAX, "use an MTU from 576 to 65535, e.g. 1420")?;
            if has_v6 && mtu < 1280 {
                return Err(bad(
                    format!("MTU {mtu} is below the IPv6 minimum of 1280, and this interface has an IPv6 address"),
                    "use an MTU of at least 1280".to_string(),
                ));
            }
            Ok(mtu)
        })
        .or(1500);
    let loc = InterfaceLoc {
        path: t.path.clone(),
        name: name.as_ref().map(|(_, s)| s.clone()),
    };
    let iface = Interface {
        name: name.map(|(n, _)| n).unwrap_or_default(),
        addresses,
        mtu,
    };
    (iface, loc)
}
