//! `vcpectl reload` (and SIGHUP) and `vcpectl config diff`: read the config
//! file, compare it with what runs ([`vcpe_config::diff`]) and apply only
//! the difference. Unchanged routes are not withdrawn and re-announced and
//! unchanged BGP sessions stay up, so a reload of an unchanged file does
//! nothing at all.
//!
//! Live: routes, BGP neighbors (over running tunnels too), their policy
//! (softly, no session reset), tunnel peers added, removed, changed in
//! place (allowed prefixes, WireGuard keys and keepalive) or replaced
//! (endpoint, bind, encapsulation, MTU, BFD: the one tunnel only), and
//! interfaces added, removed or changed in place (addresses, MTU)
//! ([`super::topology_change`]). The other
//! tunnels, interfaces and sessions are not touched.
//!
//! All or nothing: an invalid file is refused with every error; a file
//! that changes what only a restart can change (the router's identity,
//! listening sockets, the forwarding knobs) is refused as a whole, naming the fields; and what can fail (a TUN to create, a socket
//! to bind) is done before anything running changes, so a failure leaves
//! the running state as it was and answers with the error.
//! [`Reload::apply`] is the one entry point (reload, SIGHUP, commit-confirm
//! and rollback).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use vcpe_api::{ConfigChanges, Reply};
use vcpe_config::Config;
use vcpe_config::diff::{Changed, ConfigDiff, diff, policy_only};

use super::routes::Routes;
use crate::bfd_driver::{self, BfdHandle};
use crate::bgp_driver::Command;

/// What a reload needs from the daemon.
#[derive(Debug)]
pub struct Reload<'a> {
    /// Route changes, and the running config (its writer turn serializes
    /// route changes with reloads).
    pub routes: Routes<'a>,
    /// The BFD task (runs whenever `[bgp]` does).
    pub bfd: Option<&'a BfdHandle>,
    /// The interfaces and tunnels by name (changed by a reload).
    pub topology: &'a crate::topology::Topology,
    /// The forwarding plane (its ports and tunnel peers change live).
    pub dataplane: &'a std::sync::Mutex<Option<crate::dataplane::Dataplane>>,
}

impl Reload<'_> {
    fn path(&self) -> &Path {
        self.routes.path
    }

    /// The file's text, read before any lock is taken (a file that does
    /// not answer must not stall route changes or status) and within
    /// [`crate::config_file::READ_TIMEOUT`].
    fn read(&self) -> Result<String, Reply> {
        crate::config_file::read(self.path()).map_err(|e| Reply::Error {
            message: format!("{e}\nthe running config is unchanged"),
        })
    }

    /// The config in `text` (the file's) and its difference from `running`.
    fn compare(&self, text: &str, running: &Config) -> Result<(Config, ConfigDiff), Reply> {
        let new = crate::daemon::parse_config(text, self.path()).map_err(|d| Reply::Error {
            message: format!(
                "{}\nthe running config is unchanged; fix the errors above, then reload again \
                 (`vcped check-config {}` checks a file)",
                d.to_string().trim_end(),
                self.path().display()
            ),
        })?;
        let d = diff(running, &new);
        Ok((new, d))
    }

    /// `vcpectl config diff`.
    pub fn show(&self) -> Reply {
        let text = match self.read() {
            Ok(t) => t,
            Err(r) => return r,
        };
        match self.compare(&text, &self.routes.running.load()) {
            Ok((_, d)) => Reply::ConfigChanges {
                file: self.path().display().to_string(),
                applied: false,
                changes: Box::new(ConfigChanges::from(&d)),
            },
            Err(r) => r,
        }
    }

    /// `vcpectl reload` / SIGHUP.
    pub fn apply(&self) -> Reply {
        let text = match self.read() {
            Ok(t) => t,
            Err(r) => return r,
        };
        let writer = self.routes.running.write();
        let running = writer.current();
        let (new, d) = match self.compare(&text, &running) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let changes = ConfigChanges::from(&d);
        if !d.restart_needed.is_empty() {
            return Reply::Error {
                message: format!(
                    "the file changes what only a restart can apply: {}; nothing was reloaded. \
                     Restart vcped (systemctl restart vcped) to apply the whole file, or undo \
                     those changes to reload the rest",
                    d.restart_needed.join(", ")
                ),
            };
        }
        let mut next = (*running).clone();
        if d.is_empty() {
            tracing::info!(file = %self.path().display(), "reload: the file matches what runs; nothing to do");
        } else {
            // What can fail first: nothing running has changed if it does.
            let prepared = match self.prepare(&new, &d) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "reload refused");
                    return Reply::Error {
                        message: format!(
                            "{e:#}; nothing was reloaded, the running config and the dataplane                              are unchanged. Fix the cause (or undo that change in {}) and reload                              again",
                            self.path().display()
                        ),
                    };
                }
            };
            // New interfaces and tunnels before the routes that name them,
            // removed ones after the routes and neighbors that used them.
            self.start_new(prepared, &d);
            self.apply_peers(&d);
            self.apply_routes(&d);
            self.apply_neighbors(&d, new.clone());
            self.stop_removed(&d);
            // BGP next hops find the tunnels by the new inner addresses.
            self.topology.set_peer_hops(&new.peers);
            self.routes
                .routing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .set_tunnel_hops(&new);
            next.peers = new.peers.clone();
            next.interfaces = new.interfaces.clone();
            if self.routes.bgp.is_some()
                && let (Some(file), Some(bgp)) = (&new.bgp, next.bgp.as_mut())
            {
                bgp.neighbors = file.neighbors.clone();
            }
            tracing::info!(
                file = %self.path().display(),
                routes_added = d.routes_added.len(),
                routes_removed = d.routes_removed.len(),
                routes_changed = d.routes_changed.len(),
                neighbors_added = d.neighbors_added.len(),
                neighbors_removed = d.neighbors_removed.len(),
                neighbors_changed = d.neighbors_changed.len(),
                peers_changed = d.peers_changed.len(),
                peers_added = d.peers_added.len(),
                peers_removed = d.peers_removed.len(),
                peers_replaced = d.peers_replaced.len(),
                interfaces_added = d.interfaces_added.len(),
                interfaces_changed = d.interfaces_changed.len(),
                interfaces_removed = d.interfaces_removed.len(),
                "config reloaded"
            );
            for f in &d.fields {
                tracing::info!(
                    setting = %f.path,
                    old = f.old.as_deref().unwrap_or("(not set)"),
                    new = f.new.as_deref().unwrap_or("(not set)"),
                    "config changed by reload"
                );
            }
        }
        next.routes = new.routes;
        writer.store(next);
        Reply::ConfigChanges {
            file: self.path().display().to_string(),
            applied: true,
            changes: Box::new(changes),
        }
    }

    /// Tunnel peers changed in what a running tunnel can take (allowed
    /// prefixes, WireGuard keys and keepalive): changed in place.
    fn apply_peers(&self, d: &ConfigDiff) {
        if d.peers_changed.is_empty() {
            return;
        }
        let dp = self
            .dataplane
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(dp) = dp.as_ref() else { return };
        for c in &d.peers_changed {
            match self.topology.tunnel(&c.new.name) {
                Some(id) => {
                    dp.update_peer(id, &c.old, &c.new);
                }
                None => {
                    tracing::warn!(peer = %c.new.name, "reload: no running tunnel of that name")
                }
            }
        }
    }

    /// Routes: removed ones go, changed ones are replaced in the FIB (an
    /// unchanged announcement is left alone), new ones come.
    fn apply_routes(&self, d: &ConfigDiff) {
        let r = &self.routes;
        for old in &d.routes_removed {
            r.unapply(old);
        }
        for c in &d.routes_changed {
            let same_prefix = c.old.prefix == c.new.prefix;
            // Same prefix: the FIB entry and the announcement are replaced
            // in place (no gap, no withdrawal before the new UPDATE).
            if !same_prefix {
                r.remove_from_fib(c.old.prefix);
            }
            if c.old.advertise && !(c.new.advertise && same_prefix) {
                r.withdraw(&c.old);
            }
            let unchanged_announcement = c.old.advertise
                && c.new.advertise
                && same_prefix
                && c.old.next_hop == c.new.next_hop
                && c.old.attrs == c.new.attrs;
            r.install(&c.new, !unchanged_announcement);
        }
        for new in &d.routes_added {
            r.install(new, true);
        }
    }

    /// Neighbors: removed and changed ones stop (only those), added and
    /// changed ones start with the new settings. A change of BFD settings
    /// only leaves the BGP session alone: the BFD task runs exactly the
    /// new file's sessions (new intervals through a Poll Sequence). A
    /// change of policy only (`import`, `export`, rules, `max_prefixes`)
    /// is applied softly: exports recomputed, ROUTE-REFRESH for imports.
    fn apply_neighbors(&self, d: &ConfigDiff, new: Config) {
        if let Some(bfd) = self.bfd {
            bfd.send(bfd_driver::Command::Sync(bfd_driver::specs(
                &new,
                self.topology,
            )));
        }
        let Some(bgp) = self.routes.bgp else { return };
        let new = Arc::new(new);
        let bfd_only = |c: &Changed<vcpe_config::Neighbor>| {
            let mut old = c.old.clone();
            old.bfd = c.new.bfd.clone();
            old == c.new
        };
        // Policy only: applied to the running session (no reset).
        for c in d
            .neighbors_changed
            .iter()
            .filter(|c| !bfd_only(c) && policy_only(&c.old, &c.new))
        {
            bgp.send(Command::SetPolicy(
                Arc::clone(&new),
                c.new.address,
                self.tunnel_of(&c.new),
            ));
        }
        let changed: Vec<&vcpe_config::Neighbor> = d
            .neighbors_changed
            .iter()
            .filter(|c| !policy_only(&c.old, &c.new))
            .map(|c| &c.new)
            .collect();
        let stop: Vec<IpAddr> = d
            .neighbors_removed
            .iter()
            .map(|n| n.address)
            .chain(changed.iter().map(|n| n.address))
            .collect();
        for a in stop {
            bgp.send(Command::RemoveNeighbor(a));
        }
        // The host routes into the tunnels of the neighbors over tunnels.
        let old_over: Vec<&vcpe_config::Neighbor> = d
            .neighbors_removed
            .iter()
            .chain(d.neighbors_changed.iter().map(|c| &c.old))
            .filter(|n| n.peer.is_some())
            .collect();
        let new_over: Vec<(IpAddr, crate::topology::TunnelId)> = d
            .neighbors_added
            .iter()
            .chain(d.neighbors_changed.iter().map(|c| &c.new))
            .filter_map(|n| Some((n.address, self.tunnel_of(n)?)))
            .collect();
        {
            let mut routing = self
                .routes
                .routing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for n in old_over {
                if !new_over.iter().any(|(a, _)| *a == n.address) {
                    routing.remove_neighbor_route(n.address);
                }
            }
            for (a, t) in &new_over {
                routing.add_neighbor_route(*a, *t);
            }
        }
        for n in d.neighbors_added.iter().chain(changed.iter().copied()) {
            bgp.send(Command::AddNeighbor(
                Arc::clone(&new),
                n.address,
                self.tunnel_of(n),
            ));
        }
    }

    /// The running tunnel a neighbor names (`peer = ...`).
    fn tunnel_of(&self, n: &vcpe_config::Neighbor) -> Option<crate::topology::TunnelId> {
        self.topology.tunnel(n.peer.as_deref()?)
    }
}
