//! Links between namespaces: veth pairs and bridges.

use anyhow::{Context, Result, bail};

use crate::names;
use crate::netns::{Netns, ip_command};
use crate::process::{self, DEFAULT_TIMEOUT};

/// One end of a link: an interface inside a namespace.
#[derive(Debug, Clone)]
pub struct Iface {
    /// The namespace holding the interface.
    pub ns: Netns,
    /// The interface name inside that namespace.
    pub name: String,
}

impl Iface {
    /// Adds an address to this interface (see [`Netns::addr`]).
    pub fn addr(&self, cidr: &str) -> Result<()> {
        self.ns.addr(&self.name, cidr)
    }
}

/// A veth pair created by [`crate::Lab::veth`]; both ends are up.
#[derive(Debug, Clone)]
pub struct Veth {
    /// The end in the first namespace.
    pub a: Iface,
    /// The end in the second namespace.
    pub b: Iface,
}

/// Creates a veth pair between `ns_a`/`if_a` and `ns_b`/`if_b` and sets both
/// ends up. The ends are created directly inside their namespaces under
/// temporary unique names (so they never exist in the root namespace and
/// parallel tests cannot collide), then renamed to the requested names.
pub fn veth(ns_a: &Netns, if_a: &str, ns_b: &Netns, if_b: &str) -> Result<Veth> {
    names::check_ifname(if_a)?;
    names::check_ifname(if_b)?;
    if ns_a.name() == ns_b.name() && if_a == if_b {
        bail!("both veth ends are {if_a} in {}", ns_a.name());
    }
    let (tmp_a, tmp_b) = (names::ifname(), names::ifname());
    let mut cmd = ip_command([
        "link",
        "add",
        &tmp_a,
        "netns",
        ns_a.name(),
        "type",
        "veth",
        "peer",
        "name",
        &tmp_b,
        "netns",
        ns_b.name(),
    ]);
    process::run_ok(&mut cmd, DEFAULT_TIMEOUT).with_context(|| {
        format!(
            "cannot create veth {}/{if_a} <-> {}/{if_b}",
            ns_a.name(),
            ns_b.name()
        )
    })?;
    for (ns, tmp, name) in [(ns_a, &tmp_a, if_a), (ns_b, &tmp_b, if_b)] {
        ns.ip(["link", "set", tmp, "name", name])
            .with_context(|| format!("cannot rename veth end {tmp} to {name} in {}", ns.name()))?;
        ns.link_up(name)?;
    }
    Ok(Veth {
        a: Iface {
            ns: ns_a.clone(),
            name: if_a.to_owned(),
        },
        b: Iface {
            ns: ns_b.clone(),
            name: if_b.to_owned(),
        },
    })
}

/// A Linux bridge inside a namespace (a "switch"), created by [`crate::Lab::bridge`].
/// STP is off and the forward delay 0, so ports forward at once.
#[derive(Debug, Clone)]
pub struct Bridge {
    ns: Netns,
    name: String,
}

impl Bridge {
    pub(crate) fn create(ns: &Netns, name: &str) -> Result<Self> {
        names::check_ifname(name)?;
        ns.ip([
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])
        .with_context(|| format!("cannot create bridge {name} in {}", ns.name()))?;
        ns.link_up(name)?;
        Ok(Self {
            ns: ns.clone(),
            name: name.to_owned(),
        })
    }

    /// The bridge's namespace.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// The bridge's interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Enslaves interface `port` (already in the bridge's namespace) and sets it up.
    pub fn attach(&self, port: &str) -> Result<()> {
        self.ns
            .ip(["link", "set", port, "master", &self.name])
            .with_context(|| format!("cannot attach {port} to bridge {}", self.name))?;
        self.ns.link_up(port)
    }

    /// Plugs namespace `peer` into the bridge: a veth pair with end `port` in
    /// the bridge's namespace (attached to the bridge) and end `peer_if` in `peer`.
    pub fn plug(&self, port: &str, peer: &Netns, peer_if: &str) -> Result<Veth> {
        let v = veth(&self.ns, port, peer, peer_if)?;
        self.attach(port)?;
        Ok(v)
    }
}
