//! Building our OPEN and validating the peer's (RFC 4271 §6.2, RFC 6286,
//! RFC 6793, RFC 5492, RFC 7911), and negotiating the session parameters from both.

use std::fmt;
use std::net::Ipv4Addr;

use crate::model::{
    AS_TRANS, AddPath, AddrFamily, Capability, GracefulRestart, Notification, Open, ParamLayout,
    error_code, subcode,
};

use super::config::SessionConfig;
use super::negotiated::Negotiated;

/// The only BGP version spoken.
pub const BGP_VERSION: u8 = 4;
/// The hold timer value, in seconds, used in OpenSent while waiting for the
/// peer's OPEN (RFC 4271 §8.2.2: "a large value", 4 minutes suggested).
pub const OPEN_SENT_HOLD_TIME: u16 = 240;

/// Why a peer's OPEN was rejected; each maps to one NOTIFICATION.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The peer bid a version other than 4 (2/1, data = 4 as 2 octets).
    UnsupportedVersion(u8),
    /// The peer's AS is not the configured one (2/2).
    BadPeerAs {
        /// The configured peer AS.
        expected: u32,
        /// The AS the peer announced (4-octet capability, else `my_as`).
        received: u32,
    },
    /// BGP identifier 0, or equal to ours on an iBGP session (2/3,
    /// RFC 6286 §2.2).
    BadBgpId(Ipv4Addr),
    /// Hold time 1 or 2 seconds (2/6).
    UnacceptableHoldTime(u16),
    /// A non-capability optional parameter (2/4); the value is its type.
    UnsupportedOptionalParameter(u8),
}

impl OpenError {
    /// The NOTIFICATION this error is answered with.
    pub fn notification(&self) -> Notification {
        use subcode::open as s;
        let c = error_code::OPEN_MESSAGE;
        match self {
            OpenError::UnsupportedVersion(_) => {
                Notification::with_data(c, s::UNSUPPORTED_VERSION, vec![0, BGP_VERSION])
            }
            OpenError::BadPeerAs { .. } => Notification::new(c, s::BAD_PEER_AS),
            OpenError::BadBgpId(_) => Notification::new(c, s::BAD_BGP_IDENTIFIER),
            OpenError::UnacceptableHoldTime(_) => Notification::new(c, s::UNACCEPTABLE_HOLD_TIME),
            OpenError::UnsupportedOptionalParameter(_) => {
                Notification::new(c, s::UNSUPPORTED_OPTIONAL_PARAMETER)
            }
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::UnsupportedVersion(v) => {
                write!(f, "the peer speaks BGP version {v}, we speak only 4")
            }
            OpenError::BadPeerAs { expected, received } => write!(
                f,
                "the peer says it is AS {received}, but it is configured as AS {expected}"
            ),
            OpenError::BadBgpId(id) => write!(
                f,
                "the peer's BGP identifier {id} is invalid (zero, or ours on an iBGP session)"
            ),
            OpenError::UnacceptableHoldTime(h) => write!(
                f,
                "the peer proposed a hold time of {h} s (must be 0 or at least 3)"
            ),
            OpenError::UnsupportedOptionalParameter(t) => write!(
                f,
                "the peer's OPEN carries optional parameter type {t}, which we do not support"
            ),
        }
    }
}

/// Our OPEN: version 4, `my_as` (AS_TRANS when the AS needs 4 octets), the
/// proposed hold time, our identifier, and the capabilities: multiprotocol
/// per family, route refresh, 4-octet AS, graceful restart (helper: no
/// families, no flags), ADD-PATH when configured.
pub fn build_open(config: &SessionConfig) -> Open {
    let mut capabilities: Vec<Capability> = config
        .families
        .iter()
        .map(|f| Capability::Multiprotocol(*f))
        .collect();
    if config.route_refresh {
        capabilities.push(Capability::RouteRefresh);
    }
    capabilities.push(Capability::FourOctetAs(config.local_as));
    if let Some(restart_time) = config.graceful_restart {
        capabilities.push(Capability::GracefulRestart(GracefulRestart {
            flags: 0,
            // The capability has 12 bits for it.
            restart_time: restart_time.min(0x0fff),
            families: Vec::new(),
        }));
    }
    if !config.add_path.is_empty() {
        capabilities.push(Capability::AddPath(config.add_path.clone()));
    }
    Open {
        version: BGP_VERSION,
        my_as: u16::try_from(config.local_as).unwrap_or(AS_TRANS),
        hold_time: config.hold_time,
        bgp_id: config.local_id,
        capabilities,
        layout: ParamLayout::Single,
        other_params: Vec::new(),
    }
}

/// Validates the peer's OPEN against our configuration (RFC 4271 §6.2 in
/// its order: version, AS, hold time, identifier, parameters) and, if it is
/// acceptable, negotiates the session parameters.
pub fn negotiate(config: &SessionConfig, open: &Open) -> Result<Negotiated, OpenError> {
    if open.version != BGP_VERSION {
        return Err(OpenError::UnsupportedVersion(open.version));
    }
    let peer_as = open.asn();
    if peer_as != config.peer_as {
        return Err(OpenError::BadPeerAs {
            expected: config.peer_as,
            received: peer_as,
        });
    }
    if matches!(open.hold_time, 1 | 2) {
        return Err(OpenError::UnacceptableHoldTime(open.hold_time));
    }
    // RFC 6286 §2.2: zero is never valid; our own identifier only on iBGP
    // (an eBGP peer may share it, identifiers need only be unique per AS).
    if open.bgp_id.is_unspecified() || (config.is_internal() && open.bgp_id == config.local_id) {
        return Err(OpenError::BadBgpId(open.bgp_id));
    }
    if let Some((kind, _)) = open.other_params.first() {
        return Err(OpenError::UnsupportedOptionalParameter(*kind));
    }

    let hold_time = config.hold_time.min(open.hold_time);
    let keepalive = match (hold_time, config.keepalive) {
        (0, _) => 0,
        (h, None) => h / 3,
        (h, Some(k)) => k.min(h / 3),
    };
    let theirs = open.families();
    let families: Vec<AddrFamily> = config
        .effective_families()
        .into_iter()
        .filter(|f| theirs.contains(f))
        .collect();
    let peer_graceful_restart = open.graceful_restart().cloned();
    let add_path = AddPath::negotiate(&config.add_path, open.add_path(), &families);
    Ok(Negotiated {
        hold_time,
        keepalive,
        peer_as,
        peer_id: open.bgp_id,
        four_octet_as: open.four_octet_as().is_some(),
        families,
        route_refresh: config.route_refresh && open.route_refresh(),
        graceful_restart: config.graceful_restart.is_some() && peer_graceful_restart.is_some(),
        peer_graceful_restart,
        add_path,
        peer_open: open.clone(),
    })
}
