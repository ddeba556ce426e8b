//! The optional authentication section (RFC 5880 §4.2-4.4): parsed and
//! carried; no session of ours verifies it yet.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |  Auth Key ID  |   Reserved    |  (MD5, SHA1)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              Auth Key/Digest/Hash (16 or 20 octets)...        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Simple Password (§4.2) is Auth Type 1, Auth Len, Key ID and 1-16
//! octets of password instead.

use bytes::{BufMut, BytesMut};

/// Auth Type codes (§4.1).
pub mod auth_type {
    /// 1 (§4.2).
    pub const SIMPLE_PASSWORD: u8 = 1;
    /// 2 (§4.3).
    pub const KEYED_MD5: u8 = 2;
    /// 3 (§4.3).
    pub const METICULOUS_KEYED_MD5: u8 = 3;
    /// 4 (§4.4).
    pub const KEYED_SHA1: u8 = 4;
    /// 5 (§4.4).
    pub const METICULOUS_KEYED_SHA1: u8 = 5;
}

/// An authentication section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Simple Password: "The password ... MUST be from 1 to 16 bytes".
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// The password, 1 to 16 octets.
        password: Vec<u8>,
    },
    /// Keyed (or Meticulous Keyed) MD5: Auth Len is 24.
    Md5 {
        /// Meticulous (type 3) rather than plain (type 2).
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        seq: u32,
        /// The digest (or the key, while computing it).
        digest: [u8; 16],
    },
    /// Keyed (or Meticulous Keyed) SHA1: Auth Len is 28.
    Sha1 {
        /// Meticulous (type 5) rather than plain (type 4).
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        seq: u32,
        /// The hash (or the key, while computing it).
        hash: [u8; 20],
    },
    /// A type this implementation does not know: its bytes after Auth
    /// Type and Auth Len, kept for a round trip.
    Other {
        /// Auth Type.
        auth_type: u8,
        /// Authentication Data.
        data: Vec<u8>,
    },
}

impl Auth {
    /// The Auth Type code.
    pub fn auth_type(&self) -> u8 {
        match self {
            Auth::SimplePassword { .. } => auth_type::SIMPLE_PASSWORD,
            Auth::Md5 { meticulous, .. } => {
                if *meticulous {
                    auth_type::METICULOUS_KEYED_MD5
                } else {
                    auth_type::KEYED_MD5
                }
            }
            Auth::Sha1 { meticulous, .. } => {
                if *meticulous {
                    auth_type::METICULOUS_KEYED_SHA1
                } else {
                    auth_type::KEYED_SHA1
                }
            }
            Auth::Other { auth_type, .. } => *auth_type,
        }
    }

    /// Auth Len: the whole section, type and length octets included.
    pub fn len(&self) -> usize {
        2 + match self {
            Auth::SimplePassword { password, .. } => 1 + password.len(),
            Auth::Md5 { .. } => 2 + 4 + 16,
            Auth::Sha1 { .. } => 2 + 4 + 20,
            Auth::Other { data, .. } => data.len(),
        }
    }

    /// Never empty: Auth Type and Auth Len are always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Parses a section whose Auth Len was checked against the packet:
    /// `data` is what follows Auth Type and Auth Len.
    pub(super) fn from_parts(auth_type: u8, data: &[u8]) -> Result<Auth, &'static str> {
        match auth_type {
            auth_type::SIMPLE_PASSWORD => {
                let (&key_id, password) = data.split_first().ok_or("no key id")?;
                if password.is_empty() || password.len() > 16 {
                    return Err("simple password not 1 to 16 octets");
                }
                Ok(Auth::SimplePassword {
                    key_id,
                    password: password.to_vec(),
                })
            }
            auth_type::KEYED_MD5 | auth_type::METICULOUS_KEYED_MD5 => {
                let (key_id, seq, rest) = keyed(data, 16).ok_or("MD5 section not 24 octets")?;
                let mut digest = [0; 16];
                digest.copy_from_slice(rest);
                Ok(Auth::Md5 {
                    meticulous: auth_type == auth_type::METICULOUS_KEYED_MD5,
                    key_id,
                    seq,
                    digest,
                })
            }
            auth_type::KEYED_SHA1 | auth_type::METICULOUS_KEYED_SHA1 => {
                let (key_id, seq, rest) = keyed(data, 20).ok_or("SHA1 section not 28 octets")?;
                let mut hash = [0; 20];
                hash.copy_from_slice(rest);
                Ok(Auth::Sha1 {
                    meticulous: auth_type == auth_type::METICULOUS_KEYED_SHA1,
                    key_id,
                    seq,
                    hash,
                })
            }
            _ => Ok(Auth::Other {
                auth_type,
                data: data.to_vec(),
            }),
        }
    }

    /// Writes the section.
    pub(super) fn emit(&self, out: &mut BytesMut) {
        out.put_u8(self.auth_type());
        // At most 2 + 1 + 16, 28, or what was parsed from a u8 length.
        out.put_u8(u8::try_from(self.len()).unwrap_or(u8::MAX));
        match self {
            Auth::SimplePassword { key_id, password } => {
                out.put_u8(*key_id);
                out.put_slice(password);
            }
            Auth::Md5 {
                key_id,
                seq,
                digest,
                ..
            } => {
                out.put_u8(*key_id);
                out.put_u8(0);
                out.put_u32(*seq);
                out.put_slice(digest);
            }
            Auth::Sha1 {
                key_id, seq, hash, ..
            } => {
                out.put_u8(*key_id);
                out.put_u8(0);
                out.put_u32(*seq);
                out.put_slice(hash);
            }
            Auth::Other { data, .. } => out.put_slice(data),
        }
    }
}

/// Key ID, Reserved, Sequence Number and a `digest`-octet digest, exactly.
fn keyed(data: &[u8], digest: usize) -> Option<(u8, u32, &[u8])> {
    if data.len() != 2 + 4 + digest {
        return None;
    }
    let seq = u32::from_be_bytes(data[2..6].try_into().ok()?);
    Some((data[0], seq, &data[6..]))
}
