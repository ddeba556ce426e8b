//! A persisted drain: `vcpectl bgp disable ADDR --persist --message TEXT`
//! ends the session with a Cease / Administrative Shutdown carrying the
//! RFC 9003 message (BIRD shows it), writes `enabled = false` into the
//! config file, and the neighbor stays down across a restart of vcped;
//! `bgp enable --persist` brings it back and removes the key.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::peers::{BgpPeer, Bird, PeerSpec, wait_established};
use vcpe_tests::{Lab, Vcped, names::ifname, require_root, wait_until};

const VCPE: Ipv4Addr = Ipv4Addr::new(10, 95, 0, 10);
const BIRD: Ipv4Addr = Ipv4Addr::new(10, 95, 0, 1);
const MESSAGE: &str = "maintenance until 14:00 UTC, ticket 42";

fn config(tun: &str) -> String {
    format!(
        r#"[router]
id = "{VCPE}"
asn = 65010

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

[bgp]
listen = "0.0.0.0:179"

# BIRD, the transit router.
[[bgp.neighbor]]
address = "{BIRD}"
remote_as = 65001
hold_time = 9
"#
    )
}

fn state(v: &Vcped) -> Result<String> {
    let n = v.bgp_summary()?;
    Ok(n.first().context("no neighbor")?.state.clone())
}

#[test]
fn a_persisted_drain_survives_a_restart_and_carries_the_rfc9003_message() -> Result<()> {
    require_root!();
    let lab = Lab::new("bgpdrain")?;
    let vns = lab.netns("vcpe")?;
    let bns = lab.netns("bird")?;
    lab.veth(&vns, "eth0", &bns, "eth0")?;
    vns.addr("eth0", &format!("{VCPE}/24"))?;
    bns.addr("eth0", &format!("{BIRD}/24"))?;
    let tun = ifname();
    let v = Vcped::start(&vns, lab.dir(), "vcped", &config(&tun))?;
    let spec = PeerSpec::one_neighbor(
        65001,
        BIRD,
        IpAddr::V4(VCPE),
        65010,
        &["10.201.0.0/24"],
        lab.dir(),
    );
    let bird = Bird::start(&bns, &spec)?;
    let mut v = Some(v);
    let r = (|| -> Result<()> {
        let vc = v.as_ref().context("vcped")?;
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        let out = vc.ctl(&[
            "bgp",
            "disable",
            &BIRD.to_string(),
            "--persist",
            "--message",
            MESSAGE,
        ])?;
        ensure!(out.contains("saved in"), "{out}");
        let proto = format!("n_{}", VCPE.to_string().replace('.', "_"));
        let mut shown = String::new();
        let told = wait_until(Duration::from_secs(10), || {
            shown = bird
                .birdc(&format!("show protocols all {proto}"))
                .unwrap_or_default();
            shown.contains("Administrative shutdown")
        });
        ensure!(told, "BIRD heard no Administrative Shutdown:\n{shown}");
        ensure!(
            shown.contains(MESSAGE) || bird.log().contains(MESSAGE),
            "BIRD did not get the RFC 9003 message:\n{shown}\n{}",
            bird.log()
        );
        let file = std::fs::read_to_string(&vc.config)?;
        ensure!(
            file.contains("enabled = false")
                && file.contains(&format!("shutdown_message = \"{MESSAGE}\""))
                && file.contains("# BIRD, the transit router."),
            "drain not written as expected:\n{file}"
        );

        // Restart vcped from the file it wrote: the neighbor stays down.
        let text = file;
        if let Some(mut old) = v.take() {
            old.daemon.stop();
        }
        v = Some(Vcped::start(&vns, lab.dir(), "vcped", &text)?);
        let vc = v.as_ref().context("vcped")?;
        let held = !wait_until(Duration::from_secs(8), || {
            state(vc).is_ok_and(|s| !s.starts_with("Idle (admin)"))
                || bird.established(IpAddr::V4(VCPE)).unwrap_or(false)
        });
        ensure!(
            held,
            "the drained neighbor came up after the restart: {}",
            state(vc)?
        );

        // Enable --persist: up again and the keys are gone.
        let out = vc.ctl(&["bgp", "enable", &BIRD.to_string(), "--persist"])?;
        ensure!(out.contains("saved in"), "{out}");
        wait_established(&bird, IpAddr::V4(VCPE), Duration::from_secs(40))?;
        let file = std::fs::read_to_string(&vc.config)?;
        ensure!(
            !file.contains("enabled") && !file.contains("shutdown_message"),
            "enable --persist left the drain in the file:\n{file}"
        );
        Ok(())
    })();
    if r.is_err() {
        if let Some(v) = &v {
            eprintln!("--- vcped ---\n{}", v.daemon.log());
        }
        eprintln!("--- bird ---\n{}", bird.log());
    }
    r
}
