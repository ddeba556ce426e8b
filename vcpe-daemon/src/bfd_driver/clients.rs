//! What the BFD task tells the rest of the daemon: a session's clients
//! (a BGP neighbor, a tunnel peer's static routes) learn that it failed
//! or is Up again. BGP gets a command on its task (the speaker's
//! `bfd_down` / `bfd_up`); tunnel changes go, in order, to a thread of
//! their own that calls the routing owner under its mutex: the BFD task
//! never waits for that lock (the BGP FIB thread may hold it for a big
//! batch), so its packets keep their schedule.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use crate::topology::TunnelId;

use tracing::{debug, info, warn};
use vcpe_bfd::SessionKey;

use super::specs::{Client, Spec};
use crate::bgp_driver::{BgpHandle, Command as BgpCommand};
use crate::routing::Routing;

/// A tunnel's static routes out of the FIB (`down`) or back.
#[derive(Debug)]
struct TunnelChange {
    name: String,
    id: TunnelId,
    down: bool,
}

/// Every session's clients, and how to reach them.
#[derive(Debug)]
pub(super) struct Clients {
    bgp: Option<BgpHandle>,
    /// To the thread that applies tunnel changes (`None` if it could not
    /// start: tunnels are then not acted on, and that was logged).
    tunnels: Option<std_mpsc::Sender<TunnelChange>>,
    by_key: HashMap<SessionKey, Vec<Client>>,
}

impl Clients {
    pub fn new(bgp: Option<BgpHandle>, routing: Arc<Mutex<Routing>>) -> Clients {
        let (tx, rx) = std_mpsc::channel::<TunnelChange>();
        let started = std::thread::Builder::new()
            .name("vcpe-bfd-routes".into())
            .spawn(move || {
                while let Ok(c) = rx.recv() {
                    // A panic elsewhere while holding the lock leaves the
                    // routes as they were: still the state to act on.
                    let n = routing
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .set_tunnel_down(c.id, c.down);
                    if c.down {
                        warn!(tunnel = %c.name, routes_withdrawn = n,
                            "static routes into the tunnel left the FIB (its BFD session is down)");
                    } else if n > 0 {
                        info!(tunnel = %c.name, routes = n, "static routes into the tunnel are back");
                    }
                }
            });
        if let Err(e) = &started {
            warn!(error = %e, "cannot start the BFD route thread; BFD will not withdraw tunnel routes");
        }
        Clients {
            bgp,
            tunnels: started.ok().map(|_| tx),
            by_key: HashMap::new(),
        }
    }

    /// The clients of `specs` from now on; a client that is gone is
    /// released (its BGP session or routes must not stay held down).
    pub fn set(&mut self, specs: &[Spec]) {
        let mut next: HashMap<SessionKey, Vec<Client>> = HashMap::new();
        for s in specs {
            next.entry(s.key).or_default().push(s.client.clone());
        }
        let old = std::mem::replace(&mut self.by_key, next);
        for (key, clients) in old {
            for c in clients {
                if !self.by_key.get(&key).is_some_and(|v| v.contains(&c)) {
                    self.release(&c);
                }
            }
        }
    }

    /// The clients of `key`, in words ("bgp 10.0.0.2", "peer vpc02").
    pub fn names(&self, key: &SessionKey) -> Vec<String> {
        self.by_key
            .get(key)
            .map(|v| v.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// The session of `key` is Up.
    pub fn up(&self, key: &SessionKey) {
        for c in self.by_key.get(key).into_iter().flatten() {
            self.release(c);
        }
    }

    /// The session of `key` failed (RFC 5882): `cause` in words.
    pub fn down(&self, key: &SessionKey, cause: &str) {
        for c in self.by_key.get(key).into_iter().flatten() {
            match c {
                Client::Neighbor(addr) => {
                    warn!(peer = %key.peer, %cause, check = "the peer or the path to it failed: \
                        ping it; `vcpectl bfd` shows the session",
                        "BFD session down; its BGP session goes down too");
                    self.bgp(BgpCommand::BfdDown(*addr, cause.to_owned()));
                }
                Client::Tunnel { name, id } => {
                    warn!(peer = %key.peer, tunnel = %name, %cause,
                        check = "the other vCPE or the tunnel failed: `vcpectl tunnel list`, \
                        `vcpectl bfd`",
                        "BFD session down; the static routes into the tunnel leave the FIB");
                    self.tunnel(name, *id, true);
                }
            }
        }
    }

    /// Lets `c` act as if BFD were Up.
    fn release(&self, c: &Client) {
        match c {
            Client::Neighbor(addr) => self.bgp(BgpCommand::BfdUp(*addr)),
            Client::Tunnel { name, id } => self.tunnel(name, *id, false),
        }
    }

    fn bgp(&self, c: BgpCommand) {
        if let Some(bgp) = &self.bgp
            && !bgp.send(c)
        {
            debug!("the BGP task is gone; BFD change not passed on");
        }
    }

    fn tunnel(&self, name: &str, id: TunnelId, down: bool) {
        if let Some(tx) = &self.tunnels {
            let _ = tx.send(TunnelChange {
                name: name.to_owned(),
                id,
                down,
            });
        }
    }
}
