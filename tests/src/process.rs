//! Running commands (with a timeout and a helpful error), process and
//! process-group helpers. Daemons, whose output goes to a log file printed
//! if the test fails, are [`crate::daemon`]'s.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Timeout of [`crate::Netns::exec`] and friends.
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
pub(crate) fn child_exited(pid: u32) -> bool {
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
