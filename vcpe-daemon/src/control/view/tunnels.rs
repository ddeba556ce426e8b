//! `vcpectl tunnel list` / `tunnel show`: each `[[peer]]` with its state
//! (WireGuard: a session, a handshake in flight, or neither, and why; GRE
//! has no state), both public keys, the endpoint as configured, resolved
//! and used now, the age and time of its handshake and of the last packet
//! from it, keepalive, counters and MTU.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vcpe_config::{Encapsulation, Peer, PublicKey};

use vcpe_api::Reply;
use vcpe_api::view::TunnelInfo;
use vcpe_forwarding::tunnel::peer::{Encap, TunnelPeer};

use super::{View, error, fib};

/// WireGuard rejects a session this old (REJECT_AFTER_TIME); a session that
/// is not renewed by then carries nothing.
const SESSION_LIFETIME: Duration = Duration::from_secs(180);

/// A WireGuard peer's state in words: ("up" | "handshaking" | "down",
/// note), from whether it has a session, its age, and a handshake in
/// flight.
pub fn wireguard_state(
    last_handshake: Option<Duration>,
    handshaking: bool,
) -> (&'static str, String) {
    match last_handshake {
        Some(age) if age < SESSION_LIFETIME => {
            ("up", format!("session established {} s ago", age.as_secs()))
        }
        _ if handshaking => (
            "handshaking",
            "handshake sent, no answer yet: check that the peer runs, that its public key \
             and endpoint match, and that UDP reaches it"
                .to_owned(),
        ),
        Some(age) => (
            "down",
            format!(
                "session expired ({} s old, WireGuard drops sessions after {} s): the next \
                 packet starts a handshake",
                age.as_secs(),
                SESSION_LIFETIME.as_secs()
            ),
        ),
        None => (
            "down",
            "no session: nothing sent yet, or the peer never answered (set keepalive to keep \
             the tunnel up)"
                .to_owned(),
        ),
    }
}

/// The state word of every tunnel peer, by name.
pub fn states(peers: &[std::sync::Arc<TunnelPeer>]) -> Vec<(String, String)> {
    peers
        .iter()
        .map(|p| (p.name.clone(), state(p).0.to_owned()))
        .collect()
}

/// (state, note, handshake age) of one peer.
fn state(p: &TunnelPeer) -> (&'static str, String, Option<Duration>) {
    match &p.encap {
        Encap::Gre { .. } => (
            "stateless",
            "GRE has no session or keepalive: it is up whenever the underlay delivers; look at \
             the last packet received"
                .to_owned(),
            None,
        ),
        Encap::Vxlan(v) => (
            "stateless",
            if v.peer_mac.load(Relaxed) == 0 {
                "VXLAN has no session: the peer's MAC is not learned yet (no frame received from \
                 it); frames go to the broadcast MAC and ARP asks for it"
                    .to_owned()
            } else {
                "VXLAN has no session or keepalive: it is up whenever the underlay delivers; look \
                 at the last packet received"
                    .to_owned()
            },
            None,
        ),
        Encap::WireGuard { peer, roaming, .. } => {
            let s = peer.lock().unwrap_or_else(|e| e.into_inner()).status();
            let (st, note) = wireguard_state(s.last_handshake, s.handshaking);
            if roaming.endpoint().is_none() && st != "up" {
                let why = match crate::resolve::latest(&p.name) {
                    Some(r) => match r.error {
                        Some(e) => format!("no endpoint: {e}"),
                        None => "no endpoint yet".to_owned(),
                    },
                    None => "no endpoint yet: none is configured, so the peer must connect \
                             first (its endpoint is learned from its first authenticated \
                             packet; check that it has ours and our public key)"
                        .to_owned(),
                };
                return ("down", why, s.last_handshake);
            }
            (st, note, s.last_handshake)
        }
    }
}

/// The endpoint as the config gives it: an address, a `host:port`, or
/// none (a WireGuard peer that learns it).
fn configured_endpoint(p: &Peer) -> Option<String> {
    if let Some(h) = &p.endpoint_host {
        return Some(h.clone());
    }
    match &p.encapsulation {
        Encapsulation::Gre { .. } => p.fixed_endpoint().map(|e| e.ip().to_string()),
        _ => p.fixed_endpoint().map(|e| e.to_string()),
    }
}

/// `vcpectl tunnel list`.
pub fn list(view: &View<'_>) -> Reply {
    let r = view.with_dataplane(|f| {
        let running = f.tunnel_peers();
        let wireguard = running
            .iter()
            .any(|t| matches!(t.encap, Encap::WireGuard { .. }));
        let handshakes = wireguard.then(|| Box::new(super::stats::handshakes(&f.handshakes())));
        // In config order, each with its running tunnel (by name: ids are
        // not config indexes once a reload added or removed peers).
        let tunnels = view
            .config
            .peers
            .iter()
            .filter_map(|p| Some((running.iter().find(|t| t.name == p.name)?, p)))
            .map(|(t, p)| {
                let (state, state_note, handshake) = state(t);
                let s = &t.stats;
                let last = s.last_rx_ms.load(Relaxed);
                let now = u64::try_from(t.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                let endpoint = match &t.encap {
                    Encap::Gre { remote, .. } => remote.to_string(),
                    Encap::WireGuard { roaming, .. } => roaming
                        .endpoint()
                        .map_or_else(|| "none".to_owned(), |r| r.to_string()),
                    Encap::Vxlan(v) => v.remote.to_string(),
                };
                let resolution = crate::resolve::latest(&t.name);
                let (public_key, peer_public_key) = match &t.encap {
                    Encap::WireGuard { keys, .. } => (
                        Some(PublicKey(keys.load().public).to_string()),
                        Some(PublicKey(keys.load().peer_public).to_string()),
                    ),
                    _ => (None, None),
                };
                let keepalive_secs = match &p.encapsulation {
                    Encapsulation::WireGuard { keepalive, .. } => keepalive.filter(|&k| k > 0),
                    _ => None,
                };
                TunnelInfo {
                    name: t.name.clone(),
                    encapsulation: fib::encapsulation(&p.encapsulation).to_owned(),
                    endpoint,
                    bind: p.bind.map(|b| b.to_string()),
                    state: state.to_owned(),
                    state_note,
                    last_handshake_secs: handshake.map(|d| d.as_secs()),
                    last_rx_secs: (last > 0).then(|| now.saturating_sub(last) / 1000),
                    rx_packets: s.rx_packets.load(Relaxed),
                    rx_bytes: s.rx_bytes.load(Relaxed),
                    tx_packets: s.tx_packets.load(Relaxed),
                    tx_bytes: s.tx_bytes.load(Relaxed),
                    rx_spoofed: s.rx_spoofed.load(Relaxed),
                    rx_errors: s.rx_errors.load(Relaxed),
                    tx_errors: s.tx_errors.load(Relaxed),
                    mtu: crate::tunnels::tunnel_mtu(p),
                    allowed_prefixes: t.allowed.load().iter().map(|n| n.to_string()).collect(),
                    public_key,
                    peer_public_key,
                    endpoint_configured: configured_endpoint(p),
                    endpoint_resolved: resolution
                        .as_ref()
                        .and_then(|r| r.address.map(|a| a.to_string())),
                    resolve_error: resolution.and_then(|r| r.error),
                    last_handshake_unix: handshake.and_then(|age| {
                        SystemTime::now()
                            .checked_sub(age)?
                            .duration_since(UNIX_EPOCH)
                            .ok()
                            .map(|d| d.as_secs())
                    }),
                    keepalive_secs,
                }
            })
            .collect::<Vec<_>>();
        (tunnels, handshakes)
    });
    match r {
        Ok((tunnels, handshakes)) => Reply::Tunnels {
            tunnels,
            handshakes,
        },
        Err(m) => error(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wireguard_states_follow_the_session_and_its_age() {
        assert_eq!(wireguard_state(Some(Duration::from_secs(5)), false).0, "up");
        assert_eq!(wireguard_state(None, true).0, "handshaking");
        let (s, note) = wireguard_state(Some(Duration::from_secs(200)), false);
        assert_eq!(s, "down");
        assert!(note.contains("expired"), "{note}");
        assert_eq!(wireguard_state(None, false).0, "down");
    }
}
