//! A slow BGP neighbor under churn (issue 19 item 4): vcped's output
//! towards a neighbor that reads 200 bytes a second stays bounded while
//! another neighbor flaps 10,000 routes, and once the slow neighbor reads
//! at full speed it ends with exactly the flapper's final table.
//!
//! ```text
//!   flap ns: this test (AS 65100)              dut ns: vcped (AS 65010)
//!   10.78.1.1 ───────────── veth ─────────── 10.78.1.2
//!   slow ns: this test (AS 65200)                 │
//!   10.78.2.1 ───────────── veth ─────────── 10.78.2.2
//! ```
//!
//! The flapper announces 10,000 /24s, then withdraws and announces them
//! all again [`FLAPS`] times ([`FLAP_PHASE`] apart), and ends with the
//! last quarter withdrawn.
//! The slow neighbor reads [`SLOW_READ`] bytes every [`SLOW_EVERY`] (so
//! TCP never stalls long enough for the send hold timer) and sends its
//! KEEPALIVEs. Meanwhile `vcpectl bgp neighbor 10.78.2.1 --json` must show
//! the bytes queued towards it bounded (vcped holds route changes back
//! and coalesces them per prefix); without that, every flap's UPDATEs
//! queue up in vcped (130 KB per flap in the issue). Then it reads at full
//! speed: the UPDATEs it decodes must leave it with exactly prefixes
//! 0..7500, and vcped's queue towards it empty. Last, it stops reading
//! altogether, the flapper flaps again until vcped's writes towards it
//! are stuck, and the operator drops it (`vcpectl bgp disable`): vcped
//! must let go of its socket within a few seconds (`ss` in its
//! namespace), although the peer keeps the connection open, and its RSS
//! (VmRSS) must be back within [`RSS_MARGIN_KB`] of what it was before
//! the slow neighbor came (a generous margin: a leak of the queued
//! UPDATEs is megabytes; the figures are printed).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::BytesMut;
use ipnet::{IpNet, Ipv4Net};
use vcpe_bgp::model::{AsPath, Message, Origin, PathAttributes, Update};
use vcpe_bgp::wire::{Ctx, build_updates, build_withdrawals, decode, frame_len, routes};
use vcpe_tests::bgp_feed::{Session, SessionParams, handshake, keepalive_bytes};
use vcpe_tests::{Lab, Netns, Vcped, connect_in, names::ifname, require_root, require_tun};

const VCPE_AS: u32 = 65010;
const VCPE_FLAP: Ipv4Addr = Ipv4Addr::new(10, 78, 1, 2);
const FLAP: Ipv4Addr = Ipv4Addr::new(10, 78, 1, 1);
const FLAP_AS: u32 = 65100;
const VCPE_SLOW: Ipv4Addr = Ipv4Addr::new(10, 78, 2, 2);
const SLOW: Ipv4Addr = Ipv4Addr::new(10, 78, 2, 1);
const SLOW_AS: u32 = 65200;
/// The flapper's table: this many /24s from 20.0.0.0.
const ROUTES: u32 = 10_000;
/// What it keeps at the end: the first three quarters.
const FINAL: u32 = ROUTES * 3 / 4;
/// Withdraw-all, announce-all rounds.
const FLAPS: usize = 30;
/// Time between the withdrawals and the announcements of a flap (and
/// between flaps): long enough for vcped to export each, as for a real
/// flap (withdrawals and announcements of the same routes taken in one
/// export pass cancel out, and would not show the queue).
const FLAP_PHASE: Duration = Duration::from_millis(120);
/// The slow neighbor reads this much ...
const SLOW_READ: usize = 200;
/// ... this often.
const SLOW_EVERY: Duration = Duration::from_secs(1);
/// TCP buffer sizes (min, default, max) of vcped's sends and the slow
/// neighbor's receives.
const SOCKET_BUFFERS: &str = "4096 16384 131072";
/// Hold time both test peers propose (KEEPALIVEs every second).
const HOLD: u16 = 9;
/// Bytes vcped may queue towards the slow neighbor: its high watermark
/// (256 KiB, `vcpe_bgp::speaker::OUT_HIGH`) plus one batch of changes of
/// the whole table (10,000 /24s: about 45 KB), with room to spare.
const QUEUE_BOUND: u64 = 512 * 1024;
/// RSS after the slow neighbor left, over RSS before it came.
const RSS_MARGIN_KB: u64 = 8 * 1024;
/// How long the slow neighbor gets to read everything at full speed.
const CATCH_UP: Duration = Duration::from_secs(20);

#[test]
fn a_slow_neighbor_under_churn_gets_bounded_coalesced_output() -> Result<()> {
    require_root!();
    require_tun();
    let lab = Lab::new("bgp_slow")?;
    let (dut, flap_ns, slow_ns) = (lab.netns("dut")?, lab.netns("flap")?, lab.netns("slow")?);
    lab.veth(&dut, "eth0", &flap_ns, "eth0")?;
    lab.veth(&dut, "eth1", &slow_ns, "eth0")?;
    dut.addr("eth0", &format!("{VCPE_FLAP}/24"))?;
    dut.addr("eth1", &format!("{VCPE_SLOW}/24"))?;
    flap_ns.addr("eth0", &format!("{FLAP}/24"))?;
    slow_ns.addr("eth0", &format!("{SLOW}/24"))?;
    // Small socket buffers towards the slow neighbor (the defaults grow
    // to megabytes while it reads at full speed), so that what vcped
    // queues shows soon after it stops reading.
    dut.sysctl("net.ipv4.tcp_wmem", SOCKET_BUFFERS)?;
    slow_ns.sysctl("net.ipv4.tcp_rmem", SOCKET_BUFFERS)?;
    let vcped = start_vcped(&dut, lab.dir())?;
    let pid = vcped.daemon.pid();
    let r = run(&vcped, pid, &dut, &flap_ns, &slow_ns);
    if r.is_err() {
        vcped.daemon.print_log();
    }
    r
}

fn run(vcped: &Vcped, pid: u32, dut: &Netns, flap_ns: &Netns, slow_ns: &Netns) -> Result<()> {
    let ctx = Ctx {
        four_octet_as: true,
        ..Ctx::default()
    };
    let (announce, withdraw, last_quarter) = encode_flaps(&ctx)?;

    // The flapper's table is in before the slow neighbor comes.
    let flapper = peer(flap_ns, FLAP, FLAP_AS)?;
    ensure!(flapper.ctx == ctx, "flapper negotiated {:?}", flapper.ctx);
    let mut fw = flapper.writer.try_clone().context("cloning a socket")?;
    fw.write_all(&announce)?;
    wait_for(
        Duration::from_secs(20),
        "the flapper's table in vcped",
        || {
            let n = vcped.neighbor(&FLAP.to_string())?;
            Ok(n.counters.accepted == u64::from(ROUTES))
        },
    )?;
    let rss_before = rss_kb(pid)?;

    let slow = peer(slow_ns, SLOW, SLOW_AS)?;
    let reader = SlowReader::start(slow)?;
    wait_for(Duration::from_secs(10), "the slow session", || {
        Ok(vcped.neighbor(&SLOW.to_string())?.established)
    })?;

    // Churn, watching the queue towards the slow neighbor. The flapper
    // sends KEEPALIVEs until the end of the test.
    let t0 = Instant::now();
    // Round 1: FLAPS flaps, ending with the last quarter withdrawn; round
    // 2 (when `go` says so): a third as many, table restored.
    let go = Arc::new(AtomicU32::new(1));
    let done = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let flaps = {
        let (go, done, stop) = (Arc::clone(&go), Arc::clone(&done), Arc::clone(&stop));
        std::thread::spawn(move || -> std::io::Result<()> {
            let keepalive = keepalive_bytes();
            let mut last_keepalive = Instant::now();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                if go.load(Ordering::Relaxed) > round {
                    let n = if round == 0 { FLAPS } else { FLAPS / 3 };
                    for _ in 0..n {
                        fw.write_all(&withdraw)?;
                        std::thread::sleep(FLAP_PHASE);
                        fw.write_all(&announce)?;
                        fw.write_all(&keepalive)?;
                        std::thread::sleep(FLAP_PHASE);
                    }
                    if round == 0 {
                        fw.write_all(&last_quarter)?;
                    }
                    round += 1;
                    done.store(round, Ordering::Relaxed);
                }
                if last_keepalive.elapsed() >= Duration::from_secs(1) {
                    fw.write_all(&keepalive)?;
                    last_keepalive = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        })
    };
    let r = churn_and_catch_up(vcped, pid, &done, &reader, t0)
        .and_then(|()| stop_reading_and_drop(vcped, pid, dut, &go, &done, reader, rss_before));
    stop.store(true, Ordering::Relaxed);
    let flapped = flaps.join().map_err(|_| anyhow!("the flapper panicked"))?;
    r?;
    flapped.context("the flapper's writes")?;
    drop(flapper);
    Ok(())
}

fn churn_and_catch_up(
    vcped: &Vcped,
    pid: u32,
    done: &AtomicU32,
    reader: &SlowReader,
    t0: Instant,
) -> Result<()> {
    let mut max_queued = 0;
    let mut behind_seen = false;
    loop {
        let last = done.load(Ordering::Relaxed) >= 1;
        let n = vcped.neighbor(&SLOW.to_string())?;
        max_queued = max_queued.max(n.counters.out_queued_bytes);
        behind_seen |= n.counters.out_behind;
        ensure!(
            n.established,
            "the slow session went down: {:?}",
            n.last_error
        );
        ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "the flaps took over 60 s"
        );
        if last {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(
        Duration::from_secs(20),
        "the flapper's final table in vcped",
        || {
            let n = vcped.neighbor(&FLAP.to_string())?;
            Ok(n.counters.accepted == u64::from(FINAL))
        },
    )?;
    let rss_churned = rss_kb(pid)?;
    let n = vcped.neighbor(&SLOW.to_string())?;
    eprintln!(
        "bgp_slow_peer: {FLAPS} flaps of {ROUTES} routes in {:.1} s; queued towards the slow \
         neighbor at most {max_queued} bytes (behind seen: {behind_seen}); now {} bytes, {} \
         changes pending, behind {}; vcped VmRSS {rss_churned} kB",
        t0.elapsed().as_secs_f64(),
        n.counters.out_queued_bytes,
        n.counters.pending_out,
        n.counters.out_behind
    );
    ensure!(
        max_queued <= QUEUE_BOUND,
        "vcped queued up to {max_queued} bytes towards a slow neighbor (bound {QUEUE_BOUND}): \
         its output is not held back"
    );
    // (It may be caught up again by now: the slow neighbor's socket
    // buffers take bursts as TCP's window opens.)
    ensure!(
        behind_seen,
        "vcped never reported the slow neighbor's output behind"
    );
    ensure!(
        n.counters.pending_out <= u64::from(ROUTES),
        "{} changes pending for {ROUTES} prefixes: not coalesced per prefix",
        n.counters.pending_out
    );

    // Full speed: exactly the final table, and nothing left queued.
    reader.mode.store(FAST, Ordering::Relaxed);
    let want: BTreeSet<IpNet> = (0..FINAL).map(prefix).collect();
    let caught_up = wait_for(CATCH_UP, "the slow neighbor to catch up", || {
        let n = vcped.neighbor(&SLOW.to_string())?;
        let got = reader.state();
        if let Some(e) = &got.error {
            bail!("the slow neighbor's session: {e}");
        }
        Ok(got.table == want && !n.counters.out_behind && n.counters.out_queued_bytes == 0)
    });
    let got = reader.state();
    caught_up.with_context(|| {
        format!(
            "the slow neighbor holds {} prefixes ({} of the {} wanted), after {} bytes",
            got.table.len(),
            got.table.intersection(&want).count(),
            want.len(),
            got.bytes
        )
    })?;
    eprintln!(
        "bgp_slow_peer: the slow neighbor read {} bytes in all ({} UPDATEs) and holds the final \
         {} prefixes",
        got.bytes,
        got.updates,
        want.len()
    );

    Ok(())
}

/// The slow neighbor stops reading, the flapper flaps again until vcped's
/// writes towards it are stuck, and the operator drops it (`vcpectl bgp
/// disable`, as the send hold timer would after 8 minutes): vcped lets
/// go of its socket and what was queued for it within `LINGER` (3 s),
/// although the peer keeps the TCP connection open, and its RSS is back
/// near where it was before the slow neighbor came.
fn stop_reading_and_drop(
    vcped: &Vcped,
    pid: u32,
    dut: &Netns,
    go: &AtomicU32,
    done: &AtomicU32,
    reader: SlowReader,
    rss_before: u64,
) -> Result<()> {
    reader.mode.store(PAUSED, Ordering::Relaxed);
    go.store(2, Ordering::Relaxed);
    wait_for(Duration::from_secs(30), "the second round of flaps", || {
        Ok(done.load(Ordering::Relaxed) >= 2)
    })?;
    let stuck = vcped.neighbor(&SLOW.to_string())?.counters.out_queued_bytes;
    ensure!(
        stuck > 0,
        "nothing queued towards a neighbor that reads nothing: the test did not fill its socket"
    );
    let rss_stuck = rss_kb(pid)?;
    vcped.ctl(&["bgp", "disable", &SLOW.to_string()])?;
    let owned = || -> Result<bool> {
        let out = dut.run_ok(["ss", "-tnpH", "dst", &SLOW.to_string()])?;
        Ok(out.contains("vcped"))
    };
    let released = wait_for(
        Duration::from_secs(8),
        "vcped to let go of the dropped neighbor's socket",
        || Ok(!owned()?),
    );
    std::thread::sleep(Duration::from_millis(500));
    let rss_after = rss_kb(pid)?;
    eprintln!(
        "bgp_slow_peer: {stuck} bytes stuck towards the neighbor that stopped reading; vcped \
         VmRSS {rss_before} kB before the slow neighbor came, {rss_stuck} kB stuck, \
         {rss_after} kB after it was dropped"
    );
    released?;
    ensure!(
        rss_after <= rss_before + RSS_MARGIN_KB,
        "vcped's RSS is {rss_after} kB after the slow neighbor was dropped, {rss_before} kB \
         before it came"
    );
    drop(reader);
    Ok(())
}

/// The `i`-th /24 of the flapper's table.
fn prefix(i: u32) -> IpNet {
    let a = Ipv4Addr::from(u32::from(Ipv4Addr::new(20, 0, 0, 0)) + (i << 8));
    IpNet::V4(Ipv4Net::new(a, 24).expect("24 is a valid length"))
}

/// The flapper's messages: announce all, withdraw all, withdraw the last
/// quarter.
fn encode_flaps(ctx: &Ctx) -> Result<(BytesMut, BytesMut, BytesMut)> {
    let all: Vec<IpNet> = (0..ROUTES).map(prefix).collect();
    let attrs = PathAttributes {
        origin: Origin::Igp,
        as_path: AsPath::sequence(vec![FLAP_AS]),
        next_hop: Some(IpAddr::V4(FLAP)),
        ..PathAttributes::default()
    };
    let encode = |updates: Vec<Update>| -> Result<BytesMut> {
        let mut out = BytesMut::new();
        for u in updates {
            Message::Update(u)
                .encode(ctx, &mut out)
                .map_err(|e| anyhow!("encoding an UPDATE: {e}"))?;
        }
        Ok(out)
    };
    let mut a = Vec::new();
    build_updates(&attrs, &all, ctx, &mut a);
    let mut w = Vec::new();
    build_withdrawals(&all, ctx, &mut w);
    let mut q = Vec::new();
    build_withdrawals(&all[FINAL as usize..], ctx, &mut q);
    Ok((encode(a)?, encode(w)?, encode(q)?))
}

/// A session with vcped from `ns`, as `addr` in AS `asn`.
fn peer(ns: &Netns, addr: Ipv4Addr, asn: u32) -> Result<Session> {
    let to = SocketAddr::new(
        IpAddr::V4(if addr == FLAP { VCPE_FLAP } else { VCPE_SLOW }),
        179,
    );
    let stream = connect_in(ns, to)?;
    let params = SessionParams {
        local_as: asn,
        peer_as: VCPE_AS,
        router_id: addr,
        hold: HOLD,
    };
    handshake(&params, stream).map_err(|e| anyhow!("BGP handshake as {addr}: {e}"))
}

/// Reading modes of the slow neighbor.
const SLOW_MODE: u8 = 0;
const FAST: u8 = 1;
const PAUSED: u8 = 2;

/// What the slow neighbor got.
#[derive(Debug, Default, Clone)]
struct Got {
    table: BTreeSet<IpNet>,
    bytes: usize,
    updates: usize,
    error: Option<String>,
}

/// The slow neighbor: reads [`SLOW_READ`] bytes every [`SLOW_EVERY`]
/// until `fast`, then everything as it comes; applies the UPDATEs to its
/// table; sends a KEEPALIVE every second.
struct SlowReader {
    /// [`SLOW_MODE`], [`FAST`] or [`PAUSED`].
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    got: Arc<Mutex<Got>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowReader {
    fn start(s: Session) -> Result<SlowReader> {
        let Session {
            reader,
            mut writer,
            ctx,
        } = s;
        let (mut stream, mut buf) = reader.into_parts();
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mode = Arc::new(AtomicU8::new(SLOW_MODE));
        let stop = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Got::default()));
        let (m, st, g) = (Arc::clone(&mode), Arc::clone(&stop), Arc::clone(&got));
        let thread = std::thread::spawn(move || {
            let keepalive = keepalive_bytes();
            let mut chunk = vec![0u8; 64 * 1024];
            let mut last_keepalive = Instant::now();
            let mut last_read = Instant::now();
            let fail = |e: String| g.lock().unwrap_or_else(PoisonError::into_inner).error = Some(e);
            while !st.load(Ordering::Relaxed) {
                if last_keepalive.elapsed() >= Duration::from_secs(1) {
                    if let Err(e) = writer.write_all(&keepalive) {
                        return fail(format!("writing a KEEPALIVE: {e}"));
                    }
                    last_keepalive = Instant::now();
                }
                let mode = m.load(Ordering::Relaxed);
                let fast = mode == FAST;
                if mode == PAUSED || (!fast && last_read.elapsed() < SLOW_EVERY) {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                let want = if fast { chunk.len() } else { SLOW_READ };
                match stream.read(&mut chunk[..want]) {
                    Ok(0) => return fail("vcped closed the connection".into()),
                    Ok(n) => {
                        last_read = Instant::now();
                        buf.extend_from_slice(&chunk[..n]);
                        let mut g = g.lock().unwrap_or_else(PoisonError::into_inner);
                        g.bytes += n;
                        if let Err(e) = apply(&mut buf, &ctx, &mut g) {
                            g.error = Some(e);
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        last_read = Instant::now();
                    }
                    Err(e) => return fail(format!("read: {e}")),
                }
            }
        });
        Ok(SlowReader {
            mode,
            stop,
            got,
            thread: Some(thread),
        })
    }

    fn state(&self) -> Got {
        self.got
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for SlowReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Decodes the whole messages at the front of `buf` into `got`.
fn apply(buf: &mut Vec<u8>, ctx: &Ctx, got: &mut Got) -> std::result::Result<(), String> {
    let mut at = 0;
    while let Some(len) = frame_len(&buf[at..], ctx).map_err(|e| format!("framing: {e}"))? {
        if buf.len() - at < len {
            break;
        }
        let (m, issues) = decode(&buf[at..at + len], ctx).map_err(|e| format!("decoding: {e}"))?;
        at += len;
        match m {
            Message::Update(u) => {
                got.updates += 1;
                for r in routes(&u, &issues) {
                    for p in &r.withdrawn {
                        got.table.remove(p);
                    }
                    got.table.extend(r.announced.iter().copied());
                }
            }
            Message::Notification(n) => return Err(format!("NOTIFICATION: {}", n.describe())),
            _ => {}
        }
    }
    buf.drain(..at);
    Ok(())
}

/// Polls `done` every 100 ms until it holds, for at most `limit`.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let end = Instant::now() + limit;
    loop {
        if done()? {
            return Ok(());
        }
        ensure!(Instant::now() < end, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// vcped's resident memory, from `/proc/PID/status`.
fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// vcped with a TUN whose static routes cover both test links (so the
/// flapper's next hop resolves), no kernel route sync, the two neighbors
/// passive.
fn start_vcped(ns: &Netns, dir: &Path) -> Result<Vcped> {
    let tun = ifname();
    let text = format!(
        r#"[router]
id = "{VCPE_FLAP}"
asn = {VCPE_AS}

[kernel]
route_sync = false

[[interface]]
name = "{tun}"
addresses = ["10.10.0.1/16"]

[[route]]
name = "flap-lan"
prefix = "10.78.1.0/24"
interface = "{tun}"

[[route]]
name = "slow-lan"
prefix = "10.78.2.0/24"
interface = "{tun}"

[bgp]
listen = "0.0.0.0:179"

[[bgp.neighbor]]
address = "{FLAP}"
remote_as = {FLAP_AS}
mode = "passive"

[[bgp.neighbor]]
address = "{SLOW}"
remote_as = {SLOW_AS}
mode = "passive"
"#
    );
    Vcped::start(ns, dir, "vcped", &text)
}
