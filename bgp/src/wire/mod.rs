//! The bytes of BGP: decoding messages from `&[u8]` into the
//! [`crate::model`] values and encoding them into a `BytesMut`, framing a
//! TCP byte stream, the RFC 4271 §6 / RFC 7606 error handling, the
//! normalization of an UPDATE into RIB routes ([`routes`]) and the packing
//! of routes into UPDATEs ([`build_updates`]).
//!
//! Owns every octet of the protocol and nothing of its state: what a
//! session negotiated (4-octet AS, extended messages, ADD-PATH) comes in as
//! [`Ctx`].
//! nom is an implementation detail of this module; the API speaks in model
//! types, [`DecodeError`] (which maps one-to-one onto the NOTIFICATION to
//! send) and [`AttrIssue`] (RFC 7606 outcomes that keep the session up).
//!
//! | file               | owns                                               |
//! |--------------------|----------------------------------------------------|
//! | `header.rs`        | marker, length, type; [`frame_len`]                |
//! | `open.rs`          | OPEN, optional parameters (classic and RFC 9072)   |
//! | `capability.rs`    | capabilities inside the Capabilities parameter     |
//! | `update.rs`        | UPDATE framing: withdrawn, attributes, NLRI        |
//! | `attrs.rs`         | path attribute TLVs, values, RFC 7606 per attribute |
//! | `aspath.rs`        | AS_PATH/AS4_PATH segments, RFC 6793 mapping        |
//! | `mp.rs`            | MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760)         |
//! | `nlri.rs`          | prefix encoding, ADD-PATH Path Identifiers         |
//! | `notification.rs`  | NOTIFICATION                                       |
//! | `route_refresh.rs` | ROUTE-REFRESH (RFC 2918, RFC 7313)                 |
//! | `routes.rs`        | UPDATE → [`Routes`] for the RIB                    |
//! | `build.rs`         | routes → UPDATEs for a peer                        |
//! | `error.rs`         | [`DecodeError`], [`AttrIssue`], [`EncodeError`]    |
//! | `parse.rs`         | the nom primitives                                 |
//!
//! Decoding never panics, whatever the input; a decoded message re-encodes
//! byte-exact where the sender's encoding is canonical (see `open.rs` for
//! the optional parameter layouts that are not, and note that trailing
//! host bits of prefixes are cleared).

mod aspath;
mod attrs;
mod build;
mod build_paths;
mod capability;
mod error;
mod header;
mod mp;
mod nlri;
mod notification;
mod open;
mod parse;
mod route_refresh;
mod routes;
mod update;

use bytes::BytesMut;

use crate::model::{AddPath, Message};

pub use build::{build_updates, build_updates_counted, build_withdrawals, end_of_rib};
pub use build_paths::{PathNlri, build_path_updates_counted, build_path_withdrawals};
pub use error::{Action, AttrIssue, BGP_VERSION, DecodeError, EncodeError};
pub use header::{HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, frame_len};
pub use routes::{Routes, routes};

use header::msg_type;

/// The session facts that decoding and encoding depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ctx {
    /// Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH and
    /// AGGREGATOR carry 4-octet AS numbers.
    pub four_octet_as: bool,
    /// The largest message: [`MAX_MESSAGE_LEN`] (4096), or up to
    /// [`MAX_EXTENDED_MESSAGE_LEN`] (65535) with RFC 8654 extended
    /// messages. Values outside 4096..=65535 are clamped into it; OPEN and
    /// KEEPALIVE are always limited to 4096.
    pub max_message_len: usize,
    /// ADD-PATH (RFC 7911) per family and direction: decoding reads Path
    /// Identifiers for the families in `add_path.receive`, encoding writes
    /// them (and wants one per prefix) for those in `add_path.send`.
    pub add_path: AddPath,
}

impl Default for Ctx {
    fn default() -> Ctx {
        Ctx {
            four_octet_as: true,
            max_message_len: MAX_MESSAGE_LEN,
            add_path: AddPath::default(),
        }
    }
}

impl Ctx {
    /// The effective message length limit.
    pub(crate) fn limit(&self) -> usize {
        self.max_message_len
            .clamp(MAX_MESSAGE_LEN, MAX_EXTENDED_MESSAGE_LEN)
    }
}

/// Decodes one complete message, header included (`msg` is exactly the
/// [`frame_len`] bytes). Returns the message and, for an UPDATE, the RFC
/// 7606 issues that did not reset the session (empty otherwise); an `Err`
/// is a session reset, with the NOTIFICATION in
/// [`DecodeError::notification`]. Never panics.
pub fn decode(msg: &[u8], ctx: &Ctx) -> Result<(Message, Vec<AttrIssue>), DecodeError> {
    let Some(h) = header::check(msg, ctx)? else {
        return Err(DecodeError::BadMessageLength {
            length: msg.len() as u16, // < 19
            what: "a message shorter than its header",
        });
    };
    if h.len != msg.len() {
        return Err(DecodeError::BadMessageLength {
            length: h.len as u16, // checked <= 65535 by header::check
            what: "a buffer of another length",
        });
    }
    let body = msg.get(HEADER_LEN..).unwrap_or_default();
    let none = Vec::new();
    Ok(match h.msg_type {
        msg_type::OPEN => (Message::Open(open::decode(body)?), none),
        msg_type::UPDATE => {
            let (u, issues) = update::decode(body, ctx)?;
            (Message::Update(u), issues)
        }
        msg_type::NOTIFICATION => (Message::Notification(notification::decode(body)?), none),
        msg_type::KEEPALIVE => (Message::Keepalive, none),
        _ => {
            let (family, subtype) = route_refresh::decode(body, msg)?;
            (Message::RouteRefresh { family, subtype }, none)
        }
    })
}

impl Message {
    /// Writes this message (header included) into `out`. Fails, leaving
    /// `out` unchanged, if it would exceed `ctx.max_message_len` (4096 for
    /// OPEN and KEEPALIVE) or a field cannot hold its value.
    pub fn encode(&self, ctx: &Ctx, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Message::Open(o) => o.encode(out),
            Message::Update(u) => u.encode(ctx, out),
            Message::Notification(n) => n.encode(ctx, out),
            Message::Keepalive => {
                let start = header::begin(out, msg_type::KEEPALIVE);
                header::finish(out, start, HEADER_LEN, msg_type::KEEPALIVE)
            }
            Message::RouteRefresh { family, subtype } => {
                let start = header::begin(out, msg_type::ROUTE_REFRESH);
                route_refresh::encode_body(*family, *subtype, out);
                header::finish(out, start, HEADER_LEN + 4, msg_type::ROUTE_REFRESH)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddrFamily, Notification};

    fn round_trip(m: &Message) -> Vec<u8> {
        let mut out = BytesMut::new();
        m.encode(&Ctx::default(), &mut out).unwrap();
        let (back, issues) = decode(&out, &Ctx::default()).unwrap();
        assert!(issues.is_empty());
        assert_eq!(&back, m);
        out.to_vec()
    }

    #[test]
    fn keepalive_and_route_refresh_round_trip() {
        let k = round_trip(&Message::Keepalive);
        assert_eq!(k.len(), 19);
        assert_eq!(k[18], 4);
        let r = round_trip(&Message::RouteRefresh {
            family: AddrFamily::IPV4_UNICAST,
            subtype: 0,
        });
        assert_eq!(&r[16..], &[0, 23, 5, 0, 1, 0, 1]);
        round_trip(&Message::Notification(Notification::new(6, 4)));
    }

    #[test]
    fn decode_wants_exactly_one_message() {
        let mut out = BytesMut::new();
        Message::Keepalive
            .encode(&Ctx::default(), &mut out)
            .unwrap();
        out.extend_from_slice(&[0]);
        let e = decode(&out, &Ctx::default()).unwrap_err();
        assert_eq!(e.notification().data, vec![0, 19]);
        assert!(decode(&out[..10], &Ctx::default()).is_err());
    }

    #[test]
    fn ctx_limit_is_clamped() {
        let c = Ctx {
            max_message_len: 10,
            ..Ctx::default()
        };
        assert_eq!(c.limit(), 4096);
        let c = Ctx {
            max_message_len: 1 << 20,
            ..Ctx::default()
        };
        assert_eq!(c.limit(), 65535);
    }
}
