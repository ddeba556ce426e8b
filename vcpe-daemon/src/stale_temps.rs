//! Temporary files left by a crash during a config write-back
//! ([`vcpe_config::edit::write_atomic`] names them `.vcped-XXXXXX.tmp`):
//! removed at start, after the instance locks are held (so no running
//! daemon is mid-write). Only that exact pattern, only regular files
//! owned by our effective uid, only in the config file's directory (and
//! its symlink target's, where write-backs go).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

/// Whether `name` is one of ours: `.vcped-` + 6 letters or digits + `.tmp`.
fn ours(name: &str) -> bool {
    name.strip_prefix(".vcped-")
        .and_then(|r| r.strip_suffix(".tmp"))
        .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The directories write-backs of `config` use: its own, and its
/// target's when it is a symlink.
fn dirs(config: &Path) -> Vec<PathBuf> {
    let parent = |p: &Path| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![parent(config)];
    if let Ok(target) = fs::canonicalize(config) {
        let d = parent(&target);
        if fs::canonicalize(&dirs[0]).ok().as_deref() != Some(d.as_path()) {
            dirs.push(d);
        }
    }
    dirs
}

/// Removes stale temporary files beside `config`; returns what it removed.
/// Failures are logged, never fatal.
pub fn remove(config: &Path) -> Vec<PathBuf> {
    let uid = nix::unistd::geteuid().as_raw();
    let mut removed = Vec::new();
    for dir in dirs(config) {
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "cannot list the config directory for stale temporary files");
                continue;
            }
        };
        for entry in entries.filter_map(Result::ok) {
            if !entry.file_name().to_str().is_some_and(ours) {
                continue;
            }
            let path = entry.path();
            // symlink_metadata: a link named like ours is not ours.
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_file() && m.uid() == uid => {}
                _ => continue,
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    info!(file = %path.display(), "removed a temporary file left by an interrupted config write");
                    removed.push(path);
                }
                Err(e) => {
                    warn!(file = %path.display(), error = %e, "cannot remove a stale temporary file")
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_pattern_is_ours() {
        assert!(ours(".vcped-a1B2c3.tmp"));
        for n in [
            "vcped-a1B2c3.tmp",
            ".vcped-a1B2c3.tmp.keep",
            ".vcped-a1B2c.tmp",
            ".vcped-a1B2c34.tmp",
            ".vcped-a1-2c3.tmp",
            ".vcped-.tmp",
            "vcped.toml",
        ] {
            assert!(!ours(n), "{n}");
        }
    }

    #[test]
    fn removes_stale_temps_and_keeps_everything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("vcped.toml");
        fs::write(&config, "x").expect("write");
        let stale = dir.path().join(".vcped-Ab12Cd.tmp");
        fs::write(&stale, "half").expect("write");
        let keep = [
            ".vcped-Ab12Cd.tmp.bak",
            "vcped-Ab12Cd.tmp",
            ".vcped-short.tmp",
            "notes.tmp",
        ];
        for k in keep {
            fs::write(dir.path().join(k), "k").expect("write");
        }
        // A directory and a symlink with our pattern are not ours.
        fs::create_dir(dir.path().join(".vcped-dir123.tmp")).expect("mkdir");
        let outside = other.path().join("precious");
        fs::write(&outside, "p").expect("write");
        std::os::unix::fs::symlink(&outside, dir.path().join(".vcped-lnk123.tmp")).expect("ln");
        // One in another directory is out of reach.
        let elsewhere = other.path().join(".vcped-Zz99Yy.tmp");
        fs::write(&elsewhere, "e").expect("write");
        // Another user's, when we may give it away (root).
        let foreign = dir.path().join(".vcped-F0r31g.tmp");
        fs::write(&foreign, "f").expect("write");
        let gave_away = nix::unistd::geteuid().is_root()
            && std::os::unix::fs::chown(&foreign, Some(65534), None).is_ok();
        if !gave_away {
            fs::remove_file(&foreign).expect("rm");
        }

        let removed = remove(&config);
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists());
        for k in keep {
            assert!(dir.path().join(k).exists(), "{k} was removed");
        }
        assert!(dir.path().join(".vcped-dir123.tmp").is_dir());
        assert!(fs::symlink_metadata(dir.path().join(".vcped-lnk123.tmp")).is_ok());
        assert!(outside.exists() && elsewhere.exists() && config.exists());
        assert_eq!(gave_away, foreign.exists());
    }

    #[test]
    fn a_symlinked_config_also_cleans_its_target_directory() {
        let etc = tempfile::tempdir().expect("tempdir");
        let managed = tempfile::tempdir().expect("tempdir");
        let target = managed.path().join("vcped.toml");
        fs::write(&target, "x").expect("write");
        let link = etc.path().join("vcped.toml");
        std::os::unix::fs::symlink(&target, &link).expect("ln");
        let a = etc.path().join(".vcped-aaaaaa.tmp");
        let b = managed.path().join(".vcped-bbbbbb.tmp");
        fs::write(&a, "").expect("write");
        fs::write(&b, "").expect("write");
        let mut removed = remove(&link);
        removed.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(removed, want);
    }
}
