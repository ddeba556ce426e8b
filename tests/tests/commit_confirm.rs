//! Commit-confirm and rollback against the real daemon: `vcpectl config
//! apply FILE --confirm` reverts (routes and tunnels back to the old file)
//! unless `vcpectl config confirm` comes in time, a confirmed commit
//! stays; `config history` records who/when/what and `config rollback N`
//! applies a version again; a vcped restarted during a pending confirm
//! comes up on the previous file; `kill -9` at any moment of an apply
//! leaves a running file that parses.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use vcpe_api::{HistoryEntry, PendingConfirm, Reply};
use vcpe_tests::peers::{
    BgpPeer, Bird, PeerSpec, wait_established, wait_for_no_route, wait_for_route,
};
use vcpe_tests::{Lab, Netns, Vcped, names::ifname, require_root, wait_until};

const VCPE: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 10);
const BIRD: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);

/// The old file: one route out of the TUN, one GRE tunnel peer. With
/// `extra`, the new file: a route more out of the TUN, one into the
/// tunnel, and a second tunnel peer (added live, removed by a revert).
fn config(socket: &Path, tun: &str, extra: bool) -> String {
    let mut c = format!(
        r#"# commit-confirm under test
[router]
id = "{VCPE}"
asn = 65010

[control]
socket = "{socket}"

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.10.0.1/16"]

[[peer]]
name = "vpc02"
endpoint = "10.97.0.2"
encapsulation = "gre"
gre_key = 12
allowed_prefixes = ["10.2.0.0/16"]

[[route]]
name = "vxnet-a"
prefix = "10.10.0.0/16"
interface = "{tun}"
"#,
        socket = socket.display()
    );
    if extra {
        c += &format!(
            r#"
[[route]]
name = "extra"
prefix = "10.20.0.0/16"
next_hop = "10.10.0.254"
interface = "{tun}"

[[route]]
name = "to-vpc02"
prefix = "10.2.0.0/16"
peer = "vpc02"

[[peer]]
name = "vpc03"
endpoint = "10.97.0.3"
encapsulation = "gre"
gre_key = 13
allowed_prefixes = ["10.3.0.0/16"]
"#
        );
    }
    c
}

/// What runs: the static routes by name, the FIB's answer for the new
/// prefixes, and the tunnels by name.
#[derive(Debug, PartialEq, Eq)]
struct Running {
    routes: BTreeSet<String>,
    fib_extra: bool,
    fib_tunnel: bool,
    tunnels: BTreeSet<String>,
}

fn running(v: &Vcped) -> Result<Running> {
    Ok(Running {
        routes: v.route_list()?.into_iter().map(|r| r.name).collect(),
        fib_extra: v.explain("10.20.1.1").is_ok(),
        fib_tunnel: v.explain("10.2.1.1").is_ok(),
        tunnels: v.tunnels()?.into_iter().map(|t| t.name).collect(),
    })
}

fn history(v: &Vcped) -> Result<(Vec<HistoryEntry>, Option<PendingConfirm>)> {
    match v.reply(&["config", "history"])? {
        Reply::ConfigHistory {
            entries, pending, ..
        } => Ok((entries, pending)),
        other => bail!("vcpectl config history: {other:?}"),
    }
}

/// `vcpectl config apply|rollback ...`: the new version and its pending
/// confirm.
fn apply(v: &Vcped, args: &[&str]) -> Result<(u64, Option<PendingConfirm>)> {
    let mut a = vec!["config"];
    a.extend_from_slice(args);
    match v.reply(&a)? {
        Reply::ConfigApplied(x) => Ok((x.version, x.pending)),
        other => bail!("vcpectl {a:?}: {other:?}"),
    }
}

/// `vcpectl ARGS` expected to be refused (exit 1): its stderr.
fn ctl_fails(v: &Vcped, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(vcpe_tests::cargo_bin("vcpectl"))
        .arg("--socket")
        .arg(&v.socket)
        .args(args)
        .output()?;
    ensure!(
        out.status.code() == Some(1),
        "vcpectl {args:?} should be refused (exit 1), got {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn kill_9(v: &Vcped) -> Result<()> {
    let st = std::process::Command::new("kill")
        .args(["-KILL", &v.daemon.pid().to_string()])
        .status()?;
    ensure!(st.success(), "kill -9 {} failed", v.daemon.pid());
    ensure!(
        wait_until(Duration::from_secs(5), || !v.daemon.is_running()),
        "vcped survived kill -9"
    );
    Ok(())
}

/// Starts vcped again on the file as it is now (rewritten unchanged).
fn restart(ns: &Netns, dir: &Path, v: &mut Vcped) -> Result<String> {
    let text = std::fs::read_to_string(&v.config)?;
    v.daemon.stop();
    *v = Vcped::start(ns, dir, "vcped", &text)?;
    Ok(text)
}

fn with_log<T>(v: &Vcped, r: Result<T>) -> Result<T> {
    if r.is_err() {
        v.daemon.print_log();
    }
    r
}

#[test]
fn an_unconfirmed_commit_reverts_and_a_confirmed_one_stays() -> Result<()> {
    require_root!();
    let lab = Lab::new("confirm")?;
    let ns = lab.netns("vcpe")?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let old = config(&socket, &tun, false);
    let new = config(&socket, &tun, true);
    let new_file = lab.dir().join("new.toml");
    std::fs::write(&new_file, &new)?;
    let new_arg = new_file.to_string_lossy().into_owned();
    let v = Vcped::start(&ns, lab.dir(), "vcped", &old)?;
    let r = (|| -> Result<()> {
        let before = running(&v)?;
        ensure!(!before.fib_extra && !before.fib_tunnel, "{before:?}");
        ensure!(before.tunnels == BTreeSet::from(["vpc02".to_owned()]));
        let (start, _) = history(&v)?;
        ensure!(start.len() == 1 && start[0].source == "start", "{start:?}");

        // Not confirmed: applied at once, reverted after 6 s.
        let (version, pending) = apply(&v, &["apply", &new_arg, "--confirm", "0.1"])?;
        let pending = pending.context("no pending confirm")?;
        ensure!(
            pending.version == version && pending.previous == 1,
            "{pending:?}"
        );
        let after = running(&v)?;
        ensure!(after.fib_extra && after.fib_tunnel, "{after:?}");
        ensure!(after.routes.contains("extra") && after.routes.contains("to-vpc02"));
        ensure!(
            after.tunnels == BTreeSet::from(["vpc02".to_owned(), "vpc03".to_owned()]),
            "the new peer is not running: {after:?}"
        );
        ensure!(std::fs::read_to_string(&v.config)? == new);
        let (_, p) = history(&v)?;
        ensure!(p.as_ref() == Some(&pending), "history shows {p:?}");
        ensure!(
            wait_until(Duration::from_secs(20), || running(&v)
                .is_ok_and(|r| r == before)),
            "not reverted: {:?}",
            running(&v)
        );
        ensure!(
            std::fs::read_to_string(&v.config)? == old,
            "the file was not reverted"
        );
        let (entries, p) = history(&v)?;
        ensure!(p.is_none(), "still pending after the revert: {p:?}");
        let last = entries.last().context("no history")?;
        ensure!(
            last.source == format!("revert {version} (not confirmed)") && last.uid.is_none(),
            "{last:?}"
        );
        let e = ctl_fails(&v, &["config", "confirm"])?;
        ensure!(e.contains("no commit waits for a confirm"), "{e}");

        // Confirmed: stays past its deadline.
        let (version, pending) = apply(&v, &["apply", &new_arg, "--confirm", "0.05"])?;
        ensure!(pending.is_some());
        let said = v.ctl(&["config", "confirm"])?;
        ensure!(
            said.contains(&format!("version {version} confirmed")),
            "{said}"
        );
        std::thread::sleep(Duration::from_secs(5));
        let after = running(&v)?;
        ensure!(
            after.fib_extra && after.fib_tunnel,
            "a confirmed commit went away: {after:?}"
        );
        ensure!(std::fs::read_to_string(&v.config)? == new);
        let (entries, p) = history(&v)?;
        ensure!(p.is_none());
        let last = entries.last().context("no history")?;
        ensure!(last.version == version, "{entries:?}");
        ensure!(
            last.uid == Some(0) && last.user.as_deref() == Some("root"),
            "who: {last:?}"
        );
        ensure!(last.source == format!("apply {new_arg}"), "{last:?}");
        ensure!(last.summary.contains("2 route(s) added"), "{last:?}");

        // An invalid file: file:line errors, nothing changes.
        let bad = lab.dir().join("bad.toml");
        std::fs::write(
            &bad,
            new.replace("prefix = \"10.20.0.0/16\"", "prefix = \"10.20.0.0/33\""),
        )?;
        let e = ctl_fails(&v, &["config", "apply", &bad.to_string_lossy()])?;
        let line = new
            .lines()
            .position(|l| l == "prefix = \"10.20.0.0/16\"")
            .context("no prefix line")?
            + 1;
        ensure!(
            e.starts_with(&format!("vcpectl: {}:{line}:", bad.display())),
            "{e}"
        );
        ensure!(e.contains("nothing was applied"), "{e}");
        ensure!(std::fs::read_to_string(&v.config)? == new);
        ensure!(history(&v)?.0.last().map(|h| h.version) == Some(version));

        // A file the reload refuses (a new router id needs a restart): the
        // running file is put back, no confirm is left pending.
        let other = lab.dir().join("other-id.toml");
        std::fs::write(&other, old.replace("10.97.0.10", "10.97.0.11"))?;
        let e = ctl_fails(
            &v,
            &[
                "config",
                "apply",
                &other.to_string_lossy(),
                "--confirm",
                "1",
            ],
        )?;
        ensure!(e.contains("the file was put back"), "{e}");
        ensure!(std::fs::read_to_string(&v.config)? == new);
        let (entries, p) = history(&v)?;
        ensure!(p.is_none() && entries.last().map(|h| h.version) == Some(version));
        ensure!(running(&v)?.fib_extra);
        Ok(())
    })();
    with_log(&v, r)
}

#[test]
fn history_and_rollback_and_a_restart_during_a_pending_confirm() -> Result<()> {
    require_root!();
    let lab = Lab::new("rollback")?;
    let ns = lab.netns("vcpe")?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let old = config(&socket, &tun, false);
    let new = config(&socket, &tun, true);
    let new_file = lab.dir().join("new.toml");
    std::fs::write(&new_file, &new)?;
    let new_arg = new_file.to_string_lossy().into_owned();
    let mut v = Vcped::start(&ns, lab.dir(), "vcped", &old)?;
    let r = (|| -> Result<()> {
        let before = running(&v)?;
        let (v2, pending) = apply(&v, &["apply", &new_arg])?;
        ensure!(v2 == 2 && pending.is_none());
        let with_extra = running(&v)?;
        ensure!(with_extra.fib_extra && with_extra.fib_tunnel);

        // Rollback to the start: the old routes and file.
        let (v3, _) = apply(&v, &["rollback", "1"])?;
        ensure!(v3 == 3);
        ensure!(running(&v)? == before);
        ensure!(std::fs::read_to_string(&v.config)? == old);
        // And forward again to version 2.
        apply(&v, &["rollback", "2"])?;
        ensure!(running(&v)? == with_extra);
        ensure!(std::fs::read_to_string(&v.config)? == new);
        let text = v.ctl(&["config", "history"])?;
        ensure!(
            text.contains("rollback 1") && text.contains("rollback 2"),
            "{text}"
        );
        ensure!(text.contains("2 route(s) removed"), "{text}");
        let e = ctl_fails(&v, &["config", "rollback", "99"])?;
        ensure!(e.contains("no version 99"), "{e}");

        // A pending confirm, then vcped dies: it comes up on the file
        // before the unconfirmed one.
        apply(&v, &["rollback", "1", "--confirm", "10"])?;
        ensure!(running(&v)? == before);
        std::fs::write(&new_file, &new)?;
        let (v6, p) = apply(&v, &["apply", &new_arg, "--confirm", "10"])?;
        // Two unconfirmed commits in a row go back to the last confirmed.
        ensure!(p.as_ref().map(|p| p.previous) == Some(4), "{p:?}");
        ensure!(running(&v)? == with_extra);
        kill_9(&v)?;
        restart(&ns, lab.dir(), &mut v)?;
        ensure!(
            std::fs::read_to_string(&v.config)? == new,
            "the confirmed version 4 is the new file"
        );
        ensure!(running(&v)? == with_extra);
        let (entries, p) = history(&v)?;
        ensure!(p.is_none(), "{p:?}");
        let last = entries.last().context("no history")?;
        ensure!(
            last.source == format!("revert {v6} (vcped restarted before confirm)"),
            "{entries:?}"
        );
        Ok(())
    })();
    with_log(&v, r)
}

#[test]
fn kill_9_at_any_moment_of_an_apply_leaves_a_valid_file() -> Result<()> {
    require_root!();
    let lab = Lab::new("applykill")?;
    let ns = lab.netns("vcpe")?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let texts = [config(&socket, &tun, false), config(&socket, &tun, true)];
    let files: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let f = lab.dir().join(format!("v{i}.toml"));
            std::fs::write(&f, t).map(|()| f)
        })
        .collect::<std::io::Result<_>>()?;
    let mut v = Vcped::start(&ns, lab.dir(), "vcped", &texts[0])?;
    let r = (|| -> Result<()> {
        let mut pending_seen = 0;
        for round in 0..12u64 {
            let file = &files[usize::try_from(round % 2)?];
            let mut cmd = std::process::Command::new(vcpe_tests::cargo_bin("vcpectl"));
            cmd.arg("--socket")
                .arg(&v.socket)
                .args(["config", "apply"])
                .arg(file);
            if round % 3 == 0 {
                cmd.args(["--confirm", "5"]);
            }
            let mut child = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()?;
            // From before the request arrives to well after the reply.
            std::thread::sleep(Duration::from_millis(round * 4));
            kill_9(&v)?;
            let _ = child.wait();
            let text = std::fs::read_to_string(&v.config)?;
            vcpe_config::load(&v.config).map_err(|d| {
                anyhow::anyhow!("round {round}: the file after kill -9 does not parse:\n{d}")
            })?;
            ensure!(
                texts.contains(&text),
                "round {round}: the file is neither version"
            );
            if lab.dir().join("vcped.history/pending.json").exists() {
                pending_seen += 1;
            }
            let _ = restart(&ns, lab.dir(), &mut v)?;
            // What runs after the restart is what the file says, and it
            // parses too (a pending confirm was reverted before loading).
            let after = std::fs::read_to_string(&v.config)?;
            ensure!(texts.contains(&after), "round {round}: after restart");
            let extra = running(&v)?.routes.contains("extra");
            ensure!(extra == (after == texts[1]), "round {round}: runs {extra}");
        }
        eprintln!("12 kill -9 rounds, {pending_seen} with a pending confirm on disk");
        let temps = std::fs::read_dir(lab.dir())?
            .chain(std::fs::read_dir(lab.dir().join("vcped.history"))?)
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        ensure!(temps <= 12, "{temps} temporary files left");
        Ok(())
    })();
    with_log(&v, r)
}

#[test]
fn an_unconfirmed_commit_is_withdrawn_from_a_bgp_peer_and_a_confirmed_one_stays() -> Result<()> {
    require_root!();
    let lab = Lab::new("confirmbgp")?;
    let vns = lab.netns("vcpe")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    bns.addr("eth0", &format!("{BIRD}/24"))?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let bgp = format!(
        r#"
[[route]]
name = "bgp-lan"
prefix = "10.97.0.0/24"
interface = "{tun}"

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "{BIRD}"
remote_as = 65001
hold_time = 9
"#
    );
    let old = config(&socket, &tun, false) + &bgp;
    let new = old.clone()
        + "\n[[route]]\nname = \"announced\"\nprefix = \"10.30.0.0/24\"\n"
        + &format!("interface = \"{tun}\"\nadvertise = true\n");
    let new_file = lab.dir().join("new.toml");
    std::fs::write(&new_file, &new)?;
    let new_arg = new_file.to_string_lossy().into_owned();
    let v = Vcped::start(&vns, lab.dir(), "vcped", &old)?;
    let spec = PeerSpec::one_neighbor(65001, BIRD, IpAddr::V4(VCPE), 65010, &[], lab.dir());
    let bird = Bird::start(&bns, &spec)?;
    let r = (|| -> Result<()> {
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        // How often the session came up: it must not flap.
        let ups = |v: &Vcped| -> Result<u64> {
            let n = v.bgp_summary()?;
            let n = n.first().context("no neighbor")?;
            ensure!(n.state == "Established", "{n:?}");
            Ok(n.established_transitions)
        };
        let up = ups(&v)?;
        let (version, pending) = apply(&v, &["apply", &new_arg, "--confirm", "0.1"])?;
        ensure!(pending.is_some());
        wait_for_route(&bird, "10.30.0.0/24", Duration::from_secs(20))?;
        // Not confirmed: BIRD loses the route again, the session stays.
        wait_for_no_route(&bird, "10.30.0.0/24", Duration::from_secs(20))?;
        ensure!(std::fs::read_to_string(&v.config)? == old);
        let (entries, _) = history(&v)?;
        ensure!(
            entries.last().map(|h| h.source.clone())
                == Some(format!("revert {version} (not confirmed)")),
            "{entries:?}"
        );
        // Confirmed: stays past the deadline.
        apply(&v, &["apply", &new_arg, "--confirm", "0.05"])?;
        v.ctl(&["config", "confirm"])?;
        wait_for_route(&bird, "10.30.0.0/24", Duration::from_secs(20))?;
        std::thread::sleep(Duration::from_secs(5));
        wait_for_route(&bird, "10.30.0.0/24", Duration::from_secs(1))?;
        let later = ups(&v)?;
        ensure!(
            later == up,
            "the BGP session restarted during apply/revert: Established {up} then {later} times"
        );
        Ok(())
    })();
    if r.is_err() {
        eprintln!("BIRD log:\n{}", bird.log());
    }
    with_log(&v, r)
}
