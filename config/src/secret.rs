//! Secret material read from files (WireGuard keys, TCP-MD5 passwords) and
//! the checks applied to those files: existence, regular file, no group or
//! other permission bits, and content format. Secrets never appear in
//! `Debug` output or serialized output.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Serialize, Serializer};

/// Maximum TCP-MD5 key length (Linux `TCP_MD5SIG_MAXKEYLEN`).
pub const MD5_MAX_KEY_LEN: usize = 80;

/// A 32-byte key read from a file (WireGuard private or pre-shared key).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// Path the key was read from (resolved against the config directory).
    pub path: PathBuf,
    key: [u8; 32],
}

impl KeyFile {
    /// Wraps key material read from `path`.
    pub fn new(path: PathBuf, key: [u8; 32]) -> Self {
        Self { path, key }
    }

    /// The raw key bytes.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Serialize for KeyFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.path.display())
    }
}

/// A TCP-MD5 password read from a file (trailing newline stripped).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordFile {
    /// Path the password was read from.
    pub path: PathBuf,
    secret: Vec<u8>,
}

impl PasswordFile {
    /// Wraps a password read from `path`.
    pub fn new(path: PathBuf, secret: Vec<u8>) -> Self {
        Self { path, secret }
    }

    /// The password bytes (1..=80 bytes).
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordFile")
            .field("path", &self.path)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Serialize for PasswordFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.path.display())
    }
}

/// A WireGuard public key (not secret; shown as base64).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl KeyFile {
    /// The X25519 public key of this private key (what `wg pubkey` prints).
    pub fn public_key(&self) -> PublicKey {
        let secret = x25519_dalek::StaticSecret::from(self.key);
        PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }
}

/// Reads a WireGuard private key file as the config does (owner-only
/// permissions, base64 of 32 bytes); errors say what to do.
pub fn load_private_key(path: &Path) -> Result<KeyFile, String> {
    read_key_file(path, &path.display().to_string()).map_err(|e| match e.help {
        Some(h) => format!("{}; {h}", e.message),
        None => e.message,
    })
}

/// Writes a new random WireGuard private key (base64, as `wg genkey`
/// prints it, clamped as X25519 wants) to `path`, which must not exist yet:
/// created owner-only (mode 0600) and synced before this returns, so the
/// key a config names is never half-written. Never overwrites a file: the
/// running config may still use the old key.
pub fn generate_private_key(path: &Path) -> Result<KeyFile, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| format!("cannot read the system's random source: {e}"))?;
    key[0] &= 248;
    key[31] = (key[31] & 127) | 64;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                format!(
                    "{} exists already; keys are never overwritten (a running config may use it): \
                     choose a new file name, e.g. {}.new",
                    path.display(),
                    path.display()
                )
            } else {
                format!("cannot create {}: {e}", path.display())
            }
        })?;
    let written = file
        .write_all(format!("{}\n", STANDARD.encode(key)).as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(path);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(KeyFile::new(path.to_path_buf(), key))
}

/// Why a secret file or key string was rejected: message and help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct SecretError {
    pub message: String,
    pub help: Option<String>,
}

impl SecretError {
    fn new(message: String, help: impl Into<Option<String>>) -> Self {
        Self {
            message,
            help: help.into(),
        }
    }
}

/// Decodes a base64 WireGuard key (32 bytes) from text such as `wg genkey` output.
pub(crate) fn decode_key(text: &str) -> Option<[u8; 32]> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

/// Reads `path` after checking that it is a regular file with no group or
/// other permission bits. `shown` is the path as written in the config.
fn read_private_file(path: &Path, shown: &str) -> Result<Vec<u8>, SecretError> {
    let meta = fs::metadata(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            SecretError::new(
                format!("file '{shown}' does not exist (looked for {})", path.display()),
                "create it, or fix the path; relative paths are resolved against the configuration file's directory".to_string(),
            )
        } else {
            SecretError::new(format!("cannot access '{shown}': {e}"), None)
        }
    })?;
    if !meta.is_file() {
        return Err(SecretError::new(
            format!("'{shown}' is not a regular file"),
            "point this at a file containing the secret".to_string(),
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::new(
            format!("secret file '{shown}' is accessible by group or others (mode {mode:04o})"),
            format!("restrict it to its owner: chmod 600 {}", path.display()),
        ));
    }
    fs::read(path).map_err(|e| SecretError::new(format!("cannot read '{shown}': {e}"), None))
}

/// Reads and decodes a 32-byte base64 key file.
pub(crate) fn read_key_file(path: &Path, shown: &str) -> Result<KeyFile, SecretError> {
    let bytes = read_private_file(path, shown)?;
    let key = std::str::from_utf8(&bytes).ok().and_then(decode_key);
    match key {
        Some(key) => Ok(KeyFile::new(path.to_path_buf(), key)),
        None => Err(SecretError::new(
            format!("'{shown}' does not contain a base64-encoded 32-byte key"),
            format!(
                "generate one with: vcpectl key generate {} (or wg genkey > {})",
                path.display(),
                path.display()
            ),
        )),
    }
}

/// Reads a BFD Keyed SHA1 key file (one line, 1 to 20 bytes; trailing
/// newline stripped; RFC 5880 §4.4: the key is padded to 20 octets).
pub(crate) fn read_bfd_key_file(path: &Path, shown: &str) -> Result<PasswordFile, SecretError> {
    let mut bytes = read_private_file(path, shown)?;
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    if bytes.is_empty() || bytes.len() > 20 {
        return Err(SecretError::new(
            format!(
                "key in '{shown}' is {} bytes long; BFD Keyed SHA1 keys are 1 to 20 bytes",
                bytes.len()
            ),
            "put the key on a single line in the file".to_string(),
        ));
    }
    Ok(PasswordFile::new(path.to_path_buf(), bytes))
}

/// Reads a TCP-MD5 password file (one line; trailing newline stripped).
pub(crate) fn read_password_file(path: &Path, shown: &str) -> Result<PasswordFile, SecretError> {
    let mut bytes = read_private_file(path, shown)?;
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    if bytes.is_empty() || bytes.len() > MD5_MAX_KEY_LEN {
        return Err(SecretError::new(
            format!(
                "password in '{shown}' is {} bytes long; TCP-MD5 keys must be 1 to {MD5_MAX_KEY_LEN} bytes",
                bytes.len()
            ),
            "put the password on a single line in the file".to_string(),
        ));
    }
    Ok(PasswordFile::new(path.to_path_buf(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets() {
        let k = KeyFile::new("k".into(), [7; 32]);
        let p = PasswordFile::new("p".into(), b"hunter2".to_vec());
        let shown = format!("{k:?} {p:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains("hunter2") && !shown.contains('7'));
    }

    #[test]
    fn a_generated_key_is_owner_only_loads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.key");
        let k = generate_private_key(&path).expect("generated");
        let mode = fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = load_private_key(&path).expect("loads as a config key");
        assert_eq!(loaded.key(), k.key());
        assert_eq!(loaded.public_key(), k.public_key());
        // Clamped as `wg genkey` prints it.
        assert_eq!(k.key()[0] & 7, 0);
        assert_eq!(k.key()[31] & 0xc0, 0x40);
        let again = generate_private_key(&path).unwrap_err();
        assert!(again.contains("exists already"), "{again}");
        assert_eq!(load_private_key(&path).expect("kept").key(), k.key());
        let other = generate_private_key(&dir.path().join("other.key")).expect("second");
        assert_ne!(other.key(), k.key());
    }

    #[test]
    fn decode_key_requires_32_bytes() {
        assert!(decode_key("AAAA").is_none());
        assert!(decode_key("not base64!").is_none());
        let k = STANDARD.encode([1u8; 32]);
        assert_eq!(decode_key(&format!("{k}\n")), Some([1; 32]));
    }
}
