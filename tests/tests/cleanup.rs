//! Cleanup happens even when a test panics, and stale leftovers can be swept.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, list_netns, pid_alive, require_root, sweep_stale, wait_until};

#[test]
fn a_panicking_test_still_cleans_up() -> Result<()> {
    require_root!();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let lab = Lab::new("panic").unwrap();
        let a = lab.netns("a").unwrap();
        let b = lab.netns("b").unwrap();
        lab.veth(&a, "eth0", &b, "eth0").unwrap();
        let d = a
            .spawn(
                "sleeper",
                ["sh", "-c", "echo sleeper-up; sleep 30; echo never"],
            )
            .unwrap();
        d.wait_for_log("sleeper-up", Duration::from_secs(10))
            .unwrap();
        // A stray process not owned by any Daemon: the namespace drop must kill it.
        a.exec(["sh", "-c", "sleep 31 >/dev/null 2>&1 &"]).unwrap();
        let mut pids = a.pids();
        pids.extend(b.pids());
        tx.send((lab.netns_names(), pids)).unwrap();
        panic!("deliberate panic: checking that the harness cleans up");
    });
    ensure!(thread.join().is_err(), "the thread should have panicked");
    let (names, pids) = rx.recv().context("thread sent nothing")?;
    ensure!(
        pids.len() >= 2,
        "expected the daemon and a stray process, got {pids:?}"
    );

    let listed = list_netns()?;
    for n in &names {
        ensure!(!listed.contains(n), "{n} survived the panic");
    }
    ensure!(
        wait_until(Duration::from_secs(5), || pids
            .iter()
            .all(|&p| !pid_alive(p))),
        "processes survived the panic: {:?}",
        pids.iter().filter(|&&p| pid_alive(p)).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn sweep_stale_removes_only_dead_owners_namespaces() -> Result<()> {
    require_root!();
    let lab = Lab::new("sweep")?;
    let live = lab.netns("live")?;

    // A name as a dead process would have left it: find a pid that is unused.
    let dead_pid = (0x3f_0000..0x3f_ffff_u32)
        .find(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
        .context("no free pid")?;
    let stale = format!("vt{dead_pid:x}-0-sweeptest{}-x", std::process::id());
    let out = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .output()?;
    ensure!(out.status.success(), "ip netns add {stale}: {out:?}");

    let removed = sweep_stale();
    // Make sure the stale namespace is gone even if an assertion below fails.
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &stale])
        .output();
    let removed = removed?;
    // A sweep in a concurrently running test process may have got it first.
    ensure!(
        removed.contains(&stale) || !list_netns()?.contains(&stale),
        "{stale} not swept: {removed:?}"
    );
    ensure!(!list_netns()?.contains(&stale), "{stale} still listed");
    ensure!(live.exists(), "sweep removed a live namespace");
    Ok(())
}
