//! The thread that installs BGP's best routes into the FIB, so that the
//! speaker task never waits for a FIB rebuild: it receives the BGP task's
//! batches over a channel and applies each to the [`Routing`] owner.
//!
//! Pull, not push: the speaker task hands over the RIB's pending changes
//! only while the thread is idle ([`FibFeed::idle`]), and the thread wakes
//! the task ([`FibFeed::ready`]) when it has applied them. Changes that
//! arrive meanwhile wait in the RIB's journal, where they coalesce per
//! prefix and cost no copy; a push queue would pile up copies whenever the
//! FIB is slower than BGP (during a table dump it is: measured, that queue
//! added ~100 bytes per route to the daemon's peak memory). Batches travel
//! in a compact form ([`FibBatch`]: a prefix and a next-hop index).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;

use tokio::sync::Notify;
use tracing::warn;

use super::Routing;
use super::bgp_routes::FibBatch;

/// The speaker task's end of the feed.
#[derive(Debug)]
pub struct FibFeed {
    tx: mpsc::Sender<FibBatch>,
    busy: Arc<AtomicBool>,
    ready: Arc<Notify>,
}

impl FibFeed {
    /// Starts the installer thread, which applies every batch to `routing`.
    pub fn start(routing: Arc<Mutex<Routing>>) -> FibFeed {
        FibFeed::with(move |batch| {
            let r = routing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .apply_bgp(batch);
            tracing::debug!(?r, "BGP routes applied to the FIB");
        })
    }

    /// Starts the installer thread; `apply` gets every batch.
    fn with(mut apply: impl FnMut(FibBatch) + Send + 'static) -> FibFeed {
        let (tx, rx) = mpsc::channel::<FibBatch>();
        let busy = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(Notify::new());
        let (b, r) = (Arc::clone(&busy), Arc::clone(&ready));
        let spawned = thread::Builder::new()
            .name("vcpe-bgp-fib".into())
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    apply(batch);
                    b.store(false, Ordering::Release);
                    r.notify_one();
                }
            });
        if let Err(e) = spawned {
            // Without the thread every send below fails and says so.
            warn!(error = %e, "cannot start the BGP FIB installer thread; BGP routes will not be forwarded");
        }
        FibFeed { tx, busy, ready }
    }

    /// Whether the thread takes a batch now.
    pub fn idle(&self) -> bool {
        !self.busy.load(Ordering::Acquire)
    }

    /// Hands a batch to the thread (call only when [`FibFeed::idle`]).
    pub fn send(&self, changes: FibBatch) {
        self.busy.store(true, Ordering::Release);
        if self.tx.send(changes).is_err() {
            self.busy.store(false, Ordering::Release);
            warn!("the BGP FIB installer thread is gone; route changes are not installed");
        }
    }

    /// Notified each time the thread has applied a batch.
    pub fn ready(&self) -> Arc<Notify> {
        Arc::clone(&self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[tokio::test]
    async fn one_batch_at_a_time_and_the_thread_says_when_it_is_done() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let feed = FibFeed::with(move |b| {
            thread::sleep(Duration::from_millis(20));
            s.lock().unwrap().extend(b.into_parts().1.map(|(p, _)| p));
        });
        let ready = feed.ready();
        let prefixes: Vec<ipnet::IpNet> = (0..5u32)
            .map(|i| format!("10.0.{i}.0/24").parse().unwrap())
            .collect();
        for p in &prefixes {
            assert!(feed.idle());
            feed.send(
                vec![crate::routing::bgp_routes::FibUpdate {
                    prefix: *p,
                    next_hop: None,
                    from: None,
                }]
                .into(),
            );
            assert!(!feed.idle(), "busy until the batch is applied");
            tokio::time::timeout(Duration::from_secs(10), ready.notified())
                .await
                .expect("the thread reports the batch done");
        }
        assert!(feed.idle());
        let got: Vec<_> = seen.lock().unwrap().clone();
        assert_eq!(got, prefixes);
    }
}
