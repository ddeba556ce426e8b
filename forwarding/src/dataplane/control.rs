//! Changes to a running dataplane, as messages to its threads: a TUN port
//! handed to or taken from a worker (and the receive threads' dups of its
//! queues), a receive thread's peer list replaced.
//!
//! Each thread has a [`Mailbox`]: a channel plus an eventfd that sits in
//! the thread's `poll(2)` set, so a change wakes an idle thread at once
//! (milliseconds, not the 100 ms poll timeout). A busy thread looks at its
//! mailbox once per loop, between batches, with one non-blocking
//! `try_recv`: no lock on the hot path. A removal carries a [`Done`] the
//! thread signals once it dropped its fds, so that the caller knows the
//! device is released (a TUN disappears with its last fd).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use crate::tun::TunQueue;

use super::packet_io::PortQueue;

/// How long a caller waits for a thread to apply a removal.
const APPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Signalled by a thread when it applied a change.
#[derive(Debug)]
pub(super) struct Done(mpsc::SyncSender<()>);

impl Done {
    /// A `Done` and what its caller waits on.
    fn pair() -> (Done, mpsc::Receiver<()>) {
        let (tx, rx) = mpsc::sync_channel(1);
        (Done(tx), rx)
    }

    /// The change is applied.
    pub(super) fn signal(self) {
        let _ = self.0.send(());
    }
}

/// A change for a worker thread.
#[derive(Debug)]
pub(super) enum WorkerCommand {
    /// Read and write this queue of port `id` from now on.
    AddPort { id: u32, queue: PortQueue },
    /// Drop the queue of port `id`.
    RemovePort { id: u32, done: Done },
    /// Port `id`'s own addresses (ICMP error sources) are now these.
    SetIngress {
        id: u32,
        ingress: crate::pipeline::Ingress,
    },
}

/// A change for a tunnel receive thread.
#[derive(Debug)]
pub(super) enum RxCommand {
    /// Write packets for interface `id` into these queues (dups of the
    /// workers' ones), with USO or not.
    AddPort {
        id: u32,
        queues: Vec<TunQueue>,
        uso: bool,
    },
    /// Drop the queues of interface `id`.
    RemovePort { id: u32, done: Done },
    /// The tunnel ids of the peers behind this socket are now these.
    SetPeers(Vec<u32>),
    /// Stop the thread (its socket is no longer used).
    Stop,
}

/// An eventfd: written by the control plane, in the thread's poll set.
#[derive(Debug)]
struct EventFd(OwnedFd);

impl EventFd {
    fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative return is a new
        // fd we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh, valid fd nobody else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd; failure
        // (counter saturated) means it is readable anyway.
        unsafe {
            libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from our non-blocking
        // eventfd; EAGAIN (not signalled) is fine.
        unsafe {
            libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8);
        }
    }
}

/// The receiving end, owned by one thread.
#[derive(Debug)]
pub(super) struct Mailbox<T> {
    rx: mpsc::Receiver<T>,
    wake: Arc<EventFd>,
}

/// The sending end, kept by the [`super::Dataplane`].
#[derive(Debug)]
pub(super) struct Postbox<T> {
    tx: mpsc::Sender<T>,
    wake: Arc<EventFd>,
}

/// A connected mailbox and postbox.
pub(super) fn mailbox<T>() -> io::Result<(Postbox<T>, Mailbox<T>)> {
    let wake = Arc::new(EventFd::new()?);
    let (tx, rx) = mpsc::channel();
    Ok((
        Postbox {
            tx,
            wake: Arc::clone(&wake),
        },
        Mailbox { rx, wake },
    ))
}

impl<T> Mailbox<T> {
    /// The fd to poll for "a change is waiting".
    pub(super) fn fd(&self) -> RawFd {
        self.wake.0.as_raw_fd()
    }

    /// The next waiting change, if any (never blocks).
    pub(super) fn next(&self) -> Option<T> {
        match self.rx.try_recv() {
            Ok(c) => Some(c),
            Err(_) => {
                self.wake.clear();
                // A change sent between the failed receive and the clear
                // is still in the channel: look once more.
                self.rx.try_recv().ok()
            }
        }
    }
}

impl<T> Postbox<T> {
    /// Queues `command` and wakes the thread; `false` if it has stopped.
    pub(super) fn send(&self, command: T) -> bool {
        let ok = self.tx.send(command).is_ok();
        self.wake.wake();
        ok
    }
}

/// Sends a removal built by `make` to each postbox and waits until every
/// thread applied it (or stopped, or [`APPLY_TIMEOUT`] passed).
pub(super) fn remove_and_wait<T>(boxes: &[&Postbox<T>], make: impl Fn(Done) -> T) {
    let mut waits = Vec::with_capacity(boxes.len());
    for b in boxes {
        let (done, wait) = Done::pair();
        if b.send(make(done)) {
            waits.push(wait);
        }
    }
    for w in waits {
        if let Err(mpsc::RecvTimeoutError::Timeout) = w.recv_timeout(APPLY_TIMEOUT) {
            tracing::warn!("a dataplane thread did not apply a port removal in time");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_command_wakes_the_poller_and_is_read_once() {
        let (post, mail) = mailbox::<u32>().expect("eventfd");
        let mut p = [libc::pollfd {
            fd: mail.fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        assert!(!super::super::poll_fds(&mut p, 0), "readable before a send");
        assert!(post.send(7));
        assert!(super::super::poll_fds(&mut p, 1000), "no wake-up");
        assert_eq!(mail.next(), Some(7));
        assert_eq!(mail.next(), None);
        assert!(
            !super::super::poll_fds(&mut p, 0),
            "still readable after draining"
        );
        drop(mail);
        assert!(!post.send(8), "a stopped thread takes no commands");
    }
}
