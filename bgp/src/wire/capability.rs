//! Capabilities (RFC 5492 §4) inside an OPEN's Capabilities parameter:
//! multiprotocol (RFC 4760 §8), route refresh (RFC 2918), graceful restart
//! (RFC 4724 §3), 4-octet AS (RFC 6793), ADD-PATH (RFC 7911 §4),
//! enhanced route refresh (RFC 7313); any other code, or a known code whose value has an
//! unexpected length, is kept raw ([`Capability::Unknown`]) so it
//! re-encodes byte-exact.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```

use bytes::{BufMut, BytesMut};

use crate::model::{AddPathMode, AddrFamily, Afi, Capability, GracefulRestart, Safi};

use super::error::{DecodeError, EncodeError};
use super::parse::{OrFail, Parser, be_u8, take};

const MULTIPROTOCOL: u8 = 1;
const ROUTE_REFRESH: u8 = 2;
const GRACEFUL_RESTART: u8 = 64;
const FOUR_OCTET_AS: u8 = 65;
const ADD_PATH: u8 = 69;
const ENHANCED_ROUTE_REFRESH: u8 = 70;

/// Decodes the capabilities of one Capabilities parameter into `out`.
pub(super) fn decode_all(mut i: &[u8], out: &mut Vec<Capability>) -> Result<(), DecodeError> {
    let truncated = || DecodeError::MalformedOpen {
        reason: "a capability overruns its parameter",
    };
    while !i.is_empty() {
        let (tail, (code, len)) = (be_u8, be_u8).parse_complete(i).or_fail(truncated)?;
        let (tail, value) = take(len).parse_complete(tail).or_fail(truncated)?;
        i = tail;
        out.push(decode(code, value));
    }
    Ok(())
}

/// Decodes one capability; a value that does not fit the code's format is
/// kept raw.
fn decode(code: u8, v: &[u8]) -> Capability {
    let known = match (code, v) {
        // RFC 4760 §8: AFI (2), Reserved (1), SAFI (1). A non-zero
        // reserved octet stays raw so it re-encodes.
        (MULTIPROTOCOL, &[a, b, 0, s]) => Some(Capability::Multiprotocol(AddrFamily {
            afi: Afi(u16::from_be_bytes([a, b])),
            safi: Safi(s),
        })),
        (ROUTE_REFRESH, []) => Some(Capability::RouteRefresh),
        (ENHANCED_ROUTE_REFRESH, []) => Some(Capability::EnhancedRouteRefresh),
        (FOUR_OCTET_AS, &[a, b, c, d]) => {
            Some(Capability::FourOctetAs(u32::from_be_bytes([a, b, c, d])))
        }
        (GRACEFUL_RESTART, [hi, lo, rest @ ..]) if rest.len() % 4 == 0 => {
            // RFC 4724 §3: Restart Flags (4 bits), Restart Time (12 bits),
            // then per family AFI (2), SAFI (1), Flags for Address Family
            // (1).
            Some(Capability::GracefulRestart(GracefulRestart {
                flags: hi >> 4,
                restart_time: u16::from_be_bytes([hi & 0x0f, *lo]),
                families: rest
                    .chunks_exact(4)
                    .map(|c| {
                        let family = AddrFamily {
                            afi: Afi(u16::from_be_bytes([c[0], c[1]])),
                            safi: Safi(c[2]),
                        };
                        (family, c[3])
                    })
                    .collect(),
            }))
        }
        (ADD_PATH, v) if !v.is_empty() && v.len() % 4 == 0 => add_path(v),
        _ => None,
    };
    known.unwrap_or_else(|| Capability::Unknown {
        code,
        value: v.to_vec(),
    })
}

/// RFC 7911 §4: tuples of AFI (2), SAFI (1), Send/Receive (1). A
/// Send/Receive value other than 1, 2 or 3 makes the capability "not
/// understood": it stays raw (and so is ignored by negotiation).
fn add_path(v: &[u8]) -> Option<Capability> {
    v.chunks_exact(4)
        .map(|c| {
            let family = AddrFamily {
                afi: Afi(u16::from_be_bytes([c[0], c[1]])),
                safi: Safi(c[2]),
            };
            AddPathMode::from_wire(c[3]).map(|m| (family, m))
        })
        .collect::<Option<Vec<_>>>()
        .map(Capability::AddPath)
}

/// Encoded length including code and length octets.
pub(super) fn encoded_len(c: &Capability) -> Result<usize, EncodeError> {
    let value = match c {
        Capability::Multiprotocol(_) | Capability::FourOctetAs(_) => 4,
        Capability::RouteRefresh | Capability::EnhancedRouteRefresh => 0,
        Capability::GracefulRestart(g) => {
            if g.flags > 0x0f || g.restart_time > 0x0fff {
                return Err(EncodeError::Invalid(
                    "graceful restart flags above 4 bits or restart time above 4095",
                ));
            }
            2 + 4 * g.families.len()
        }
        Capability::AddPath(t) => 4 * t.len(),
        Capability::Unknown { value, .. } => value.len(),
    };
    if value > 255 {
        return Err(EncodeError::FieldTooLong {
            field: "capability value",
            len: value,
            max: 255,
        });
    }
    Ok(2 + value)
}

/// Writes one capability (after [`encoded_len`] accepted it).
pub(super) fn put(c: &Capability, out: &mut BytesMut) {
    out.put_u8(c.code());
    match c {
        Capability::Multiprotocol(f) => {
            out.put_u8(4);
            out.put_u16(f.afi.0);
            out.put_u8(0);
            out.put_u8(f.safi.0);
        }
        Capability::RouteRefresh | Capability::EnhancedRouteRefresh => out.put_u8(0),
        Capability::FourOctetAs(asn) => {
            out.put_u8(4);
            out.put_u32(*asn);
        }
        Capability::GracefulRestart(g) => {
            out.put_u8((2 + 4 * g.families.len()) as u8); // <= 255 checked
            out.put_u16(u16::from(g.flags) << 12 | g.restart_time);
            for (f, flags) in &g.families {
                out.put_u16(f.afi.0);
                out.put_u8(f.safi.0);
                out.put_u8(*flags);
            }
        }
        Capability::AddPath(t) => {
            out.put_u8((4 * t.len()) as u8); // <= 255 checked
            for (f, mode) in t {
                out.put_u16(f.afi.0);
                out.put_u8(f.safi.0);
                out.put_u8(mode.wire());
            }
        }
        Capability::Unknown { value, .. } => {
            out.put_u8(value.len() as u8); // <= 255 checked
            out.put_slice(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BIRD's capabilities (golden 10.99.0.1-to-10.99.0.2-00): MP IPv4
    /// unicast, route refresh, GR 120s, 4-octet AS 65001, enhanced route
    /// refresh, LLGR (71, empty).
    static BIRD_CAPS: [u8; 22] = [
        1, 4, 0, 1, 0, 1, 2, 0, 64, 2, 0, 0x78, 65, 4, 0, 0, 0xfd, 0xe9, 70, 0, 71, 0,
    ];

    #[test]
    fn bird_capabilities_round_trip() {
        let mut caps = Vec::new();
        decode_all(&BIRD_CAPS, &mut caps).unwrap();
        assert_eq!(
            caps,
            vec![
                Capability::Multiprotocol(AddrFamily::IPV4_UNICAST),
                Capability::RouteRefresh,
                Capability::GracefulRestart(GracefulRestart {
                    flags: 0,
                    restart_time: 120,
                    families: vec![],
                }),
                Capability::FourOctetAs(65001),
                Capability::EnhancedRouteRefresh,
                Capability::Unknown {
                    code: 71,
                    value: vec![]
                },
            ]
        );
        let mut out = BytesMut::new();
        for c in &caps {
            assert!(encoded_len(c).is_ok());
            put(c, &mut out);
        }
        assert_eq!(&out[..], &BIRD_CAPS);
    }

    #[test]
    fn graceful_restart_with_families() {
        let v = [0xc0, 0x78, 0, 1, 1, 0x80, 0, 2, 1, 0];
        let c = decode(GRACEFUL_RESTART, &v);
        let Capability::GracefulRestart(g) = &c else {
            panic!("{c:?}")
        };
        assert_eq!((g.flags, g.restart_time), (0xc, 120));
        assert_eq!(
            g.families,
            vec![
                (AddrFamily::IPV4_UNICAST, 0x80),
                (AddrFamily::IPV6_UNICAST, 0)
            ]
        );
        let mut out = BytesMut::new();
        put(&c, &mut out);
        assert_eq!(&out[2..], &v);
    }

    /// ADD-PATH laid out by RFC 7911 §4 (no capture in the golden set):
    /// code 69, length 8, (AFI 1, SAFI 1, both), (AFI 2, SAFI 1, both).
    static ADD_PATH_BOTH: [u8; 10] = [69, 8, 0, 1, 1, 3, 0, 2, 1, 3];

    #[test]
    fn add_path_round_trip() {
        let mut caps = Vec::new();
        decode_all(&ADD_PATH_BOTH, &mut caps).unwrap();
        assert_eq!(
            caps,
            vec![Capability::AddPath(vec![
                (AddrFamily::IPV4_UNICAST, AddPathMode::Both),
                (AddrFamily::IPV6_UNICAST, AddPathMode::Both),
            ])]
        );
        assert_eq!(encoded_len(&caps[0]), Ok(ADD_PATH_BOTH.len()));
        let mut out = BytesMut::new();
        put(&caps[0], &mut out);
        assert_eq!(&out[..], &ADD_PATH_BOTH);
        let c = decode(ADD_PATH, &[0, 1, 1, 1]);
        assert_eq!(
            c,
            Capability::AddPath(vec![(AddrFamily::IPV4_UNICAST, AddPathMode::Receive)])
        );
    }

    #[test]
    fn add_path_not_understood_stays_raw() {
        // Send/Receive 0 or 4, a length not a multiple of 4, no tuple.
        for v in [&[0, 1, 1, 0][..], &[0, 1, 1, 4], &[0, 1, 1], &[]] {
            let c = decode(ADD_PATH, v);
            assert_eq!(
                c,
                Capability::Unknown {
                    code: 69,
                    value: v.to_vec()
                }
            );
        }
        let too_many = Capability::AddPath(vec![(AddrFamily::IPV4_UNICAST, AddPathMode::Send); 64]);
        assert!(encoded_len(&too_many).is_err());
    }

    #[test]
    fn odd_values_stay_raw() {
        assert!(matches!(
            decode(FOUR_OCTET_AS, &[1, 2]),
            Capability::Unknown { code: 65, .. }
        ));
        assert!(matches!(
            decode(ROUTE_REFRESH, &[0]),
            Capability::Unknown { code: 2, .. }
        ));
        assert!(matches!(
            decode(MULTIPROTOCOL, &[0, 1, 9, 1]),
            Capability::Unknown { .. }
        ));
        assert!(matches!(
            decode(GRACEFUL_RESTART, &[0, 1, 2]),
            Capability::Unknown { .. }
        ));
    }

    #[test]
    fn truncated_capability_is_2_0() {
        let e = decode_all(&[65, 4, 0, 0], &mut Vec::new()).unwrap_err();
        assert_eq!((e.notification().code, e.notification().subcode), (2, 0));
    }
}
