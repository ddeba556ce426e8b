//! The daemon's parser of one request line: JSON, then the protocol
//! version, then the command. Kept here, beside the types it decodes, so
//! that the daemon and the fuzz target (`fuzz/fuzz_targets/control_request.rs`)
//! run the same code on untrusted bytes.

use crate::request::{API_VERSION, Envelope, Request};

/// Parses one request line as the daemon reads it from the control socket.
/// `Err` holds the message to send back in a [`crate::Reply::Error`]: what
/// was wrong and what to do next. Never panics, whatever the input.
pub fn parse_request_line(line: &str) -> Result<Request, String> {
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| format!("request is not JSON ({e}); send one JSON object per line"))?;
    let version = value.get("version").and_then(|v| v.as_u64());
    if version != Some(u64::from(API_VERSION)) {
        return Err(format!(
            "control API version {version:?} is not supported; this vcped speaks version \
             {API_VERSION} (use the vcpectl of the same release)"
        ));
    }
    serde_json::from_value::<Envelope>(value)
        .map(|env| env.request)
        .map_err(|e| format!("unknown or malformed command ({e}); see `vcpectl --help`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_versioned_command() {
        assert_eq!(
            parse_request_line(r#"{"version":1,"command":"status"}"#),
            Ok(Request::Status)
        );
    }

    #[test]
    fn refuses_what_is_not_a_request() {
        let not_json = parse_request_line("status").unwrap_err();
        assert!(not_json.contains("not JSON"), "{not_json}");
        let old = parse_request_line(r#"{"version":0,"command":"status"}"#).unwrap_err();
        assert!(old.contains("version Some(0)"), "{old}");
        let unknown = parse_request_line(r#"{"version":1,"command":"fly"}"#).unwrap_err();
        assert!(unknown.contains("unknown or malformed"), "{unknown}");
    }
}
