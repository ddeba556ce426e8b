//! The two ends of the BGP benchmark (`bench/bgp.sh`): a feeder that
//! announces N IPv4 /24 prefixes over one session as fast as TCP takes
//! them, and a sink that counts the prefixes a device under test passes on.
//!
//! ```text
//! bgp_feed feed --connect ADDR --local-as AS --peer-as AS --router-id ID
//!               --prefixes N [--profile packed|spread] [--next-hop IP]
//!               [--sessions K --bind FIRST_IP]
//! bgp_feed sink (--connect ADDR | --listen ADDR) --local-as AS --peer-as AS
//!               --router-id ID --expect N
//! common:       [--port 179] [--hold 240] [--wait SECS] [--base 16.0.0.0]
//! ```
//!
//! The feeder establishes the session (OPEN with 4-octet AS and IPv4
//! unicast, hold time 240), then encodes every UPDATE into one buffer
//! *before* starting the clock, prints `{"t_first_update_ns": ...}` (UNIX
//! time in ns) and writes the buffer and an End-of-RIB. Profiles: `packed`
//! puts as many prefixes as fit 4096 octets (about 1000) under one shared
//! attribute set; `spread` sends 4 prefixes per UPDATE, each UPDATE with
//! its own AS path (`PEER_AS 4200000000+i`). It then keeps the session up
//! (a KEEPALIVE every 30 s) until killed.
//!
//! With `--sessions K --bind FIRST_IP` the feeder is K peers: session i
//! connects from FIRST_IP + i (which must be configured on the host) with
//! AS `--local-as` + i and router id FIRST_IP + i, and announces its own
//! N/K of the N /24s (next hop: its own address). All K sessions are up
//! and all K tables encoded before the clock starts; then K threads write
//! at once, and `t_first_update_ns` is the instant they are released.
//!
//! The sink establishes its session, decodes every UPDATE with the crate's
//! codec ([`decode`] + [`routes`]), marks each announced /24 of the feed
//! range in a bitmap, and when all N distinct prefixes have arrived prints
//! `{"t_last_prefix_ns": ...}` and exits 0.
//!
//! Both print JSON lines on stdout (`"event"` says which) and diagnostics
//! on stderr; a connection refused or closed before the session is up is
//! retried for `--wait` seconds (BIRD drops connections for a moment after
//! start), anything after that (a NOTIFICATION, EOF) exits 1.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use vcpe_bgp::model::Message;
use vcpe_bgp::wire::{HEADER_LEN, decode, routes};

// The handshake, the message reader and the table encoder are shared with
// the load test (tests/tests/bgp_load.rs); this crate cannot depend on the
// test harness, so the file is compiled in here.
#[path = "../../tests/src/bgp_feed.rs"]
#[allow(dead_code)] // Shared: `Reader::into_parts` is for bgp_churn and the tests.
mod feeder;

use feeder::{Profile, Result, Session, SessionParams, Table, handshake, keepalive_bytes};

const USAGE: &str = "usage:
  bgp_feed feed --connect ADDR --local-as AS --peer-as AS --router-id ID --prefixes N
                [--profile packed|spread] [--next-hop IP] [--sessions K --bind FIRST_IP]
  bgp_feed sink (--connect ADDR | --listen ADDR) --local-as AS --peer-as AS --router-id ID
                --expect N
  common: [--port 179] [--hold 240] [--wait SECS] [--base 16.0.0.0]";

/// How often we send a KEEPALIVE (hold time 240 s negotiated).
const KEEPALIVE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Feed,
    Sink,
}

#[derive(Debug)]
struct Args {
    mode: Mode,
    connect: Option<IpAddr>,
    listen: Option<IpAddr>,
    port: u16,
    local_as: u32,
    peer_as: u32,
    router_id: Ipv4Addr,
    hold: u16,
    wait: Duration,
    base: Ipv4Addr,
    count: u32,
    profile: Profile,
    next_hop: Option<Ipv4Addr>,
    sessions: u32,
    bind: Option<Ipv4Addr>,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let mode = match it.next().as_deref() {
        Some("feed") => Mode::Feed,
        Some("sink") => Mode::Sink,
        Some("-h" | "--help") | None => return Err(USAGE.to_owned()),
        Some(other) => return Err(format!("unknown mode {other:?}\n{USAGE}")),
    };
    let mut a = Args {
        mode,
        connect: None,
        listen: None,
        port: 179,
        local_as: 0,
        peer_as: 0,
        router_id: Ipv4Addr::UNSPECIFIED,
        hold: 240,
        wait: Duration::from_secs(60),
        base: Ipv4Addr::new(16, 0, 0, 0),
        count: 0,
        profile: Profile::Packed,
        next_hop: None,
        sessions: 1,
        bind: None,
    };
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value:?}: {e}");
        match flag.as_str() {
            "--connect" => a.connect = Some(value.parse().map_err(|e| bad(&e))?),
            "--listen" => a.listen = Some(value.parse().map_err(|e| bad(&e))?),
            "--port" => a.port = value.parse().map_err(|e| bad(&e))?,
            "--local-as" => a.local_as = value.parse().map_err(|e| bad(&e))?,
            "--peer-as" => a.peer_as = value.parse().map_err(|e| bad(&e))?,
            "--router-id" => a.router_id = value.parse().map_err(|e| bad(&e))?,
            "--hold" => a.hold = value.parse().map_err(|e| bad(&e))?,
            "--wait" => a.wait = Duration::from_secs(value.parse().map_err(|e| bad(&e))?),
            "--base" => a.base = value.parse().map_err(|e| bad(&e))?,
            "--prefixes" | "--expect" => a.count = value.parse().map_err(|e| bad(&e))?,
            "--next-hop" => a.next_hop = Some(value.parse().map_err(|e| bad(&e))?),
            "--sessions" => a.sessions = value.parse().map_err(|e| bad(&e))?,
            "--bind" => a.bind = Some(value.parse().map_err(|e| bad(&e))?),
            "--profile" => {
                a.profile = match value.as_str() {
                    "packed" => Profile::Packed,
                    "spread" => Profile::Spread,
                    _ => return Err(bad(&"want packed or spread")),
                }
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if a.local_as == 0 || a.peer_as == 0 || a.router_id.is_unspecified() {
        return Err(format!(
            "--local-as, --peer-as and --router-id are required\n{USAGE}"
        ));
    }
    if a.connect.is_some() == a.listen.is_some() || (a.mode == Mode::Feed && a.listen.is_some()) {
        return Err(format!(
            "give exactly one of --connect and --listen (feed: --connect)\n{USAGE}"
        ));
    }
    if a.count == 0 {
        return Err(format!("--prefixes / --expect must be at least 1\n{USAGE}"));
    }
    if a.sessions == 0 || !a.count.is_multiple_of(a.sessions) {
        return Err(format!(
            "--sessions must be at least 1 and divide --prefixes\n{USAGE}"
        ));
    }
    if a.sessions > 1 && (a.bind.is_none() || a.mode != Mode::Feed || a.next_hop.is_some()) {
        return Err(format!(
            "--sessions K (feed only) needs --bind FIRST_IP, and each session's next hop is its own address (no --next-hop)\n{USAGE}"
        ));
    }
    // The feed range must stay inside IPv4: base + count /24s.
    a.table(Ipv4Addr::UNSPECIFIED).check()?;
    Ok(a)
}

impl Args {
    fn session(&self) -> SessionParams {
        SessionParams {
            local_as: self.local_as,
            peer_as: self.peer_as,
            router_id: self.router_id,
            hold: self.hold,
        }
    }

    fn table(&self, next_hop: Ipv4Addr) -> Table {
        Table {
            base: self.base,
            count: self.count,
            profile: self.profile,
            origin_as: self.local_as,
            next_hop,
        }
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Connects (or accepts) and runs the OPEN/KEEPALIVE exchange; retries
/// what fails before the session is up until `args.wait` has passed.
fn establish(args: &Args) -> Result<Session> {
    establish_as(args, &args.session(), None)
}

/// A TCP connection to `to`, from `bind` if given.
fn connect_from(bind: Option<IpAddr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let timeout = Duration::from_secs(5);
    match bind {
        None => TcpStream::connect_timeout(&to, timeout),
        Some(ip) => {
            use socket2::{Domain, Protocol, Socket, Type};
            let s = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
            s.bind(&SocketAddr::new(ip, 0).into())?;
            s.connect_timeout(&to.into(), timeout)?;
            Ok(s.into())
        }
    }
}

/// [`establish`] with these session parameters, from `bind`.
fn establish_as(args: &Args, params: &SessionParams, bind: Option<IpAddr>) -> Result<Session> {
    let deadline = Instant::now() + args.wait;
    let listener = match args.listen {
        Some(ip) => {
            let l = TcpListener::bind(SocketAddr::new(ip, args.port))
                .map_err(|e| format!("bind {ip}:{}: {e}", args.port))?;
            Some(l)
        }
        None => None,
    };
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let stream = match (&listener, args.connect) {
            (Some(l), _) => l.accept().map(|(s, _)| s),
            (None, Some(ip)) => connect_from(bind, SocketAddr::new(ip, args.port)),
            (None, None) => unreachable!("checked in parse_args"),
        };
        let r = stream
            .map_err(|e| format!("connect: {e}"))
            .and_then(|s| handshake(params, s));
        match r {
            Ok(x) => {
                eprintln!("bgp_feed: session up after {attempts} attempt(s)");
                return Ok(x);
            }
            Err(e) if Instant::now() < deadline => {
                if attempts == 1 || attempts.is_multiple_of(10) {
                    eprintln!("bgp_feed: {e}; retrying");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(format!("no session after {attempts} attempts: {e}")),
        }
    }
}

/// Sends a KEEPALIVE every [`KEEPALIVE_EVERY`] on `writer`, forever.
fn keepalives(mut writer: TcpStream) {
    let k = keepalive_bytes();
    loop {
        std::thread::sleep(KEEPALIVE_EVERY);
        if writer.write_all(&k).is_err() {
            return;
        }
    }
}

fn feed(args: &Args) -> Result<()> {
    if args.sessions > 1 {
        return feed_many(args);
    }
    let Session {
        reader,
        mut writer,
        ctx,
    } = establish(args)?;
    let next_hop = match (args.next_hop, writer.local_addr().map(|a| a.ip())) {
        (Some(nh), _) => nh,
        (None, Ok(IpAddr::V4(a))) => a,
        (None, other) => return Err(format!("give --next-hop (local address {other:?})")),
    };
    println!(r#"{{"event":"established","t_ns":{}}}"#, unix_ns());
    discard(reader, ctx);
    let t0 = Instant::now();
    let (bytes, updates) = args.table(next_hop).encode(&ctx)?;
    let encode_ms = t0.elapsed().as_secs_f64() * 1e3;
    let _ = std::io::stdout().flush();
    let t_first = unix_ns();
    println!(
        r#"{{"event":"feeding","t_first_update_ns":{t_first},"prefixes":{},"updates":{updates},"bytes":{},"encode_ms":{encode_ms:.1}}}"#,
        args.count,
        bytes.len()
    );
    writer
        .write_all(&bytes)
        .map_err(|e| format!("writing the feed: {e}"))?;
    let t_done = unix_ns();
    println!(
        r#"{{"event":"written","t_written_ns":{t_done},"write_s":{:.3}}}"#,
        (t_done - t_first) as f64 / 1e9
    );
    let _ = std::io::stdout().flush();
    keepalives(writer);
    Err("the connection failed while idle".to_owned())
}

/// Discards whatever the peer sends (keepalives, its own routes) on a
/// thread, so it never blocks on us; a NOTIFICATION or EOF ends the run.
fn discard(mut reader: feeder::Reader, ctx: vcpe_bgp::wire::Ctx) {
    std::thread::spawn(move || {
        loop {
            match reader.next(&ctx) {
                Ok(m) if m.get(HEADER_LEN - 1) == Some(&3) => {
                    let why = decode(m, &ctx).map(|(m, _)| m);
                    eprintln!("bgp_feed feed: the peer sent a NOTIFICATION: {why:?}");
                    std::process::exit(1);
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("bgp_feed feed: {e}");
                    std::process::exit(1);
                }
            }
        }
    });
}

/// `feed --sessions K`: K peers, each its share of the table, released at
/// once (see the module docs).
fn feed_many(args: &Args) -> Result<()> {
    let first = u32::from(args.bind.ok_or("--sessions needs --bind")?);
    let per = args.count / args.sessions;
    let mut writers = Vec::new();
    for i in 0..args.sessions {
        let ip = Ipv4Addr::from(first + i);
        let params = SessionParams {
            local_as: args.local_as + i,
            router_id: ip,
            ..args.session()
        };
        let Session {
            reader,
            writer,
            ctx,
        } = establish_as(args, &params, Some(IpAddr::V4(ip)))?;
        let table = Table {
            base: Ipv4Addr::from(u32::from(args.base) + i * per * 256),
            count: per,
            profile: args.profile,
            origin_as: params.local_as,
            next_hop: ip,
        };
        let (bytes, _) = table.encode(&ctx)?;
        discard(reader, ctx);
        writers.push((writer, bytes));
    }
    println!(
        r#"{{"event":"established","t_ns":{},"sessions":{}}}"#,
        unix_ns(),
        args.sessions
    );
    let bytes: usize = writers.iter().map(|(_, b)| b.len()).sum();
    let start = std::sync::Arc::new(std::sync::Barrier::new(writers.len() + 1));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for (mut writer, table) in writers {
        let start = std::sync::Arc::clone(&start);
        let done = done_tx.clone();
        std::thread::spawn(move || {
            start.wait();
            let r = writer.write_all(&table).map(|()| unix_ns());
            let failed = r.is_err();
            let _ = done.send(r);
            if !failed {
                keepalives(writer);
            }
        });
    }
    drop(done_tx);
    let _ = std::io::stdout().flush();
    let t_first = unix_ns();
    start.wait();
    println!(
        r#"{{"event":"feeding","t_first_update_ns":{t_first},"prefixes":{},"sessions":{},"bytes":{bytes}}}"#,
        args.count, args.sessions
    );
    let mut t_done = t_first;
    for r in done_rx.iter().take(args.sessions as usize) {
        t_done = t_done.max(r.map_err(|e| format!("writing the feed: {e}"))?);
    }
    println!(
        r#"{{"event":"written","t_written_ns":{t_done},"write_s":{:.3}}}"#,
        (t_done - t_first) as f64 / 1e9
    );
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

fn sink(args: &Args) -> Result<()> {
    let Session {
        mut reader,
        writer,
        ctx,
    } = establish(args)?;
    println!(r#"{{"event":"established","t_ns":{}}}"#, unix_ns());
    let _ = std::io::stdout().flush();
    std::thread::spawn(move || keepalives(writer));
    let base = u32::from(args.base);
    let n = args.count;
    let mut seen = vec![0u64; (n as usize).div_ceil(64)];
    let mut count = 0u32;
    let (mut updates, mut announced, mut other) = (0u64, 0u64, 0u64);
    let mut t_first_rx = None;
    loop {
        let msg = reader.next(&ctx)?;
        let (m, issues) = decode(msg, &ctx).map_err(|e| format!("decoding: {e}"))?;
        let u = match m {
            Message::Update(u) => u,
            Message::Keepalive => continue,
            Message::Notification(n) => {
                return Err(format!("the peer sent a NOTIFICATION: {}", n.describe()));
            }
            _ => continue,
        };
        updates += 1;
        for r in routes(&u, &issues) {
            for p in &r.announced {
                announced += 1;
                let IpNet::V4(v4) = p else {
                    other += 1;
                    continue;
                };
                let off = u32::from(v4.network()).wrapping_sub(base);
                let i = off >> 8;
                if v4.prefix_len() != 24 || off & 0xff != 0 || i >= n {
                    other += 1;
                    continue;
                }
                t_first_rx.get_or_insert_with(unix_ns);
                let (w, b) = ((i / 64) as usize, 1u64 << (i % 64));
                if seen[w] & b == 0 {
                    seen[w] |= b;
                    count += 1;
                }
            }
        }
        if count == n {
            let t_last = unix_ns();
            println!(
                r#"{{"event":"done","t_last_prefix_ns":{t_last},"t_first_rx_ns":{},"prefixes":{n},"updates":{updates},"announced":{announced},"other":{other}}}"#,
                t_first_rx.unwrap_or(t_last)
            );
            let _ = std::io::stdout().flush();
            return Ok(());
        }
    }
}

fn main() -> ExitCode {
    let r = parse_args().and_then(|a| match a.mode {
        Mode::Feed => feed(&a),
        Mode::Sink => sink(&a),
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bgp_feed: {e}");
            ExitCode::FAILURE
        }
    }
}
