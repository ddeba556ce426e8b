//! `vcpectl tunnel list`: one line per tunnel peer (state, handshake and
//! last packet ages, counters, MTU), then what a state that is not "up"
//! means.

use clap::Subcommand;
use vcpe_api::Request;
use vcpe_api::view::TunnelInfo;

use crate::table::{Align, Table, ago, bytes};

#[derive(Debug, Subcommand)]
pub enum TunnelCommand {
    /// Every tunnel peer: endpoint, encapsulation, state (WireGuard: up,
    /// handshaking or down; GRE is stateless), last handshake, last packet
    /// received, packets and bytes each way, MTU.
    List,
}

/// The request of a `tunnel` command.
pub fn request(c: TunnelCommand) -> Request {
    match c {
        TunnelCommand::List => Request::TunnelList,
    }
}

/// `vcpectl tunnel list`.
pub fn list(tunnels: &[TunnelInfo]) -> String {
    if tunnels.is_empty() {
        return "no tunnel peers configured ([[peer]] sections)\n".to_owned();
    }
    let mut t = Table::new(&[
        ("PEER", Align::Left),
        ("ENDPOINT", Align::Left),
        ("ENCAP", Align::Left),
        ("STATE", Align::Left),
        ("HANDSHAKE", Align::Right),
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
            if x.encapsulation == "gre" {
                "-".to_owned()
            } else {
                ago(x.last_handshake_secs)
            },
            ago(x.last_rx_secs),
            x.rx_packets.to_string(),
            bytes(x.rx_bytes),
            x.tx_packets.to_string(),
            bytes(x.tx_bytes),
            x.mtu.to_string(),
        ]);
    }
    let mut out = t.render();
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
    out
}
