//! Why a neighbor's session went down, as the speaker reports it: the
//! session's own [`DownReason`], or a teardown the speaker decided on
//! (max-prefix, BFD down). A value until the edge that shows it: `Display` is the
//! reason an operator reads, [`DownCause::hint`] what to check next.

use std::fmt;
use std::net::IpAddr;

use crate::fsm::DownReason;
use crate::model::{error_code, subcode};
use crate::rib::MaxPrefixExceeded;

/// Why a session went down, or an attempt to bring it up failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownCause {
    /// The session state machine's reason.
    Session(DownReason),
    /// The neighbor sent more prefixes than `max_prefixes`: we sent Cease /
    /// Maximum Number of Prefixes Reached and keep the session down until
    /// it is enabled again.
    MaxPrefixes {
        /// The limit, the count and the family that went over it.
        exceeded: MaxPrefixExceeded,
        /// The neighbor.
        neighbor: IpAddr,
    },
    /// The BFD session to the neighbor went down (RFC 5882): we sent
    /// Cease / BFD Down (RFC 9384) and keep the session down until BFD is
    /// Up again.
    BfdDown {
        /// Why BFD went down, as the BFD session said it.
        detail: String,
    },
}

impl DownCause {
    /// What the operator should check, for the log line next to the
    /// reason.
    pub fn hint(&self, neighbor: IpAddr) -> String {
        let reason = match self {
            DownCause::Session(r) => r,
            DownCause::MaxPrefixes { .. } => {
                return format!(
                    "the neighbor sent more prefixes than max_prefixes; `vcpectl bgp enable \
                     {neighbor}` after fixing it"
                );
            }
            DownCause::BfdDown { .. } => {
                return format!(
                    "the path to {neighbor} or the neighbor itself failed: see `vcpectl bfd`; the \
                     session comes back when BFD is Up again"
                );
            }
        };
        match reason {
            DownReason::HoldTimerExpired { .. } => format!(
                "the neighbor stopped answering: check that it runs and that {neighbor} is \
                 reachable (ping it; for a session over a tunnel, that tunnel's counters and last \
                 rx in `vcpectl stats`)"
            ),
            DownReason::SendHoldTimerExpired { .. } => {
                "the neighbor stopped reading from the connection: check its load and its log"
                    .to_owned()
            }
            DownReason::NotificationReceived(_) => {
                "the neighbor closed the session: its log says why".to_owned()
            }
            DownReason::OpenRejected(_) => {
                "compare remote_as, the router ids, hold_time and the address families with the \
                 neighbor's config"
                    .to_owned()
            }
            DownReason::NotificationSent(_) | DownReason::UnexpectedMessage { .. } => {
                "the neighbor sent a message vcped does not accept: check its version and log, \
                 or capture the session with `tcpdump -w bgp.pcap port 179`"
                    .to_owned()
            }
            DownReason::ConnectionClosed => {
                "the neighbor restarted or dropped the connection: check its log".to_owned()
            }
            DownReason::ConnectionFailed | DownReason::ConnectTimeout { .. } => format!(
                "check that the neighbor runs and listens on port 179, that {neighbor} is \
                 reachable (ping it, firewalls) and, with TCP-MD5, that both sides use the same \
                 password"
            ),
            DownReason::AdminStop => format!("`vcpectl bgp enable {neighbor}` starts it again"),
            DownReason::PeerRestarted => {
                "nothing: the neighbor restarted and its session comes back (graceful restart)"
                    .to_owned()
            }
            DownReason::CollisionResolution => {
                "see `vcpectl bgp summary` and the neighbor's log".to_owned()
            }
        }
    }

    /// A connection closed by collision resolution (RFC 4271 §6.8), ours or
    /// the peer's (Cease / Connection Collision Resolution): normal when
    /// both sides connect at once, not worth a warning.
    pub fn is_collision(&self) -> bool {
        match self {
            DownCause::Session(DownReason::CollisionResolution) => true,
            DownCause::Session(DownReason::NotificationReceived(n)) => {
                n.code == error_code::CEASE && n.subcode == subcode::cease::CONNECTION_COLLISION
            }
            _ => false,
        }
    }
}

impl From<DownReason> for DownCause {
    fn from(r: DownReason) -> DownCause {
        DownCause::Session(r)
    }
}

impl fmt::Display for DownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownCause::Session(r) => r.fmt(f),
            DownCause::MaxPrefixes { exceeded, neighbor } => write!(
                f,
                "{exceeded}; fix the neighbor or raise max_prefixes, then `vcpectl bgp enable \
                 {neighbor}`"
            ),
            DownCause::BfdDown { detail } => write!(
                f,
                "BFD session down ({detail}); we sent NOTIFICATION Cease / BFD Down (6/10)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::fsm::State;
    use crate::model::{AddrFamily, Notification};
    use crate::rib::PeerId;

    const N: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 255, 0, 2));

    fn max_prefixes() -> DownCause {
        DownCause::MaxPrefixes {
            exceeded: MaxPrefixExceeded {
                peer: PeerId(0),
                limit: 10,
                accepted: 11,
                family: AddrFamily::IPV4_UNICAST,
            },
            neighbor: N,
        }
    }

    #[test]
    fn every_down_reason_gets_a_specific_hint() {
        let generic = DownCause::Session(DownReason::CollisionResolution).hint(N);
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
            assert_ne!(
                DownCause::from(r).hint(N),
                generic,
                "{text}: no specific hint"
            );
        }
        let hold = DownCause::from(DownReason::HoldTimerExpired {
            hold_time: 9,
            state: State::Established,
        });
        assert!(hold.hint(N).contains("10.255.0.2 is reachable"));
        assert!(
            DownCause::from(DownReason::AdminStop)
                .hint(N)
                .contains("vcpectl bgp enable 10.255.0.2")
        );
    }

    #[test]
    fn a_max_prefix_teardown_says_which_limit_and_what_to_do() {
        let c = max_prefixes();
        assert_eq!(
            c.to_string(),
            "peer PeerId(0) sent 11 prefixes, more than its limit of 10; fix the neighbor or \
             raise max_prefixes, then `vcpectl bgp enable 10.255.0.2`"
        );
        assert!(c.hint(N).contains("max_prefixes"));
        assert_ne!(c.hint(N), DownCause::from(DownReason::AdminStop).hint(N));
    }

    #[test]
    fn collisions_either_way_are_recognised() {
        assert!(DownCause::from(DownReason::CollisionResolution).is_collision());
        let theirs = Notification::new(error_code::CEASE, subcode::cease::CONNECTION_COLLISION);
        assert!(DownCause::from(DownReason::NotificationReceived(theirs)).is_collision());
        let admin = Notification::new(error_code::CEASE, subcode::cease::ADMIN_SHUTDOWN);
        assert!(!DownCause::from(DownReason::NotificationReceived(admin)).is_collision());
        assert!(!max_prefixes().is_collision());
    }
}
