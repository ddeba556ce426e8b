//! A stopping vcped says goodbye: on SIGTERM every BGP session ends with a
//! Cease / Administrative Shutdown NOTIFICATION (RFC 4486, with an RFC
//! 9003 message), so a BIRD peer logs why instead of a lost connection,
//! and vcped exits cleanly.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use vcpe_tests::peers::{BgpPeer, Bird, PeerSpec, wait_established};
use vcpe_tests::{Lab, Vcped, names::ifname, pid_alive, require_root, wait_until};

const VCPE: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 10);
const BIRD: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);

fn config(socket: &std::path::Path, tun: &str) -> String {
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
name = "bgp-lan"
prefix = "10.97.0.0/24"
interface = "{tun}"

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "{BIRD}"
remote_as = 65001
hold_time = 9
"#,
        socket = socket.display()
    )
}

#[test]
fn sigterm_ends_sessions_with_cease_administrative_shutdown() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgpstop")?;
    let vns = lab.netns("vcpe")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    bns.addr("eth0", &format!("{BIRD}/24"))?;
    let tun = ifname();
    let socket = lab.dir().join("vcped.sock");
    let mut v = Vcped::start(&vns, lab.dir(), "vcped", &config(&socket, &tun))?;
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
        let pid = v.daemon.pid();
        let t0 = Instant::now();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .context("running kill")?;
        ensure!(killed.success(), "kill -TERM {pid} failed");
        ensure!(
            wait_until(Duration::from_secs(10), || !pid_alive(pid)),
            "vcped still runs 10 s after SIGTERM"
        );
        let took = t0.elapsed();
        let status = v.daemon.stop();
        ensure!(
            status.is_some_and(|s| s.success()),
            "vcped exited with {status:?} on SIGTERM"
        );
        let proto = format!("n_{}", VCPE.to_string().replace('.', "_"));
        let mut shown = String::new();
        let told = wait_until(Duration::from_secs(10), || {
            shown = bird
                .birdc(&format!("show protocols all {proto}"))
                .unwrap_or_default();
            shown.contains("Administrative shutdown")
        });
        ensure!(
            told,
            "BIRD did not hear a Cease / Administrative Shutdown:\n{shown}"
        );
        ensure!(
            v.daemon.log().contains("BGP sessions closed"),
            "vcped did not log its BGP shutdown"
        );
        eprintln!(
            "bgp_shutdown: vcped exited {:.2} s after SIGTERM; BIRD: {}",
            took.as_secs_f64(),
            shown
                .lines()
                .find(|l| l.contains("Last error") || l.contains("shutdown"))
                .unwrap_or("")
                .trim()
        );
        Ok(())
    })();
    if r.is_err() {
        eprintln!("--- vcped ---\n{}", v.daemon.log());
        eprintln!("--- bird ---\n{}", bird.log());
    }
    r
}
