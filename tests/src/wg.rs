//! WireGuard keys from the real tools (`wg genkey`, `wg pubkey` of
//! wireguard-tools), written as key files the way vcped wants them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};

/// A fresh key pair: (private, public), base64.
pub fn keypair() -> Result<(String, String)> {
    let out = Command::new("wg")
        .arg("genkey")
        .output()
        .context("running `wg genkey` (apt-get install wireguard-tools)")?;
    ensure!(out.status.success(), "wg genkey failed");
    let private = String::from_utf8(out.stdout)?.trim().to_owned();
    let mut child = Command::new("wg")
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running `wg pubkey`")?;
    child
        .stdin
        .take()
        .context("wg pubkey stdin")?
        .write_all(private.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(out.status.success(), "wg pubkey failed");
    Ok((private, String::from_utf8(out.stdout)?.trim().to_owned()))
}

/// Writes `key` to `path` with mode 0600 (vcped refuses key files others
/// can read).
pub fn write_key(path: &Path, key: &str) -> Result<PathBuf> {
    std::fs::write(path, format!("{key}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(path.to_owned())
}
