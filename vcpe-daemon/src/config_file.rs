//! Reading the config file from a running daemon (reload, SIGHUP, `config
//! apply`, route changes): never forever. The read runs on its own thread
//! and is given up after [`READ_TIMEOUT`], so a hung network mount costs
//! one parked thread, not the control plane; a FIFO or other non-regular
//! file is refused at once ([`vcpe_config::read_config_file`]). Callers
//! read before they take any state lock.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How long a read of the config file may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The text of the config file at `path`, within [`READ_TIMEOUT`]; the
/// error says what to do.
pub fn read(path: &Path) -> Result<String, String> {
    read_within(path, READ_TIMEOUT)
}

fn read_within(path: &Path, timeout: Duration) -> Result<String, String> {
    let (tx, rx) = mpsc::sync_channel(1);
    let p = path.to_owned();
    let spawned = std::thread::Builder::new()
        .name("vcped-cfgread".into())
        .spawn(move || {
            let _ = tx.send(vcpe_config::read_config_file(&p));
        });
    if let Err(e) = spawned {
        return Err(format!(
            "cannot read {}: no thread for it ({e})",
            path.display()
        ));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(e)) => Err(format!("cannot read configuration file: {e}")),
        Err(_) => Err(format!(
            "reading {} took over {} s (a hung network mount?); nothing was changed. Make \
             the file readable, then try again",
            path.display(),
            timeout.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("vcped.toml");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read(&fifo).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(err.contains(&fifo.display().to_string()), "{err}");
    }
}
