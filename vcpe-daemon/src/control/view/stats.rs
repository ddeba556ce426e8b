//! `vcpectl stats`: the forwarding plane's and kernel sync's snapshots in
//! the API's terms.

use vcpe_api::{KernelSyncStats, PortCounters, Reply, Stats, TunnelCounters};

use super::View;
use crate::dataplane::{StatsSnapshot, TunnelSnapshot};
use crate::kernel_sync::SyncStats;

/// `vcpectl stats`.
pub fn stats(view: &View<'_>) -> Reply {
    match view.with_forwarding(|f| f.stats()) {
        Ok(s) => Reply::Stats(Box::new(reply(s))),
        // Said as it always was (the other inspection requests add "vcped
        // restarted").
        Err(_) => super::error("the dataplane is stopping; try again after restart"),
    }
}

/// The snapshot as the API shows it.
pub fn reply(s: StatsSnapshot) -> Stats {
    Stats {
        workers: s.workers,
        fib_v4_routes: s.fib_v4_routes,
        fib_v6_routes: s.fib_v6_routes,
        interfaces: s
            .interfaces
            .into_iter()
            .map(|i| PortCounters {
                name: i.name,
                rx_packets: i.counters.rx_packets,
                rx_bytes: i.counters.rx_bytes,
                tx_packets: i.counters.tx_packets,
                tx_bytes: i.counters.tx_bytes,
            })
            .collect(),
        drops: named(s.drops),
        events: named(s.events),
        tunnels: s.tunnels.into_iter().map(tunnel).collect(),
        fib_route_changes: s.fib_route_changes,
        kernel_sync: s.kernel_sync.map(kernel_sync),
    }
}

fn named(v: Vec<(&'static str, u64)>) -> std::collections::BTreeMap<String, u64> {
    v.into_iter().map(|(k, n)| (k.to_owned(), n)).collect()
}

fn tunnel(t: TunnelSnapshot) -> TunnelCounters {
    TunnelCounters {
        name: t.name,
        encapsulation: t.encapsulation.to_owned(),
        endpoint: t.endpoint,
        tx_packets: t.tx_packets,
        tx_bytes: t.tx_bytes,
        rx_packets: t.rx_packets,
        rx_bytes: t.rx_bytes,
        rx_spoofed: t.rx_spoofed,
        rx_errors: t.rx_errors,
        tx_errors: t.tx_errors,
        last_rx_secs: t.last_rx.map(|d| d.as_secs()),
    }
}

fn kernel_sync(k: SyncStats) -> KernelSyncStats {
    KernelSyncStats {
        interface: k.interface,
        table: k.table,
        protocol: k.protocol,
        installed: k.installed,
        foreign_conflicts: k.foreign_conflicts,
        failed: k.failed,
        errors_total: k.errors_total,
    }
}
