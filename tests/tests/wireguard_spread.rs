//! Many WireGuard peers on one bind, received by several threads: a hub
//! vcped with four workers (so four receive sockets in one `SO_REUSEPORT`
//! group on its bind, and four receive threads) and eight spoke vcpeds,
//! each with its own tunnel to the hub, all pinging the hub's inner
//! address at once.
//!
//! ```text
//!  spoke i (i = 1..8): vcpe0 10.255.0.(10+i) ══ wan0 100.64.i.2 ── hub sI 100.64.i.1
//!                                                       hub: bind 0.0.0.0:51820, vcpe0 10.255.0.1
//! ```
//!
//! Checked: every ping of every spoke comes back; every tunnel counted
//! its packets; `vcpectl stats` shows the hub's four WireGuard receive
//! threads of one group, at least two of which read the spokes'
//! datagrams (the kernel hashes each spoke's address and port to one
//! socket: eight spokes on one of four sockets has odds of 4^-7), and
//! their counts add up to at least what was sent; the human table
//! shows them.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use vcpe_tests::{Lab, Netns, Vcped, require_root, wait_until};

/// Spokes.
const SPOKES: u8 = 8;

/// Hub workers, so receive sockets on its WireGuard bind.
const HUB_WORKERS: usize = 4;

/// Pings per spoke in the concurrent run.
const PINGS: u64 = 150;

fn spoke_inner(i: u8) -> String {
    format!("10.255.0.{}", 10 + i)
}

fn hub_config(key: &std::path::Path, spokes: &BTreeMap<u8, String>) -> String {
    let mut c = format!(
        "[router]\nid = \"10.255.0.1\"\nasn = 65001\n\n[kernel]\nroute_sync = false\n\n\
         [forwarding]\nworkers = {HUB_WORKERS}\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"10.255.0.1/24\"]\nmtu = 1420\n\n"
    );
    for (i, public) in spokes {
        let inner = spoke_inner(*i);
        c += &format!(
            "[[route]]\nname = \"s{i}\"\nprefix = \"{inner}/32\"\npeer = \"s{i}\"\n\n\
             [[peer]]\nname = \"s{i}\"\nencapsulation = \"wireguard\"\nbind = \"0.0.0.0:51820\"\n\
             endpoint = \"100.64.{i}.2:51820\"\nprivate_key_file = \"{}\"\npublic_key = \"{public}\"\n\
             allowed_prefixes = [\"{inner}/32\"]\nmtu = 1420\n\n",
            key.display()
        );
    }
    c
}

fn spoke_config(i: u8, key: &std::path::Path, hub_public: &str) -> String {
    let inner = spoke_inner(i);
    format!(
        "[router]\nid = \"{inner}\"\nasn = {}\n\n[kernel]\nroute_sync = false\n\n\
         [forwarding]\nworkers = 1\n\n\
         [[interface]]\nname = \"vcpe0\"\naddresses = [\"{inner}/24\"]\nmtu = 1420\n\n\
         [[route]]\nname = \"hub\"\nprefix = \"10.255.0.1/32\"\npeer = \"hub\"\n\n\
         [[peer]]\nname = \"hub\"\nencapsulation = \"wireguard\"\nbind = \"0.0.0.0:51820\"\n\
         endpoint = \"100.64.{i}.1:51820\"\nprivate_key_file = \"{}\"\npublic_key = \"{hub_public}\"\n\
         allowed_prefixes = [\"10.255.0.1/32\"]\nmtu = 1420\n",
        65010 + u32::from(i),
        key.display()
    )
}

/// Replies `ping -q` reports.
fn received(ping_output: &str) -> Option<u64> {
    let line = ping_output.lines().find(|l| l.contains("received"))?;
    let field = line.split(',').find(|f| f.contains("received"))?;
    field.split_whitespace().next()?.parse().ok()
}

#[test]
fn eight_wireguard_peers_are_received_by_several_threads() -> Result<()> {
    require_root!();
    let lab = Lab::new("wgspread")?;
    let hub_ns = lab.netns("hub")?;
    let (hub_private, hub_public) = vcpe_tests::wg::keypair()?;
    let hub_key = vcpe_tests::wg::write_key(&lab.dir().join("hub.key"), &hub_private)?;
    let mut spoke_ns: Vec<(u8, Netns, std::path::PathBuf)> = Vec::new();
    let mut publics = BTreeMap::new();
    for i in 1..=SPOKES {
        let ns = lab.netns(&format!("s{i}"))?;
        lab.veth(&hub_ns, &format!("s{i}"), &ns, "wan0")?;
        hub_ns.addr(&format!("s{i}"), &format!("100.64.{i}.1/24"))?;
        ns.addr("wan0", &format!("100.64.{i}.2/24"))?;
        let (private, public) = vcpe_tests::wg::keypair()?;
        let key = vcpe_tests::wg::write_key(&lab.dir().join(format!("s{i}.key")), &private)?;
        publics.insert(i, public);
        spoke_ns.push((i, ns, key));
    }
    let hub = Vcped::start(
        &hub_ns,
        lab.dir(),
        "vcped-hub",
        &hub_config(&hub_key, &publics),
    )?;
    let mut spokes = Vec::new();
    for (i, ns, key) in &spoke_ns {
        spokes.push(Vcped::spawn(
            ns,
            lab.dir(),
            &format!("vcped-s{i}"),
            &spoke_config(*i, key, &hub_public),
        )?);
    }
    for (v, (i, _, _)) in spokes.iter().zip(&spoke_ns) {
        v.wait_ready(&format!("vcped-s{i}"))?;
    }

    // The group: one receive thread per hub worker on the WireGuard bind.
    let threads = |s: &vcpe_api::Stats| -> Vec<vcpe_api::ReceiveThreadCounters> {
        s.receive_threads
            .iter()
            .filter(|t| t.socket == "wireguard 0.0.0.0:51820")
            .cloned()
            .collect()
    };
    let before = threads(&hub.stats()?);
    ensure!(
        before.len() == HUB_WORKERS
            && before.iter().all(|t| t.group_size == HUB_WORKERS)
            && (0..HUB_WORKERS).all(|i| before.iter().any(|t| t.index == i)),
        "the hub's WireGuard bind has not one receive thread per worker in one group: {:#?}",
        hub.stats()?.receive_threads
    );

    // Every tunnel up (a handshake each) before the measured run.
    for (i, ns, _) in &spoke_ns {
        let up = wait_until(Duration::from_secs(15), || {
            ns.exec(["ping", "-c", "1", "-W", "1", "10.255.0.1"])
                .is_ok_and(|o| o.status.success())
        });
        ensure!(
            up,
            "spoke {i} cannot ping the hub through its tunnel:\nhub:\n{}\nspoke:\n{}",
            hub.daemon.log(),
            spokes[usize::from(*i) - 1].daemon.log()
        );
    }
    let sent_before: u64 = threads(&hub.stats()?).iter().map(|t| t.datagrams).sum();

    // All spokes at once.
    let outputs = std::thread::scope(|s| {
        let runs: Vec<_> = spoke_ns
            .iter()
            .map(|(i, ns, _)| {
                s.spawn(move || {
                    let count = PINGS.to_string();
                    let out = ns.exec_timeout(
                        [
                            "ping",
                            "-q",
                            "-c",
                            &count,
                            "-i",
                            "0.01",
                            "-W",
                            "2",
                            "10.255.0.1",
                        ],
                        Duration::from_secs(30),
                    );
                    (*i, out)
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("ping thread"))
            .collect::<Vec<_>>()
    });
    for (i, out) in outputs {
        let out = out.with_context(|| format!("ping from spoke {i}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        ensure!(
            received(&text) == Some(PINGS),
            "spoke {i}: not every ping came back through the hub:\n{text}"
        );
    }

    let stats = hub.stats()?;
    for t in &stats.tunnels {
        ensure!(
            t.rx_packets >= PINGS && t.tx_packets >= PINGS,
            "tunnel {} did not count its pings: {t:?}",
            t.name
        );
    }
    ensure!(
        stats.tunnels.len() == usize::from(SPOKES),
        "{:#?}",
        stats.tunnels
    );
    let after = threads(&stats);
    let read: u64 = after.iter().map(|t| t.datagrams).sum::<u64>() - sent_before;
    ensure!(
        read >= PINGS * u64::from(SPOKES),
        "the hub's receive threads read {read} datagrams for {} pings: {after:#?}",
        PINGS * u64::from(SPOKES)
    );
    let busy: Vec<_> = after
        .iter()
        .filter(|t| {
            let was = before
                .iter()
                .find(|b| b.thread == t.thread)
                .map_or(0, |b| b.datagrams);
            t.datagrams - was >= PINGS
        })
        .collect();
    ensure!(
        busy.len() >= 2,
        "the spokes' datagrams were read by {} of the hub's {HUB_WORKERS} receive threads: {after:#?}",
        busy.len()
    );

    // The human table names them.
    let text = hub.ctl(&["stats"])?;
    eprintln!("hub: vcpectl stats\n{text}");
    ensure!(
        text.contains("RECEIVE THREAD") && text.contains("wireguard 0.0.0.0:51820"),
        "{text}"
    );
    Ok(())
}
