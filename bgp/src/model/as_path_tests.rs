//! Tests of [`AsPath`]'s one-allocation form against the segments it
//! stands for.

use super::{AsPath, AsSegment, Segment, SegmentKind};

fn all_kinds() -> Vec<AsSegment> {
    vec![
        AsSegment::Sequence(vec![65001, 65002]),
        AsSegment::Set(vec![1, 2, 3]),
        AsSegment::ConfedSequence(vec![64512]),
        AsSegment::ConfedSet(vec![]),
        AsSegment::Sequence(vec![4_200_000_000]),
    ]
}

#[test]
fn segments_round_trip() {
    let segs = all_kinds();
    let p = AsPath::from(segs.clone());
    assert_eq!(p.to_segments(), segs);
    assert_eq!(p.segments().count(), 5);
    assert_eq!(
        p.segments().nth(1),
        Some(Segment {
            kind: SegmentKind::Set,
            asns: &[1, 2, 3]
        })
    );
    assert_eq!(AsPath::from(Vec::new()), AsPath::default());
    assert!(AsPath::default().is_empty());
    assert_eq!(
        format!("{:?}", AsPath::sequence(vec![7])),
        "AsPath([Sequence([7])])"
    );
}

#[test]
fn path_len_first_as_and_contains() {
    let p = AsPath::from(all_kinds());
    // 2 (sequence) + 1 (set) + 0 + 0 (confederation) + 1.
    assert_eq!(p.path_len(), 4);
    assert_eq!(p.first_as(), Some(65001));
    assert!(p.contains(3) && p.contains(64512) && !p.contains(9));
    assert_eq!(AsPath::from(vec![AsSegment::Set(vec![1])]).first_as(), None);
    assert_eq!(AsPath::default().first_as(), None);
}

#[test]
fn prepend_extends_a_leading_sequence_or_starts_one() {
    assert_eq!(AsPath::default().prepend(1), AsPath::sequence(vec![1]));
    assert_eq!(
        AsPath::sequence(vec![2, 3]).prepend(1),
        AsPath::sequence(vec![1, 2, 3])
    );
    let set_first = AsPath::from(vec![AsSegment::Set(vec![5]), AsSegment::Sequence(vec![6])]);
    assert_eq!(
        set_first.prepend(1).to_segments(),
        vec![
            AsSegment::Sequence(vec![1]),
            AsSegment::Set(vec![5]),
            AsSegment::Sequence(vec![6])
        ]
    );
    let full = AsPath::sequence((1..=255).collect::<Vec<u32>>());
    let longer = full.prepend(9);
    assert_eq!(longer.segments().count(), 2, "a full segment is not grown");
    assert_eq!(longer.path_len(), 256);
    assert_eq!(longer.first_as(), Some(9));
}

#[test]
fn stored_words_that_lie_about_lengths_do_not_panic() {
    // A header claiming more AS numbers than follow (only crate code can
    // build these, but reading must stay safe).
    let p = AsPath::from_words(vec![AsPath::header(SegmentKind::Sequence, 9), 1, 2]);
    assert_eq!(p.to_segments(), vec![AsSegment::Sequence(vec![1, 2])]);
    let p = AsPath::from_words(vec![0xff00_0000]);
    assert_eq!(p.segments().count(), 1);
}
