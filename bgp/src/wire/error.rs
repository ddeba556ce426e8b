//! What can go wrong on the wire: [`DecodeError`] (fatal, one-to-one with
//! the NOTIFICATION to send, RFC 4271 §6 as revised by RFC 7606),
//! [`AttrIssue`] (the non-fatal RFC 7606 outcomes: treat-as-withdraw and
//! attribute discard) and [`EncodeError`].

use std::fmt;
use std::net::Ipv4Addr;

use thiserror::Error;

use crate::model::{AttrType, Notification, error_code, subcode};

/// The largest BGP version this speaker supports (RFC 4271).
pub const BGP_VERSION: u8 = 4;

/// A message that must be answered with a NOTIFICATION and the session
/// closed ("session reset" in RFC 7606 terms). [`DecodeError::notification`]
/// gives the exact NOTIFICATION; `Display` says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// 1/1: the 16-octet marker is not all ones.
    #[error("message header: marker is not all ones (connection not synchronized)")]
    ConnectionNotSynchronized,
    /// 1/2: the length field is out of range for the message type. Data:
    /// the erroneous length field.
    #[error("message header: bad message length {length} for {what}")]
    BadMessageLength {
        /// The length field as received.
        length: u16,
        /// Which rule it broke ("all messages", "OPEN", "KEEPALIVE", ...).
        what: &'static str,
    },
    /// 1/3: unknown message type. Data: the type octet.
    #[error("message header: unknown message type {msg_type}")]
    BadMessageType {
        /// The type octet as received.
        msg_type: u8,
    },
    /// 2/1: the peer bid a version other than 4. Data: the largest
    /// supported version, 2 octets.
    #[error("OPEN: unsupported BGP version {version} (we speak 4)")]
    UnsupportedVersion {
        /// The version the peer bid.
        version: u8,
    },
    /// 2/2: the peer's AS is unacceptable (AS 0 per RFC 7607 is detected
    /// here; a mismatch with the configured AS is the FSM's finding, built
    /// with [`DecodeError::bad_peer_as`]).
    #[error("OPEN: bad peer AS {asn}")]
    BadPeerAs {
        /// The AS the peer claimed.
        asn: u32,
    },
    /// 2/3: the BGP identifier is not a valid (non-zero) identifier.
    #[error("OPEN: bad BGP identifier {id}")]
    BadBgpIdentifier {
        /// The identifier as received.
        id: Ipv4Addr,
    },
    /// 2/4: an optional parameter other than Capabilities.
    #[error("OPEN: unsupported optional parameter type {param_type}")]
    UnsupportedOptionalParameter {
        /// The parameter type.
        param_type: u8,
    },
    /// 2/6: hold time 1 or 2 seconds.
    #[error("OPEN: unacceptable hold time {hold_time}s (must be 0 or at least 3)")]
    UnacceptableHoldTime {
        /// The proposed hold time.
        hold_time: u16,
    },
    /// 2/0: the optional parameters do not add up.
    #[error("OPEN: malformed optional parameters: {reason}")]
    MalformedOpen {
        /// What did not add up.
        reason: &'static str,
    },
    /// 3/1: the UPDATE's framing is broken beyond RFC 7606 recovery, or
    /// MP_REACH_NLRI / MP_UNREACH_NLRI appears more than once.
    #[error("UPDATE: malformed attribute list: {reason}")]
    MalformedAttributeList {
        /// What was wrong.
        reason: &'static str,
    },
    /// 3/2: a well-known (Optional bit clear) attribute we do not know.
    /// Data: the attribute (flags, type, length, value).
    #[error("UPDATE: unrecognized well-known attribute type {}", .type_code.0)]
    UnrecognizedWellKnownAttribute {
        /// The attribute's type code.
        type_code: AttrType,
        /// The whole attribute as received.
        attribute: Vec<u8>,
    },
    /// 3/9: MP_REACH_NLRI or MP_UNREACH_NLRI is malformed (RFC 4760 §7,
    /// RFC 7606 §7.11/§7.12: session reset, we do not implement AFI/SAFI
    /// disable). Data: the attribute.
    #[error("UPDATE: malformed {} attribute: {reason}", attr_name(*.type_code))]
    OptionalAttributeError {
        /// MP_REACH_NLRI or MP_UNREACH_NLRI.
        type_code: AttrType,
        /// What was wrong.
        reason: &'static str,
        /// The whole attribute as received.
        attribute: Vec<u8>,
    },
    /// 3/10: the Withdrawn Routes or NLRI field is syntactically incorrect
    /// (RFC 7606 §5.3).
    #[error("UPDATE: invalid network field: {reason}")]
    InvalidNetworkField {
        /// What was wrong.
        reason: &'static str,
    },
    /// 7/1 (RFC 7313 §5): a ROUTE-REFRESH whose length is not 23. Data: the
    /// complete message.
    #[error("ROUTE-REFRESH: invalid message length {}", .message.len())]
    InvalidRouteRefreshLength {
        /// The complete message as received.
        message: Vec<u8>,
    },
}

impl DecodeError {
    /// The FSM's "Bad Peer AS" (2/2) for an OPEN whose AS is not the
    /// configured one.
    pub fn bad_peer_as(asn: u32) -> DecodeError {
        DecodeError::BadPeerAs { asn }
    }

    /// The NOTIFICATION this error requires (RFC 4271 §6.1-6.3, RFC 7606,
    /// RFC 4760 §7, RFC 7313 §5).
    pub fn notification(&self) -> Notification {
        use DecodeError as E;
        use error_code as c;
        match self {
            E::ConnectionNotSynchronized => Notification::new(
                c::MESSAGE_HEADER,
                subcode::header::CONNECTION_NOT_SYNCHRONIZED,
            ),
            E::BadMessageLength { length, .. } => Notification::with_data(
                c::MESSAGE_HEADER,
                subcode::header::BAD_MESSAGE_LENGTH,
                length.to_be_bytes(),
            ),
            E::BadMessageType { msg_type } => Notification::with_data(
                c::MESSAGE_HEADER,
                subcode::header::BAD_MESSAGE_TYPE,
                [*msg_type],
            ),
            E::UnsupportedVersion { .. } => Notification::with_data(
                c::OPEN_MESSAGE,
                subcode::open::UNSUPPORTED_VERSION,
                u16::from(BGP_VERSION).to_be_bytes(),
            ),
            E::BadPeerAs { .. } => Notification::new(c::OPEN_MESSAGE, subcode::open::BAD_PEER_AS),
            E::BadBgpIdentifier { .. } => {
                Notification::new(c::OPEN_MESSAGE, subcode::open::BAD_BGP_IDENTIFIER)
            }
            E::UnsupportedOptionalParameter { .. } => Notification::new(
                c::OPEN_MESSAGE,
                subcode::open::UNSUPPORTED_OPTIONAL_PARAMETER,
            ),
            E::UnacceptableHoldTime { .. } => {
                Notification::new(c::OPEN_MESSAGE, subcode::open::UNACCEPTABLE_HOLD_TIME)
            }
            E::MalformedOpen { .. } => Notification::new(c::OPEN_MESSAGE, 0),
            E::MalformedAttributeList { .. } => {
                Notification::new(c::UPDATE_MESSAGE, subcode::update::MALFORMED_ATTRIBUTE_LIST)
            }
            E::UnrecognizedWellKnownAttribute { attribute, .. } => Notification::with_data(
                c::UPDATE_MESSAGE,
                subcode::update::UNRECOGNIZED_WELL_KNOWN,
                attribute.clone(),
            ),
            E::OptionalAttributeError { attribute, .. } => Notification::with_data(
                c::UPDATE_MESSAGE,
                subcode::update::OPTIONAL_ATTRIBUTE,
                attribute.clone(),
            ),
            E::InvalidNetworkField { .. } => {
                Notification::new(c::UPDATE_MESSAGE, subcode::update::INVALID_NETWORK_FIELD)
            }
            E::InvalidRouteRefreshLength { message } => {
                Notification::with_data(c::ROUTE_REFRESH, 1, message.clone())
            }
        }
    }
}

/// What RFC 7606 says to do about a malformed attribute that does not
/// reset the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// "treat-as-withdraw": every route in the UPDATE is withdrawn (the
    /// caller does this, [`crate::wire::routes`] already moves them).
    TreatAsWithdraw,
    /// "attribute discard": the attribute was removed from
    /// [`crate::model::Update::attributes`]; the UPDATE is otherwise fine.
    AttributeDiscard,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::TreatAsWithdraw => "treat-as-withdraw",
            Action::AttributeDiscard => "attribute discard",
        })
    }
}

/// A non-fatal attribute error (RFC 7606): decoding went on and the
/// message was returned. The offending attribute is not in
/// [`crate::model::Update::attributes`] (except MP_REACH_NLRI /
/// MP_UNREACH_NLRI with bad flags, kept so their prefixes can be
/// withdrawn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrIssue {
    /// The attribute concerned (for a missing attribute, the missing one;
    /// `AttrType(0)` when an attribute header could not even be read).
    pub type_code: AttrType,
    /// What to do.
    pub action: Action,
    /// What was wrong, for logs.
    pub reason: String,
}

impl fmt::Display for AttrIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} attribute: {} ({})",
            attr_name(self.type_code),
            self.reason,
            self.action
        )
    }
}

/// A message that cannot be encoded as given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The message would exceed the session's maximum message length
    /// (4096, or up to 65535 with RFC 8654; OPEN and KEEPALIVE always 4096).
    #[error("{message} of {len} octets exceeds the maximum message length {max}")]
    MessageTooLong {
        /// The message type name.
        message: &'static str,
        /// Its encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A length-prefixed field does not fit its length field.
    #[error("{field} of {len} octets does not fit its {max}-octet maximum")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A value the wire cannot express (e.g. an IPv6 prefix in an IPv4
    /// MP_REACH_NLRI, a restart time above 4095).
    #[error("cannot encode: {0}")]
    Invalid(&'static str),
}

/// A printable attribute name.
pub(crate) fn attr_name(t: AttrType) -> String {
    let name = match t {
        AttrType::ORIGIN => "ORIGIN",
        AttrType::AS_PATH => "AS_PATH",
        AttrType::NEXT_HOP => "NEXT_HOP",
        AttrType::MED => "MULTI_EXIT_DISC",
        AttrType::LOCAL_PREF => "LOCAL_PREF",
        AttrType::ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        AttrType::AGGREGATOR => "AGGREGATOR",
        AttrType::COMMUNITIES => "COMMUNITIES",
        AttrType::MP_REACH_NLRI => "MP_REACH_NLRI",
        AttrType::MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
        AttrType::AS4_PATH => "AS4_PATH",
        AttrType::AS4_AGGREGATOR => "AS4_AGGREGATOR",
        AttrType::LARGE_COMMUNITIES => "LARGE_COMMUNITIES",
        AttrType(code) => return format!("type {code}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors_carry_the_rfc_data() {
        let n = DecodeError::BadMessageLength {
            length: 18,
            what: "all messages",
        }
        .notification();
        assert_eq!((n.code, n.subcode, n.data), (1, 2, vec![0, 18]));
        let n = DecodeError::BadMessageType { msg_type: 9 }.notification();
        assert_eq!((n.code, n.subcode, n.data), (1, 3, vec![9]));
        let n = DecodeError::ConnectionNotSynchronized.notification();
        assert_eq!((n.code, n.subcode, n.data), (1, 1, vec![]));
    }

    #[test]
    fn open_errors_carry_the_rfc_data() {
        let n = DecodeError::UnsupportedVersion { version: 3 }.notification();
        assert_eq!((n.code, n.subcode, n.data), (2, 1, vec![0, 4]));
        let n = DecodeError::bad_peer_as(65001).notification();
        assert_eq!((n.code, n.subcode), (2, 2));
        let n = DecodeError::UnacceptableHoldTime { hold_time: 2 }.notification();
        assert_eq!((n.code, n.subcode), (2, 6));
    }

    #[test]
    fn display_says_what_was_wrong() {
        let e = DecodeError::UnacceptableHoldTime { hold_time: 1 };
        assert_eq!(
            e.to_string(),
            "OPEN: unacceptable hold time 1s (must be 0 or at least 3)"
        );
        let i = AttrIssue {
            type_code: AttrType::ORIGIN,
            action: Action::TreatAsWithdraw,
            reason: "undefined value 3".into(),
        };
        assert_eq!(
            i.to_string(),
            "ORIGIN attribute: undefined value 3 (treat-as-withdraw)"
        );
    }
}
