//! The signals vcped stops and reloads on (SIGTERM, SIGINT, SIGHUP),
//! handled from the first instant: [`block_early`] runs first thing in
//! `main`, before the runtime exists, so a signal that comes during
//! start-up waits instead of killing the process (SIGHUP's default action
//! is to terminate); [`Signals::install`] then takes them over and unblocks
//! them. A SIGHUP during start-up is kept and runs as a reload once the
//! daemon is ready; a SIGTERM then stops it the normal way (socket file
//! removed, exit 0).

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal vcped acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// SIGTERM: stop.
    Term,
    /// SIGINT: stop.
    Int,
    /// SIGHUP: reload the config.
    Hup,
}

const HANDLED: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn mask(how: libc::c_int) {
    // SAFETY: `set` is initialized by sigemptyset before use; the calls
    // only change this thread's signal mask.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for s in HANDLED {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Blocks SIGTERM, SIGINT and SIGHUP on this thread and every thread it
/// starts from now on: one sent now stays pending until
/// [`Signals::install`]. Call it first in `main`, before any thread.
/// (Children started with `std::process::Command` get an empty mask.)
pub fn block_early() {
    mask(libc::SIG_BLOCK);
}

/// The handled signals, as streams.
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Takes the signals over, then unblocks them on this thread (the one
    /// running the runtime's `block_on`), so that one pending since
    /// [`block_early`] is delivered, and queued, now. Needs a runtime.
    pub fn install() -> anyhow::Result<Signals> {
        let s = Signals {
            term: signal(SignalKind::terminate()).context("installing SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing SIGHUP handler")?,
        };
        mask(libc::SIG_UNBLOCK);
        Ok(s)
    }

    /// The next signal.
    pub async fn next(&mut self) -> Sig {
        tokio::select! {
            _ = self.term.recv() => Sig::Term,
            _ = self.int.recv() => Sig::Int,
            _ = self.hup.recv() => Sig::Hup,
        }
    }

    /// A signal that came already (during start-up), if any; SIGTERM and
    /// SIGINT before SIGHUP.
    pub fn pending(&mut self) -> Option<Sig> {
        use futures_util::FutureExt;
        if self.term.recv().now_or_never().is_some() {
            return Some(Sig::Term);
        }
        if self.int.recv().now_or_never().is_some() {
            return Some(Sig::Int);
        }
        self.hup.recv().now_or_never().map(|_| Sig::Hup)
    }
}
