//! Neighbors added and removed while the speaker runs (a config reload):
//! the speaker's neighbor table, the listener's TCP-MD5 keys and the
//! driver's per-neighbor connect settings move together. Other sessions
//! are not touched.

use std::net::IpAddr;
use std::time::Instant;

use tracing::{info, warn};
use vcpe_config::Config;

use super::md5::set_md5_key;
use super::{Task, config, ifaddrs};

impl Task {
    /// Starts `config`'s neighbor at `addr` (unknown address: nothing).
    pub(super) fn add_neighbor(
        &mut self,
        now: Instant,
        config: &Config,
        addr: IpAddr,
        tunnel: Option<crate::topology::TunnelId>,
    ) {
        let Some(n) = config
            .bgp
            .as_ref()
            .and_then(|b| b.neighbors.iter().find(|n| n.address == addr))
        else {
            warn!(neighbor = %addr, "reload asked to add a neighbor the new config does not have");
            return;
        };
        if self.speaker.neighbor_by_addr(addr).is_some() {
            warn!(neighbor = %addr, "reload asked to add a neighbor that runs already; left as is");
            return;
        }
        let key = n.password.as_ref().map(|p| p.secret().to_vec());
        if let Some(k) = &key
            && let Err(e) = set_md5_key(&*self.listener, listener_peer(&self.listener, addr), k)
        {
            warn!(neighbor = %addr, error = %e, "cannot set the TCP-MD5 key on the BGP listener; the neighbor's connections to us will fail, ours to it still work");
        }
        let link = ifaddrs::towards(&ifaddrs::interface_addresses(), n);
        let id = self
            .speaker
            .add_neighbor(now, config::neighbor_config(config, n, self.added, link));
        if config.bgp.as_ref().is_some_and(|b| b.starts_down(n)) {
            self.speaker.disable(now, id, None);
        }
        self.added += 1;
        self.new_tunnels.push((id, tunnel));
        self.neighbors.push((id, n.local_address, key));
        info!(neighbor = %addr, asn = n.remote_as, "BGP neighbor added by reload");
    }

    /// Stops and forgets the neighbor at `addr`: Cease / Peer
    /// De-configured, its routes withdrawn.
    pub(super) fn remove_neighbor(&mut self, now: Instant, addr: IpAddr) {
        let Some(id) = self.speaker.neighbor_by_addr(addr) else {
            warn!(neighbor = %addr, "reload asked to remove a neighbor that does not run");
            return;
        };
        self.speaker.remove_neighbor(now, id);
        if let Some(i) = self.neighbors.iter().position(|n| n.0 == id) {
            let (_, _, key) = self.neighbors.remove(i);
            if key.is_some() {
                let _ = set_md5_key(&*self.listener, listener_peer(&self.listener, addr), &[]);
            }
        }
        self.conns.retain(|k, _| k.peer != id);
        info!(neighbor = %addr, "BGP neighbor removed by reload; its routes are withdrawn");
    }
}

impl Task {
    /// Applies the policy of `config`'s neighbor at `addr` (`import`,
    /// `export`, rules, `max_prefixes`) to its running session without a
    /// reset: exports recomputed, ROUTE-REFRESH asked for a changed import
    /// policy. A peer that cannot refresh gets its session restarted
    /// (the only way to evaluate its routes again), saying so.
    pub(super) fn set_policy(
        &mut self,
        now: Instant,
        config: &Config,
        addr: IpAddr,
        tunnel: Option<crate::topology::TunnelId>,
    ) {
        let Some(n) = config
            .bgp
            .as_ref()
            .and_then(|b| b.neighbors.iter().find(|n| n.address == addr))
        else {
            warn!(neighbor = %addr, "reload asked to change the policy of a neighbor the new config does not have");
            return;
        };
        let Some(id) = self.speaker.neighbor_by_addr(addr) else {
            warn!(neighbor = %addr, "reload asked to change the policy of a neighbor that does not run; left alone");
            return;
        };
        // Only the policy is taken from it: the link addresses do not matter.
        let nc = config::neighbor_config(config, n, 0, None);
        match self.speaker.set_policy(now, id, &nc.rib) {
            Ok(c) => info!(
                neighbor = %addr,
                import = c.import,
                export = c.export,
                max_prefixes = c.max_prefixes,
                "BGP neighbor policy changed by reload, session kept (import: ROUTE-REFRESH sent; export: recomputed)"
            ),
            Err(_) => {
                warn!(neighbor = %addr, "the import policy changed and the neighbor does not support ROUTE-REFRESH: restarting its session to evaluate its routes again");
                self.remove_neighbor(now, addr);
                self.add_neighbor(now, config, addr, tunnel);
            }
        }
    }
}

/// An IPv4 neighbor on a dual-stack IPv6 listener arrives v4-mapped.
fn listener_peer(listener: &tokio::net::TcpListener, addr: IpAddr) -> IpAddr {
    match (listener.local_addr().map(|a| a.is_ipv6()), addr) {
        (Ok(true), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
        _ => addr,
    }
}
