//! The newcomer path: `demo/multi-vpc.sh`, the README's first command, run
//! end to end as a user runs it — three VPCs, three real vcped, WireGuard and
//! BGP — with the binaries this workspace already built (`VCPE_BIN_DIR`, so
//! the test builds nothing). Checks what it prints (each vCPE's sessions and
//! routes, an all-pairs ping matrix with every pair ok), its exit status, and
//! that it leaves no namespace or process behind, on a normal exit and on
//! Ctrl-C during `--keep`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::{cargo_bin, group_members, list_netns, require_root, require_tun, wait_until};

/// Far above the ~6 s a run takes on an idle 2-core machine.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// VMs of the seed topology, in the order the matrix prints them.
const VMS: [&str; 4] = ["vm11", "vm12", "vm21", "vm31"];

/// The demo script running as a child, its stdout+stderr in one file.
struct Demo {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Demo {
    fn start(args: &[&str]) -> Result<Demo> {
        use std::os::unix::process::CommandExt;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("workspace root")?;
        let bin_dir = cargo_bin("vcped")
            .parent()
            .context("vcped's directory")?
            .to_path_buf();
        ensure!(
            bin_dir.join("vcpectl").is_file(),
            "vcpectl is not beside {}: cargo build --workspace --bins",
            bin_dir.display()
        );
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("demo.out");
        let out = File::create(&log)?;
        let mut cmd = Command::new("bash");
        // SAFETY: the closure only calls signal(2), which is
        // async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // As in a terminal: Ctrl-C reaches the script. A test
                // harness started in the background (CI runners are) runs
                // with SIGINT ignored, bash inherits that and then cannot
                // trap it, so the --keep test's Ctrl-C did nothing there.
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let child = cmd
            .arg(root.join("demo/multi-vpc.sh"))
            .args(args)
            .env("VCPE_BIN_DIR", &bin_dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Its own group, as in a terminal: Ctrl-C goes to the group.
            .process_group(0)
            .spawn()
            .context("starting demo/multi-vpc.sh")?;
        Ok(Demo {
            child,
            log,
            _dir: dir,
        })
    }

    /// The script's pid: its `$$`, so its namespaces are `vd<pid>-*`.
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Namespaces of this run that still exist.
    fn namespaces(&self) -> Result<Vec<String>> {
        let prefix = format!("vd{}-", self.pid());
        Ok(list_netns()?
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect())
    }

    fn signal_group(&self, sig: libc::c_int) {
        if let Ok(pgid) = libc::pid_t::try_from(self.pid())
            && pgid > 1
        {
            // SAFETY: plain syscall; a negative pid addresses our child's group.
            unsafe {
                libc::kill(-pgid, sig);
            }
        }
    }

    /// Waits for the script to exit. On timeout: SIGTERM (its trap cleans
    /// up), then SIGKILL and removal of its namespaces, and an error.
    fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill_hard();
        bail!(
            "demo did not finish within {timeout:?}; its output:\n{}",
            self.output()
        )
    }

    fn kill_hard(&mut self) {
        self.signal_group(libc::SIGTERM);
        let exited = wait_until(Duration::from_secs(15), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            self.signal_group(libc::SIGKILL);
            let _ = self.child.wait();
        }
        for ns in self.namespaces().unwrap_or_default() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }

    /// Nothing of this run is left: no namespace, no process in its group.
    fn check_gone(&self) -> Result<()> {
        let left = self.namespaces()?;
        ensure!(left.is_empty(), "namespaces left behind: {left:?}");
        let procs = group_members(self.pid());
        ensure!(procs.is_empty(), "processes left behind: {procs:?}");
        Ok(())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill_hard();
        }
    }
}

/// The matrix rows (`vm11 v4  -  ok 0.4ms  ...`), checked: one row per VM
/// and family in order, `-` on the diagonal, every other cell `ok <rtt>ms`.
/// Returns the number of ok pairs.
fn check_matrix(out: &str) -> Result<usize> {
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| VMS.iter().any(|vm| l.starts_with(&format!("{vm} v"))))
        .collect();
    ensure!(
        rows.len() == 2 * VMS.len(),
        "want {} matrix rows (4 VMs x v4/v6), got {}:\n{out}",
        2 * VMS.len(),
        rows.len()
    );
    let mut ok = 0;
    for (i, row) in rows.iter().enumerate() {
        let mut words = row.split_whitespace();
        let (from, fam) = (words.next(), words.next());
        ensure!(
            from == Some(VMS[i / 2]) && fam == Some(["v4", "v6"][i % 2]),
            "matrix row {i} out of order: {row}"
        );
        // Cells: "-", "FAIL", or "ok" followed by "<rtt>ms".
        let mut cells = Vec::new();
        while let Some(w) = words.next() {
            cells.push(match w {
                "ok" => {
                    let rtt = words.next().unwrap_or("");
                    let valid = rtt
                        .strip_suffix("ms")
                        .is_some_and(|n| n.parse::<f64>().is_ok());
                    ensure!(valid, "ok without an RTT in: {row}");
                    "ok"
                }
                other => other,
            });
        }
        ensure!(
            cells.len() == VMS.len(),
            "want {} cells in: {row}",
            VMS.len()
        );
        for (j, cell) in cells.iter().enumerate() {
            let want = if j == i / 2 { "-" } else { "ok" };
            ensure!(
                *cell == want,
                "{} -> {} {}: {cell}, want {want}\n{out}",
                VMS[i / 2],
                VMS[j],
                ["v4", "v6"][i % 2]
            );
            ok += usize::from(*cell == "ok");
        }
    }
    Ok(ok)
}

#[test]
fn demo_prints_routes_and_an_all_ok_ping_matrix_and_cleans_up() -> Result<()> {
    require_root!();
    require_tun();
    let started = Instant::now();
    let mut demo = Demo::start(&[])?;
    let status = demo.wait(RUN_TIMEOUT)?;
    let out = demo.output();
    eprintln!("demo ran in {:.1?}", started.elapsed());
    ensure!(status.success(), "demo exited with {status}:\n{out}");

    for v in ["VPC01", "VPC02", "VPC03"] {
        ensure!(
            out.contains(&format!("vCPE of {v}: BGP sessions, RIB")),
            "no route section for {v}:\n{out}"
        );
    }
    ensure!(
        out.matches("Established").count() >= 6,
        "want 6 Established sessions in the summaries:\n{out}"
    );
    // Every vCPE's RIB holds all 8 vxnet prefixes: its own (local) and the
    // learned ones as best paths.
    for prefix in [
        "10.1.1.0/24",
        "10.1.2.0/24",
        "10.2.1.0/24",
        "10.3.1.0/24",
        "fd00:1:1::/64",
        "fd00:1:2::/64",
        "fd00:2:1::/64",
        "fd00:3:1::/64",
    ] {
        let best = out
            .lines()
            .filter(|l| l.starts_with("*> ") && l.split_whitespace().nth(1) == Some(prefix))
            .count();
        ensure!(
            best == 3,
            "{prefix}: {best} best paths, want one per vCPE:\n{out}"
        );
    }
    let ok = check_matrix(&out)?;
    ensure!(ok == 24, "{ok} pairs ok, want 24");
    ensure!(out.contains("all 24 pairs ok"), "no summary line:\n{out}");
    ensure!(out.contains("cleaned up"), "no clean-up line:\n{out}");
    demo.check_gone()
}

#[test]
fn demo_keep_stays_up_until_ctrl_c_then_cleans_up() -> Result<()> {
    require_root!();
    require_tun();
    let mut demo = Demo::start(&["--keep"])?;
    let up = wait_until(RUN_TIMEOUT, || {
        demo.output().contains("Ctrl-C to tear down")
            || matches!(demo.child.try_wait(), Ok(Some(_)))
    });
    ensure!(
        up && matches!(demo.child.try_wait(), Ok(None)),
        "demo --keep did not stay up:\n{}",
        demo.output()
    );
    let ns = demo.namespaces()?;
    ensure!(
        ns.len() == 8,
        "want 8 namespaces (inet, 3 vCPEs, 4 VMs) while up: {ns:?}"
    );
    // Still up a moment later: --keep waits for Ctrl-C.
    std::thread::sleep(Duration::from_millis(500));
    ensure!(
        matches!(demo.child.try_wait(), Ok(None)),
        "--keep exited by itself"
    );

    demo.signal_group(libc::SIGINT); // what a terminal's Ctrl-C does
    let status = demo.wait(Duration::from_secs(30))?;
    let out = demo.output();
    ensure!(
        status.success(),
        "Ctrl-C in --keep exited with {status}:\n{out}"
    );
    ensure!(out.contains("cleaned up"), "no clean-up line:\n{out}");
    demo.check_gone()
}

/// `--day-two`: on the running topology, a key rotated, an unconfirmed
/// commit-confirm rolled back and a fourth VPC added, each by reload only
/// (the script checks that no BGP session among the first three vCPEs was
/// reset after each step and exits 1 otherwise); all pairs of the five VMs
/// ping at the end.
#[test]
fn demo_day_two_rotates_a_key_rolls_back_and_adds_a_vpc_by_reload_only() -> Result<()> {
    require_root!();
    require_tun();
    let mut demo = Demo::start(&["--day-two"])?;
    let status = demo.wait(RUN_TIMEOUT)?;
    let out = demo.output();
    ensure!(
        status.success(),
        "demo --day-two exited with {status}:\n{out}"
    );
    let (first, day_two) = out
        .split_once("day two 1/3")
        .with_context(|| format!("no day-two steps:\n{out}"))?;
    ensure!(check_matrix(first)? == 24, "first matrix:\n{out}");
    ensure!(
        day_two.contains("vm41 v4") && day_two.contains("vm41 v6"),
        "no matrix row of the fourth VPC's VM:\n{out}"
    );
    ensure!(
        out.matches("no BGP session among the first three vCPEs was reset")
            .count()
            == 3,
        "want the no-reset check after each of the 3 steps:\n{out}"
    );
    ensure!(
        out.contains("revert 2 (not confirmed)"),
        "no automatic revert in the config history:\n{out}"
    );
    ensure!(
        out.contains("all 12 sessions Established") && out.contains("all 40 pairs ok"),
        "the fourth VPC is not reachable from all:\n{out}"
    );
    ensure!(out.contains("cleaned up"), "no clean-up line:\n{out}");
    demo.check_gone()
}

/// The matrix check itself, on text the demo printed: a good matrix passes,
/// a failed pair or a missing row does not (no root needed).
#[test]
fn matrix_check_accepts_all_ok_and_rejects_a_failed_pair() {
    let good = "\
from\\to  vm11        vm12        vm21        vm31
vm11 v4  -           ok 2.08ms   ok 28.9ms   ok 8.79ms
vm11 v6  -           ok 0.180ms  ok 0.717ms  ok 0.797ms
vm12 v4  ok 0.052ms  -           ok 14.1ms   ok 34.6ms
vm12 v6  ok 0.058ms  -           ok 44.1ms   ok 0.543ms
vm21 v4  ok 5.97ms   ok 0.658ms  -           ok 4.72ms
vm21 v6  ok 0.666ms  ok 0.596ms  -           ok 0.659ms
vm31 v4  ok 8.58ms   ok 0.892ms  ok 0.765ms  -
vm31 v6  ok 0.627ms  ok 0.616ms  ok 0.696ms  -
";
    assert_eq!(check_matrix(good).unwrap(), 24);
    let failed = good.replace(
        "vm21 v6  ok 0.666ms  ok 0.596ms  -           ok 0.659ms",
        "vm21 v6  ok 0.666ms  ok 0.596ms  -           FAIL",
    );
    let err = check_matrix(&failed).unwrap_err().to_string();
    assert!(err.contains("vm21 -> vm31 v6: FAIL"), "{err}");
    let short: String = good.lines().take(5).map(|l| format!("{l}\n")).collect();
    assert!(check_matrix(&short).is_err());
}
