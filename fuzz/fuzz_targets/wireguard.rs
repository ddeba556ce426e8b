//! A WireGuard datagram as received on the tunnel socket: message typing,
//! receiver index, initiator lookup (one X25519 per initiation) and the
//! peer's decapsulation (gotatun's Noise core behind our framing).
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use vcpe_forwarding::tunnel::wireguard::{
    WgConfig, WgPeer, initiator_public_key, message_type, public_key, receiver_index,
};

const OUR_KEY: [u8; 32] = [0x11; 32];
const PEER_KEY: [u8; 32] = [0x22; 32];

fuzz_target!(|data: &[u8]| {
    let _ = message_type(data);
    let _ = receiver_index(data);
    let _ = initiator_public_key(&OUR_KEY, data);
    let mut peer = WgPeer::new(WgConfig {
        private_key: OUR_KEY,
        peer_public_key: public_key(&PEER_KEY),
        preshared_key: None,
        persistent_keepalive: None,
    });
    let src = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 51820));
    let mut out = Vec::new();
    let _ = peer.decapsulate(src, data, &mut out);
});
