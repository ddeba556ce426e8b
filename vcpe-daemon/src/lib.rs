//! Wiring of the vcpe router: the `vcped` daemon and the `vcpectl` client.
//!
//! Owns process concerns — command-line parsing, logging, signals, the
//! control socket — and connects the protocol crates (`vcpe-config`,
//! `vcpe-forwarding`, `vcpe-bgp`) to each other. Protocol logic lives in
//! those crates, never here.

pub mod bgp_driver;
pub mod control;
pub mod daemon;
pub mod dataplane;
pub mod kernel_sync;
pub mod logging;
pub mod malloc;
pub mod metrics;
pub mod routing;
pub mod running_config;
pub mod topology;
pub mod tunnels;
