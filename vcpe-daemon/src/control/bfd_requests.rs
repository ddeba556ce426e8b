//! `vcpectl bfd`: the BFD task's snapshot mapped to the API's
//! [`BfdSession`]s.

use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use vcpe_api::{BfdDown, BfdSession, Reply};

use crate::bfd_driver::{BfdHandle, Command, SessionInfo, Snapshot};

/// Asks the BFD task for its snapshot (control handlers run on a blocking
/// thread; `block_in_place` as in `bgp_requests::ask`).
pub(crate) fn snapshot(bfd: &BfdHandle) -> Result<Snapshot, String> {
    let (tx, rx) = oneshot::channel();
    if !bfd.send(Command::Snapshot(tx)) {
        return Err("the BFD task has stopped; see the vcped log, then restart vcped".to_owned());
    }
    tokio::task::block_in_place(|| {
        let rt = tokio::runtime::Handle::current();
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), rx).await })
    })
    .map_err(|_| "the BFD task did not answer within 5 s; try again".to_owned())?
    .map_err(|_| "the BFD task dropped the request; see the vcped log".to_owned())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One session in API form.
pub(crate) fn session(s: &SessionInfo, snap: &Snapshot) -> BfdSession {
    let v = &s.view;
    BfdSession {
        peer: s.key.peer.to_string(),
        local: s.key.local.map(|a| a.to_string()),
        path: s.key.path.to_string(),
        source_port: s.source_port,
        state: v.state.to_string(),
        remote_state: v.remote_state.to_string(),
        since_secs: snap.now.saturating_duration_since(v.since).as_secs(),
        local_discriminator: v.local_discr,
        remote_discriminator: v.remote_discr,
        tx_interval_ms: ms(v.tx_interval),
        rx_interval_ms: ms(v.rx_interval),
        multiplier: v.detect_mult,
        remote_multiplier: v.remote_detect_mult,
        detection_time_ms: ms(v.detection_time),
        local_diag: v.local_diag.to_string(),
        remote_diag: v.remote_diag.to_string(),
        last_down: v.last_down.map(|(at, cause)| BfdDown {
            reason: cause.name().to_owned(),
            message: cause.to_string(),
            secs_ago: snap.now.saturating_duration_since(at).as_secs(),
        }),
        packets_in: v.packets_in,
        packets_out: v.packets_out,
        send_errors: s.send_errors,
        state_changes: s.state_changes,
        up_transitions: v.up_transitions,
        clients: s.clients.clone(),
    }
}

/// `vcpectl bfd` (no sessions when none is configured).
pub fn sessions(bfd: Option<&BfdHandle>) -> Reply {
    let Some(bfd) = bfd else {
        return Reply::BfdSessions {
            sessions: Vec::new(),
            drops: Default::default(),
        };
    };
    match snapshot(bfd) {
        Ok(snap) => {
            let mut sessions: Vec<BfdSession> =
                snap.sessions.iter().map(|s| session(s, &snap)).collect();
            sessions.sort_by_key(|s| s.peer.parse::<IpAddr>().ok());
            Reply::BfdSessions {
                sessions,
                drops: snap
                    .drops
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect(),
            }
        }
        Err(message) => Reply::Error { message },
    }
}

/// The BFD session to `peer`, for `vcpectl bgp neighbor`.
pub(crate) fn session_to(bfd: Option<&BfdHandle>, peer: IpAddr) -> Option<BfdSession> {
    let snap = snapshot(bfd?).ok()?;
    snap.sessions
        .iter()
        .find(|s| s.key.peer == peer)
        .map(|s| session(s, &snap))
}
