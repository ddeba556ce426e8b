//! `vcpectl tunnel list`: one line per tunnel peer (state, handshake and
//! last packet ages, keepalive, counters, MTU), our public key, then what
//! a state that is not "up" means; `tunnel show NAME`: one peer with
//! everything (keys, endpoint configured, resolved and current);
//! `key pubkey FILE`: the public key of a private key file; `key generate
//! FILE`: a new private key file.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use vcpe_api::view::TunnelInfo;
use vcpe_api::{Client, HandshakeCounters, Reply, Request};

use crate::Exit;
use crate::table::{Align, Table, ago, bytes, duration};

#[derive(Debug, Subcommand)]
pub enum TunnelCommand {
    /// Every tunnel peer: endpoint, encapsulation, state (WireGuard: up,
    /// handshaking or down; GRE is stateless), last handshake, keepalive,
    /// last packet received, packets and bytes each way, MTU; our public
    /// key.
    List,
    /// One tunnel peer in full: both public keys, the endpoint as
    /// configured, as resolved (a hostname) and where packets go now (a
    /// WireGuard peer roams: it follows the peer's latest authenticated
    /// packet), latest handshake time, keepalive, counters, state and why.
    Show {
        /// The peer's name (`[[peer]] name`).
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the public key of a WireGuard private key file (base64, as
    /// `wg pubkey` prints it): what the other end puts in `public_key`.
    Pubkey {
        /// The private key file (`private_key_file`; owner-only mode).
        file: PathBuf,
    },
    /// Write a new random private key to FILE (owner-only, never over an
    /// existing file) and print its public key, for a new peer or a key
    /// rotation: point `private_key_file` at it, give the public key to
    /// the other ends, and reload (as `wg genkey` then `wg pubkey`).
    Generate {
        /// The new key file; must not exist.
        file: PathBuf,
    },
}

/// The request of a `tunnel` command answered by [`list`].
pub fn request(c: TunnelCommand) -> Request {
    match c {
        TunnelCommand::List | TunnelCommand::Show { .. } => Request::TunnelList,
    }
}

/// `vcpectl key ...`: runs here, without the daemon.
pub fn key(c: KeyCommand, json: bool) -> Exit {
    match c {
        KeyCommand::Pubkey { file } => print_public(vcpe_config::load_private_key(&file), json),
        KeyCommand::Generate { file } => {
            print_public(vcpe_config::generate_private_key(&file), json)
        }
    }
}

/// Prints the public key of `key`, or why there is none.
fn print_public(key: Result<vcpe_config::KeyFile, String>, json: bool) -> Exit {
    match key {
        Ok(k) => {
            let public = k.public_key().to_string();
            if json {
                println!("{}", serde_json::json!({ "public_key": public }));
            } else {
                println!("{public}");
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("vcpectl: {e}");
            Exit::Refused
        }
    }
}

/// `vcpectl tunnel show NAME`.
pub fn show(socket: &Path, name: &str, json: bool) -> Exit {
    let reply = match Client::connect(socket).and_then(|mut c| c.call(Request::TunnelList)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vcpectl: {e:#}");
            return Exit::Unreachable;
        }
    };
    let tunnels = match reply {
        Reply::Tunnels { tunnels, .. } => tunnels,
        Reply::Error { message } => {
            eprintln!("vcpectl: {message}");
            return Exit::Refused;
        }
        other => {
            eprintln!("vcpectl: unexpected reply {other:?}");
            return Exit::Refused;
        }
    };
    let Some(t) = tunnels.iter().find(|t| t.name == name) else {
        let names: Vec<&str> = tunnels.iter().map(|t| t.name.as_str()).collect();
        eprintln!(
            "vcpectl: no tunnel peer named '{name}'; the peers are: {} (`vcpectl tunnel list`)",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        );
        return Exit::Refused;
    };
    if json {
        match serde_json::to_string_pretty(t) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("vcpectl: cannot encode the reply: {e}");
                return Exit::Refused;
            }
        }
    } else {
        print!("{}", detail(t));
    }
    Exit::Ok
}

/// The `tunnel show` block of one peer.
pub fn detail(x: &TunnelInfo) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("peer", x.name.clone()),
        ("encapsulation", x.encapsulation.clone()),
        ("state", format!("{}: {}", x.state, x.state_note)),
    ];
    if let Some(k) = &x.public_key {
        lines.push(("public key (ours)", k.clone()));
    }
    if let Some(k) = &x.peer_public_key {
        lines.push(("peer public key", k.clone()));
    }
    let wireguard = x.encapsulation == "wireguard";
    lines.push((
        "endpoint configured",
        x.endpoint_configured.clone().unwrap_or_else(|| {
            if wireguard {
                "none (learned from the peer's first authenticated packet)".to_owned()
            } else {
                "none".to_owned()
            }
        }),
    ));
    if let Some(r) = &x.endpoint_resolved {
        lines.push(("endpoint resolved", r.clone()));
    }
    if let Some(e) = &x.resolve_error {
        lines.push(("resolve error", e.clone()));
    }
    lines.push(("endpoint now", x.endpoint.clone()));
    if let Some(b) = &x.bind {
        lines.push(("bind", b.clone()));
    }
    if wireguard {
        lines.push((
            "latest handshake",
            match (x.last_handshake_secs, x.last_handshake_unix) {
                (Some(s), Some(t)) => format!("{} (unix time {t})", ago(Some(s))),
                (s, _) => ago(s),
            },
        ));
        lines.push((
            "keepalive",
            x.keepalive_secs.map_or_else(
                || "off".to_owned(),
                |k| format!("every {}", duration(u64::from(k))),
            ),
        ));
    }
    lines.push(("last packet received", ago(x.last_rx_secs)));
    lines.push((
        "received",
        format!("{} packets, {}", x.rx_packets, bytes(x.rx_bytes)),
    ));
    lines.push((
        "sent",
        format!("{} packets, {}", x.tx_packets, bytes(x.tx_bytes)),
    ));
    lines.push((
        "errors",
        format!(
            "{} spoofed, {} undecodable received, {} failed sends",
            x.rx_spoofed, x.rx_errors, x.tx_errors
        ),
    ));
    lines.push(("mtu", x.mtu.to_string()));
    lines.push(("allowed prefixes", x.allowed_prefixes.join(", ")));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

/// `vcpectl tunnel list`.
pub fn list(tunnels: &[TunnelInfo], handshakes: Option<&HandshakeCounters>) -> String {
    if tunnels.is_empty() {
        return "no tunnel peers configured ([[peer]] sections)\n".to_owned();
    }
    let mut t = Table::new(&[
        ("PEER", Align::Left),
        ("ENDPOINT", Align::Left),
        ("ENCAP", Align::Left),
        ("STATE", Align::Left),
        ("HANDSHAKE", Align::Right),
        ("KEEPALIVE", Align::Right),
        ("LAST RX", Align::Right),
        ("RX PKTS", Align::Right),
        ("RX BYTES", Align::Right),
        ("TX PKTS", Align::Right),
        ("TX BYTES", Align::Right),
        ("MTU", Align::Right),
    ]);
    for x in tunnels {
        t.row([
            x.name.clone(),
            x.endpoint.clone(),
            x.encapsulation.clone(),
            x.state.clone(),
            if x.encapsulation == "wireguard" {
                ago(x.last_handshake_secs)
            } else {
                "-".to_owned()
            },
            x.keepalive_secs
                .map_or_else(|| "-".to_owned(), |k| format!("{k} s")),
            ago(x.last_rx_secs),
            x.rx_packets.to_string(),
            bytes(x.rx_bytes),
            x.tx_packets.to_string(),
            bytes(x.tx_bytes),
            x.mtu.to_string(),
        ]);
    }
    // Our public key(s) (`wg show` prints the interface's), under the
    // table so that its header stays the first line.
    let mut ours: Vec<&str> = tunnels
        .iter()
        .filter_map(|x| x.public_key.as_deref())
        .collect();
    ours.dedup();
    let mut out = t.render();
    for k in ours {
        out += &format!("public key: {k}\n");
    }
    for x in tunnels
        .iter()
        .filter(|x| x.endpoint_resolved.is_some() || x.resolve_error.is_some())
    {
        out += &format!(
            "{}: endpoint {} resolves to {}{}\n",
            x.name,
            x.endpoint_configured.as_deref().unwrap_or("?"),
            x.endpoint_resolved.as_deref().unwrap_or("nothing yet"),
            x.resolve_error
                .as_deref()
                .map_or_else(String::new, |e| format!(" ({e})")),
        );
    }
    for x in tunnels.iter().filter(|x| x.state != "up") {
        out += &format!("{}: {}: {}\n", x.name, x.state, x.state_note);
    }
    let errors: Vec<String> = tunnels
        .iter()
        .filter(|x| x.rx_spoofed + x.rx_errors + x.tx_errors > 0)
        .map(|x| {
            format!(
                "{}: {} spoofed, {} undecodable received, {} failed sends (`vcpectl stats`)",
                x.name, x.rx_spoofed, x.rx_errors, x.tx_errors
            )
        })
        .collect();
    for e in errors {
        out += &e;
        out.push('\n');
    }
    if let Some(h) = handshakes {
        out += &handshake_lines(h);
    }
    out
}

/// The WireGuard handshake thread in two lines (`vcpectl tunnels`,
/// `vcpectl stats`): whether it is under load (a handshake flood), then
/// its counts.
pub fn handshake_lines(h: &HandshakeCounters) -> String {
    let state = match h.under_load_secs {
        Some(secs) => format!(
            "UNDER LOAD for {secs} s (a handshake flood: every handshake needs a cookie; data is not affected; see the log for the source)"
        ),
        None => "normal".to_owned(),
    };
    format!(
        "wireguard handshakes: {state}; queue {}/{}, under load {} times\n\
         wireguard handshakes: {} accepted, {} cookie replies sent, {} dropped (queue full), {} rate limited, {} refused\n",
        h.queue_depth,
        h.queue_capacity,
        h.under_load_events,
        h.accepted,
        h.cookie_replies_sent,
        h.dropped_queue_full,
        h.rate_limited,
        h.refused,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TunnelInfo {
        TunnelInfo {
            name: "branch".to_owned(),
            encapsulation: "wireguard".to_owned(),
            endpoint: "198.51.100.7:40000".to_owned(),
            bind: Some("0.0.0.0:51820".to_owned()),
            state: "up".to_owned(),
            state_note: "session established 3 s ago".to_owned(),
            last_handshake_secs: Some(3),
            last_rx_secs: Some(0),
            rx_packets: 10,
            rx_bytes: 2048,
            tx_packets: 9,
            tx_bytes: 1024,
            rx_spoofed: 0,
            rx_errors: 1,
            tx_errors: 0,
            mtu: 1420,
            allowed_prefixes: vec!["10.2.0.0/24".to_owned()],
            public_key: Some("OURS=".to_owned()),
            peer_public_key: Some("THEIRS=".to_owned()),
            endpoint_configured: None,
            endpoint_resolved: None,
            resolve_error: None,
            last_handshake_unix: Some(1_700_000_000),
            keepalive_secs: Some(25),
        }
    }

    #[test]
    fn show_has_keys_endpoints_handshake_and_keepalive() {
        let text = detail(&info());
        for line in [
            "public key (ours)     OURS=",
            "peer public key       THEIRS=",
            "endpoint configured   none (learned from the peer's first authenticated packet)",
            "endpoint now          198.51.100.7:40000",
            "latest handshake      3s ago (unix time 1700000000)",
            "keepalive             every 25s",
            "received              10 packets, 2.0 KiB",
        ] {
            assert!(text.lines().any(|l| l == line), "no '{line}' in:\n{text}");
        }
    }

    #[test]
    fn list_shows_a_handshake_flood_under_the_table() {
        let h = HandshakeCounters {
            under_load: true,
            under_load_secs: Some(7),
            under_load_events: 1,
            cookie_replies_sent: 459_000,
            dropped_queue_full: 12,
            accepted: 3,
            queue_depth: 600,
            queue_capacity: 4096,
            ..Default::default()
        };
        let text = list(&[info()], Some(&h));
        assert!(
            text.contains("wireguard handshakes: UNDER LOAD for 7 s"),
            "{text}"
        );
        assert!(
            text.contains("queue 600/4096, under load 1 times"),
            "{text}"
        );
        assert!(
            text.contains("3 accepted, 459000 cookie replies sent, 12 dropped (queue full), 0 rate limited, 0 refused"),
            "{text}"
        );
        let calm = list(&[info()], Some(&HandshakeCounters::default()));
        assert!(calm.contains("wireguard handshakes: normal;"), "{calm}");
    }

    #[test]
    fn list_names_our_key_and_what_hostnames_resolve_to() {
        let mut t = info();
        t.endpoint_configured = Some("hub.example.net:51820".to_owned());
        t.endpoint_resolved = Some("192.0.2.1:51820".to_owned());
        let text = list(&[t], None);
        assert!(
            text.lines().next().unwrap_or("").starts_with("PEER"),
            "{text}"
        );
        assert!(text.contains("public key: OURS=\n"), "{text}");
        assert!(
            text.contains("branch: endpoint hub.example.net:51820 resolves to 192.0.2.1:51820\n"),
            "{text}"
        );
        assert!(text.contains("25 s"), "{text}");
    }
}
