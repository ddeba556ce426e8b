//! `vcpectl config apply [--confirm]`, `config confirm`, `config history`
//! and `config rollback`: a new file text written over the running config
//! file atomically and applied as a reload, every applied version kept in
//! the [`History`], and a commit that is not confirmed in time reverted.
//!
//! The order of writes makes every crash recoverable: the pending confirm
//! (with the previous text) is on disk before the config file changes, the
//! file is replaced by one rename, and the history entry comes last. The
//! running file therefore always parses (it is only ever a validated text,
//! renamed into place). A vcped that starts and finds a pending confirm
//! ([`recover`]) writes the previous text back before it loads the file:
//! an unconfirmed config never survives a restart, as it would not have
//! survived the timer.
//!
//! The timer lives in vcped ([`watch`]), not in the client: a `vcpectl`
//! that disconnects (the operator's SSH session died: the reason to use
//! `--confirm` at all) does not stop the revert.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use vcpe_api::{Applied, ConfigChanges, Handler, PendingConfirm, Reply, Request};
use vcpe_config::edit::write_atomic;

use super::dispatch::Api;
use super::history::{History, Pending, now_unix};

/// The commit state of a running vcped: the history and the lock that
/// takes apply, confirm, rollback and the revert one at a time.
#[derive(Debug)]
pub struct Commits {
    /// Where the versions are kept.
    pub history: History,
    /// The pending confirm, as on disk (`None`: nothing to revert).
    pending: Mutex<Option<Pending>>,
}

/// The longest confirm window accepted (a day).
const MAX_CONFIRM_SECS: u32 = 24 * 3600;

fn refused(message: String) -> Reply {
    Reply::Error { message }
}

impl Commits {
    /// The commit state for `history`, with its pending confirm (none
    /// after [`recover`]).
    pub fn new(history: History) -> Commits {
        let pending = history.pending().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "config history: unreadable pending confirm ignored");
            None
        });
        Commits {
            history,
            pending: Mutex::new(pending),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pending confirm, if any.
    pub fn pending(&self) -> Option<PendingConfirm> {
        self.lock().as_ref().map(|p| p.confirm.clone())
    }
}

/// Before the config is loaded at start: a pending confirm means vcped
/// stopped (crash, reboot, restart) before `config confirm` came, so the
/// previous text goes back over the file, then the pending is cleared.
/// Also records the file as a version when the history does not end with
/// it (the first start, or a file edited by hand).
pub fn recover(config: &Path, history: &History) -> anyhow::Result<()> {
    if let Some(p) = history.pending()? {
        tracing::warn!(
            version = p.confirm.version,
            previous = p.confirm.previous,
            file = %config.display(),
            "vcped restarted while config version {} waited for `vcpectl config confirm`; \
             going back to the version before it",
            p.confirm.version
        );
        write_atomic(config, &p.previous_text)?;
        history.record(
            &p.previous_text,
            None,
            format!(
                "revert {} (vcped restarted before confirm)",
                p.confirm.version
            ),
            format!("back to version {}", p.confirm.previous),
        )?;
        history.clear_pending()?;
    }
    // The file itself is checked by the load that follows (which says
    // what is wrong with it), and a history that cannot be written only
    // costs the history: neither stops the start here.
    let Ok(text) = vcpe_config::read_config_file(config) else {
        return Ok(());
    };
    if let Err(e) = record_start(config, history, &text) {
        tracing::warn!(
            error = %e,
            dir = %history.dir().display(),
            "config history: cannot record the file vcped starts with; `vcpectl config \
             apply` and `rollback` will fail until the directory is writable (vcped \
             --state-dir chooses it)"
        );
    }
    Ok(())
}

/// Records `text` (the file at start) unless the history ends with it.
fn record_start(config: &Path, history: &History, text: &str) -> std::io::Result<()> {
    let latest = history.latest()?;
    let same = match &latest {
        Some(h) => history.text(h.version).is_ok_and(|t| t == text),
        None => false,
    };
    if !same {
        history.record(
            text,
            None,
            "start".into(),
            if latest.is_some() {
                "the file vcped started with (changed since the last version)".into()
            } else {
                "the file vcped started with".into()
            },
        )?;
        tracing::info!(file = %config.display(), dir = %history.dir().display(), "config history: recorded the file vcped starts with");
    }
    Ok(())
}

/// One line of what a version changed.
pub fn summary(c: &ConfigChanges) -> String {
    if c.is_empty() {
        return "no change to what runs".into();
    }
    let mut parts = Vec::new();
    let mut count = |n: usize, what: &str| {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    };
    count(c.routes_added.len(), "route(s) added");
    count(c.routes_removed.len(), "route(s) removed");
    count(c.routes_changed.len(), "route(s) changed");
    count(c.neighbors_added.len(), "neighbor(s) added");
    count(c.neighbors_removed.len(), "neighbor(s) removed");
    count(c.neighbors_changed.len(), "neighbor(s) changed");
    count(c.peers_added.len(), "peer(s) added");
    count(c.peers_removed.len(), "peer(s) removed");
    count(
        c.peers_changed.len() + c.peers_replaced.len(),
        "peer(s) changed",
    );
    count(c.interfaces_added.len(), "interface(s) added");
    count(c.interfaces_removed.len(), "interface(s) removed");
    count(c.interfaces_changed.len(), "interface(s) changed");
    if parts.is_empty() {
        "other changes".into()
    } else {
        parts.join(", ")
    }
}

impl Api {
    /// `config apply` and `config rollback`: `text` over the file, then a
    /// reload; the old text back when the reload refuses.
    /// `origin` names the text in errors (the operator's file),
    /// `source` says in the history how it came.
    pub fn commit(
        &self,
        text: &str,
        origin: &str,
        source: String,
        confirm_secs: Option<u32>,
        uid: Option<u32>,
    ) -> Reply {
        if let Some(s) = confirm_secs
            && !(1..=MAX_CONFIRM_SECS).contains(&s)
        {
            return refused(format!(
                "a confirm window of {s} s: give 1 s to a day (--confirm takes minutes, \
                 fractions allowed: 0.5 is 30 s)"
            ));
        }
        let path = &self.config_path;
        if let Err(mut d) = vcpe_config::parse(text, path) {
            // Named as the operator knows it; relative key files resolve
            // against the running file's directory, where it will live.
            d.file = origin.into();
            for e in &mut d.errors {
                e.file = origin.into();
            }
            return refused(format!(
                "{}\nnothing was applied; fix the errors above and apply again \
                 (`vcped check-config FILE` checks a file)",
                d.to_string().trim_end()
            ));
        }
        let commits = &self.commits;
        let mut pending = commits.lock();
        // Refuses a FIFO at once and gives up on a hung file in seconds,
        // so the commit lock is never held for long.
        let current = match crate::config_file::read(path) {
            Ok(t) => t,
            Err(e) => {
                return refused(format!("{e}; nothing was applied"));
            }
        };
        let history = &commits.history;
        let version = match history.next_version() {
            Ok(v) => v,
            Err(e) => return history_error(history, &e),
        };
        // While a confirm is pending, what to go back to stays the last
        // confirmed text: an unconfirmed chain reverts as a whole.
        let (previous, previous_text) = match pending.as_ref() {
            Some(p) => (p.confirm.previous, p.previous_text.clone()),
            None => (version.saturating_sub(1), current.clone()),
        };
        let next = confirm_secs.map(|s| Pending {
            confirm: PendingConfirm {
                version,
                previous,
                deadline_unix: now_unix() + u64::from(s),
            },
            previous_text: previous_text.clone(),
        });
        // 1. The way back is on disk before the file changes.
        let written = match &next {
            Some(p) => history.set_pending(p),
            None => Ok(()),
        };
        if let Err(e) = written {
            return history_error(history, &e);
        }
        // 2. The file, in one rename.
        if let Err(e) = write_atomic(path, text) {
            let _ = restore_pending(history, pending.as_ref());
            return refused(format!("{e}; nothing was applied"));
        }
        // 3. The reload, as `vcpectl reload` does it.
        let changes = match self.handle(Request::Reload) {
            Reply::ConfigChanges { changes, .. } => *changes,
            Reply::Error { message } => {
                let back = write_atomic(path, &current);
                let _ = restore_pending(history, pending.as_ref());
                return refused(match back {
                    Ok(()) => {
                        format!("{message}\nthe file was put back as it was; nothing was applied")
                    }
                    Err(e) => format!(
                        "{message}\nputting the file back failed too ({e}): {} now holds the \
                         refused text; apply a good file or `vcpectl config rollback` to a \
                         version",
                        path.display()
                    ),
                });
            }
            other => return refused(format!("unexpected reload answer {other:?}")),
        };
        // 4. The history entry.
        if let Err(e) = history.record(text, uid, source, summary(&changes)) {
            tracing::error!(error = %e, dir = %history.dir().display(), "config applied but not recorded in the history");
        }
        if next.is_none()
            && pending.is_some()
            && let Err(e) = history.clear_pending()
        {
            tracing::error!(error = %e, "cannot remove the pending confirm");
        }
        *pending = next;
        let confirm = pending.as_ref().map(|p| p.confirm.clone());
        tracing::info!(
            version,
            file = %path.display(),
            uid,
            confirm_by = confirm.as_ref().map(|c| c.deadline_unix),
            "config version {version} applied"
        );
        Reply::ConfigApplied(Box::new(Applied {
            file: path.display().to_string(),
            version,
            changes,
            pending: confirm,
        }))
    }

    /// `config confirm`.
    pub fn confirm(&self, uid: Option<u32>) -> Reply {
        let mut pending = self.commits.lock();
        let Some(p) = pending.as_ref() else {
            return refused(
                "no commit waits for a confirm (it was confirmed, reverted, or applied \
                 without --confirm); `vcpectl config history` shows the versions"
                    .into(),
            );
        };
        let version = p.confirm.version;
        if let Err(e) = self.commits.history.clear_pending() {
            return history_error(&self.commits.history, &e);
        }
        *pending = None;
        tracing::info!(version, uid, "config version {version} confirmed");
        Reply::Done {
            message: format!("config version {version} confirmed; it stays"),
        }
    }

    /// `config history`.
    pub fn history(&self) -> Reply {
        let pending = self.commits.pending();
        match self.commits.history.entries() {
            Ok(entries) => Reply::ConfigHistory {
                file: self.config_path.display().to_string(),
                directory: self.commits.history.dir().display().to_string(),
                entries,
                pending,
            },
            Err(e) => history_error(&self.commits.history, &e),
        }
    }

    /// `config rollback N`.
    pub fn rollback(&self, version: u64, confirm_secs: Option<u32>, uid: Option<u32>) -> Reply {
        let text = match self.commits.history.text(version) {
            Ok(t) => t,
            Err(_) => {
                return refused(format!(
                    "no version {version} in the history; `vcpectl config history` lists \
                     the versions kept"
                ));
            }
        };
        let file = self
            .commits
            .history
            .dir()
            .join(format!("{version:06}.toml"));
        self.commit(
            &text,
            &file.display().to_string(),
            format!("rollback {version}"),
            confirm_secs,
            uid,
        )
    }

    /// The timer: when the pending confirm's deadline has passed, the
    /// previous text goes back over the file and is reloaded.
    pub fn revert_if_due(&self, now_unix: u64) {
        let mut pending = self.commits.lock();
        let Some(p) = pending.as_ref() else { return };
        if now_unix < p.confirm.deadline_unix {
            return;
        }
        let (version, previous) = (p.confirm.version, p.confirm.previous);
        let text = p.previous_text.clone();
        tracing::warn!(
            version,
            previous,
            "config version {version} was not confirmed in time; reverting to version {previous}"
        );
        if let Err(e) = write_atomic(&self.config_path, &text) {
            // Stays pending: tried again at the next tick.
            tracing::error!(error = %e, "revert: cannot write the config file; retrying");
            return;
        }
        let summary = match self.handle(Request::Reload) {
            Reply::ConfigChanges { changes, .. } => summary(&changes),
            Reply::Error { message } => {
                tracing::error!("revert: the reload of version {previous} was refused: {message}");
                format!("reload refused: {message}")
            }
            other => format!("unexpected reload answer {other:?}"),
        };
        let history = &self.commits.history;
        if let Err(e) = history.record(
            &text,
            None,
            format!("revert {version} (not confirmed)"),
            format!("back to version {previous}: {summary}"),
        ) {
            tracing::error!(error = %e, "revert done but not recorded in the history");
        }
        if let Err(e) = history.clear_pending() {
            tracing::error!(error = %e, "cannot remove the pending confirm");
        }
        *pending = None;
    }
}

/// Puts the pending confirm on disk back as it was before a failed
/// commit.
fn restore_pending(history: &History, before: Option<&Pending>) -> std::io::Result<()> {
    match before {
        Some(p) => history.set_pending(p),
        None => history.clear_pending(),
    }
}

fn history_error(history: &History, e: &std::io::Error) -> Reply {
    refused(format!(
        "config history in {}: {e}; nothing was applied. Check that the directory is \
         writable (vcped --state-dir chooses it)",
        history.dir().display()
    ))
}

/// Runs the confirm timer for the life of the daemon: twice a second,
/// reverts a pending commit whose time is up.
pub async fn watch(api: Arc<Api>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if api.commits.pending().is_none() {
            continue;
        }
        let a = Arc::clone(&api);
        // Off the runtime's workers: a reload takes the routing mutex.
        if let Err(e) = tokio::task::spawn_blocking(move || a.revert_if_due(now_unix())).await {
            tracing::error!(error = %e, "config confirm timer failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_with_a_pending_confirm_goes_back_to_the_previous_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("vcped.toml");
        let history = History::new(dir.path().join("vcped.history"), 10);
        std::fs::write(&config, "# v1\n").expect("write");
        recover(&config, &history).expect("first start");
        let e = history.entries().expect("entries");
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].source.as_str(), e[0].uid), ("start", None));
        // A restart on the same file records nothing new.
        recover(&config, &history).expect("second start");
        assert_eq!(history.entries().expect("entries").len(), 1);
        // An apply --confirm that was cut short by the end of vcped.
        history
            .set_pending(&Pending {
                confirm: PendingConfirm {
                    version: 2,
                    previous: 1,
                    deadline_unix: now_unix() + 600,
                },
                previous_text: "# v1\n".into(),
            })
            .expect("pending");
        std::fs::write(&config, "# v2, not confirmed\n").expect("write");
        recover(&config, &history).expect("recover");
        assert_eq!(std::fs::read_to_string(&config).expect("read"), "# v1\n");
        assert_eq!(history.pending().expect("pending"), None);
        let e = history.entries().expect("entries");
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(e[1].source, "revert 2 (vcped restarted before confirm)");
        // A file edited by hand since is recorded at the next start.
        std::fs::write(&config, "# v3 by hand\n").expect("write");
        recover(&config, &history).expect("start");
        let e = history.entries().expect("entries");
        assert_eq!(e.last().map(|h| h.source.as_str()), Some("start"));
        assert_eq!(history.text(3).expect("text"), "# v3 by hand\n");
    }

    #[test]
    fn neither_a_missing_file_nor_an_unwritable_history_stops_the_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("vcped.toml");
        // The file is missing: the load after says so, not the history.
        recover(&config, &History::new(dir.path().join("h"), 10)).expect("missing file");
        std::fs::write(&config, "# v1\n").expect("write");
        // A history "directory" under a plain file cannot be created.
        let history = History::new(config.join("history"), 10);
        recover(&config, &history).expect("unwritable history");
        assert_eq!(std::fs::read_to_string(&config).expect("read"), "# v1\n");
        // `config history` then says what is wrong.
        assert!(history.entries().is_err());
    }

    #[test]
    fn the_summary_counts_what_changed() {
        assert_eq!(summary(&ConfigChanges::default()), "no change to what runs");
        let r = vcpe_api::RouteSpec {
            name: "a".into(),
            prefix: "10.9.0.0/16".into(),
            interface: Some("vcpe0".into()),
            peer: None,
            peers: Vec::new(),
            next_hop: None,
            advertise: false,
        };
        let c = ConfigChanges {
            routes_added: vec![r.clone(), r.clone()],
            routes_removed: vec![r],
            ..ConfigChanges::default()
        };
        assert_eq!(summary(&c), "2 route(s) added, 1 route(s) removed");
    }
}
