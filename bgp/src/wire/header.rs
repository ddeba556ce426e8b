//! The 19-octet message header (RFC 4271 §4.1) and framing a TCP byte
//! stream into messages ([`frame_len`]): marker, length and type checks of
//! RFC 4271 §6.1, with the RFC 8654 extended message length.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, BytesMut};

use super::Ctx;
use super::error::{DecodeError, EncodeError};

/// Length of the message header: marker (16), length (2), type (1).
pub const HEADER_LEN: usize = 19;

/// The largest message without RFC 8654 extended messages, and always the
/// limit for OPEN and KEEPALIVE.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// The largest message with RFC 8654 extended messages.
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// Message type codes (RFC 4271 §4.1, RFC 2918).
pub(super) mod msg_type {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH.
    pub const ROUTE_REFRESH: u8 = 5;
}

/// Minimum whole-message lengths per type (RFC 4271 §4.2-4.5, RFC 2918 §3).
const MIN_OPEN: usize = 29;
const MIN_UPDATE: usize = 23;
const MIN_NOTIFICATION: usize = 21;
const MIN_ROUTE_REFRESH: usize = 23;

/// The checked header of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    /// Whole message length, header included.
    pub len: usize,
    /// Type code (known).
    pub msg_type: u8,
}

/// Splits a TCP byte stream: `Ok(None)` while fewer than [`HEADER_LEN`]
/// bytes are buffered, else the length of the whole message at the start of
/// `buf` (the caller waits until that many bytes are there), after checking
/// the marker, the length field (19 to the session maximum, and the
/// per-type minimums of RFC 4271 §6.1) and the type.
pub fn frame_len(buf: &[u8], ctx: &Ctx) -> Result<Option<usize>, DecodeError> {
    Ok(check(buf, ctx)?.map(|h| h.len))
}

/// Checks the header at the start of `buf` (RFC 4271 §6.1).
pub(super) fn check(buf: &[u8], ctx: &Ctx) -> Result<Option<Header>, DecodeError> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    // RFC 4271 §6.1: "The expected value of the Marker field of the message
    // header is all ones. If the Marker field of the message header is not
    // as expected, then a synchronization error has occurred and the Error
    // Subcode MUST be set to Connection Not Synchronized."
    if head[..16].iter().any(|&b| b != 0xff) {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let length = u16::from_be_bytes([head[16], head[17]]);
    let msg_type = head[18];
    let len = usize::from(length);
    let bad = |what| Err(DecodeError::BadMessageLength { length, what });
    // RFC 4271 §6.1: "if the Length field of the message header is less
    // than 19 or greater than 4096, [...] then the Error Subcode MUST be set
    // to Bad Message Length. The Data field MUST contain the erroneous
    // Length field." RFC 8654 raises 4096 to 65535 once negotiated.
    if len < HEADER_LEN || len > ctx.limit() {
        return bad("the session (19 to the maximum message length)");
    }
    // RFC 4271 §6.1: "If the Type field of the message header is not
    // recognized, then the Error Subcode MUST be set to Bad Message Type.
    // The Data field MUST contain the erroneous Type field."
    let ok = match msg_type {
        // "if the Length field of an OPEN message is less than the minimum
        // length of the OPEN message"; RFC 8654 §4: "The BGP Extended
        // Message Capability applies to all messages except for OPEN and
        // KEEPALIVE messages."
        msg_type::OPEN => (MIN_OPEN..=MAX_MESSAGE_LEN).contains(&len),
        // "if the Length field of an UPDATE message is less than the
        // minimum length of the UPDATE message"
        msg_type::UPDATE => len >= MIN_UPDATE,
        // "if the Length field of a NOTIFICATION message is less than the
        // minimum length of the NOTIFICATION message"
        msg_type::NOTIFICATION => len >= MIN_NOTIFICATION,
        // "if the Length field of a KEEPALIVE message is not equal to 19"
        msg_type::KEEPALIVE => len == HEADER_LEN,
        // RFC 2918 §3: AFI, Reserved, SAFI follow the header.
        msg_type::ROUTE_REFRESH => len >= MIN_ROUTE_REFRESH,
        _ => return Err(DecodeError::BadMessageType { msg_type }),
    };
    if !ok {
        return bad(type_name(msg_type));
    }
    Ok(Some(Header { len, msg_type }))
}

/// The message name for a (known) type code.
pub(super) fn type_name(msg_type: u8) -> &'static str {
    match msg_type {
        msg_type::OPEN => "OPEN",
        msg_type::UPDATE => "UPDATE",
        msg_type::NOTIFICATION => "NOTIFICATION",
        msg_type::KEEPALIVE => "KEEPALIVE",
        msg_type::ROUTE_REFRESH => "ROUTE-REFRESH",
        _ => "unknown",
    }
}

/// Writes a header with a zero length; returns where the message starts,
/// for [`finish`].
pub(super) fn begin(out: &mut BytesMut, msg_type: u8) -> usize {
    let start = out.len();
    out.reserve(HEADER_LEN);
    out.put_bytes(0xff, 16);
    out.put_u16(0);
    out.put_u8(msg_type);
    start
}

/// Patches the length of the message begun at `start`, or removes it from
/// `out` and fails if it is longer than `max`.
pub(super) fn finish(
    out: &mut BytesMut,
    start: usize,
    max: usize,
    msg_type: u8,
) -> Result<(), EncodeError> {
    let len = out.len() - start;
    match u16::try_from(len) {
        Ok(l) if len <= max => {
            out[start + 16..start + 18].copy_from_slice(&l.to_be_bytes());
            Ok(())
        }
        _ => {
            out.truncate(start);
            Err(EncodeError::MessageTooLong {
                message: type_name(msg_type),
                len,
                max,
            })
        }
    }
}

/// The limit for one message type under `ctx`.
pub(super) fn limit_for(msg_type: u8, ctx: &Ctx) -> usize {
    match msg_type {
        msg_type::OPEN | msg_type::KEEPALIVE => MAX_MESSAGE_LEN,
        _ => ctx.limit(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A KEEPALIVE as BIRD sent it (golden file 10.99.0.1-to-10.99.0.2-01).
    static KEEPALIVE: [u8; 19] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x13, 0x04,
    ];

    fn with(len: u16, t: u8) -> Vec<u8> {
        let mut v = KEEPALIVE.to_vec();
        v[16..18].copy_from_slice(&len.to_be_bytes());
        v[18] = t;
        v
    }

    #[test]
    fn short_buffer_waits() {
        assert_eq!(frame_len(&KEEPALIVE[..18], &Ctx::default()), Ok(None));
        assert_eq!(frame_len(&[], &Ctx::default()), Ok(None));
    }

    #[test]
    fn keepalive_frames_and_header_round_trips() {
        assert_eq!(frame_len(&KEEPALIVE, &Ctx::default()), Ok(Some(19)));
        let mut out = BytesMut::new();
        let start = begin(&mut out, msg_type::KEEPALIVE);
        finish(&mut out, start, 4096, msg_type::KEEPALIVE).unwrap();
        assert_eq!(&out[..], &KEEPALIVE[..]);
    }

    #[test]
    fn bad_marker_is_1_1() {
        let mut m = KEEPALIVE;
        m[3] = 0xfe;
        let e = frame_len(&m, &Ctx::default()).unwrap_err();
        assert_eq!(e, DecodeError::ConnectionNotSynchronized);
        let n = e.notification();
        assert_eq!((n.code, n.subcode, n.data), (1, 1, vec![]));
    }

    #[test]
    fn bad_lengths_are_1_2_with_the_length() {
        let ctx = Ctx::default();
        for (len, t) in [
            (18u16, 4u8),
            (4097, 2),
            (20, 4),
            (28, 1),
            (22, 2),
            (20, 3),
            (22, 5),
        ] {
            let e = frame_len(&with(len, t), &ctx).unwrap_err();
            let n = e.notification();
            assert_eq!((n.code, n.subcode), (1, 2), "len {len} type {t}");
            assert_eq!(n.data, len.to_be_bytes().to_vec());
        }
    }

    #[test]
    fn extended_messages_allow_65535_but_not_for_open() {
        let ctx = Ctx {
            max_message_len: MAX_EXTENDED_MESSAGE_LEN,
            ..Ctx::default()
        };
        assert_eq!(frame_len(&with(65535, 2), &ctx), Ok(Some(65535)));
        let e = frame_len(&with(5000, 1), &ctx).unwrap_err();
        assert_eq!(e.notification().subcode, 2);
    }

    #[test]
    fn unknown_type_is_1_3_with_the_type() {
        let n = frame_len(&with(19, 6), &Ctx::default())
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode, n.data), (1, 3, vec![6]));
    }

    #[test]
    fn too_long_message_is_removed_from_the_buffer() {
        let mut out = BytesMut::from(&b"x"[..]);
        let start = begin(&mut out, msg_type::UPDATE);
        out.put_bytes(0, 5000);
        let e = finish(&mut out, start, 4096, msg_type::UPDATE).unwrap_err();
        assert!(matches!(e, EncodeError::MessageTooLong { len: 5019, .. }));
        assert_eq!(&out[..], b"x");
    }
}
