//! NOTIFICATION message (RFC 4271 §4.5, §6) and the error codes.

/// NOTIFICATION message: error code, subcode and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Error code ([`error_code`]).
    pub code: u8,
    /// Error subcode ([`subcode`]); 0 where unspecific.
    pub subcode: u8,
    /// Data: what the RFC says the error carries (the bad field, the bad
    /// attribute, or for Cease/2 and /4 an RFC 8203 shutdown message).
    pub data: Vec<u8>,
}

impl Notification {
    /// A notification without data.
    pub fn new(code: u8, subcode: u8) -> Notification {
        Notification {
            code,
            subcode,
            data: Vec::new(),
        }
    }

    /// A notification carrying `data`.
    pub fn with_data(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Notification {
        Notification {
            code,
            subcode,
            data: data.into(),
        }
    }

    /// Cease with an RFC 8203/9003 shutdown communication (subcode 2
    /// "administrative shutdown" or 4 "administrative reset"): a length
    /// octet then at most 255 bytes of UTF-8.
    pub fn cease_with_message(subcode: u8, message: &str) -> Notification {
        let mut bytes = message.as_bytes();
        if bytes.len() > 255 {
            let mut end = 255;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            bytes = &bytes[..end];
        }
        let mut data = Vec::with_capacity(1 + bytes.len());
        data.push(bytes.len() as u8);
        data.extend_from_slice(bytes);
        Notification::with_data(error_code::CEASE, subcode, data)
    }

    /// A human description ("Hold Timer Expired", "OPEN Message Error /
    /// Bad Peer AS", ...), for logs and `vcpectl`.
    pub fn describe(&self) -> String {
        use error_code as c;
        let code = match self.code {
            c::MESSAGE_HEADER => "Message Header Error",
            c::OPEN_MESSAGE => "OPEN Message Error",
            c::UPDATE_MESSAGE => "UPDATE Message Error",
            c::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
            c::FSM => "Finite State Machine Error",
            c::CEASE => "Cease",
            c::ROUTE_REFRESH => "ROUTE-REFRESH Message Error",
            c::SEND_HOLD_TIMER_EXPIRED => "Send Hold Timer Expired",
            _ => "unknown error code",
        };
        let sub = match (self.code, self.subcode) {
            (_, 0) => None,
            (c::MESSAGE_HEADER, 1) => Some("Connection Not Synchronized"),
            (c::MESSAGE_HEADER, 2) => Some("Bad Message Length"),
            (c::MESSAGE_HEADER, 3) => Some("Bad Message Type"),
            (c::OPEN_MESSAGE, 1) => Some("Unsupported Version Number"),
            (c::OPEN_MESSAGE, 2) => Some("Bad Peer AS"),
            (c::OPEN_MESSAGE, 3) => Some("Bad BGP Identifier"),
            (c::OPEN_MESSAGE, 4) => Some("Unsupported Optional Parameter"),
            (c::OPEN_MESSAGE, 6) => Some("Unacceptable Hold Time"),
            (c::OPEN_MESSAGE, 7) => Some("Unsupported Capability"),
            (c::UPDATE_MESSAGE, 1) => Some("Malformed Attribute List"),
            (c::UPDATE_MESSAGE, 2) => Some("Unrecognized Well-known Attribute"),
            (c::UPDATE_MESSAGE, 3) => Some("Missing Well-known Attribute"),
            (c::UPDATE_MESSAGE, 4) => Some("Attribute Flags Error"),
            (c::UPDATE_MESSAGE, 5) => Some("Attribute Length Error"),
            (c::UPDATE_MESSAGE, 6) => Some("Invalid ORIGIN Attribute"),
            (c::UPDATE_MESSAGE, 8) => Some("Invalid NEXT_HOP Attribute"),
            (c::UPDATE_MESSAGE, 9) => Some("Optional Attribute Error"),
            (c::UPDATE_MESSAGE, 10) => Some("Invalid Network Field"),
            (c::UPDATE_MESSAGE, 11) => Some("Malformed AS_PATH"),
            (c::CEASE, 1) => Some("Maximum Number of Prefixes Reached"),
            (c::CEASE, 2) => Some("Administrative Shutdown"),
            (c::CEASE, 3) => Some("Peer De-configured"),
            (c::CEASE, 4) => Some("Administrative Reset"),
            (c::CEASE, 5) => Some("Connection Rejected"),
            (c::CEASE, 6) => Some("Other Configuration Change"),
            (c::CEASE, 7) => Some("Connection Collision Resolution"),
            (c::CEASE, 8) => Some("Out of Resources"),
            (c::CEASE, 9) => Some("Hard Reset"),
            (c::CEASE, 10) => Some("BFD Down"),
            _ => Some("unknown subcode"),
        };
        match sub {
            Some(s) => format!("{code} / {s} ({}/{})", self.code, self.subcode),
            None => format!("{code} ({}/{})", self.code, self.subcode),
        }
    }
}

/// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313, RFC 9687).
pub mod error_code {
    /// 1.
    pub const MESSAGE_HEADER: u8 = 1;
    /// 2.
    pub const OPEN_MESSAGE: u8 = 2;
    /// 3.
    pub const UPDATE_MESSAGE: u8 = 3;
    /// 4.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// 5.
    pub const FSM: u8 = 5;
    /// 6.
    pub const CEASE: u8 = 6;
    /// 7 (RFC 7313).
    pub const ROUTE_REFRESH: u8 = 7;
    /// 8 (RFC 9687).
    pub const SEND_HOLD_TIMER_EXPIRED: u8 = 8;
}

/// NOTIFICATION subcodes, by error code.
pub mod subcode {
    /// Message Header Error subcodes.
    pub mod header {
        /// 1.
        pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
        /// 2.
        pub const BAD_MESSAGE_LENGTH: u8 = 2;
        /// 3.
        pub const BAD_MESSAGE_TYPE: u8 = 3;
    }
    /// OPEN Message Error subcodes.
    pub mod open {
        /// 1.
        pub const UNSUPPORTED_VERSION: u8 = 1;
        /// 2.
        pub const BAD_PEER_AS: u8 = 2;
        /// 3.
        pub const BAD_BGP_IDENTIFIER: u8 = 3;
        /// 4.
        pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
        /// 6.
        pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
        /// 7 (RFC 5492).
        pub const UNSUPPORTED_CAPABILITY: u8 = 7;
    }
    /// UPDATE Message Error subcodes.
    pub mod update {
        /// 1.
        pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
        /// 2.
        pub const UNRECOGNIZED_WELL_KNOWN: u8 = 2;
        /// 3.
        pub const MISSING_WELL_KNOWN: u8 = 3;
        /// 4.
        pub const ATTRIBUTE_FLAGS: u8 = 4;
        /// 5.
        pub const ATTRIBUTE_LENGTH: u8 = 5;
        /// 6.
        pub const INVALID_ORIGIN: u8 = 6;
        /// 8.
        pub const INVALID_NEXT_HOP: u8 = 8;
        /// 9.
        pub const OPTIONAL_ATTRIBUTE: u8 = 9;
        /// 10.
        pub const INVALID_NETWORK_FIELD: u8 = 10;
        /// 11.
        pub const MALFORMED_AS_PATH: u8 = 11;
    }
    /// FSM Error subcodes (RFC 6608).
    pub mod fsm {
        /// 1: unexpected message in OpenSent.
        pub const UNEXPECTED_IN_OPENSENT: u8 = 1;
        /// 2: unexpected message in OpenConfirm.
        pub const UNEXPECTED_IN_OPENCONFIRM: u8 = 2;
        /// 3: unexpected message in Established.
        pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
    }
    /// Cease subcodes (RFC 4486, RFC 8538).
    pub mod cease {
        /// 1.
        pub const MAX_PREFIXES: u8 = 1;
        /// 2.
        pub const ADMIN_SHUTDOWN: u8 = 2;
        /// 3.
        pub const PEER_DECONFIGURED: u8 = 3;
        /// 4.
        pub const ADMIN_RESET: u8 = 4;
        /// 5.
        pub const CONNECTION_REJECTED: u8 = 5;
        /// 6.
        pub const OTHER_CONFIG_CHANGE: u8 = 6;
        /// 7.
        pub const CONNECTION_COLLISION: u8 = 7;
        /// 8.
        pub const OUT_OF_RESOURCES: u8 = 8;
        /// 10 (RFC 9384): the BFD session to the neighbor went down.
        pub const BFD_DOWN: u8 = 10;
    }
}
