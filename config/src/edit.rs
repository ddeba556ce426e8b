//! Editing the config file in place: adding and removing `[[route]]`
//! entries, and a neighbor's persisted drain (`enabled = false`,
//! `shutdown_message`), with `toml_edit`, so that every comment, blank line and key
//! order the operator wrote stays as it was, and writing the result
//! atomically ([`write_atomic`]).
//!
//! Every edit is checked by parsing the edited text with [`crate::parse`]:
//! the caller gets the new text only together with the validated config it
//! means, so what is written and what runs cannot drift apart.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use crate::model::{Config, RouteTarget, StaticRoute};

/// Why an edit could not be made; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file on disk is not TOML (edited by hand since it was loaded?).
    #[error("{file}: not valid TOML ({detail}); fix the file, then retry")]
    Syntax {
        /// The file.
        file: String,
        /// What the TOML parser said.
        detail: String,
    },
    /// `route` exists but is not an array of tables (`[[route]]`).
    #[error("{file}: 'route' is not a list of [[route]] tables; fix the file, then retry")]
    Shape {
        /// The file.
        file: String,
    },
    /// No `[[route]]` with that name in the file.
    #[error("{file}: no [[route]] named {name:?}")]
    NoSuchRoute {
        /// The file.
        file: String,
        /// The name asked for.
        name: String,
    },
    /// No `[[bgp.neighbor]]` with that address in the file.
    #[error("{file}: no [[bgp.neighbor]] with address {address}")]
    NoSuchNeighbor {
        /// The file.
        file: String,
        /// The address asked for.
        address: std::net::IpAddr,
    },
    /// The edited file would not be a valid config (every problem listed).
    #[error("the edited config would be invalid, so it was not written:\n{0}")]
    Invalid(crate::Diagnostics),
    /// Reading or writing the file failed.
    #[error("{what} {file}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        file: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// An edited config: the new file text and the config it parses to.
#[derive(Debug)]
pub struct Edited {
    /// The full new file text.
    pub text: String,
    /// `text`, parsed and validated.
    pub config: Config,
}

fn document(source: &str, file: &Path) -> Result<DocumentMut, EditError> {
    source
        .parse::<DocumentMut>()
        .map_err(|e| EditError::Syntax {
            file: file.display().to_string(),
            detail: e.message().trim_end().to_owned(),
        })
}

fn finish(doc: &DocumentMut, file: &Path) -> Result<Edited, EditError> {
    let text = doc.to_string();
    let config = crate::parse(&text, file).map_err(EditError::Invalid)?;
    Ok(Edited { text, config })
}

/// The `[[route]]` array of `doc`, created (at the end) if absent.
fn routes_mut<'d>(
    doc: &'d mut DocumentMut,
    file: &Path,
) -> Result<&'d mut ArrayOfTables, EditError> {
    let item = doc
        .as_table_mut()
        .entry("route")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    item.as_array_of_tables_mut()
        .ok_or_else(|| EditError::Shape {
            file: file.display().to_string(),
        })
}

/// The `[[route]]` table of `route`, keys in the documented order.
fn route_table(route: &StaticRoute) -> Table {
    let mut t = Table::new();
    t.insert("name", value(route.name.as_str()));
    t.insert("prefix", value(route.prefix.to_string()));
    if let Some(nh) = route.next_hop {
        t.insert("next_hop", value(nh.to_string()));
    }
    match &route.target {
        RouteTarget::Interface(i) => t.insert("interface", value(i.as_str())),
        RouteTarget::Peer(p) => t.insert("peer", value(p.as_str())),
        RouteTarget::Peers(ps) => t.insert(
            "peers",
            value(ps.iter().map(String::as_str).collect::<toml_edit::Array>()),
        ),
    };
    t.insert("advertise", value(route.advertise));
    let a = &route.attrs;
    if let Some(med) = a.med {
        t.insert("med", value(i64::from(med)));
    }
    let strings = |v: Vec<String>| value(v.into_iter().collect::<toml_edit::Array>());
    if !a.communities.is_empty() {
        t.insert(
            "communities",
            strings(a.communities.iter().map(ToString::to_string).collect()),
        );
    }
    if !a.large_communities.is_empty() {
        t.insert(
            "large_communities",
            strings(
                a.large_communities
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
        );
    }
    if a.prepend > 0 {
        t.insert("prepend", value(i64::from(a.prepend)));
    }
    t
}

/// `source` (the text of `file`) with `route` appended as a new
/// `[[route]]` after the last one (or at the end of the file).
pub fn add_route(source: &str, file: &Path, route: &StaticRoute) -> Result<Edited, EditError> {
    let mut doc = document(source, file)?;
    let routes = routes_mut(&mut doc, file)?;
    let mut table = route_table(route);
    // A blank line before the new table, as a person would write it.
    table.decor_mut().set_prefix("\n");
    routes.push(table);
    finish(&doc, file)
}

/// `source` (the text of `file`) without the `[[route]]` named `name`
/// (and the comment lines directly above it, which belong to it).
pub fn remove_route(source: &str, file: &Path, name: &str) -> Result<Edited, EditError> {
    let mut doc = document(source, file)?;
    let routes = routes_mut(&mut doc, file)?;
    let index = routes
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(|| EditError::NoSuchRoute {
            file: file.display().to_string(),
            name: name.to_owned(),
        })?;
    routes.remove(index);
    if routes.is_empty() {
        doc.as_table_mut().remove("route");
    }
    finish(&doc, file)
}

/// `source` (the text of `file`) with the `[[bgp.neighbor]]` of `address`
/// disabled (`enabled = false`, and `shutdown_message` when given) or
/// enabled again (both keys removed: `enabled` defaults to true).
pub fn set_neighbor_enabled(
    source: &str,
    file: &Path,
    address: std::net::IpAddr,
    enabled: bool,
    message: Option<&str>,
) -> Result<Edited, EditError> {
    let mut doc = document(source, file)?;
    let missing = || EditError::NoSuchNeighbor {
        file: file.display().to_string(),
        address,
    };
    let neighbors = doc
        .get_mut("bgp")
        .and_then(|b| b.get_mut("neighbor"))
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(missing)?;
    let table = neighbors
        .iter_mut()
        .find(|t| {
            t.get("address")
                .and_then(Item::as_str)
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                == Some(address)
        })
        .ok_or_else(missing)?;
    if enabled {
        table.remove("enabled");
        table.remove("shutdown_message");
    } else {
        table.insert("enabled", value(false));
        if let Some(m) = message {
            table.insert("shutdown_message", value(m));
        }
    }
    finish(&doc, file)
}

/// Replaces `path` with `text` so that a crash at any moment leaves either
/// the old or the new file, whole: a temporary file in the same directory,
/// written and fsynced, given the old file's permissions, renamed over
/// `path`, then the directory fsynced so the rename itself is durable.
///
/// A symlinked `path` (e.g. a file managed by configuration management)
/// is written through: the link's final target gets the text, the
/// temporary file is made beside the target and renamed there, and the
/// link stays a link.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), EditError> {
    let io = |what: &'static str, file: &Path| {
        let file = file.display().to_string();
        move |source| EditError::Io { what, file, source }
    };
    let resolved;
    let path = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = fs::canonicalize(path)
                .map_err(io("resolving the symlink (does its target exist?)", path))?;
            resolved.as_path()
        }
        _ => path,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".vcped-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io("creating a temporary file in", dir))?;
    tmp.write_all(text.as_bytes())
        .map_err(io("writing", tmp.path()))?;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o7777;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
            .map_err(io("setting permissions on", tmp.path()))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(io("syncing", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| io("renaming the temporary file over", path)(e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing directory", dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# vcpe in VPC 01 — hand-written, comments matter
[router]
id = "10.0.1.1"   # the router id
asn = 65001

[[interface]]
name = "vcpe0"
addresses = ["10.0.1.1/24"]

# The first static route.
[[route]]
name = "a"
prefix = "10.9.0.0/16"
interface = "vcpe0"

# Trailing comment.
"#;

    fn route(name: &str, prefix: &str, advertise: bool) -> StaticRoute {
        StaticRoute {
            name: name.into(),
            prefix: prefix.parse().expect("prefix"),
            next_hop: Some("10.0.1.254".parse().expect("address")),
            target: RouteTarget::Interface("vcpe0".into()),
            advertise,
            attrs: crate::model::RouteAttrs::default(),
        }
    }

    #[test]
    fn add_keeps_comments_and_layout_and_parses_back() {
        let p = Path::new("vpc01.toml");
        let e = add_route(FILE, p, &route("b", "10.8.0.0/16", true)).expect("edit");
        assert!(
            e.text
                .starts_with(FILE.split("# Trailing").next().unwrap_or_default())
        );
        assert!(e.text.contains("id = \"10.0.1.1\"   # the router id"));
        assert!(e.text.contains("# The first static route."));
        assert!(e.text.contains("# Trailing comment."));
        assert_eq!(e.config.routes.len(), 2);
        assert_eq!(e.config.routes[1], route("b", "10.8.0.0/16", true));
        // And removing it gives the original text back.
        let back = remove_route(&e.text, p, "b").expect("remove");
        assert_eq!(back.text, FILE);
    }

    #[test]
    fn remove_takes_the_comment_above_and_the_last_route_drops_the_array() {
        let p = Path::new("vpc01.toml");
        let e = remove_route(FILE, p, "a").expect("remove");
        assert!(!e.text.contains("The first static route"));
        assert!(!e.text.contains("[[route]]"));
        assert!(e.text.contains("# Trailing comment."));
        assert!(e.config.routes.is_empty());
        let added = add_route(&e.text, p, &route("c", "10.7.0.0/16", false)).expect("add");
        assert_eq!(added.config.routes, vec![route("c", "10.7.0.0/16", false)]);
    }

    #[test]
    fn bad_edits_change_nothing_and_say_why() {
        let p = Path::new("vpc01.toml");
        let e = remove_route(FILE, p, "zz").unwrap_err();
        assert!(e.to_string().contains("no [[route]] named \"zz\""), "{e}");
        // A duplicate name is caught by validation of the edited text.
        let e = add_route(FILE, p, &route("a", "10.8.0.0/16", false)).unwrap_err();
        assert!(matches!(e, EditError::Invalid(_)), "{e}");
        let e = add_route("[router\n", p, &route("b", "10.8.0.0/16", false)).unwrap_err();
        assert!(e.to_string().contains("not valid TOML"), "{e}");
        let e = add_route("route = 1\n", p, &route("b", "10.8.0.0/16", false)).unwrap_err();
        assert!(matches!(e, EditError::Shape { .. }), "{e}");
    }

    const BGP: &str = r#"[router]
id = "10.0.1.1"
asn = 65001

[[interface]]
name = "vcpe0"
addresses = ["10.0.1.1/24"]

[bgp]
listen = "0.0.0.0:179"

# The transit router.
[[bgp.neighbor]]
address = "10.255.0.2"   # keep this comment
remote_as = 65002

[[bgp.neighbor]]
address = "fd00::2"
remote_as = 65003
"#;

    #[test]
    fn a_persisted_drain_is_written_and_undone_in_place() {
        let p = Path::new("vpc01.toml");
        let a: std::net::IpAddr = "10.255.0.2".parse().expect("address");
        let e = set_neighbor_enabled(BGP, p, a, false, Some("maintenance, ticket 42"))
            .expect("disable");
        let bgp = e.config.bgp.as_ref().expect("bgp");
        assert!(!bgp.neighbors[0].enabled && bgp.neighbors[1].enabled);
        assert!(bgp.starts_down(&bgp.neighbors[0]));
        assert_eq!(
            bgp.shutdown_message_for(&bgp.neighbors[0]),
            Some("maintenance, ticket 42")
        );
        assert!(
            e.text
                .contains("address = \"10.255.0.2\"   # keep this comment")
        );
        assert!(e.text.contains("# The transit router."));
        let back = set_neighbor_enabled(&e.text, p, a, true, None).expect("enable");
        assert_eq!(back.text, BGP);
        // The address matches however it is written.
        let v6: std::net::IpAddr = "fd00:0::2".parse().expect("address");
        let e = set_neighbor_enabled(BGP, p, v6, false, None).expect("disable v6");
        assert!(!e.config.bgp.expect("bgp").neighbors[1].enabled);
        let e =
            set_neighbor_enabled(BGP, p, "10.9.9.9".parse().expect("a"), false, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("no [[bgp.neighbor]] with address 10.9.9.9"),
            "{e}"
        );
        // An over-long RFC 9003 message is refused by validation.
        let long = "x".repeat(256);
        let e = set_neighbor_enabled(BGP, p, a, false, Some(&long)).unwrap_err();
        assert!(e.to_string().contains("RFC 9003"), "{e}");
    }

    #[test]
    fn write_atomic_replaces_the_file_and_keeps_its_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("vcped.toml");
        fs::write(&path, "old").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        write_atomic(&path, "new").expect("atomic write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn write_atomic_writes_through_a_symlink_and_keeps_it() {
        let managed = tempfile::tempdir().expect("tempdir");
        let etc = tempfile::tempdir().expect("tempdir");
        let target = managed.path().join("vcped.toml");
        fs::write(&target, "old").expect("write");
        // A relative link, two hops: link -> ../managed/vcped.toml via a
        // second link.
        let hop = etc.path().join("hop.toml");
        std::os::unix::fs::symlink(&target, &hop).expect("symlink");
        let link = etc.path().join("vcped.toml");
        std::os::unix::fs::symlink("hop.toml", &link).expect("symlink");
        write_atomic(&link, "new").expect("atomic write");
        assert_eq!(fs::read_to_string(&target).expect("read"), "new");
        for l in [&link, &hop] {
            let meta = fs::symlink_metadata(l).expect("meta");
            assert!(
                meta.file_type().is_symlink(),
                "{} is no longer a link",
                l.display()
            );
        }
        for dir in [managed.path(), etc.path()] {
            let tmp = fs::read_dir(dir)
                .expect("dir")
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                .count();
            assert_eq!(tmp, 0, "temporary files left in {}", dir.display());
        }
        // A dangling link is refused, and stays as it is.
        fs::remove_file(&target).expect("rm");
        let e = write_atomic(&link, "newer").unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(
            fs::symlink_metadata(&link)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
    }
}
