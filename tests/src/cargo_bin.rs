//! Locating workspace binaries (`vcped`, `vcpectl`) for tests that run them.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Path of workspace binary `name` (e.g. `"vcped"`); panics with a hint to
/// build it if it is missing. See [`try_cargo_bin`].
pub fn cargo_bin(name: &str) -> PathBuf {
    try_cargo_bin(name).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Path of workspace binary `name`, searched in order in: the profile dir of
/// the running test executable (`target/<profile>/`), then
/// `$CARGO_TARGET_DIR/{debug,release}`, then `<workspace>/target/{debug,release}`.
/// The binary is not built for you: `cargo build -p vcpe-daemon -p vcpectl` first.
pub fn try_cargo_bin(name: &str) -> Result<PathBuf> {
    let candidates = candidates(name);
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = candidates
        .iter()
        .map(|p| format!("  {}", p.display()))
        .collect();
    bail!(
        "binary `{name}` not found; build it first: `cargo build -p vcpe-daemon -p vcpectl` \
         (add --release for release tests). Looked in:\n{}",
        tried.join("\n")
    )
}

fn candidates(name: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    // target/<profile>/deps/<test-exe> -> target/<profile>
    if let Some(profile_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
    {
        dirs.push(profile_dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let mut targets = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        targets.push(workspace.join(t)); // join keeps absolute paths as they are
    }
    targets.push(workspace.join("target"));
    for t in targets {
        dirs.push(t.join("debug"));
        dirs.push(t.join("release"));
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let p = d.join(name);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_names_the_build_command() {
        let err = try_cargo_bin("no-such-binary-vcpe")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cargo build -p vcpe-daemon -p vcpectl"),
            "{err}"
        );
        assert!(err.contains("no-such-binary-vcpe"), "{err}");
    }
}
