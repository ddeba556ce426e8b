//! Control protocol message types (serialized as JSON lines).

use serde::{Deserialize, Serialize};

/// Version of the control protocol spoken by this build.
pub const API_VERSION: u32 = 1;

/// A request envelope: the version plus the command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version the client speaks.
    pub version: u32,
    /// The command itself.
    #[serde(flatten)]
    pub request: Request,
}

/// Commands a client can send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Daemon identity, uptime and a summary of what it runs.
    Status,
}

/// The daemon's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    /// Answer to [`Request::Status`].
    Status(Status),
    /// The request failed; `message` says why and what to do.
    Error {
        /// Human-readable reason, including the next step to take.
        message: String,
    },
}

/// Summary of a running daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `vcped` version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Config file the daemon runs.
    pub config_path: String,
    /// BGP router id.
    pub router_id: String,
    /// Local AS number.
    pub asn: u32,
    /// Number of TUN interfaces configured.
    pub interfaces: usize,
    /// Number of static routes configured.
    pub static_routes: usize,
    /// Number of tunnel peers configured.
    pub peers: usize,
    /// Number of BGP neighbors configured.
    pub bgp_neighbors: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_as_one_json_object() {
        let env = Envelope {
            version: API_VERSION,
            request: Request::Status,
        };
        let text = serde_json::to_string(&env).unwrap();
        assert_eq!(text, r#"{"version":1,"command":"status"}"#);
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), env);
    }

    #[test]
    fn error_reply_is_tagged() {
        let r = Reply::Error {
            message: "nope".into(),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"result":"error","message":"nope"}"#);
        assert_eq!(serde_json::from_str::<Reply>(&text).unwrap(), r);
    }
}
