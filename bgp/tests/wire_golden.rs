//! Golden bytes from real implementations: the 92 messages BIRD 2
//! (10.99.0.1, AS 65001), GoBGP (10.99.0.2), FRR (10.99.0.3) and OpenBGPD
//! (10.99.0.4) exchanged in the interop mesh (`tests/data/msgs`, copied
//! from `shared/testdata/bgp/msgs`; `interop-4daemons.txt` there is the
//! tcpdump decode).
//!
//! Every message decodes on a 4-octet AS session without an RFC 7606 issue
//! and re-encodes byte-exact: all 92 are canonical for our encoder (FRR's
//! per-capability OPEN and its Extended Length AS_PATH flags included,
//! thanks to `ParamLayout` and the flags kept per attribute).

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use bytes::BytesMut;
use ipnet::IpNet;
use vcpe_bgp::model::{
    AddrFamily, AsPath, AttrFlags, AttrValue, Capability, GracefulRestart, Message, Open, Origin,
    ParamLayout, Update,
};
use vcpe_bgp::wire::{Ctx, decode, frame_len, routes};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/msgs")
}

/// (file name, bytes) of every golden message, sorted by name.
fn golden() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn read(name: &str) -> Message {
    let bytes = fs::read(dir().join(name)).unwrap();
    let (m, issues) = decode(&bytes, &Ctx::default()).unwrap();
    assert!(issues.is_empty());
    m
}

fn open(name: &str) -> Open {
    match read(name) {
        Message::Open(o) => o,
        m => panic!("{name}: {m:?}"),
    }
}

fn update(name: &str) -> Update {
    match read(name) {
        Message::Update(u) => u,
        m => panic!("{name}: {m:?}"),
    }
}

#[test]
fn every_golden_message_decodes_cleanly_and_reencodes_byte_exact() {
    let ctx = Ctx::default();
    let all = golden();
    assert_eq!(all.len(), 92);
    // index.tsv: source, destination, sequence, type, length.
    let index = fs::read_to_string(dir().join("index.tsv")).unwrap();
    assert_eq!(index.lines().count(), all.len());
    for line in index.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let name = format!("{}-to-{}-{:0>2}-{}.bin", f[0], f[1], f[2], f[3]);
        let (_, bytes) = all.iter().find(|(n, _)| *n == name).unwrap();
        assert_eq!(bytes.len().to_string(), f[4], "{name}");
    }
    for (name, bytes) in &all {
        assert_eq!(frame_len(bytes, &ctx), Ok(Some(bytes.len())), "{name}");
        let (m, issues) = decode(bytes, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(issues.is_empty(), "{name}: {issues:?}");
        // The file name says the type (…-00-OPEN.bin).
        assert!(
            name.ends_with(&format!("-{}.bin", m.name())),
            "{name}: {}",
            m.name()
        );
        let mut out = BytesMut::new();
        m.encode(&ctx, &mut out).unwrap();
        assert_eq!(&out[..], &bytes[..], "{name} does not re-encode byte-exact");
    }
}

#[test]
fn the_stream_of_one_session_frames_message_by_message() {
    // BIRD -> OpenBGPD, concatenated as on the TCP connection.
    let ctx = Ctx::default();
    let mut stream = Vec::new();
    let parts: Vec<Vec<u8>> = golden()
        .into_iter()
        .filter(|(n, _)| n.starts_with("10.99.0.1-to-10.99.0.4-"))
        .map(|(_, b)| b)
        .collect();
    parts.iter().for_each(|p| stream.extend_from_slice(p));
    let mut at = 0;
    let mut n = 0;
    while at < stream.len() {
        // Waits while the header is incomplete.
        assert_eq!(frame_len(&stream[at..at + 10], &ctx), Ok(None));
        let len = frame_len(&stream[at..], &ctx).unwrap().unwrap();
        assert_eq!(&stream[at..at + len], &parts[n][..]);
        decode(&stream[at..at + len], &ctx).unwrap();
        at += len;
        n += 1;
    }
    assert_eq!(n, 9);
}

#[test]
fn bird_open_has_all_capabilities_in_one_parameter() {
    let o = open("10.99.0.1-to-10.99.0.2-00-OPEN.bin");
    assert_eq!(o.version, 4);
    assert_eq!(o.asn(), 65001);
    assert_eq!(o.my_as, 65001);
    assert_eq!(o.hold_time, 30);
    assert_eq!(o.bgp_id, Ipv4Addr::new(10, 99, 0, 1));
    assert_eq!(o.layout, ParamLayout::Single);
    assert_eq!(
        o.capabilities,
        vec![
            Capability::Multiprotocol(AddrFamily::IPV4_UNICAST),
            Capability::RouteRefresh,
            Capability::GracefulRestart(GracefulRestart {
                flags: 0,
                restart_time: 120,
                families: vec![],
            }),
            Capability::FourOctetAs(65001),
            Capability::EnhancedRouteRefresh,
            Capability::Unknown {
                code: 71,
                value: vec![]
            },
        ]
    );
    assert!(o.route_refresh());
    assert_eq!(o.families(), vec![AddrFamily::IPV4_UNICAST]);
}

#[test]
fn frr_open_has_one_parameter_per_capability() {
    let o = open("10.99.0.3-to-10.99.0.1-00-OPEN.bin");
    assert_eq!((o.asn(), o.hold_time), (65003, 180));
    assert_eq!(o.bgp_id, Ipv4Addr::new(10, 99, 0, 3));
    assert_eq!(o.layout, ParamLayout::PerCapability);
    assert_eq!(o.capabilities.len(), 10);
    let codes: Vec<u8> = o.capabilities.iter().map(Capability::code).collect();
    assert_eq!(codes, vec![1, 128, 2, 70, 65, 6, 69, 73, 64, 71]);
    assert_eq!(
        o.graceful_restart(),
        Some(&GracefulRestart {
            flags: 0xc,
            restart_time: 120,
            families: vec![],
        })
    );
    // The FQDN capability (73) is kept raw: "frr-bgpr".
    assert!(o.capabilities.contains(&Capability::Unknown {
        code: 73,
        value: b"\x08frr-bgpr\x00".to_vec()
    }));
}

#[test]
fn gobgp_and_openbgpd_opens() {
    let g = open("10.99.0.2-to-10.99.0.1-00-OPEN.bin");
    assert_eq!(
        (g.asn(), g.hold_time, g.layout),
        (65002, 30, ParamLayout::Single)
    );
    assert_eq!(g.capabilities[0], Capability::RouteRefresh);
    let b = open("10.99.0.4-to-10.99.0.1-00-OPEN.bin");
    assert_eq!((b.asn(), b.hold_time), (65004, 90));
    assert_eq!(b.graceful_restart().map(|g| g.flags), Some(0x8));
}

#[test]
fn bird_update_prefix_path_and_next_hop() {
    let u = update("10.99.0.1-to-10.99.0.2-02-UPDATE.bin");
    assert_eq!(u.nlri, vec!["192.0.2.0/24".parse().unwrap()]);
    assert!(u.withdrawn.is_empty());
    let r = routes(&u, &[]);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].announced,
        vec!["192.0.2.0/24".parse::<IpNet>().unwrap()]
    );
    let a = r[0].attrs.as_ref().unwrap();
    assert_eq!(a.origin, Origin::Igp);
    assert_eq!(a.as_path, AsPath::sequence(vec![65001]));
    assert_eq!(a.next_hop, Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1))));
    assert_eq!(a.med, None);
}

#[test]
fn frr_update_with_extended_length_flag_and_med() {
    let u = update("10.99.0.3-to-10.99.0.1-04-UPDATE.bin");
    assert_eq!(u.attributes[1].flags, AttrFlags(0x50));
    assert_eq!(
        u.attributes[1].value,
        AttrValue::AsPath(AsPath::sequence(vec![65003]))
    );
    assert_eq!(u.attributes[3].value, AttrValue::Med(0));
    let r = routes(&u, &[]);
    assert_eq!(
        r[0].announced,
        vec!["203.0.113.0/24".parse::<IpNet>().unwrap()]
    );
    let a = r[0].attrs.as_ref().unwrap();
    assert_eq!(a.med, Some(0));
    assert_eq!(a.next_hop, Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 3))));
    // A longer path FRR passed on: 65003 65004 65001.
    let u = update("10.99.0.3-to-10.99.0.1-03-UPDATE.bin");
    let a = routes(&u, &[]).remove(0).attrs.unwrap();
    assert_eq!(a.as_path, AsPath::sequence(vec![65003, 65004, 65001]));
}

#[test]
fn empty_updates_are_ipv4_end_of_rib() {
    let mut n = 0;
    for (name, bytes) in golden() {
        if bytes.len() == 23 {
            let (Message::Update(u), _) = decode(&bytes, &Ctx::default()).unwrap() else {
                panic!("{name}")
            };
            let r = routes(&u, &[]);
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].end_of_rib, Some(AddrFamily::IPV4_UNICAST), "{name}");
            n += 1;
        }
    }
    assert!(n >= 7);
}
