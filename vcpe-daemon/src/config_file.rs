//! Reading the config file from a running daemon (reload, SIGHUP, `config
//! apply`, route changes, `bgp neighbor ... --persist`): never forever.
//! The read runs on its own thread and is given up after [`READ_TIMEOUT`],
//! so a hung network mount costs one parked thread, not the control plane;
//! a FIFO or other non-regular file is refused at once
//! ([`vcpe_config::read_config_file`]). Reload reads before it takes any
//! state lock; an edit (route add/del, neighbor --persist) must read under
//! the running config's writer turn, and the timeout bounds how long it
//! holds it.

use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How long a read of the config file may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The text of the config file at `path`, within [`READ_TIMEOUT`]; the
/// error says what to do.
pub fn read(path: &Path) -> Result<String, String> {
    read_io(path).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => format!("reading {}: {e}", path.display()),
        _ => format!("cannot read configuration file: {e}"),
    })
}

/// As [`read`], with the error as an [`io::Error`] (a timeout is
/// [`io::ErrorKind::TimedOut`]) for callers that wrap it.
pub fn read_io(path: &Path) -> io::Result<String> {
    read_within(path, READ_TIMEOUT, vcpe_config::read_config_file)
}

fn read_within(
    path: &Path,
    timeout: Duration,
    read: fn(&Path) -> io::Result<String>,
) -> io::Result<String> {
    let (tx, rx) = mpsc::sync_channel(1);
    let p = path.to_owned();
    std::thread::Builder::new()
        .name("vcped-cfgread".into())
        .spawn(move || {
            let _ = tx.send(read(&p));
        })
        .map_err(|e| io::Error::other(format!("no thread to read it ({e})")))?;
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "took over {} s (a hung network mount?); nothing was changed. Make the file \
                 readable, then try again",
                timeout.as_secs()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

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

    /// A read that blocks (as on a hung network mount, which cannot be
    /// made here without FUSE) is given up after the timeout, with an
    /// error that says so; the reading thread stays parked, the caller
    /// goes on.
    #[test]
    fn a_read_that_hangs_is_given_up_after_the_timeout() {
        fn hangs(_: &Path) -> io::Result<String> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(String::new())
        }
        let start = Instant::now();
        let e = read_within(
            Path::new("/mnt/nfs/vcped.toml"),
            Duration::from_millis(200),
            hangs,
        )
        .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(60));
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("hung network mount"), "{e}");
    }

    #[test]
    fn a_regular_file_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("vcped.toml");
        std::fs::write(&f, "[router]\n").expect("write");
        assert_eq!(read(&f).expect("read"), "[router]\n");
    }
}
