//! `vcped check-config` refuses everything `vcped run` refuses (issue 17
//! item 2): every config mistake `run` stops at is run through both, and
//! both must refuse it with the same file:line message; a valid config
//! passes check-config.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anyhow::{Result, ensure};
use vcpe_tests::{Lab, cargo_bin, require_root};

const PRIVATE: &str = "SFjSRdNp3NNlvNYOczlsHd63oQ5e0akCyI1dOZ+TJWk=";
const PUBLIC: &str = "UTvkses05VGojfCa+qXEnOUD38+pWFyGRvceUhSErjo=";

fn base(socket: &Path) -> String {
    format!(
        "[router]\nid = \"10.96.0.1\"\nasn = 65001\n\n[control]\nsocket = \"{}\"\n\n\
         [kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.96.0.1/24\"]\n\n",
        socket.display()
    )
}

fn wg_peer(name: &str, endpoint: &str) -> String {
    format!(
        "[[peer]]\nname = \"{name}\"\nendpoint = \"{endpoint}\"\nprivate_key_file = \"wg.key\"\n\
         public_key = \"{PUBLIC}\"\nallowed_prefixes = []\n\n"
    )
}

/// (what is wrong, the config, a fragment of the refusal).
fn refusals(socket: &Path) -> Vec<(&'static str, String, &'static str)> {
    let b = base(socket);
    vec![
        (
            "a control group that does not exist",
            b.replace("[control]\n", "[control]\ngroup = \"vcpe-no-such-group\"\n"),
            "group 'vcpe-no-such-group' does not exist",
        ),
        (
            "no interface at all",
            b[..b.find("[[interface]]").unwrap_or(b.len())].to_owned(),
            "no [[interface]]",
        ),
        (
            "two routes with one prefix",
            format!(
                "{b}[[route]]\nname = \"a\"\nprefix = \"10.9.0.0/16\"\ninterface = \"vcpe0\"\n\n\
                 [[route]]\nname = \"b\"\nprefix = \"10.9.0.0/16\"\ninterface = \"vcpe0\"\n"
            ),
            "like route 'a'",
        ),
        (
            "a neighbor at our own address",
            format!("{b}[bgp]\n[[bgp.neighbor]]\naddress = \"10.96.0.1\"\nremote_as = 65002\n"),
            "is our own",
        ),
        (
            "two peers with one public key",
            format!(
                "{b}{}{}",
                wg_peer("vpc02", "198.51.100.2:51820"),
                wg_peer("vpc03", "198.51.100.3:51820")
            ),
            "has the public key of peer 'vpc02'",
        ),
        (
            "a GRE endpoint with a port",
            format!(
                "{b}[[peer]]\nname = \"vpc02\"\nendpoint = \"198.51.100.2:47\"\nencapsulation = \"gre\"\nallowed_prefixes = []\n"
            ),
            "has a port",
        ),
        (
            "an IPv6 endpoint with an IPv4 bind",
            format!(
                "{b}[[peer]]\nname = \"vpc02\"\nendpoint = \"[2001:db8::2]:51820\"\nbind = \"0.0.0.0:51820\"\n\
                 private_key_file = \"wg.key\"\npublic_key = \"{PUBLIC}\"\nallowed_prefixes = []\n"
            ),
            "different address families",
        ),
        (
            "a route to an unknown interface",
            format!(
                "{b}[[route]]\nname = \"a\"\nprefix = \"10.9.0.0/16\"\ninterface = \"nosuch\"\n"
            ),
            "nosuch",
        ),
        ("invalid TOML", format!("{b}[[route]\n"), "invalid TOML"),
    ]
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_config_refuses_every_refusal_of_run() -> Result<()> {
    require_root!();
    let lab = Lab::new("chkcfg")?;
    let ns = lab.netns("vcpe")?;
    let dir = lab.dir();
    vcpe_tests::wg::write_key(&dir.join("wg.key"), PRIVATE)?;
    let socket = dir.join("vcped.sock");
    let path = dir.join("vcped.toml");
    let vcped = cargo_bin("vcped");
    // A valid config passes (the baseline every case breaks).
    std::fs::write(&path, base(&socket))?;
    let ok = std::process::Command::new(&vcped)
        .arg("check-config")
        .arg(&path)
        .output()?;
    ensure!(
        ok.status.success(),
        "the base config is refused: {}",
        stderr(&ok)
    );
    let mut failures = Vec::new();
    for (what, text, fragment) in refusals(&socket) {
        std::fs::write(&path, &text)?;
        let run = ns.exec_timeout(
            [
                vcped.to_str().unwrap_or("vcped"),
                "run",
                "--config",
                path.to_str().unwrap_or_default(),
            ],
            Duration::from_secs(10),
        )?;
        let check = std::process::Command::new(&vcped)
            .arg("check-config")
            .arg(&path)
            .output()?;
        let (r, c) = (stderr(&run), stderr(&check));
        // file:line, as every config error.
        let located = c.contains("vcped.toml:");
        if run.status.success() || !r.contains(fragment) {
            failures.push(format!(
                "{what}: run did not refuse it with {fragment:?}: {r}"
            ));
        }
        if check.status.code() != Some(1) || !c.contains(fragment) || !located {
            failures.push(format!(
                "{what}: check-config exit {:?}, expected 1 with {fragment:?} at file:line: {c}",
                check.status.code()
            ));
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
