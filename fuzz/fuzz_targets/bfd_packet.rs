//! A BFD Control packet (UDP payload, RFC 5880 §4): a parsed packet emits
//! the bytes of its length and parses back to the same value.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use vcpe_bfd::wire::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = parse(data) else {
        return;
    };
    let mut out = BytesMut::new();
    packet.emit(&mut out);
    assert_eq!(out.len(), packet.len());
    assert_eq!(parse(&out).expect("an emitted packet parses"), packet);
});
