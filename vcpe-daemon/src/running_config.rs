//! The running config: the file as loaded at start, with every change
//! applied since (`vcpectl route add|del`, reloads). One value, read
//! lock-free as a snapshot ([`RunningConfig::load`]) and replaced whole by
//! one writer at a time ([`RunningConfig::write`]), so a reader never sees
//! the routes of one moment with the neighbors of another.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use vcpe_config::Config;

/// The config that runs now.
#[derive(Debug)]
pub struct RunningConfig {
    current: ArcSwap<Config>,
    /// Serializes changes (a route change and a reload never interleave).
    writer: Mutex<()>,
}

/// The right to change the running config; changes wait for it in turn.
#[derive(Debug)]
pub struct Writer<'a> {
    running: &'a RunningConfig,
    _turn: MutexGuard<'a, ()>,
}

impl RunningConfig {
    /// Runs `config`.
    pub fn new(config: Config) -> RunningConfig {
        RunningConfig {
            current: ArcSwap::from_pointee(config),
            writer: Mutex::new(()),
        }
    }

    /// The config now.
    pub fn load(&self) -> Arc<Config> {
        self.current.load_full()
    }

    /// Waits for the turn to change it.
    pub fn write(&self) -> Writer<'_> {
        Writer {
            _turn: self.writer.lock().unwrap_or_else(PoisonError::into_inner),
            running: self,
        }
    }
}

impl Writer<'_> {
    /// The config now (no other writer changes it while this is held).
    pub fn current(&self) -> Arc<Config> {
        self.running.load()
    }

    /// Runs `config` from now on.
    pub fn store(&self, config: Config) {
        self.running.current.store(Arc::new(config));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn readers_keep_their_snapshot_while_a_writer_replaces_it() {
        let c = vcpe_config::parse(
            "[router]\nid = \"10.0.0.1\"\nasn = 65001\n",
            Path::new("t.toml"),
        )
        .expect("valid");
        let running = RunningConfig::new(c);
        let before = running.load();
        {
            let w = running.write();
            let mut next = (*w.current()).clone();
            next.router.asn = 65002;
            w.store(next);
        }
        assert_eq!(before.router.asn, 65001);
        assert_eq!(running.load().router.asn, 65002);
    }
}
