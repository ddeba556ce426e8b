//! A `vcped` under test: started in a namespace from a config text, with
//! its control socket in the lab directory, driven with the real `vcpectl`
//! (human or `--json` output), its log printed when a test fails.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use crate::cargo_bin;
use crate::netns::Netns;
use crate::process::{Daemon, run_ok, wait_until};

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
        let v = Vcped {
            daemon,
            socket,
            config: path,
            vcpectl: cargo_bin("vcpectl"),
        };
        let up = wait_until(Duration::from_secs(20), || {
            !v.daemon.is_running() || v.ctl(&["status"]).is_ok()
        });
        ensure!(
            up && v.daemon.is_running(),
            "vcped {name} did not start:\n{}",
            v.daemon.log()
        );
        Ok(v)
    }

    /// `vcpectl ARGS` (human output); fails on a nonzero exit.
    pub fn ctl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = std::process::Command::new(&self.vcpectl);
        cmd.arg("--socket").arg(&self.socket).args(args);
        let out = run_ok(&mut cmd, Duration::from_secs(15))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `vcpectl --json ARGS`, parsed.
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ctl(&a)?).context("vcpectl JSON")
    }

    /// The value of drop counter `reason` in `vcpectl stats`.
    pub fn drops(&self, reason: &str) -> Result<u64> {
        let v = self.json(&["stats"])?;
        Ok(v["drops"][reason].as_u64().unwrap_or(0))
    }
}
