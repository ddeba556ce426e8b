//! Day-two changes applied live by `vcpectl reload` (issue 17 item 1),
//! against real daemons in network namespaces: a policy change on a BGP
//! neighbor (`import`, `export`) is applied softly — BIRD's session is not
//! reset (its "since" time stays), the new filters are in effect on both
//! directions, and undoing them brings the routes back (ROUTE-REFRESH);
//! `config diff` names each changed field; a refused reload exits 1.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::peers::{
    BgpPeer, Bird, PeerSpec, wait_established, wait_for_no_route, wait_for_route,
};
use vcpe_tests::{Lab, Vcped, names::ifname, require_root};

const VCPE: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 10);
const BIRD: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);

fn config(socket: &Path, tun: &str, policy: &str) -> String {
    format!(
        r#"[router]
id = "{VCPE}"
asn = 65010

[control]
socket = "{socket}"

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.10.0.1/16"]

[[route]]
name = "vxnet-a"
prefix = "10.10.0.0/16"
interface = "{tun}"
advertise = true

[[route]]
name = "extra"
prefix = "10.30.0.0/24"
interface = "{tun}"
advertise = true

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
{policy}
"#,
        socket = socket.display()
    )
}

/// BIRD's "since" field of its session with vcped (changes on any reset).
fn bird_since(bird: &Bird) -> Result<String> {
    let name = format!("n_{}", VCPE.to_string().replace('.', "_"));
    let out = bird.birdc(&format!("show protocols {name}"))?;
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(&name))
        .with_context(|| format!("no protocol {name} in:\n{out}"))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    ensure!(
        f.len() >= 6 && f[5].eq_ignore_ascii_case("established"),
        "BIRD's session is not established: {line}"
    );
    Ok(format!("{} {}", f[3], f[4]))
}

/// vcped's session with BIRD: (state, seconds since it came up).
fn vcped_session(v: &Vcped) -> Result<(String, u64)> {
    let n = v
        .bgp_summary()?
        .into_iter()
        .find(|n| n.address == BIRD.to_string())
        .context("BIRD is not in bgp summary")?;
    Ok((n.state, n.since_secs.unwrap_or(0)))
}

/// Waits until vcped's BGP RIB has (`want`) or lacks (`!want`) `prefix`.
fn wait_vcped_route(v: &Vcped, prefix: &str, want: bool, timeout: Duration) -> Result<()> {
    let end = Instant::now() + timeout;
    loop {
        let has = !v.show_route(&[prefix])?.rows(prefix).is_empty();
        if has == want {
            return Ok(());
        }
        if Instant::now() > end {
            bail!(
                "vcped's BGP RIB {} {prefix} after {timeout:?}:\n{}",
                if want { "still lacks" } else { "still has" },
                v.ctl(&["show", "route"])?
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_policy_change_is_applied_softly_against_bird() -> Result<()> {
    require_root!();
    let lab = Lab::new("softpol")?;
    let vns = lab.netns("vcpe")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    bns.addr("eth0", &format!("{BIRD}/24"))?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let open = config(&socket, &tun, "");
    let v = Vcped::start(&vns, lab.dir(), "vcped", &open)?;
    let spec = PeerSpec::one_neighbor(
        65001,
        BIRD,
        IpAddr::V4(VCPE),
        65010,
        &["10.201.0.0/24", "10.202.0.0/24"],
        lab.dir(),
    );
    let bird = Bird::start(&bns, &spec)?;
    let path = v.config.clone();
    wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
    for p in ["10.10.0.0/16", "10.30.0.0/24"] {
        wait_for_route(&bird, p, Duration::from_secs(20))?;
    }
    for p in ["10.201.0.0/24", "10.202.0.0/24"] {
        wait_vcped_route(&v, p, true, Duration::from_secs(20))?;
    }
    // A second apart, so that a reset would show in BIRD's "since".
    std::thread::sleep(Duration::from_secs(2));
    let since = bird_since(&bird)?;
    let (_, up0) = vcped_session(&v)?;

    // Narrower policies both ways.
    let narrow = config(
        &socket,
        &tun,
        "import = [\"10.201.0.0/24\"]\nexport = [\"10.10.0.0/16\"]\nmax_prefixes = 100",
    );
    std::fs::write(&path, &narrow)?;
    let diff = v.ctl(&["config", "diff"])?;
    ensure!(
        diff.contains("bgp neighbor 10.97.0.1 export: (not set) -> [\"10.10.0.0/16\"]")
            && diff.contains("bgp neighbor 10.97.0.1 max_prefixes: (not set) -> 100"),
        "config diff does not name the fields:\n{diff}"
    );
    let out = v.ctl(&["reload"])?;
    ensure!(out.contains("~ bgp neighbor 10.97.0.1"), "{out}");
    wait_for_no_route(&bird, "10.30.0.0/24", Duration::from_secs(10))?;
    wait_vcped_route(&v, "10.202.0.0/24", false, Duration::from_secs(10))?;
    ensure!(
        bird.routes()?.iter().any(|r| r.prefix == "10.10.0.0/16"),
        "the route the new export keeps was withdrawn"
    );
    ensure!(
        !v.show_route(&["10.201.0.0/24"])?
            .rows("10.201.0.0/24")
            .is_empty()
    );
    v.daemon
        .wait_for_log("session kept", Duration::from_secs(5))?;

    // Undone: the routes come back (ROUTE-REFRESH for the import).
    std::fs::write(&path, &open)?;
    v.ctl(&["reload"])?;
    wait_for_route(&bird, "10.30.0.0/24", Duration::from_secs(10))?;
    wait_vcped_route(&v, "10.202.0.0/24", true, Duration::from_secs(10))?;

    let after = bird_since(&bird)?;
    ensure!(
        after == since,
        "BIRD's session was reset by a policy change: since {since} -> {after}"
    );
    let (state, up1) = vcped_session(&v)?;
    ensure!(
        state.eq_ignore_ascii_case("established") && up0 >= 2 && up1 >= up0,
        "vcped's session was reset: {state}, up {up0} s -> {up1} s"
    );
    Ok(())
}

#[test]
fn a_refused_reload_exits_non_zero_and_names_the_router_fields() -> Result<()> {
    require_root!();
    let lab = Lab::new("refused")?;
    let vns = lab.netns("vcpe")?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let text = config(&socket, &tun, "");
    let v = Vcped::start(&vns, lab.dir(), "vcped", &text)?;
    std::fs::write(&v.config, text.replace("asn = 65010", "asn = 65011"))?;
    let diff = v.ctl(&["config", "diff"])?;
    ensure!(diff.contains("router asn: 65010 -> 65011"), "{diff}");
    let out = std::process::Command::new(vcpe_tests::cargo_bin("vcpectl"))
        .arg("--socket")
        .arg(&v.socket)
        .arg("reload")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && err.contains("[router]") && err.contains("restart"),
        "reload of a new AS: exit {:?}, {err}",
        out.status.code()
    );
    Ok(())
}
