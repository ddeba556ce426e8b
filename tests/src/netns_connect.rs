//! A TCP connection made from inside a network namespace by a test process
//! that stays outside it: a helper thread enters the namespace (`setns`
//! changes only the calling thread) and connects; the socket stays in the
//! namespace for good. Test-side BGP peers (tests/src/bgp_feed.rs) use it
//! to reach a vcped in its namespace.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use crate::netns::{NETNS_RUN_DIR, Netns};

/// A TCP connection to `to` made from inside `ns`. Retries for 20 s while
/// the listener is not up yet.
pub fn connect_in(ns: &Netns, to: SocketAddr) -> Result<TcpStream> {
    let path = PathBuf::from(NETNS_RUN_DIR).join(ns.name());
    std::thread::scope(|s| {
        s.spawn(|| {
            let f = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            // SAFETY: plain syscall on an fd we own; it affects only this
            // thread, which ends right after connecting.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error())
                    .with_context(|| format!("entering network namespace {}", ns.name()));
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match TcpStream::connect_timeout(&to, Duration::from_secs(5)) {
                    Ok(stream) => return Ok(stream),
                    Err(e) if Instant::now() >= deadline => {
                        return Err(e).with_context(|| format!("connecting to {to}"));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })
        .join()
        .map_err(|_| anyhow!("the connecting thread panicked"))?
    })
}
