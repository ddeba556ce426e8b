//! `vcpectl bfd`: one line per BFD session (peer and local address, who
//! acts on it, state both ways, negotiated intervals, detection time, last
//! down and why, packets), then the received packets dropped by reason.

use std::collections::BTreeMap;

use vcpe_api::BfdSession;

use crate::table::{Align, Table, ago, duration};

/// `vcpectl bfd`.
pub fn sessions(sessions: &[BfdSession], drops: &BTreeMap<String, u64>) -> String {
    if sessions.is_empty() {
        return "no BFD sessions (set `bfd = true` on a [[bgp.neighbor]] or a [[peer]])\n"
            .to_owned();
    }
    let mut t = Table::new(&[
        ("PEER", Align::Left),
        ("LOCAL", Align::Left),
        ("FOR", Align::Left),
        ("PATH", Align::Left),
        ("STATE", Align::Left),
        ("REMOTE", Align::Left),
        ("SINCE", Align::Right),
        ("TX", Align::Right),
        ("RX", Align::Right),
        ("MULT", Align::Right),
        ("DETECT", Align::Right),
        ("LAST DOWN", Align::Left),
        ("PKTS IN", Align::Right),
        ("PKTS OUT", Align::Right),
    ]);
    for s in sessions {
        t.row([
            s.peer.clone(),
            s.local.clone().unwrap_or_else(|| "-".to_owned()),
            if s.clients.is_empty() {
                "-".to_owned()
            } else {
                s.clients.join(", ")
            },
            s.path.clone(),
            s.state.clone(),
            s.remote_state.clone(),
            duration(s.since_secs),
            format!("{}ms", s.tx_interval_ms),
            format!("{}ms", s.rx_interval_ms),
            s.multiplier.to_string(),
            format!("{}ms", s.detection_time_ms),
            s.last_down.as_ref().map_or_else(
                || "-".to_owned(),
                |d| format!("{} ({})", ago(Some(d.secs_ago)), d.message),
            ),
            s.packets_in.to_string(),
            s.packets_out.to_string(),
        ]);
    }
    let mut out = t.render();
    for s in sessions.iter().filter(|s| s.state != "Up") {
        let what = match s.state.as_str() {
            "AdminDown" => "held down by its operator".to_owned(),
            _ if s.remote_discriminator == 0 => format!(
                "nothing heard from {} (is BFD configured there, and UDP {} open?)",
                s.peer,
                if s.path == "multihop" { 4784 } else { 3784 }
            ),
            _ => format!("the peer says {}: {}", s.remote_state, s.remote_diag),
        };
        out += &format!("{}: {}: {what}\n", s.peer, s.state);
    }
    for s in sessions.iter().filter(|s| s.send_errors > 0) {
        out += &format!(
            "{}: {} packets could not be sent (no route or link down)\n",
            s.peer, s.send_errors
        );
    }
    if !drops.is_empty() {
        let list: Vec<String> = drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out += &format!("dropped: {}\n", list.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcpe_api::BfdDown;

    fn session(state: &str) -> BfdSession {
        BfdSession {
            peer: "10.255.0.2".to_owned(),
            local: None,
            path: "single-hop".to_owned(),
            source_port: Some(49152),
            state: state.to_owned(),
            remote_state: "Up".to_owned(),
            since_secs: 75,
            local_discriminator: 1,
            remote_discriminator: 2,
            tx_interval_ms: 300,
            rx_interval_ms: 300,
            multiplier: 3,
            remote_multiplier: 3,
            detection_time_ms: 900,
            local_diag: "No Diagnostic (0)".to_owned(),
            remote_diag: "No Diagnostic (0)".to_owned(),
            last_down: Some(BfdDown {
                reason: "detection_time_expired".to_owned(),
                message: "control detection time expired".to_owned(),
                secs_ago: 75,
            }),
            packets_in: 10,
            packets_out: 11,
            send_errors: 0,
            state_changes: 4,
            up_transitions: 2,
            clients: vec!["bgp 10.255.0.2".to_owned()],
        }
    }

    #[test]
    fn a_session_is_one_row_with_its_last_down_reason() {
        let out = sessions(&[session("Up")], &BTreeMap::new());
        let row = out.lines().nth(1).expect("row");
        for part in [
            "10.255.0.2",
            "bgp 10.255.0.2",
            "single-hop",
            "Up",
            "1m15s",
            "300ms",
            "900ms",
        ] {
            assert!(row.contains(part), "{part}: {row}");
        }
        assert!(
            row.contains("1m15s ago (control detection time expired)"),
            "{row}"
        );
        assert_eq!(out.lines().count(), 2, "{out}");
    }

    #[test]
    fn a_silent_peer_and_drops_are_explained() {
        let mut s = session("Down");
        s.remote_discriminator = 0;
        let drops = BTreeMap::from([("ttl_not_255".to_owned(), 3)]);
        let out = sessions(&[s], &drops);
        assert!(
            out.contains("10.255.0.2: Down: nothing heard from 10.255.0.2"),
            "{out}"
        );
        assert!(out.contains("UDP 3784"), "{out}");
        assert!(out.contains("dropped: ttl_not_255 3"), "{out}");
    }
}
