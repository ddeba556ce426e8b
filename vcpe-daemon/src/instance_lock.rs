//! One vcped per config file and per TUN: exclusive `flock`s on lock
//! files in the lock directory (`VCPE_LOCK_DIR`, default `/run/vcpe`, the
//! unit's `RuntimeDirectory=`), taken before anything is touched — before
//! the config history is recovered, the control socket bound, a TUN
//! opened or a kernel route changed. A second daemon on the same config
//! or the same TUN is refused with the running one's pid, and since it
//! never started kernel sync it never deletes the first one's routes.
//!
//! Keys: `config-<name>-<hash>.lock` for the config file's canonical path
//! (a symlink and its target are one config), and
//! `tun-<netns inode>-<name>.lock` per interface: TUN names are per network
//! namespace, so daemons in different namespaces never collide. The lock
//! files hold the holder's pid and are never deleted (deleting a lock
//! file races with a daemon taking it); the kernel drops the lock when the
//! holder exits, however it exits.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};

/// Where the lock files live unless `VCPE_LOCK_DIR` says otherwise.
pub const DEFAULT_DIR: &str = "/run/vcpe";

/// Held locks: dropped (and so released) when the daemon returns.
#[derive(Debug, Default)]
pub struct Locks {
    held: Vec<Flock<File>>,
}

/// The lock directory: `VCPE_LOCK_DIR` or [`DEFAULT_DIR`].
pub fn dir() -> PathBuf {
    std::env::var_os("VCPE_LOCK_DIR").map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

impl Locks {
    /// Locks the config file at `config` (by its canonical path).
    pub fn config(&mut self, dir: &Path, config: &Path) -> anyhow::Result<()> {
        let canonical = fs::canonicalize(config).unwrap_or_else(|_| config.to_owned());
        let name = canonical
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "_")
            })
            .unwrap_or_default();
        let key = format!(
            "config-{name}-{:016x}.lock",
            fnv1a(canonical.as_os_str().as_encoded_bytes())
        );
        self.take(dir, &key, &format!("the config {}", canonical.display()))
    }

    /// Locks the TUN interface `name` in this network namespace.
    pub fn tun(&mut self, dir: &Path, name: &str) -> anyhow::Result<()> {
        let netns = fs::metadata("/proc/self/ns/net")
            .context("reading this process's network namespace (/proc/self/ns/net)")?
            .ino();
        self.take(
            dir,
            &format!("tun-{netns}-{name}.lock"),
            &format!("the TUN interface {name} in this network namespace"),
        )
    }

    fn take(&mut self, dir: &Path, key: &str, what: &str) -> anyhow::Result<()> {
        fs::create_dir_all(dir).with_context(|| {
            format!(
                "creating the lock directory {} (VCPE_LOCK_DIR chooses another)",
                dir.display()
            )
        })?;
        let path = dir.join(key);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = match text.trim() {
                    "" => "pid unknown".to_owned(),
                    p => format!("pid {p}"),
                };
                bail!(
                    "another vcped ({pid}) runs on {what} (lock {}); refusing to start a \
                     second one: stop it first, or give this daemon its own config and interfaces",
                    path.display()
                );
            }
            Err((_, e)) => {
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("locking {}", path.display()));
            }
        };
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| writeln!(lock, "{}", std::process::id()))
            .with_context(|| format!("writing our pid into {}", path.display()))?;
        self.held.push(lock);
        Ok(())
    }
}

/// FNV-1a, 64 bits: a stable short name for a path.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_config_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("vcped.toml");
        fs::write(&config, "").expect("write");
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&config, &link).expect("symlink");
        let locks = dir.path().join("locks");
        let mut first = Locks::default();
        first.config(&locks, &config).expect("first lock");
        first.tun(&locks, "vcpe0").expect("first tun lock");
        // flock locks belong to the open file: a second open is refused
        // within one process too.
        let e = Locks::default().config(&locks, &link).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        let e = Locks::default().tun(&locks, "vcpe0").unwrap_err();
        assert!(e.to_string().contains("TUN interface vcpe0"), "{e}");
        Locks::default().tun(&locks, "vcpe1").expect("another TUN");
        drop(first);
        Locks::default().config(&locks, &config).expect("released");
    }
}
