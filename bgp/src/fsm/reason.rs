//! Why a session went down or a connection attempt failed, worded for the
//! operator reading logs or `vcpectl` output.

use std::fmt;
use std::time::Duration;

use crate::model::{Notification, error_code, subcode};

use super::State;
use super::open::OpenError;

/// Why the session went down (or, for [`DownReason::ConnectionFailed`] and
/// [`DownReason::ConnectTimeout`], why it did not come up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// No message from the peer within the hold time; we sent 4/0.
    HoldTimerExpired {
        /// The hold time that ran out, in seconds.
        hold_time: u16,
        /// The state the session was in.
        state: State,
    },
    /// The socket accepted no bytes for the send hold time (RFC 9687): the
    /// peer stopped reading. We sent 8/0 (best effort) and closed.
    SendHoldTimerExpired {
        /// The send hold time that ran out.
        send_hold: Duration,
    },
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The codec could not decode a message from the peer; we sent this
    /// NOTIFICATION.
    NotificationSent(Notification),
    /// The peer's OPEN was unacceptable; we sent the matching NOTIFICATION.
    OpenRejected(OpenError),
    /// The peer sent a message the state does not allow; we sent an FSM
    /// Error (RFC 6608 subcode by state).
    UnexpectedMessage {
        /// The state.
        state: State,
        /// The message type ("OPEN", "UPDATE", ...).
        message: &'static str,
    },
    /// The peer (or the network) closed the TCP connection.
    ConnectionClosed,
    /// The outgoing TCP connection attempt failed.
    ConnectionFailed,
    /// The outgoing TCP connection attempt did not complete in time.
    ConnectTimeout {
        /// How long we waited.
        after: Duration,
    },
    /// Stopped by the operator; we sent Cease (6/2 unless told otherwise).
    AdminStop,
    /// This connection lost connection collision resolution (RFC 4271
    /// §6.8) and was closed with Cease / Connection Collision Resolution
    /// (6/7); the other connection to the peer carries on.
    CollisionResolution,
    /// The peer opened a new session while this one was still Established,
    /// with graceful restart on both: the peer restarted (RFC 4724 §4.2),
    /// the old connection is closed and the routes are kept as stale.
    PeerRestarted,
}

impl DownReason {
    /// The NOTIFICATION we sent for this reason, if any (the operator's
    /// stop notification is not known here: see the `Send` outputs).
    pub fn notification_sent(&self) -> Option<Notification> {
        match self {
            DownReason::HoldTimerExpired { .. } => {
                Some(Notification::new(error_code::HOLD_TIMER_EXPIRED, 0))
            }
            DownReason::SendHoldTimerExpired { .. } => {
                Some(Notification::new(error_code::SEND_HOLD_TIMER_EXPIRED, 0))
            }
            DownReason::NotificationSent(n) => Some(n.clone()),
            DownReason::OpenRejected(e) => Some(e.notification()),
            DownReason::UnexpectedMessage { state, .. } => Some(fsm_error(*state)),
            DownReason::CollisionResolution => Some(Notification::new(
                error_code::CEASE,
                subcode::cease::CONNECTION_COLLISION,
            )),
            DownReason::NotificationReceived(_)
            | DownReason::ConnectionClosed
            | DownReason::ConnectionFailed
            | DownReason::ConnectTimeout { .. }
            | DownReason::AdminStop
            | DownReason::PeerRestarted => None,
        }
    }

    /// Whether, per RFC 4724 §4.2, this looks like the peer restarting: the
    /// connection died under us (no NOTIFICATION exchanged), so a graceful
    /// restart helper keeps the routes as stale.
    pub fn is_graceful_restart_candidate(&self) -> bool {
        matches!(
            self,
            DownReason::HoldTimerExpired { .. }
                | DownReason::ConnectionClosed
                | DownReason::ConnectionFailed
                | DownReason::PeerRestarted
        )
    }
}

/// The FSM Error NOTIFICATION for an unexpected message in `state`
/// (RFC 6608).
pub(crate) fn fsm_error(state: State) -> Notification {
    use subcode::fsm as s;
    let sub = match state {
        State::OpenSent => s::UNEXPECTED_IN_OPENSENT,
        State::OpenConfirm => s::UNEXPECTED_IN_OPENCONFIRM,
        State::Established => s::UNEXPECTED_IN_ESTABLISHED,
        State::Idle | State::Connect | State::Active => 0,
    };
    Notification::new(error_code::FSM, sub)
}

/// The RFC 8203/9003 shutdown communication of a Cease/2 or Cease/4, if
/// any and well-formed.
fn shutdown_message(n: &Notification) -> Option<&str> {
    if n.code != error_code::CEASE
        || !matches!(
            n.subcode,
            subcode::cease::ADMIN_SHUTDOWN | subcode::cease::ADMIN_RESET
        )
    {
        return None;
    }
    let (&len, rest) = n.data.split_first()?;
    let text = rest.get(..usize::from(len))?;
    std::str::from_utf8(text).ok().filter(|s| !s.is_empty())
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownReason::HoldTimerExpired { hold_time, state } => match state {
                State::OpenSent => write!(
                    f,
                    "hold timer expired: no OPEN from the peer within {hold_time} s of sending ours"
                ),
                _ => write!(
                    f,
                    "hold timer expired: no KEEPALIVE or UPDATE from the peer for {hold_time} s"
                ),
            },
            DownReason::SendHoldTimerExpired { send_hold } => write!(
                f,
                "send hold timer expired: the peer has not read anything from the connection \
                 for {send_hold:?}"
            ),
            DownReason::NotificationReceived(n) => {
                write!(f, "the peer sent NOTIFICATION {}", n.describe())?;
                if let Some(msg) = shutdown_message(n) {
                    write!(f, ": \"{}\"", msg.escape_debug())?;
                }
                Ok(())
            }
            DownReason::NotificationSent(n) => write!(
                f,
                "the peer sent a malformed message; we sent NOTIFICATION {}",
                n.describe()
            ),
            DownReason::OpenRejected(e) => write!(
                f,
                "OPEN rejected: {e}; we sent NOTIFICATION {}",
                e.notification().describe()
            ),
            DownReason::UnexpectedMessage { state, message } => write!(
                f,
                "the peer sent {message} in state {state}, which the protocol does not allow; \
                 we sent NOTIFICATION {}",
                fsm_error(*state).describe()
            ),
            DownReason::ConnectionClosed => f.write_str("the peer closed the TCP connection"),
            DownReason::ConnectionFailed => {
                f.write_str("the TCP connection to the peer could not be opened")
            }
            DownReason::ConnectTimeout { after } => write!(
                f,
                "the TCP connection to the peer was not answered within {after:?}"
            ),
            DownReason::AdminStop => f.write_str("stopped by the operator"),
            DownReason::CollisionResolution => f.write_str(
                "connection collision: both sides connected at once, this connection was \
                 closed and the other one kept (Cease / Connection Collision Resolution, 6/7)",
            ),
            DownReason::PeerRestarted => f.write_str(
                "the peer connected again while this session was up: it restarted \
                 (graceful restart); its routes are kept as stale",
            ),
        }
    }
}
