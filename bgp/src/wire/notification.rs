//! The NOTIFICATION message body (RFC 4271 §4.5): error code, subcode and
//! data, any values accepted (RFC 4271 §6.4: a NOTIFICATION is never
//! answered with one).
//!
//! ```text
//! 0                   1                   2                   3
//! 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::{BufMut, BytesMut};

use crate::model::Notification;

use super::Ctx;
use super::error::{DecodeError, EncodeError};
use super::header::{self, msg_type};

/// Decodes a NOTIFICATION body ([`header::check`] made sure of its two
/// octets).
pub(super) fn decode(body: &[u8]) -> Result<Notification, DecodeError> {
    match body {
        [code, subcode, data @ ..] => Ok(Notification::with_data(*code, *subcode, data)),
        _ => Err(DecodeError::BadMessageLength {
            length: (header::HEADER_LEN + body.len()) as u16,
            what: "NOTIFICATION",
        }),
    }
}

/// Writes a NOTIFICATION body.
pub(super) fn encode_body(n: &Notification, out: &mut BytesMut) {
    out.reserve(2 + n.data.len());
    out.put_u8(n.code);
    out.put_u8(n.subcode);
    out.put_slice(&n.data);
}

impl Notification {
    /// Writes this NOTIFICATION as a whole message into `out`; fails (and
    /// leaves `out` unchanged) if the data makes it longer than the
    /// session allows.
    pub fn encode(&self, ctx: &Ctx, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = header::begin(out, msg_type::NOTIFICATION);
        encode_body(self, out);
        let max = header::limit_for(msg_type::NOTIFICATION, ctx);
        header::finish(out, start, max, msg_type::NOTIFICATION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cease / Administrative Shutdown with RFC 8203 message "bye".
    static CEASE: [u8; 25] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0, 25, 3, 6, 2, 3, b'b', b'y', b'e',
    ];

    #[test]
    fn cease_round_trip() {
        let n = decode(&CEASE[19..]).unwrap();
        assert_eq!(n, Notification::cease_with_message(2, "bye"));
        let mut out = BytesMut::new();
        n.encode(&Ctx::default(), &mut out).unwrap();
        assert_eq!(&out[..], &CEASE);
    }

    #[test]
    fn too_much_data_is_refused() {
        let n = Notification::with_data(3, 1, vec![0; 4096]);
        let mut out = BytesMut::new();
        assert!(n.encode(&Ctx::default(), &mut out).is_err());
        assert!(out.is_empty());
        assert!(decode(&[1]).is_err());
    }
}
