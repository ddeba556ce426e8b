//! The ROUTE-REFRESH message body (RFC 2918 §3, with the RFC 7313 §3
//! Message Subtype in the former Reserved octet). Unknown subtypes decode
//! (RFC 7313 §5: the receiver "MUST ignore" them; the FSM does).
//!
//! ```text
//! 0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtype | SAFI |
//! +-------+-------+-------+-------+
//! ```

use bytes::{BufMut, BytesMut};

use crate::model::{AddrFamily, Afi, Safi};

use super::error::DecodeError;

/// Decodes a ROUTE-REFRESH body; `msg` is the whole message (the
/// NOTIFICATION data for a bad length).
pub(super) fn decode(body: &[u8], msg: &[u8]) -> Result<(AddrFamily, u8), DecodeError> {
    match body {
        &[a, b, subtype, safi] => Ok((
            AddrFamily {
                afi: Afi(u16::from_be_bytes([a, b])),
                safi: Safi(safi),
            },
            subtype,
        )),
        // RFC 7313 §5: "If the length, excluding the fixed-size message
        // header, of the received ROUTE-REFRESH message with Message
        // Subtype 1 and 2 is not 4, then the BGP speaker MUST send a
        // NOTIFICATION message with the Error Code of "ROUTE-REFRESH Message
        // Error" and the subcode of "Invalid Message Length". The Data field
        // of the NOTIFICATION message MUST contain the complete
        // ROUTE-REFRESH message." Subtype 0 with more octets would carry
        // RFC 5291 ORFs, which we never negotiate: same answer.
        _ => Err(DecodeError::InvalidRouteRefreshLength {
            message: msg.to_vec(),
        }),
    }
}

/// Writes a ROUTE-REFRESH body.
pub(super) fn encode_body(family: AddrFamily, subtype: u8, out: &mut BytesMut) {
    out.put_u16(family.afi.0);
    out.put_u8(subtype);
    out.put_u8(family.safi.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Enhanced route refresh BoRR for IPv6 unicast.
    static BORR_V6: [u8; 4] = [0, 2, 1, 1];

    #[test]
    fn borr_round_trip() {
        let (f, st) = decode(&BORR_V6, &[]).unwrap();
        assert_eq!((f, st), (AddrFamily::IPV6_UNICAST, 1));
        let mut out = BytesMut::new();
        encode_body(f, st, &mut out);
        assert_eq!(&out[..], &BORR_V6);
    }

    #[test]
    fn bad_length_is_7_1_with_the_message() {
        let msg = [0xffu8; 24];
        let n = decode(&[0, 1, 1, 1, 0], &msg).unwrap_err().notification();
        assert_eq!((n.code, n.subcode, n.data), (7, 1, msg.to_vec()));
    }
}
