//! Commit-confirm and rollback as the control API names them: what
//! `vcpectl config apply`, `config history` and `config rollback` get back.

use serde::{Deserialize, Serialize};

use crate::changes::ConfigChanges;

/// One applied version of the config file, as kept in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Its number, counting up from 1 (never reused).
    pub version: u64,
    /// When it was applied (seconds since the Unix epoch).
    pub applied_unix: u64,
    /// Who applied it: the uid of the `vcpectl` on the control socket
    /// (`SO_PEERCRED`), `None` for the daemon itself (start, revert).
    pub uid: Option<u32>,
    /// That uid's user name, when it has one.
    #[serde(default)]
    pub user: Option<String>,
    /// How it came: "start", "apply FILE", "rollback N", "revert N
    /// (not confirmed)", ...
    pub source: String,
    /// What it changed from the version before, in one line.
    pub summary: String,
}

/// The pending confirm of a `config apply --confirm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingConfirm {
    /// The version that waits for `vcpectl config confirm`.
    pub version: u64,
    /// The version it reverts to otherwise.
    pub previous: u64,
    /// When it reverts (seconds since the Unix epoch).
    pub deadline_unix: u64,
}

/// Answer to `config apply` and `config rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The config file written.
    pub file: String,
    /// The new version in the history.
    pub version: u64,
    /// What it changed in the running config.
    pub changes: ConfigChanges,
    /// Set when it reverts unless confirmed.
    pub pending: Option<PendingConfirm>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_round_trips() {
        let a = Applied {
            file: "/etc/vcpe/vcped.toml".into(),
            version: 7,
            changes: ConfigChanges::default(),
            pending: Some(PendingConfirm {
                version: 7,
                previous: 6,
                deadline_unix: 1_800_000_000,
            }),
        };
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Applied>(&text).unwrap(), a);
        let h = HistoryEntry {
            version: 1,
            applied_unix: 2,
            uid: Some(0),
            user: Some("root".into()),
            source: "start".into(),
            summary: "initial".into(),
        };
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<HistoryEntry>(&text).unwrap(), h);
    }
}
