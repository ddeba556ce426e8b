//! `vcpectl route add|del|list`: static routes changed at run time — the
//! FIB first, then BGP (originate or withdraw when `advertise`), then the
//! config file, edited in place and written atomically
//! ([`vcpe_config::edit`]), before the change is acknowledged. Bad input,
//! or a file that cannot be edited or written, changes nothing (a live
//! change already made is undone) and says what would be right.
//!
//! The running config's writer turn serializes every route change (and
//! reloads), so the file and the running routes move together.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use ipnet::IpNet;
use vcpe_api::{Reply, RouteSpec};
use vcpe_config::edit::{self, EditError};
use vcpe_config::{Config, RouteTarget, StaticRoute};

use crate::bgp_driver::{BgpHandle, Command};
use crate::routing::Routing;
use crate::running_config::RunningConfig;

/// What a route change needs from the daemon.
#[derive(Debug)]
pub struct Routes<'a> {
    /// The running config: its routes are every static route now (the
    /// file's, then those added live).
    pub running: &'a RunningConfig,
    /// The config file: route changes are written back into it.
    pub path: &'a Path,
    /// The FIB and its route sources.
    pub routing: &'a Mutex<Routing>,
    /// BGP, if configured.
    pub bgp: Option<&'a BgpHandle>,
}

fn error(message: String) -> Reply {
    Reply::Error { message }
}

/// The config file's text now (a FIFO or other non-regular file is refused
/// at once rather than read; a read that hangs is given up after
/// [`crate::config_file::READ_TIMEOUT`], so a hung mount does not hold the
/// writer turn, which every route change and reload waits for).
fn read(path: &Path) -> Result<String, EditError> {
    crate::config_file::read_io(path).map_err(|source| EditError::Io {
        what: "reading",
        file: path.display().to_string(),
        source,
    })
}

/// Checks a `route add` request against the config and the routes there are.
fn validate(
    spec: &RouteSpec,
    config: &Config,
    table: &[StaticRoute],
) -> Result<StaticRoute, String> {
    if spec.name.is_empty() || spec.name.contains(char::is_whitespace) {
        return Err(format!(
            "route name {:?} is not a name: use letters, digits, '-' or '_'",
            spec.name
        ));
    }
    if table.iter().any(|r| r.name == spec.name) {
        return Err(format!(
            "a route named {:?} exists already; pick another name or `vcpectl route del {}` first",
            spec.name, spec.name
        ));
    }
    let prefix: IpNet = spec.prefix.parse().map_err(|_| {
        format!(
            "{:?} is not a prefix; write e.g. 10.1.3.0/24 or fd00:1:3::/64",
            spec.prefix
        )
    })?;
    if prefix.trunc() != prefix {
        return Err(format!(
            "{prefix} has host bits set; did you mean {}?",
            prefix.trunc()
        ));
    }
    if let Some(r) = table.iter().find(|r| r.prefix == prefix) {
        return Err(format!(
            "route {:?} already sends {prefix}; delete it first (`vcpectl route del {}`)",
            r.name, r.name
        ));
    }
    let target = match (&spec.interface, &spec.peer) {
        (None, None) if !spec.peers.is_empty() => {
            for (i, p) in spec.peers.iter().enumerate() {
                if !config.peers.iter().any(|x| &x.name == p) {
                    let known: Vec<&str> = config.peers.iter().map(|x| x.name.as_str()).collect();
                    return Err(format!("no tunnel peer {p:?}; configured: {known:?}"));
                }
                if spec.peers[..i].contains(p) {
                    return Err(format!("peer {p:?} is given twice; name each peer once"));
                }
            }
            RouteTarget::Peers(spec.peers.clone())
        }
        (Some(i), None) if spec.peers.is_empty() => {
            if !config.interfaces.iter().any(|x| &x.name == i) {
                let known: Vec<&str> = config.interfaces.iter().map(|x| x.name.as_str()).collect();
                return Err(format!("no interface {i:?}; configured: {known:?}"));
            }
            RouteTarget::Interface(i.clone())
        }
        (None, Some(p)) if spec.peers.is_empty() => {
            if !config.peers.iter().any(|x| &x.name == p) {
                let known: Vec<&str> = config.peers.iter().map(|x| x.name.as_str()).collect();
                return Err(format!("no tunnel peer {p:?}; configured: {known:?}"));
            }
            RouteTarget::Peer(p.clone())
        }
        _ => {
            return Err(
                "say where the route goes: `dev IFACE`, or `peer PEER` (repeat `peer` for ECMP over several tunnels)".into(),
            );
        }
    };
    let next_hop = match &spec.next_hop {
        None => None,
        Some(nh) => Some(nh.parse::<IpAddr>().map_err(|_| {
            format!("next hop {nh:?} is not an address; write e.g. via 10.1.1.254")
        })?),
    };
    Ok(StaticRoute {
        name: spec.name.clone(),
        prefix,
        next_hop,
        target,
        advertise: spec.advertise,
        attrs: vcpe_config::RouteAttrs::default(),
    })
}

/// The route named as `spec` when it is already there exactly as `spec`
/// asks (same name, prefix, next hop, target, advertise, attributes): a
/// `route add` retried after a lost acknowledgement (the daemon stopped
/// after writing the file) succeeds instead of saying "exists already".
fn unchanged<'r>(
    spec: &RouteSpec,
    config: &Config,
    table: &'r [StaticRoute],
) -> Option<&'r StaticRoute> {
    let existing = table.iter().find(|r| r.name == spec.name)?;
    let others: Vec<StaticRoute> = table
        .iter()
        .filter(|r| r.name != spec.name)
        .cloned()
        .collect();
    validate(spec, config, &others)
        .is_ok_and(|r| &r == existing)
        .then_some(existing)
}

impl Routes<'_> {
    /// `route add`; adding a route identical to one present is a no-op
    /// that succeeds (idempotent: a retry is safe).
    pub fn add(&self, spec: RouteSpec) -> Reply {
        let writer = self.running.write();
        let config = writer.current();
        if let Some(r) = unchanged(&spec, &config, &config.routes) {
            return Reply::Done {
                message: format!(
                    "route {} {} already present, unchanged (in {})",
                    r.name,
                    r.prefix,
                    self.path.display()
                ),
            };
        }
        let route = match validate(&spec, &config, &config.routes) {
            Ok(r) => r,
            Err(m) => return error(m),
        };
        if route.advertise && self.bgp.is_none() {
            return error("--advertise needs BGP: add a [bgp] section to the config".into());
        }
        let edited = match read(self.path).and_then(|t| edit::add_route(&t, self.path, &route)) {
            Ok(e) => e,
            Err(e) => return error(format!("{e}; the route was not added")),
        };
        if let Err(e) = self.routing().add_static(&route) {
            return error(format!("{e:#}"));
        }
        // Written before BGP hears of it: a failed write undoes the FIB
        // change only, and no peer sees an announcement come and go.
        if let Err(e) = edit::write_atomic(self.path, &edited.text) {
            self.remove_from_fib(route.prefix);
            return error(format!(
                "{e}; the route was not added. vcped must be able to write the config file's \
                 directory (systemd: ReadWritePaths=)"
            ));
        }
        if route.advertise
            && let Some(bgp) = self.bgp
        {
            bgp.send(Command::Originate(
                route.prefix,
                route.next_hop,
                route.attrs.clone(),
            ));
        }
        let message = format!(
            "route {} {} added{}, saved in {}",
            route.name,
            route.prefix,
            if route.advertise {
                " and advertised"
            } else {
                ""
            },
            self.path.display()
        );
        tracing::info!(name = %route.name, prefix = %route.prefix, advertise = route.advertise, "static route added by vcpectl");
        let mut next = (*config).clone();
        next.routes.push(route);
        writer.store(next);
        Reply::Done { message }
    }

    /// `route del`.
    pub fn del(&self, name: &str) -> Reply {
        let writer = self.running.write();
        let config = writer.current();
        let Some(i) = config.routes.iter().position(|r| r.name == name) else {
            let known: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
            return error(format!(
                "no route named {name:?}; routes: {known:?} (`vcpectl route list`)"
            ));
        };
        // Gone from the file already (edited by hand): only the live
        // route is left to remove.
        let edited = match read(self.path).and_then(|t| edit::remove_route(&t, self.path, name)) {
            Ok(e) => Some(e),
            Err(EditError::NoSuchRoute { .. }) => None,
            Err(e) => return error(format!("{e}; the route was not deleted")),
        };
        if let Some(e) = &edited
            && let Err(e) = edit::write_atomic(self.path, &e.text)
        {
            return error(format!(
                "{e}; the route was not deleted. vcped must be able to write the config file's \
                 directory (systemd: ReadWritePaths=)"
            ));
        }
        let mut next = (*config).clone();
        let route = next.routes.remove(i);
        self.unapply(&route);
        writer.store(next);
        tracing::info!(name = %route.name, prefix = %route.prefix, "static route deleted by vcpectl");
        Reply::Done {
            message: format!(
                "route {} {} deleted{}",
                route.name,
                route.prefix,
                match edited {
                    Some(_) => format!(", removed from {}", self.path.display()),
                    None => format!(" ({} did not have it)", self.path.display()),
                }
            ),
        }
    }

    /// Takes `route` out of the FIB and BGP.
    pub(crate) fn unapply(&self, route: &StaticRoute) {
        self.remove_from_fib(route.prefix);
        self.withdraw(route);
    }

    /// Takes `prefix` out of the FIB.
    pub(crate) fn remove_from_fib(&self, prefix: IpNet) {
        self.routing().remove_static(prefix);
    }

    /// The routing owner, locked.
    fn routing(&self) -> std::sync::MutexGuard<'_, Routing> {
        self.routing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops announcing `route` (if it was announced).
    pub(crate) fn withdraw(&self, route: &StaticRoute) {
        if route.advertise
            && let Some(bgp) = self.bgp
        {
            bgp.send(Command::Withdraw(route.prefix));
        }
    }

    /// Puts a validated route (a reloaded file's) into the FIB and, if
    /// `announce` and it is advertised, into BGP. A failure is logged: the
    /// route stays in the config and `vcpectl explain` shows it missing.
    pub(crate) fn install(&self, route: &StaticRoute, announce: bool) {
        if let Err(e) = self.routing().add_static(route) {
            tracing::warn!(name = %route.name, prefix = %route.prefix, error = %format!("{e:#}"), "reload: static route not installed");
        }
        if announce
            && route.advertise
            && let Some(bgp) = self.bgp
        {
            bgp.send(Command::Originate(
                route.prefix,
                route.next_hop,
                route.attrs.clone(),
            ));
        }
    }

    /// `route list`.
    pub fn list(&self) -> Reply {
        Reply::Routes {
            routes: self
                .running
                .load()
                .routes
                .iter()
                .map(RouteSpec::from)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CONFIG: &str = r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "vcpe0"
addresses = ["10.0.1.1/24"]
[[route]]
name = "a"
prefix = "10.9.0.0/16"
interface = "vcpe0"
"#;

    fn spec(name: &str, prefix: &str) -> RouteSpec {
        RouteSpec {
            name: name.into(),
            prefix: prefix.into(),
            interface: Some("vcpe0".into()),
            peer: None,
            peers: Vec::new(),
            next_hop: None,
            advertise: false,
        }
    }

    #[test]
    fn bad_requests_say_what_is_wrong_and_what_would_be_right() {
        let config = vcpe_config::parse(CONFIG, Path::new("t.toml")).expect("valid");
        let table = config.routes.clone();
        let err = |s: RouteSpec| validate(&s, &config, &table).unwrap_err();
        assert!(err(spec("a", "10.8.0.0/16")).contains("exists already"));
        assert!(err(spec("b", "10.9.0.0/16")).contains("already sends"));
        assert!(err(spec("b", "10.8.0.1/16")).contains("did you mean 10.8.0.0/16"));
        assert!(err(spec("b", "10.8.0.0/33")).contains("not a prefix"));
        let mut s = spec("b", "10.8.0.0/16");
        s.interface = Some("eth9".into());
        assert!(err(s.clone()).contains("no interface \"eth9\""));
        s.interface = None;
        assert!(err(s.clone()).contains("dev IFACE"));
        s.peer = Some("nope".into());
        assert!(err(s).contains("no tunnel peer"));
        let ok = validate(&spec("b", "10.8.0.0/16"), &config, &table).expect("valid");
        assert_eq!(ok.target, RouteTarget::Interface("vcpe0".into()));
    }

    #[test]
    fn an_identical_add_is_unchanged_and_a_different_one_is_not() {
        let config = vcpe_config::parse(CONFIG, Path::new("t.toml")).expect("valid");
        let table = config.routes.clone();
        let same = unchanged(&spec("a", "10.9.0.0/16"), &config, &table);
        assert_eq!(same.map(|r| r.name.as_str()), Some("a"));
        // Same name, anything else different: not a retry.
        assert!(unchanged(&spec("a", "10.8.0.0/16"), &config, &table).is_none());
        let mut s = spec("a", "10.9.0.0/16");
        s.next_hop = Some("10.0.1.254".into());
        assert!(unchanged(&s, &config, &table).is_none());
        s.next_hop = None;
        s.advertise = true;
        assert!(unchanged(&s, &config, &table).is_none());
        assert!(unchanged(&spec("b", "10.9.0.0/16"), &config, &table).is_none());
    }

    #[test]
    fn several_peers_make_one_ecmp_route() {
        let with_peers = format!(
            "{CONFIG}{}",
            r#"
[[peer]]
name = "b1"
endpoint = "198.51.100.2"
encapsulation = "gre"
allowed_prefixes = ["10.2.0.0/16"]
[[peer]]
name = "b2"
endpoint = "198.51.100.3"
encapsulation = "gre"
allowed_prefixes = ["10.2.0.0/16"]
"#
        );
        let config = vcpe_config::parse(&with_peers, Path::new("t.toml")).expect("valid");
        let table = config.routes.clone();
        let mut s = spec("e", "10.2.0.0/16");
        s.interface = None;
        s.peers = vec!["b1".into(), "b2".into()];
        let ok = validate(&s, &config, &table).expect("valid");
        assert_eq!(
            ok.target,
            RouteTarget::Peers(vec!["b1".into(), "b2".into()])
        );
        s.peers = vec!["b1".into(), "b1".into()];
        assert!(
            validate(&s, &config, &table)
                .unwrap_err()
                .contains("given twice")
        );
        s.peers = vec!["b1".into(), "b9".into()];
        assert!(
            validate(&s, &config, &table)
                .unwrap_err()
                .contains("no tunnel peer \"b9\"")
        );
        s.peers = vec!["b1".into(), "b2".into()];
        s.interface = Some("vcpe0".into());
        assert!(
            validate(&s, &config, &table)
                .unwrap_err()
                .contains("say where")
        );
    }
}
