//! Keyed SHA1 between two sessions: up with the same key, refused and
//! counted with another or without.

use super::*;

fn sha1_config(secret: &[u8], meticulous: bool) -> SessionConfig {
    SessionConfig {
        auth: Some(crate::session::AuthKey {
            key_id: 1,
            secret: secret.to_vec(),
            meticulous,
        }),
        ..SessionConfig::default()
    }
}

#[test]
fn keyed_sha1_sessions_come_up_and_detect_a_silent_peer() {
    for meticulous in [false, true] {
        let mut p = Pair::new(sha1_config(b"secret", meticulous));
        p.run_until(Duration::from_secs(3));
        assert_eq!(p.state(&p.a), State::Up, "meticulous {meticulous}");
        assert_eq!(p.state(&p.b), State::Up);
        let (_, last) = p.a.sent.last().expect("sent");
        assert!(matches!(
            last.auth,
            Some(wire::Auth::Sha1 { meticulous: m, key_id: 1, .. }) if m == meticulous
        ));
        // Sequence numbers go up packet by packet.
        let seqs: Vec<u32> =
            p.a.sent
                .iter()
                .filter_map(|(_, pk)| match pk.auth {
                    Some(wire::Auth::Sha1 { seq, .. }) => Some(seq),
                    _ => None,
                })
                .collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        let t = p.elapsed();
        p.b_frozen = true;
        p.run_until(t + Duration::from_secs(2));
        assert_eq!(p.state(&p.a), State::Down);
    }
}

#[test]
fn sha1_with_different_keys_never_comes_up_and_counts_the_digest_drops() {
    let now = Instant::now();
    let mut a = Sessions::new(1);
    let mut b = Sessions::new(2);
    let key = |peer| SessionKey {
        peer,
        local: None,
        path: PathKind::SingleHop,
    };
    let ia = a.add(now, key(B), sha1_config(b"one", false));
    b.add(now, key(A), sha1_config(b"two", false));
    let t = b.poll_transmit().expect("b sends");
    assert!(a.handle_packet(now, received(B, A), &t.bytes).is_err());
    assert_eq!(a.drops().get("auth_digest"), Some(&1));
    // And an unauthenticated peer is refused too.
    let mut plain = Sessions::new(3);
    plain.add(now, key(A), SessionConfig::default());
    let t = plain.poll_transmit().expect("sends");
    assert!(a.handle_packet(now, received(B, A), &t.bytes).is_err());
    assert_eq!(a.drops().get("auth_missing"), Some(&1));
    assert_eq!(a.view(ia).map(|v| v.state), Some(State::Down));
}
