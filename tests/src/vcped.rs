//! A `vcped` under test: started in a namespace from a config text, with
//! its control socket in the lab directory, driven with the real `vcpectl`
//! (human or `--json` output), its log printed when a test fails.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use vcpe_api::view::{
    AdjDirection, AdjRibRoute, Explain, NeighborDetail, RibRoute, RouteDetail, TunnelInfo,
};
use vcpe_api::{BgpNeighbor, ConfigChanges, Reply, RouteSpec, Stats};

use crate::cargo_bin;
use crate::daemon::Daemon;
use crate::netns::Netns;
use crate::process::{run_ok, wait_until};

/// A running vcped.
#[derive(Debug)]
pub struct Vcped {
    /// The process.
    pub daemon: Daemon,
    /// Its control socket.
    pub socket: PathBuf,
    /// Its config file.
    pub config: PathBuf,
    vcpectl: PathBuf,
}

impl Vcped {
    /// Writes `config` to `dir/<name>.toml` and starts vcped in `ns` with
    /// it, with the control socket `dir/<name>.sock` (the config's
    /// `[control] socket` is overridden). Waits until it answers.
    pub fn start(ns: &Netns, dir: &Path, name: &str, config: &str) -> Result<Vcped> {
        let v = Vcped::spawn(ns, dir, name, config)?;
        v.wait_ready(name)?;
        Ok(v)
    }

    /// [`Vcped::start`] without waiting until it answers (to start several
    /// at once); then [`Vcped::wait_ready`].
    pub fn spawn(ns: &Netns, dir: &Path, name: &str, config: &str) -> Result<Vcped> {
        let socket = dir.join(format!("{name}.sock"));
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
        let vcped = cargo_bin("vcped");
        let daemon = ns.spawn(
            name,
            [
                vcped.as_os_str(),
                OsStr::new("run"),
                OsStr::new("--config"),
                path.as_os_str(),
                OsStr::new("--socket"),
                socket.as_os_str(),
            ],
        )?;
        Ok(Vcped {
            daemon,
            socket,
            config: path,
            vcpectl: cargo_bin("vcpectl"),
        })
    }

    /// Waits (20 s at most) until a spawned vcped answers `status`.
    pub fn wait_ready(&self, name: &str) -> Result<()> {
        let up = wait_until(Duration::from_secs(20), || {
            !self.daemon.is_running() || self.ctl(&["status"]).is_ok()
        });
        ensure!(
            up && self.daemon.is_running(),
            "vcped {name} did not start:\n{}",
            self.daemon.log()
        );
        Ok(())
    }

    /// `vcpectl ARGS` (human output); fails on a nonzero exit.
    pub fn ctl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = std::process::Command::new(&self.vcpectl);
        cmd.arg("--socket").arg(&self.socket).args(args);
        let out = run_ok(&mut cmd, Duration::from_secs(15))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `vcpectl --json ARGS`, as the typed reply it prints.
    pub fn reply(&self, args: &[&str]) -> Result<Reply> {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let text = self.ctl(&a)?;
        serde_json::from_str(&text).with_context(|| format!("vcpectl --json {args:?}: {text}"))
    }

    /// `vcpectl stats`.
    pub fn stats(&self) -> Result<Stats> {
        match self.reply(&["stats"])? {
            Reply::Stats(s) => Ok(*s),
            other => bail!("vcpectl stats: {other:?}"),
        }
    }

    /// `vcpectl bgp summary`: every neighbor.
    pub fn bgp_summary(&self) -> Result<Vec<BgpNeighbor>> {
        match self.reply(&["bgp", "summary"])? {
            Reply::BgpSummary { neighbors } => Ok(neighbors),
            other => bail!("vcpectl bgp summary: {other:?}"),
        }
    }

    /// `vcpectl show route ARGS`: the prefix an address matched, and the
    /// rows.
    pub fn show_route(&self, args: &[&str]) -> Result<Rib> {
        let mut a = vec!["show", "route"];
        a.extend_from_slice(args);
        match self.reply(&a)? {
            Reply::Rib { matched, routes } => Ok(Rib { matched, routes }),
            other => bail!("vcpectl show route {args:?}: {other:?}"),
        }
    }

    /// `vcpectl explain ADDRESS`.
    pub fn explain(&self, address: &str) -> Result<Explain> {
        match self.reply(&["explain", address])? {
            Reply::Explain(e) => Ok(*e),
            other => bail!("vcpectl explain {address}: {other:?}"),
        }
    }

    /// `vcpectl route list`.
    pub fn route_list(&self) -> Result<Vec<RouteSpec>> {
        match self.reply(&["route", "list"])? {
            Reply::Routes { routes } => Ok(routes),
            other => bail!("vcpectl route list: {other:?}"),
        }
    }

    /// `vcpectl route show NAME`.
    pub fn route_show(&self, name: &str) -> Result<RouteDetail> {
        match self.reply(&["route", "show", name])? {
            Reply::Route(r) => Ok(*r),
            other => bail!("vcpectl route show {name}: {other:?}"),
        }
    }

    /// `vcpectl tunnel list`.
    pub fn tunnels(&self) -> Result<Vec<TunnelInfo>> {
        match self.reply(&["tunnel", "list"])? {
            Reply::Tunnels { tunnels, .. } => Ok(tunnels),
            other => bail!("vcpectl tunnel list: {other:?}"),
        }
    }

    /// `vcpectl bfd`: every BFD session.
    pub fn bfd_sessions(&self) -> Result<Vec<vcpe_api::BfdSession>> {
        match self.reply(&["bfd"])? {
            Reply::BfdSessions { sessions, .. } => Ok(sessions),
            other => bail!("vcpectl bfd: {other:?}"),
        }
    }

    /// `vcpectl bgp neighbor ADDRESS`.
    pub fn neighbor(&self, address: &str) -> Result<NeighborDetail> {
        match self.reply(&["bgp", "neighbor", address])? {
            Reply::BgpNeighborDetail(n) => Ok(*n),
            other => bail!("vcpectl bgp neighbor {address}: {other:?}"),
        }
    }

    /// `vcpectl bgp neighbor ADDRESS adj-in|adj-out`: the neighbor and
    /// direction the reply names, and the routes.
    pub fn adj_rib(&self, address: &str, direction: &str) -> Result<AdjRib> {
        match self.reply(&["bgp", "neighbor", address, direction])? {
            Reply::BgpAdjRib {
                neighbor,
                direction,
                routes,
            } => Ok(AdjRib {
                neighbor,
                direction,
                routes,
            }),
            other => bail!("vcpectl bgp neighbor {address} {direction}: {other:?}"),
        }
    }

    /// `vcpectl config diff`: the file and the changes.
    pub fn config_diff(&self) -> Result<(String, ConfigChanges)> {
        match self.reply(&["config", "diff"])? {
            Reply::ConfigChanges {
                file,
                applied: false,
                changes,
            } => Ok((file, *changes)),
            other => bail!("vcpectl config diff: {other:?}"),
        }
    }

    /// The value of drop counter `reason` in `vcpectl stats`.
    pub fn drops(&self, reason: &str) -> Result<u64> {
        Ok(self.stats()?.drops.get(reason).copied().unwrap_or(0))
    }
}

/// `vcpectl show route`'s reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Rib {
    /// The prefix an address lookup matched.
    pub matched: Option<String>,
    /// The rows, grouped by prefix, best first.
    pub routes: Vec<RibRoute>,
}

impl Rib {
    /// The rows of `prefix`, best first.
    pub fn rows(&self, prefix: &str) -> Vec<&RibRoute> {
        self.routes.iter().filter(|r| r.prefix == prefix).collect()
    }

    /// The row of `prefix` the FIB uses.
    pub fn best(&self, prefix: &str) -> Option<&RibRoute> {
        self.routes.iter().find(|r| r.prefix == prefix && r.best)
    }
}

/// `vcpectl bgp neighbor ADDRESS adj-in|adj-out`'s reply.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjRib {
    /// The neighbor.
    pub neighbor: String,
    /// Received or advertised.
    pub direction: AdjDirection,
    /// The routes, sorted by prefix.
    pub routes: Vec<AdjRibRoute>,
}

impl AdjRib {
    /// The routes of `prefix`.
    pub fn rows(&self, prefix: &str) -> Vec<&AdjRibRoute> {
        self.routes.iter().filter(|r| r.prefix == prefix).collect()
    }
}
