//! `vcpectl status` and `vcpectl stats` in words and tables.

use std::fmt::Write;

use vcpe_api::{Stats, Status};

use crate::table::{Align, Table, ago, duration, kv};

/// `vcpectl status`.
pub fn status(s: &Status) -> String {
    let mut out = format!(
        "vcped {} (pid {}), up {}\n",
        s.version,
        s.pid,
        duration(s.uptime_secs)
    );
    out += &kv(
        0,
        &[
            ("config", s.config_path.clone()),
            ("router", format!("id {} AS {}", s.router_id, s.asn)),
            (
                "configured",
                format!(
                    "{} interfaces, {} static routes, {} tunnel peers, {} BGP neighbors",
                    s.interfaces, s.static_routes, s.peers, s.bgp_neighbors
                ),
            ),
        ],
    );
    out
}

/// `vcpectl stats`.
pub fn stats(s: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "FIB: {} IPv4 + {} IPv6 routes ({} route changes since start), {} workers\n",
        s.fib_v4_routes, s.fib_v6_routes, s.fib_route_changes, s.workers
    );
    let mut t = Table::new(&[
        ("INTERFACE", Align::Left),
        ("RX PACKETS", Align::Right),
        ("RX BYTES", Align::Right),
        ("TX PACKETS", Align::Right),
        ("TX BYTES", Align::Right),
    ]);
    for i in &s.interfaces {
        t.row([
            i.name.clone(),
            i.rx_packets.to_string(),
            i.rx_bytes.to_string(),
            i.tx_packets.to_string(),
            i.tx_bytes.to_string(),
        ]);
    }
    out += &t.render();
    let mut t = Table::new(&[("DROP REASON", Align::Left), ("PACKETS", Align::Right)]);
    for (k, v) in &s.drops {
        t.row([k.clone(), v.to_string()]);
    }
    out += "\n";
    out += &t.render();
    let mut t = Table::new(&[("EVENT", Align::Left), ("COUNT", Align::Right)]);
    for (k, v) in &s.events {
        t.row([k.clone(), v.to_string()]);
    }
    out += "\n";
    out += &t.render();
    if !s.tunnels.is_empty() {
        let mut t = Table::new(&[
            ("TUNNEL", Align::Left),
            ("ENCAP", Align::Left),
            ("ENDPOINT", Align::Left),
            ("TX PKTS", Align::Right),
            ("RX PKTS", Align::Right),
            ("SPOOFED", Align::Right),
            ("ERRORS", Align::Right),
            ("LAST RX", Align::Right),
        ]);
        for x in &s.tunnels {
            t.row([
                x.name.clone(),
                x.encapsulation.clone(),
                x.endpoint.clone(),
                x.tx_packets.to_string(),
                x.rx_packets.to_string(),
                x.rx_spoofed.to_string(),
                (x.rx_errors + x.tx_errors).to_string(),
                ago(x.last_rx_secs),
            ]);
        }
        out += "\n";
        out += &t.render();
    }
    if !s.receive_threads.is_empty() {
        let mut t = Table::new(&[
            ("RECEIVE THREAD", Align::Left),
            ("SOCKET", Align::Left),
            ("GROUP", Align::Right),
            ("DATAGRAMS", Align::Right),
            ("BATCHES", Align::Right),
        ]);
        for r in &s.receive_threads {
            t.row([
                r.thread.clone(),
                r.socket.clone(),
                format!("{}/{}", r.index + 1, r.group_size),
                r.datagrams.to_string(),
                r.batches.to_string(),
            ]);
        }
        out += "\n";
        out += &t.render();
    }
    if s.handshakes.queued + s.handshakes.dropped_queue_full > 0 {
        out += "\n";
        out += &crate::tunnel::handshake_lines(&s.handshakes);
    }
    if let Some(k) = &s.kernel_sync {
        let _ = writeln!(
            out,
            "\nkernel routes: {} into {} (table {}, proto {}); {} left to another protocol's route, {} failed (see the log)",
            k.installed, k.interface, k.table, k.protocol, k.foreign_conflicts, k.failed
        );
        let _ = writeln!(
            out,
            "kernel routes missing: {} now{}; {} lost since start, {} installed again ({} resyncs)",
            k.missing,
            if k.link_up {
                ""
            } else {
                " (link of the TUN down)"
            },
            k.lost_total,
            k.resynced_total,
            k.resyncs_total
        );
    }
    out
}
