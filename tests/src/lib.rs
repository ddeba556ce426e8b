//! Test harness for vcpe: real network namespaces, cleaned up no matter what.
//!
//! Every interconnect test builds a small network out of Linux network
//! namespaces (`ip netns`), veth pairs and bridges, runs `vcped` and peers
//! (BIRD, FRR, GoBGP, ...) inside them, and checks traffic. This crate holds
//! the pieces:
//!
//! - [`Lab`] ([`lab`]): the per-test owner. Creates uniquely named namespaces
//!   (`vt{pid:x}-{seq}-{tag}-{name}`), veth pairs and bridges, and a temp dir
//!   for logs; dropping it deletes every namespace it created, after killing
//!   the processes inside — also when the test panics.
//! - [`Netns`] ([`netns`]): run commands inside (`exec`, `exec_ok`, `run_ok`,
//!   `ip`), set sysctls, add addresses and routes, spawn daemons.
//! - [`Veth`], [`Bridge`] ([`link`]): links; interface names inside a
//!   namespace are readable (`eth0`), the temporary names used while creating
//!   them are unique and ≤ 15 bytes ([`names`]).
//! - [`Daemon`] ([`process`]): a process in a namespace with stdout+stderr
//!   in a log file, `wait_for_log`, killed (SIGTERM, then SIGKILL) and reaped
//!   on drop, its log printed to stderr if the test is failing. Plus
//!   [`wait_until`] for polling conditions.
//! - [`require_root!`] / [`skip_unless_root`] ([`skip`]): not root → the test
//!   prints `SKIP ...` and passes vacuously; root → missing tools fail the test
//!   with an install hint (CI runs as root and must really test).
//! - [`bgp_feed`]: a minimal BGP speaker in the test process (handshake,
//!   message reader, a big table pre-encoded into UPDATEs) for load tests.
//! - [`fleet`]: many vCPEs on one underlay as `bench/fleet.sh` lays them
//!   out (static neighbors, GRE mesh, vxnets on `lo`), all started at once;
//!   many pings at once.
//! - [`cargo_bin`]: path of `vcped` / `vcpectl` built in this workspace;
//!   [`Vcped`] ([`vcped`]): a daemon started from a config text, driven with
//!   `vcpectl`.
//!
//! Etiquette: traffic stays inside the lab's own namespaces; addresses are
//! 10.x / fd00:: inside them; nothing in the root namespace is changed (veth
//! ends are created directly inside their target namespaces).
//!
//! ```no_run
//! use std::time::Duration;
//!
//! #[test]
//! fn two_hosts() -> anyhow::Result<()> {
//!     vcpe_tests::require_root!();
//!     let lab = vcpe_tests::Lab::new("two_hosts")?;
//!     let (a, b) = (lab.netns("a")?, lab.netns("b")?);
//!     lab.veth(&a, "eth0", &b, "eth0")?;
//!     a.addr("eth0", "10.0.0.1/24")?;
//!     b.addr("eth0", "10.0.0.2/24")?;
//!     let d = b.spawn("echo", ["sh", "-c", "echo ready; exec sleep 60"])?;
//!     d.wait_for_log("ready", Duration::from_secs(5))?;
//!     a.run_ok(["ping", "-c1", "-W2", "10.0.0.2"])?;
//!     Ok(())
//! }
//! ```
//!
//! Leftovers can only come from a test process killed with SIGKILL;
//! [`sweep_stale`] removes namespaces whose creating process is gone. It is
//! not called automatically.

pub mod bgp_feed;
pub mod cargo_bin;
pub mod daemon;
pub mod fleet;
pub mod lab;
pub mod link;
pub mod names;
pub mod netns;
pub mod netns_connect;
pub mod peers;
pub mod process;
pub mod skip;
pub mod vcped;
pub mod wg;

pub use cargo_bin::{cargo_bin, try_cargo_bin};
pub use daemon::Daemon;
pub use lab::Lab;
pub use link::{Bridge, Iface, Veth};
pub use netns::{Netns, list_netns, sweep_stale};
pub use netns_connect::connect_in;
pub use process::{group_members, pid_alive, wait_until};
pub use skip::{has_tun, is_root, require_tool, require_tun, skip_unless_root};
pub use vcped::Vcped;
