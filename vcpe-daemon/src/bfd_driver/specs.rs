//! Which BFD sessions the config asks for: one per `[[bgp.neighbor]]`
//! with `bfd = true`.

use std::time::Duration;

use vcpe_bfd::{PathKind, SessionConfig, SessionKey};
use vcpe_config::Config;

/// One session to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Peer, local address, path kind.
    pub key: SessionKey,
    /// Intervals and multiplier.
    pub config: SessionConfig,
}

/// The sessions `config` asks for.
pub fn specs(config: &Config) -> Vec<Spec> {
    let Some(bgp) = &config.bgp else {
        return Vec::new();
    };
    bgp.neighbors
        .iter()
        .filter_map(|n| {
            let b = n.bfd?;
            let interval = Duration::from_millis(u64::from(b.interval_ms));
            Some(Spec {
                key: SessionKey {
                    peer: n.address,
                    local: n.local_address,
                    path: if b.multihop {
                        PathKind::MultiHop
                    } else {
                        PathKind::SingleHop
                    },
                },
                config: SessionConfig {
                    desired_min_tx: interval,
                    required_min_rx: interval,
                    detect_mult: b.multiplier,
                },
            })
        })
        .collect()
}
