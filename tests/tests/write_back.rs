//! Config write-back with real daemons (issue 19): `vcpectl route add` on
//! a symlinked config writes through to the link's target and keeps the
//! link (item 9), and adding a route identical to one present succeeds
//! unchanged while a different route under the same name is still refused
//! (the idempotent add).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anyhow::{Result, ensure};
use vcpe_tests::{Lab, Vcped, cargo_bin, require_root, require_tun};

const CONFIG: &str = r#"# managed by configuration management
[router]
id = "10.255.0.1"
asn = 65001

[kernel]
route_sync = false

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.1/24"]
"#;

fn vcpectl(d: &Vcped, args: &[&str]) -> Result<Output> {
    let mut cmd = std::process::Command::new(cargo_bin("vcpectl"));
    cmd.arg("--socket").arg(&d.socket).args(args);
    vcpe_tests::process::run(&mut cmd, Duration::from_secs(20))
}

fn temps(dir: &Path) -> Result<Vec<String>> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect())
}

#[test]
fn route_add_writes_through_a_symlink_and_an_identical_add_is_unchanged() -> Result<()> {
    require_root!();
    require_tun();
    let lab = Lab::new("wback")?;
    let ns = lab.netns("v")?;
    let d = Vcped::start(&ns, lab.dir(), "wb", CONFIG)?;
    // Configuration management takes the file over: a link to its copy.
    let managed = lab.dir().join("managed");
    std::fs::create_dir(&managed)?;
    let target = managed.join("vcped.toml");
    std::fs::rename(&d.config, &target)?;
    std::os::unix::fs::symlink("managed/vcped.toml", &d.config)?;

    let add = ["route", "add", "lan2", "10.1.8.0/24", "dev", "vcpe0"];
    let out = vcpectl(&d, &add)?;
    ensure!(out.status.success(), "{out:?}");
    let link = std::fs::symlink_metadata(&d.config)?;
    ensure!(
        link.file_type().is_symlink(),
        "the config is no longer a symlink"
    );
    let text = std::fs::read_to_string(&target)?;
    ensure!(
        text.starts_with("# managed by configuration management")
            && text.contains("name = \"lan2\"")
            && text.contains("prefix = \"10.1.8.0/24\""),
        "the link's target did not get the route:\n{text}"
    );
    ensure!(temps(lab.dir())?.is_empty() && temps(&managed)?.is_empty());

    // A retry of the identical route: success, nothing changes.
    let out = vcpectl(&d, &add)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "an identical add failed: {out:?}");
    ensure!(stdout.contains("already present, unchanged"), "{stdout}");
    ensure!(
        std::fs::read_to_string(&target)? == text,
        "the file changed"
    );
    // The same name for another route is still an error.
    let out = vcpectl(&d, &["route", "add", "lan2", "10.1.7.0/24", "dev", "vcpe0"])?;
    ensure!(out.status.code() == Some(1), "{out:?}");
    ensure!(
        String::from_utf8_lossy(&out.stderr).contains("exists already"),
        "{out:?}"
    );
    ensure!(
        std::fs::read_to_string(&target)? == text,
        "the file changed"
    );
    let routes = d.route_list()?;
    ensure!(
        routes.iter().filter(|r| r.name == "lan2").count() == 1,
        "{routes:?}"
    );
    Ok(())
}
