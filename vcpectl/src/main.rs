//! `vcpectl`: the operator CLI of a running `vcped`.
//!
//! Every command but `doctor` and `completions` sends one request over the
//! control socket and prints the reply: a table or a detail block by
//! default, the reply object itself with `--json`. One module per command
//! group renders its replies; `table.rs` holds the table printing they
//! share.

mod bfd;
mod bgp;
mod config;
mod doctor;
mod explain;
mod route;
mod show;
mod status;
mod table;
mod tunnel;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use vcpe_api::{Client, Reply, Request};

/// vcpectl — inspect and manage a running vcpe router (vcped).
///
/// Talks to the daemon over its control socket. Every command takes --json
/// for scripts; exit status is 0 on success, 1 when the daemon refused the
/// request (or `doctor` found a failing check), 2 on usage errors, 3 when
/// the daemon cannot be reached.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
pub struct Cli {
    /// Control socket of the daemon (the `[control] socket` of its config).
    #[arg(
        short,
        long,
        global = true,
        default_value = vcpe_config::DEFAULT_SOCKET,
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
    /// BGP sessions: summary, one neighbor in detail with its received or
    /// advertised routes, and enable/disable/refresh of a neighbor.
    Bgp {
        #[command(subcommand)]
        command: bgp::BgpCommand,
    },
    /// BFD sessions: state both ways, negotiated intervals, detection
    /// time, when and why each last went down, packets in and out.
    Bfd,
    /// Show routes.
    Show {
        #[command(subcommand)]
        command: show::ShowCommand,
    },
    /// Static routes, live: add, delete, list, show one.
    Route {
        #[command(subcommand)]
        command: route::RouteCommand,
    },
    /// Explain how an address is forwarded: the FIB entry that matches, its
    /// next hop, tunnel or interface, why that route won and what lost.
    ///
    /// With a flow (`--from SRC --proto tcp --sport N --dport N`), also which
    /// of several equal-cost next hops (ECMP) that flow takes, by the
    /// dataplane's own flow hash.
    Explain {
        /// Destination address, e.g. 10.2.1.7.
        #[arg(value_parser = parse_address)]
        address: IpAddr,
        /// Source address of a flow to the destination.
        #[arg(long = "from", value_parser = parse_address, requires = "proto")]
        from: Option<IpAddr>,
        /// The flow's protocol: tcp, udp, icmp, icmpv6 or a number.
        #[arg(long, requires = "from")]
        proto: Option<String>,
        /// The flow's TCP/UDP source port.
        #[arg(long, requires = "from")]
        sport: Option<u16>,
        /// The flow's TCP/UDP destination port.
        #[arg(long, requires = "from")]
        dport: Option<u16>,
    },
    /// Tunnels to the other vCPEs.
    Tunnel {
        #[command(subcommand)]
        command: tunnel::TunnelCommand,
    },
    /// WireGuard keys, without the daemon: `key pubkey FILE` prints the
    /// public key of a private key file (as `wg pubkey` does), `key
    /// generate FILE` writes a new private key and prints its public key.
    Key {
        #[command(subcommand)]
        command: tunnel::KeyCommand,
    },
    /// Check that this host is set up for a vCPE (forwarding, rp_filter,
    /// policy routing, MTUs, clock, socket, interfaces) and say what to
    /// fix. Runs on the host, without the daemon; exit 1 if a check fails.
    Doctor {
        /// The config file vcped runs with.
        #[arg(short, long, default_value = vcpe_config::DEFAULT_PATH, env = "VCPE_CONFIG")]
        config: PathBuf,
    },
    /// Apply the config file's changes (as SIGHUP does): only what differs,
    /// unchanged sessions and routes untouched; an invalid file changes
    /// nothing.
    Reload,
    /// The config: `config diff` shows what a reload would change; `config
    /// apply FILE [--confirm MINUTES]`, `confirm`, `history`, `rollback N`
    /// change it with a way back.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Print a shell completion script: `vcpectl completions bash >
    /// /etc/bash_completion.d/vcpectl`.
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// Print the man page vcpectl(1) (roff): `vcpectl man | man -l -`.
    /// The Debian package installs it.
    #[command(hide = true)]
    Man,
}

/// Shells `completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Shell {
    /// bash
    Bash,
    /// zsh
    Zsh,
    /// fish
    Fish,
}

/// An address argument, with the fix in the message.
pub fn parse_address(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| {
        if s.contains('/') {
            format!(
                "{s} is a prefix; give one address, e.g. {}",
                s.split('/').next().unwrap_or(s)
            )
        } else {
            "not an IP address; write e.g. 10.2.1.7 or fd00:2:1::7".to_owned()
        }
    })
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Ok,
    /// The daemon refused, or a check failed.
    Refused,
    /// Bad command line.
    Usage,
    /// No daemon to talk to.
    Unreachable,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::Refused => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
        })
    }
}

/// How a reply is printed: the request's own options (e.g. `detail`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// All attributes, one block per route.
    pub detail: bool,
}

fn main() -> ExitCode {
    // Die quietly when the reader of our output goes away (`vcpectl show
    // route | head`), as CLI tools do, instead of panicking in println!.
    // SAFETY: restoring the default disposition of a signal before any
    // thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let (request, style) = match cli.command {
        Command::Completions { shell } => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            // Into a buffer first: `generate` panics on a closed pipe
            // (`vcpectl completions bash | head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "vcpectl", &mut script);
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            return Exit::Ok.into();
        }
        Command::Man => {
            let mut page = Vec::new();
            if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut page) {
                eprintln!("vcpectl: cannot render the man page: {e}");
                return Exit::Refused.into();
            }
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &page);
            return Exit::Ok.into();
        }
        Command::Doctor { config } => return doctor::run(&config, &cli.socket, cli.json).into(),
        Command::Key { command } => return tunnel::key(command, cli.json).into(),
        Command::Tunnel {
            command: tunnel::TunnelCommand::Show { name },
        } => return tunnel::show(&cli.socket, &name, cli.json).into(),
        Command::Status => (Request::Status, Style::default()),
        Command::Stats => (Request::Stats, Style::default()),
        Command::Bgp { command } => (bgp::request(command), Style::default()),
        Command::Bfd => (Request::BfdSessions, Style::default()),
        Command::Show { command } => match show::request(command) {
            Ok(x) => x,
            Err(m) => return usage(&m),
        },
        Command::Route { command } => match route::request(command) {
            Ok(r) => (r, Style::default()),
            Err(m) => return usage(&m),
        },
        Command::Explain {
            address,
            from,
            proto,
            sport,
            dport,
        } => (
            Request::Explain {
                address: address.to_string(),
                flow: from
                    .zip(proto)
                    .map(|(source, protocol)| vcpe_api::FlowSpec {
                        source: source.to_string(),
                        protocol,
                        source_port: sport,
                        destination_port: dport,
                    }),
            },
            Style::default(),
        ),
        Command::Tunnel { command } => (tunnel::request(command), Style::default()),
        Command::Reload => (Request::Reload, Style::default()),
        Command::Config { command } => match config::request(command) {
            Ok(r) => (r, Style::default()),
            Err(m) => return usage(&m),
        },
    };
    call(&cli.socket, request, cli.json, style).into()
}

/// A usage error: what is wrong, what would be right; nothing was sent.
fn usage(message: &str) -> ExitCode {
    eprintln!("vcpectl: {message}");
    Exit::Usage.into()
}

/// Sends `request` and prints the reply.
fn call(socket: &std::path::Path, request: Request, json: bool, style: Style) -> Exit {
    let reply = match Client::connect(socket).and_then(|mut c| c.call(request)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vcpectl: {e:#}");
            return Exit::Unreachable;
        }
    };
    let refused = matches!(reply, Reply::Error { .. });
    if json {
        match serde_json::to_string_pretty(&reply) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("vcpectl: cannot encode the reply: {e}");
                return Exit::Refused;
            }
        }
    } else {
        print(&reply, style);
    }
    if refused { Exit::Refused } else { Exit::Ok }
}

/// The human form of a reply.
fn print(reply: &Reply, style: Style) {
    match reply {
        Reply::Status(s) => print!("{}", status::status(s)),
        Reply::Stats(s) => print!("{}", status::stats(s)),
        Reply::BgpSummary { neighbors } => print!("{}", bgp::summary(neighbors)),
        Reply::BgpRoutes { routes } => print!("{}", bgp::paths(routes)),
        Reply::Routes { routes } => print!("{}", route::list(routes)),
        Reply::Done { message } => println!("{message}"),
        Reply::Error { message } => eprintln!("vcpectl: {message}"),
        Reply::Route(d) => print!("{}", route::detail(d)),
        Reply::Rib { matched, routes } => {
            print!("{}", show::rib(matched.as_deref(), routes, style.detail))
        }
        Reply::Explain(e) => print!("{}", explain::explain(e)),
        Reply::BgpNeighborDetail(d) => print!("{}", bgp::neighbor(d)),
        Reply::BgpAdjRib {
            neighbor,
            direction,
            routes,
        } => print!("{}", bgp::adj_rib(neighbor, *direction, routes)),
        Reply::Tunnels {
            tunnels,
            handshakes,
        } => print!("{}", tunnel::list(tunnels, handshakes.as_deref())),
        Reply::BfdSessions { sessions, drops } => print!("{}", bfd::sessions(sessions, drops)),
        Reply::ConfigChanges {
            file,
            applied,
            changes,
        } => print!("{}", config::changes(file, *applied, changes)),
        Reply::ConfigApplied(a) => print!("{}", config::applied(a)),
        Reply::ConfigHistory {
            file,
            directory,
            entries,
            pending,
        } => print!(
            "{}",
            config::history(file, directory, entries, pending.as_ref())
        ),
        #[allow(unreachable_patterns)]
        other => match serde_json::to_string_pretty(other) {
            // A reply this vcpectl has no table for (a newer daemon).
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("vcpectl: cannot show the reply: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn addresses_are_checked_before_anything_is_sent() {
        assert!(parse_address("10.2.1.7").is_ok());
        assert!(
            parse_address("10.2.1.0/24")
                .unwrap_err()
                .contains("give one address, e.g. 10.2.1.0")
        );
        assert!(
            parse_address("vpc02")
                .unwrap_err()
                .contains("not an IP address")
        );
    }

    #[test]
    fn advertise_flags_exclude_each_other() {
        let r = Cli::try_parse_from([
            "vcpectl",
            "route",
            "add",
            "x",
            "10.9.0.0/16",
            "dev",
            "vcpe0",
            "--advertise",
            "--no-advertise",
        ]);
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("cannot be used with"), "{e}");
    }
}
