//! Builds the typed [`Config`] from the parsed TOML tree, section by
//! section, recording where each cross-referenced field is in [`Locs`].

mod bfd;
mod bgp;
mod global;
mod interface;
pub(crate) mod names;
mod peer;
mod policy_rule;
mod route;

pub use global::{AS_TRANS, DEFAULT_SOCKET};
pub use peer::{GRE_NO_PORT, VXLAN_UDP_PORT};

pub(crate) use bgp::NeighborLoc;
pub use bgp::{MAX_PATHS, MAX_SHUTDOWN_MESSAGE};
pub(crate) use interface::InterfaceLoc;
pub(crate) use peer::PeerLoc;
pub(crate) use route::RouteLoc;

use crate::model::Config;
use crate::reader::{Ctx, Table};

/// Spans of cross-referenced fields, parallel to the vectors in [`Config`].
#[derive(Debug, Default)]
pub(crate) struct Locs {
    pub interfaces: Vec<InterfaceLoc>,
    pub routes: Vec<RouteLoc>,
    pub neighbors: Vec<NeighborLoc>,
    pub peers: Vec<PeerLoc>,
    /// `[kernel] interface`, when given.
    pub kernel_interface: Option<crate::diagnostic::Span>,
    /// `[control] group`, when given.
    pub control_group: Option<crate::diagnostic::Span>,
}

/// Top-level keys.
const TOP_KEYS: &[&str] = &[
    "router",
    "control",
    "metrics",
    "kernel",
    "forwarding",
    "interface",
    "route",
    "bgp",
    "peer",
];

/// Reads every section. Invalid values are reported to `ctx` and replaced
/// by placeholders; the result is only used when `ctx` has no errors.
pub(crate) fn build(ctx: &mut Ctx<'_>, root: &Table<'_, '_>) -> (Config, Locs) {
    root.check_keys(ctx, TOP_KEYS);
    let mut locs = Locs::default();
    let router = global::router(ctx, root);
    let (control, control_group) = global::control(ctx, root);
    locs.control_group = control_group;
    let metrics = global::metrics(ctx, root);
    let (mut kernel, kernel_interface) = global::kernel(ctx, root);
    locs.kernel_interface = kernel_interface;
    let forwarding = global::forwarding(ctx, root);
    let interfaces = root
        .tables(ctx, "interface")
        .iter()
        .map(|t| {
            let (i, l) = interface::interface(ctx, t);
            locs.interfaces.push(l);
            i
        })
        .collect::<Vec<crate::model::Interface>>();
    if kernel.interface.is_none() {
        kernel.interface = interfaces.first().map(|i| i.name.clone());
    }
    let routes = root
        .tables(ctx, "route")
        .iter()
        .map(|t| {
            let (r, l) = route::route(ctx, t);
            locs.routes.push(l);
            r
        })
        .collect();
    let bgp = bgp::bgp(ctx, root).map(|(b, l)| {
        locs.neighbors = l;
        b
    });
    let peers = root
        .tables(ctx, "peer")
        .iter()
        .map(|t| {
            let (p, l) = peer::peer(ctx, t);
            locs.peers.push(l);
            p
        })
        .collect();
    let config = Config {
        router,
        control,
        metrics,
        kernel,
        forwarding,
        interfaces,
        routes,
        bgp,
        peers,
    };
    (config, locs)
}
