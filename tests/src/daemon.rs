//! [`Daemon`]: a long-running process inside a [`Netns`], its log, and its
//! stop (on drop too); [`Netns::spawn`] starts one.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::netns::Netns;
use crate::process::{STOP_GRACE, child_exited, display_command, kill_group, wait_until};

impl Netns {
    /// Starts `argv` as a daemon inside the namespace, with stdout+stderr
    /// captured to `{name}.log` in the lab's temp dir. See [`Daemon`].
    pub fn spawn<I, S>(&self, name: &str, argv: I) -> Result<Daemon>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let cmd = self.command_for(argv)?;
        self.spawn_command(name, cmd)
    }

    /// Starts a prepared [`Netns::command`] as a daemon (for custom args, env
    /// or working directory).
    pub fn spawn_command(&self, name: &str, cmd: Command) -> Result<Daemon> {
        let log = self.next_log_path(name)?;
        Daemon::spawn(name, self, cmd, log)
    }
}

/// A long-running process inside a namespace, started by [`Netns::spawn`].
///
/// Its stdout and stderr go to one log file ([`Daemon::log`]). It runs in its
/// own process group; dropping the `Daemon` (or [`Daemon::stop`]) sends
/// SIGTERM to the group, SIGKILL after [`STOP_GRACE`], and reaps it. If the
/// drop happens while the thread panics (a failing test), the log is printed
/// to stderr.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    netns: Netns,
    cmdline: String,
    log_path: PathBuf,
    child: Child,
    status: Option<ExitStatus>,
}

impl Daemon {
    pub(crate) fn spawn(
        name: &str,
        netns: &Netns,
        mut cmd: Command,
        log_path: PathBuf,
    ) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let cmdline = display_command(&cmd);
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create log file {}", log_path.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start daemon {name:?}: `{cmdline}`"))?;
        Ok(Self {
            name: name.to_owned(),
            netns: netns.clone(),
            cmdline,
            log_path,
            child,
            status: None,
        })
    }

    /// The name given at spawn time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The namespace it runs in.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// Path of the log file (stdout and stderr interleaved).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the daemon has written so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        self.status.is_none() && !child_exited(self.child.id())
    }

    /// Prints the daemon's log to stderr, framed by a banner naming the
    /// daemon, its namespace and command line. The log is printed on drop
    /// only when the test panics; call this before returning an `Err` from a
    /// test so the log shows up there too.
    pub fn print_log(&self) {
        let _ = writeln!(std::io::stderr(), "{}", self.banner(&self.log()));
    }

    /// Waits until the log contains `pattern` and returns the log. Fails early
    /// if the daemon exits first, or after `timeout`; the error holds the log.
    pub fn wait_for_log(&self, pattern: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let running = self.is_running();
            let log = self.log();
            if log.contains(pattern) {
                return Ok(log);
            }
            if !running {
                bail!(
                    "daemon {:?} exited before logging {pattern:?}\n{}",
                    self.name,
                    self.banner(&log)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "daemon {:?} did not log {pattern:?} within {timeout:?}\n{}",
                    self.name,
                    self.banner(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the daemon (SIGTERM to its process group, SIGKILL after
    /// [`STOP_GRACE`]) and reaps it. Idempotent; returns the exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            let pid = self.child.id();
            if !child_exited(pid) {
                kill_group(pid, libc::SIGTERM);
                wait_until(STOP_GRACE, || child_exited(pid));
            }
            // The leader is at worst a zombie we have not reaped, so its
            // process group id cannot have been reused: safe to kill stragglers.
            kill_group(pid, libc::SIGKILL);
            self.status = self.child.wait().ok();
        }
        self.status
    }

    fn banner(&self, log: &str) -> String {
        format!(
            "===== log of daemon {:?} (pid {}) in netns {}: `{}` ({}) =====\n{}\n===== end of log of daemon {:?} =====",
            self.name,
            self.child.id(),
            self.netns.name(),
            self.cmdline,
            self.log_path.display(),
            log.trim_end(),
            self.name
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let _ = writeln!(std::io::stderr(), "{}", self.banner(&self.log()));
        }
    }
}
