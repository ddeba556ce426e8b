//! Which failed session attempts the BGP driver logs at warning level.
//! The words (the reason, and what to check: [`DownCause::hint`]) come
//! with the typed [`DownCause`] from the speaker; this module only decides
//! whether a failed attempt is worth a warning (the first failure, or a
//! new reason), so a neighbor that stays unreachable does not fill the log
//! with one line per retry.

use std::collections::HashMap;
use std::net::IpAddr;

use vcpe_bgp::speaker::DownCause;

/// Which failed session attempts get a warning line.
#[derive(Debug, Default)]
pub(super) struct Attempts {
    /// Per neighbor, the reason last logged at warning level.
    logged: HashMap<IpAddr, DownCause>,
}

impl Attempts {
    /// An attempt to `neighbor` failed: whether to warn. The first failure
    /// and every change of reason do; a repeat of the reason last logged,
    /// and a connection closed by collision resolution (normal when both
    /// sides connect at once), do not.
    pub(super) fn failed(&mut self, neighbor: IpAddr, reason: &DownCause) -> bool {
        if reason.is_collision() {
            return false;
        }
        self.logged.insert(neighbor, reason.clone()).as_ref() != Some(reason)
    }

    /// An Established session went down with `reason` (logged): retries
    /// failing the same way are not logged again.
    pub(super) fn down(&mut self, neighbor: IpAddr, reason: DownCause) {
        self.logged.insert(neighbor, reason);
    }

    /// The session is up: its next failure is news again.
    pub(super) fn up(&mut self, neighbor: IpAddr) {
        self.logged.remove(&neighbor);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vcpe_bgp::fsm::DownReason;

    use super::*;

    const N: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 255, 0, 2));

    #[test]
    fn failed_attempts_warn_once_per_reason() {
        let mut a = Attempts::default();
        let refused = DownCause::from(DownReason::ConnectionFailed);
        assert!(a.failed(N, &refused));
        assert!(!a.failed(N, &refused));
        let timeout = DownCause::from(DownReason::ConnectTimeout {
            after: Duration::from_secs(5),
        });
        assert!(a.failed(N, &timeout));
        assert!(!a.failed(N, &DownReason::CollisionResolution.into()));
        a.up(N);
        assert!(a.failed(N, &timeout));
        a.down(N, refused.clone());
        assert!(!a.failed(N, &refused));
    }
}
