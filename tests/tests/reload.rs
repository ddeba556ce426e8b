//! The config file as the single source of truth, against the real daemon:
//! `vcpectl route add/del` are written back into the file (comments kept),
//! survive a restart and a `kill -9` in the middle of a stream of changes;
//! `vcpectl reload` / SIGHUP apply only what changed in the file — a
//! reload that changes nothing sends a BIRD peer zero UPDATEs and keeps
//! the session up, an added route reaches BIRD as one UPDATE, an invalid
//! file or one that needs a restart is refused with the state kept.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::peers::{
    BgpPeer, Bird, PeerSpec, wait_established, wait_for_no_route, wait_for_route,
};
use vcpe_tests::{Lab, Vcped, names::ifname, require_root};

const VCPE: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 10);
const BIRD: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 1);

fn config(socket: &Path, tun: &str, bgp: bool) -> String {
    let mut c = format!(
        r#"# vcped under test — this comment must survive every edit
[router]
id = "{VCPE}"   # router id
asn = 65010

[control]
socket = "{socket}"

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.10.0.1/16"]

# The VPC's own subnet, announced to the peer.
[[route]]
name = "vxnet-a"
prefix = "10.10.0.0/16"
interface = "{tun}"
advertise = true
"#,
        socket = socket.display()
    );
    if bgp {
        c += &format!(
            r#"
[[route]]
name = "bgp-lan"
prefix = "10.98.0.0/24"
interface = "{tun}"

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "{BIRD}"
remote_as = 65001
hold_time = 9
"#
        );
    }
    c
}

/// The names of the static routes vcped runs.
fn route_names(v: &Vcped) -> Result<BTreeSet<String>> {
    Ok(v.route_list()?.into_iter().map(|r| r.name).collect())
}

/// The names of the `[[route]]`s in the file (which must be valid).
fn file_routes(path: &Path) -> Result<BTreeSet<String>> {
    let c = vcpe_config::load(path).map_err(|d| anyhow::anyhow!("{d}"))?;
    Ok(c.routes.into_iter().map(|r| r.name).collect())
}

/// `vcpectl ARGS` expected to fail: its stderr.
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

fn kill(pid: u32, sig: &str) -> Result<()> {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()?;
    ensure!(st.success(), "kill {sig} {pid} failed");
    Ok(())
}

#[test]
fn route_changes_are_written_to_the_file_and_survive_kill_9() -> Result<()> {
    require_root!();
    let lab = Lab::new("persist")?;
    let ns = lab.netns("vcpe")?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let mut v = Vcped::start(&ns, lab.dir(), "vcped", &config(&socket, &tun, false))?;
    let path = v.config.clone();
    let r = (|| -> Result<()> {
        v.ctl(&[
            "route",
            "add",
            "extra",
            "10.20.0.0/16",
            "via",
            "10.10.0.254",
            "dev",
            &tun,
        ])?;
        let text = std::fs::read_to_string(&path)?;
        ensure!(text.contains("# vcped under test — this comment must survive every edit"));
        ensure!(text.contains("id = \"10.98.0.10\"   # router id"), "{text}");
        ensure!(text.contains("# The VPC's own subnet, announced to the peer."));
        ensure!(
            text.contains(
                "name = \"extra\"\nprefix = \"10.20.0.0/16\"\nnext_hop = \"10.10.0.254\""
            ),
            "{text}"
        );
        ensure!(file_routes(&path)? == route_names(&v)?);
        // Bad input: refused, nothing changed in the file.
        let before = std::fs::read_to_string(&path)?;
        let e = ctl_fails(&v, &["route", "add", "extra", "10.21.0.0/16", "dev", &tun])?;
        ensure!(e.contains("exists already"), "{e}");
        ensure!(std::fs::read_to_string(&path)? == before);
        v.ctl(&["route", "del", "extra"])?;
        ensure!(!std::fs::read_to_string(&path)?.contains("extra"));
        ensure!(file_routes(&path)? == route_names(&v)?);

        // A file that cannot be written (an immutable directory stops even
        // root): refused, and nothing runs that the file does not say.
        let dir = lab.dir().to_owned();
        let chattr = |flag: &str| {
            std::process::Command::new("chattr")
                .arg(flag)
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success())
        };
        if chattr("+i") {
            let refused = ctl_fails(&v, &["route", "add", "ro", "10.22.0.0/16", "dev", &tun]);
            chattr("-i");
            let e = refused?;
            ensure!(e.contains("the route was not added"), "{e}");
            ensure!(!route_names(&v)?.contains("ro"));
            let fib = v.explain("10.22.0.1");
            ensure!(fib.is_err(), "10.22.0.0/16 is still in the FIB: {fib:?}");
        } else {
            eprintln!("chattr +i is not supported here; the unwritable-file case is not checked");
        }

        // A stream of adds and deletes, and kill -9 in the middle of it.
        let acked: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (acked, stop, socket, tun) =
                (acked.clone(), stop.clone(), v.socket.clone(), tun.clone());
            std::thread::spawn(move || {
                for i in 0..400u32 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("s{i}");
                    let prefix = format!("10.{}.{}.0/24", 100 + i / 256, i % 256);
                    let mut cmd = std::process::Command::new(vcpe_tests::cargo_bin("vcpectl"));
                    cmd.arg("--socket").arg(&socket);
                    // Every third change deletes the route added before it.
                    let (args, add): (Vec<String>, bool) = if i % 3 == 2 {
                        (
                            vec!["route".into(), "del".into(), format!("s{}", i - 1)],
                            false,
                        )
                    } else {
                        (
                            vec![
                                "route".into(),
                                "add".into(),
                                name,
                                prefix,
                                "dev".into(),
                                tun.clone(),
                            ],
                            true,
                        )
                    };
                    match cmd.args(&args).output() {
                        Ok(o) if o.status.success() => acked
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((args[2].clone(), add)),
                        // The daemon is gone (or refused): the stream ends.
                        _ => break,
                    }
                }
            })
        };
        let enough = vcpe_tests::wait_until(Duration::from_secs(60), || {
            acked.lock().unwrap_or_else(|e| e.into_inner()).len() >= 60
        });
        kill(v.daemon.pid(), "-KILL")?;
        stop.store(true, Ordering::Relaxed);
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("writer thread panicked"))?;
        ensure!(enough, "the stream of route changes was too slow");
        let acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // What every acknowledged change leaves.
        let mut want: BTreeSet<String> = ["vxnet-a".to_owned()].into();
        for (name, add) in &acked {
            if *add {
                want.insert(name.clone());
            } else {
                want.remove(name);
            }
        }
        let got = file_routes(&path).context("the file after kill -9 must be a valid config")?;
        // At most one change was in flight when the daemon died: it may or
        // may not be in the file, everything acknowledged must be.
        let extra: Vec<_> = got.symmetric_difference(&want).collect();
        ensure!(
            extra.len() <= 1,
            "after {} acknowledged changes the file differs by {extra:?}",
            acked.len()
        );
        eprintln!(
            "kill -9 after {} acknowledged route changes: the file holds {} routes, in-flight difference {extra:?}",
            acked.len(),
            got.len()
        );
        // No temporary files left behind but the one being written.
        let temps = std::fs::read_dir(lab.dir())?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        ensure!(temps <= 1, "{temps} temporary files left");
        // And a restart runs exactly what the file says.
        let text = std::fs::read_to_string(&path)?;
        v.daemon.stop();
        v = Vcped::start(&ns, lab.dir(), "vcped", &text)?;
        ensure!(route_names(&v)? == got);
        Ok(())
    })();
    if r.is_err() {
        v.daemon.print_log();
    }
    r
}

/// BIRD's route change counters for its session with vcped:
/// (import updates received, import withdraws received).
fn bird_imports(bird: &Bird) -> Result<(u64, u64)> {
    let out = bird.birdc(&format!(
        "show protocols all n_{}",
        VCPE.to_string().replace('.', "_")
    ))?;
    let first = |label: &str| -> Result<u64> {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no {label:?} in BIRD's protocol details:\n{out}"))
    };
    Ok((first("Import updates:")?, first("Import withdraws:")?))
}

/// vcped's neighbor `addr`: (state, uptime seconds) from `bgp summary`.
fn session(v: &Vcped, addr: Ipv4Addr) -> Result<(String, u64)> {
    let j = v.bgp_summary()?;
    let n = j
        .into_iter()
        .find(|n| n.address == addr.to_string())
        .with_context(|| format!("no neighbor {addr} in bgp summary"))?;
    Ok((n.state, n.since_secs.unwrap_or(0)))
}

#[test]
fn reload_applies_only_the_difference() -> Result<()> {
    require_root!();
    let lab = Lab::new("reload")?;
    let vns = lab.netns("vcpe")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    bns.addr("eth0", &format!("{BIRD}/24"))?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let text = config(&socket, &tun, true);
    let v = Vcped::start(&vns, lab.dir(), "vcped", &text)?;
    let spec = PeerSpec::one_neighbor(
        65001,
        BIRD,
        IpAddr::V4(VCPE),
        65010,
        &["10.201.0.0/24"],
        lab.dir(),
    );
    let bird = Bird::start(&bns, &spec)?;
    let r = (|| -> Result<()> {
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        wait_for_route(&bird, "10.10.0.0/16", Duration::from_secs(20))?;
        let path = v.config.clone();
        // Settle: every initial UPDATE has arrived.
        std::thread::sleep(Duration::from_secs(2));
        let before = bird_imports(&bird)?;
        let (state, up0) = session(&v, BIRD)?;
        ensure!(state.eq_ignore_ascii_case("established"), "{state}");

        // 1. Comments and layout changed, nothing else: zero UPDATEs, the
        // session stays up, by `vcpectl reload` and by SIGHUP.
        std::fs::write(
            &path,
            text.replace("asn = 65010", "asn = 65010 # ours\n\n# moved"),
        )?;
        let out = v.ctl(&["config", "diff"])?;
        ensure!(out.contains("matches what runs"), "{out}");
        let out = v.ctl(&["reload"])?;
        ensure!(out.contains("nothing sent to BGP peers"), "{out}");
        kill(v.daemon.pid(), "-HUP")?;
        v.daemon
            .wait_for_log("the file matches what runs", Duration::from_secs(10))?;
        std::thread::sleep(Duration::from_secs(3));
        ensure!(
            bird_imports(&bird)? == before,
            "an unchanged reload sent UPDATEs: BIRD's import counters went from {before:?} to {:?}",
            bird_imports(&bird)?
        );
        let (state, up1) = session(&v, BIRD)?;
        ensure!(
            state.eq_ignore_ascii_case("established") && up1 >= up0,
            "the session was reset by an unchanged reload: {state}, uptime {up0} -> {up1}"
        );

        // 2. One advertised route added, one static route removed: BIRD
        // gets exactly the new prefix, nothing else is touched.
        let changed = text.replace(
            "[bgp]\n",
            &format!(
                "[[route]]\nname = \"new\"\nprefix = \"10.30.0.0/24\"\ninterface = \"{tun}\"\nadvertise = true\n\n[bgp]\n"
            ),
        );
        std::fs::write(&path, &changed)?;
        // `Vcped::config_diff` fails unless the reply says "not applied".
        let (_, diff) = v.config_diff()?;
        ensure!(
            diff.routes_added.first().is_some_and(|r| r.name == "new"),
            "{diff:?}"
        );
        ensure!(
            !route_names(&v)?.contains("new"),
            "config diff must not apply"
        );
        let out = v.ctl(&["reload"])?;
        ensure!(out.contains("+ route new 10.30.0.0/24"), "{out}");
        wait_for_route(&bird, "10.30.0.0/24", Duration::from_secs(20))?;
        std::thread::sleep(Duration::from_secs(2));
        let after = bird_imports(&bird)?;
        ensure!(
            after == (before.0 + 1, before.1),
            "BIRD's import counters went from {before:?} to {after:?}; expected one update:\n{}",
            bird.birdc("show protocols all")?
        );
        ensure!(route_names(&v)?.contains("new"));
        ensure!(session(&v, BIRD)?.1 >= up1, "the session restarted");

        // 2a. The same route changed in place (a next hop added), and back:
        // replaced, never withdrawn in between.
        let with_nh = changed.replace(
            "prefix = \"10.30.0.0/24\"\n",
            "prefix = \"10.30.0.0/24\"\nnext_hop = \"10.10.0.254\"\n",
        );
        std::fs::write(&path, &with_nh)?;
        let out = v.ctl(&["reload"])?;
        ensure!(
            out.contains("~ route new 10.30.0.0/24 via 10.10.0.254"),
            "{out}"
        );
        std::fs::write(&path, &changed)?;
        v.ctl(&["reload"])?;
        std::thread::sleep(Duration::from_secs(2));
        let now = bird_imports(&bird)?;
        ensure!(
            now.1 == after.1,
            "a route changed in place was withdrawn: BIRD's counters {after:?} -> {now:?}"
        );
        ensure!(bird.routes()?.iter().any(|r| r.prefix == "10.30.0.0/24"));
        let after = now;

        // 2b. A neighbor added, then removed again: only that session
        // starts and stops, BIRD's stays up.
        let up2 = session(&v, BIRD)?.1;
        let with_neighbor = format!(
            "{changed}\n[[bgp.neighbor]]\naddress = \"10.98.0.2\"\nremote_as = 65002\nmode = \"passive\"\n"
        );
        std::fs::write(&path, &with_neighbor)?;
        let out = v.ctl(&["reload"])?;
        ensure!(out.contains("+ bgp neighbor 10.98.0.2 AS 65002"), "{out}");
        let (state, _) = session(&v, Ipv4Addr::new(10, 98, 0, 2))?;
        ensure!(!state.eq_ignore_ascii_case("established"), "{state}");
        std::fs::write(&path, &changed)?;
        let out = v.ctl(&["reload"])?;
        ensure!(out.contains("- bgp neighbor 10.98.0.2"), "{out}");
        ensure!(
            session(&v, Ipv4Addr::new(10, 98, 0, 2)).is_err(),
            "neighbor still there"
        );
        let (state, up3) = session(&v, BIRD)?;
        ensure!(
            state.eq_ignore_ascii_case("established") && up3 >= up2,
            "BIRD's session was disturbed: {state}, uptime {up2} -> {up3}"
        );
        ensure!(
            bird_imports(&bird)? == after,
            "UPDATEs sent to BIRD by a neighbor change"
        );

        // 3. An invalid file: refused with file:line, nothing changed.
        std::fs::write(&path, changed.replace("10.30.0.0/24", "10.30.0.1/33"))?;
        let e = ctl_fails(&v, &["reload"])?;
        ensure!(e.contains("vcped.toml:") && e.contains("unchanged"), "{e}");
        ensure!(route_names(&v)?.contains("new"));
        ensure!(bird.routes()?.iter().any(|r| r.prefix == "10.30.0.0/24"));

        // 4. A change only a restart can make: refused as a whole.
        std::fs::write(
            &path,
            changed
                .replace("asn = 65010", "asn = 65011")
                .replace("name = \"new\"", "name = \"renamed\""),
        )?;
        let e = ctl_fails(&v, &["reload"])?;
        ensure!(e.contains("[router]") && e.contains("Restart"), "{e}");
        ensure!(route_names(&v)?.contains("new"));

        // 5. Back to the original file: the route goes from BIRD again.
        std::fs::write(&path, &text)?;
        v.ctl(&["reload"])?;
        wait_for_no_route(&bird, "10.30.0.0/24", Duration::from_secs(20))?;
        Ok(())
    })();
    if r.is_err() {
        v.daemon.print_log();
        eprintln!("--- bird ---\n{}", bird.log());
    }
    r
}
