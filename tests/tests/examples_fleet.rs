//! The example config set of README's "Growing from a mesh to reflectors"
//! (`examples/fleet/`, `examples/reflector.toml`) is what each program
//! accepts: vcped's `check-config`, BIRD's `bird -p` and FRR's `bgpd
//! --dryrun`; and the set is one fleet: the vCPE's neighbors are the two
//! reflectors, in its AS, and each reflector has the vCPE as a client.
//! The routing itself (vCPEs behind BIRD and FRR reflectors, a vcped hub)
//! runs in `fleet_reflectors.rs` and `hub_reflector.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{cargo_bin, require_tool};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// Runs `cmd`; its status and all of its output.
fn run(cmd: &mut Command) -> Result<(bool, String)> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// Git keeps no file modes; vcped refuses a key readable by others.
fn chmod_keys() -> Result<()> {
    for key in ["vpc01.key", "vpc02.key", "vpc03.key"] {
        std::fs::set_permissions(
            example("keys").join(key),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )?;
    }
    Ok(())
}

#[test]
fn vcped_accepts_the_fleet_vcpe_and_the_hub_reflector() -> Result<()> {
    chmod_keys()?;
    for file in ["fleet/vpc01.toml", "reflector.toml"] {
        let (ok, text) = run(Command::new(cargo_bin("vcped"))
            .args(["check-config", "--elsewhere"])
            .arg(example(file)))?;
        ensure!(ok, "vcped check-config refused {file}:\n{text}");
    }
    Ok(())
}

#[test]
fn bird_accepts_the_bird_reflector() -> Result<()> {
    let bird = require_tool("bird", "apt-get install -y bird2");
    let (ok, text) = run(Command::new(bird)
        .arg("-p")
        .arg("-c")
        .arg(example("fleet/rr-bird.conf")))?;
    ensure!(ok, "bird -p refused rr-bird.conf:\n{text}");
    Ok(())
}

#[test]
fn frr_accepts_the_frr_reflector() -> Result<()> {
    let bgpd = Path::new("/usr/lib/frr/bgpd");
    ensure!(
        bgpd.exists(),
        "{} is missing: apt-get install -y frr",
        bgpd.display()
    );
    let (ok, text) = run(Command::new(bgpd)
        .arg("--dryrun")
        .arg("-f")
        .arg(example("fleet/rr-frr.conf")))?;
    // bgpd --dryrun exits 0 even on errors: it logs them.
    ensure!(
        ok && text.trim().is_empty(),
        "bgpd --dryrun refused rr-frr.conf:\n{text}"
    );
    Ok(())
}

#[test]
fn the_example_set_is_one_fleet() -> Result<()> {
    chmod_keys()?;
    let vcpe =
        vcpe_config::load(&example("fleet/vpc01.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bgp = vcpe.bgp.as_ref().context("vpc01.toml has [bgp]")?;
    let asn = vcpe.router.asn;
    // vCPE 01's underlay address: the endpoint the other vCPEs' examples
    // (examples/vpc0N.toml) use for it.
    let me = "198.51.100.1";
    let bird = std::fs::read_to_string(example("fleet/rr-bird.conf"))?;
    let frr = std::fs::read_to_string(example("fleet/rr-frr.conf"))?;
    ensure!(bgp.neighbors.len() == 2, "two reflectors");
    let mut seen = Vec::new();
    for n in &bgp.neighbors {
        ensure!(n.remote_as == asn, "{}: iBGP, in our AS {asn}", n.address);
        let rr = n.address.to_string();
        let (kind, ok) = if bird.contains(&format!("router id {rr};")) {
            let client = format!("neighbor {me} as {asn}; }}");
            let ok = bird.contains(&format!("local {rr} as {asn};"))
                && bird.contains("rr client;")
                && bird.contains(&client);
            ("bird", ok)
        } else if frr.contains(&format!("bgp router-id {rr}\n")) {
            let ok = frr.contains(&format!("router bgp {asn}\n"))
                && frr.contains(&format!("neighbor {me} peer-group VCPE"))
                && frr.contains("neighbor VCPE route-reflector-client");
            ("frr", ok)
        } else {
            anyhow::bail!("neighbor {rr} is neither example reflector");
        };
        ensure!(
            ok,
            "the {kind} reflector {rr} does not have {me} as a client in AS {asn}"
        );
        seen.push(kind);
    }
    seen.sort_unstable();
    ensure!(
        seen == ["bird", "frr"],
        "one BIRD and one FRR reflector: {seen:?}"
    );
    // Each reflector knows the other as a plain iBGP neighbor.
    ensure!(
        bird.contains("neighbor 198.51.100.251 as 65100;"),
        "rr1 peers with rr2"
    );
    ensure!(
        frr.contains("neighbor 198.51.100.250 remote-as 65100"),
        "rr2 peers with rr1"
    );
    Ok(())
}
