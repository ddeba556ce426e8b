//! The control socket and the signals under abuse, against the real
//! daemon (issue 19, items 2, 6 and 7): 1,100 idle connections under the
//! default 1024-descriptor limit, the descriptors exhausted outright, a
//! FIFO in place of the config at SIGHUP, and SIGHUP or SIGTERM during
//! start-up. vcped must stay cool (no spinning accept loop), keep its log
//! small, answer `vcpectl status` (or say it is busy), and stop on SIGTERM
//! with exit 0 and its socket file gone.

use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use vcpe_tests::names::ifname;
use vcpe_tests::{Daemon, Lab, Netns, cargo_bin, has_tun, require_root, wait_until};

fn config(socket: &Path, tun: &str) -> String {
    format!(
        r#"[router]
id = "10.97.0.10"
asn = 65010

[control]
socket = "{socket}"

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.10.0.1/16"]
"#,
        socket = socket.display()
    )
}

/// A vcped started by hand (to set its descriptor limit), and its paths.
struct Run {
    daemon: Daemon,
    socket: PathBuf,
    config: PathBuf,
}

/// Starts vcped in `ns` with RLIMIT_NOFILE `nofile` (when given), without
/// waiting for it.
fn spawn(lab: &Lab, ns: &Netns, name: &str, nofile: Option<u64>) -> Result<Run> {
    let socket = lab.dir().join(format!("{name}.sock"));
    let config = lab.dir().join(format!("{name}.toml"));
    std::fs::write(&config, self::config(&socket, &ifname()))?;
    let mut cmd = ns.command(cargo_bin("vcped"));
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(lab.dir().join(format!("{name}.history")))
        .env("RUST_LOG", "info");
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs
        // between fork and exec here.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let daemon = ns.spawn_command(name, cmd)?;
    Ok(Run {
        daemon,
        socket,
        config,
    })
}

/// `vcpectl status` with a deadline: its exit, stdout and stderr.
fn status(socket: &Path) -> Result<(bool, String)> {
    let mut cmd = Command::new(cargo_bin("vcpectl"));
    cmd.arg("--socket").arg(socket).arg("status");
    let out = vcpe_tests::process::run(&mut cmd, Duration::from_secs(10))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

fn wait_ready(run: &Run) -> Result<()> {
    let up = wait_until(Duration::from_secs(20), || {
        !run.daemon.is_running() || status(&run.socket).is_ok_and(|(ok, _)| ok)
    });
    ensure!(
        up && run.daemon.is_running(),
        "vcped did not start:\n{}",
        run.daemon.log()
    );
    Ok(())
}

/// CPU time (user + system) of `pid` in seconds.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime), counted after the name as 12, 13.
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks as f64 / hz)
}

/// The share of one core `pid` used over `over`.
fn cpu_share(pid: u32, over: Duration) -> Result<f64> {
    let before = cpu_secs(pid)?;
    std::thread::sleep(over);
    Ok((cpu_secs(pid)? - before) / over.as_secs_f64())
}

/// Lets this test process hold a few thousand descriptors itself.
fn raise_own_nofile() -> Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill and then pass back.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.max(8192);
        lim.rlim_max = lim.rlim_cur;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            bail!("raising RLIMIT_NOFILE: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sets the soft descriptor limit of a running process (hard: 1024).
fn prlimit_nofile(pid: u32, n: u64) -> Result<()> {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: 1024,
    };
    // SAFETY: `lim` is valid; a null old-limit pointer is allowed.
    if unsafe { libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut()) } != 0 {
        bail!("prlimit {pid}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

fn open_fds(pid: u32) -> Result<u64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64)
}

/// `n` connections to `socket` that send nothing.
fn idle_connections(socket: &Path, n: usize) -> Result<Vec<UnixStream>> {
    (0..n)
        .map(|i| UnixStream::connect(socket).with_context(|| format!("idle connection {i} of {n}")))
        .collect()
}

fn lab_or_skip(tag: &str) -> Result<Option<Lab>> {
    if !has_tun() {
        eprintln!("SKIP control socket {tag}: /dev/net/tun is missing");
        return Ok(None);
    }
    Ok(Some(Lab::new(tag)?))
}

#[test]
fn idle_connections_and_exhausted_descriptors_neither_spin_nor_flood_the_log() -> Result<()> {
    require_root!();
    let Some(lab) = lab_or_skip("ctlfd")? else {
        return Ok(());
    };
    raise_own_nofile()?;
    let ns = lab.netns("vcpe")?;
    // The soft limit a unit without LimitNOFILE= gets.
    let run = spawn(&lab, &ns, "vcped", Some(1024))?;
    wait_ready(&run)?;
    let pid = run.daemon.pid();

    // 1,100 idle connections, more than the limit allows descriptors.
    let held = idle_connections(&run.socket, 1100)?;
    std::thread::sleep(Duration::from_secs(1));
    let share = cpu_share(pid, Duration::from_secs(3))?;
    ensure!(
        share < 0.10,
        "vcped used {:.0}% of a core with 1,100 idle control connections\n{}",
        share * 100.0,
        run.daemon.log()
    );
    eprintln!(
        "vcped CPU with 1,100 idle connections: {:.1}% of a core",
        share * 100.0
    );
    let log = run.daemon.log();
    ensure!(
        !log.contains("accept failed") && log.len() < 64 * 1024,
        "accept failures with 1,100 idle connections ({} bytes of log):\n{}",
        log.len(),
        &log[log.len().saturating_sub(2000)..]
    );
    let (ok, text) = status(&run.socket)?;
    ensure!(
        ok || text.contains("already serves 64 control connections"),
        "vcpectl status neither answered nor was refused clearly: {text}"
    );
    drop(held);
    // Once they are gone, status answers again.
    ensure!(
        wait_until(Duration::from_secs(10), || status(&run.socket)
            .is_ok_and(|(ok, _)| ok)),
        "vcpectl status does not answer after the idle connections closed\n{}",
        run.daemon.log()
    );

    // Descriptors exhausted outright: accept fails with EMFILE.
    let fds = open_fds(pid)?;
    prlimit_nofile(pid, fds + 4)?;
    let held = idle_connections(&run.socket, 300)?;
    std::thread::sleep(Duration::from_secs(1));
    let share = cpu_share(pid, Duration::from_secs(3))?;
    ensure!(
        share < 0.10,
        "vcped used {:.0}% of a core with no descriptors left\n{}",
        share * 100.0,
        run.daemon.log()
    );
    eprintln!(
        "vcped CPU with no descriptors left: {:.1}% of a core",
        share * 100.0
    );
    let log = run.daemon.log();
    let warnings = log
        .lines()
        .filter(|l| l.contains("control socket accept failed"))
        .count();
    ensure!(
        (1..=3).contains(&warnings),
        "{warnings} accept-failure lines in 4 s (want the first, rate-limited):\n{log}"
    );
    ensure!(
        log.contains("raise LimitNOFILE"),
        "the warning does not say what to do:\n{log}"
    );
    ensure!(log.len() < 64 * 1024, "log grew to {} bytes", log.len());
    drop(held);
    prlimit_nofile(pid, 1024)?;
    ensure!(
        wait_until(Duration::from_secs(10), || status(&run.socket)
            .is_ok_and(|(ok, _)| ok)),
        "vcpectl status does not answer once descriptors are free again\n{}",
        run.daemon.log()
    );
    Ok(())
}

/// Sends `sig` to `pid` and waits (10 s at most) for the daemon to exit;
/// its exit status.
fn signal_and_wait(daemon: &mut Daemon, sig: libc::c_int) -> Result<ExitStatus> {
    // SAFETY: plain kill(2) to our own child.
    unsafe { libc::kill(daemon.pid() as i32, sig) };
    let exited = wait_until(Duration::from_secs(10), || !daemon.is_running());
    let status = daemon.stop().context("no exit status")?;
    ensure!(
        exited,
        "vcped did not exit within 10 s of signal {sig}\n{}",
        daemon.log()
    );
    Ok(status)
}

#[test]
fn a_fifo_config_at_sighup_is_refused_and_sigterm_still_stops() -> Result<()> {
    require_root!();
    let Some(lab) = lab_or_skip("ctlfifo")? else {
        return Ok(());
    };
    let ns = lab.netns("vcpe")?;
    let mut run = spawn(&lab, &ns, "vcped", None)?;
    wait_ready(&run)?;
    std::fs::remove_file(&run.config)?;
    let c = std::ffi::CString::new(run.config.to_str().context("utf-8")?)?;
    // SAFETY: `c` is a valid NUL-terminated path.
    ensure!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0, "mkfifo");
    // SAFETY: plain kill(2) to our own child.
    unsafe { libc::kill(run.daemon.pid() as i32, libc::SIGHUP) };
    let log = run
        .daemon
        .wait_for_log("not a regular file", Duration::from_secs(10))?;
    ensure!(
        log.contains(&format!(
            "{} is not a regular file (it is a FIFO)",
            run.config.display()
        )),
        "the refusal does not name the file:\n{log}"
    );
    let started = Instant::now();
    let (ok, text) = status(&run.socket)?;
    ensure!(
        ok && started.elapsed() < Duration::from_secs(2),
        "status after SIGHUP on a FIFO: {text}"
    );
    // `vcpectl reload` says the same, at once.
    let mut cmd = Command::new(cargo_bin("vcpectl"));
    cmd.arg("--socket").arg(&run.socket).arg("reload");
    let out = vcpe_tests::process::run(&mut cmd, Duration::from_secs(10))?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && err.contains("not a regular file"),
        "vcpectl reload on a FIFO: {err}"
    );
    let st = signal_and_wait(&mut run.daemon, libc::SIGTERM)?;
    ensure!(st.code() == Some(0), "exit {st:?}\n{}", run.daemon.log());
    ensure!(!run.socket.exists(), "socket file left behind");
    Ok(())
}

/// Whether `pid` blocks or catches `sig` (from /proc/PID/status): vcped
/// has started to run its own code.
fn handles(pid: u32, sig: libc::c_int) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (sig - 1);
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("SigBlk:")
                .or_else(|| l.strip_prefix("SigCgt:"))
        })
        .filter_map(|v| u64::from_str_radix(v.trim(), 16).ok())
        .any(|m| m & bit != 0)
}

/// Starts vcped and sends `sig` the moment it takes the signal in hand
/// (blocks or catches it), which must be before its control socket
/// exists: during start-up. A few tries, since the test thread may be
/// descheduled past that moment on a busy machine.
fn signal_at_start(lab: &Lab, ns: &Netns, name: &str, sig: libc::c_int) -> Result<Run> {
    for attempt in 0..5 {
        let run = spawn(lab, ns, &format!("{name}{attempt}"), None)?;
        let pid = run.daemon.pid();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !handles(pid, sig) {
            ensure!(
                Instant::now() < deadline && run.daemon.is_running(),
                "vcped never blocked or caught signal {sig}\n{}",
                run.daemon.log()
            );
            std::hint::spin_loop();
        }
        let early = !run.socket.exists();
        // SAFETY: plain kill(2) to our own child.
        unsafe { libc::kill(pid as i32, sig) };
        if early {
            return Ok(run);
        }
        eprintln!("signal {sig} sent after the socket was up (try {attempt}); again");
    }
    bail!("vcped does not take signal {sig} in hand before its control socket is up")
}

#[test]
fn signals_during_start_up_are_kept_for_the_ready_daemon() -> Result<()> {
    require_root!();
    let Some(lab) = lab_or_skip("ctlsig")? else {
        return Ok(());
    };
    let ns = lab.netns("vcpe")?;

    // SIGHUP: no crash (it used to exit 129); a reload once ready.
    let hup = signal_at_start(&lab, &ns, "hup", libc::SIGHUP)?;
    wait_ready(&hup)?;
    hup.daemon
        .wait_for_log("signal received during start-up", Duration::from_secs(5))?;
    hup.daemon
        .wait_for_log("nothing to do", Duration::from_secs(5))?;
    std::thread::sleep(Duration::from_millis(300));
    ensure!(hup.daemon.is_running(), "vcped died of an early SIGHUP");
    drop(hup);

    // SIGTERM: exit 0, the socket file gone.
    let mut term = signal_at_start(&lab, &ns, "term", libc::SIGTERM)?;
    let st = signal_and_wait(&mut term.daemon, 0)?;
    ensure!(
        st.code() == Some(0),
        "an early SIGTERM: exit {st:?}\n{}",
        term.daemon.log()
    );
    ensure!(
        !term.socket.exists(),
        "an early SIGTERM left {} behind",
        term.socket.display()
    );
    ensure!(
        term.daemon.log().contains("SIGTERM received"),
        "{}",
        term.daemon.log()
    );
    Ok(())
}
