//! The vcpe dataplane: IP packet views, the longest-prefix-match FIB, TUN I/O
//! and the forwarding pipeline.
//!
//! Owns everything a packet touches between a TUN read and a TUN/tunnel write.
//! Does not own routing decisions (the daemon installs routes computed by
//! `vcpe-bgp` and the config) nor any configuration parsing.

pub mod counters;
pub mod dataplane;
pub mod fib;
pub mod pipeline;
pub mod tun;
pub mod tunnel;
pub mod wire;
