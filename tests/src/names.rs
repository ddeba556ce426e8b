//! Unique names for namespaces and interfaces.
//!
//! Tests run in parallel (threads inside one test binary, and possibly several
//! test processes at once), so every name the harness creates embeds the
//! creating process id and a per-process atomic counter. Everything starts with
//! [`PREFIX`] so leftovers can be recognised (see [`crate::sweep_stale`]).

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Result, bail};

/// Prefix of every namespace and temporary interface name the harness creates.
pub const PREFIX: &str = "vt";

/// Longest interface name the kernel accepts (`IFNAMSIZ - 1`).
pub const IFNAME_MAX: usize = 15;

/// Longest tag kept in a lab id (longer tags are truncated).
const TAG_MAX: usize = 32;

static LAB_SEQ: AtomicU64 = AtomicU64::new(0);
static IF_SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh lab id: `vt{pid:x}-{seq}-{tag}`. Namespace names are
/// `{lab id}-{name}`, so the creating pid can be recovered from any of them.
pub fn lab_id(tag: &str) -> String {
    let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{:x}-{seq}-{}", std::process::id(), sanitize(tag))
}

/// A fresh interface name `vt{pid, 5 base-36 digits}{counter, base 36}`,
/// at most [`IFNAME_MAX`] bytes and unique across threads and processes.
pub fn ifname() -> String {
    let seq = IF_SEQ.fetch_add(1, Ordering::Relaxed);
    // pid_max is at most 2^22 = 4194304 < 36^5, so the pid fits 5 digits; the
    // counter gets the remaining 8 digits (36^8 ≈ 2.8e12 names per process).
    let name = format!(
        "{PREFIX}{:0>5}{}",
        base36(u64::from(std::process::id())),
        base36(seq % 36u64.pow(8))
    );
    debug_assert!(name.len() <= IFNAME_MAX);
    name
}

/// The pid encoded in a harness namespace name (`vt{pid:x}-{seq}-...`), or
/// `None` if the name was not made by [`lab_id`].
pub fn pid_of(netns_name: &str) -> Option<u32> {
    let rest = netns_name.strip_prefix(PREFIX)?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?;
    let seq = parts.next()?;
    let _tag = parts.next()?;
    if pid.is_empty() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    u32::from_str_radix(pid, 16).ok().filter(|&p| p > 0)
}

/// Checks that `name` is usable as an interface name.
pub fn check_ifname(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > IFNAME_MAX {
        bail!(
            "interface name {name:?} must be 1..={IFNAME_MAX} bytes (IFNAMSIZ-1), it is {}",
            name.len()
        );
    }
    if name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        bail!("interface name {name:?} contains characters the kernel rejects");
    }
    Ok(())
}

/// Checks that `name` is a short, shell- and path-safe word (`[A-Za-z0-9_-]+`).
pub(crate) fn check_word(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > TAG_MAX
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("{what} {name:?} must be 1..={TAG_MAX} characters of [A-Za-z0-9_-]");
    }
    Ok(())
}

fn sanitize(tag: &str) -> String {
    let s: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(TAG_MAX)
        .collect();
    if s.is_empty() { "lab".to_owned() } else { s }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ifnames_are_short_and_unique() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..25_000).map(|_| ifname()).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for name in h.join().unwrap() {
                assert!(name.len() <= IFNAME_MAX, "{name} is {} bytes", name.len());
                assert!(name.starts_with(PREFIX), "{name}");
                check_ifname(&name).unwrap();
                assert!(seen.insert(name.clone()), "duplicate interface name {name}");
            }
        }
        assert_eq!(seen.len(), 100_000);
    }

    #[test]
    fn ifname_fits_with_the_largest_pid() {
        let worst = format!(
            "{PREFIX}{:0>5}{}",
            base36(1 << 22),
            base36(36u64.pow(8) - 1)
        );
        assert_eq!(worst.len(), IFNAME_MAX);
    }

    #[test]
    fn lab_ids_encode_the_pid() {
        let a = lab_id("smoke test/1");
        let b = lab_id("smoke test/1");
        assert_ne!(a, b);
        assert!(a.ends_with("-smoke_test_1"), "{a}");
        assert_eq!(pid_of(&a), Some(std::process::id()));
        assert_eq!(pid_of(&format!("{a}-r1")), Some(std::process::id()));
        assert_eq!(pid_of("vtest"), None);
        assert_eq!(pid_of("vt1f-x-tag"), None);
        assert_eq!(pid_of("other-1-tag"), None);
    }

    #[test]
    fn ifname_checks() {
        check_ifname("eth0").unwrap();
        check_ifname("abcdefghijklmno").unwrap();
        assert!(check_ifname("abcdefghijklmnop").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a/b").is_err());
    }
}
