//! Path attributes (RFC 4271 §4.3, §5) in an UPDATE: the attribute TLVs of
//! the Path Attributes field, each value's decoding with the RFC 7606
//! error handling (session reset, treat-as-withdraw, attribute discard),
//! and encoding with the flags as given.
//!
//! ```text
//! +----------------+----------------+--------------------+-----------+
//! | Attr. Flags(1) | Attr. Type(1)  | Length (1 or 2)    | Value ... |
//! +----------------+----------------+--------------------+-----------+
//! ```

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};

use crate::model::{
    AttrFlags, AttrType, AttrValue, Attribute, Community, LargeCommunity, Origin, RawAttribute,
};

use super::error::{Action, AttrIssue, DecodeError, EncodeError};
use super::{Ctx, aspath, mp};

/// The decoded Path Attributes field.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    /// Attributes that decoded, in wire order.
    pub attributes: Vec<Attribute>,
    /// The RFC 7606 issues found.
    pub issues: Vec<AttrIssue>,
    /// The attribute types met (also malformed and duplicate ones).
    present: Seen,
}

fn issue(type_code: AttrType, action: Action, reason: impl Into<String>) -> AttrIssue {
    AttrIssue {
        type_code,
        action,
        reason: reason.into(),
    }
}

/// Which attribute types were seen (duplicate detection without a set).
#[derive(Debug, Default)]
struct Seen([u64; 4]);

impl Seen {
    /// Marks `t`; whether it was already marked.
    fn insert(&mut self, t: AttrType) -> bool {
        let (word, bit) = (usize::from(t.0 / 64), t.0 % 64);
        let Some(w) = self.0.get_mut(word) else {
            return false;
        };
        let was = *w & (1 << bit) != 0;
        *w |= 1 << bit;
        was
    }

    fn contains(&self, t: AttrType) -> bool {
        self.0
            .get(usize::from(t.0 / 64))
            .is_some_and(|w| w & (1 << (t.0 % 64)) != 0)
    }
}

/// Decodes the Path Attributes field of an UPDATE.
pub(super) fn decode(section: &[u8], ctx: &Ctx) -> Result<Decoded, DecodeError> {
    let mut out = Decoded {
        attributes: Vec::with_capacity(8),
        ..Decoded::default()
    };
    let mut rest = section;
    while let Some(&flags) = rest.first() {
        let flags = AttrFlags(flags);
        let header = match (flags.extended_length(), rest) {
            (true, &[_, t, hi, lo, ..]) => {
                Some((AttrType(t), 4, usize::from(u16::from_be_bytes([hi, lo]))))
            }
            (false, &[_, t, len, ..]) => Some((AttrType(t), 3, usize::from(len))),
            _ => None,
        };
        // RFC 7606 §4: "In the second case, fewer than three octets remain
        // (or fewer than four octets, if the Attribute Flags field has the
        // Extended Length bit set) when beginning to parse the attribute.
        // [...] In either of these cases, an error condition exists and the
        // "treat-as-withdraw" approach MUST be used [...] and the Total
        // Attribute Length MUST be relied upon to enable the beginning of
        // the NLRI field to be located."
        let Some((type_code, hdr_len, len)) = header else {
            let t = AttrType(rest.get(1).copied().unwrap_or(0));
            out.issues.push(issue(
                t,
                Action::TreatAsWithdraw,
                "path attributes end inside an attribute header",
            ));
            break;
        };
        let is_mp = type_code == AttrType::MP_REACH_NLRI || type_code == AttrType::MP_UNREACH_NLRI;
        // RFC 7606 §4: "In the first case, the length of the last
        // encountered path attribute would cause the Total Attribute Length
        // to be exceeded when parsing the enclosed path attributes."
        let Some((raw, tail)) = rest.split_at_checked(hdr_len + len) else {
            if is_mp {
                // RFC 7606 §3: "in order to use the approach of
                // "treat-as-withdraw", the entire NLRI field and/or the
                // MP_REACH_NLRI and MP_UNREACH_NLRI attributes need to be
                // successfully parsed [...]. If this is not possible, the
                // procedures of [RFC4271] and/or [RFC4760] continue to
                // apply, meaning that the "session reset" approach [...]
                // MUST be followed."
                return Err(DecodeError::MalformedAttributeList {
                    reason: "an MP_REACH_NLRI/MP_UNREACH_NLRI overruns the path attributes",
                });
            }
            out.issues.push(issue(
                type_code,
                Action::TreatAsWithdraw,
                "attribute length overruns the path attributes",
            ));
            break;
        };
        rest = tail;
        let value = raw.get(hdr_len..).unwrap_or_default();
        if out.present.insert(type_code) {
            // RFC 7606 §3: "If the MP_REACH_NLRI attribute or the
            // MP_UNREACH_NLRI [RFC4760] attribute appears more than once in
            // the UPDATE message, then a NOTIFICATION message MUST be sent
            // with the Error Subcode "Malformed Attribute List". If any
            // other attribute (whether recognized or unrecognized) appears
            // more than once in an UPDATE message, then all the occurrences
            // of the attribute other than the first one SHALL be discarded
            // and the UPDATE message will continue to be processed."
            if is_mp {
                return Err(DecodeError::MalformedAttributeList {
                    reason: "MP_REACH_NLRI or MP_UNREACH_NLRI appears more than once",
                });
            }
            out.issues.push(issue(
                type_code,
                Action::AttributeDiscard,
                "appears more than once; all but the first discarded",
            ));
            continue;
        }
        let (value, problem) = decode_one(flags, type_code, value, raw, ctx)?;
        if let Some(v) = value {
            out.attributes.push(Attribute { flags, value: v });
        }
        if let Some((action, reason)) = problem {
            out.issues.push(issue(type_code, action, reason));
        }
    }
    Ok(out)
}

/// RFC 4271 §5: (Optional, Transitive) of the attributes we know.
fn expected_flags(t: AttrType) -> Option<(bool, bool)> {
    const WELL_KNOWN: (bool, bool) = (false, true);
    const OPT_TRANS: (bool, bool) = (true, true);
    const OPT_NON_TRANS: (bool, bool) = (true, false);
    Some(match t {
        AttrType::ORIGIN
        | AttrType::AS_PATH
        | AttrType::NEXT_HOP
        | AttrType::LOCAL_PREF
        | AttrType::ATOMIC_AGGREGATE => WELL_KNOWN,
        AttrType::MED
        | AttrType::ORIGINATOR_ID
        | AttrType::CLUSTER_LIST
        | AttrType::MP_REACH_NLRI
        | AttrType::MP_UNREACH_NLRI => OPT_NON_TRANS,
        AttrType::AGGREGATOR
        | AttrType::COMMUNITIES
        | AttrType::AS4_PATH
        | AttrType::AS4_AGGREGATOR
        | AttrType::LARGE_COMMUNITIES => OPT_TRANS,
        _ => return None,
    })
}

type Problem = Option<(Action, String)>;

/// Decodes one attribute: its value if usable, and what RFC 7606 says
/// about it if not.
fn decode_one(
    flags: AttrFlags,
    t: AttrType,
    value: &[u8],
    raw: &[u8],
    ctx: &Ctx,
) -> Result<(Option<AttrValue>, Problem), DecodeError> {
    let Some((optional, transitive)) = expected_flags(t) else {
        // RFC 4271 §6.3: "If any of the well-known mandatory attributes are
        // not recognized, then the Error Subcode MUST be set to
        // Unrecognized Well-known Attribute. The Data field MUST contain
        // the unrecognized attribute (type, length, and value)."
        if !flags.optional() {
            return Err(DecodeError::UnrecognizedWellKnownAttribute {
                type_code: t,
                attribute: raw.to_vec(),
            });
        }
        // RFC 4271 §5: unrecognized optional attributes are kept (and
        // passed on if transitive); raw, byte-exact.
        let raw = RawAttribute {
            flags,
            type_code: t,
            value: value.to_vec(),
        };
        return Ok((Some(AttrValue::Raw(raw)), None));
    };
    // RFC 7606 §3: "If the value of either the Optional or Transitive
    // bits in the Attribute Flags is in conflict with their specified
    // values, then the attribute MUST be treated as malformed and the
    // "treat-as-withdraw" approach used, unless the specification for the
    // attribute mandates different handling for incorrect Attribute Flags."
    let flags_ok = flags.optional() == optional && flags.transitive() == transitive;
    let flag_problem = || {
        Some((
            Action::TreatAsWithdraw,
            format!("attribute flags {:#04x} conflict with the type", flags.0),
        ))
    };
    if t == AttrType::MP_REACH_NLRI || t == AttrType::MP_UNREACH_NLRI {
        // Parsed even with bad flags: treat-as-withdraw needs its prefixes.
        let v = if t == AttrType::MP_REACH_NLRI {
            mp::decode_reach(flags, value, raw, ctx)?
        } else {
            mp::decode_unreach(flags, value, raw, ctx)?
        };
        return Ok((Some(v), if flags_ok { None } else { flag_problem() }));
    }
    if !flags_ok {
        return Ok((None, flag_problem()));
    }
    Ok(match decode_value(t, value, ctx) {
        Ok(v) => (Some(v), None),
        Err(p) => (None, Some(p)),
    })
}

fn u32_of(v: &[u8]) -> Option<u32> {
    v.try_into().ok().map(u32::from_be_bytes)
}

/// Decodes a known attribute value (not MP_*); `Err` holds the RFC 7606
/// action and why.
fn decode_value(t: AttrType, v: &[u8], ctx: &Ctx) -> Result<AttrValue, (Action, String)> {
    use Action::{AttributeDiscard as Discard, TreatAsWithdraw as Withdraw};
    let bad_len = |action: Action, want: &str| -> Result<AttrValue, (Action, String)> {
        Err((action, format!("length {}, expected {want}", v.len())))
    };
    match t {
        // RFC 7606 §7.1: "The attribute is considered malformed if its
        // length is not 1 or it has an undefined value [RFC4271]. An UPDATE
        // message with a malformed ORIGIN attribute SHALL be handled using
        // the approach of "treat-as-withdraw"."
        AttrType::ORIGIN => match v {
            [0] => Ok(AttrValue::Origin(Origin::Igp)),
            [1] => Ok(AttrValue::Origin(Origin::Egp)),
            [2] => Ok(AttrValue::Origin(Origin::Incomplete)),
            [x] => Err((Withdraw, format!("undefined value {x}"))),
            _ => bad_len(Withdraw, "1"),
        },
        // RFC 7606 §7.2: "An UPDATE message with a malformed AS_PATH
        // attribute SHALL be handled using the approach of
        // "treat-as-withdraw"."
        AttrType::AS_PATH => aspath::decode(v, ctx.four_octet_as)
            .map(AttrValue::AsPath)
            .map_err(|r| (Withdraw, r)),
        // RFC 7606 §7.3: "The NEXT_HOP attribute is considered malformed
        // if its length is not 4 [...] SHALL be handled using the approach
        // of "treat-as-withdraw"." RFC 4271 §6.3: "If the NEXT_HOP
        // attribute field is syntactically incorrect" (not a valid unicast
        // host address), likewise.
        AttrType::NEXT_HOP => {
            let Some(a) = u32_of(v).map(Ipv4Addr::from) else {
                return bad_len(Withdraw, "4");
            };
            if a.is_unspecified() || a.is_broadcast() || a.is_multicast() {
                return Err((Withdraw, format!("{a} is not a unicast host address")));
            }
            Ok(AttrValue::NextHop(a))
        }
        // RFC 7606 §7.4: "The attribute is considered malformed if its
        // length is not 4 [RFC4271]. An UPDATE message with a malformed
        // MULTI_EXIT_DISC attribute SHALL be handled using the approach of
        // "treat-as-withdraw"."
        AttrType::MED => u32_of(v)
            .map(AttrValue::Med)
            .map_or_else(|| bad_len(Withdraw, "4"), Ok),
        // RFC 7606 §7.5: "if received from an internal neighbor, it SHALL
        // be considered malformed if its length is not equal to 4. If
        // malformed, the UPDATE message SHALL be handled using the approach
        // of "treat-as-withdraw"." (Discarding it from external neighbors
        // is session policy, not decoding.)
        AttrType::LOCAL_PREF => u32_of(v)
            .map(AttrValue::LocalPref)
            .map_or_else(|| bad_len(Withdraw, "4"), Ok),
        // RFC 7606 §7.6: "The attribute SHALL be considered malformed if
        // its length is not 0 [RFC4271]. An UPDATE message with a malformed
        // ATOMIC_AGGREGATE attribute SHALL be handled using the approach of
        // "attribute discard"."
        AttrType::ATOMIC_AGGREGATE if v.is_empty() => Ok(AttrValue::AtomicAggregate),
        AttrType::ATOMIC_AGGREGATE => bad_len(Discard, "0"),
        // RFC 7606 §7.7: "Its length is not 6 (when the "4-octet AS number
        // capability" is not advertised to, or not received from the peer
        // [RFC6793]). Its length is not 8 (when the "4-octet AS number
        // capability" is both advertised to, and received from the peer).
        // An UPDATE message with a malformed AGGREGATOR attribute SHALL be
        // handled using the approach of "attribute discard"."
        AttrType::AGGREGATOR => {
            let (asn, addr) = match (ctx.four_octet_as, v) {
                (true, &[a, b, c, d, e, f, g, h]) => {
                    (u32::from_be_bytes([a, b, c, d]), [e, f, g, h])
                }
                (false, &[a, b, e, f, g, h]) => {
                    (u32::from(u16::from_be_bytes([a, b])), [e, f, g, h])
                }
                (true, _) => return bad_len(Discard, "8"),
                (false, _) => return bad_len(Discard, "6"),
            };
            // RFC 7607 §2: AS 0 in AGGREGATOR is malformed (RFC 7606).
            if asn == 0 {
                return Err((Discard, "AS number zero (RFC 7607)".into()));
            }
            Ok(AttrValue::Aggregator {
                asn,
                addr: Ipv4Addr::from(addr),
            })
        }
        // RFC 7606 §7.8: "The Community attribute SHALL be considered
        // malformed if its length is not a non-zero multiple of 4. An
        // UPDATE message with a malformed Community attribute SHALL be
        // handled using the approach of "treat-as-withdraw"."
        AttrType::COMMUNITIES => {
            if v.is_empty() || !v.len().is_multiple_of(4) {
                return bad_len(Withdraw, "a non-zero multiple of 4");
            }
            Ok(AttrValue::Communities(
                v.chunks_exact(4)
                    .map(|c| Community(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
            ))
        }
        // RFC 7606 §7.9: ORIGINATOR_ID is malformed when its length is not
        // 4, and the UPDATE is then handled as treat-as-withdraw. (From an
        // external neighbor it is discarded: that is session knowledge,
        // done on import, see `rib::adj_in`.)
        AttrType::ORIGINATOR_ID => u32_of(v)
            .map(|x| AttrValue::OriginatorId(Ipv4Addr::from(x)))
            .map_or_else(|| bad_len(Withdraw, "4"), Ok),
        // RFC 7606 §7.10: CLUSTER_LIST is malformed when its length is not
        // a non-zero multiple of 4; treat-as-withdraw likewise.
        AttrType::CLUSTER_LIST => {
            if v.is_empty() || !v.len().is_multiple_of(4) {
                return bad_len(Withdraw, "a non-zero multiple of 4");
            }
            Ok(AttrValue::ClusterList(
                v.chunks_exact(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                    .collect(),
            ))
        }
        // RFC 8092 §6: "The Large Communities attribute SHALL be considered
        // malformed if the length of the Large Communities Attribute value,
        // expressed in octets, is not a non-zero multiple of 12. [...]
        // SHALL be handled using the approach of "treat-as-withdraw"."
        AttrType::LARGE_COMMUNITIES => {
            if v.is_empty() || !v.len().is_multiple_of(12) {
                return bad_len(Withdraw, "a non-zero multiple of 12");
            }
            Ok(AttrValue::LargeCommunities(
                v.chunks_exact(12)
                    .map(|c| {
                        let w = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
                        LargeCommunity(w(0), w(4), w(8))
                    })
                    .collect(),
            ))
        }
        // RFC 6793 §4.1: "A NEW BGP speaker that receives the AS4_PATH
        // attribute or the AS4_AGGREGATOR attribute in an UPDATE message
        // from a NEW BGP speaker MUST discard the path attribute and
        // continue processing the UPDATE message." Malformed ones are
        // discarded too (RFC 6793 §6, "attribute discard").
        AttrType::AS4_PATH | AttrType::AS4_AGGREGATOR if ctx.four_octet_as => Err((
            Discard,
            "received on a 4-octet AS session (RFC 6793 §4.1)".into(),
        )),
        AttrType::AS4_PATH => aspath::decode(v, true)
            .map(AttrValue::As4Path)
            .map_err(|r| (Discard, r)),
        AttrType::AS4_AGGREGATOR => match *v {
            // RFC 7607 §2: AS 0 in AS4_AGGREGATOR is malformed (RFC 6793).
            [0, 0, 0, 0, _, _, _, _] => Err((Discard, "AS number zero (RFC 7607)".into())),
            [a, b, c, d, e, f, g, h] => Ok(AttrValue::As4Aggregator {
                asn: u32::from_be_bytes([a, b, c, d]),
                addr: Ipv4Addr::from([e, f, g, h]),
            }),
            _ => bad_len(Discard, "8"),
        },
        _ => Err((Discard, "not a value attribute".into())),
    }
}

/// The type code an attribute goes out with.
pub(super) fn type_of(a: &Attribute) -> AttrType {
    match &a.value {
        AttrValue::Origin(_) => AttrType::ORIGIN,
        AttrValue::AsPath(_) => AttrType::AS_PATH,
        AttrValue::NextHop(_) => AttrType::NEXT_HOP,
        AttrValue::Med(_) => AttrType::MED,
        AttrValue::LocalPref(_) => AttrType::LOCAL_PREF,
        AttrValue::AtomicAggregate => AttrType::ATOMIC_AGGREGATE,
        AttrValue::Aggregator { .. } => AttrType::AGGREGATOR,
        AttrValue::Communities(_) => AttrType::COMMUNITIES,
        AttrValue::OriginatorId(_) => AttrType::ORIGINATOR_ID,
        AttrValue::ClusterList(_) => AttrType::CLUSTER_LIST,
        AttrValue::LargeCommunities(_) => AttrType::LARGE_COMMUNITIES,
        AttrValue::As4Path(_) => AttrType::AS4_PATH,
        AttrValue::As4Aggregator { .. } => AttrType::AS4_AGGREGATOR,
        AttrValue::MpReach(_) => AttrType::MP_REACH_NLRI,
        AttrValue::MpUnreach(_) => AttrType::MP_UNREACH_NLRI,
        AttrValue::Raw(r) => r.type_code,
    }
}

/// Encoded value length under `ctx`.
fn value_len(v: &AttrValue, ctx: &Ctx) -> Result<usize, EncodeError> {
    Ok(match v {
        AttrValue::Origin(_) => 1,
        AttrValue::AsPath(p) => aspath::encoded_len(p, ctx.four_octet_as)?,
        AttrValue::As4Path(p) => aspath::encoded_len(p, true)?,
        AttrValue::NextHop(_)
        | AttrValue::Med(_)
        | AttrValue::LocalPref(_)
        | AttrValue::OriginatorId(_) => 4,
        AttrValue::ClusterList(c) => 4 * c.len(),
        AttrValue::AtomicAggregate => 0,
        AttrValue::Aggregator { .. } if ctx.four_octet_as => 8,
        AttrValue::Aggregator { .. } => 6,
        AttrValue::As4Aggregator { .. } => 8,
        AttrValue::Communities(c) => 4 * c.len(),
        AttrValue::LargeCommunities(c) => 12 * c.len(),
        AttrValue::MpReach(r) => mp::reach_len(r, ctx)?,
        AttrValue::MpUnreach(u) => mp::unreach_len(u, ctx)?,
        AttrValue::Raw(r) => r.value.len(),
    })
}

/// Encoded length of the whole attribute (header included) under `ctx`.
pub(super) fn encoded_len(a: &Attribute, ctx: &Ctx) -> Result<usize, EncodeError> {
    let len = value_len(&a.value, ctx)?;
    let flags = match &a.value {
        AttrValue::Raw(r) => r.flags,
        _ => a.flags,
    };
    let ext = flags.extended_length() || len > 255;
    Ok(len + if ext { 4 } else { 3 })
}

impl Attribute {
    /// Writes this attribute (flags, type, length, value) into `out`. The
    /// flags go out as given (for [`AttrValue::Raw`] the raw attribute's
    /// own), with the Extended Length bit forced on when the value exceeds
    /// 255 octets. AS numbers are 2 or 4 octets per `ctx.four_octet_as`
    /// (ASes above 65535 become AS_TRANS on a 2-octet session; adding
    /// AS4_PATH is [`crate::wire::build_updates`]'s job). On error `out` is
    /// unchanged.
    pub fn encode(&self, ctx: &Ctx, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = value_len(&self.value, ctx)?;
        let len16 = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong {
            field: "attribute value",
            len,
            max: usize::from(u16::MAX),
        })?;
        let flags = match &self.value {
            AttrValue::Raw(r) => r.flags,
            _ => self.flags,
        };
        let ext = flags.extended_length() || len > 255;
        out.reserve(len + 4);
        out.put_u8(if ext {
            flags.0 | AttrFlags::EXTENDED_LENGTH
        } else {
            flags.0
        });
        out.put_u8(type_of(self).0);
        if ext {
            out.put_u16(len16);
        } else {
            out.put_u8(len16 as u8); // not ext: len <= 255
        }
        put_value(&self.value, ctx, out);
        Ok(())
    }
}

/// Writes a value whose length [`value_len`] accepted.
fn put_value(v: &AttrValue, ctx: &Ctx, out: &mut BytesMut) {
    match v {
        AttrValue::Origin(o) => out.put_u8(match o {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }),
        AttrValue::AsPath(p) => aspath::put(p, ctx.four_octet_as, out),
        AttrValue::As4Path(p) => aspath::put(p, true, out),
        AttrValue::NextHop(a) | AttrValue::OriginatorId(a) => out.put_slice(&a.octets()),
        AttrValue::ClusterList(c) => c.iter().for_each(|a| out.put_slice(&a.octets())),
        AttrValue::Med(x) | AttrValue::LocalPref(x) => out.put_u32(*x),
        AttrValue::AtomicAggregate => {}
        AttrValue::Aggregator { asn, addr } => {
            if ctx.four_octet_as {
                out.put_u32(*asn);
            } else {
                out.put_u16(aspath::to_2_octet(*asn));
            }
            out.put_slice(&addr.octets());
        }
        AttrValue::As4Aggregator { asn, addr } => {
            out.put_u32(*asn);
            out.put_slice(&addr.octets());
        }
        AttrValue::Communities(c) => c.iter().for_each(|c| out.put_u32(c.0)),
        AttrValue::LargeCommunities(c) => c.iter().for_each(|c| {
            out.put_u32(c.0);
            out.put_u32(c.1);
            out.put_u32(c.2);
        }),
        AttrValue::MpReach(r) => mp::put_reach(r, out),
        AttrValue::MpUnreach(u) => mp::put_unreach(u, out),
        AttrValue::Raw(r) => out.put_slice(&r.value),
    }
}

/// RFC 7606 §3: "If any of the well-known mandatory attributes are not
/// present in an UPDATE message, then "treat-as-withdraw" MUST be used.
/// (Note that [RFC4760] reclassifies NEXT_HOP as what is effectively
/// discretionary.)" ORIGIN and AS_PATH are needed for any NLRI (RFC 4760
/// §3: "An UPDATE message that carries the MP_REACH_NLRI MUST also carry
/// the ORIGIN and the AS_PATH attributes"), NEXT_HOP for IPv4 NLRI in the
/// NLRI field. LOCAL_PREF (mandatory on iBGP) is left to the session.
pub(super) fn check_mandatory(d: &mut Decoded, v4_nlri: bool, mp_nlri: bool) {
    if !v4_nlri && !mp_nlri {
        return;
    }
    let need: &[AttrType] = if v4_nlri {
        &[AttrType::ORIGIN, AttrType::AS_PATH, AttrType::NEXT_HOP]
    } else {
        &[AttrType::ORIGIN, AttrType::AS_PATH]
    };
    for &t in need {
        // Present but malformed or discarded: that has its own issue.
        if !d.present.contains(t) {
            d.issues.push(issue(
                t,
                Action::TreatAsWithdraw,
                "well-known mandatory attribute missing",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ORIGIN IGP, AS_PATH 65001, NEXT_HOP 10.99.0.1 as BIRD sent them
    /// (golden 10.99.0.1-to-10.99.0.2-02).
    static BIRD_ATTRS: [u8; 20] = [
        0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, 0x40, 3, 4, 10, 99, 0, 1,
    ];

    fn ctx() -> Ctx {
        Ctx::default()
    }

    #[test]
    fn bird_attributes_round_trip() {
        let d = decode(&BIRD_ATTRS, &ctx()).unwrap();
        assert!(d.issues.is_empty());
        assert_eq!(d.attributes.len(), 3);
        assert_eq!(
            d.attributes[2].value,
            AttrValue::NextHop(Ipv4Addr::new(10, 99, 0, 1))
        );
        let mut out = BytesMut::new();
        for a in &d.attributes {
            a.encode(&ctx(), &mut out).unwrap();
            assert!(encoded_len(a, &ctx()).is_ok());
        }
        assert_eq!(&out[..], &BIRD_ATTRS);
    }

    #[test]
    fn extended_length_is_honoured_and_forced() {
        let a = Attribute {
            flags: AttrFlags(0x50),
            value: AttrValue::Origin(Origin::Egp),
        };
        let mut out = BytesMut::new();
        a.encode(&ctx(), &mut out).unwrap();
        assert_eq!(&out[..], &[0x50, 1, 0, 1, 1]);
        let a = Attribute {
            flags: AttrFlags(0xc0),
            value: AttrValue::Communities(vec![Community(1); 70]),
        };
        let mut out = BytesMut::new();
        a.encode(&ctx(), &mut out).unwrap();
        assert_eq!(&out[..4], &[0xd0, 8, 1, 24]);
        assert_eq!(encoded_len(&a, &ctx()), Ok(284));
    }

    #[test]
    fn raw_attributes_are_byte_exact() {
        let bytes = [0xe0, 99, 3, 1, 2, 3];
        let d = decode(&bytes, &ctx()).unwrap();
        assert!(matches!(&d.attributes[0].value, AttrValue::Raw(r) if r.value == [1, 2, 3]));
        let mut out = BytesMut::new();
        d.attributes[0].encode(&ctx(), &mut out).unwrap();
        assert_eq!(&out[..], &bytes);
    }

    /// ORIGINATOR_ID 10.0.0.7 and CLUSTER_LIST [10.0.0.1, 192.0.2.9], both
    /// optional non-transitive (flags 0x80), as a reflector sends them.
    static RR_ATTRS: [u8; 18] = [
        0x80, 9, 4, 10, 0, 0, 7, 0x80, 10, 8, 10, 0, 0, 1, 192, 0, 2, 9,
    ];

    #[test]
    fn originator_id_and_cluster_list_round_trip() {
        let d = decode(&RR_ATTRS, &ctx()).unwrap();
        assert!(d.issues.is_empty(), "{:?}", d.issues);
        assert_eq!(
            d.attributes[0].value,
            AttrValue::OriginatorId(Ipv4Addr::new(10, 0, 0, 7))
        );
        assert_eq!(
            d.attributes[1].value,
            AttrValue::ClusterList(vec![
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(192, 0, 2, 9)
            ])
        );
        let mut out = BytesMut::new();
        for a in &d.attributes {
            assert_eq!(
                encoded_len(a, &ctx()),
                Ok(3 + value_len(&a.value, &ctx()).unwrap())
            );
            a.encode(&ctx(), &mut out).unwrap();
        }
        assert_eq!(&out[..], &RR_ATTRS);
    }

    /// RFC 7606 §7.9 and §7.10: a bad length, or wrong flags, is
    /// treat-as-withdraw; the attribute is not kept.
    #[test]
    fn malformed_originator_id_and_cluster_list_are_treat_as_withdraw() {
        for bytes in [
            &[0x80, 9, 3, 10, 0, 0][..],
            &[0x80, 9, 5, 10, 0, 0, 7, 1],
            &[0x80, 10, 0],
            &[0x80, 10, 6, 10, 0, 0, 1, 0, 0],
            // Transitive bit set on an optional non-transitive attribute.
            &[0xc0, 9, 4, 10, 0, 0, 7],
            &[0xc0, 10, 4, 10, 0, 0, 1],
        ] {
            let d = decode(bytes, &ctx()).unwrap();
            assert!(d.attributes.is_empty(), "{bytes:?}");
            assert_eq!(d.issues.len(), 1, "{bytes:?}");
            assert_eq!(d.issues[0].action, Action::TreatAsWithdraw, "{bytes:?}");
        }
    }

    /// Never panics, whatever follows the type octets 9 and 10.
    #[test]
    fn reflection_attributes_never_panic() {
        let mut seed = 0x9e37_79b9_u32;
        for len in 0..64usize {
            for _ in 0..32 {
                let mut bytes = vec![0x80, 9 + (len % 2) as u8, len as u8];
                for _ in 0..len {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    bytes.push(seed as u8);
                }
                // Sometimes short or long of its length.
                bytes.truncate(bytes.len() - (seed as usize % 3).min(len));
                let _ = decode(&bytes, &ctx());
            }
        }
    }

    #[test]
    fn two_octet_aggregator() {
        let c = Ctx {
            four_octet_as: false,
            ..ctx()
        };
        let bytes = [0xc0, 7, 6, 0xfd, 0xe9, 10, 0, 0, 1];
        let d = decode(&bytes, &c).unwrap();
        assert_eq!(
            d.attributes[0].value,
            AttrValue::Aggregator {
                asn: 65001,
                addr: Ipv4Addr::new(10, 0, 0, 1)
            }
        );
        let mut out = BytesMut::new();
        d.attributes[0].encode(&c, &mut out).unwrap();
        assert_eq!(&out[..], &bytes);
    }
}
