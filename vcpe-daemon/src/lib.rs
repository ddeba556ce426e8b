//! Wiring of the vcpe router: the `vcped` daemon (`vcpectl`, its CLI, is
//! the `vcpectl` crate; the protocol between them is `vcpe-api`).
//!
//! Owns process concerns — command-line parsing, logging, signals, the
//! control socket — and connects the protocol crates (`vcpe-config`,
//! `vcpe-forwarding`, `vcpe-bgp`, `vcpe-bfd`) to each other. Protocol logic lives in
//! those crates, never here.
//!
//! | module            | owns                                                  |
//! |-------------------|-------------------------------------------------------|
//! | [`daemon`]        | start-up, signals, shutdown: the wiring root          |
//! | [`running_config`]| the config that runs now (one value, one writer)      |
//! | [`topology`]      | interface and tunnel ids, by name                     |
//! | [`routing`]       | the FIB writer and every route source                 |
//! | [`dataplane`]     | TUN devices, tunnel peers ([`tunnels`]), workers      |
//! | [`bgp_driver`]    | the speaker task and its sockets                      |
//! | [`bfd_driver`]    | the BFD task, its sockets, BFD down → BGP down        |
//! | [`kernel_sync`]   | our routes in the kernel's table                      |
//! | [`resolve`]       | hostname endpoints of WireGuard peers, re-resolved    |
//! | [`link`]          | TUN link set-up (MTU, addresses, up) over netlink     |
//! | [`control`]       | the control API's daemon side: socket, dispatch, views |
//! | [`metrics`]       | Prometheus `/metrics` from the control replies        |
//! | [`systemd`]       | `sd_notify`: readiness, status, watchdog pings        |
//! | [`logging`], [`malloc`] | process set-up                                  |

pub mod bfd_driver;
pub mod bgp_driver;
pub mod control;
pub mod daemon;
pub mod dataplane;
pub mod instance_lock;
pub mod kernel_sync;
pub mod link;
pub mod logging;
pub mod malloc;
pub mod metrics;
pub mod resolve;
pub mod routing;
pub mod running_config;
pub mod stale_temps;
pub mod systemd;
pub mod topology;
pub mod tunnels;
