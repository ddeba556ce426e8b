//! The other side of the protocol: whatever answers requests.

use crate::reply::Reply;
use crate::request::Request;

/// Answers control requests, one at a time, each with one reply.
///
/// The daemon implements it once (its one dispatcher of every
/// [`Request`]); the socket server and in-process readers such as the
/// metrics endpoint call it, so they all get the same answers.
pub trait Handler {
    /// The reply to `request`. Never fails: refusals are
    /// [`Reply::Error`]s that say what to do.
    fn handle(&self, request: Request) -> Reply;

    /// The reply to `request` from the client with uid `peer_uid` (from
    /// `SO_PEERCRED` on the control socket; `None` when unknown). Only
    /// what records who did something needs it; the default forgets it.
    fn handle_from(&self, request: Request, peer_uid: Option<u32>) -> Reply {
        let _ = peer_uid;
        self.handle(request)
    }
}
