//! Root and tool checks.
//!
//! Namespace tests need root. When the tests do **not** run as root they are
//! skipped with a clear `SKIP` line (and pass vacuously). When they **do** run
//! as root — as in CI — a missing tool is a test failure with an install hint,
//! never a skip, so CI cannot silently stop testing.

use std::path::{Path, PathBuf};

/// Directories searched for tools besides `$PATH` (non-root `PATH`s, and
/// `sudo` without `-E`, often lack the `sbin` ones).
const EXTRA_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Full path of `tool`, searched in `$PATH` and then the usual system dirs.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Returns `true` (after printing `SKIP <test>: ...`) when the test must be
/// skipped because it does not run as root. When root, panics with an install
/// hint if `ip` or `ping` is missing, and returns `false`.
///
/// ```no_run
/// # fn t() {
/// if vcpe_tests::skip_unless_root("my_test") { return; }
/// # }
/// ```
/// [`require_root!`](crate::require_root) does the same with the test name filled in.
pub fn skip_unless_root(test: &str) -> bool {
    if !is_root() {
        eprintln!(
            "SKIP {test}: needs root and iproute2 (run the tests as root: sudo -E cargo test ...)"
        );
        return true;
    }
    require_tool("ip", "apt-get install -y iproute2");
    require_tool("ping", "apt-get install -y iputils-ping");
    false
}

/// Panics (failing the test) if `tool` is not installed; `install_hint` says how
/// to get it, e.g. `"apt-get install -y bird2"`. Use after the root check, for
/// tools a particular test needs.
pub fn require_tool(tool: &str, install_hint: &str) -> PathBuf {
    find_tool(tool).unwrap_or_else(|| {
        panic!("`{tool}` is required by this test but was not found in PATH or sbin dirs; install it: {install_hint}")
    })
}

/// Whether `/dev/net/tun` exists (needed by tests that run the TUN dataplane).
pub fn has_tun() -> bool {
    Path::new("/dev/net/tun").exists()
}

/// Panics with a hint if `/dev/net/tun` is missing. Call after the root check.
pub fn require_tun() {
    assert!(
        has_tun(),
        "/dev/net/tun is missing: run `modprobe tun` (in a container: pass --device /dev/net/tun)"
    );
}

/// Value a skipped test returns: `()` or `Ok(())`. Used by
/// [`require_root!`](crate::require_root).
pub trait Skipped {
    /// The "test passed vacuously" value.
    fn skipped() -> Self;
}

impl Skipped for () {
    fn skipped() -> Self {}
}

impl<E> Skipped for Result<(), E> {
    fn skipped() -> Self {
        Ok(())
    }
}

/// Returns from the enclosing test (with `()` or `Ok(())`) after printing a
/// `SKIP` line when not running as root; when root, fails the test if `ip` or
/// `ping` is missing. The test name is taken from the enclosing function.
///
/// ```no_run
/// #[test]
/// fn my_test() -> anyhow::Result<()> {
///     vcpe_tests::require_root!();
///     // ... runs only as root
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! require_root {
    () => {{
        fn __vcpe_here() {}
        let name = ::std::any::type_name_of_val(&__vcpe_here);
        let name = name.strip_suffix("::__vcpe_here").unwrap_or(name);
        if $crate::skip_unless_root(name) {
            return $crate::skip::Skipped::skipped();
        }
    }};
    ($name:expr) => {{
        if $crate::skip_unless_root($name) {
            return $crate::skip::Skipped::skipped();
        }
    }};
}
