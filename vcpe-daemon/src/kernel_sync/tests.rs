//! The writers' handle and the config's share, without sockets.

use std::path::Path;

use super::*;

const CONFIG: &str = r#"
[router]
id = "10.255.0.1"
asn = 65001
[[interface]]
name = "vcpe0"
addresses = ["10.255.0.1/24", "fd00:255::1/64"]
[[route]]
name = "local"
prefix = "10.1.1.0/24"
interface = "vcpe0"
[[route]]
name = "far"
prefix = "10.9.0.0/16"
peer = "b"
[[route]]
name = "far-v6"
prefix = "fd00:9::/32"
peer = "b"
[[route]]
name = "subnet"
prefix = "10.255.0.0/24"
peer = "b"
[[peer]]
name = "b"
endpoint = "100.64.0.2"
encapsulation = "gre"
allowed_prefixes = ["10.9.0.0/16", "fd00:9::/32", "10.255.0.2/32"]
"#;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[test]
fn static_routes_towards_a_peer_are_wanted_but_not_interface_subnets() {
    let config = vcpe_config::parse(CONFIG, Path::new("t.toml")).expect("valid");
    let mut d = initial(&config);
    let mut wanted: Vec<IpNet> = d.poll(100).into_iter().map(Action::prefix).collect();
    wanted.sort();
    assert_eq!(wanted, vec![net("10.9.0.0/16"), net("fd00:9::/32")]);
}

#[test]
fn writers_coalesce_and_wake_the_task_only_with_news() {
    let routes = KernelRoutes::new(Desired::new([]), "vcpe0".into(), 254, 201);
    routes.update([(net("10.9.0.0/16"), true), (net("10.8.0.0/16"), true)]);
    routes.set(net("10.8.0.0/16"), false);
    let actions = routes.lock().poll(100);
    assert_eq!(actions, vec![Action::Add(net("10.9.0.0/16"))]);
    let s = routes.stats();
    assert_eq!(
        (s.interface.as_str(), s.table, s.protocol),
        ("vcpe0", 254, 201)
    );
    assert_eq!(s.installed, 0, "not before the kernel said so");
    routes.lock().record(actions[0], desired::Outcome::Done);
    assert_eq!(routes.stats().installed, 1);
}

#[tokio::test]
async fn a_change_wakes_the_task() {
    let routes = KernelRoutes::new(Desired::new([]), "vcpe0".into(), 254, 201);
    routes.set(net("10.9.0.0/16"), true);
    // The permit is stored: a task that waits only later still wakes.
    tokio::time::timeout(Duration::from_secs(5), routes.shared.wake.notified())
        .await
        .expect("woken");
}
