//! `vcpectl`: the operator CLI of a running `vcped`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vcpe_daemon::control::{
    BgpNeighbor, BgpRoute, Client, NeighborAction, Reply, Request, RouteSpec, Stats, Status,
};

/// vcpectl — inspect and manage a running vcpe router (vcped).
///
/// Talks to the daemon over its control socket. Every command takes --json
/// for scripts; exit status is 0 on success, 1 when the daemon refused the
/// request, 2 on usage errors, 3 when the daemon cannot be reached.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// Control socket of the daemon (the `[control] socket` of its config).
    #[arg(
        short,
        long,
        global = true,
        default_value = "/run/vcpe/vcped.sock",
        env = "VCPE_SOCKET"
    )]
    socket: PathBuf,

    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the daemon's version, uptime and what it runs.
    Status,
    /// Show dataplane counters: packets and bytes per interface, drops by
    /// reason, ICMP errors sent, MSS clamps, GSO super-packets.
    Stats,
    /// BGP sessions: summary, and enable/disable/refresh of a neighbor.
    Bgp {
        #[command(subcommand)]
        command: BgpCommand,
    },
    /// Show routes.
    Show {
        #[command(subcommand)]
        command: ShowCommand,
    },
    /// Static routes, live: add, delete, list.
    Route {
        #[command(subcommand)]
        command: RouteCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RouteCommand {
    /// Add a static route: `route add NAME PREFIX [via NEXT_HOP]
    /// (dev IFACE | peer PEER) [--advertise | --no-advertise]`. Lasts until
    /// vcped restarts (not written to the config file yet).
    Add {
        /// Unique route name.
        name: String,
        /// Destination prefix, e.g. 10.1.3.0/24.
        prefix: String,
        /// `via ADDR`, `dev IFACE` or `peer PEER`, `--advertise`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Delete a static route by name.
    Del {
        /// The route's name.
        name: String,
    },
    /// List the static routes.
    List,
}

/// Parses `route add`'s words after the prefix.
fn route_spec(name: String, prefix: String, rest: &[String]) -> Result<RouteSpec, String> {
    let mut spec = RouteSpec {
        name,
        prefix,
        interface: None,
        peer: None,
        next_hop: None,
        advertise: false,
    };
    let mut words = rest.iter();
    while let Some(w) = words.next() {
        let mut value = |what: &str| {
            words
                .next()
                .cloned()
                .ok_or_else(|| format!("`{w}` needs {what} after it"))
        };
        match w.as_str() {
            "via" => spec.next_hop = Some(value("an address")?),
            "dev" => spec.interface = Some(value("an interface name")?),
            "peer" => spec.peer = Some(value("a tunnel peer name")?),
            "--advertise" | "advertise" => spec.advertise = true,
            "--no-advertise" => spec.advertise = false,
            other => {
                return Err(format!(
                    "unexpected `{other}`; usage: route add NAME PREFIX [via NEXT_HOP] (dev IFACE | peer PEER) [--advertise]"
                ));
            }
        }
    }
    Ok(spec)
}

#[derive(Debug, Subcommand)]
enum BgpCommand {
    /// One line per neighbor: AS, state, time in state, prefixes received /
    /// accepted / advertised, and why it last went down.
    Summary,
    /// Start a neighbor's session again after `disable` (or max-prefix).
    Enable {
        /// Neighbor address.
        address: String,
    },
    /// Stop a neighbor's session (Cease / Administrative Shutdown) until
    /// `enable`.
    Disable {
        /// Neighbor address.
        address: String,
    },
    /// Ask a neighbor to send its routes again (ROUTE-REFRESH).
    Refresh {
        /// Neighbor address.
        address: String,
    },
}

#[derive(Debug, Subcommand)]
enum ShowCommand {
    /// The BGP RIB: every candidate path, `*>` marks the best, with the
    /// reason it won (or lost).
    Route {
        /// Only this prefix.
        prefix: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut client = match Client::connect(&cli.socket) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vcpectl: {e:#}");
            return ExitCode::from(3);
        }
    };
    let request = match cli.command {
        Command::Status => Request::Status,
        Command::Stats => Request::Stats,
        Command::Bgp { command } => match command {
            BgpCommand::Summary => Request::BgpSummary,
            BgpCommand::Enable { address } => Request::BgpNeighbor {
                address,
                action: NeighborAction::Enable,
            },
            BgpCommand::Disable { address } => Request::BgpNeighbor {
                address,
                action: NeighborAction::Disable,
            },
            BgpCommand::Refresh { address } => Request::BgpNeighbor {
                address,
                action: NeighborAction::Refresh,
            },
        },
        Command::Show {
            command: ShowCommand::Route { prefix },
        } => Request::BgpRoutes { prefix },
        Command::Route { command } => match command {
            RouteCommand::Add { name, prefix, rest } => match route_spec(name, prefix, &rest) {
                Ok(spec) => Request::RouteAdd(spec),
                Err(m) => {
                    eprintln!("vcpectl: {m}");
                    return ExitCode::from(2);
                }
            },
            RouteCommand::Del { name } => Request::RouteDel { name },
            RouteCommand::List => Request::RouteList,
        },
    };
    let reply = match client.call(request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vcpectl: {e:#}");
            return ExitCode::from(3);
        }
    };
    if cli.json {
        match serde_json::to_string_pretty(&reply) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("vcpectl: cannot encode reply: {e}");
                return ExitCode::FAILURE;
            }
        }
        return match reply {
            Reply::Error { .. } => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        };
    }
    match reply {
        Reply::Status(s) => {
            print_status(&s);
            ExitCode::SUCCESS
        }
        Reply::Stats(s) => {
            print_stats(&s);
            ExitCode::SUCCESS
        }
        Reply::BgpSummary { neighbors } => {
            print_bgp_summary(&neighbors);
            ExitCode::SUCCESS
        }
        Reply::BgpRoutes { routes } => {
            print_routes(&routes);
            ExitCode::SUCCESS
        }
        Reply::Routes { routes } => {
            println!(
                "{:<20} {:<22} {:<22} {:<18} ADVERTISE",
                "NAME", "PREFIX", "TO", "VIA"
            );
            for r in &routes {
                let to = match (&r.interface, &r.peer) {
                    (Some(i), _) => format!("dev {i}"),
                    (_, Some(p)) => format!("peer {p}"),
                    _ => "-".into(),
                };
                println!(
                    "{:<20} {:<22} {:<22} {:<18} {}",
                    r.name,
                    r.prefix,
                    to,
                    r.next_hop.as_deref().unwrap_or("-"),
                    if r.advertise { "yes" } else { "no" }
                );
            }
            ExitCode::SUCCESS
        }
        Reply::Done { message } => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Reply::Error { message } => {
            eprintln!("vcpectl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_bgp_summary(list: &[BgpNeighbor]) {
    println!(
        "{:<26} {:>10} {:<14} {:>8} {:>9} {:>9} {:>9}  LAST ERROR",
        "NEIGHBOR", "AS", "STATE", "UP/DOWN", "RECEIVED", "ACCEPTED", "ADVERTISED"
    );
    for n in list {
        let since = n.since_secs.map_or_else(|| "never".to_owned(), duration);
        println!(
            "{:<26} {:>10} {:<14} {:>8} {:>9} {:>9} {:>9}  {}",
            n.address,
            n.asn,
            n.state,
            since,
            n.received,
            n.accepted,
            n.advertised,
            n.last_error.as_deref().unwrap_or("")
        );
    }
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn print_routes(routes: &[BgpRoute]) {
    println!(
        "   {:<24} {:<24} {:<18} {:<6} PATH / REASON",
        "PREFIX", "NEXT HOP", "FROM", "ORIGIN"
    );
    for r in routes {
        let path: Vec<String> = r.as_path.iter().map(u32::to_string).collect();
        println!(
            "{:<2} {:<24} {:<24} {:<18} {:<6} [{}] {}{}",
            if r.best { "*>" } else { "*" },
            r.prefix,
            r.next_hop.as_deref().unwrap_or("-"),
            r.source,
            r.origin,
            path.join(" "),
            r.reason,
            if r.stale {
                " (stale: peer restarting)"
            } else {
                ""
            }
        );
    }
}

fn print_status(s: &Status) {
    println!("vcped {} (pid {}), up {}s", s.version, s.pid, s.uptime_secs);
    println!("config      {}", s.config_path);
    println!("router      id {} AS {}", s.router_id, s.asn);
    println!(
        "configured  {} interfaces, {} static routes, {} tunnel peers, {} BGP neighbors",
        s.interfaces, s.static_routes, s.peers, s.bgp_neighbors
    );
}

fn print_stats(s: &Stats) {
    println!(
        "FIB: {} IPv4 + {} IPv6 routes, {} workers",
        s.fib_v4_routes, s.fib_v6_routes, s.workers
    );
    println!();
    println!(
        "{:<16} {:>12} {:>14} {:>12} {:>14}",
        "INTERFACE", "RX PACKETS", "RX BYTES", "TX PACKETS", "TX BYTES"
    );
    for i in &s.interfaces {
        println!(
            "{:<16} {:>12} {:>14} {:>12} {:>14}",
            i.name, i.rx_packets, i.rx_bytes, i.tx_packets, i.tx_bytes
        );
    }
    println!();
    println!("{:<20} {:>12}", "DROP REASON", "PACKETS");
    for (k, v) in &s.drops {
        println!("{k:<20} {v:>12}");
    }
    println!();
    println!("{:<20} {:>12}", "EVENT", "COUNT");
    for (k, v) in &s.events {
        println!("{k:<20} {v:>12}");
    }
    if !s.tunnels.is_empty() {
        println!();
        println!(
            "{:<12} {:<10} {:<24} {:>10} {:>10} {:>8} {:>8} {:>9}",
            "TUNNEL", "ENCAP", "ENDPOINT", "TX PKTS", "RX PKTS", "SPOOFED", "ERRORS", "LAST RX"
        );
        for t in &s.tunnels {
            println!(
                "{:<12} {:<10} {:<24} {:>10} {:>10} {:>8} {:>8} {:>9}",
                t.name,
                t.encapsulation,
                t.endpoint,
                t.tx_packets,
                t.rx_packets,
                t.rx_spoofed,
                t.rx_errors + t.tx_errors,
                t.last_rx_secs
                    .map_or_else(|| "never".to_owned(), |s| format!("{s}s ago"))
            );
        }
    }
}
