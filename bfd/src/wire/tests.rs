//! Golden bytes, round trips, the §6.8.6 checks one by one, and a
//! property test that parsing never panics.

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;

/// A packet in state Up, Detect Mult 3, 300 ms both ways, no Echo, laid
/// out by hand from the §4.1 diagram: version 1, diag 0 → 0x20; Sta=3,
/// no flags → 0xc0.
static UP_BYTES: [u8; 24] = [
    0x20, 0xc0, 0x03, 0x18, // vers/diag, flags, detect mult, length 24
    0x00, 0x00, 0x00, 0x2a, // my discriminator 42
    0x12, 0x34, 0x56, 0x78, // your discriminator
    0x00, 0x04, 0x93, 0xe0, // desired min tx 300000 µs
    0x00, 0x04, 0x93, 0xe0, // required min rx 300000 µs
    0x00, 0x00, 0x00, 0x00, // required min echo rx 0
];

fn up() -> ControlPacket {
    ControlPacket {
        diag: Diag::NONE,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discr: 42,
        your_discr: 0x1234_5678,
        desired_min_tx: 300_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

/// A Down packet with diag 1, P set and a Keyed SHA1 section (§4.4):
/// type 4, length 28, key id 5, reserved, sequence 7, 20 octets of hash.
fn sha1_bytes() -> Vec<u8> {
    let mut b = vec![
        0x21, 0x64, 0x05, 0x34, // v1 diag 1; Sta=1 P A; mult 5; length 52
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // discriminators
        0x00, 0x0f, 0x42, 0x40, 0x00, 0x0f, 0x42, 0x40, // 1 s, 1 s
        0x00, 0x00, 0x00, 0x00, // echo
        0x04, 0x1c, 0x05, 0x00, 0x00, 0x00, 0x00, 0x07,
    ];
    b.extend(1..=20u8);
    b
}

fn emitted(p: &ControlPacket) -> Vec<u8> {
    let mut out = BytesMut::new();
    p.emit(&mut out);
    assert_eq!(out.len(), p.len(), "written length is the computed length");
    out.to_vec()
}

#[test]
fn golden_up_packet_decodes() {
    assert_eq!(parse(&UP_BYTES), Ok(up()));
}

#[test]
fn golden_up_packet_encodes() {
    assert_eq!(emitted(&up()), UP_BYTES);
}

#[test]
fn golden_sha1_packet_round_trips() {
    let bytes = sha1_bytes();
    let p = parse(&bytes).expect("valid");
    assert_eq!(p.state, State::Down);
    assert_eq!(p.diag, Diag::CONTROL_DETECTION_TIME_EXPIRED);
    assert!(p.poll && !p.final_);
    assert_eq!(p.desired_min_tx, 1_000_000);
    let mut hash = [0; 20];
    for (i, h) in hash.iter_mut().enumerate() {
        *h = i as u8 + 1;
    }
    assert_eq!(
        p.auth,
        Some(Auth::Sha1 {
            meticulous: false,
            key_id: 5,
            seq: 7,
            hash
        })
    );
    assert_eq!(emitted(&p), bytes);
}

#[test]
fn every_auth_type_round_trips() {
    for auth in [
        Auth::SimplePassword {
            key_id: 1,
            password: b"secret".to_vec(),
        },
        Auth::Md5 {
            meticulous: true,
            key_id: 2,
            seq: 99,
            digest: [0xab; 16],
        },
        Auth::Sha1 {
            meticulous: true,
            key_id: 3,
            seq: u32::MAX,
            hash: [0xcd; 20],
        },
        Auth::Other {
            auth_type: 77,
            data: vec![1, 2, 3],
        },
    ] {
        let p = ControlPacket {
            auth: Some(auth),
            ..up()
        };
        assert_eq!(parse(&emitted(&p)), Ok(p));
    }
}

#[test]
fn trailing_bytes_beyond_the_length_field_are_ignored() {
    let mut b = UP_BYTES.to_vec();
    b.extend_from_slice(&[0xff; 8]);
    assert_eq!(parse(&b), Ok(up()));
}

/// UP_BYTES with one octet replaced.
fn with(i: usize, v: u8) -> Vec<u8> {
    let mut b = UP_BYTES.to_vec();
    b[i] = v;
    b
}

#[test]
fn the_6_8_6_checks_each_have_their_error() {
    assert_eq!(
        parse(&UP_BYTES[..23]),
        Err(PacketError::Truncated { len: 23 })
    );
    assert_eq!(parse(&with(0, 0x40)), Err(PacketError::Version(2)));
    assert_eq!(
        parse(&with(3, 23)),
        Err(PacketError::LengthTooSmall {
            length: 23,
            min: 24
        })
    );
    // A bit set with length 24: the minimum is 26.
    assert_eq!(
        parse(&with(1, 0xc4)),
        Err(PacketError::LengthTooSmall {
            length: 24,
            min: 26
        })
    );
    assert_eq!(
        parse(&with(3, 25)),
        Err(PacketError::LengthBeyondPayload {
            length: 25,
            payload: 24
        })
    );
    assert_eq!(parse(&with(2, 0)), Err(PacketError::ZeroDetectMult));
    assert_eq!(parse(&with(1, 0xc1)), Err(PacketError::Multipoint));
    let mut b = UP_BYTES.to_vec();
    b[4..8].fill(0);
    assert_eq!(parse(&b), Err(PacketError::ZeroMyDiscriminator));
    let mut b = UP_BYTES.to_vec();
    b[8..12].fill(0);
    assert_eq!(
        parse(&b),
        Err(PacketError::ZeroYourDiscriminator(State::Up))
    );
    // ... but Down with your discriminator 0 is how every session starts.
    b[1] = 0x40;
    assert_eq!(parse(&b).map(|p| p.state), Ok(State::Down));
    assert_eq!(parse(&with(1, 0xf0)), Err(PacketError::PollAndFinal));
}

#[test]
fn a_bad_auth_section_is_an_error() {
    let mut b = sha1_bytes();
    b[25] = 27; // auth len disagrees with the packet length
    assert!(matches!(parse(&b), Err(PacketError::Auth(_))));
    let mut b = sha1_bytes();
    b.truncate(51);
    b[3] = 51;
    b[25] = 27; // SHA1 with a 19-octet hash
    assert!(matches!(parse(&b), Err(PacketError::Auth(_))));
}

fn any_auth() -> impl Strategy<Value = Option<Auth>> {
    prop_oneof![
        Just(None),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 1..=16))
            .prop_map(|(key_id, password)| Some(Auth::SimplePassword { key_id, password })),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(
            |(meticulous, key_id, seq, hash)| Some(Auth::Sha1 {
                meticulous,
                key_id,
                seq,
                hash
            })
        ),
    ]
}

proptest! {
    #[test]
    fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn parsing_mutated_valid_packets_never_panics(
        i in 0usize..52, v in any::<u8>(), cut in 0usize..53,
    ) {
        let mut b = sha1_bytes();
        b[i] = v;
        b.truncate(cut);
        let _ = parse(&b);
    }

    #[test]
    fn valid_packets_round_trip(
        diag in 0u8..32, state in 0u8..4, poll in any::<bool>(), cpi in any::<bool>(),
        mult in 1u8.., my in 1u32.., your in any::<u32>(),
        tx in any::<u32>(), rx in any::<u32>(), echo in any::<u32>(),
        auth in any_auth(),
    ) {
        let state = State::from_code(state);
        let your = if matches!(state, State::Down | State::AdminDown) { your } else { your.max(1) };
        let p = ControlPacket {
            diag: Diag(diag), state, poll, final_: !poll && cpi,
            control_plane_independent: cpi, demand: false, multipoint: false,
            detect_mult: mult, my_discr: my, your_discr: your,
            desired_min_tx: tx, required_min_rx: rx, required_min_echo_rx: echo, auth,
        };
        let b = emitted(&p);
        prop_assert_eq!(parse(&b), Ok(p));
    }
}
