//! `vcped`: the vcpe router daemon.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use vcpe_daemon::control::history::{DEFAULT_KEEP, History};
use vcpe_daemon::logging::{self, LogFormat};

/// vcped — the vcpe virtual CPE router daemon.
///
/// Runs one vCPE: reads IP packets from its TUN interfaces, forwards them by
/// longest-prefix match, carries cross-VPC traffic over tunnels to peer
/// vCPEs, and exchanges routes with them (and with BIRD, FRR, GoBGP) by BGP.
/// Operate a running daemon with `vcpectl`.
#[derive(Debug, Parser)]
#[command(
    name = "vcped",
    version,
    about = "the vcpe virtual CPE router daemon",
    long_about
)]
struct Cli {
    /// Log line format: `human` (one readable line per event) or `json` (one
    /// JSON object per line with timestamp, level, message, target and the
    /// event's fields, for log shippers). Verbosity follows `RUST_LOG`.
    #[arg(
        long,
        value_enum,
        default_value_t,
        global = true,
        env = "VCPE_LOG_FORMAT"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default when no command is given).
    Run {
        /// Config file to run.
        #[arg(short, long, default_value = vcpe_config::DEFAULT_PATH, env = "VCPE_CONFIG")]
        config: PathBuf,
        /// Control socket path, overriding the config's `[control] socket`
        /// (e.g. to run several daemons on one host).
        #[arg(short, long, env = "VCPE_SOCKET")]
        socket: Option<PathBuf>,
        /// Directory of the config history (`vcpectl config history`,
        /// `rollback`, the pending `config apply --confirm`). Default:
        /// `$STATE_DIRECTORY/history` under systemd's `StateDirectory=`,
        /// else next to the config file (/etc/vcpe/vcped.history).
        #[arg(long, env = "VCPE_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// How many applied config versions the history keeps.
        #[arg(long, default_value_t = vcpe_daemon::control::history::DEFAULT_KEEP)]
        history: usize,
    },
    /// Validate config files and print every error; exit 0 if all are valid, 1 otherwise.
    ///
    /// Like `nginx -t`: run it before deploying a changed file.
    CheckConfig {
        /// Config files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The files are for another machine: skip the checks against
        /// this one (that the `[control] group` exists here). Without it,
        /// check-config refuses exactly what `vcped run` here would.
        #[arg(long)]
        elsewhere: bool,
    },
    /// Print the man page vcped(8) (roff): `vcped man | man -l -`. The
    /// Debian package installs it.
    #[command(hide = true)]
    Man,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig { files, elsewhere }) => check_config(&files, elsewhere),
        Some(Command::Man) => man(),
        Some(Command::Run {
            config,
            socket,
            state_dir,
            history,
        }) => {
            let dir = state_dir.unwrap_or_else(|| History::default_dir(&config));
            run(
                cli.log_format,
                &config,
                socket.as_deref(),
                History::new(dir, history),
            )
        }
        None => {
            let config = Path::new(vcpe_config::DEFAULT_PATH);
            let history = History::new(History::default_dir(config), DEFAULT_KEEP);
            run(cli.log_format, config, None, history)
        }
    }
}

/// vcped(8): a daemon's page is in section 8.
fn man() -> ExitCode {
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(Cli::command()).section("8");
    if let Err(e) = man.render(&mut page) {
        eprintln!("vcped: cannot render the man page: {e}");
        return ExitCode::FAILURE;
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), &page);
    ExitCode::SUCCESS
}

fn check_config(files: &[PathBuf], elsewhere: bool) -> ExitCode {
    let mut ok = true;
    for file in files {
        let loaded = if elsewhere {
            vcpe_config::load_on_host(
                file,
                &vcpe_config::HostChecks {
                    group_exists: |_| None,
                },
            )
        } else {
            vcpe_daemon::daemon::load_config(file)
        };
        match loaded {
            Ok(_) => println!("{}: ok", file.display()),
            Err(diagnostics) => {
                ok = false;
                eprintln!("{diagnostics}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(format: LogFormat, config: &Path, socket: Option<&Path>, history: History) -> ExitCode {
    // Before the first thread: a SIGHUP or SIGTERM from now on waits for
    // the daemon's handlers instead of killing it half-started.
    vcpe_daemon::signals::block_early();
    logging::init(format, "info");
    vcpe_daemon::malloc::tune();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vcped-ctl")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(vcpe_daemon::daemon::run_with(config, socket, history));
    // A blocking task stuck on a file that does not answer must not keep
    // a stopped daemon from exiting.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
