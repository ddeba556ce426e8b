//! A running dataplane changed while its worker runs, with real TUN
//! devices and a real raw GRE socket, each test in a fresh network
//! namespace of its own thread (`unshare(CLONE_NEWNET)`):
//!
//! - a TUN port handed to the running worker is read and written within
//!   moments (the worker is woken from `poll(2)`, not left to its
//!   timeout), and once removed the device is gone (every fd dropped);
//! - a tunnel and its underlay socket added while running carry packets
//!   (sent by the worker, received by the new receive thread); removed,
//!   the stale route's packets are dropped as `no_egress` and the receive
//!   thread stops.
//!
//! Skipped, with a message, when not root or without `/dev/net/tun`.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vcpe_forwarding::counters::{DropReason, Port};
use vcpe_forwarding::dataplane::{
    Dataplane, DataplaneSpec, PortSpec, RxGroup, TunnelSocket, UnderlaySocket,
};
use vcpe_forwarding::fib::{FibWriter, NextHop, NextHopGroup};
use vcpe_forwarding::pipeline::{EgressMtus, ForwardConfig, Ingress};
use vcpe_forwarding::tun::{Tun, TunConfig};
use vcpe_forwarding::tunnel::gre_socket::{GreSocket, GreSocketOptions};
use vcpe_forwarding::tunnel::peer::{Encap, TunnelPeer, TunnelStats};

fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (needs CAP_NET_ADMIN and unshare)");
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun missing (modprobe tun)");
    }
    None
}

/// Runs `f` in a new thread inside a new network namespace with `lo` up.
fn in_netns(test: &str, f: impl FnOnce() + Send + 'static) {
    if let Some(why) = skip_reason() {
        eprintln!("skipping {test}: {why}");
        return;
    }
    let joined = std::thread::spawn(move || {
        // SAFETY: unshare only changes this thread's namespace membership.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "unshare: {}", io::Error::last_os_error());
        ip(&["link", "set", "lo", "up"]);
        f();
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?}: {st}");
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A TUN `name` with one queue (one worker), up with `addr`, as port `id`.
fn port(name: &str, addr: &str, id: u32) -> PortSpec {
    let tun = Tun::create(&TunConfig {
        name: name.to_owned(),
        queues: 1,
        offload: false,
    })
    .expect("create TUN");
    ip(&["addr", "add", addr, "dev", name]);
    ip(&["link", "set", name, "up"]);
    PortSpec {
        ingress: Ingress {
            port: Port::Interface(id),
            v4: addr.split('/').next().and_then(|a| a.parse().ok()),
            v6: None,
        },
        queues: tun.into_queues(),
        offload: false,
        uso: false,
    }
}

/// A one-worker dataplane with port 0 (`lv0`, 10.71.0.1/24) and `fib`.
fn start(fib: vcpe_forwarding::fib::Fib) -> Dataplane {
    Dataplane::start(
        DataplaneSpec {
            ports: vec![port("lv0", "10.71.0.1/24", 0)],
            mtus: EgressMtus {
                interfaces: vec![1500],
                tunnels: Vec::new(),
            },
            config: ForwardConfig::default(),
            icmp_rate_per_sec: 0,
            workers: 1,
            pin: false,
            tunnels: Vec::new(),
            tunnel_sockets: Vec::new(),
        },
        fib,
    )
    .expect("start")
}

/// Sends one UDP datagram to `to` (the kernel routes it into a TUN).
fn send_to(to: &str) {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp");
    let _ = s.send_to(b"hello", to);
}

/// Waits up to `limit` for `f`; how long it took.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn route(fib: &mut FibWriter, prefix: &str, hop: NextHop) {
    fib.insert(prefix.parse().expect("prefix"), NextHopGroup::single(hop));
}

#[test]
fn a_port_is_added_to_and_removed_from_a_running_worker() {
    in_netns(
        "a_port_is_added_to_and_removed_from_a_running_worker",
        || {
            let (mut fib, reader) = vcpe_forwarding::fib::Fib::new();
            // What enters by the new port goes out of port 0.
            route(&mut fib, "10.72.0.0/24", NextHop::interface(0));
            let mut dp = start(reader);
            // Let the worker go to sleep in poll(2).
            std::thread::sleep(Duration::from_millis(300));
            dp.add_port(port("lv1", "10.72.0.1/24", 1), 1500)
                .expect("add port");
            let counters = Arc::clone(dp.counters());
            let rx1 = || counters.snapshot().port(Port::Interface(1)).rx_packets;
            let tx0 = || counters.snapshot().port(Port::Interface(0)).tx_packets;
            // The kernel routes 10.72.0.9 into lv1: the worker reads it there
            // and forwards it out of lv0.
            let took = within(Duration::from_secs(3), || {
                send_to("10.72.0.9:9");
                rx1() > 0 && tx0() > 0
            })
            .expect("the new port is not read by the running worker");
            assert!(
                took < Duration::from_secs(1),
                "the new port took {took:?} to be served"
            );
            dp.remove_port(1);
            // Every fd of lv1 is dropped: the device is gone.
            assert!(
                within(Duration::from_secs(2), || !link_exists("lv1")).is_some(),
                "lv1 still exists after remove_port"
            );
            let before = rx1();
            send_to("10.71.0.9:9");
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(rx1(), before, "a removed port is still read");
            // Port 0 still runs.
            let rx0 = || counters.snapshot().port(Port::Interface(0)).rx_packets;
            let r0 = rx0();
            assert!(
                within(Duration::from_secs(2), || {
                    send_to("10.71.0.9:9");
                    rx0() > r0
                })
                .is_some(),
                "port 0 stopped"
            );
            dp.stop();
        },
    );
}

#[test]
fn a_tunnel_and_its_socket_come_and_go_while_running() {
    in_netns("a_tunnel_and_its_socket_come_and_go_while_running", || {
        let (mut fib, reader) = vcpe_forwarding::fib::Fib::new();
        route(&mut fib, "10.73.0.0/24", NextHop::tunnel(5));
        let mut dp = start(reader);
        ip(&["route", "add", "10.73.0.0/24", "dev", "lv0"]);
        let counters = Arc::clone(dp.counters());
        let no_egress = || counters.snapshot().drops(DropReason::NoEgress);
        // No tunnel 5 yet: the route's packets are dropped as no_egress.
        assert!(
            within(Duration::from_secs(2), || {
                send_to("10.73.0.5:9");
                no_egress() > 0
            })
            .is_some(),
            "a route into a missing tunnel is not dropped as no_egress"
        );
        // A GRE tunnel to ourselves over loopback: what the worker sends,
        // the new receive thread gets back (and drops as spoofed: the
        // peer may send from nothing).
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let socket = Arc::new(
            GreSocket::bind_with(
                local,
                GreSocketOptions {
                    nonblocking: true,
                    ..GreSocketOptions::default()
                },
            )
            .expect("raw GRE socket"),
        );
        let peer = Arc::new(TunnelPeer {
            name: "self".into(),
            ingress: Ingress {
                port: Port::Tunnel(5),
                v4: None,
                v6: None,
            },
            allowed: arc_swap::ArcSwap::from_pointee(Vec::new()),
            encap: Encap::Gre {
                key: Some(7),
                socket: Arc::clone(&socket),
                remote: local,
            },
            stats: TunnelStats::default(),
            epoch: Instant::now(),
        });
        dp.set_tunnel(5, Arc::clone(&peer), 1400)
            .expect("set tunnel");
        let sid = dp
            .start_socket(TunnelSocket {
                socket: UnderlaySocket::Gre(Arc::clone(&socket)),
                peers: vec![5],
                group: RxGroup::ALONE,
                label: "gre test".into(),
            })
            .expect("start socket");
        assert_eq!(dp.sockets(), 1);
        let spoofed = || {
            peer.stats
                .rx_spoofed
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let tx5 = || counters.snapshot().port(Port::Tunnel(5)).tx_packets;
        assert!(
            within(Duration::from_secs(3), || {
                send_to("10.73.0.5:9");
                tx5() > 0 && spoofed() > 0
            })
            .is_some(),
            "the new tunnel does not carry packets: tx {} spoofed {}",
            tx5(),
            spoofed()
        );
        // The receive thread counted what it read (the spoofed packets
        // came back to it over the loopback underlay; counted before it
        // handled them).
        let dropped = spoofed();
        let threads = dp.receive_threads();
        assert_eq!(threads.len(), 1, "{threads:?}");
        assert_eq!(threads[0].socket, "gre test");
        assert_eq!(threads[0].group, RxGroup::ALONE);
        assert!(
            threads[0].datagrams >= dropped && threads[0].batches > 0,
            "{threads:?}"
        );
        // Removed: the stale route's packets drop as no_egress again.
        dp.remove_tunnel(5);
        dp.stop_socket(sid);
        assert_eq!(dp.sockets(), 0);
        assert!(dp.receive_threads().is_empty());
        assert!(dp.tunnel(5).is_none());
        let (t, d) = (tx5(), no_egress());
        assert!(
            within(Duration::from_secs(2), || {
                send_to("10.73.0.5:9");
                no_egress() > d
            })
            .is_some(),
            "a removed tunnel's route is not dropped as no_egress"
        );
        assert_eq!(tx5(), t, "a removed tunnel still sends");
        dp.stop();
    });
}
