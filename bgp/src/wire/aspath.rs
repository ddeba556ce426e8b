//! AS_PATH and AS4_PATH values (RFC 4271 §4.3, RFC 5065, RFC 6793): the
//! segments in 2- or 4-octet form, the RFC 7606 §7.2 malformation rules,
//! and the RFC 6793 mapping between a 4-octet path and a 2-octet session
//! (AS_TRANS, AS4_PATH construction and the §4.2.3 merge).
//!
//! ```text
//! +-----------------+-------------------+------------------------+
//! | segment type(1) | segment length(1) | ASNs (2 or 4 octets) * |
//! +-----------------+-------------------+------------------------+
//! ```

use bytes::{BufMut, BytesMut};

use crate::model::{AS_TRANS, AsPath, Segment, SegmentKind};

use super::error::EncodeError;

const AS_SET: u8 = 1;
const AS_SEQUENCE: u8 = 2;
const AS_CONFED_SEQUENCE: u8 = 3;
const AS_CONFED_SET: u8 = 4;

/// Most ASNs in one segment (the length octet).
const MAX_SEGMENT: usize = 255;

/// Decodes an AS_PATH (`four_octet` per session) or AS4_PATH (always
/// 4-octet) value; `Err` holds why it is malformed.
pub(super) fn decode(value: &[u8], four_octet: bool) -> Result<AsPath, String> {
    let width = if four_octet { 4 } else { 2 };
    // Header words plus AS numbers: at most one word per 2 octets.
    let mut words = Vec::with_capacity(value.len() / width + 1);
    let mut rest = value;
    while let Some((&seg_type, tail)) = rest.split_first() {
        // RFC 7606 §7.2: "There is an underrun where after the last
        // successfully parsed segment there is only a single octet
        // remaining (that is, there is not enough unconsumed data to
        // provide even an empty segment header)."
        let Some((&count, tail)) = tail.split_first() else {
            return Err("a single octet after the last segment".into());
        };
        // "It has a Path Segment Length field of zero."
        if count == 0 {
            return Err("a segment of length zero".into());
        }
        // "There is an overrun where the Path Segment Length field of the
        // last segment encountered would cause the Attribute Length to be
        // exceeded."
        let Some((asns, tail)) = tail.split_at_checked(usize::from(count) * width) else {
            return Err("a segment overruns the attribute".into());
        };
        rest = tail;
        // RFC 7606 §7.2: "An AS_PATH is considered malformed if an
        // unrecognized segment type is encountered".
        let kind = match seg_type {
            AS_SET => SegmentKind::Set,
            AS_SEQUENCE => SegmentKind::Sequence,
            AS_CONFED_SEQUENCE => SegmentKind::ConfedSequence,
            AS_CONFED_SET => SegmentKind::ConfedSet,
            t => return Err(format!("unknown segment type {t}")),
        };
        words.push(AsPath::header(kind, usize::from(count)));
        if four_octet {
            words.extend(
                asns.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            );
        } else {
            words.extend(
                asns.chunks_exact(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))),
            );
        }
        // RFC 7607 §2: "An UPDATE message that contains the AS number of
        // zero in the AS_PATH [...] attribute MUST be considered as
        // malformed and be handled by the procedures specified in
        // [RFC7606]."
        if words[words.len() - usize::from(count)..].contains(&0) {
            return Err("AS number zero (RFC 7607)".into());
        }
    }
    Ok(AsPath::from_words(words))
}

fn parts(seg: Segment<'_>) -> (u8, &[u32]) {
    (seg.kind as u8, seg.asns)
}

/// Encoded length. Empty segments are left out; sequences longer than 255
/// are split into several segments (same path); sets longer than 255
/// cannot be expressed.
pub(super) fn encoded_len(path: &AsPath, four_octet: bool) -> Result<usize, EncodeError> {
    let width = if four_octet { 4 } else { 2 };
    let mut len = 0;
    for seg in path.segments() {
        let (t, asns) = parts(seg);
        if asns.len() > MAX_SEGMENT && (t == AS_SET || t == AS_CONFED_SET) {
            return Err(EncodeError::FieldTooLong {
                field: "AS_SET",
                len: asns.len(),
                max: MAX_SEGMENT,
            });
        }
        len += asns.len().div_ceil(MAX_SEGMENT) * 2 + asns.len() * width;
    }
    Ok(len)
}

/// Writes the segments (after [`encoded_len`] accepted them). On a 2-octet
/// session an AS that does not fit 16 bits goes out as AS_TRANS.
pub(super) fn put(path: &AsPath, four_octet: bool, out: &mut BytesMut) {
    for seg in path.segments() {
        let (t, asns) = parts(seg);
        for chunk in asns.chunks(MAX_SEGMENT) {
            out.put_u8(t);
            out.put_u8(chunk.len() as u8); // chunks(255): at most 255
            for &asn in chunk {
                if four_octet {
                    out.put_u32(asn);
                } else {
                    out.put_u16(to_2_octet(asn));
                }
            }
        }
    }
}

/// The 2-octet form of an AS: itself, or AS_TRANS (RFC 6793 §4.2.2).
pub(super) fn to_2_octet(asn: u32) -> u16 {
    u16::try_from(asn).unwrap_or(AS_TRANS)
}

/// Whether any AS of the path does not fit 16 bits.
pub(super) fn needs_as4(path: &AsPath) -> bool {
    path.segments().any(|s| s.asns.iter().any(|&a| a > 0xffff))
}

/// The path as a 2-octet session sees it: every AS above 65535 replaced by
/// AS_TRANS.
pub(super) fn map_to_2_octet(path: &AsPath) -> AsPath {
    let mut words = Vec::new();
    for s in path.segments() {
        words.push(AsPath::header(s.kind, s.asns.len()));
        words.extend(s.asns.iter().map(|&a| u32::from(to_2_octet(a))));
    }
    AsPath::from_words(words)
}

/// The AS4_PATH to send with `path` (RFC 6793 §4.2.2: confederation
/// segments are not carried in AS4_PATH).
pub(super) fn as4_path(path: &AsPath) -> AsPath {
    AsPath::from_parts(
        path.segments()
            .filter(|s| matches!(s.kind, SegmentKind::Sequence | SegmentKind::Set))
            .map(|s| (s.kind, s.asns)),
    )
}

/// How many ASes a path counts for RFC 6793 §4.2.3: "an AS_SET is counted
/// as 1 [...] AS_CONFED_SEQUENCE and AS_CONFED_SET [...] are not counted".
fn as_count(path: &AsPath) -> usize {
    path.path_len()
}

/// Reconstructs the 4-octet path from the AS_PATH and AS4_PATH a 2-octet
/// session carried (RFC 6793 §4.2.3):
///
/// "If the number of AS numbers in the AS_PATH attribute is less than the
/// number of AS numbers in the AS4_PATH attribute, then the AS4_PATH
/// attribute SHALL be ignored, and the AS_PATH attribute SHALL be taken as
/// the AS path information. If the number of AS numbers in the AS_PATH
/// attribute is larger than or equal to the number of AS numbers in the
/// AS4_PATH attribute, then the AS path information SHALL be constructed by
/// taking as many AS numbers and path segments as necessary from the
/// leading part of the AS_PATH attribute, and then prepending them to the
/// AS4_PATH attribute so that the AS path information has a number of AS
/// numbers identical to that of the AS_PATH attribute."
pub(super) fn merge_as4(as_path: &AsPath, as4: &AsPath) -> AsPath {
    // Confederation segments in AS4_PATH are not to be there (§4.2.2); drop.
    let as4 = as4_path(as4);
    let (n, n4) = (as_count(as_path), as_count(&as4));
    if n < n4 {
        return as_path.clone();
    }
    let mut need = n - n4;
    let mut merged: Vec<(SegmentKind, Vec<u32>)> = Vec::new();
    for seg in as_path.segments() {
        if need == 0 {
            break;
        }
        match seg.kind {
            // "a valid AS_CONFED_SEQUENCE or AS_CONFED_SET path segment
            // SHALL be prepended if it is either the leading path segment or
            // is adjacent to a path segment that is prepended."
            SegmentKind::ConfedSequence | SegmentKind::ConfedSet => {
                merged.push((seg.kind, seg.asns.to_vec()))
            }
            SegmentKind::Set => {
                merged.push((seg.kind, seg.asns.to_vec()));
                need -= 1;
            }
            SegmentKind::Sequence => {
                let take = need.min(seg.asns.len());
                merged.push((seg.kind, seg.asns[..take].to_vec()));
                need -= take;
            }
        }
    }
    for seg in as4.segments() {
        // Join a cut sequence with the AS4_PATH sequence it continues.
        match merged.last_mut() {
            Some((SegmentKind::Sequence, last))
                if seg.kind == SegmentKind::Sequence
                    && last.len() + seg.asns.len() <= MAX_SEGMENT =>
            {
                last.extend_from_slice(seg.asns);
            }
            _ => merged.push((seg.kind, seg.asns.to_vec())),
        }
    }
    AsPath::from_parts(merged.iter().map(|(k, v)| (*k, v.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AsSegment;

    /// FRR's AS_PATH "65003 65004" (golden 10.99.0.3-to-10.99.0.2-02).
    static FRR_PATH: [u8; 10] = [2, 2, 0, 0, 0xfd, 0xeb, 0, 0, 0xfd, 0xec];

    #[test]
    fn four_octet_round_trip() {
        let p = decode(&FRR_PATH, true).unwrap();
        assert_eq!(p, AsPath::sequence(vec![65003, 65004]));
        assert_eq!(encoded_len(&p, true), Ok(10));
        let mut out = BytesMut::new();
        put(&p, true, &mut out);
        assert_eq!(&out[..], &FRR_PATH);
    }

    #[test]
    fn two_octet_round_trip_with_all_segment_types() {
        let bytes = [1, 2, 0, 1, 0, 2, 2, 1, 0, 3, 3, 1, 0, 4, 4, 1, 0, 5];
        let p = decode(&bytes, false).unwrap();
        assert_eq!(
            p,
            AsPath::from(vec![
                AsSegment::Set(vec![1, 2]),
                AsSegment::Sequence(vec![3]),
                AsSegment::ConfedSequence(vec![4]),
                AsSegment::ConfedSet(vec![5]),
            ])
        );
        let mut out = BytesMut::new();
        put(&p, false, &mut out);
        assert_eq!(&out[..], &bytes);
    }

    #[test]
    fn malformed_paths() {
        assert!(decode(&[2], true).is_err());
        assert!(decode(&[2, 0], true).is_err());
        assert!(decode(&[2, 2, 0, 0, 0, 1], true).is_err());
        assert!(decode(&[5, 1, 0, 0, 0, 1], true).is_err());
        assert!(decode(&[2, 1, 0, 0, 0, 0], true).is_err());
        assert_eq!(decode(&[], true), Ok(AsPath::default()));
    }

    #[test]
    fn long_sequences_split_and_sets_refuse() {
        let p = AsPath::sequence((1..=300).collect::<Vec<u32>>());
        assert_eq!(encoded_len(&p, true), Ok(4 + 1200));
        let mut out = BytesMut::new();
        put(&p, true, &mut out);
        let back = decode(&out, true).unwrap();
        assert_eq!(back.path_len(), 300);
        let s = AsPath::from(vec![AsSegment::Set((1..=300).collect())]);
        assert!(encoded_len(&s, true).is_err());
    }

    #[test]
    fn as_trans_mapping() {
        let p = AsPath::sequence(vec![65001, 4_200_000_000]);
        assert!(needs_as4(&p));
        assert_eq!(
            map_to_2_octet(&p),
            AsPath::sequence(vec![65001, u32::from(AS_TRANS)])
        );
        let mut out = BytesMut::new();
        put(&p, false, &mut out);
        assert_eq!(&out[..], &[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
    }

    #[test]
    fn rfc6793_merge() {
        let t = u32::from(AS_TRANS);
        // AS_PATH 65001 T T, AS4_PATH 4200000001 4200000002.
        let merged = merge_as4(
            &AsPath::sequence(vec![65001, t, t]),
            &AsPath::sequence(vec![4_200_000_001, 4_200_000_002]),
        );
        assert_eq!(
            merged,
            AsPath::sequence(vec![65001, 4_200_000_001, 4_200_000_002])
        );
        // AS4_PATH longer than AS_PATH: ignored.
        let p = AsPath::sequence(vec![t]);
        assert_eq!(merge_as4(&p, &AsPath::sequence(vec![1, 2])), p);
        // Leading confed segment kept; AS4 confed segments dropped.
        let merged = merge_as4(
            &AsPath::from(vec![
                AsSegment::ConfedSequence(vec![64512]),
                AsSegment::Sequence(vec![65001, t]),
            ]),
            &AsPath::from(vec![
                AsSegment::ConfedSequence(vec![9]),
                AsSegment::Sequence(vec![4_200_000_001]),
            ]),
        );
        assert_eq!(
            merged,
            AsPath::from(vec![
                AsSegment::ConfedSequence(vec![64512]),
                AsSegment::Sequence(vec![65001, 4_200_000_001]),
            ])
        );
    }
}
