//! A VXLAN datagram (UDP payload): framing, and the ARP / neighbour
//! solicitation answers. The VNI is taken from the datagram itself so that
//! decoding gets past the VNI check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vcpe_forwarding::tunnel::vxlan;

const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

fuzz_target!(|data: &[u8]| {
    let vni = match data.get(4..7) {
        Some(v) => u32::from_be_bytes([0, v[0], v[1], v[2]]),
        None => 1,
    };
    if let Ok(decoded) = vxlan::decode(data, vni)
        && let vxlan::Frame::Ip { start } = decoded.frame
    {
        assert!(start <= data.len());
    }
    if let Some(reply) = vxlan::answer(data, vni, OUR_MAC) {
        let back = vxlan::decode(&reply, vni).expect("our own answer decodes");
        assert_eq!(back.src_mac, OUR_MAC);
    }
});
