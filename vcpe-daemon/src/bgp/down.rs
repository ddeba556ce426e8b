//! What the BGP driver logs when a session goes down or cannot come up:
//! one line naming the neighbor, why, and what to check. Sans-IO: this
//! module only picks the words and whether a failed attempt is worth a
//! warning (the first failure, or a new reason), so a neighbor that stays
//! unreachable does not fill the log with one line per retry.

use std::collections::HashMap;
use std::net::IpAddr;

/// The reason to log for a session that went down: the speaker's
/// `last_error` when the session was stopped on purpose and that says more
/// (a max-prefix teardown reaches the FSM as an administrative stop, but
/// `last_error` says which limit and what to do).
pub(super) fn reason<'a>(fsm_reason: &'a str, last_error: Option<&'a str>) -> &'a str {
    match last_error {
        Some(e) if fsm_reason == STOPPED && e.contains("max_prefixes") => e,
        _ => fsm_reason,
    }
}

/// How `vcpe_bgp::fsm::DownReason::AdminStop` reads.
const STOPPED: &str = "stopped by the operator";

/// What to check for a session that went down (or did not come up) with
/// `reason` (the text of `vcpe_bgp::fsm::DownReason`, or a max-prefix
/// `last_error`).
pub(super) fn check(reason: &str, neighbor: IpAddr) -> String {
    let starts = |p: &str| reason.starts_with(p);
    if starts("hold timer expired") {
        format!(
            "the neighbor stopped answering: check that it runs and that {neighbor} is reachable \
             (ping it; for a session over a tunnel, that tunnel's counters and last rx in \
             `vcpectl stats`)"
        )
    } else if starts("send hold timer expired") {
        "the neighbor stopped reading from the connection: check its load and its log".to_owned()
    } else if starts("the peer sent NOTIFICATION") {
        "the neighbor closed the session: its log says why".to_owned()
    } else if starts("OPEN rejected") {
        "compare remote_as, the router ids, hold_time and the address families with the \
         neighbor's config"
            .to_owned()
    } else if starts("the peer sent") {
        "the neighbor sent a message vcped does not accept: check its version and log, or \
         capture the session with `tcpdump -w bgp.pcap port 179`"
            .to_owned()
    } else if starts("the peer closed the TCP connection") {
        "the neighbor restarted or dropped the connection: check its log".to_owned()
    } else if starts("the TCP connection to the peer") {
        format!(
            "check that the neighbor runs and listens on port 179, that {neighbor} is reachable \
             (ping it, firewalls) and, with TCP-MD5, that both sides use the same password"
        )
    } else if starts(STOPPED) {
        format!("`vcpectl bgp enable {neighbor}` starts it again")
    } else if reason.contains("max_prefixes") {
        format!(
            "the neighbor sent more prefixes than max_prefixes; `vcpectl bgp enable {neighbor}` after fixing it"
        )
    } else if starts("the peer connected again") {
        "nothing: the neighbor restarted and its session comes back (graceful restart)".to_owned()
    } else {
        "see `vcpectl bgp summary` and the neighbor's log".to_owned()
    }
}

/// Which failed session attempts get a warning line.
#[derive(Debug, Default)]
pub(super) struct Attempts {
    /// Per neighbor, the reason last logged at warning level.
    logged: HashMap<IpAddr, String>,
}

impl Attempts {
    /// An attempt to `neighbor` failed: whether to warn. The first failure
    /// and every change of reason do; a repeat of the reason last logged,
    /// and a connection closed by collision resolution (normal when both
    /// sides connect at once), do not.
    pub(super) fn failed(&mut self, neighbor: IpAddr, reason: &str) -> bool {
        if reason.to_ascii_lowercase().contains("collision") {
            return false;
        }
        self.logged.insert(neighbor, reason.to_owned()).as_deref() != Some(reason)
    }

    /// An Established session went down with `reason` (logged): retries
    /// failing the same way are not logged again.
    pub(super) fn down(&mut self, neighbor: IpAddr, reason: &str) {
        self.logged.insert(neighbor, reason.to_owned());
    }

    /// The session is up: its next failure is news again.
    pub(super) fn up(&mut self, neighbor: IpAddr) {
        self.logged.remove(&neighbor);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vcpe_bgp::fsm::{DownReason, State};

    use super::*;

    const N: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 255, 0, 2));

    #[test]
    fn every_down_reason_gets_a_specific_check() {
        let generic = check("something new", N);
        for r in [
            DownReason::HoldTimerExpired {
                hold_time: 9,
                state: State::Established,
            },
            DownReason::SendHoldTimerExpired {
                send_hold: Duration::from_secs(18),
            },
            DownReason::ConnectionClosed,
            DownReason::ConnectionFailed,
            DownReason::ConnectTimeout {
                after: Duration::from_secs(5),
            },
            DownReason::AdminStop,
            DownReason::PeerRestarted,
            DownReason::UnexpectedMessage {
                state: State::OpenConfirm,
                message: "UPDATE",
            },
        ] {
            let text = r.to_string();
            assert_ne!(check(&text, N), generic, "{text}: no specific check");
        }
        assert!(check("hold timer expired: no KEEPALIVE", N).contains("10.255.0.2 is reachable"));
        assert!(check(STOPPED, N).contains("vcpectl bgp enable 10.255.0.2"));
    }

    #[test]
    fn a_max_prefix_teardown_is_logged_as_such_not_as_an_operator_stop() {
        let stop = DownReason::AdminStop.to_string();
        let why = "peer PeerId(0) sent 11 prefixes, more than its limit of 10; fix the neighbor \
                   or raise max_prefixes, then `vcpectl bgp enable 10.255.0.2`";
        assert_eq!(reason(&stop, Some(why)), why);
        assert!(check(why, N).contains("max_prefixes"));
        // An operator's stop stays one, whatever went wrong before.
        assert_eq!(reason(&stop, Some("hold timer expired: ...")), stop);
        assert_eq!(
            reason("the peer closed the TCP connection", Some(why)),
            "the peer closed the TCP connection"
        );
    }

    #[test]
    fn failed_attempts_warn_once_per_reason() {
        let mut a = Attempts::default();
        let refused = DownReason::ConnectionFailed.to_string();
        assert!(a.failed(N, &refused));
        assert!(!a.failed(N, &refused));
        let timeout = DownReason::ConnectTimeout {
            after: Duration::from_secs(5),
        }
        .to_string();
        assert!(a.failed(N, &timeout));
        assert!(!a.failed(N, &DownReason::CollisionResolution.to_string()));
        a.up(N);
        assert!(a.failed(N, &timeout));
        a.down(N, &refused);
        assert!(!a.failed(N, &refused));
    }
}
