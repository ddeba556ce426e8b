//! `vcpectl stats`: the forwarding plane's, the routing owner's and kernel
//! sync's snapshots in the API's terms.

use vcpe_api::{
    HandshakeCounters, KernelSyncStats, PortCounters, ReceiveThreadCounters, Reply, Stats,
    TunnelCounters,
};
use vcpe_forwarding::dataplane::HandshakeSnapshot;

use super::View;
use crate::dataplane::{StatsSnapshot, TunnelSnapshot};
use crate::kernel_sync::SyncStats;
use crate::routing::RoutingStats;

/// `vcpectl stats`.
pub fn stats(view: &View<'_>) -> Reply {
    let Ok(s) = view.with_dataplane(|f| f.stats()) else {
        // Said as it always was (the other inspection requests add "vcped
        // restarted").
        return super::error("the dataplane is stopping; try again after restart");
    };
    let r = view.with_routing(|r| r.stats());
    Reply::Stats(Box::new(reply(s, r)))
}

/// The snapshots as the API shows them.
pub fn reply(s: StatsSnapshot, r: RoutingStats) -> Stats {
    Stats {
        workers: s.workers,
        fib_v4_routes: r.fib_v4_routes,
        fib_v6_routes: r.fib_v6_routes,
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
        fib_route_changes: r.route_changes,
        kernel_sync: r.kernel_sync.map(kernel_sync),
        receive_threads: s
            .receive_threads
            .into_iter()
            .map(|t| ReceiveThreadCounters {
                thread: t.thread,
                socket: t.socket,
                index: t.group.index,
                group_size: t.group.size,
                datagrams: t.datagrams,
                batches: t.batches,
            })
            .collect(),
        handshakes: handshakes(&s.handshakes),
    }
}

/// The handshake thread's snapshot in the API's terms.
pub fn handshakes(h: &HandshakeSnapshot) -> HandshakeCounters {
    HandshakeCounters {
        under_load: h.under_load_secs.is_some(),
        under_load_secs: h.under_load_secs,
        under_load_events: h.under_load_events,
        queued: h.queued,
        dropped_queue_full: h.dropped_queue_full,
        rate_limited: h.rate_limited,
        cookie_replies_sent: h.cookie_replies_sent,
        accepted: h.accepted,
        refused: h.refused,
        queue_depth: h.queue_depth,
        queue_capacity: h.queue_capacity,
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
        missing: k.missing,
        lost_total: k.lost_total,
        resynced_total: k.resynced_total,
        resyncs_total: k.resyncs_total,
        link_up: k.link_up,
    }
}
