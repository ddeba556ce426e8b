//! One scrape as exposition text: a pure function from the control API's
//! replies (`Status`, `Stats`, the `BgpNeighbor`s of `bgp summary`) to the
//! Prometheus text format or OpenMetrics, encoded by `prometheus-client`.
//! Every number is one `vcpectl` shows, so the two never disagree.
//!
//! Names follow the Prometheus conventions: `vcpe_` prefix, base units in
//! the name (`_bytes`, `_seconds`), `_total` on counters, one label per
//! dimension (`interface`, `peer`, `neighbor`, `reason`, ...). When
//! something happened is an event timestamp (`*_timestamp_seconds`, Unix
//! time: `time() - metric` is the age) rather than a "seconds since" gauge
//! that changes at every scrape; the process's resources are the standard
//! `process_*` metrics.

use std::borrow::Cow;
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use vcpe_api::view::TunnelInfo;
use vcpe_api::{BfdSession, BgpNeighbor, Stats, Status};

use super::process::Process;

/// What one scrape read from the daemon. A part that could not be read
/// holds the daemon's error message; its metrics are left out and
/// `vcpe_scrape_collector_success{collector}` says 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    /// `vcpectl status`.
    pub status: Status,
    /// `vcpectl stats`.
    pub stats: Result<Stats, String>,
    /// `vcpectl bgp summary`; `None` when no BGP neighbor is configured.
    pub bgp: Option<Result<Vec<BgpNeighbor>, String>>,
    /// `vcpectl bfd`; `None` when no BFD session is configured.
    pub bfd: Option<Result<Vec<BfdSession>, String>>,
    /// `vcpectl tunnel list`; `None` when no tunnel peer is configured.
    pub tunnels: Option<Result<Vec<TunnelInfo>, String>>,
    /// The process's resources; `None` if `/proc` could not be read.
    pub process: Option<Process>,
    /// When the scrape was taken, seconds since the Unix epoch: the ages
    /// in the replies become timestamps against it.
    pub now: u64,
}

/// Which text format to answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (`text/plain`), for any client.
    Prometheus,
    /// OpenMetrics 1.0 text, when the scraper asks for it (Prometheus does).
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The exposition of `scrape` in `format`. Fails only if encoding fails,
/// which writing into a `String` does not.
pub fn render(scrape: Scrape, format: Format) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ScrapeCollector(scrape)));
    let mut out = String::new();
    match format {
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry)?,
    }
    Ok(out)
}

/// BGP FSM states, for the `vcpe_bgp_session_state` state set.
const BGP_STATES: [&str; 6] = [
    "Idle",
    "Connect",
    "Active",
    "OpenSent",
    "OpenConfirm",
    "Established",
];

/// The labels of one sample.
type Labels<'a> = Vec<(&'static str, Cow<'a, str>)>;

/// A sample's value: counts are integers, CPU seconds are not.
#[derive(Debug, Clone, Copy)]
enum Value {
    Int(u64),
    Float(f64),
}

/// One metric family: name without `_total`/unit suffixes, and samples.
pub(super) struct Family<'a> {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    kind: MetricType,
    samples: Vec<(Labels<'a>, Value)>,
}

impl<'a> Family<'a> {
    fn new(kind: MetricType, name: &'static str, help: &'static str) -> Family<'a> {
        Family {
            name,
            help,
            unit: None,
            kind,
            samples: Vec::new(),
        }
    }
    pub(super) fn counter(name: &'static str, help: &'static str) -> Family<'a> {
        Family::new(MetricType::Counter, name, help)
    }
    pub(super) fn gauge(name: &'static str, help: &'static str) -> Family<'a> {
        Family::new(MetricType::Gauge, name, help)
    }
    /// An info family: each sample's labels are the information, value 1.
    fn info(name: &'static str, help: &'static str) -> Family<'a> {
        Family::new(MetricType::Info, name, help)
    }
    fn unit(mut self, unit: Unit) -> Family<'a> {
        self.unit = Some(unit);
        self
    }
    pub(super) fn sample(mut self, labels: Labels<'a>, value: u64) -> Family<'a> {
        self.samples.push((labels, Value::Int(value)));
        self
    }
    fn sample_f64(mut self, labels: Labels<'a>, value: f64) -> Family<'a> {
        self.samples.push((labels, Value::Float(value)));
        self
    }
    /// One sample per item, labelled `key = label(item)`.
    fn each<T: 'a>(
        mut self,
        items: &'a [T],
        key: &'static str,
        label: impl Fn(&'a T) -> &'a str,
        value: impl Fn(&'a T) -> Option<u64>,
    ) -> Family<'a> {
        for item in items {
            if let Some(v) = value(item) {
                self.samples
                    .push((vec![(key, Cow::Borrowed(label(item)))], Value::Int(v)));
            }
        }
        self
    }

    fn encode(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        if self.samples.is_empty() {
            return Ok(());
        }
        let mut metric =
            encoder.encode_descriptor(self.name, self.help, self.unit.as_ref(), self.kind)?;
        for (labels, value) in &self.samples {
            match (self.kind, *value) {
                (MetricType::Info, _) => metric.encode_info(labels)?,
                (MetricType::Counter, Value::Int(v)) => {
                    ConstCounter::new(v).encode(metric.encode_family(labels)?)?
                }
                (MetricType::Counter, Value::Float(v)) => {
                    ConstCounter::new(v).encode(metric.encode_family(labels)?)?
                }
                (_, Value::Int(v)) => {
                    // Gauges are signed in the encoder; ours never pass i64::MAX.
                    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
                        .encode(metric.encode_family(labels)?)?
                }
                (_, Value::Float(v)) => ConstGauge::new(v).encode(metric.encode_family(labels)?)?,
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ScrapeCollector(Scrape);

impl Collector for ScrapeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        for family in families(&self.0) {
            family.encode(&mut encoder)?;
        }
        Ok(())
    }
}

fn families(s: &Scrape) -> Vec<Family<'_>> {
    fn b(v: &str) -> Cow<'_, str> {
        Cow::Borrowed(v)
    }
    let mut out = vec![
        Family::info("vcpe_build", "vcped build information.")
            .sample(vec![("version", b(&s.status.version))], 1),
        Family::info("vcpe_router", "This router's BGP identity.").sample(
            vec![
                ("router_id", b(&s.status.router_id)),
                ("asn", Cow::Owned(s.status.asn.to_string())),
            ],
            1,
        ),
    ];
    out.extend(process(s));
    let mut success = Family::gauge(
        "vcpe_scrape_collector_success",
        "1 if this part of the daemon answered the scrape, 0 if not (its metrics are then missing).",
    )
    .sample(vec![("collector", b("dataplane"))], u64::from(s.stats.is_ok()));
    if let Some(bgp) = &s.bgp {
        success = success.sample(vec![("collector", b("bgp"))], u64::from(bgp.is_ok()));
    }
    if let Some(bfd) = &s.bfd {
        success = success.sample(vec![("collector", b("bfd"))], u64::from(bfd.is_ok()));
    }
    if let Some(t) = &s.tunnels {
        success = success.sample(vec![("collector", b("tunnels"))], u64::from(t.is_ok()));
    }
    out.push(success);
    if let Ok(stats) = &s.stats {
        out.extend(dataplane(stats, s.now));
        if let Some(k) = &stats.kernel_sync {
            out.extend(super::kernel::families(k));
        }
    }
    if let Some(Ok(tunnels)) = &s.tunnels {
        out.extend(tunnel_states(tunnels, s.now));
    }
    if let Some(Ok(neighbors)) = &s.bgp {
        out.extend(bgp(neighbors, s.now));
    }
    if let Some(Ok(sessions)) = &s.bfd {
        out.extend(bfd(sessions));
    }
    out
}

/// The standard `process_*` metrics; the start time from vcped's uptime
/// when `/proc` could not be read.
fn process(s: &Scrape) -> Vec<Family<'_>> {
    let start = s
        .process
        .as_ref()
        .map_or(s.now.saturating_sub(s.status.uptime_secs), |p| {
            p.start_time_seconds
        });
    let mut out = vec![
        Family::gauge(
            "process_start_time",
            "Start time of the process since the Unix epoch in seconds.",
        )
        .unit(Unit::Seconds)
        .sample(vec![], start),
    ];
    let Some(p) = &s.process else { return out };
    out.push(
        Family::counter(
            "process_cpu",
            "Total user and system CPU time spent in seconds.",
        )
        .unit(Unit::Seconds)
        .sample_f64(vec![], p.cpu_seconds),
    );
    out.push(
        Family::gauge("process_resident_memory", "Resident memory size in bytes.")
            .unit(Unit::Bytes)
            .sample(vec![], p.resident_bytes),
    );
    out.push(
        Family::gauge("process_virtual_memory", "Virtual memory size in bytes.")
            .unit(Unit::Bytes)
            .sample(vec![], p.virtual_bytes),
    );
    out.push(
        Family::gauge("process_open_fds", "Number of open file descriptors.")
            .sample(vec![], p.open_fds),
    );
    if let Some(max) = p.max_fds {
        out.push(
            Family::gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            )
            .sample(vec![], max),
        );
    }
    out
}

/// Per tunnel (`vcpectl tunnel list`): up or not, and when its WireGuard
/// session was last handshaken.
fn tunnel_states(tunnels: &[TunnelInfo], now: u64) -> Vec<Family<'_>> {
    fn peer(t: &TunnelInfo) -> &str {
        &t.name
    }
    vec![
        Family::gauge(
            "vcpe_tunnel_up",
            "1 if the tunnel can carry traffic: WireGuard with a current session, or a stateless encapsulation (GRE, VXLAN); 0 while handshaking or down.",
        )
        .each(tunnels, "peer", peer, |t| {
            Some(u64::from(t.state == "up" || t.state == "stateless"))
        }),
        Family::gauge(
            "vcpe_tunnel_last_handshake_timestamp",
            "When the current WireGuard session was handshaken, seconds since the Unix epoch (absent: no session).",
        )
        .unit(Unit::Seconds)
        .each(tunnels, "peer", peer, move |t| {
            t.last_handshake_secs.map(|a| now.saturating_sub(a))
        }),
    ]
}

/// Per BFD session (`vcpectl bfd`), labelled by peer address.
fn bfd(sessions: &[BfdSession]) -> Vec<Family<'_>> {
    fn peer(s: &BfdSession) -> &str {
        &s.peer
    }
    vec![
        Family::gauge(
            "vcpe_bfd_session_up",
            "1 if the BFD session with the peer is Up, else 0.",
        )
        .each(sessions, "peer", peer, |s| Some(u64::from(s.state == "Up"))),
        Family::counter(
            "vcpe_bfd_session_state_changes",
            "BFD session state changes since the session was added (Down, Init, Up, AdminDown).",
        )
        .each(sessions, "peer", peer, |s| Some(s.state_changes)),
        Family::counter(
            "vcpe_bfd_session_up_transitions",
            "Times the BFD session went Up since it was added.",
        )
        .each(sessions, "peer", peer, |s| Some(s.up_transitions)),
        Family::gauge(
            "vcpe_bfd_detection_time_milliseconds",
            "The BFD detection time in use, ms: down after this long without a packet.",
        )
        .each(sessions, "peer", peer, |s| Some(s.detection_time_ms)),
        Family::counter(
            "vcpe_bfd_received_packets",
            "Valid BFD control packets received.",
        )
        .each(sessions, "peer", peer, |s| Some(s.packets_in)),
        Family::counter("vcpe_bfd_sent_packets", "BFD control packets sent.").each(
            sessions,
            "peer",
            peer,
            |s| Some(s.packets_out),
        ),
    ]
}

/// Interfaces, drops, events, tunnels and the FIB (`vcpectl stats`).
fn dataplane(s: &Stats, now: u64) -> Vec<Family<'_>> {
    let ifaces = &s.interfaces[..];
    let tunnels = &s.tunnels[..];
    fn name(p: &vcpe_api::PortCounters) -> &str {
        &p.name
    }
    fn peer(t: &vcpe_api::TunnelCounters) -> &str {
        &t.name
    }
    let mut tunnel_info = Family::info(
        "vcpe_tunnel",
        "A tunnel peer: encapsulation and underlay endpoint.",
    );
    for t in tunnels {
        tunnel_info = tunnel_info.sample(
            vec![
                ("peer", Cow::Borrowed(t.name.as_str())),
                ("encapsulation", Cow::Borrowed(t.encapsulation.as_str())),
                ("endpoint", Cow::Borrowed(t.endpoint.as_str())),
            ],
            1,
        );
    }
    let mut receive_threads = Family::counter(
        "vcpe_tunnel_receive_thread_datagrams",
        "Underlay datagrams read by each tunnel receive thread (a WireGuard or VXLAN bind has one per worker).",
    );
    for r in &s.receive_threads {
        receive_threads = receive_threads.sample(
            vec![
                ("thread", Cow::Borrowed(r.thread.as_str())),
                ("socket", Cow::Borrowed(r.socket.as_str())),
            ],
            r.datagrams,
        );
    }
    let mut drops = Family::counter(
        "vcpe_dropped_packets",
        "Packets the dataplane dropped, by reason.",
    );
    for (reason, v) in &s.drops {
        drops = drops.sample(vec![("reason", Cow::Borrowed(reason.as_str()))], *v);
    }
    let mut events = Family::counter(
        "vcpe_dataplane_events",
        "Other dataplane events (ICMP errors sent, MSS clamped, GSO splits, ...).",
    );
    for (event, v) in &s.events {
        events = events.sample(vec![("event", Cow::Borrowed(event.as_str()))], *v);
    }
    vec![
        Family::gauge("vcpe_dataplane_workers", "Dataplane worker threads.")
            .sample(vec![], s.workers as u64),
        Family::counter(
            "vcpe_interface_receive_packets",
            "Packets read from the TUN interface (a GSO super-packet counts once).",
        )
        .each(ifaces, "interface", name, |p| Some(p.rx_packets)),
        Family::counter(
            "vcpe_interface_receive",
            "Bytes read from the TUN interface.",
        )
        .unit(Unit::Bytes)
        .each(ifaces, "interface", name, |p| Some(p.rx_bytes)),
        Family::counter(
            "vcpe_interface_transmit_packets",
            "Packets written to the TUN interface (forwarded and ICMP errors).",
        )
        .each(ifaces, "interface", name, |p| Some(p.tx_packets)),
        Family::counter(
            "vcpe_interface_transmit",
            "Bytes written to the TUN interface.",
        )
        .unit(Unit::Bytes)
        .each(ifaces, "interface", name, |p| Some(p.tx_bytes)),
        drops,
        events,
        tunnel_info,
        Family::counter(
            "vcpe_tunnel_receive_packets",
            "Inner packets received from the tunnel peer and accepted.",
        )
        .each(tunnels, "peer", peer, |t| Some(t.rx_packets)),
        Family::counter(
            "vcpe_tunnel_receive",
            "Inner bytes received from the tunnel peer and accepted.",
        )
        .unit(Unit::Bytes)
        .each(tunnels, "peer", peer, |t| Some(t.rx_bytes)),
        Family::counter(
            "vcpe_tunnel_transmit_packets",
            "Inner packets sent into the tunnel.",
        )
        .each(tunnels, "peer", peer, |t| Some(t.tx_packets)),
        Family::counter("vcpe_tunnel_transmit", "Inner bytes sent into the tunnel.")
            .unit(Unit::Bytes)
            .each(tunnels, "peer", peer, |t| Some(t.tx_bytes)),
        Family::counter(
            "vcpe_tunnel_receive_spoofed_packets",
            "Packets from the tunnel peer dropped: inner source outside its allowed_prefixes.",
        )
        .each(tunnels, "peer", peer, |t| Some(t.rx_spoofed)),
        Family::counter(
            "vcpe_tunnel_receive_errors",
            "Datagrams from the tunnel peer that did not decapsulate.",
        )
        .each(tunnels, "peer", peer, |t| Some(t.rx_errors)),
        Family::counter(
            "vcpe_tunnel_transmit_errors",
            "Failed sends into the tunnel.",
        )
        .each(tunnels, "peer", peer, |t| Some(t.tx_errors)),
        Family::gauge(
            "vcpe_tunnel_last_receive_timestamp",
            "When the last packet from the tunnel peer was accepted, seconds since the Unix epoch (absent: never).",
        )
        .unit(Unit::Seconds)
        .each(tunnels, "peer", peer, move |t| {
            t.last_rx_secs.map(|a| now.saturating_sub(a))
        }),
        Family::gauge("vcpe_fib_routes", "Routes in the FIB, by address family.")
            .sample(
                vec![("family", Cow::Borrowed("ipv4"))],
                s.fib_v4_routes as u64,
            )
            .sample(
                vec![("family", Cow::Borrowed("ipv6"))],
                s.fib_v6_routes as u64,
            ),
        Family::counter(
            "vcpe_fib_route_changes",
            "FIB routes added, replaced or removed since start (initial load included).",
        )
        .sample(vec![], s.fib_route_changes),
        receive_threads,
        handshakes(&s.handshakes),
        Family::gauge(
            "vcpe_wireguard_handshake_under_load",
            "1 while the WireGuard handshake queue is under load (a handshake flood: every handshake needs a cookie).",
        )
        .sample(vec![], u64::from(s.handshakes.under_load)),
        Family::gauge(
            "vcpe_wireguard_handshake_queue_depth",
            "WireGuard handshake messages waiting for the handshake thread.",
        )
        .sample(vec![], s.handshakes.queue_depth as u64),
    ]
}

/// What the WireGuard handshake thread did with the handshake messages.
fn handshakes(h: &vcpe_api::HandshakeCounters) -> Family<'static> {
    [
        ("accepted", h.accepted),
        ("cookie_reply_sent", h.cookie_replies_sent),
        ("dropped_queue_full", h.dropped_queue_full),
        ("rate_limited", h.rate_limited),
        ("refused", h.refused),
    ]
    .into_iter()
    .fold(
        Family::counter(
            "vcpe_wireguard_handshakes",
            "WireGuard handshake messages by outcome: accepted by a peer, answered with a cookie reply (under load), dropped (queue full, rate limited) or refused.",
        ),
        |f, (outcome, n)| f.sample(vec![("outcome", Cow::Borrowed(outcome))], n),
    )
}

/// The BGP FSM state of a `bgp summary` state text ("Established",
/// "Idle (admin)", "Idle (admin)/OpenSent", ...) and whether the neighbor
/// is administratively down.
fn fsm_state(text: &str) -> (&str, bool) {
    if text == "Idle (BFD down)" {
        return ("Idle", false);
    }
    match text.strip_prefix("Idle (admin)") {
        Some(rest) => (rest.strip_prefix('/').unwrap_or("Idle"), true),
        None => (text, false),
    }
}

/// Per neighbor (`vcpectl bgp summary`).
fn bgp(neighbors: &[BgpNeighbor], now: u64) -> Vec<Family<'_>> {
    fn addr(n: &BgpNeighbor) -> &str {
        &n.address
    }
    let mut info = Family::info(
        "vcpe_bgp_neighbor",
        "A configured BGP neighbor: its AS and description.",
    );
    for n in neighbors {
        info = info.sample(
            vec![
                ("neighbor", Cow::Borrowed(n.address.as_str())),
                ("remote_as", Cow::Owned(n.asn.to_string())),
                (
                    "description",
                    Cow::Borrowed(n.description.as_deref().unwrap_or("")),
                ),
            ],
            1,
        );
    }
    let mut states = Family::gauge(
        "vcpe_bgp_session_state",
        "BGP FSM state of the session with the neighbor: 1 for the current state.",
    );
    for n in neighbors {
        let (state, _) = fsm_state(&n.state);
        for s in BGP_STATES {
            states = states.sample(
                vec![
                    ("neighbor", Cow::Borrowed(n.address.as_str())),
                    ("state", Cow::Borrowed(s)),
                ],
                u64::from(s == state),
            );
        }
    }
    vec![
        info,
        Family::gauge(
            "vcpe_bgp_session_established",
            "1 if the BGP session with the neighbor is Established, else 0.",
        )
        .each(neighbors, "neighbor", addr, |n| {
            Some(u64::from(fsm_state(&n.state).0 == "Established"))
        }),
        states,
        Family::gauge(
            "vcpe_bgp_session_admin_down",
            "1 if the neighbor is stopped by `vcpectl bgp disable` or max_prefixes, else 0.",
        )
        .each(neighbors, "neighbor", addr, |n| Some(u64::from(fsm_state(&n.state).1))),
        Family::gauge(
            "vcpe_bgp_session_last_change_timestamp",
            "When the session last went up or down, seconds since the Unix epoch (absent: never).",
        )
        .unit(Unit::Seconds)
        .each(neighbors, "neighbor", addr, move |n| {
            n.since_secs.map(|a| now.saturating_sub(a))
        }),
        Family::counter(
            "vcpe_bgp_established_transitions",
            "Times the session reached Established since start (flaps).",
        )
        .each(neighbors, "neighbor", addr, |n| Some(n.established_transitions)),
        Family::gauge("vcpe_bgp_received_prefixes", "Prefixes received from the neighbor.")
            .each(neighbors, "neighbor", addr, |n| Some(n.received)),
        Family::gauge(
            "vcpe_bgp_accepted_prefixes",
            "Prefixes from the neighbor accepted by its import policy.",
        )
        .each(neighbors, "neighbor", addr, |n| Some(n.accepted)),
        Family::gauge("vcpe_bgp_advertised_prefixes", "Prefixes advertised to the neighbor.")
            .each(neighbors, "neighbor", addr, |n| Some(n.advertised)),
        Family::counter("vcpe_bgp_received_messages", "BGP messages received from the neighbor.")
            .each(neighbors, "neighbor", addr, |n| Some(n.messages_in)),
        Family::counter("vcpe_bgp_sent_messages", "BGP messages sent to the neighbor.")
            .each(neighbors, "neighbor", addr, |n| Some(n.messages_out)),
        Family::counter(
            "vcpe_bgp_first_as_withdrawn_prefixes",
            "Announced prefixes treated as withdrawn: AS path not starting with the neighbor's AS (enforce_first_as).",
        )
        .each(neighbors, "neighbor", addr, |n| Some(n.first_as_total)),
        Family::counter(
            "vcpe_bgp_unencodable_prefixes",
            "Prefixes never advertised to the neighbor: their attributes fit no UPDATE.",
        )
        .each(neighbors, "neighbor", addr, |n| Some(n.unencodable_total)),
        Family::counter(
            "vcpe_bgp_reflected_loop_prefixes",
            "Announced prefixes ignored as reflected back to us (RFC 4456: our ORIGINATOR_ID or cluster id).",
        )
        .each(neighbors, "neighbor", addr, |n| Some(n.reflected_loops_total)),
        Family::gauge(
            "vcpe_bgp_out_queued_bytes",
            "Bytes queued in vcped towards the neighbor, not yet taken by its socket.",
        )
        .unit(Unit::Bytes)
        .each(neighbors, "neighbor", addr, |n| Some(n.out_queued_bytes)),
        Family::gauge(
            "vcpe_bgp_out_behind",
            "1 if route changes towards the neighbor are held back (it reads slowly; they wait coalesced per prefix), else 0.",
        )
        .each(neighbors, "neighbor", addr, |n| Some(u64::from(n.out_behind))),
    ]
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use vcpe_api::{PortCounters, TunnelCounters};

    fn status() -> Status {
        Status {
            version: "1.2.3".into(),
            pid: 7,
            uptime_secs: 42,
            config_path: "/etc/vcpe/vcped.toml".into(),
            router_id: "10.0.0.1".into(),
            asn: 65001,
            interfaces: 1,
            static_routes: 0,
            peers: 1,
            bgp_neighbors: 2,
        }
    }

    pub(crate) fn stats() -> Stats {
        Stats {
            workers: 2,
            fib_v4_routes: 5,
            fib_v6_routes: 3,
            interfaces: vec![PortCounters {
                name: "vcpe0".into(),
                rx_packets: 10,
                rx_bytes: 840,
                tx_packets: 9,
                tx_bytes: 756,
            }],
            drops: [("no_route".to_owned(), 4), ("ttl_expired".to_owned(), 0)].into(),
            events: [("icmp_sent".to_owned(), 1)].into(),
            tunnels: vec![TunnelCounters {
                name: "vpc02".into(),
                encapsulation: "wireguard".into(),
                endpoint: "192.0.2.2:51820".into(),
                tx_packets: 3,
                tx_bytes: 300,
                rx_packets: 2,
                rx_bytes: 200,
                rx_spoofed: 1,
                rx_errors: 0,
                tx_errors: 0,
                last_rx_secs: Some(5),
            }],
            fib_route_changes: 11,
            kernel_sync: None,
            receive_threads: vec![vcpe_api::ReceiveThreadCounters {
                thread: "vcpe-tun-rx-0".into(),
                socket: "wireguard 0.0.0.0:51820".into(),
                index: 0,
                group_size: 2,
                datagrams: 42,
                batches: 7,
            }],
            handshakes: vcpe_api::HandshakeCounters {
                under_load: true,
                under_load_secs: Some(3),
                cookie_replies_sent: 9,
                accepted: 2,
                ..Default::default()
            },
        }
    }

    fn neighbor(address: &str, state: &str, received: u64) -> BgpNeighbor {
        BgpNeighbor {
            address: address.into(),
            asn: 65002,
            state: state.into(),
            since_secs: Some(30),
            received,
            accepted: received.saturating_sub(1),
            advertised: 2,
            messages_in: 20,
            messages_out: 21,
            first_as_total: 0,
            unencodable_total: 0,
            reflected_loops_total: 4,
            last_error: None,
            established_transitions: 1,
            out_queued_bytes: 512,
            out_behind: false,
            description: Some("vpc02 \"east\"".into()),
        }
    }

    fn bfd_session(peer: &str, state: &str, changes: u64) -> BfdSession {
        BfdSession {
            peer: peer.into(),
            local: None,
            path: "single-hop".into(),
            source_port: Some(49152),
            state: state.into(),
            remote_state: "Up".into(),
            since_secs: 5,
            local_discriminator: 1,
            remote_discriminator: 2,
            tx_interval_ms: 300,
            rx_interval_ms: 300,
            multiplier: 3,
            remote_multiplier: 3,
            detection_time_ms: 900,
            local_diag: "No Diagnostic (0)".into(),
            remote_diag: "No Diagnostic (0)".into(),
            last_down: None,
            packets_in: 7,
            packets_out: 8,
            send_errors: 0,
            state_changes: changes,
            up_transitions: 1,
            clients: vec!["bgp 10.255.0.2".into()],
        }
    }

    #[test]
    fn bfd_sessions_are_exported_per_peer() {
        let l = lines(Format::Prometheus);
        for line in [
            "vcpe_bfd_session_up{peer=\"10.255.0.2\"} 1",
            "vcpe_bfd_session_state_changes_total{peer=\"10.255.0.2\"} 2",
            "vcpe_bfd_sent_packets_total{peer=\"10.255.0.2\"} 8",
            "vcpe_scrape_collector_success{collector=\"bfd\"} 1",
        ] {
            has(&l, line);
        }
        assert_eq!(fsm_state("Idle (BFD down)"), ("Idle", false));
    }

    pub(crate) fn scrape() -> Scrape {
        Scrape {
            status: status(),
            stats: Ok(stats()),
            bgp: Some(Ok(vec![
                neighbor("10.255.0.2", "Established", 3),
                neighbor("fd00::3", "Idle (admin)", 0),
            ])),
            bfd: Some(Ok(vec![bfd_session("10.255.0.2", "Up", 2)])),
            tunnels: Some(Ok(vec![
                tunnel("vpc02", "up", Some(20)),
                tunnel("vpc03", "handshaking", None),
                tunnel("gre1", "stateless", None),
            ])),
            process: Some(Process {
                cpu_seconds: 1.25,
                resident_bytes: 8 << 20,
                virtual_bytes: 64 << 20,
                open_fds: 17,
                max_fds: Some(1024),
                start_time_seconds: 1_000_000_000 - 42,
            }),
            now: NOW,
        }
    }

    const NOW: u64 = 1_000_000_000;

    fn tunnel(name: &str, state: &str, handshake: Option<u64>) -> TunnelInfo {
        TunnelInfo {
            name: name.into(),
            encapsulation: "wireguard".into(),
            endpoint: "192.0.2.2:51820".into(),
            bind: None,
            state: state.into(),
            state_note: String::new(),
            last_handshake_secs: handshake,
            last_rx_secs: None,
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
            rx_spoofed: 0,
            rx_errors: 0,
            tx_errors: 0,
            mtu: 1420,
            allowed_prefixes: vec![],
            public_key: None,
            peer_public_key: None,
            endpoint_configured: None,
            endpoint_resolved: None,
            resolve_error: None,
            last_handshake_unix: None,
            keepalive_secs: None,
        }
    }

    #[test]
    fn events_are_timestamps_and_tunnels_and_neighbors_have_state_and_info() {
        let l = lines(Format::Prometheus);
        for line in [
            "# TYPE vcpe_tunnel_up gauge",
            "vcpe_tunnel_up{peer=\"vpc02\"} 1",
            "vcpe_tunnel_up{peer=\"vpc03\"} 0",
            "vcpe_tunnel_up{peer=\"gre1\"} 1",
            "vcpe_tunnel_last_handshake_timestamp_seconds{peer=\"vpc02\"} 999999980",
            "vcpe_tunnel_last_receive_timestamp_seconds{peer=\"vpc02\"} 999999995",
            "vcpe_bgp_session_last_change_timestamp_seconds{neighbor=\"10.255.0.2\"} 999999970",
            "vcpe_bgp_neighbor_info{neighbor=\"10.255.0.2\",remote_as=\"65002\",description=\"vpc02 \\\"east\\\"\"} 1",
            "vcpe_scrape_collector_success{collector=\"tunnels\"} 1",
            "# TYPE process_cpu_seconds_total counter",
            "process_cpu_seconds_total 1.25",
            "process_resident_memory_bytes 8388608",
            "process_virtual_memory_bytes 67108864",
            "process_open_fds 17",
            "process_max_fds 1024",
            "process_start_time_seconds 999999958",
        ] {
            has(&l, line);
        }
        // A tunnel without a session has no handshake timestamp.
        assert!(!l.iter().any(|x| {
            x.starts_with("vcpe_tunnel_last_handshake_timestamp_seconds{peer=\"vpc03\"}")
        }));
        // No "seconds since" gauges any more.
        for gone in ["_age", "vcpe_uptime"] {
            assert!(
                !l.iter().any(|x| x.contains(gone)),
                "{gone} still in:\n{}",
                l.join("\n")
            );
        }
        // Without /proc, the start time still comes from the uptime.
        let s = Scrape {
            process: None,
            ..scrape()
        };
        let text = render(s, Format::Prometheus).unwrap();
        assert!(
            text.contains("process_start_time_seconds 999999958"),
            "{text}"
        );
        assert!(!text.contains("process_cpu"), "{text}");
    }

    fn lines(format: Format) -> Vec<String> {
        render(scrape(), format)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn has(lines: &[String], line: &str) {
        assert!(
            lines.iter().any(|l| l == line),
            "no line {line:?} in:\n{}",
            lines.join("\n")
        );
    }

    #[test]
    fn prometheus_text_has_every_family_with_units_and_labels() {
        let l = lines(Format::Prometheus);
        for line in [
            "vcpe_build_info{version=\"1.2.3\"} 1",
            "vcpe_router_info{router_id=\"10.0.0.1\",asn=\"65001\"} 1",
            "vcpe_scrape_collector_success{collector=\"dataplane\"} 1",
            "vcpe_scrape_collector_success{collector=\"bgp\"} 1",
            "vcpe_dataplane_workers 2",
            "# TYPE vcpe_interface_receive_packets_total counter",
            "vcpe_interface_receive_packets_total{interface=\"vcpe0\"} 10",
            "vcpe_interface_receive_bytes_total{interface=\"vcpe0\"} 840",
            "vcpe_interface_transmit_packets_total{interface=\"vcpe0\"} 9",
            "vcpe_interface_transmit_bytes_total{interface=\"vcpe0\"} 756",
            "vcpe_dropped_packets_total{reason=\"no_route\"} 4",
            "vcpe_dropped_packets_total{reason=\"ttl_expired\"} 0",
            "vcpe_dataplane_events_total{event=\"icmp_sent\"} 1",
            "vcpe_tunnel_info{peer=\"vpc02\",encapsulation=\"wireguard\",endpoint=\"192.0.2.2:51820\"} 1",
            "vcpe_tunnel_receive_packets_total{peer=\"vpc02\"} 2",
            "vcpe_tunnel_receive_bytes_total{peer=\"vpc02\"} 200",
            "vcpe_tunnel_transmit_packets_total{peer=\"vpc02\"} 3",
            "vcpe_tunnel_transmit_bytes_total{peer=\"vpc02\"} 300",
            "vcpe_tunnel_receive_spoofed_packets_total{peer=\"vpc02\"} 1",
            "vcpe_tunnel_receive_errors_total{peer=\"vpc02\"} 0",
            "vcpe_tunnel_transmit_errors_total{peer=\"vpc02\"} 0",
            "vcpe_fib_routes{family=\"ipv4\"} 5",
            "vcpe_fib_routes{family=\"ipv6\"} 3",
            "vcpe_fib_route_changes_total 11",
            "vcpe_tunnel_receive_thread_datagrams_total{thread=\"vcpe-tun-rx-0\",socket=\"wireguard 0.0.0.0:51820\"} 42",
            "vcpe_wireguard_handshakes_total{outcome=\"cookie_reply_sent\"} 9",
            "vcpe_wireguard_handshakes_total{outcome=\"accepted\"} 2",
            "vcpe_wireguard_handshake_under_load 1",
            "vcpe_bgp_session_established{neighbor=\"10.255.0.2\"} 1",
            "vcpe_bgp_session_established{neighbor=\"fd00::3\"} 0",
            "vcpe_bgp_session_state{neighbor=\"10.255.0.2\",state=\"Established\"} 1",
            "vcpe_bgp_session_state{neighbor=\"10.255.0.2\",state=\"Idle\"} 0",
            "vcpe_bgp_session_state{neighbor=\"fd00::3\",state=\"Idle\"} 1",
            "vcpe_bgp_session_admin_down{neighbor=\"fd00::3\"} 1",
            "vcpe_bgp_session_admin_down{neighbor=\"10.255.0.2\"} 0",
            "vcpe_bgp_established_transitions_total{neighbor=\"10.255.0.2\"} 1",
            "vcpe_bgp_received_prefixes{neighbor=\"10.255.0.2\"} 3",
            "vcpe_bgp_accepted_prefixes{neighbor=\"10.255.0.2\"} 2",
            "vcpe_bgp_advertised_prefixes{neighbor=\"10.255.0.2\"} 2",
            "vcpe_bgp_received_messages_total{neighbor=\"10.255.0.2\"} 20",
            "vcpe_bgp_sent_messages_total{neighbor=\"10.255.0.2\"} 21",
            "vcpe_bgp_first_as_withdrawn_prefixes_total{neighbor=\"10.255.0.2\"} 0",
            "vcpe_bgp_unencodable_prefixes_total{neighbor=\"10.255.0.2\"} 0",
            "vcpe_bgp_reflected_loop_prefixes_total{neighbor=\"10.255.0.2\"} 4",
        ] {
            has(&l, line);
        }
        assert!(!l.iter().any(|l| l == "# EOF"), "# EOF is OpenMetrics only");
        // Every sample line is `name{labels} value` with a vcpe_ or
        // process_ name.
        for line in l.iter().filter(|l| !l.starts_with('#')) {
            assert!(
                line.starts_with("vcpe_") || line.starts_with("process_"),
                "{line}"
            );
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn openmetrics_has_units_and_ends_with_eof() {
        let l = lines(Format::OpenMetrics);
        has(&l, "# TYPE vcpe_interface_receive_bytes counter");
        has(&l, "# UNIT vcpe_interface_receive_bytes bytes");
        has(
            &l,
            "vcpe_interface_receive_bytes_total{interface=\"vcpe0\"} 840",
        );
        has(&l, "# TYPE vcpe_build info");
        has(&l, "vcpe_build_info{version=\"1.2.3\"} 1");
        assert_eq!(l.last().map(String::as_str), Some("# EOF"));
    }

    #[test]
    fn a_part_that_did_not_answer_is_left_out_and_flagged() {
        let s = Scrape {
            stats: Err("the dataplane is stopping".into()),
            bgp: Some(Err("the BGP task did not answer".into())),
            ..scrape()
        };
        let text = render(s, Format::Prometheus).unwrap();
        let l: Vec<String> = text.lines().map(str::to_owned).collect();
        has(
            &l,
            "vcpe_scrape_collector_success{collector=\"dataplane\"} 0",
        );
        has(&l, "vcpe_scrape_collector_success{collector=\"bgp\"} 0");
        has(&l, "process_start_time_seconds 999999958");
        assert!(!text.contains("vcpe_interface_"), "{text}");
        assert!(!text.contains("vcpe_bgp_"), "{text}");

        let none = Scrape {
            bgp: None,
            ..scrape()
        };
        let text = render(none, Format::Prometheus).unwrap();
        assert!(!text.contains("collector=\"bgp\""), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = scrape();
        if let Ok(st) = &mut s.stats {
            st.interfaces[0].name = "a\"b\\c".into();
        }
        let text = render(s, Format::Prometheus).unwrap();
        assert!(
            text.contains(r#"vcpe_interface_receive_packets_total{interface="a\"b\\c"} 10"#),
            "{text}"
        );
    }

    #[test]
    fn admin_states_map_to_fsm_states() {
        assert_eq!(fsm_state("Established"), ("Established", false));
        assert_eq!(fsm_state("Idle (admin)"), ("Idle", true));
        assert_eq!(fsm_state("Idle (admin)/OpenSent"), ("OpenSent", true));
    }

    #[test]
    fn accept_header_picks_the_format() {
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Prometheus);
        let prom =
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4";
        assert_eq!(Format::from_accept(Some(prom)), Format::OpenMetrics);
        assert!(
            Format::Prometheus
                .content_type()
                .starts_with("text/plain; version=0.0.4")
        );
    }
}
