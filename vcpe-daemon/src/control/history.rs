//! The config history on disk: every applied version of the config file
//! (`NNNNNN.toml`, the text, and `NNNNNN.json`, who/when/what), the last
//! `keep` of them, and the pending confirm (`pending.json`, with the text
//! to go back to) of a `vcpectl config apply --confirm`.
//!
//! Every file is written with [`vcpe_config::edit::write_atomic`] (temp
//! file, fsync, rename, directory fsync), the text before its metadata: a
//! version is listed only once both are whole, so a crash at any point
//! leaves the history readable. Nothing here knows the daemon; the commit
//! logic is `commit.rs`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vcpe_api::{HistoryEntry, PendingConfirm};
use vcpe_config::edit::write_atomic;

/// How many versions are kept unless configured.
pub const DEFAULT_KEEP: usize = 20;

/// A confirm that has not come yet, as kept on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// What `config history` shows of it.
    pub confirm: PendingConfirm,
    /// The file text to write back when it is not confirmed.
    pub previous_text: String,
}

/// The history directory.
#[derive(Debug)]
pub struct History {
    dir: PathBuf,
    keep: usize,
}

fn io_err(e: vcpe_config::edit::EditError) -> io::Error {
    io::Error::other(e.to_string())
}

impl History {
    /// The history in `dir` (created on the first write), keeping the
    /// last `keep` versions (at least 2: the running one and the one
    /// before).
    pub fn new(dir: PathBuf, keep: usize) -> History {
        History {
            dir,
            keep: keep.max(2),
        }
    }

    /// The default directory for the config file `config`: systemd's
    /// `$STATE_DIRECTORY` (`StateDirectory=vcpe`: /var/lib/vcpe) when set,
    /// else `<config dir>/<config stem>.history` next to the file
    /// (/etc/vcpe/vcped.history).
    pub fn default_dir(config: &Path) -> PathBuf {
        if let Some(d) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
            // systemd may list several, colon-separated; the first is ours.
            let first = d
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or("")
                .to_owned();
            return PathBuf::from(first).join("history");
        }
        let dir = match config.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let stem = config
            .file_stem()
            .map_or_else(|| "vcped".into(), |s| s.to_string_lossy().into_owned());
        dir.join(format!("{stem}.history"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the text of `version` is kept.
    pub fn text_path(&self, version: u64) -> PathBuf {
        self.dir.join(format!("{version:06}.toml"))
    }

    fn meta_path(&self, version: u64) -> PathBuf {
        self.dir.join(format!("{version:06}.json"))
    }

    fn pending_path(&self) -> PathBuf {
        self.dir.join("pending.json")
    }

    /// Every version kept, oldest first. Files that do not parse (not
    /// ours, or cut short by a crash before the rename) are skipped.
    pub fn entries(&self) -> io::Result<Vec<HistoryEntry>> {
        let read = match fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in read.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let Ok(version) = stem.parse::<u64>() else {
                continue;
            };
            let Ok(text) = fs::read_to_string(e.path()) else {
                continue;
            };
            match serde_json::from_str::<HistoryEntry>(&text) {
                Ok(h) if h.version == version && self.text_path(version).exists() => out.push(h),
                _ => {
                    tracing::warn!(file = %e.path().display(), "config history: skipping an unreadable entry")
                }
            }
        }
        out.sort_by_key(|h| h.version);
        Ok(out)
    }

    /// The newest version, if any.
    pub fn latest(&self) -> io::Result<Option<HistoryEntry>> {
        Ok(self.entries()?.pop())
    }

    /// The file text of `version`.
    pub fn text(&self, version: u64) -> io::Result<String> {
        fs::read_to_string(self.text_path(version))
    }

    /// The number the next recorded version gets.
    pub fn next_version(&self) -> io::Result<u64> {
        Ok(self.latest()?.map_or(1, |h| h.version + 1))
    }

    /// Records `text` as the next version, then forgets the oldest beyond
    /// `keep`.
    pub fn record(
        &self,
        text: &str,
        uid: Option<u32>,
        source: String,
        summary: String,
    ) -> io::Result<HistoryEntry> {
        fs::create_dir_all(&self.dir)?;
        let version = self.next_version()?;
        let entry = HistoryEntry {
            version,
            applied_unix: now_unix(),
            uid,
            user: uid.and_then(user_name),
            source,
            summary,
        };
        write_atomic(&self.text_path(version), text).map_err(io_err)?;
        let meta = serde_json::to_string_pretty(&entry).map_err(io::Error::other)?;
        write_atomic(&self.meta_path(version), &meta).map_err(io_err)?;
        let all = self.entries()?;
        let extra = all.len().saturating_sub(self.keep);
        for old in &all[..extra] {
            // Metadata first: a half-removed version is simply not listed.
            let _ = fs::remove_file(self.meta_path(old.version));
            let _ = fs::remove_file(self.text_path(old.version));
        }
        Ok(entry)
    }

    /// The pending confirm, if one is on disk.
    pub fn pending(&self) -> io::Result<Option<Pending>> {
        match fs::read_to_string(self.pending_path()) {
            Ok(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            // No directory (yet), or none can be there: nothing pending.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the pending confirm (before the config file changes).
    pub fn set_pending(&self, p: &Pending) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let text = serde_json::to_string_pretty(p).map_err(io::Error::other)?;
        write_atomic(&self.pending_path(), &text).map_err(io_err)
    }

    /// Removes the pending confirm (confirmed, or reverted).
    pub fn clear_pending(&self) -> io::Result<()> {
        match fs::remove_file(self.pending_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        fs::File::open(&self.dir)?.sync_all()
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_and_only_the_last_keep_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path().join("h"), 3);
        assert!(h.entries().expect("empty").is_empty());
        for i in 1..=5u64 {
            let e = h
                .record(
                    &format!("# v{i}\n"),
                    Some(0),
                    format!("apply {i}"),
                    "s".into(),
                )
                .expect("record");
            assert_eq!(e.version, i);
        }
        let all = h.entries().expect("entries");
        assert_eq!(
            all.iter().map(|e| e.version).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(h.text(4).expect("text"), "# v4\n");
        assert!(h.text(1).is_err());
        assert_eq!(all[2].user.as_deref(), Some("root"));
        assert_eq!(h.next_version().expect("next"), 6);
    }

    #[test]
    fn a_version_without_its_text_or_with_garbage_is_not_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path().to_owned(), 10);
        h.record("a", None, "start".into(), "".into())
            .expect("record");
        fs::write(dir.path().join("000002.json"), "{not json").expect("write");
        fs::write(dir.path().join("000003.json"), "{}").expect("write");
        fs::remove_file(dir.path().join("000001.toml")).expect("rm");
        assert!(h.entries().expect("entries").is_empty());
    }

    #[test]
    fn pending_round_trips_and_clears() {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = History::new(dir.path().join("h"), 10);
        assert_eq!(h.pending().expect("none"), None);
        let p = Pending {
            confirm: PendingConfirm {
                version: 2,
                previous: 1,
                deadline_unix: 99,
            },
            previous_text: "old".into(),
        };
        h.set_pending(&p).expect("set");
        assert_eq!(h.pending().expect("some"), Some(p));
        h.clear_pending().expect("clear");
        h.clear_pending().expect("clear twice");
        assert_eq!(h.pending().expect("none"), None);
    }

    #[test]
    fn the_default_directory_is_next_to_the_config() {
        if std::env::var_os("STATE_DIRECTORY").is_none() {
            assert_eq!(
                History::default_dir(Path::new("/etc/vcpe/vcped.toml")),
                Path::new("/etc/vcpe/vcped.history")
            );
        }
    }
}
