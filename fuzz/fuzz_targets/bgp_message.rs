//! A whole BGP message (header included) under every codec context that
//! changes decoding: 2- or 4-octet AS, ADD-PATH receive on IPv4/IPv6
//! unicast or not, classic or extended message size. A decoded message
//! must re-encode (same context, ADD-PATH send = receive) and decode back
//! to the same value.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use vcpe_bgp::model::{AddPath, AddPathFamilies};
use vcpe_bgp::wire::{Ctx, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN, decode};

fuzz_target!(|data: &[u8]| {
    for flags in 0u8..8 {
        let families = if flags & 2 != 0 {
            AddPathFamilies::UNICAST
        } else {
            AddPathFamilies::NONE
        };
        let ctx = Ctx {
            four_octet_as: flags & 1 != 0,
            max_message_len: if flags & 4 != 0 {
                MAX_EXTENDED_MESSAGE_LEN
            } else {
                MAX_MESSAGE_LEN
            },
            add_path: AddPath {
                receive: families,
                send: families,
            },
        };
        let Ok((msg, _issues)) = decode(data, &ctx) else {
            continue;
        };
        let mut out = BytesMut::new();
        if msg.encode(&ctx, &mut out).is_ok() {
            let (back, _) = decode(&out, &ctx).expect("a message we encoded decodes");
            assert_eq!(back, msg, "decode(encode(m)) != m");
        }
    }
});
