//! A WireGuard handshake flood (issue 19 item 5) against a real vcped:
//! initiations with a valid mac1 for its key, spoofed from its peer's own
//! address and port (so they hash to the receive thread of the peer's
//! data), from `wg_flood` (tests/src/bin) in the peer's namespace.
//!
//! ```text
//!  host A ── vCPE A ══ 10.0.0.0/24 ══ vCPE B ── host B
//!  10.1.0.10  .1      (flooded)        .2  + wg_flood --from 10.0.0.2:51820
//! ```
//!
//! Checked, while the flood runs: pings through the tunnel are answered;
//! vCPE A shows the handshake queue under load and the cookie replies it
//! sent (`vcpectl tunnel list --json`, `vcpectl stats`); the flood's cost
//! is on the handshake thread `vcpe-wg-hs`, not on the receive threads of
//! the data; and a fresh handshake (vCPE B restarted) completes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use vcpe_api::{HandshakeCounters, Reply};
use vcpe_tests::{Lab, Vcped, require_root, wait_until};

fn config(n: u8, key: &std::path::Path, peer_public: &str) -> String {
    let m = 3 - n;
    format!(
        "[router]\nid = \"10.255.0.{n}\"\nasn = 6500{n}\n\n[kernel]\nroute_sync = false\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.{n}/24\"]\nmtu = 1420\n\n\
         [[route]]\nname = \"local\"\nprefix = \"10.{n}.0.0/24\"\ninterface = \"vcpe0\"\n\n\
         [[route]]\nname = \"remote\"\nprefix = \"10.{m}.0.0/24\"\npeer = \"other\"\n\n\
         [[peer]]\nname = \"other\"\nencapsulation = \"wireguard\"\nbind = \"0.0.0.0:51820\"\n\
         endpoint = \"10.0.0.{m}:51820\"\nkeepalive = 1\n\
         private_key_file = \"{}\"\npublic_key = \"{peer_public}\"\n\
         allowed_prefixes = [\"10.{m}.0.0/24\", \"10.255.0.{m}/32\"]\nmtu = 1420\n",
        key.display()
    )
}

/// The handshake counters `vcpectl tunnel list --json` shows.
fn handshakes(v: &Vcped) -> Result<HandshakeCounters> {
    match v.reply(&["tunnel", "list"])? {
        Reply::Tunnels { handshakes, .. } => handshakes
            .map(|h| *h)
            .context("`vcpectl tunnel list` shows no WireGuard handshake counters"),
        other => anyhow::bail!("vcpectl tunnel list: {other:?}"),
    }
}

/// CPU time (ticks) of each thread of process `pid`, by thread name.
fn thread_cpu(pid: u32) -> Vec<(String, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let p = e.ok()?.path();
        let comm = std::fs::read_to_string(p.join("comm")).ok()?;
        let stat = std::fs::read_to_string(p.join("stat")).ok()?;
        // Fields after the ")" of the name: utime and stime are 14 and 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some((comm.trim().to_owned(), ticks))
    })
    .collect()
}

fn cpu_of(threads: &[(String, u64)], prefix: &str) -> u64 {
    threads
        .iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(_, t)| t)
        .sum()
}

/// `wg_flood` in `ns` (vCPE B's): `pps` initiations a second to vCPE A's
/// key for `seconds`, from B's address and port.
fn start_flood(
    ns: &vcpe_tests::Netns,
    key: &str,
    pps: u32,
    seconds: u32,
) -> Result<vcpe_tests::Daemon> {
    let (pps, seconds) = (pps.to_string(), seconds.to_string());
    ns.spawn(
        "wg_flood",
        [
            env!("CARGO_BIN_EXE_wg_flood"),
            "--to",
            "10.0.0.1:51820",
            "--from",
            "10.0.0.2:51820",
            "--key",
            key,
            "--pps",
            &pps,
            "--seconds",
            &seconds,
        ],
    )
}

#[test]
fn handshake_flood_from_the_peers_address_leaves_the_tunnel_working_and_shows() -> Result<()> {
    require_root!();
    let lab = Lab::new("wgflood")?;
    let vcpe_a = lab.netns("va")?;
    let vcpe_b = lab.netns("vb")?;
    let host_a = lab.netns("ha")?;
    let host_b = lab.netns("hb")?;
    lab.veth(&vcpe_a, "wan0", &vcpe_b, "wan0")?;
    vcpe_a.addr("wan0", "10.0.0.1/24")?;
    vcpe_b.addr("wan0", "10.0.0.2/24")?;
    for (n, v, h) in [(1u8, &vcpe_a, &host_a), (2, &vcpe_b, &host_b)] {
        v.enable_forwarding()?;
        for key in ["all", "default"] {
            v.sysctl(&format!("net.ipv4.conf.{key}.rp_filter"), "0")?;
        }
        lab.veth(v, "eth1", h, "eth0")?;
        v.addr("eth1", &format!("10.{n}.0.1/24"))?;
        h.addr("eth0", &format!("10.{n}.0.10/24"))?;
        h.route("default", &format!("10.{n}.0.1"))?;
    }
    let (pa, pub_a) = vcpe_tests::wg::keypair()?;
    let (pb, pub_b) = vcpe_tests::wg::keypair()?;
    let ka = vcpe_tests::wg::write_key(&lab.dir().join("a.key"), &pa)?;
    let kb = vcpe_tests::wg::write_key(&lab.dir().join("b.key"), &pb)?;
    let a = Vcped::start(&vcpe_a, lab.dir(), "vcped-a", &config(1, &ka, &pub_b))?;
    let config_b = config(2, &kb, &pub_a);
    let mut b = Vcped::start(&vcpe_b, lab.dir(), "vcped-b", &config_b)?;
    vcpe_a.route_dev("10.2.0.0/24", "vcpe0")?;
    vcpe_b.route_dev("10.1.0.0/24", "vcpe0")?;
    let up = wait_until(Duration::from_secs(15), || {
        host_b
            .exec(["ping", "-c", "1", "-W", "1", "10.1.0.10"])
            .is_ok_and(|o| o.status.success())
    });
    ensure!(up, "the tunnel did not come up: {:#?}", a.tunnels());
    let before = handshakes(&a)?;
    ensure!(
        !before.under_load && before.cookie_replies_sent == 0,
        "{before:#?}"
    );
    let cpu_before = thread_cpu(a.daemon.pid());

    // 20 kpps (CI machines are slow; the bench floods at 92 kpps) for
    // 10 s, from B's own address and WireGuard port: more than the
    // handshake thread of a debug build answers, so its queue overflows.
    let flood = start_flood(&vcpe_b, &pub_a, 20_000, 10)?;
    std::thread::sleep(Duration::from_secs(2));

    // Pings through the tunnel while it floods: a few may be lost.
    let out = host_b.exec_timeout(
        [
            "ping",
            "-c",
            "40",
            "-i",
            "0.1",
            "-W",
            "1",
            "-q",
            "10.1.0.10",
        ],
        Duration::from_secs(20),
    )?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let received: u32 = text
        .split(',')
        .find_map(|p| p.trim().strip_suffix(" received")?.parse().ok())
        .with_context(|| format!("ping summary: {text}"))?;
    ensure!(
        received >= 36,
        "{received}/40 pings answered during the flood:\n{text}"
    );

    // A shows the flood: under load, cookies sent.
    let during = handshakes(&a)?;
    ensure!(
        during.under_load && during.cookie_replies_sent > 1000 && during.under_load_events >= 1,
        "the flood does not show in `vcpectl tunnel list`: {during:#?}"
    );
    let stats = a.stats()?;
    ensure!(
        stats.handshakes.cookie_replies_sent >= during.cookie_replies_sent,
        "{:#?}",
        stats.handshakes
    );
    let text = a.ctl(&["tunnel", "list"])?;
    ensure!(text.contains("UNDER LOAD"), "{text}");

    // The flood's cost is on the handshake thread, not on the receive
    // threads that decrypt the peer's data.
    let cpu_now = thread_cpu(a.daemon.pid());
    let delta = |prefix: &str| cpu_of(&cpu_now, prefix).saturating_sub(cpu_of(&cpu_before, prefix));
    let (hs, rx) = (delta("vcpe-wg-hs"), delta("vcpe-tun-rx"));
    ensure!(
        hs > rx,
        "the handshake thread used {hs} ticks, the receive threads {rx}: the flood is handled on the data path ({cpu_now:?})"
    );

    ensure!(
        flood.is_running(),
        "the flood ended before it was measured:\n{}",
        flood.log()
    );
    drop(flood);

    // A fresh handshake during a lighter flood (1 kpps: over the 100
    // handshakes a second one address may make without a cookie): B
    // restarts; its initiation from the flooded address gets a cookie
    // reply (unless it is among the address's first 100 of that second),
    // and its next one, with the cookie, a session. (While the queue
    // overflows, as above, a handshake waits for one of its retries, every
    // 5 s, to find room: the same holds for the kernel's WireGuard.)
    let flood = start_flood(&vcpe_b, &pub_a, 1_000, 40)?;
    std::thread::sleep(Duration::from_secs(2));
    let before = handshakes(&a)?;
    b.daemon.stop();
    drop(b);
    let b = Vcped::start(&vcpe_b, lab.dir(), "vcped-b2", &config_b)?;
    // Its TUN is new: the kernel route into it went with the old one.
    vcpe_b.route_dev("10.1.0.0/24", "vcpe0")?;
    let started = Instant::now();
    let again = wait_until(Duration::from_secs(25), || {
        host_b
            .exec(["ping", "-c", "1", "-W", "1", "10.1.0.10"])
            .is_ok_and(|o| o.status.success())
    });
    ensure!(
        again,
        "no new session during the flood: {:#?} {:#?}",
        b.tunnels(),
        handshakes(&a)
    );
    ensure!(
        flood.is_running(),
        "the flood ended before the new session was checked ({:?}):\n{}",
        started.elapsed(),
        flood.log()
    );
    let after = handshakes(&a)?;
    ensure!(
        after.accepted > before.accepted && after.cookie_replies_sent > before.cookie_replies_sent,
        "{before:#?} {after:#?}"
    );
    Ok(())
}
