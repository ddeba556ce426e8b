//! systemd's service notification protocol (`sd_notify(3)`), spoken
//! directly: one datagram of `KEY=VALUE` lines to the Unix datagram socket
//! named by `NOTIFY_SOCKET` (a path, or `@name` for the abstract
//! namespace). With `Type=notify` systemd waits for `READY=1`, shows
//! `STATUS=` in `systemctl status`, and with `WatchdogSec=` restarts a
//! daemon whose `WATCHDOG=1` pings stop (`WATCHDOG_USEC` says how often
//! they must come; `WATCHDOG_PID` whom it is meant for).
//!
//! Own code rather than a crate: the protocol is one `sendto` of a few
//! lines; `sd-notify` and `libsystemd` would add a dependency (and
//! libsystemd a C library) for ten lines of std.
//!
//! Without `NOTIFY_SOCKET` (not under systemd, `Type=exec`) every call is a
//! no-op, so the daemon runs the same way by hand.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The notification socket of this process, if systemd gave one.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET`, or `None` when it is unset or
    /// names no usable socket (then a warning says why).
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let path = path.to_string_lossy();
        match Notifier::connect(&path) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(socket = %path, error = %e, "cannot use NOTIFY_SOCKET; systemd will not hear that vcped is ready (check the unit's Type=)");
                None
            }
        }
    }

    /// The notifier for the socket `path` (`@name`: abstract namespace).
    pub fn connect(path: &str) -> io::Result<Notifier> {
        let addr = match path.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None => SocketAddr::from_pathname(path)?,
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            addr,
        })
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let sent = self.socket.send_to_addr(state.as_bytes(), &self.addr)?;
        if sent != state.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write to NOTIFY_SOCKET",
            ));
        }
        Ok(())
    }

    /// Sends `state`, logging (not failing) when systemd cannot be told.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            tracing::warn!(error = %e, "cannot notify systemd ({})", state.lines().next().unwrap_or(""));
        }
    }
}

/// `READY=1` with the first status line.
pub fn ready(status: &str) -> String {
    format!("READY=1\nSTATUS={}\n", one_line(status))
}

/// `STATUS=...` (newlines would end the assignment: they become spaces).
pub fn status(status: &str) -> String {
    format!("STATUS={}\n", one_line(status))
}

/// A watchdog ping, with the current status.
pub fn watchdog(status: &str) -> String {
    format!("WATCHDOG=1\nSTATUS={}\n", one_line(status))
}

/// `STOPPING=1`: the daemon is shutting down.
pub const STOPPING: &str = "STOPPING=1\nSTATUS=stopping\n";

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// How often to ping: half the `WATCHDOG_USEC` systemd set (its advice in
/// `sd_watchdog_enabled(3)`), if it is meant for this process
/// (`WATCHDOG_PID` unset or ours).
pub fn watchdog_interval() -> Option<Duration> {
    interval_of(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn interval_of(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(me)
    {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_is_half_the_timeout_and_only_for_us() {
        assert_eq!(
            interval_of(Some("10000000"), None, 7),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            interval_of(Some("4000000"), Some("7"), 7),
            Some(Duration::from_secs(2))
        );
        assert_eq!(interval_of(Some("4000000"), Some("8"), 7), None);
        assert_eq!(interval_of(Some("0"), None, 7), None);
        assert_eq!(interval_of(Some("x"), None, 7), None);
        assert_eq!(interval_of(None, None, 7), None);
    }

    #[test]
    fn datagrams_reach_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::connect(path.to_str().unwrap()).unwrap();
        n.notify(&ready("2 interfaces\nup")).unwrap();
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..len]).unwrap(),
            "READY=1\nSTATUS=2 interfaces up\n"
        );

        let name = format!("vcpe-notify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        let n = Notifier::connect(&format!("@{name}")).unwrap();
        n.notify(&watchdog("ok")).unwrap();
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1\nSTATUS=ok\n");
    }
}
