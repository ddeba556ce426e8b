//! FSM tests: sessions scripted back to back in memory with a fake clock
//! ([`pair::Pair`] for two [`Session`]s, [`net::Net`] for two [`Peer`]s
//! with several connections), and single sessions fed crafted messages.

mod backoff;
mod collision;
mod collision_race;
mod errors;
mod establish;
mod hold;
mod net;
mod open_errors;
mod pair;
mod race;
mod send_hold;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;
use crate::model::{Message, Notification, Open};

/// AS 65001, id 10.0.0.1, active, talking to AS 65002 at 192.0.2.2.
fn config_a() -> SessionConfig {
    SessionConfig::new(
        65001,
        Ipv4Addr::new(10, 0, 0, 1),
        65002,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    )
}

/// AS 65002, id 10.0.0.2, passive, talking to AS 65001 at 192.0.2.1.
fn config_b() -> SessionConfig {
    let mut c = SessionConfig::new(
        65002,
        Ipv4Addr::new(10, 0, 0, 2),
        65001,
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
    );
    c.passive = true;
    c
}

/// The OPEN `config` sends.
fn open_of(config: &SessionConfig) -> Open {
    build_open(config)
}

/// A started session of `config` that just connected and sent its OPEN:
/// OpenSent, outputs drained.
fn open_sent(config: SessionConfig, now: Instant) -> Session {
    let mut s = Session::new(config);
    s.handle_input(now, Input::Start);
    s.handle_input(now, Input::Connected);
    drain(&mut s);
    assert_eq!(s.state(), State::OpenSent);
    s
}

/// Every queued output.
fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

/// The NOTIFICATIONs among `outputs`.
fn notifications(outputs: &[Output]) -> Vec<Notification> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(Message::Notification(n)) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

/// The Down among `outputs` (exactly one expected).
fn the_down(outputs: &[Output]) -> Down {
    let downs: Vec<&Down> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Down(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(downs.len(), 1, "one Down expected in {outputs:?}");
    downs[0].clone()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
