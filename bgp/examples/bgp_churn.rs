//! The two peers of the slow-peer benchmark (`bench/slow_peer.sh`): a
//! flapper that announces N IPv4 /24s and then withdraws and announces
//! them again and again, and a slow peer that reads a few bytes at a time.
//!
//! ```text
//! bgp_churn flap --connect ADDR --local-as AS --peer-as AS --router-id ID
//!                --prefixes N --flaps K [--interval-ms 500] [--delay-ms 0]
//!                [--next-hop IP]
//! bgp_churn slow --connect ADDR --local-as AS --peer-as AS --router-id ID
//!                [--read-bytes 200] [--every-ms 10000]
//! ```
//!
//! Both establish their session (hold time 240, a KEEPALIVE every 30 s)
//! and run until killed. The flapper writes the table, prints
//! `{"event":"table"}`, waits `--delay-ms`, then per flap the withdrawals and the table again,
//! printing `{"event":"flap","n":I}` after each, the withdrawals and the
//! announcements `--interval-ms` apart and the flaps too,
//! and `{"event":"flapped"}` at the end. The slow peer prints
//! `{"event":"up"}` and reads `--read-bytes` bytes every `--every-ms`
//! (`--read-bytes 0`: never reads).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ipnet::IpNet;
use vcpe_bgp::model::Message;
use vcpe_bgp::wire::build_withdrawals;

// Shared with the load test and `bgp_feed` (see bgp_feed.rs).
#[path = "../../tests/src/bgp_feed.rs"]
#[allow(dead_code)] // Shared: the sink's and the load test's helpers are not used here.
mod feeder;

use feeder::{Profile, Result, Session, SessionParams, Table, handshake, keepalive_bytes};

const USAGE: &str = "usage:
  bgp_churn flap --connect ADDR --local-as AS --peer-as AS --router-id ID --prefixes N --flaps K
                 [--interval-ms 500] [--delay-ms 0] [--next-hop IP]
  bgp_churn slow --connect ADDR --local-as AS --peer-as AS --router-id ID
                 [--read-bytes 200] [--every-ms 10000]";

const KEEPALIVE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Args {
    flap: bool,
    connect: IpAddr,
    local_as: u32,
    peer_as: u32,
    router_id: Ipv4Addr,
    prefixes: u32,
    flaps: u32,
    interval: Duration,
    delay: Duration,
    next_hop: Option<Ipv4Addr>,
    read_bytes: usize,
    every: Duration,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let flap = match it.next().as_deref() {
        Some("flap") => true,
        Some("slow") => false,
        _ => return Err(USAGE.to_owned()),
    };
    let mut a = Args {
        flap,
        connect: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        local_as: 0,
        peer_as: 0,
        router_id: Ipv4Addr::UNSPECIFIED,
        prefixes: 0,
        flaps: 0,
        interval: Duration::from_millis(500),
        delay: Duration::ZERO,
        next_hop: None,
        read_bytes: 200,
        every: Duration::from_secs(10),
    };
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value:?}: {e}");
        match flag.as_str() {
            "--connect" => a.connect = value.parse().map_err(|e| bad(&e))?,
            "--local-as" => a.local_as = value.parse().map_err(|e| bad(&e))?,
            "--peer-as" => a.peer_as = value.parse().map_err(|e| bad(&e))?,
            "--router-id" => a.router_id = value.parse().map_err(|e| bad(&e))?,
            "--prefixes" => a.prefixes = value.parse().map_err(|e| bad(&e))?,
            "--flaps" => a.flaps = value.parse().map_err(|e| bad(&e))?,
            "--interval-ms" => {
                a.interval = Duration::from_millis(value.parse().map_err(|e| bad(&e))?)
            }
            "--delay-ms" => a.delay = Duration::from_millis(value.parse().map_err(|e| bad(&e))?),
            "--next-hop" => a.next_hop = Some(value.parse().map_err(|e| bad(&e))?),
            "--read-bytes" => a.read_bytes = value.parse().map_err(|e| bad(&e))?,
            "--every-ms" => a.every = Duration::from_millis(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if a.local_as == 0 || a.peer_as == 0 || a.router_id.is_unspecified() {
        return Err(format!(
            "--connect, --local-as, --peer-as and --router-id are required\n{USAGE}"
        ));
    }
    if a.flap && a.prefixes == 0 {
        return Err(format!("flap needs --prefixes N\n{USAGE}"));
    }
    Ok(a)
}

fn connect(a: &Args) -> Result<Session> {
    let to = SocketAddr::new(a.connect, 179);
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        match TcpStream::connect_timeout(&to, Duration::from_secs(5)) {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => return Err(format!("connecting to {to}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let params = SessionParams {
        local_as: a.local_as,
        peer_as: a.peer_as,
        router_id: a.router_id,
        hold: 240,
    };
    handshake(&params, stream)
}

fn flap(a: &Args, mut s: Session) -> Result<()> {
    let io = |e: std::io::Error| format!("write: {e}");
    let next_hop = a.next_hop.unwrap_or(a.router_id);
    let table = Table {
        base: Ipv4Addr::new(16, 0, 0, 0),
        count: a.prefixes,
        profile: Profile::Packed,
        origin_as: a.local_as,
        next_hop,
    };
    let (announce, _) = table.encode(&s.ctx)?;
    let all: Vec<IpNet> = (0..a.prefixes).map(|i| table.prefix(i)).collect();
    let mut updates = Vec::new();
    build_withdrawals(&all, &s.ctx, &mut updates);
    let mut withdraw = BytesMut::new();
    for u in updates {
        Message::Update(u)
            .encode(&s.ctx, &mut withdraw)
            .map_err(|e| format!("encoding: {e}"))?;
    }
    // Read (and drop) what the peer sends, so that we are no slow peer.
    let mut rd = s.writer.try_clone().map_err(|e| format!("socket: {e}"))?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while rd.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    s.writer.write_all(&announce).map_err(io)?;
    println!("{{\"event\":\"table\"}}");
    std::thread::sleep(a.delay);
    let keepalive = keepalive_bytes();
    for n in 1..=a.flaps {
        // Apart, so that the speaker exports each (withdrawals and
        // announcements of the same routes in one export pass cancel out).
        s.writer.write_all(&withdraw).map_err(io)?;
        std::thread::sleep(a.interval);
        s.writer.write_all(&announce).map_err(io)?;
        s.writer.write_all(&keepalive).map_err(io)?;
        println!("{{\"event\":\"flap\",\"n\":{n}}}");
        std::thread::sleep(a.interval);
    }
    println!("{{\"event\":\"flapped\"}}");
    loop {
        std::thread::sleep(KEEPALIVE_EVERY);
        s.writer.write_all(&keepalive).map_err(io)?;
    }
}

fn slow(a: &Args, mut s: Session) -> Result<()> {
    println!("{{\"event\":\"up\"}}");
    let (mut stream, _) = s.reader.into_parts();
    let keepalive = keepalive_bytes();
    let mut buf = vec![0u8; a.read_bytes.max(1)];
    let mut last_keepalive = Instant::now();
    loop {
        std::thread::sleep(a.every.min(KEEPALIVE_EVERY));
        if a.read_bytes > 0 {
            match stream.read(&mut buf) {
                Ok(0) => return Err("the peer closed the connection".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        if last_keepalive.elapsed() >= KEEPALIVE_EVERY {
            s.writer
                .write_all(&keepalive)
                .map_err(|e| format!("write: {e}"))?;
            last_keepalive = Instant::now();
        }
    }
}

fn main() -> ExitCode {
    let r = parse_args().and_then(|a| {
        let s = connect(&a)?;
        if a.flap { flap(&a, s) } else { slow(&a, s) }
    });
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bgp_churn: {e}");
            ExitCode::FAILURE
        }
    }
}
