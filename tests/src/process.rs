//! Running commands (with a timeout and a helpful error) and daemons (with
//! their output captured to a log file that is printed if the test fails).

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::netns::Netns;

/// Timeout of [`Netns::exec`] and friends.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a daemon gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// Polls `cond` (every 10–100 ms) until it returns `true` or `timeout` passes;
/// returns whether it became true. `cond` is always evaluated at least once.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Whether process `pid` exists and is not a zombie (reads `/proc/PID/stat`).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// Live (non-zombie) processes in process group `pgid`, from `/proc`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // After "(comm)": state ppid pgrp ...
                let mut fields = stat
                    .rsplit_once(')')
                    .map(|(_, r)| r)
                    .unwrap_or("")
                    .split_whitespace();
                let state = fields.next();
                let pgrp = fields.nth(1).and_then(|f| f.parse::<u32>().ok());
                pgrp == Some(pgid) && !matches!(state, Some("Z" | "X") | None)
            })
        })
        .collect()
}

/// A command line for messages: arguments joined by spaces, quoted when needed.
pub fn display_command(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Describes a finished command: command line, exit status, stdout, stderr.
pub fn describe_output(cmdline: &str, out: &Output) -> String {
    let mut s = format!("command `{cmdline}` exited with {}", out.status);
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end();
        if text.is_empty() {
            let _ = write!(s, "\n--- {name}: (empty)");
        } else {
            let _ = write!(s, "\n--- {name} ---\n{text}");
        }
    }
    s
}

/// Runs `cmd` to completion with stdin closed and stdout/stderr captured,
/// killing it (its whole process group) after `timeout`. Errors only if the
/// command cannot be started or times out; a non-zero exit is returned in the
/// [`Output`]. See [`check`] for turning a failure into an error.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    use std::os::unix::process::CommandExt;
    let cmdline = display_command(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start `{cmdline}`"))?;
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            kill_group(child.id(), libc::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Background children that inherited the pipes could keep them open; do
    // not wait for them forever.
    let collect =
        |rx: mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    let (stdout, stderr) = (collect(stdout), collect(stderr));
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => bail!(
            "command `{cmdline}` timed out after {timeout:?} and was killed\n--- stdout ---\n{}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&stdout).trim_end(),
            String::from_utf8_lossy(&stderr).trim_end()
        ),
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    rx
}

/// [`run`], then an error with command, status, stdout and stderr unless it
/// exited successfully.
pub fn run_ok(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    let cmdline = display_command(cmd);
    let out = run(cmd, timeout)?;
    check(&cmdline, out)
}

/// `Ok(out)` if `out.status` is success, else an error describing it.
pub fn check(cmdline: &str, out: Output) -> Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        bail!("{}", describe_output(cmdline, &out))
    }
}

/// Sends `sig` to the process group `pgid` (never to pid 0/1 or to "all").
pub(crate) fn kill_group(pgid: u32, sig: libc::c_int) {
    match libc::pid_t::try_from(pgid) {
        // SAFETY: plain syscall; a negative pid addresses one process group.
        Ok(pgid) if pgid > 1 => unsafe {
            libc::kill(-pgid, sig);
        },
        _ => {}
    }
}

/// Sends `sig` to the process `pid` (never to pid 0/1 or to a group).
pub(crate) fn kill_pid(pid: u32, sig: libc::c_int) {
    match libc::pid_t::try_from(pid) {
        // SAFETY: plain syscall on one positive pid.
        Ok(pid) if pid > 1 => unsafe {
            libc::kill(pid, sig);
        },
        _ => {}
    }
}

/// Whether our child `pid` has exited, without reaping it (so its pid and
/// process group id cannot be reused until we `wait`).
fn child_exited(pid: u32) -> bool {
    let id = libc::id_t::from(pid);
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a siginfo_t we own; WNOWAIT leaves the child waitable.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            id,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // r != 0: ECHILD, i.e. already reaped.
    // SAFETY: si_pid is valid for a waitid result (0 when nothing has exited).
    r != 0 || unsafe { info.si_pid() } != 0
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
