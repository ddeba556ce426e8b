//! The UPDATE message body (RFC 4271 §4.3): the three length-delimited
//! fields and the RFC 4271 §6.3 / RFC 7606 §3, §5 checks of their framing.
//! Attribute values are [`super::attrs`]'s, prefixes [`super::nlri`]'s.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use bytes::{BufMut, BytesMut};

use crate::model::{AddrFamily, AttrType, AttrValue, Update};

use super::error::{Action, AttrIssue, DecodeError, EncodeError};
use super::header::{self, msg_type};
use super::parse::{OrFail, u16_prefixed};
use super::{Ctx, attrs, nlri};

/// RFC 4271 §6.3 (kept by RFC 7606 §3): "If the Withdrawn Routes Length
/// or Total Attribute Length is too large (i.e., if Withdrawn Routes Length
/// + Total Attribute Length + 23 exceeds the message Length), then the
///   Error Subcode MUST be set to Malformed Attribute List."
fn too_large() -> DecodeError {
    DecodeError::MalformedAttributeList {
        reason: "withdrawn routes or total path attribute length exceeds the message",
    }
}

/// Decodes an UPDATE body (the message after the header).
pub(super) fn decode(body: &[u8], ctx: &Ctx) -> Result<(Update, Vec<AttrIssue>), DecodeError> {
    let (rest, withdrawn) = u16_prefixed(body).or_fail(too_large)?;
    let (nlri_field, section) = u16_prefixed(rest).or_fail(too_large)?;
    // RFC 4271 §6.3: "The NLRI field in the UPDATE message is checked for
    // syntactic validity. If the field is syntactically incorrect, then the
    // Error Subcode MUST be set to Invalid Network Field." RFC 7606 §5.3
    // extends this to the Withdrawn Routes field; neither can be recovered
    // by treat-as-withdraw.
    // RFC 7911 §3: with ADD-PATH received for IPv4 unicast, each prefix
    // of both fields follows a Path Identifier.
    let ids = ctx.add_path.receive.contains(AddrFamily::IPV4_UNICAST);
    let (withdrawn, withdrawn_path_ids) = nlri::decode_v4(withdrawn, ids)
        .map_err(|reason| DecodeError::InvalidNetworkField { reason })?;
    let (nlri, nlri_path_ids) = nlri::decode_v4(nlri_field, ids)
        .map_err(|reason| DecodeError::InvalidNetworkField { reason })?;
    let mut decoded = attrs::decode(section, ctx)?;
    let mp_nlri = decoded
        .attributes
        .iter()
        .any(|a| matches!(&a.value, AttrValue::MpReach(r) if !r.nlri.is_empty()));
    attrs::check_mandatory(&mut decoded, !nlri.is_empty(), mp_nlri);
    if nlri.is_empty() {
        // RFC 4760 §3: "An UPDATE message that carries no NLRI, other than
        // the one encoded in the MP_REACH_NLRI attribute, SHOULD NOT carry
        // the NEXT_HOP attribute. If such a message contains the NEXT_HOP
        // attribute, the BGP speaker that receives the message SHOULD
        // ignore this attribute." So a malformed one is only discarded.
        for i in &mut decoded.issues {
            if i.type_code == AttrType::NEXT_HOP && i.action == Action::TreatAsWithdraw {
                i.action = Action::AttributeDiscard;
                i.reason.push_str(" (ignored: no IPv4 NLRI, RFC 4760 §3)");
            }
        }
    }
    let update = Update {
        withdrawn,
        withdrawn_path_ids,
        attributes: decoded.attributes,
        nlri,
        nlri_path_ids,
    };
    Ok((update, decoded.issues))
}

/// Writes an UPDATE body.
pub(super) fn encode_body(u: &Update, ctx: &Ctx, out: &mut BytesMut) -> Result<(), EncodeError> {
    let ids = ctx.add_path.send.contains(AddrFamily::IPV4_UNICAST);
    nlri::check_ids(u.withdrawn.len(), &u.withdrawn_path_ids, ids)?;
    nlri::check_ids(u.nlri.len(), &u.nlri_path_ids, ids)?;
    let wlen = nlri::v4_len(&u.withdrawn, &u.withdrawn_path_ids);
    let wlen16 = u16::try_from(wlen).map_err(|_| EncodeError::FieldTooLong {
        field: "withdrawn routes",
        len: wlen,
        max: usize::from(u16::MAX),
    })?;
    out.reserve(4 + wlen + nlri::v4_len(&u.nlri, &u.nlri_path_ids));
    out.put_u16(wlen16);
    nlri::put_v4_all(&u.withdrawn, &u.withdrawn_path_ids, out);
    let at = out.len();
    out.put_u16(0);
    for a in &u.attributes {
        a.encode(ctx, out)?;
    }
    let alen = out.len() - at - 2;
    let alen16 = u16::try_from(alen).map_err(|_| EncodeError::FieldTooLong {
        field: "path attributes",
        len: alen,
        max: usize::from(u16::MAX),
    })?;
    out[at..at + 2].copy_from_slice(&alen16.to_be_bytes());
    nlri::put_v4_all(&u.nlri, &u.nlri_path_ids, out);
    Ok(())
}

impl Update {
    /// Writes this UPDATE as a whole message (header included) into `out`;
    /// on error `out` is unchanged.
    pub fn encode(&self, ctx: &Ctx, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = header::begin(out, msg_type::UPDATE);
        if let Err(e) = encode_body(self, ctx, out) {
            out.truncate(start);
            return Err(e);
        }
        header::finish(
            out,
            start,
            header::limit_for(msg_type::UPDATE, ctx),
            msg_type::UPDATE,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AsPath;

    /// BIRD's UPDATE for 192.0.2.0/24 (golden 10.99.0.1-to-10.99.0.2-02),
    /// body only.
    static BIRD_BODY: [u8; 28] = [
        0, 0, 0, 20, 0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 10, 99, 0, 1,
        24, 192, 0, 2,
    ];

    #[test]
    fn bird_update_round_trip() {
        let (u, issues) = decode(&BIRD_BODY, &Ctx::default()).unwrap();
        assert!(issues.is_empty());
        assert_eq!(u.nlri, vec!["192.0.2.0/24".parse().unwrap()]);
        assert_eq!(
            u.attributes[1].value,
            AttrValue::AsPath(AsPath::sequence(vec![65001]))
        );
        let mut out = BytesMut::new();
        encode_body(&u, &Ctx::default(), &mut out).unwrap();
        assert_eq!(&out[..], &BIRD_BODY);
    }

    #[test]
    fn lengths_too_large_are_3_1() {
        for body in [&[0u8, 5, 0, 0][..], &[0, 0, 0, 9, 0x40], &[0, 1]] {
            let e = decode(body, &Ctx::default()).unwrap_err();
            assert_eq!(e.notification().code, 3);
            assert_eq!(e.notification().subcode, 1, "{body:?}");
        }
    }

    #[test]
    fn bad_nlri_is_3_10() {
        let e = decode(&[0, 0, 0, 0, 33, 1, 2, 3, 4, 5], &Ctx::default()).unwrap_err();
        assert_eq!((e.notification().code, e.notification().subcode), (3, 10));
        let e = decode(&[0, 2, 24, 1, 0, 0], &Ctx::default()).unwrap_err();
        assert_eq!(e.notification().subcode, 10);
    }

    #[test]
    fn missing_mandatory_is_treat_as_withdraw() {
        // NLRI without any attribute.
        let (_, issues) = decode(&[0, 0, 0, 0, 24, 192, 0, 2], &Ctx::default()).unwrap();
        let missing: Vec<AttrType> = issues.iter().map(|i| i.type_code).collect();
        assert_eq!(
            missing,
            vec![AttrType::ORIGIN, AttrType::AS_PATH, AttrType::NEXT_HOP]
        );
        assert!(issues.iter().all(|i| i.action == Action::TreatAsWithdraw));
        // Withdrawals only: nothing is mandatory.
        let (_, issues) = decode(&[0, 4, 24, 192, 0, 2, 0, 0], &Ctx::default()).unwrap();
        assert!(issues.is_empty());
    }
}
