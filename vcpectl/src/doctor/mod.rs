//! `vcpectl doctor`: checks the host a vCPE runs on and says what to fix,
//! one line per check (ok / warn / fail) with the exact command. Runs on
//! the host, not through the daemon; reads the config to know the
//! interfaces, tunnels and socket. Exit 1 if a check fails.
//!
//! `gather.rs` collects [`facts::Facts`] (sysctls, `ip -j` output, the
//! clock, the socket file); `checks.rs` turns them into verdicts with pure
//! functions, unit-tested without a host.

mod checks;
mod facts;
mod gather;

use std::path::Path;

use serde::Serialize;

use crate::Exit;
use checks::{Check, Status};

/// The JSON form: every check and the counts.
#[derive(Debug, Serialize)]
struct Report<'a> {
    config: String,
    checks: &'a [Check],
    ok: usize,
    warn: usize,
    fail: usize,
}

/// `vcpectl doctor --config PATH`. `socket` is vcpectl's `--socket`: when
/// it is not the default, that socket is checked instead of the config's.
pub fn run(config_path: &Path, socket: &Path, json: bool) -> Exit {
    let loaded = vcpe_config::load(config_path);
    let config = loaded.as_ref().ok();
    let error = loaded.as_ref().err().map(ToString::to_string);
    let socket_path = match config {
        Some(c) if socket == Path::new(vcpe_config::DEFAULT_SOCKET) => c.control.socket.clone(),
        _ => socket.to_owned(),
    };
    let facts = gather::gather(config, &socket_path);
    let checks = checks::all(
        config.ok_or(error.as_deref().unwrap_or("unreadable")),
        config_path,
        &socket_path,
        &facts,
    );
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let report = Report {
        config: config_path.display().to_string(),
        checks: &checks,
        ok: count(Status::Ok),
        warn: count(Status::Warn),
        fail: count(Status::Fail),
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(t) => println!("{t}"),
            Err(e) => {
                eprintln!("vcpectl: cannot encode the report: {e}");
                return Exit::Refused;
            }
        }
    } else {
        print!("{}", human(&checks));
        println!(
            "{} ok, {} warn, {} fail",
            report.ok, report.warn, report.fail
        );
    }
    if report.fail > 0 {
        Exit::Refused
    } else {
        Exit::Ok
    }
}

/// One line per check, the fix under it.
fn human(checks: &[Check]) -> String {
    let w = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        out += &format!("{status:<4}  {:<w$}  {}\n", c.name, c.message);
        if let Some(fix) = &c.fix {
            out += &format!("      {:<w$}  fix: {fix}\n", "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_is_one_line_and_its_fix_the_next() {
        let checks = [
            Check {
                name: "ip_forward".into(),
                status: Status::Fail,
                message: "off".into(),
                fix: Some("sysctl -w net.ipv4.ip_forward=1".into()),
            },
            Check {
                name: "clock".into(),
                status: Status::Ok,
                message: "synced".into(),
                fix: None,
            },
        ];
        assert_eq!(
            human(&checks),
            "FAIL  ip_forward  off\n                  fix: sysctl -w net.ipv4.ip_forward=1\nok    clock       synced\n"
        );
    }
}
