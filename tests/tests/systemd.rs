//! vcped under a systemd-like supervisor: the test plays systemd. It binds
//! the `NOTIFY_SOCKET` (a Unix datagram socket, as `systemd-notify` speaks
//! to), sets `WATCHDOG_USEC` and `JOURNAL_STREAM`, and checks that
//! `READY=1` comes only once the control socket answers and the BGP
//! listener accepts, that `WATCHDOG=1` pings keep coming with a `STATUS=`
//! line, and that every log line starts with its syslog priority as
//! journald parses it (so `journalctl -p warning` filters).

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::names::ifname;
use vcpe_tests::netns::NETNS_RUN_DIR;
use vcpe_tests::{Lab, Netns, cargo_bin, has_tun, require_root};

const ADDR: &str = "10.96.0.10";

fn config(socket: &std::path::Path, tun: &str) -> String {
    format!(
        r#"[router]
id = "{ADDR}"
asn = 65010

[control]
socket = "{socket}"

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.10.0.1/16"]

[bgp]
listen = "{ADDR}:179"

[[bgp.neighbor]]
address = "10.96.0.1"
remote_as = 65001
mode = "passive"
"#,
        socket = socket.display()
    )
}

/// Connects to `addr` from inside `ns` (a thread that `setns`es).
fn connect_in(ns: &Netns, addr: SocketAddr) -> Result<()> {
    let handle = format!("{NETNS_RUN_DIR}/{}", ns.name());
    std::thread::spawn(move || -> Result<()> {
        let f = File::open(&handle).with_context(|| format!("opening {handle}"))?;
        // SAFETY: `f` is an open namespace handle; CLONE_NEWNET moves only
        // this thread, which ends after the connect.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns {handle}: {}", std::io::Error::last_os_error());
        }
        TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .with_context(|| format!("connecting to {addr} in the namespace"))?;
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("connect thread panicked"))?
}

/// The next datagram on the notify socket, within `timeout`.
fn recv(sock: &UnixDatagram, timeout: Duration) -> Result<String> {
    sock.set_read_timeout(Some(timeout))?;
    let mut buf = [0u8; 4096];
    let n = sock
        .recv(&mut buf)
        .context("no notification from vcped in time")?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn ready_after_control_and_bgp_listener_then_watchdog_and_priorities() -> Result<()> {
    require_root!();
    if !has_tun() {
        eprintln!("SKIP systemd readiness: /dev/net/tun is missing");
        return Ok(());
    }
    let lab = Lab::new("sdnotify")?;
    let ns = lab.netns("vcpe")?;
    let other = lab.netns("peer")?;
    lab.veth(&ns, "eth0", &other, "eth0")?;
    ns.addr("eth0", &format!("{ADDR}/24"))?;
    let socket = lab.dir().join("vcped.sock");
    let path = lab.dir().join("vcped.toml");
    std::fs::write(&path, config(&socket, &ifname()))?;
    let notify_path = lab.dir().join("notify");
    let notify = UnixDatagram::bind(&notify_path)?;

    // JOURNAL_STREAM names the device:inode of vcped's stderr, as systemd
    // sets it when stderr is the journal's stream.
    let mut cmd = ns.command("sh");
    cmd.arg("-c")
        .arg(r#"JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/2) exec "$0" run --config "$1""#)
        .arg(cargo_bin("vcped"))
        .arg(&path)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "1000000")
        .env("RUST_LOG", "info");
    let mut daemon = ns.spawn_command("vcped", cmd)?;

    let first = recv(&notify, Duration::from_secs(30))?;
    let at_ready = Instant::now();
    ensure!(
        first.lines().next() == Some("READY=1"),
        "first notification is not READY=1: {first:?}"
    );
    ensure!(
        first
            .lines()
            .any(|l| l.starts_with("STATUS=") && l.contains("1 interface, 0 tunnels")),
        "no STATUS= summary in {first:?}"
    );
    // Right when READY=1 came: the BGP listener accepts and the control
    // socket answers.
    connect_in(&ns, format!("{ADDR}:179").parse()?)?;
    let out = std::process::Command::new(cargo_bin("vcpectl"))
        .arg("--socket")
        .arg(&socket)
        .arg("status")
        .output()?;
    ensure!(
        out.status.success(),
        "vcpectl status right after READY=1 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // WATCHDOG_USEC=1 s: a ping every half second, with the status line.
    let mut pings = 0;
    while pings < 3 {
        let d = recv(&notify, Duration::from_secs(3))?;
        ensure!(!d.contains("READY=1"), "READY=1 twice: {d:?}");
        if d.lines().any(|l| l == "WATCHDOG=1") {
            ensure!(
                d.lines()
                    .any(|l| l.starts_with("STATUS=") && l.contains("BGP 0/1 established")),
                "ping without status: {d:?}"
            );
            pings += 1;
        }
    }
    ensure!(
        at_ready.elapsed() < Duration::from_secs(4),
        "3 pings took {:?} with a 1 s watchdog",
        at_ready.elapsed()
    );

    // Stopping says STOPPING=1.
    daemon.stop();
    let mut stopping = false;
    while let Ok(d) = recv(&notify, Duration::from_secs(5)) {
        if d.contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    ensure!(stopping, "no STOPPING=1 on SIGTERM");

    // Every log line carries a priority journald understands, and the
    // start and stop lines are info (6).
    let log = daemon.log();
    let mut infos = 0;
    for line in log.lines().filter(|l| !l.is_empty()) {
        let (prio, text) = line
            .strip_prefix('<')
            .and_then(|r| r.split_once('>'))
            .and_then(|(p, t)| Some((p.parse::<u8>().ok()?, t)))
            .with_context(|| format!("log line without <priority>: {line:?}\n{log}"))?;
        ensure!((3..=7).contains(&prio), "priority {prio}: {line:?}");
        if text.contains("vcped started") || text.contains("vcped stopped") {
            ensure!(prio == 6, "{line:?}");
            infos += 1;
        }
    }
    ensure!(infos == 2, "start and stop lines missing:\n{log}");
    Ok(())
}
