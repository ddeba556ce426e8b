//! Gathers [`Facts`] from the host `vcpectl doctor` runs on: `/proc/sys`,
//! `ip -j`, `timedatectl` (or `adjtimex(2)`), the control socket's file.
//! Nothing is changed.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use vcpe_config::Config;

use super::facts::{Facts, SocketFact, parse_links, parse_route_get, parse_routes, parse_rules};

/// Runs `ip ARGS` and returns its standard output.
fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` ({e}); install iproute2"))?;
    if !out.status.success() {
        return Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_sysctl(name: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Whether the clock is NTP-synchronized: `timedatectl` when systemd
/// answers, else the kernel's own flag (`adjtimex`: `STA_UNSYNC` clear and
/// no `TIME_ERROR`).
fn ntp() -> Option<(bool, String)> {
    if let Ok(out) = Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        && out.status.success()
    {
        match String::from_utf8_lossy(&out.stdout).trim() {
            "yes" => return Some((true, "timedatectl".into())),
            "no" => return Some((false, "timedatectl".into())),
            _ => {}
        }
    }
    // SAFETY: an all-zero timex with modes 0 only reads the kernel's clock
    // state into the struct we own.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut t) };
    if state < 0 {
        return None;
    }
    let synced = state != libc::TIME_ERROR && t.status & libc::STA_UNSYNC == 0;
    Some((synced, "adjtimex".into()))
}

fn socket(path: &Path) -> SocketFact {
    match std::fs::symlink_metadata(path) {
        Err(_) => SocketFact::Missing,
        Ok(m) if !m.file_type().is_socket() => SocketFact::NotASocket,
        Ok(m) => SocketFact::Present {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        },
    }
}

/// The gid of group `name`, if it exists.
fn group_gid(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` outlives it;
    // getgrnam_r writes only into `grp` and `buf`.
    let rc = unsafe {
        libc::getgrnam_r(
            c.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

/// Everything the checks need, for `config` (if it loaded) and the control
/// socket at `socket_path`.
pub fn gather(config: Option<&Config>, socket_path: &Path) -> Facts {
    let links = ip(&["-j", "-d", "addr", "show"]).and_then(|j| parse_links(&j));
    let mut sysctl = BTreeMap::new();
    let mut names = vec![
        "net.ipv4.ip_forward".to_owned(),
        "net.ipv6.conf.all.forwarding".to_owned(),
        "net.ipv4.conf.all.rp_filter".to_owned(),
        "net.ipv4.conf.default.rp_filter".to_owned(),
    ];
    if let Ok(l) = &links {
        names.extend(
            l.iter()
                .map(|l| format!("net.ipv4.conf.{}.rp_filter", l.name)),
        );
    }
    for n in names {
        if let Some(v) = read_sysctl(&n) {
            sysctl.insert(n, v);
        }
    }
    let routes = ip(&["-j", "route", "show", "table", "all"])
        .and_then(|j| parse_routes(&j))
        .unwrap_or_default();
    let rules = ip(&["-j", "rule", "show"])
        .and_then(|j| parse_rules(&j))
        .unwrap_or_default();
    let mut route_to = BTreeMap::new();
    for p in config.iter().flat_map(|c| &c.peers) {
        let Some(ep) = p.fixed_endpoint().map(|e| e.ip()) else {
            continue;
        };
        let dev = ip(&["-j", "route", "get", &ep.to_string()])
            .ok()
            .and_then(|j| parse_route_get(&j));
        route_to.insert(ep, dev);
    }
    Facts {
        sysctl,
        links,
        routes,
        rules,
        route_to,
        ntp: ntp(),
        socket: socket(socket_path),
        group_gid: config
            .and_then(|c| c.control.group.as_deref())
            .and_then(group_gid),
    }
}
