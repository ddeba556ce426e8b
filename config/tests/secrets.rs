//! Key and password files: existence, permissions (checked in a temporary
//! directory, since git does not keep file modes), content, path
//! resolution, and that secrets never leak through Debug or JSON.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::check;
use vcpe_config::{Diagnostic, Encapsulation};

const PRIVATE: &str = "SFjSRdNp3NNlvNYOczlsHd63oQ5e0akCyI1dOZ+TJWk=\n";
const PUBLIC: &str = "UTvkses05VGojfCa+qXEnOUD38+pWFyGRvceUhSErjo=";

fn write(dir: &Path, name: &str, content: &str, mode: u32) {
    let path = dir.join(name);
    fs::write(&path, content).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A config in `dir` with one WireGuard peer using `key` and a neighbor
/// using `password`; returns the parse result. The peer block starts on line 9.
fn load(
    dir: &Path,
    key: &str,
    extra_peer: &str,
    password: &str,
) -> Result<vcpe_config::Config, vcpe_config::Diagnostics> {
    let src = format!(
        "[router]\nid = \"10.255.0.1\"\nasn = 65001\n[bgp]\n[[bgp.neighbor]]\naddress = \"10.255.0.2\"\nremote_as = 65002\n{password}\n\
         [[peer]]\nname = \"vpc02\"\nendpoint = \"198.51.100.2:51820\"\nprivate_key_file = \"{key}\"\npublic_key = \"{PUBLIC}\"\n{extra_peer}\nallowed_prefixes = []\n"
    );
    let origin = dir.join("vcpe.toml");
    fs::write(&origin, &src).expect("write config");
    vcpe_config::load(&origin)
}

fn only_error(r: Result<vcpe_config::Config, vcpe_config::Diagnostics>) -> Diagnostic {
    let mut errs = r.expect_err("expected an error").errors;
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs.remove(0)
}

#[test]
fn valid_key_resolves_relative_to_config_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("keys")).expect("mkdir");
    write(dir.path(), "keys/wg.key", PRIVATE, 0o600);
    let cfg = load(dir.path(), "keys/wg.key", "", "").expect("valid");
    let Encapsulation::WireGuard {
        private_key,
        public_key,
        ..
    } = &cfg.peers[0].encapsulation
    else {
        panic!("wireguard expected");
    };
    assert_eq!(private_key.path, dir.path().join("keys/wg.key"));
    assert_eq!(private_key.key()[0], 0x48);
    assert_eq!(public_key.to_string(), PUBLIC);
}

#[test]
fn missing_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = only_error(load(dir.path(), "nope.key", "", ""));
    check(
        &d,
        12,
        20,
        "peer[0].private_key_file",
        "file 'nope.key' does not exist",
        "resolved against the configuration file's directory",
    );
}

#[test]
fn key_file_readable_by_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wg.key", PRIVATE, 0o644);
    let d = only_error(load(dir.path(), "wg.key", "", ""));
    let full = dir.path().join("wg.key");
    check(
        &d,
        12,
        20,
        "peer[0].private_key_file",
        "accessible by group or others (mode 0644)",
        &format!("chmod 600 {}", full.display()),
    );
    write(dir.path(), "wg.key", PRIVATE, 0o640);
    let d = only_error(load(dir.path(), "wg.key", "", ""));
    assert!(d.message.contains("mode 0640"), "{d}");
}

#[test]
fn key_file_with_bad_content_or_not_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wg.key", "hello\n", 0o600);
    let d = only_error(load(dir.path(), "wg.key", "", ""));
    check(
        &d,
        12,
        20,
        "peer[0].private_key_file",
        "does not contain a base64-encoded 32-byte key",
        "wg genkey",
    );
    assert!(
        !d.to_string().contains("hello"),
        "secret content must not be echoed"
    );
    let d = only_error(load(dir.path(), ".", "", ""));
    check(
        &d,
        12,
        20,
        "peer[0].private_key_file",
        "is not a regular file",
        "",
    );
}

#[test]
fn preshared_key_file_is_checked_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wg.key", PRIVATE, 0o600);
    write(dir.path(), "psk", PRIVATE, 0o604);
    let d = only_error(load(
        dir.path(),
        "wg.key",
        "preshared_key_file = \"psk\"",
        "",
    ));
    check(
        &d,
        14,
        22,
        "peer[0].preshared_key_file",
        "mode 0604",
        "chmod 600",
    );
}

#[test]
fn password_file_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wg.key", PRIVATE, 0o600);
    write(dir.path(), "md5", "s3cret\n", 0o644);
    let d = only_error(load(dir.path(), "wg.key", "", "password_file = \"md5\""));
    check(
        &d,
        8,
        17,
        "bgp.neighbor[0].password_file",
        "mode 0644",
        "chmod 600",
    );
    write(dir.path(), "md5", &"x".repeat(81), 0o600);
    let d = only_error(load(dir.path(), "wg.key", "", "password_file = \"md5\""));
    check(
        &d,
        8,
        17,
        "bgp.neighbor[0].password_file",
        "81 bytes long",
        "single line",
    );
    write(dir.path(), "md5", "s3cret\n", 0o400);
    let cfg = load(dir.path(), "wg.key", "", "password_file = \"md5\"").expect("valid");
    let pw = cfg
        .bgp
        .as_ref()
        .and_then(|b| b.neighbors[0].password.clone())
        .expect("password");
    assert_eq!(pw.secret(), b"s3cret");
}

#[test]
fn secrets_do_not_leak_in_debug_or_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "wg.key", PRIVATE, 0o600);
    write(dir.path(), "md5", "s3cret\n", 0o600);
    let cfg = load(dir.path(), "wg.key", "", "password_file = \"md5\"").expect("valid");
    let debug = format!("{cfg:?}");
    let json = serde_json::to_string(&cfg).expect("json");
    for text in [&debug, &json] {
        assert!(
            !text.contains("s3cret") && !text.contains(PRIVATE.trim()),
            "leak in {text}"
        );
        assert!(text.contains(PUBLIC), "public key shown");
    }
    assert!(debug.contains("<redacted>"));
    assert!(json.contains("\"type\":\"wireguard\""), "{json}");
}

#[test]
fn public_key_of_a_private_key_file_is_x25519() {
    // RFC 7748 §6.1, Alice's key pair.
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let private = b64.encode(hex(
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.key", &format!("{private}\n"), 0o600);
    let key = vcpe_config::load_private_key(&dir.path().join("a.key")).expect("valid key");
    assert_eq!(
        key.public_key().0.to_vec(),
        hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    );
    write(dir.path(), "open.key", &private, 0o644);
    let e = vcpe_config::load_private_key(&dir.path().join("open.key")).unwrap_err();
    assert!(e.contains("chmod 600"), "{e}");
}
