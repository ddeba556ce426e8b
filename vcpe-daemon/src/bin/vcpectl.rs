//! `vcpectl`: the operator CLI of a running `vcped`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vcpe_daemon::control::{Client, Reply, Request, Stats, Status};

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
        Reply::Error { message } => {
            eprintln!("vcpectl: {message}");
            ExitCode::FAILURE
        }
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
}
