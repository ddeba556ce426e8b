//! A GRE packet as received on the raw protocol-47 socket (after the outer
//! IP header). A decoded header re-encodes and decodes to the same header
//! and payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vcpe_forwarding::tunnel::gre;

fuzz_target!(|data: &[u8]| {
    let Ok((header, payload)) = gre::decode(data) else {
        return;
    };
    let mut out = Vec::new();
    gre::encode(&header, payload, &mut out);
    let (back, back_payload) = gre::decode(&out).expect("an encoded GRE packet decodes");
    assert_eq!(back, header);
    assert_eq!(back_payload, payload);
});
