//! Daemons: log capture, waiting for log lines, and stop-on-drop.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use vcpe_tests::{Lab, group_members, pid_alive, require_root, wait_until};

#[test]
fn daemon_log_is_captured_and_process_killed_on_drop() -> Result<()> {
    require_root!();
    let lab = Lab::new("daemon")?;
    let ns = lab.netns("a")?;
    let d = ns.spawn(
        "hello",
        ["sh", "-c", "echo hello; echo to-stderr >&2; sleep 30"],
    )?;
    let log = d.wait_for_log("hello", Duration::from_secs(10))?;
    ensure!(log.starts_with("hello"), "{log:?}");
    ensure!(
        d.wait_for_log("to-stderr", Duration::from_secs(10)).is_ok(),
        "stderr not captured"
    );
    ensure!(d.is_running());
    ensure!(d.log_path().starts_with(lab.dir()));

    let pid = d.pid();
    let pids = ns.pids();
    ensure!(
        pids.contains(&pid),
        "daemon pid {pid} not in namespace pids {pids:?}"
    );

    let started = Instant::now();
    drop(d);
    ensure!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        started.elapsed()
    );
    ensure!(!pid_alive(pid), "daemon {pid} survived its drop");
    ensure!(
        wait_until(Duration::from_secs(5), || pids
            .iter()
            .all(|&p| !pid_alive(p))),
        "daemon children survived"
    );
    ensure!(
        ns.pids().is_empty(),
        "processes left in {}: {:?}",
        ns.name(),
        ns.pids()
    );
    let group = group_members(pid);
    ensure!(
        group.is_empty(),
        "process group {pid} still has live members: {group:?}"
    );
    Ok(())
}

#[test]
fn wait_for_log_fails_fast_when_the_daemon_exits() -> Result<()> {
    require_root!();
    let lab = Lab::new("daemon-exit")?;
    let ns = lab.netns("a")?;
    let mut d = ns.spawn("quitter", ["sh", "-c", "echo goodbye; exit 3"])?;
    let started = Instant::now();
    let err = d
        .wait_for_log("never-printed", Duration::from_secs(30))
        .unwrap_err()
        .to_string();
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "did not fail fast"
    );
    ensure!(err.contains("exited") && err.contains("goodbye"), "{err}");
    ensure!(d.stop().and_then(|s| s.code()) == Some(3));
    Ok(())
}

#[test]
fn daemon_that_ignores_sigterm_is_killed() -> Result<()> {
    require_root!();
    let lab = Lab::new("daemon-term")?;
    let ns = lab.netns("a")?;
    let mut d = ns.spawn(
        "stubborn",
        [
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ],
    )?;
    d.wait_for_log("ready", Duration::from_secs(10))?;
    let pid = d.pid();
    ensure!(d.stop().is_some());
    ensure!(!pid_alive(pid));
    Ok(())
}
