//! Two active speakers started at the same instant, 100 seeded schedules
//! of connects, accepts and message deliveries ([`Race`]): every one ends
//! with one Established session within a few milliseconds of fake time,
//! without a connect retry, on the connection RFC 4271 §6.8 (RFC 6286
//! §2.3 for equal identifiers) says survives.

use super::net::End;
use super::race::{Race, Rng};
use super::*;

/// How far the fake clock may move before the session must be up: far
/// below any connect-retry or idle-hold wait.
const BUDGET: Duration = Duration::from_millis(5);

/// Two active peers for `seed`: identifiers and AS numbers drawn so that
/// either side may win, sometimes with equal identifiers (eBGP, RFC 6286).
fn speakers(rng: &mut Rng) -> (SessionConfig, SessionConfig) {
    let mut x = config_a();
    let mut y = config_b();
    y.passive = false;
    x.local_id = Ipv4Addr::new(10, 0, 0, 1 + rng.below(9) as u8);
    y.local_id = match rng.below(4) {
        // Equal identifiers: the larger AS number's connection survives.
        0 => x.local_id,
        _ => loop {
            let id = Ipv4Addr::new(10, 0, 0, 1 + rng.below(9) as u8);
            if id != x.local_id {
                break id;
            }
        },
    };
    if rng.below(2) == 0 {
        std::mem::swap(&mut x.local_as, &mut y.local_as);
        std::mem::swap(&mut x.peer_as, &mut y.peer_as);
    }
    x.jitter_seed = rng.next();
    y.jitter_seed = rng.next();
    (x, y)
}

/// Who initiated the connection that survives: the side with the higher
/// identifier, or with equal identifiers the larger AS.
fn winner(x: &SessionConfig, y: &SessionConfig) -> End {
    match collision_winner_by_as(x.local_id, x.local_as, y.local_id, y.local_as) {
        Collision::KeepLocal => End::X,
        Collision::KeepRemote => End::Y,
    }
}

fn race(seed: u64, lose_notifications: bool) {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (x, y) = speakers(&mut rng);
    let expected = winner(&x, &y);
    let mut race = Race::new(Peer::new(x), Peer::new(y), rng.next(), BUDGET);
    race.lose_notifications = lose_notifications;
    race.run();

    let elapsed = race.now - race.start;
    let Some(conn) = race.established() else {
        panic!(
            "seed {seed}: no session after {elapsed:?} (only timers left: x {} {:?}, y {} {:?}):\n{}",
            race.x.state(),
            race.x.last_error(),
            race.y.state(),
            race.y.last_error(),
            race.transcript()
        );
    };
    let initiator = conn.initiator;
    assert!(elapsed <= BUDGET, "seed {seed}: {elapsed:?}");
    // Both connected once and never again: no connect retry.
    for (p, name) in [(&race.x, "x"), (&race.y, "y")] {
        assert_eq!(
            p.counters().connect_attempts,
            1,
            "seed {seed}: {name} retried:\n{}",
            race.transcript()
        );
        // A side that saw the session on the losing connection Established
        // before the winner's OPEN arrived comes up a second time.
        assert!(
            (1..=2).contains(&p.counters().established_transitions),
            "seed {seed}: {name} came up {} times:\n{}",
            p.counters().established_transitions,
            race.transcript()
        );
        assert_eq!(
            p.connections().len(),
            1,
            "seed {seed}: {name} {:?}:\n{}",
            p.connections(),
            race.transcript()
        );
    }
    // RFC 4271 §6.8 (RFC 6286 §2.3): unless an Established session was
    // already up, only the connection initiated by the loser is closed.
    for c in &race.ceases {
        assert!(
            c.against_established || c.initiator != expected,
            "seed {seed}: {c:?} closed the winner's connection:\n{}",
            race.transcript()
        );
    }
    if !race.ceases.is_empty() && race.ceases.iter().all(|c| !c.against_established) {
        assert_eq!(initiator, expected, "seed {seed}:\n{}", race.transcript());
    }

    // The survivor holds: keepalives for 90 s, no further transitions.
    let ups = |r: &Race| {
        (
            r.x.counters().established_transitions,
            r.y.counters().established_transitions,
        )
    };
    let before = ups(&race);
    race.run_for(Duration::from_secs(90));
    assert!(race.established().is_some(), "seed {seed}: lost after");
    assert_eq!(ups(&race), before, "seed {seed}");
}

#[test]
fn two_speakers_started_together_establish_without_a_connect_retry_in_100_schedules() {
    for seed in 0..100 {
        race(seed, false);
    }
}

/// The same when the Cease 6/7 may not arrive: a socket closed with
/// unread data sends a TCP reset, and the peer sees a bare close.
#[test]
fn the_same_when_collision_notifications_get_lost_in_a_reset() {
    for seed in 0..100 {
        race(seed, true);
    }
}
