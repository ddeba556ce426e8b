//! `vcpectl bgp disable|enable ADDR [--persist] [--message TEXT]`: a
//! neighbor drained or started again, live and, with `--persist`, in the
//! config file (`enabled = false` and `shutdown_message` on its
//! `[[bgp.neighbor]]`, written atomically with `vcpe_config::edit`), so a
//! drain survives a restart. The running config follows the file, so a
//! later reload sees no difference.

use std::net::IpAddr;
use std::path::Path;

use vcpe_api::{NeighborAction, Reply};
use vcpe_config::edit;

use crate::bgp_driver::BgpHandle;
use crate::running_config::RunningConfig;

/// The shutdown communication when neither the operator nor the config
/// gave one.
const DEFAULT_MESSAGE: &str = "disabled by the operator (vcpectl bgp disable)";

/// A `bgp enable|disable|refresh` request.
#[derive(Debug)]
pub struct NeighborRequest {
    /// The neighbor, as typed.
    pub address: String,
    /// What to do.
    pub action: NeighborAction,
    /// Also write it into the config file.
    pub persist: bool,
    /// The RFC 9003 shutdown communication for `disable`.
    pub message: Option<String>,
}

/// Answers `r`: applies it to the BGP task, then (with `persist`) to the
/// file at `path` and the running config.
pub fn neighbor(
    bgp: Option<&BgpHandle>,
    running: &RunningConfig,
    path: &Path,
    r: NeighborRequest,
) -> Reply {
    let Ok(addr) = r.address.parse::<IpAddr>() else {
        return error(
            "not an IP address; give the neighbor's address as in `vcpectl bgp summary`".into(),
        );
    };
    if let Some(m) = &r.message
        && m.len() > vcpe_config::MAX_SHUTDOWN_MESSAGE
    {
        return error(format!(
            "the shutdown message is {} bytes; RFC 9003 allows at most 255: shorten it",
            m.len()
        ));
    }
    let writer = running.write();
    let config = writer.current();
    let configured = config
        .bgp
        .as_ref()
        .and_then(|b| Some((b, b.neighbors.iter().find(|n| n.address == addr)?)));
    let message = r.message.clone().unwrap_or_else(|| {
        configured
            .and_then(|(b, n)| b.shutdown_message_for(n))
            .unwrap_or(DEFAULT_MESSAGE)
            .to_owned()
    });
    let persist = match r.action {
        NeighborAction::Refresh if r.persist => {
            return error("--persist applies to enable and disable only".into());
        }
        NeighborAction::Enable | NeighborAction::Disable if r.persist => {
            let enable = r.action == NeighborAction::Enable;
            if enable && config.bgp.as_ref().is_some_and(|b| b.shutdown) {
                return error(format!(
                    "{} has [bgp] shutdown = true, which keeps every neighbor down; remove it \
                     (and reload) to enable neighbors again",
                    path.display()
                ));
            }
            let text = crate::config_file::read_io(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))
                .and_then(|t| {
                    let m = (!enable).then_some(message.as_str());
                    edit::set_neighbor_enabled(&t, path, addr, enable, m).map_err(|e| e.to_string())
                });
            match text {
                Ok(e) => Some((enable, e)),
                Err(e) => return error(format!("{e}; nothing was changed")),
            }
        }
        _ => None,
    };
    let live = super::bgp_requests::neighbor(bgp, addr, r.action, Some(message.clone()));
    let Reply::Done { message: done } = live else {
        return live;
    };
    let Some((enable, edited)) = persist else {
        return Reply::Done { message: done };
    };
    if let Err(e) = edit::write_atomic(path, &edited.text) {
        return error(format!(
            "{done}, but not persisted: {e}. vcped must be able to write the config file's \
             directory (systemd: ReadWritePaths=)"
        ));
    }
    let mut next = (*config).clone();
    if let Some(n) = next
        .bgp
        .as_mut()
        .and_then(|b| b.neighbors.iter_mut().find(|n| n.address == addr))
    {
        n.enabled = enable;
        n.shutdown_message = if enable { None } else { Some(message) };
    }
    writer.store(next);
    tracing::info!(neighbor = %addr, enabled = enable, file = %path.display(), "neighbor drain persisted by vcpectl");
    Reply::Done {
        message: format!("{done}; saved in {}", path.display()),
    }
}

fn error(message: String) -> Reply {
    Reply::Error { message }
}
