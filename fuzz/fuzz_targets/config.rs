//! A configuration file's text through the config crate's full
//! load-from-string path (TOML, model, validation with file:line
//! diagnostics). Refusals must come with at least one diagnostic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(diagnostics) = vcpe_config::parse(text, Path::new("/nonexistent/fuzz.toml")) {
        assert!(!diagnostics.errors.is_empty());
    }
});
