//! Fuzzes `wire::frame_len` and `wire::decode` on 4-octet and 2-octet
//! sessions: neither may panic, and whatever decodes must re-encode and
//! decode to the same message (decode -> encode -> decode round trip).
//!
//! Seed it with the golden captures (see ../README.md):
//! `cargo +nightly fuzz run decode fuzz/corpus/decode tests/data/msgs`

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use vcpe_bgp::model::{AddPath, AddPathFamilies};
use vcpe_bgp::wire::{Ctx, decode, frame_len};

fuzz_target!(|data: &[u8]| {
    let ctxs = [
        Ctx::default(),
        Ctx {
            four_octet_as: false,
            max_message_len: 65535,
            ..Ctx::default()
        },
        Ctx {
            add_path: AddPath {
                receive: AddPathFamilies::UNICAST,
                send: AddPathFamilies::UNICAST,
            },
            ..Ctx::default()
        },
    ];
    for ctx in ctxs {
        let _ = frame_len(data, &ctx);
        if let Ok((msg, _issues)) = decode(data, &ctx) {
            let mut out = BytesMut::new();
            msg.encode(&ctx, &mut out)
                .expect("a decoded message re-encodes");
            let (again, _) = decode(&out, &ctx).expect("a re-encoded message decodes");
            assert_eq!(again, msg, "decode -> encode -> decode changed the message");
        }
    }
});
