//! Helpers shared by the validation tests: a minimal valid configuration
//! and lookups of the diagnostic reported for a key path.

#![allow(dead_code)]

use std::path::Path;

use vcpe_config::{Config, Diagnostic, Diagnostics};

/// A small valid configuration (no key files) tests append to.
pub const BASE: &str = r#"[router]
id = "10.255.0.1"
asn = 65001

[[interface]]
name = "vcpe0"
addresses = ["10.255.0.1/24", "fd00:255::1/64"]
"#;

/// Parses `src` as `test.toml`.
pub fn parse(src: &str) -> Result<Config, Diagnostics> {
    vcpe_config::parse(src, Path::new("test.toml"))
}

/// All diagnostics for `src`, which must be invalid.
pub fn errors(src: &str) -> Vec<Diagnostic> {
    match parse(src) {
        Ok(_) => panic!("expected errors for:\n{src}"),
        Err(d) => d.errors,
    }
}

/// The single diagnostic for `src`; fails if there are none or several.
pub fn only(src: &str) -> Diagnostic {
    let mut errs = errors(src);
    assert_eq!(errs.len(), 1, "expected exactly one error, got:\n{errs:#?}");
    errs.remove(0)
}

/// Asserts position, path and message/help fragments of a diagnostic.
pub fn check(d: &Diagnostic, line: usize, column: usize, path: &str, message: &str, help: &str) {
    assert_eq!(
        (d.line, d.column, d.path.as_str()),
        (line, column, path),
        "{d}"
    );
    assert!(
        d.message.contains(message),
        "message {:?} lacks {message:?}",
        d.message
    );
    let h = d.help.as_deref().unwrap_or("");
    assert!(h.contains(help), "help {h:?} lacks {help:?}");
}

/// `BASE` plus `extra`, and the 1-based line number `extra` starts on.
pub fn with(extra: &str) -> (String, usize) {
    (format!("{BASE}{extra}"), BASE.lines().count() + 1)
}
