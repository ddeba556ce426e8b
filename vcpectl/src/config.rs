//! `vcpectl reload` and `vcpectl config diff`: what differs between the
//! running config and the file, applied or only shown; `config apply`,
//! `confirm`, `history` and `rollback`: a new file applied (and reverted
//! unless confirmed), the versions kept.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use vcpe_api::RouteSpec;
use vcpe_api::{Applied, ConfigChanges, HistoryEntry, PendingConfirm, Request};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// What `vcpectl reload` would change: running config vs the file.
    Diff,
    /// Validate FILE, write it over the running config file (atomically)
    /// and reload; with --confirm, vcped reverts to the previous file
    /// unless `vcpectl config confirm` comes within MINUTES (also when
    /// this vcpectl or the SSH session goes away).
    Apply {
        /// The new config file.
        file: PathBuf,
        /// Revert after MINUTES unless `vcpectl config confirm`
        /// (fractions allowed: 0.5 is 30 s).
        #[arg(long, value_name = "MINUTES", value_parser = minutes)]
        confirm: Option<u32>,
    },
    /// Keep the config applied with `config apply --confirm`.
    Confirm,
    /// The applied versions kept: number, when, who, what changed.
    History,
    /// Apply version N of `config history` again (as `config apply`).
    Rollback {
        /// The version number.
        version: u64,
        /// Revert after MINUTES unless `vcpectl config confirm`
        /// (fractions allowed: 0.5 is 30 s).
        #[arg(long, value_name = "MINUTES", value_parser = minutes)]
        confirm: Option<u32>,
    },
}

/// The request of a `config` command; the text of FILE is read here (the
/// daemon may not see the operator's files) and validated by vcped.
pub fn request(command: ConfigCommand) -> Result<Request, String> {
    Ok(match command {
        ConfigCommand::Diff => Request::ConfigDiff,
        ConfigCommand::Apply { file, confirm } => Request::ConfigApply {
            text: std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?,
            source: absolute(&file).display().to_string(),
            confirm_secs: confirm,
        },
        ConfigCommand::Confirm => Request::ConfigConfirm,
        ConfigCommand::History => Request::ConfigHistory,
        ConfigCommand::Rollback { version, confirm } => Request::ConfigRollback {
            to: version,
            confirm_secs: confirm,
        },
    })
}

/// MINUTES as whole seconds, 1 s to a day.
fn minutes(s: &str) -> Result<u32, String> {
    let m: f64 = s
        .parse()
        .map_err(|_| format!("{s} is not a number of minutes; write e.g. 5 or 0.5"))?;
    let secs = (m * 60.0).round();
    if !(1.0..=86_400.0).contains(&secs) {
        return Err(format!(
            "{s} minutes: give a time from 1 s (0.02) to a day (1440)"
        ));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(secs as u32)
}

fn absolute(file: &Path) -> PathBuf {
    std::path::absolute(file).unwrap_or_else(|_| file.to_owned())
}

/// Seconds since the Unix epoch.
fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2026-12-07 08:51:47 UTC` (civil date from days since the epoch).
pub fn utc(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn pending_line(p: &PendingConfirm, now: u64) -> String {
    let left = p.deadline_unix.saturating_sub(now);
    format!(
        "version {} reverts to version {} at {} (in {}m{:02}s) unless `vcpectl config confirm`\n",
        p.version,
        p.previous,
        utc(p.deadline_unix),
        left / 60,
        left % 60
    )
}

/// The human form of `config apply` / `config rollback`.
pub fn applied(a: &Applied) -> String {
    let mut out = changes(&a.file, true, &a.changes);
    out += &format!("applied as version {}\n", a.version);
    if let Some(p) = &a.pending {
        out += &pending_line(p, now_unix());
    }
    out
}

/// The human form of `config history`, oldest first.
pub fn history(
    file: &str,
    directory: &str,
    entries: &[HistoryEntry],
    pending: Option<&PendingConfirm>,
) -> String {
    let mut out = format!("{file}: {} version(s) kept in {directory}\n", entries.len());
    use crate::table::{Align, Table};
    let mut t = Table::new(&[
        ("VERSION", Align::Right),
        ("WHEN", Align::Left),
        ("WHO", Align::Left),
        ("SOURCE", Align::Left),
        ("CHANGES", Align::Left),
    ]);
    for e in entries {
        {
            let who = match (&e.user, e.uid) {
                (Some(u), _) => u.clone(),
                (None, Some(uid)) => format!("uid {uid}"),
                (None, None) => "vcped".into(),
            };
            let mark = match pending {
                Some(p) if p.version == e.version => " (pending confirm)",
                _ => "",
            };
            t.row([
                e.version.to_string(),
                utc(e.applied_unix),
                who,
                format!("{}{mark}", e.source),
                e.summary.clone(),
            ]);
        }
    }
    out += &t.render();
    if let Some(p) = pending {
        out += &pending_line(p, now_unix());
    }
    out
}

fn route(r: &RouteSpec) -> String {
    let mut s = format!("{} {}", r.name, r.prefix);
    if let Some(nh) = &r.next_hop {
        s += &format!(" via {nh}");
    }
    if let Some(i) = &r.interface {
        s += &format!(" dev {i}");
    }
    if let Some(p) = &r.peer {
        s += &format!(" peer {p}");
    }
    if r.advertise {
        s += " advertise";
    }
    s
}

/// The human form: one `+`/`-`/`~`/`!` line per change, diff style.
pub fn changes(file: &str, applied: bool, c: &ConfigChanges) -> String {
    if c.is_empty() {
        return if applied {
            format!("{file} matches what runs: nothing reloaded, nothing sent to BGP peers\n")
        } else {
            format!("{file} matches what runs\n")
        };
    }
    let mut out = String::new();
    for r in &c.routes_added {
        out += &format!("+ route {}\n", route(r));
    }
    for r in &c.routes_removed {
        out += &format!("- route {}\n", route(r));
    }
    for r in &c.routes_changed {
        out += &format!("~ route {}\n    was {}\n", route(&r.new), route(&r.old));
    }
    for n in &c.neighbors_added {
        out += &format!("+ bgp neighbor {} AS {}\n", n.address, n.remote_as);
    }
    for n in &c.neighbors_removed {
        out += &format!("- bgp neighbor {} AS {}\n", n.address, n.remote_as);
    }
    for n in &c.neighbors_changed {
        out += &format!("~ bgp neighbor {} AS {}\n", n.address, n.remote_as);
    }
    for i in &c.interfaces_added {
        out += &format!("+ interface {i}\n");
    }
    for i in &c.interfaces_removed {
        out += &format!("- interface {i}\n");
    }
    for i in &c.interfaces_changed {
        out += &format!("~ interface {i} (addresses or MTU changed in place)\n");
    }
    for p in &c.peers_added {
        out += &format!("+ peer {p}\n");
    }
    for p in &c.peers_removed {
        out += &format!("- peer {p}\n");
    }
    for p in &c.peers_changed {
        out += &format!("~ peer {p} (changed in place; the other tunnels are not touched)\n");
    }
    for p in &c.peers_replaced {
        out += &format!(
            "~ peer {p} (tunnel replaced: new socket and session; the other tunnels are not touched)\n"
        );
    }
    if !c.fields.is_empty() {
        out += "changed settings (running -> file):\n";
        for f in &c.fields {
            let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "(not set)".to_owned());
            out += &format!("    {}: {} -> {}\n", f.path, v(&f.old), v(&f.new));
        }
    }
    for r in &c.restart_needed {
        out += &format!("! {r} (needs a restart of vcped)\n");
    }
    out += &if applied {
        format!("reloaded from {file}\n")
    } else {
        format!("running config vs {file}; `vcpectl reload` applies it\n")
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcpe_api::NeighborRef;

    #[test]
    fn times_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_630_507), "2026-12-07 08:01:47 UTC");
        assert_eq!(utc(4_107_456_000), "2100-02-28 00:00:00 UTC");
    }

    #[test]
    fn history_names_who_and_marks_the_pending_version() {
        let e = |version, uid: Option<u32>, user: Option<&str>| HistoryEntry {
            version,
            applied_unix: 1_796_546_507,
            uid,
            user: user.map(str::to_owned),
            source: format!("apply /tmp/v{version}.toml"),
            summary: "1 route(s) added".into(),
        };
        let pending = PendingConfirm {
            version: 3,
            previous: 2,
            deadline_unix: now_unix() + 125,
        };
        let text = history(
            "/etc/vcpe/vcped.toml",
            "/etc/vcpe/vcped.history",
            &[
                e(1, None, None),
                e(2, Some(1000), None),
                e(3, Some(0), Some("root")),
            ],
            Some(&pending),
        );
        assert!(text.contains("vcped"), "{text}");
        assert!(text.contains("uid 1000"), "{text}");
        assert!(text.contains("root"), "{text}");
        assert!(
            text.contains("apply /tmp/v3.toml (pending confirm)"),
            "{text}"
        );
        assert!(text.contains("version 3 reverts to version 2"), "{text}");
    }

    #[test]
    fn apply_reads_the_file_and_says_when_it_cannot() {
        let dir = std::env::temp_dir().join(format!("vcpectl-apply-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("new.toml");
        std::fs::write(&f, "# new\n").unwrap();
        let r = request(ConfigCommand::Apply {
            file: f.clone(),
            confirm: Some(300),
        })
        .unwrap();
        let Request::ConfigApply {
            text,
            source,
            confirm_secs,
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(text, "# new\n");
        assert_eq!(source, f.display().to_string());
        assert_eq!(confirm_secs, Some(300));
        assert_eq!(minutes("0.5"), Ok(30));
        assert_eq!(minutes("10"), Ok(600));
        assert!(minutes("0").is_err());
        assert!(minutes("ten").unwrap_err().contains("e.g. 5"));
        let e = request(ConfigCommand::Apply {
            file: dir.join("missing.toml"),
            confirm: None,
        })
        .unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn changes_read_like_a_diff() {
        let r = RouteSpec {
            name: "b".into(),
            prefix: "10.8.0.0/16".into(),
            interface: Some("vcpe0".into()),
            peer: None,
            peers: Vec::new(),
            next_hop: None,
            advertise: true,
        };
        let c = ConfigChanges {
            routes_added: vec![r],
            neighbors_removed: vec![NeighborRef {
                address: "10.0.1.2".into(),
                remote_as: 65002,
            }],
            ..ConfigChanges::default()
        };
        let text = changes("/etc/vcpe/vcped.toml", false, &c);
        assert!(
            text.contains("+ route b 10.8.0.0/16 dev vcpe0 advertise\n"),
            "{text}"
        );
        assert!(
            text.contains("- bgp neighbor 10.0.1.2 AS 65002\n"),
            "{text}"
        );
        assert!(text.ends_with("`vcpectl reload` applies it\n"), "{text}");
        let c = ConfigChanges {
            fields: vec![vcpe_api::FieldChange {
                path: "bgp neighbor 10.0.1.2 max_prefixes".into(),
                old: None,
                new: Some("10".into()),
            }],
            ..ConfigChanges::default()
        };
        let text = changes("f.toml", false, &c);
        assert!(
            text.contains("    bgp neighbor 10.0.1.2 max_prefixes: (not set) -> 10\n"),
            "{text}"
        );
        let same = changes("f.toml", true, &ConfigChanges::default());
        assert!(same.contains("nothing sent to BGP peers"), "{same}");
    }
}
