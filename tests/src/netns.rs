//! [`Netns`]: an RAII network namespace driven with `ip` (iproute2).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::names;
use crate::process::{self, DEFAULT_TIMEOUT};

/// Where `ip netns` keeps its namespace handles.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Full path of the `ip` binary (falls back to plain `ip`).
pub(crate) fn ip_bin() -> &'static Path {
    static IP: OnceLock<PathBuf> = OnceLock::new();
    IP.get_or_init(|| crate::skip::find_tool("ip").unwrap_or_else(|| PathBuf::from("ip")))
}

/// A `Command` for `ip ARGS...` (in the caller's namespace).
pub(crate) fn ip_command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(ip_bin());
    cmd.args(args);
    cmd
}

/// A network namespace created by a [`crate::Lab`].
///
/// Cheap to clone (a shared handle). The namespace is deleted — after killing
/// every process still inside — when the [`crate::Lab`] that created it drops,
/// or when the last handle drops, whichever comes first. Deletion never panics,
/// so it also runs cleanly while a failing test unwinds.
///
/// Every new namespace has `lo` up and IPv6 duplicate address detection off
/// (`accept_dad=0` for `all` and `default`), so addresses are usable at once.
#[derive(Debug, Clone)]
pub struct Netns(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    name: String,
    dir: Arc<TempDir>,
    deleted: AtomicBool,
    spawned: AtomicU32,
}

impl Netns {
    /// Creates namespace `name` (a fresh harness name); `dir` holds daemon logs.
    pub(crate) fn create(name: String, dir: Arc<TempDir>) -> Result<Self> {
        // Serialise `ip netns add` within the process: the first one mounts
        // /run/netns, which races when done concurrently.
        static ADD: Mutex<()> = Mutex::new(());
        {
            let _guard = ADD.lock().unwrap_or_else(|e| e.into_inner());
            // Our names are unique within this process, so an existing one is
            // a leftover from a dead process that had the same pid.
            if Path::new(NETNS_RUN_DIR).join(&name).exists() {
                delete_netns(&name);
            }
            process::run_ok(&mut ip_command(["netns", "add", &name]), DEFAULT_TIMEOUT)
                .with_context(|| format!("cannot create network namespace {name}"))?;
        }
        let ns = Self(Arc::new(Inner {
            name,
            dir,
            deleted: AtomicBool::new(false),
            spawned: AtomicU32::new(0),
        }));
        let script = r#""$1" link set lo up &&
            echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad &&
            echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad"#;
        ns.exec_ok([
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new(script),
            OsStr::new("sh"),
            ip_bin().as_os_str(),
        ])
        .with_context(|| format!("cannot set up network namespace {}", ns.name()))?;
        Ok(ns)
    }

    /// The namespace name (as in `ip netns list`).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether the namespace still exists.
    pub fn exists(&self) -> bool {
        !self.0.deleted.load(Ordering::SeqCst)
            && Path::new(NETNS_RUN_DIR).join(self.name()).exists()
    }

    /// A `Command` running `program` inside the namespace
    /// (`ip netns exec NAME program`); add arguments and environment, then run
    /// it yourself or hand it to [`Netns::spawn_command`].
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = ip_command(["netns", "exec", self.name()]);
        cmd.arg(program);
        cmd
    }

    pub(crate) fn command_for<I, S>(&self, argv: I) -> Result<Command>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.check_alive()?;
        let mut argv = argv.into_iter();
        let Some(program) = argv.next() else {
            bail!("empty command line")
        };
        let mut cmd = self.command(program);
        cmd.args(argv);
        Ok(cmd)
    }

    fn check_alive(&self) -> Result<()> {
        if self.0.deleted.load(Ordering::SeqCst) {
            bail!("network namespace {} was already deleted", self.name());
        }
        Ok(())
    }

    /// Runs `argv` inside the namespace and returns its output, whether it
    /// succeeded or not (check `status`). Errors if it cannot start or runs
    /// longer than [`DEFAULT_TIMEOUT`].
    pub fn exec<I, S>(&self, argv: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.exec_timeout(argv, DEFAULT_TIMEOUT)
    }

    /// [`Netns::exec`] with an explicit timeout.
    pub fn exec_timeout<I, S>(&self, argv: I, timeout: Duration) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        process::run(&mut self.command_for(argv)?, timeout)
    }

    /// Runs `argv` inside the namespace; an error with the command line, exit
    /// status, stdout and stderr unless it succeeds.
    pub fn exec_ok<I, S>(&self, argv: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        process::run_ok(&mut self.command_for(argv)?, DEFAULT_TIMEOUT)
    }

    /// Like [`Netns::exec_ok`] but returns stdout as a string.
    pub fn run_ok<I, S>(&self, argv: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.exec_ok(argv)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `ip ARGS...` against this namespace (`ip -n NAME ARGS...`) and
    /// returns stdout; errors describe the failure.
    pub fn ip<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.check_alive()?;
        let mut cmd = ip_command(["-n", self.name()]);
        cmd.args(args);
        let out = process::run_ok(&mut cmd, DEFAULT_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Sets a sysctl inside the namespace, e.g.
    /// `ns.sysctl("net.ipv4.ip_forward", "1")`. Keys use dots (or slashes,
    /// for keys whose components contain dots, e.g. `net/ipv6/conf/eth0.10/forwarding`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = sysctl_path(key)?;
        self.exec_ok([
            "sh",
            "-c",
            r#"printf '%s\n' "$1" > "$2""#,
            "sh",
            value,
            &path,
        ])
        .with_context(|| format!("cannot set sysctl {key}={value} in {}", self.name()))?;
        Ok(())
    }

    /// Reads a sysctl inside the namespace (trimmed).
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        let path = sysctl_path(key)?;
        Ok(self.run_ok(["cat", &path])?.trim().to_owned())
    }

    /// Enables IPv4 and IPv6 forwarding (a router namespace).
    pub fn enable_forwarding(&self) -> Result<()> {
        self.sysctl("net.ipv4.ip_forward", "1")?;
        self.sysctl("net.ipv6.conf.all.forwarding", "1")
    }

    /// Adds an address (`"10.0.0.1/24"` or `"fd00::1/64"`; IPv6 ones get
    /// `nodad`) to `dev`.
    pub fn addr(&self, dev: &str, cidr: &str) -> Result<()> {
        if cidr.contains(':') {
            self.ip(["addr", "add", cidr, "dev", dev, "nodad"])?;
        } else {
            self.ip(["addr", "add", cidr, "dev", dev])?;
        }
        Ok(())
    }

    /// Adds a route `dest via gateway` (`dest` may be `default`; for an IPv6
    /// default route use `"::/0"`).
    pub fn route(&self, dest: &str, via: &str) -> Result<()> {
        let family = if via.contains(':') { "-6" } else { "-4" };
        self.ip([family, "route", "add", dest, "via", via])?;
        Ok(())
    }

    /// Adds a route `dest dev DEV` (on-link).
    pub fn route_dev(&self, dest: &str, dev: &str) -> Result<()> {
        self.ip(["route", "add", dest, "dev", dev])?;
        Ok(())
    }

    /// Sets `dev` up.
    pub fn link_up(&self, dev: &str) -> Result<()> {
        self.ip(["link", "set", dev, "up"])?;
        Ok(())
    }

    /// Pids of all processes inside the namespace (`ip netns pids`).
    pub fn pids(&self) -> Vec<u32> {
        netns_pids(self.name())
    }

    /// The log file of the next process spawned inside as `name`:
    /// `{netns}.{name}.{n}.log` in the lab's temp dir. Fails if the
    /// namespace is gone or `name` is not one word.
    pub(crate) fn next_log_path(&self, name: &str) -> Result<PathBuf> {
        self.check_alive()?;
        names::check_word("daemon name", name)?;
        let n = self.0.spawned.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .0
            .dir
            .path()
            .join(format!("{}.{name}.{n}.log", self.name())))
    }

    /// Kills everything inside and deletes the namespace. Idempotent, never panics.
    pub(crate) fn delete(&self) {
        if !self.0.deleted.swap(true, Ordering::SeqCst) {
            delete_netns(self.name());
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.deleted.swap(true, Ordering::SeqCst) {
            delete_netns(&self.name);
        }
    }
}

fn sysctl_path(key: &str) -> Result<String> {
    if key.is_empty()
        || key.contains("..")
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
    {
        bail!("invalid sysctl key {key:?}");
    }
    let rel = if key.contains('/') {
        key.to_owned()
    } else {
        key.replace('.', "/")
    };
    Ok(format!("/proc/sys/{}", rel.trim_start_matches('/')))
}

/// Pids of the processes in namespace `name`.
pub(crate) fn netns_pids(name: &str) -> Vec<u32> {
    process::run(
        &mut ip_command(["netns", "pids", name]),
        Duration::from_secs(10),
    )
    .map(|out| {
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// SIGKILLs every process in namespace `name`, then deletes it. Never panics.
pub(crate) fn delete_netns(name: &str) {
    for _ in 0..3 {
        let pids = netns_pids(name);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            process::kill_pid(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = process::run(
        &mut ip_command(["netns", "del", name]),
        Duration::from_secs(10),
    );
}

/// Names of all network namespaces (`ip netns list`, names only).
pub fn list_netns() -> Result<Vec<String>> {
    let out = process::run_ok(&mut ip_command(["netns", "list"]), DEFAULT_TIMEOUT)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

/// Removes leftover harness namespaces (named `vt{pid:x}-...`) whose creating
/// process no longer exists, killing whatever runs inside them, and returns
/// their names. Namespaces of live processes (including this one) and names
/// not made by the harness are never touched.
///
/// Not called automatically: run it by hand (e.g. from a one-off test with
/// `--ignored`) after a test process was SIGKILLed and could not clean up.
/// Caveat: a pid from another pid namespace sharing `/run/netns` looks dead.
pub fn sweep_stale() -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for name in list_netns()? {
        let Some(pid) = names::pid_of(&name) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        delete_netns(&name);
        removed.push(name);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("net/ipv6/conf/eth0.10/forwarding").unwrap(),
            "/proc/sys/net/ipv6/conf/eth0.10/forwarding"
        );
        assert!(sysctl_path("net/../../etc/passwd").is_err());
        assert!(sysctl_path("a b").is_err());
    }
}
