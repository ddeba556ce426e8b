//! The OPEN message body (RFC 4271 §4.2) with its optional parameters in
//! both the classic and the RFC 9072 extended encoding, and the RFC 4271
//! §6.2 checks. Capabilities themselves are [`super::capability`]'s.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Layouts: BIRD, GoBGP and OpenBGPD send one Capabilities parameter
//! ([`ParamLayout::Single`]), FRR one per capability
//! ([`ParamLayout::PerCapability`]); both decode, and the layout is kept.
//! Non-canonical inputs (they decode, but re-encode differently): an empty
//! Capabilities parameter, several parameters of which some hold more than
//! one capability, and the RFC 9072 encoding when the parameters would fit
//! the classic one (we send RFC 9072 only when they do not).

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use crate::model::{Open, ParamLayout};

use super::capability;
use super::error::{BGP_VERSION, DecodeError, EncodeError};
use super::header::{self, msg_type};
use super::parse::{OrFail, Parser, be_u8, be_u16, be_u32, take};

/// Optional parameter type 2: Capabilities (RFC 5492 §4).
const PARAM_CAPABILITIES: u8 = 2;
/// RFC 9072 §2: Non-Ext OP Len and Non-Ext OP Type of the extended form.
const EXTENDED: u8 = 255;

fn malformed(reason: &'static str) -> DecodeError {
    DecodeError::MalformedOpen { reason }
}

/// Decodes an OPEN body (the message after the header).
pub(super) fn decode(body: &[u8]) -> Result<Open, DecodeError> {
    let (rest, (version, my_as, hold_time, id, opt_len)) = (be_u8, be_u16, be_u16, be_u32, be_u8)
        .parse_complete(body)
        .or_fail(|| malformed("shorter than the fixed fields"))?;
    // RFC 4271 §6.2: "If the version number in the Version field of the
    // received OPEN message is not supported, then the Error Subcode MUST
    // be set to Unsupported Version Number."
    if version != BGP_VERSION {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let bgp_id = Ipv4Addr::from(id);
    // RFC 4271 §6.2: "If the Hold Time field of the OPEN message is
    // unacceptable, then the Error Subcode MUST be set to Unacceptable Hold
    // Time. An implementation MUST reject Hold Time values of one or two
    // seconds."
    if hold_time == 1 || hold_time == 2 {
        return Err(DecodeError::UnacceptableHoldTime { hold_time });
    }
    // RFC 4271 §6.2: "If the BGP Identifier field of the OPEN message is
    // syntactically incorrect, then the Error Subcode MUST be set to Bad
    // BGP Identifier." RFC 6286 §2.1: it is "a 4-octet, unsigned, non-zero
    // integer".
    if id == 0 {
        return Err(DecodeError::BadBgpIdentifier { id: bgp_id });
    }
    // RFC 9072 §2: "If the value of the "Non-Ext OP Len" field is 255 and
    // the "Non-Ext OP Type" field is 255, then the "Extended Opt. Parm.
    // Length" field [...] and a two-octet Parameter Length field are used."
    let extended = opt_len == EXTENDED && rest.first() == Some(&EXTENDED);
    let params = if extended {
        let (params, len) = be_u16(rest.get(1..).unwrap_or_default())
            .or_fail(|| malformed("no extended optional parameters length"))?;
        if usize::from(len) != params.len() {
            return Err(malformed(
                "extended optional parameters length differs from the message",
            ));
        }
        params
    } else {
        if usize::from(opt_len) != rest.len() {
            return Err(malformed(
                "optional parameters length differs from the message",
            ));
        }
        rest
    };
    let mut open = Open {
        version,
        my_as,
        hold_time,
        bgp_id,
        capabilities: Vec::new(),
        layout: ParamLayout::Single,
        other_params: Vec::new(),
    };
    let (mut n_params, mut one_each) = (0usize, true);
    let mut i = params;
    while !i.is_empty() {
        let (tail, param_type) = be_u8(i).or_fail(|| malformed("truncated parameter"))?;
        let (tail, len) = if extended {
            be_u16(tail).or_fail(|| malformed("truncated parameter"))?
        } else {
            let (t, l) = be_u8(tail).or_fail(|| malformed("truncated parameter"))?;
            (t, u16::from(l))
        };
        let (tail, value) = take(len)
            .parse_complete(tail)
            .or_fail(|| malformed("parameter overruns the optional parameters"))?;
        i = tail;
        // RFC 4271 §6.2: "If one of the Optional Parameters in the OPEN
        // message is not recognized, then the Error Subcode MUST be set to
        // Unsupported Optional Parameters." (Type 1, Authentication, was
        // deprecated by RFC 5492.)
        if param_type != PARAM_CAPABILITIES {
            return Err(DecodeError::UnsupportedOptionalParameter { param_type });
        }
        let before = open.capabilities.len();
        capability::decode_all(value, &mut open.capabilities)?;
        n_params += 1;
        one_each &= open.capabilities.len() - before == 1;
    }
    if n_params > 1 && one_each {
        open.layout = ParamLayout::PerCapability;
    }
    // RFC 7607 §2: "If a BGP speaker receives zero as the peer AS in an OPEN
    // message, it MUST abort the connection and send a NOTIFICATION with
    // Error Code "OPEN Message Error" and subcode "Bad Peer AS"".
    if open.asn() == 0 {
        return Err(DecodeError::BadPeerAs { asn: 0 });
    }
    Ok(open)
}

/// The value lengths of the optional parameters in the order they are
/// written: capabilities per layout, then `other_params`.
fn param_lens(o: &Open) -> Result<Vec<usize>, EncodeError> {
    let mut lens = Vec::new();
    match o.layout {
        ParamLayout::Single if o.capabilities.is_empty() => {}
        ParamLayout::Single => {
            let mut sum = 0;
            for c in &o.capabilities {
                sum += capability::encoded_len(c)?;
            }
            lens.push(sum);
        }
        ParamLayout::PerCapability => {
            for c in &o.capabilities {
                lens.push(capability::encoded_len(c)?);
            }
        }
    }
    lens.extend(o.other_params.iter().map(|(_, v)| v.len()));
    Ok(lens)
}

/// Writes an OPEN body.
pub(super) fn encode_body(o: &Open, out: &mut BytesMut) -> Result<(), EncodeError> {
    let lens = param_lens(o)?;
    let classic: usize = lens.iter().map(|l| 2 + l).sum();
    let extended = classic > 255 || lens.iter().any(|&l| l > 255);
    let total = if extended {
        lens.iter().map(|l| 3 + l).sum()
    } else {
        classic
    };
    if lens.iter().any(|&l| l > usize::from(u16::MAX)) || total > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong {
            field: "optional parameters",
            len: total,
            max: usize::from(u16::MAX),
        });
    }
    out.reserve(10 + 3 + total);
    out.put_u8(o.version);
    out.put_u16(o.my_as);
    out.put_u16(o.hold_time);
    out.put_slice(&o.bgp_id.octets());
    if extended {
        out.put_u8(EXTENDED);
        out.put_u8(EXTENDED);
        out.put_u16(total as u16); // checked above
    } else {
        out.put_u8(total as u8); // classic: <= 255
    }
    let mut lens = lens.into_iter();
    let mut param_header = |out: &mut BytesMut, t: u8| {
        let len = lens.next().unwrap_or(0);
        out.put_u8(t);
        if extended {
            out.put_u16(len as u16); // checked above
        } else {
            out.put_u8(len as u8); // classic: <= 255
        }
    };
    match o.layout {
        ParamLayout::Single if o.capabilities.is_empty() => {}
        ParamLayout::Single => {
            param_header(out, PARAM_CAPABILITIES);
            o.capabilities.iter().for_each(|c| capability::put(c, out));
        }
        ParamLayout::PerCapability => {
            for c in &o.capabilities {
                param_header(out, PARAM_CAPABILITIES);
                capability::put(c, out);
            }
        }
    }
    for (t, v) in &o.other_params {
        param_header(out, *t);
        out.put_slice(v);
    }
    Ok(())
}

impl Open {
    /// Writes this OPEN as a whole message into `out` (never longer than
    /// 4096, RFC 8654 §4); on error `out` is unchanged.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = header::begin(out, msg_type::OPEN);
        if let Err(e) = encode_body(self, out) {
            out.truncate(start);
            return Err(e);
        }
        header::finish(out, start, header::MAX_MESSAGE_LEN, msg_type::OPEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddrFamily, Capability, GracefulRestart};

    /// OpenBGPD's OPEN body (golden 10.99.0.4-to-10.99.0.1-00).
    static OPENBGPD_BODY: [u8; 30] = [
        4, 0xfd, 0xec, 0, 90, 10, 99, 0, 4, 20, 2, 18, 1, 4, 0, 1, 0, 1, 2, 0, 64, 2, 0x80, 0, 65,
        4, 0, 0, 0xfd, 0xec,
    ];

    fn body(version: u8, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
        let mut v = vec![version, 0xfd, 0xe9];
        v.extend_from_slice(&hold.to_be_bytes());
        v.extend_from_slice(&id);
        v.push(params.len() as u8);
        v.extend_from_slice(params);
        v
    }

    #[test]
    fn openbgpd_open_round_trip() {
        let o = decode(&OPENBGPD_BODY).unwrap();
        assert_eq!(o.asn(), 65004);
        assert_eq!(o.hold_time, 90);
        assert_eq!(o.layout, ParamLayout::Single);
        assert_eq!(
            o.capabilities,
            vec![
                Capability::Multiprotocol(AddrFamily::IPV4_UNICAST),
                Capability::RouteRefresh,
                Capability::GracefulRestart(GracefulRestart {
                    flags: 0x8,
                    restart_time: 0,
                    families: vec![],
                }),
                Capability::FourOctetAs(65004),
            ]
        );
        let mut out = BytesMut::new();
        encode_body(&o, &mut out).unwrap();
        assert_eq!(&out[..], &OPENBGPD_BODY);
    }

    #[test]
    fn per_capability_layout_round_trips() {
        let b = body(4, 180, [10, 0, 0, 3], &[2, 2, 2, 0, 2, 2, 70, 0]);
        let o = decode(&b).unwrap();
        assert_eq!(o.layout, ParamLayout::PerCapability);
        let mut out = BytesMut::new();
        encode_body(&o, &mut out).unwrap();
        assert_eq!(&out[..], &b[..]);
    }

    #[test]
    fn rfc9072_extended_parameters_decode_and_encode_when_needed() {
        let b = vec![
            4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 255, 255, 0, 5, 2, 0, 2, 2, 0,
        ];
        let o = decode(&b).unwrap();
        assert_eq!(o.capabilities, vec![Capability::RouteRefresh]);
        // Re-encoded classic, as it fits.
        let mut out = BytesMut::new();
        encode_body(&o, &mut out).unwrap();
        assert_eq!(&out[9..], &[4, 2, 2, 2, 0]);
        // 300 octets of capabilities need the extended form.
        let big = Open {
            capabilities: vec![
                Capability::Unknown {
                    code: 73,
                    value: vec![7; 250],
                };
                2
            ],
            ..o
        };
        out.clear();
        encode_body(&big, &mut out).unwrap();
        // One parameter of 2 * 252 octets: 3 + 504 = 0x01fb.
        assert_eq!(&out[9..13], &[255, 255, 0x01, 0xfb]);
        assert_eq!(decode(&out).unwrap(), big);
    }

    #[test]
    fn open_errors() {
        let n = decode(&body(3, 90, [1, 1, 1, 1], &[]))
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode, n.data), (2, 1, vec![0, 4]));
        for hold in [1, 2] {
            let n = decode(&body(4, hold, [1, 1, 1, 1], &[]))
                .unwrap_err()
                .notification();
            assert_eq!((n.code, n.subcode), (2, 6));
        }
        assert!(decode(&body(4, 0, [1, 1, 1, 1], &[])).is_ok());
        assert!(decode(&body(4, 3, [1, 1, 1, 1], &[])).is_ok());
        let n = decode(&body(4, 90, [0, 0, 0, 0], &[]))
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode), (2, 3));
        let n = decode(&body(4, 90, [1, 1, 1, 1], &[1, 1, 0]))
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode), (2, 4));
        let mut b = body(4, 90, [1, 1, 1, 1], &[2, 2, 2, 0]);
        b[9] = 5;
        let n = decode(&b).unwrap_err().notification();
        assert_eq!((n.code, n.subcode), (2, 0));
        // RFC 7607: AS 0.
        let n = decode(&body(4, 90, [1, 1, 1, 1], &[2, 6, 65, 4, 0, 0, 0, 0]))
            .unwrap_err()
            .notification();
        assert_eq!((n.code, n.subcode), (2, 2));
    }
}
