//! Field by field: every setting that differs between two configs, named
//! as the file names it (`peer vpc02 endpoint`, `bgp neighbor 10.0.0.2
//! import`), with its old and new value, for `vcpectl config diff` and the
//! reload's log line.
//!
//! Both configs are turned into TOML values and walked together; list
//! items (`[[peer]]`, `[[interface]]`, `[[route]]`, `[[bgp.neighbor]]`)
//! are matched by their `name` or `address`, so a reordered file shows no
//! change. Secrets print as their file's path: a key or password file
//! whose contents changed under the same path shows as such.

use serde::{Deserialize, Serialize};
use toml::Value;

use crate::model::Config;

/// One setting that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The setting, e.g. `peer vpc02 endpoint` or `router asn`.
    pub path: String,
    /// As it runs (`None`: not set).
    pub old: Option<String>,
    /// As the file has it (`None`: not set).
    pub new: Option<String>,
}

/// Every setting that differs from `running` to `new`.
pub fn field_changes(running: &Config, new: &Config) -> Vec<FieldChange> {
    let mut out = Vec::new();
    match (Value::try_from(running), Value::try_from(new)) {
        (Ok(a), Ok(b)) => walk("", Some(&a), Some(&b), &mut out),
        _ => {
            if running != new {
                out.push(FieldChange {
                    path: "config".to_owned(),
                    old: None,
                    new: Some("changed".to_owned()),
                });
            }
        }
    }
    // Key and password files print as their path: same path, new
    // contents.
    for p in &running.peers {
        if let Some(n) = new.peers.iter().find(|n| n.name == p.name)
            && n != p
            && !out
                .iter()
                .any(|c| c.path.starts_with(&format!("peer {} ", p.name)))
        {
            out.push(FieldChange {
                path: format!("peer {} key file contents", p.name),
                old: None,
                new: Some("changed".to_owned()),
            });
        }
    }
    if running != new && out.is_empty() {
        out.push(FieldChange {
            path: "key or password file contents".to_owned(),
            old: None,
            new: Some("changed".to_owned()),
        });
    }
    out
}

/// The top-level keys of two items that differ (e.g. `endpoint`, `mtu`
/// of a `[[peer]]`).
pub fn changed_keys<T: Serialize>(old: &T, new: &T) -> Vec<String> {
    let (Ok(Value::Table(a)), Ok(Value::Table(b))) = (Value::try_from(old), Value::try_from(new))
    else {
        return vec!["settings".to_owned()];
    };
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(b.keys().filter(|k| !a.contains_key(*k)).cloned())
        .collect();
    if keys.is_empty() {
        keys.push("key file contents".to_owned());
    }
    keys
}

fn join(path: &str, key: &str) -> String {
    // The model's lists are named as the file's sections.
    let key = match key {
        "peers" => "peer",
        "interfaces" => "interface",
        "routes" => "route",
        "neighbors" => "neighbor",
        k => k,
    };
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path} {key}")
    }
}

/// A list item's name: its `name` or `address`.
fn item_key(v: &Value) -> Option<String> {
    let t = v.as_table()?;
    t.get("name")
        .or_else(|| t.get("address"))
        .map(|k| k.as_str().map_or_else(|| k.to_string(), str::to_owned))
}

/// A value as the file would write it.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Table(_) => "{...}".to_owned(),
        other => other.to_string(),
    }
}

fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (a, b) {
        (Some(Value::Table(x)), Some(Value::Table(y))) => {
            let mut keys: Vec<&String> = x.keys().collect();
            keys.extend(y.keys().filter(|k| !x.contains_key(*k)));
            for k in keys {
                walk(&join(path, k), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y)))
            if !x.is_empty()
                && !y.is_empty()
                && x.iter().chain(y).all(|v| item_key(v).is_some()) =>
        {
            let name = |v: &Value| item_key(v).unwrap_or_default();
            for o in x {
                let n = y.iter().find(|n| name(n) == name(o));
                let p = join(path, &name(o));
                match n {
                    None => out.push(FieldChange {
                        path: p,
                        old: Some("present".to_owned()),
                        new: None,
                    }),
                    Some(n) => walk(&p, Some(o), Some(n), out),
                }
            }
            for n in y.iter().filter(|n| !x.iter().any(|o| name(o) == name(n))) {
                out.push(FieldChange {
                    path: join(path, &name(n)),
                    old: None,
                    new: Some("added".to_owned()),
                });
            }
        }
        (Some(x), Some(y)) if x == y => {}
        (None, None) => {}
        (x, y) => {
            // A whole list item appearing or going is named, not listed
            // field by field.
            let item = |v: Option<&Value>| v.and_then(item_key).is_some();
            out.push(FieldChange {
                path: path.to_owned(),
                old: x.map(|v| {
                    if item(Some(v)) {
                        "present".to_owned()
                    } else {
                        show(v)
                    }
                }),
                new: y.map(|v| {
                    if item(Some(v)) {
                        "added".to_owned()
                    } else {
                        show(v)
                    }
                }),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const BASE: &str = r#"
[router]
id = "10.0.1.1"
asn = 65001
[[interface]]
name = "vcpe0"
addresses = ["10.0.1.1/24"]
[[peer]]
name = "p1"
endpoint = "100.64.0.2"
encapsulation = "gre"
allowed_prefixes = ["10.9.0.0/16"]
[[peer]]
name = "p2"
endpoint = "100.64.0.3"
encapsulation = "gre"
allowed_prefixes = ["10.8.0.0/16"]
[bgp]
listen = "10.0.1.1:179"
[[bgp.neighbor]]
address = "10.0.1.2"
remote_as = 65002
"#;

    fn parse(s: &str) -> Config {
        crate::parse(s, Path::new("t.toml")).expect("valid config")
    }

    fn paths(c: &[FieldChange]) -> Vec<String> {
        c.iter().map(|c| c.path.clone()).collect()
    }

    #[test]
    fn equal_configs_have_no_field_changes() {
        assert!(field_changes(&parse(BASE), &parse(BASE)).is_empty());
    }

    #[test]
    fn each_changed_field_is_named_with_old_and_new_value() {
        let new = BASE
            .replace("asn = 65001", "asn = 65009")
            .replace("\"100.64.0.3\"", "\"100.64.0.4\"")
            .replace("remote_as = 65002", "remote_as = 65002\nmax_prefixes = 10");
        let c = field_changes(&parse(BASE), &parse(&new));
        // Sections in name order.
        assert_eq!(
            paths(&c),
            [
                "bgp neighbor 10.0.1.2 max_prefixes",
                "peer p2 endpoint",
                "router asn",
            ]
        );
        assert_eq!(c[0].old, None);
        assert_eq!(c[0].new.as_deref(), Some("10"));
        assert_eq!(c[1].old.as_deref(), Some("\"100.64.0.3:0\""));
        assert_eq!(c[1].new.as_deref(), Some("\"100.64.0.4:0\""));
        assert_eq!(c[2].old.as_deref(), Some("65001"));
        assert_eq!(c[2].new.as_deref(), Some("65009"));
    }

    #[test]
    fn list_items_are_matched_by_name_not_position() {
        // p1 goes, p3 comes, p2 moves up: only p1 and p3 show.
        let new = BASE
            .replace("name = \"p1\"", "name = \"p3\"")
            .replace("\"100.64.0.2\"", "\"100.64.0.5\"");
        let c = field_changes(&parse(BASE), &parse(&new));
        assert_eq!(paths(&c), ["peer p1", "peer p3"]);
        assert_eq!(c[0].new, None);
        assert_eq!(c[1].old, None);
    }
}
