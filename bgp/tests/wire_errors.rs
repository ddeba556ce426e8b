//! Each error case of RFC 4271 §6.1-6.3 and RFC 7606 (with RFC 4760,
//! RFC 6793, RFC 7313, RFC 7607, RFC 8092): a whole message in, the exact
//! NOTIFICATION (code, subcode, data) or the exact RFC 7606 action out.

use ipnet::IpNet;
use vcpe_bgp::model::{AttrType, AttrValue, Message, Notification, Update};
use vcpe_bgp::wire::{Action, AttrIssue, Ctx, DecodeError, decode, frame_len, routes};

// ---- message builders ----

fn msg(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(msg_type);
    m.extend_from_slice(body);
    m
}

fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = (withdrawn.len() as u16).to_be_bytes().to_vec();
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    msg(2, &b)
}

fn open(version: u8, my_as: u16, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    msg(1, &b)
}

const ORIGIN: [u8; 4] = [0x40, 1, 1, 0];
const AS_PATH: [u8; 9] = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9];
const NEXT_HOP: [u8; 7] = [0x40, 3, 4, 10, 0, 0, 1];
const NLRI: [u8; 4] = [24, 192, 0, 2];

/// ORIGIN, AS_PATH, NEXT_HOP with `extra` spliced in after them.
fn attrs_with(extra: &[u8]) -> Vec<u8> {
    [&ORIGIN[..], &AS_PATH, &NEXT_HOP, extra].concat()
}

/// MP_REACH_NLRI with `flags`: IPv6 unicast, next hop 2001:db8::1, NLRI
/// 2001:db8::/32.
fn v6_reach(flags: u8) -> Vec<u8> {
    let mut a = vec![flags, 14, 0, 0, 2, 1, 16];
    a.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    a.extend_from_slice(&[0, 32, 0x20, 1, 0xd, 0xb8]);
    a[2] = (a.len() - 3) as u8;
    a
}

/// The (code, subcode, data) `bytes` must be answered with.
fn notification(bytes: &[u8], ctx: &Ctx) -> (u8, u8, Vec<u8>) {
    let e = decode(bytes, ctx).expect_err("expected a session reset");
    // Display says something useful.
    assert!(!e.to_string().is_empty());
    let Notification {
        code,
        subcode,
        data,
    } = e.notification();
    (code, subcode, data)
}

/// The issues of an UPDATE that must not reset the session.
fn issues(bytes: &[u8], ctx: &Ctx) -> (Update, Vec<AttrIssue>) {
    match decode(bytes, ctx) {
        Ok((Message::Update(u), issues)) => (u, issues),
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

/// The single issue: its attribute type and action.
fn one_issue(bytes: &[u8], ctx: &Ctx) -> (AttrType, Action) {
    let (_, i) = issues(bytes, ctx);
    assert_eq!(i.len(), 1, "{i:?}");
    (i[0].type_code, i[0].action)
}

fn c4() -> Ctx {
    Ctx::default()
}

fn c2() -> Ctx {
    Ctx {
        four_octet_as: false,
        ..Ctx::default()
    }
}

// ---- RFC 4271 §6.1: message header ----

#[test]
fn marker_not_all_ones_is_1_1() {
    let mut m = msg(4, &[]);
    m[0] = 0;
    assert_eq!(notification(&m, &c4()), (1, 1, vec![]));
    assert_eq!(
        frame_len(&m, &c4()),
        Err(DecodeError::ConnectionNotSynchronized)
    );
}

#[test]
fn bad_lengths_are_1_2_with_the_length_field() {
    let mut keepalive_20 = msg(4, &[0]);
    assert_eq!(notification(&keepalive_20, &c4()), (1, 2, vec![0, 20]));
    keepalive_20[17] = 18; // length 18 < 19
    assert_eq!(notification(&keepalive_20, &c4()), (1, 2, vec![0, 18]));
    // OPEN shorter than 29, UPDATE shorter than 23, NOTIFICATION shorter
    // than 21, ROUTE-REFRESH shorter than 23.
    assert_eq!(notification(&msg(1, &[4; 9]), &c4()), (1, 2, vec![0, 28]));
    assert_eq!(notification(&msg(2, &[0; 3]), &c4()), (1, 2, vec![0, 22]));
    assert_eq!(notification(&msg(3, &[6]), &c4()), (1, 2, vec![0, 20]));
    assert_eq!(
        notification(&msg(5, &[0, 1, 0]), &c4()),
        (1, 2, vec![0, 22])
    );
    // Longer than 4096 without extended messages.
    let big = update(&[], &[], &vec![0; 4100]);
    assert_eq!(
        frame_len(&big, &c4()).unwrap_err().notification().data,
        vec![0x10, 0x1b]
    );
}

#[test]
fn unknown_type_is_1_3_with_the_type() {
    assert_eq!(notification(&msg(7, &[]), &c4()), (1, 3, vec![7]));
}

// ---- RFC 4271 §6.2: OPEN ----

#[test]
fn unsupported_version_is_2_1_with_version_4() {
    let m = open(3, 65001, 90, [10, 0, 0, 1], &[]);
    assert_eq!(notification(&m, &c4()), (2, 1, vec![0, 4]));
}

#[test]
fn peer_as_zero_is_2_2() {
    assert_eq!(
        notification(&open(4, 0, 90, [10, 0, 0, 1], &[]), &c4()),
        (2, 2, vec![])
    );
    let four_octet_zero = [2, 6, 65, 4, 0, 0, 0, 0];
    assert_eq!(
        notification(&open(4, 23456, 90, [10, 0, 0, 1], &four_octet_zero), &c4()).1,
        2
    );
    let n = DecodeError::bad_peer_as(65009).notification();
    assert_eq!((n.code, n.subcode, n.data), (2, 2, vec![]));
}

#[test]
fn zero_bgp_identifier_is_2_3() {
    let m = open(4, 65001, 90, [0, 0, 0, 0], &[]);
    assert_eq!(notification(&m, &c4()), (2, 3, vec![]));
}

#[test]
fn unsupported_optional_parameter_is_2_4() {
    // Type 1 (Authentication, deprecated).
    let m = open(4, 65001, 90, [10, 0, 0, 1], &[1, 2, 0, 0]);
    assert_eq!(notification(&m, &c4()), (2, 4, vec![]));
}

#[test]
fn hold_time_1_or_2_is_2_6() {
    for hold in [1, 2] {
        let m = open(4, 65001, hold, [10, 0, 0, 1], &[]);
        assert_eq!(notification(&m, &c4()), (2, 6, vec![]));
    }
    assert!(decode(&open(4, 65001, 0, [10, 0, 0, 1], &[]), &c4()).is_ok());
}

#[test]
fn inconsistent_optional_parameters_are_2_0() {
    let mut m = open(4, 65001, 90, [10, 0, 0, 1], &[2, 2, 2, 0]);
    m[28] = 3; // opt param length 3, 4 present
    assert_eq!(notification(&m, &c4()), (2, 0, vec![]));
    // A capability overrunning its parameter.
    let m = open(4, 65001, 90, [10, 0, 0, 1], &[2, 3, 65, 4, 0]);
    assert_eq!(notification(&m, &c4()), (2, 0, vec![]));
}

// ---- RFC 4271 §6.3 / RFC 7606: UPDATE, session reset ----

#[test]
fn lengths_exceeding_the_message_are_3_1() {
    // Withdrawn Routes Length too large.
    let mut m = update(&[24, 10, 0, 0], &[], &[]);
    m[20] = 9;
    assert_eq!(notification(&m, &c4()), (3, 1, vec![]));
    // Total Path Attribute Length too large.
    let mut m = update(&[], &attrs_with(&[]), &NLRI);
    m[22] = 200;
    assert_eq!(notification(&m, &c4()), (3, 1, vec![]));
}

#[test]
fn duplicate_mp_attributes_are_3_1() {
    let unreach = [0x80, 15, 3, 0, 2, 1];
    let m = update(&[], &[&unreach[..], &unreach].concat(), &[]);
    assert_eq!(notification(&m, &c4()), (3, 1, vec![]));
    let reach = [
        0x80, 14, 21, 0, 2, 1, 16, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
    ];
    let m = update(&[], &[&ORIGIN[..], &AS_PATH, &reach, &reach].concat(), &[]);
    assert_eq!(notification(&m, &c4()), (3, 1, vec![]));
}

#[test]
fn mp_attribute_overrunning_the_attributes_is_3_1() {
    // RFC 7606 §3: the MP attribute cannot be parsed, so no
    // treat-as-withdraw.
    let m = update(&[], &[0x80, 15, 9, 0, 2, 1], &[]);
    assert_eq!(notification(&m, &c4()), (3, 1, vec![]));
}

#[test]
fn unrecognized_well_known_attribute_is_3_2_with_the_attribute() {
    let unknown = [0x40, 99, 2, 7, 7];
    let m = update(&[], &attrs_with(&unknown), &NLRI);
    assert_eq!(notification(&m, &c4()), (3, 2, unknown.to_vec()));
}

#[test]
fn malformed_mp_reach_is_3_9_with_the_attribute() {
    // IPv6 unicast with a next hop of length 4.
    let attr = [0x80, 14, 9, 0, 2, 1, 4, 10, 0, 0, 1, 0];
    let m = update(&[], &[&ORIGIN[..], &AS_PATH, &attr].concat(), &[]);
    assert_eq!(notification(&m, &c4()), (3, 9, attr.to_vec()));
    // IPv6 prefix length 129 in MP_REACH_NLRI (RFC 7606 §5.3).
    let mut attr = vec![0x80, 14, 0, 0, 2, 1, 16];
    attr.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    attr.extend_from_slice(&[129, 0x20]);
    attr[2] = (attr.len() - 3) as u8;
    let m = update(&[], &[&ORIGIN[..], &AS_PATH, &attr].concat(), &[]);
    assert_eq!(notification(&m, &c4()), (3, 9, attr.clone()));
    // MP_UNREACH_NLRI shorter than AFI/SAFI.
    let attr = [0x80, 15, 2, 0, 2];
    assert_eq!(
        notification(&update(&[], &attr, &[]), &c4()),
        (3, 9, attr.to_vec())
    );
}

#[test]
fn invalid_network_fields_are_3_10() {
    // NLRI /33.
    let m = update(&[], &attrs_with(&[]), &[33, 1, 2, 3, 4, 5]);
    assert_eq!(notification(&m, &c4()), (3, 10, vec![]));
    // NLRI overrunning the message.
    let m = update(&[], &attrs_with(&[]), &[24, 192, 0]);
    assert_eq!(notification(&m, &c4()), (3, 10, vec![]));
    // Withdrawn routes /40.
    let m = update(&[40, 1, 2, 3, 4, 5], &[], &[]);
    assert_eq!(notification(&m, &c4()), (3, 10, vec![]));
}

// ---- RFC 7606 §7 and friends: treat-as-withdraw / attribute discard ----

#[test]
fn origin_bad_length_or_value_is_treat_as_withdraw() {
    for origin in [&[0x40u8, 1, 2, 0, 0][..], &[0x40, 1, 1, 3], &[0x40, 1, 0]] {
        let a = [origin, &AS_PATH, &NEXT_HOP].concat();
        let m = update(&[], &a, &NLRI);
        assert_eq!(
            one_issue(&m, &c4()),
            (AttrType::ORIGIN, Action::TreatAsWithdraw)
        );
    }
}

#[test]
fn malformed_as_path_is_treat_as_withdraw() {
    for path in [
        &[0x40u8, 2, 6, 2, 2, 0, 0, 0xfd, 0xe9][..], // overrun
        &[0x40, 2, 7, 2, 1, 0, 0, 0xfd, 0xe9, 2],    // single octet left
        &[0x40, 2, 2, 2, 0],                         // zero-length segment
        &[0x40, 2, 6, 9, 1, 0, 0, 0xfd, 0xe9],       // segment type 9
        &[0x40, 2, 6, 2, 1, 0, 0, 0, 0],             // AS 0 (RFC 7607)
    ] {
        let m = update(&[], &[&ORIGIN[..], path, &NEXT_HOP].concat(), &NLRI);
        assert_eq!(
            one_issue(&m, &c4()),
            (AttrType::AS_PATH, Action::TreatAsWithdraw)
        );
    }
    // 4-octet bytes read on a 2-octet session: the first ASN reads as 0.
    let m = update(&[], &attrs_with(&[]), &NLRI);
    assert_eq!(
        one_issue(&m, &c2()),
        (AttrType::AS_PATH, Action::TreatAsWithdraw)
    );
}

#[test]
fn next_hop_bad_length_or_address_is_treat_as_withdraw() {
    for nh in [
        &[0x40u8, 3, 5, 10, 0, 0, 1, 0][..],
        &[0x40, 3, 4, 0, 0, 0, 0],
        &[0x40, 3, 4, 224, 0, 0, 5],
    ] {
        let m = update(&[], &[&ORIGIN[..], &AS_PATH, nh].concat(), &NLRI);
        assert_eq!(
            one_issue(&m, &c4()),
            (AttrType::NEXT_HOP, Action::TreatAsWithdraw)
        );
    }
}

#[test]
fn malformed_next_hop_without_ipv4_nlri_is_only_discarded() {
    // RFC 4760 §3: such a NEXT_HOP is to be ignored.
    let nh = [0x40, 3, 5, 10, 0, 0, 1, 0];
    let m = update(
        &[],
        &[&ORIGIN[..], &AS_PATH, &nh, &v6_reach(0x80)].concat(),
        &[],
    );
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::NEXT_HOP, Action::AttributeDiscard)
    );
    let (u, i) = issues(&m, &c4());
    assert_eq!(routes(&u, &i)[0].announced.len(), 1);
}

#[test]
fn med_and_local_pref_bad_length_are_treat_as_withdraw() {
    let m = update(&[], &attrs_with(&[0x80, 4, 3, 0, 0, 1]), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::MED, Action::TreatAsWithdraw)
    );
    let m = update(&[], &attrs_with(&[0x40, 5, 5, 0, 0, 0, 0, 1]), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::LOCAL_PREF, Action::TreatAsWithdraw)
    );
}

#[test]
fn atomic_aggregate_and_aggregator_bad_length_are_discarded() {
    let m = update(&[], &attrs_with(&[0x40, 6, 1, 0]), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::ATOMIC_AGGREGATE, Action::AttributeDiscard)
    );
    let six = [0xc0, 7, 6, 0xfd, 0xe9, 10, 0, 0, 1];
    let m = update(&[], &attrs_with(&six), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::AGGREGATOR, Action::AttributeDiscard)
    );
    let eight = [0xc0, 7, 8, 0, 0, 0xfd, 0xe9, 10, 0, 0, 1];
    let (u, _) = issues(&update(&[], &attrs_with(&eight), &NLRI), &c4());
    assert!(
        u.attributes
            .iter()
            .any(|a| matches!(a.value, AttrValue::Aggregator { asn: 65001, .. }))
    );
    // Eight octets on a 2-octet session (AS_PATH in 2-octet form there).
    let a = [
        &ORIGIN[..],
        &[0x40, 2, 4, 2, 1, 0xfd, 0xe9],
        &NEXT_HOP,
        &eight,
    ]
    .concat();
    let m = update(&[], &a, &NLRI);
    assert_eq!(
        one_issue(&m, &c2()),
        (AttrType::AGGREGATOR, Action::AttributeDiscard)
    );
    // The discarded attribute is gone, the routes stay announced.
    let (u, i) = issues(&m, &c2());
    assert_eq!(u.attributes.len(), 3);
    assert_eq!(routes(&u, &i)[0].announced.len(), 1);
}

#[test]
fn communities_not_a_multiple_of_4_or_12_are_treat_as_withdraw() {
    for c in [&[0xc0u8, 8, 5, 0, 0, 0, 1, 2][..], &[0xc0, 8, 0]] {
        let m = update(&[], &attrs_with(c), &NLRI);
        assert_eq!(
            one_issue(&m, &c4()),
            (AttrType::COMMUNITIES, Action::TreatAsWithdraw)
        );
    }
    let mut large = vec![0xc0, 32, 13];
    large.extend_from_slice(&[1; 13]);
    let m = update(&[], &attrs_with(&large), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::LARGE_COMMUNITIES, Action::TreatAsWithdraw)
    );
}

#[test]
fn missing_well_known_mandatory_attributes_are_treat_as_withdraw() {
    let m = update(&[], &[&ORIGIN[..], &NEXT_HOP].concat(), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::AS_PATH, Action::TreatAsWithdraw)
    );
    let m = update(&[], &[&ORIGIN[..], &AS_PATH].concat(), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::NEXT_HOP, Action::TreatAsWithdraw)
    );
    // MP_REACH_NLRI only: ORIGIN and AS_PATH needed, NEXT_HOP not.
    let reach = v6_reach(0x80);
    let m = update(&[], &[&AS_PATH[..], &reach].concat(), &[]);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::ORIGIN, Action::TreatAsWithdraw)
    );
    let m = update(&[], &[&ORIGIN[..], &AS_PATH, &reach].concat(), &[]);
    assert!(issues(&m, &c4()).1.is_empty());
    // Nothing announced, nothing mandatory.
    assert!(issues(&update(&NLRI, &[], &[]), &c4()).1.is_empty());
}

#[test]
fn attribute_flags_conflict_is_treat_as_withdraw() {
    // ORIGIN marked optional; MED marked transitive; COMMUNITIES marked
    // well-known.
    for (a, t) in [
        ([0xc0u8, 1, 1, 0].to_vec(), AttrType::ORIGIN),
        ([0xc0, 4, 4, 0, 0, 0, 1].to_vec(), AttrType::MED),
        ([0x40, 8, 4, 0, 0, 0, 1].to_vec(), AttrType::COMMUNITIES),
    ] {
        let list = if t == AttrType::ORIGIN {
            [&a[..], &AS_PATH, &NEXT_HOP].concat()
        } else {
            attrs_with(&a)
        };
        let m = update(&[], &list, &NLRI);
        assert_eq!(one_issue(&m, &c4()), (t, Action::TreatAsWithdraw));
    }
    // The Partial bit and the unused low bits are not checked.
    let m = update(&[], &attrs_with(&[0xe3, 8, 4, 0, 0, 0, 1]), &NLRI);
    assert!(issues(&m, &c4()).1.is_empty());
}

#[test]
fn mp_reach_with_bad_flags_is_kept_so_its_prefixes_are_withdrawn() {
    let reach = v6_reach(0xc0);
    let m = update(&[], &[&ORIGIN[..], &AS_PATH, &reach].concat(), &[]);
    let (u, i) = issues(&m, &c4());
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::MP_REACH_NLRI, Action::TreatAsWithdraw)
    );
    let r = routes(&u, &i);
    assert_eq!(
        r[0].withdrawn,
        vec!["2001:db8::/32".parse::<IpNet>().unwrap()]
    );
    assert!(r[0].announced.is_empty() && r[0].attrs.is_none());
}

#[test]
fn duplicates_other_than_mp_keep_the_first() {
    let c1 = [0xc0, 8, 4, 0, 0, 0, 1];
    let c2 = [0xc0, 8, 4, 0, 0, 0, 2];
    let m = update(&[], &attrs_with(&[&c1[..], &c2].concat()), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::COMMUNITIES, Action::AttributeDiscard)
    );
    let (u, _) = issues(&m, &c4());
    let comms: Vec<_> = u
        .attributes
        .iter()
        .filter_map(|a| match &a.value {
            AttrValue::Communities(c) => Some(c[0].0),
            _ => None,
        })
        .collect();
    assert_eq!(comms, vec![1]);
}

#[test]
fn attribute_lengths_not_adding_up_are_treat_as_withdraw() {
    // RFC 7606 §4, first case: the last attribute overruns the Total Path
    // Attribute Length; the NLRI is still found and withdrawn.
    let mut a = attrs_with(&[]);
    a.extend_from_slice(&[0xc0, 8, 8, 0, 0, 0, 1]); // 4 of 8 octets
    let m = update(&[], &a, &NLRI);
    let (u, i) = issues(&m, &c4());
    assert_eq!(
        (i[0].type_code, i[0].action),
        (AttrType::COMMUNITIES, Action::TreatAsWithdraw)
    );
    assert_eq!(u.nlri, vec!["192.0.2.0/24".parse().unwrap()]);
    let r = routes(&u, &i);
    assert_eq!(
        r[0].withdrawn,
        vec!["192.0.2.0/24".parse::<IpNet>().unwrap()]
    );
    // Second case: fewer than 3 octets remain.
    let mut a = attrs_with(&[]);
    a.extend_from_slice(&[0xc0, 8]);
    let (_, i) = issues(&update(&[], &a, &NLRI), &c4());
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].action, Action::TreatAsWithdraw);
    // With Extended Length, fewer than 4.
    let mut a = attrs_with(&[]);
    a.extend_from_slice(&[0xd0, 8, 0]);
    let (_, i) = issues(&update(&[], &a, &NLRI), &c4());
    assert_eq!(i[0].action, Action::TreatAsWithdraw);
}

#[test]
fn as4_attributes() {
    // On a 4-octet session (RFC 6793 §4.1): discarded.
    let as4 = [0xc0, 17, 6, 2, 1, 0, 0, 0xfd, 0xe9];
    let m = update(&[], &attrs_with(&as4), &NLRI);
    assert_eq!(
        one_issue(&m, &c4()),
        (AttrType::AS4_PATH, Action::AttributeDiscard)
    );
    // On a 2-octet session, malformed ones are discarded.
    let path2 = [0x40, 2, 4, 2, 1, 0x5b, 0xa0];
    let base = [&ORIGIN[..], &path2, &NEXT_HOP].concat();
    let bad_as4 = [0xc0, 17, 5, 2, 1, 0, 0, 0xfd];
    let m = update(&[], &[&base[..], &bad_as4].concat(), &NLRI);
    assert_eq!(
        one_issue(&m, &c2()),
        (AttrType::AS4_PATH, Action::AttributeDiscard)
    );
    let bad_agg = [0xc0, 18, 7, 0, 0, 0xfd, 0xe9, 10, 0, 0];
    let m = update(&[], &[&base[..], &bad_agg].concat(), &NLRI);
    assert_eq!(
        one_issue(&m, &c2()),
        (AttrType::AS4_AGGREGATOR, Action::AttributeDiscard)
    );
    // A good one is merged by routes().
    let as4 = [0xc0, 17, 6, 2, 1, 0xfa, 0x56, 0xea, 0];
    let (u, i) = issues(&update(&[], &[&base[..], &as4].concat(), &NLRI), &c2());
    assert!(i.is_empty());
    let a = routes(&u, &i).remove(0).attrs.unwrap();
    assert_eq!(
        a.as_path.to_segments(),
        vec![vcpe_bgp::model::AsSegment::Sequence(vec![4_200_000_000])]
    );
}

#[test]
fn treat_as_withdraw_withdraws_the_whole_update() {
    let m = update(
        &[24, 10, 1, 1],
        &[&[0x40u8, 1, 1, 9][..], &AS_PATH, &NEXT_HOP].concat(),
        &NLRI,
    );
    let (u, i) = issues(&m, &c4());
    let r = routes(&u, &i);
    assert_eq!(r.len(), 1);
    let w: Vec<String> = r[0].withdrawn.iter().map(|n| n.to_string()).collect();
    assert_eq!(w, vec!["10.1.1.0/24", "192.0.2.0/24"]);
    assert!(r[0].announced.is_empty());
    assert!(r[0].attrs.is_none());
}

// ---- RFC 7313 §5: ROUTE-REFRESH ----

#[test]
fn route_refresh_of_bad_length_is_7_1_with_the_message() {
    let m = msg(5, &[0, 1, 1, 1, 0]);
    assert_eq!(notification(&m, &c4()), (7, 1, m.clone()));
    // Unknown subtypes decode (to be ignored by the FSM).
    let (m, _) = decode(&msg(5, &[0, 1, 9, 1]), &c4()).unwrap();
    assert!(matches!(m, Message::RouteRefresh { subtype: 9, .. }));
}
