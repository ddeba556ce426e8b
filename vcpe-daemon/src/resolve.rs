//! Hostname endpoints of WireGuard peers (`endpoint = "host:port"`):
//! resolved with the system resolver (`getaddrinfo`, through
//! `tokio::net::lookup_host`) at start and every [`INTERVAL`] after, as
//! wg-quick's `reresolve-dns` does.
//!
//! Roaming wins over DNS while the tunnel works: a new address is applied
//! when the name resolves to something else than last time, when the peer
//! has no endpoint yet, or when its handshake is stale (older than
//! [`STALE_HANDSHAKE`] or none), so a peer that roamed away from its DNS
//! address is not pulled back while it answers. The decision is
//! [`decide`] (pure); [`run`] only resolves and stores.
//!
//! The latest result per peer (address, error, when) is kept here for
//! `vcpectl tunnel list/show` ([`latest`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use vcpe_forwarding::tunnel::peer::Encap;

use crate::control::dispatch::Api;

/// How often hostnames are resolved again.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// A handshake older than this counts as stale (WireGuard's REKEY_AFTER_TIME
/// + REKEY_TIMEOUT + jitter, as `reresolve-dns.sh` uses).
pub const STALE_HANDSHAKE: Duration = Duration::from_secs(135);
/// How long one resolution may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The latest resolution of one peer's hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The name as configured (`host:port`).
    pub host: String,
    /// The address it resolved to last (kept across a failure).
    pub address: Option<SocketAddr>,
    /// Why the latest resolution failed, if it did.
    pub error: Option<String>,
    /// When it was attempted.
    pub at: SystemTime,
}

/// Latest resolutions by peer name (one resolver per process).
static LATEST: LazyLock<Mutex<BTreeMap<String, Resolution>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// The latest resolution of `peer`'s hostname, if it has one.
pub fn latest(peer: &str) -> Option<Resolution> {
    LATEST
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(peer)
        .cloned()
}

/// The address to use among what a name resolved to: the first of the
/// socket's family (`v4`: the peer's UDP socket is IPv4), else none.
pub fn pick(addresses: &[SocketAddr], v4: bool) -> Option<SocketAddr> {
    addresses.iter().copied().find(|a| a.is_ipv4() == v4)
}

/// Whether a freshly resolved `new` address replaces the peer's
/// `current` endpoint, given the `previous` resolution and the age of
/// the latest handshake (see the module comment).
pub fn decide(
    new: SocketAddr,
    previous: Option<SocketAddr>,
    current: Option<SocketAddr>,
    handshake: Option<Duration>,
) -> bool {
    if current == Some(new) {
        return false;
    }
    current.is_none() || previous != Some(new) || handshake.is_none_or(|age| age >= STALE_HANDSHAKE)
}

/// Resolves every hostname endpoint now and every [`INTERVAL`]; runs
/// until the task is aborted.
pub async fn run(api: Arc<Api>) {
    loop {
        round(&api).await;
        tokio::time::sleep(INTERVAL).await;
    }
}

/// One round over the running config's peers.
async fn round(api: &Api) {
    let config = api.running.load();
    for p in &config.peers {
        let Some(host) = &p.endpoint_host else {
            continue;
        };
        let v4 = p.bind.is_none_or(|b| b.is_ipv4());
        let looked = tokio::time::timeout(TIMEOUT, tokio::net::lookup_host(host.as_str())).await;
        let result = match looked {
            Ok(Ok(addrs)) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                pick(&addrs, v4).ok_or_else(|| {
                    format!(
                        "{host} resolves to no {} address ({addrs:?}); set bind to the other family's address",
                        if v4 { "IPv4" } else { "IPv6" }
                    )
                })
            }
            Ok(Err(e)) => Err(format!("{host} does not resolve: {e}")),
            Err(_) => Err(format!(
                "resolving {host} took over {} s",
                TIMEOUT.as_secs()
            )),
        };
        let previous = latest(&p.name);
        let previous_address = previous.as_ref().and_then(|r| r.address);
        let address = match &result {
            Ok(a) => {
                apply(api, &p.name, *a, previous_address);
                Some(*a)
            }
            Err(e) => {
                tracing::warn!(peer = %p.name, error = %e, check = "the name in the peer's endpoint and the system resolver (/etc/resolv.conf, /etc/hosts); the last address, if any, stays in use", "WireGuard endpoint hostname not resolved");
                previous_address
            }
        };
        LATEST.lock().unwrap_or_else(|e| e.into_inner()).insert(
            p.name.clone(),
            Resolution {
                host: host.clone(),
                address,
                error: result.err(),
                at: SystemTime::now(),
            },
        );
    }
}

/// Sets the resolved address on the running peer named `name` if
/// [`decide`] says so.
fn apply(api: &Api, name: &str, new: SocketAddr, previous: Option<SocketAddr>) {
    let dataplane = api.dataplane.lock().unwrap_or_else(|e| e.into_inner());
    let Some(d) = dataplane.as_ref() else {
        return;
    };
    let Some(t) = d.tunnel_peers().into_iter().find(|t| t.name == name) else {
        return;
    };
    let Encap::WireGuard { peer, roaming, .. } = &t.encap else {
        return;
    };
    let handshake = peer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .status()
        .last_handshake;
    let current = roaming.endpoint();
    if decide(new, previous, current, handshake) {
        tracing::info!(peer = %name, endpoint = %new, previous = ?current, "WireGuard endpoint set from its hostname");
        roaming.set_endpoint(Some(new));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pick_takes_the_sockets_family() {
        let addrs = [
            a("[2001:db8::1]:51820"),
            a("192.0.2.1:51820"),
            a("192.0.2.2:51820"),
        ];
        assert_eq!(pick(&addrs, true), Some(a("192.0.2.1:51820")));
        assert_eq!(pick(&addrs, false), Some(a("[2001:db8::1]:51820")));
        assert_eq!(pick(&addrs[..1], true), None);
    }

    #[test]
    fn dns_changes_win_but_roaming_is_kept_while_the_tunnel_works() {
        let (dns, roamed) = (a("192.0.2.1:51820"), a("198.51.100.7:40000"));
        let fresh = Some(Duration::from_secs(10));
        // First resolution, no endpoint yet.
        assert!(decide(dns, None, None, None));
        // Same answer, already there.
        assert!(!decide(dns, Some(dns), Some(dns), fresh));
        // The peer roamed and the tunnel works: keep the roamed endpoint.
        assert!(!decide(dns, Some(dns), Some(roamed), fresh));
        // ... until its handshake is stale, or there is none.
        assert!(decide(dns, Some(dns), Some(roamed), Some(STALE_HANDSHAKE)));
        assert!(decide(dns, Some(dns), Some(roamed), None));
        // The name moved: follow it.
        let moved = a("192.0.2.9:51820");
        assert!(decide(moved, Some(dns), Some(roamed), fresh));
    }

    #[tokio::test]
    async fn the_system_resolver_resolves_a_numeric_host_and_refuses_garbage() {
        // No network or /etc/hosts needed: getaddrinfo parses numeric hosts.
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host("127.0.0.1:51820")
            .await
            .expect("numeric host")
            .collect();
        assert_eq!(pick(&addrs, true), Some(a("127.0.0.1:51820")));
        assert!(
            tokio::net::lookup_host("no-such-host.invalid:1")
                .await
                .is_err()
        );
    }
}
