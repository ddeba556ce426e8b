//! Socket I/O and timers are not starved by route processing: vcped keeps
//! sending KEEPALIVEs while it takes a table of a million routes.
//!
//! ```text
//!   feed ns: this test process          dut ns: vcped (AS 65010)
//!   10.77.0.1 (AS 65100) ── veth ──── 10.77.0.2, TUN with 10.77.0.0/24
//! ```
//!
//! One eBGP session with hold time 3 s (keepalive 1 s). The test's feeder
//! ([`vcpe_tests::bgp_feed`], the same code as `bench/bgp.sh`'s feeder)
//! pre-encodes 1,000,000 IPv4 /24s (the `packed` profile, ~1000 per
//! UPDATE) with next hop 10.77.0.1, which resolves through vcped's static
//! route to the LAN, so every route is installed in vcped's FIB. One thread
//! writes the table as fast as TCP takes it, with our KEEPALIVEs every
//! second between message-aligned chunks; another reads what vcped sends
//! and notes when each message arrives.
//!
//! Until `vcpectl bgp summary` counts every prefix accepted and then
//! `vcpectl stats` every route in the FIB, the session must stay up (no
//! NOTIFICATION, no EOF, Established) and no gap between vcped's messages
//! may reach the hold time: a functional check (hold timer expiry is the
//! failure), not a speed target; the figures are printed. `stats` is asked
//! while the FIB thread installs batches, as an operator would: the
//! request waits for the FIB lock on a blocking thread, and BGP runs on a
//! thread of its own, so neither the polling nor the FIB may delay a
//! KEEPALIVE.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use vcpe_bgp::model::Message;
use vcpe_bgp::wire::{Ctx, decode, frame_len};
use vcpe_tests::bgp_feed::{Profile, Reader, Session, SessionParams, Table, handshake};
use vcpe_tests::{Lab, Netns, Vcped, connect_in, names::ifname, require_root, require_tun};

const VCPE: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const VCPE_AS: u32 = 65010;
const FEED: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const FEED_AS: u32 = 65100;
/// The table: this many /24s from 16.0.0.0.
const PREFIXES: u32 = 1_000_000;
/// Hold time of both ends, so 1 s keepalives.
const HOLD: Duration = Duration::from_secs(3);
const KEEPALIVE_EVERY: Duration = Duration::from_secs(1);
/// The feed is written in chunks of whole messages of about this size, so
/// that our KEEPALIVEs go out between them (one writer, no interleaving).
const WRITE_CHUNK: usize = 64 * 1024;
/// How long vcped (a debug build in CI) gets for the whole table.
const TABLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How often vcpectl is asked for progress.
const POLL_EVERY: Duration = Duration::from_millis(250);

#[test]
fn keepalives_flow_while_a_million_routes_are_processed() -> Result<()> {
    require_root!();
    require_tun();
    let lab = Lab::new("bgp_load")?;
    let (dut, feed) = (lab.netns("dut")?, lab.netns("feed")?);
    lab.veth(&dut, "eth0", &feed, "eth0")?;
    dut.addr("eth0", &format!("{VCPE}/24"))?;
    feed.addr("eth0", &format!("{FEED}/24"))?;
    let vcped = start_vcped(&dut, lab.dir())?;
    let fib_before = fib_v4_routes(&vcped)?;

    // Encoded before the session exists (a debug build takes seconds, and
    // nobody would send our KEEPALIVEs meanwhile), for the context the
    // session will negotiate: 4-octet AS (both ends have it), 4096 octets.
    let table = Table {
        base: Ipv4Addr::new(16, 0, 0, 0),
        count: PREFIXES,
        profile: Profile::Packed,
        origin_as: FEED_AS,
        next_hop: FEED,
    };
    let encoded_for = Ctx::default();
    let t_encode = Instant::now();
    let (bytes, updates) = table.encode(&encoded_for).map_err(|e| anyhow!(e))?;
    eprintln!(
        "bgp_load: {PREFIXES} prefixes in {updates} UPDATEs, {} bytes, encoded in {:.1} s",
        bytes.len(),
        t_encode.elapsed().as_secs_f64()
    );

    let stream = connect_in(&feed, SocketAddr::new(IpAddr::V4(VCPE), 179))?;
    let params = SessionParams {
        local_as: FEED_AS,
        peer_as: VCPE_AS,
        router_id: FEED,
        hold: HOLD.as_secs() as u16,
    };
    let Session {
        reader,
        writer,
        ctx,
    } = handshake(&params, stream).map_err(|e| anyhow!("BGP handshake with vcped: {e}"))?;
    let t_up = Instant::now();
    ensure!(
        ctx == encoded_for,
        "the session negotiated {ctx:?}, the table is encoded for {encoded_for:?}"
    );

    let heard = Mutex::new(Heard::default());
    let stop = AtomicBool::new(false);
    let shutdown = writer.try_clone().context("cloning the BGP socket")?;
    let t_feed = Instant::now();
    let (phases, written) = std::thread::scope(|s| {
        let h = &heard;
        s.spawn(move || listen(reader, ctx, h));
        let feeder = s.spawn(|| feed_table(writer, &bytes, &ctx, &stop));
        let phases = wait_accepted(&vcped, &heard, t_feed).and_then(|accepted| {
            let want = fib_before + PREFIXES as usize;
            let installed = wait_installed(&vcped, want, &heard, t_feed)?;
            Ok((accepted, installed))
        });
        // Ends both threads: the writer sees `stop` (or a failed write),
        // the reader its socket shut down.
        stop.store(true, Ordering::Relaxed);
        let _ = shutdown.shutdown(Shutdown::Both);
        let written = feeder.join().unwrap_or_else(|_| Err("panicked".into()));
        (phases, written)
    });
    let heard = heard.into_inner().unwrap_or_else(PoisonError::into_inner);
    let (accepted, installed) = match phases {
        Ok(p) => p,
        Err(e) => {
            vcped.daemon.print_log();
            return Err(e.context(format!(
                "vcped did not take the table with its session up ({})",
                heard.summary(t_up)
            )));
        }
    };
    let written = written.map_err(|e| anyhow!("the feeder: {e}"))?;

    let gap = |from, to| heard.max_gap(from, to, |_| true);
    let max_gap = gap(t_up, installed);
    let max_keepalive_gap = heard.max_gap(t_up, installed, |keepalive| keepalive);
    let secs = |t: Instant| (t - t_feed).as_secs_f64();
    eprintln!(
        "bgp_load: feed written to TCP in {:.1} s; all {PREFIXES} accepted after {:.1} s, \
         in the FIB after {:.1} s",
        written.as_secs_f64(),
        secs(accepted),
        secs(installed),
    );
    eprintln!(
        "bgp_load: {} KEEPALIVEs from vcped; longest gap between its messages {:.3} s \
         ({:.3} s until accepted, {:.3} s while the FIB filled), between its KEEPALIVEs \
         {:.3} s; hold time {} s",
        heard.keepalives(t_up, installed),
        max_gap.as_secs_f64(),
        gap(t_up, accepted).as_secs_f64(),
        gap(accepted, installed).as_secs_f64(),
        max_keepalive_gap.as_secs_f64(),
        HOLD.as_secs(),
    );
    ensure!(
        max_gap < HOLD,
        "vcped sent nothing for {max_gap:?} while it processed the table: the feeder's hold \
         timer ({HOLD:?}) would have expired; {}",
        heard.summary(t_up)
    );
    Ok(())
}

/// vcped as `bench/bgp.sh` runs it: a TUN with a static route to the LAN
/// (so the feeder's next hop resolves and every route is installed), no
/// kernel route sync, one passive eBGP neighbor with hold time 3.
fn start_vcped(ns: &Netns, dir: &Path) -> Result<Vcped> {
    let tun = ifname();
    let text = format!(
        r#"[router]
id = "{VCPE}"
asn = {VCPE_AS}

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.10.0.1/16"]

[[route]]
name = "feed-lan"
prefix = "10.77.0.0/24"
interface = "{tun}"

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "{FEED}"
remote_as = {FEED_AS}
hold_time = {hold}
mode = "passive"
"#,
        hold = HOLD.as_secs()
    );
    Vcped::start(ns, dir, "vcped", &text)
}

/// What the reader thread heard from vcped.
#[derive(Debug, Default)]
struct Heard {
    /// Arrival of every message, and whether it was a KEEPALIVE.
    arrivals: Vec<(Instant, bool)>,
    /// When and why the session ended (NOTIFICATION, EOF, error).
    ended: Option<(Instant, String)>,
}

impl Heard {
    /// The longest time in `from..to` without a message that `counts`
    /// (given whether it is a KEEPALIVE); the ends of the window count as
    /// arrivals.
    fn max_gap(&self, from: Instant, to: Instant, counts: impl Fn(bool) -> bool) -> Duration {
        let inside = self
            .arrivals
            .iter()
            .filter(|(t, k)| *t > from && *t < to && counts(*k))
            .map(|(t, _)| *t);
        let mut last = from;
        let mut max = Duration::ZERO;
        for t in inside.chain([to]) {
            max = max.max(t - last);
            last = t;
        }
        max
    }

    /// KEEPALIVEs that arrived in `from..to`.
    fn keepalives(&self, from: Instant, to: Instant) -> usize {
        let inside = |t: &Instant| *t > from && *t < to;
        self.arrivals
            .iter()
            .filter(|(t, k)| *k && inside(t))
            .count()
    }

    /// Arrival times (seconds since `t0`) and how the session ended.
    fn summary(&self, t0: Instant) -> String {
        let times: Vec<String> = self
            .arrivals
            .iter()
            .map(|(t, k)| {
                format!(
                    "{:.2}{}",
                    (*t - t0).as_secs_f64(),
                    if *k { "" } else { "u" }
                )
            })
            .collect();
        let ended = match &self.ended {
            Some((t, why)) => format!("ended at {:.2} s: {why}", (*t - t0).as_secs_f64()),
            None => "still up".to_owned(),
        };
        format!(
            "messages from vcped at [{}] s (u: not a KEEPALIVE); {ended}",
            times.join(" ")
        )
    }
}

/// Reads vcped's messages until the session ends, noting each arrival.
fn listen(mut reader: Reader, ctx: Ctx, heard: &Mutex<Heard>) {
    loop {
        let msg = reader.next(&ctx).and_then(|m| {
            decode(m, &ctx)
                .map(|(m, _)| m)
                .map_err(|e| format!("undecodable message: {e}"))
        });
        let now = Instant::now();
        let mut h = heard.lock().unwrap_or_else(PoisonError::into_inner);
        match msg {
            Ok(Message::Notification(n)) => {
                h.ended = Some((now, format!("NOTIFICATION: {}", n.describe())));
                return;
            }
            Ok(m) => h.arrivals.push((now, matches!(m, Message::Keepalive))),
            Err(e) => {
                h.ended = Some((now, e));
                return;
            }
        }
    }
}

/// Writes `table` (whole messages, [`WRITE_CHUNK`] at a time) with a
/// KEEPALIVE between chunks whenever one is due, then only KEEPALIVEs
/// until `stop`. Returns how long the table took to write.
fn feed_table(
    mut w: TcpStream,
    table: &[u8],
    ctx: &Ctx,
    stop: &AtomicBool,
) -> std::result::Result<Duration, String> {
    let keepalive = vcpe_tests::bgp_feed::keepalive_bytes();
    let io = |e: std::io::Error| format!("writing to vcped: {e}");
    let t0 = Instant::now();
    let mut last_keepalive = t0;
    let mut at = 0;
    while at < table.len() {
        let mut end = at;
        while end < table.len() && end - at < WRITE_CHUNK {
            let len = frame_len(&table[end..], ctx)
                .map_err(|e| format!("our own feed does not frame: {e}"))?
                .ok_or("our own feed ends mid-message")?;
            end += len;
        }
        w.write_all(&table[at..end]).map_err(io)?;
        at = end;
        if last_keepalive.elapsed() >= KEEPALIVE_EVERY {
            w.write_all(&keepalive).map_err(io)?;
            last_keepalive = Instant::now();
        }
    }
    let written = t0.elapsed();
    while !stop.load(Ordering::Relaxed) {
        if last_keepalive.elapsed() >= KEEPALIVE_EVERY {
            w.write_all(&keepalive).map_err(io)?;
            last_keepalive = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(written)
}

/// Polls `vcpectl bgp summary` until vcped's neighbor has accepted
/// [`PREFIXES`]; fails as soon as the session is down (seen by the reader
/// thread, or not Established in the summary) or after [`TABLE_TIMEOUT`].
/// The summary is answered by the speaker task, so asking cannot hold up
/// the runtime.
fn wait_accepted(vcped: &Vcped, heard: &Mutex<Heard>, since: Instant) -> Result<Instant> {
    loop {
        if let Some((t, why)) = &heard.lock().unwrap_or_else(PoisonError::into_inner).ended {
            bail!(
                "the session went down {:.1} s into the feed: {why}",
                (*t - since).as_secs_f64()
            );
        }
        let summary = vcped.bgp_summary()?;
        let now = Instant::now();
        let n = summary.first();
        let state = n.map_or("", |n| n.state.as_str());
        let accepted = n.map_or(0, |n| n.accepted);
        ensure!(
            state == "Established",
            "vcped's session is {state:?} ({:?}) after {accepted} of {PREFIXES} prefixes",
            n.and_then(|n| n.last_error.as_deref()),
        );
        if accepted >= u64::from(PREFIXES) {
            return Ok(now);
        }
        ensure!(
            now < since + TABLE_TIMEOUT,
            "after {TABLE_TIMEOUT:?} vcped has accepted {accepted} of {PREFIXES} prefixes"
        );
        std::thread::sleep(POLL_EVERY);
    }
}

/// Polls `vcpectl stats` until vcped's FIB holds `want` IPv4 routes;
/// fails if the session goes down first or after [`TABLE_TIMEOUT`].
fn wait_installed(
    vcped: &Vcped,
    want: usize,
    heard: &Mutex<Heard>,
    since: Instant,
) -> Result<Instant> {
    loop {
        if let Some((t, why)) = &heard.lock().unwrap_or_else(PoisonError::into_inner).ended {
            bail!(
                "the session went down {:.1} s into the feed, while the FIB filled: {why}",
                (*t - since).as_secs_f64()
            );
        }
        let fib = fib_v4_routes(vcped)?;
        let now = Instant::now();
        if fib >= want {
            return Ok(now);
        }
        ensure!(
            now < since + TABLE_TIMEOUT,
            "after {TABLE_TIMEOUT:?} vcped has {fib} of {want} IPv4 routes in its FIB"
        );
        std::thread::sleep(POLL_EVERY);
    }
}

fn fib_v4_routes(vcped: &Vcped) -> Result<usize> {
    Ok(vcped.stats()?.fib_v4_routes)
}
