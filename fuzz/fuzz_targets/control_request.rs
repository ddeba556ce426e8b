//! One line read from the control socket, through the daemon's own request
//! parser: refused with a message, or a command, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    if let Err(message) = vcpe_api::parse_request_line(&line) {
        assert!(!message.is_empty());
    }
});
