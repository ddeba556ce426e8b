//! Socket I/O for BGP: the listener, outgoing connects (with TCP-MD5 keys
//! set before the SYN), and one reader and one writer task per connection.
//! These tasks only move bytes; every decision is the speaker's.
//!
//! ```text
//!   listener ──Accepted(stream)──┐
//!   connect  ──Connected/Failed──┤
//!   reader   ──Data/Closed───────┼──▶ events ──▶ speaker task
//!   writer   ──Stalled/Progress──┘
//!   writer   ──(key, bytes written)──▶ written ──▶ speaker task
//!   speaker task ──Bytes──▶ writer (per connection, unbounded, in order)
//! ```
//!
//! The event channel is bounded ([`EVENT_QUEUE`] reads): when the speaker
//! falls behind a big table dump, the readers stop reading and TCP flow
//! control slows the sender down, instead of the whole dump piling up in
//! memory.
//!
//! The writer channel is unbounded, but the speaker bounds what it holds:
//! each writer reports every completed write on the `written` channel
//! ([`Written`]) and the speaker stops encoding route changes towards a
//! connection with more than `vcpe_bgp::speaker::OUT_HIGH` bytes unwritten
//! (they wait in the RIB, coalesced per prefix). That report channel is
//! unbounded so that a writer never waits on the speaker task (which may
//! itself be waiting for the writer to finish, at shutdown); it holds at
//! most one small message per write handed to a writer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::debug;
use vcpe_bgp::speaker::ConnKey;

use super::md5::set_md5_key;

/// The BGP port.
pub const BGP_PORT: u16 = 179;

/// Bytes read per read call: one socket buffer's worth at a time, so the
/// speaker handles a big table dump in small steps and its timers run in
/// between.
const READ_CHUNK: usize = 64 * 1024;

/// Events (each at most one [`READ_CHUNK`] read) queued towards the
/// speaker task before the readers wait: 4 MiB of unprocessed input.
pub const EVENT_QUEUE: usize = 64;

/// The sending side of the event channel.
pub type Events = mpsc::Sender<NetEvent>;

/// Where writers report completed writes: (connection, bytes written).
pub type Written = mpsc::UnboundedSender<(ConnKey, u64)>;

/// A write that has not completed after this long reports the connection
/// stalled (RFC 9687: the speaker's send hold timer takes it from there).
const STALL_AFTER: Duration = Duration::from_secs(2);

/// How long a connection we closed keeps reading (and dropping) what the
/// peer still sends, waiting for its close.
const LINGER: Duration = Duration::from_secs(3);

/// What the I/O tasks tell the speaker task.
#[derive(Debug)]
pub enum NetEvent {
    /// The listener accepted a connection.
    Accepted(TcpStream, SocketAddr),
    /// An outgoing connection is up.
    Connected(ConnKey, TcpStream),
    /// An outgoing connection failed.
    ConnectFailed(ConnKey, std::io::Error),
    /// Bytes arrived.
    Data(ConnKey, Vec<u8>),
    /// The peer closed or reset the connection.
    Closed(ConnKey),
    /// A write is stuck.
    Stalled(ConnKey),
    /// The stuck write completed.
    Progress(ConnKey),
}

/// Binds the BGP listener, with the MD5 key of every neighbor that has one.
pub fn listen(addr: SocketAddr, keys: &[(IpAddr, Vec<u8>)]) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    for (peer, key) in keys {
        // An IPv4 neighbor on a dual-stack IPv6 listener arrives as a
        // v4-mapped address.
        let peer = match (addr.is_ipv6(), peer) {
            (true, IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            _ => *peer,
        };
        set_md5_key(&socket, peer, key)?;
    }
    socket.bind(addr)?;
    socket.listen(64)
}

/// Accepts connections forever.
pub async fn accept_loop(listener: std::sync::Arc<TcpListener>, events: Events) {
    let mut errors = crate::accept_backoff::AcceptErrors::new("BGP listener");
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                errors.succeeded();
                if events.send(NetEvent::Accepted(stream, from)).await.is_err() {
                    return;
                }
            }
            Err(e) => errors.pause_after(&e).await,
        }
    }
}

/// Connects to `addr`:179 (from `local`, with `key` if set) and reports.
pub fn connect(
    key: ConnKey,
    addr: IpAddr,
    local: Option<IpAddr>,
    md5: Option<Vec<u8>>,
    events: Events,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let r = async {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            if let Some(k) = &md5 {
                set_md5_key(&socket, addr, k)?;
            }
            if let Some(l) = local {
                socket.bind(SocketAddr::new(l, 0))?;
            }
            tokio::time::timeout(
                Duration::from_secs(10),
                socket.connect(SocketAddr::new(addr, BGP_PORT)),
            )
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
        }
        .await;
        let _ = events
            .send(match r {
                Ok(s) => NetEvent::Connected(key, s),
                Err(e) => NetEvent::ConnectFailed(key, e),
            })
            .await;
    })
}

/// The I/O tasks of one connection.
#[derive(Debug)]
pub struct ConnTasks {
    writer: Option<mpsc::UnboundedSender<Bytes>>,
    /// Tells the reader we closed the connection (sent on drop).
    closing: Option<oneshot::Sender<()>>,
    /// Tells the writer we closed the connection (dropped with us): it
    /// gives up on what is still queued [`LINGER`] later.
    _closing_writer: oneshot::Sender<()>,
    /// The writer task: it ends once everything queued is written, or
    /// [`LINGER`] after we closed the connection.
    written: Option<JoinHandle<()>>,
    /// The reader task: it ends at the peer's close, or [`LINGER`] after
    /// ours.
    _reader: JoinHandle<()>,
}

impl ConnTasks {
    /// Starts the reader and the writer of `stream`.
    pub fn start(key: ConnKey, stream: TcpStream, events: Events, done: Written) -> ConnTasks {
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let ev = events.clone();
        let (closing, mut closed_by_us) = oneshot::channel::<()>();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                tokio::select! {
                    r = rd.read(&mut buf) => match r {
                        Ok(0) | Err(_) => {
                            let _ = ev.send(NetEvent::Closed(key)).await;
                            return;
                        }
                        Ok(n) => {
                            let data = NetEvent::Data(key, buf[..n].to_vec());
                            if ev.send(data).await.is_err() {
                                return;
                            }
                        }
                    },
                    _ = &mut closed_by_us => break,
                }
            }
            // Closed by us: read and drop what the peer still sends until
            // it closes too (LINGER at most). A socket closed with unread
            // data sends a TCP reset, and a reset can destroy the
            // NOTIFICATION just written (a collision's Cease 6/7) before
            // the peer reads it: it would see a bare close.
            let drain = async {
                while let Ok(n) = rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(LINGER, drain).await;
        });
        let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
        let (closing_writer, mut closed) = oneshot::channel::<()>();
        let written = tokio::spawn(async move {
            // Once we closed the connection: when to stop waiting for a
            // peer that does not read (its socket, and what is queued for
            // it, would otherwise live as long as the peer keeps the TCP
            // connection open).
            let mut give_up: Option<tokio::time::Instant> = None;
            while let Some(bytes) = rx.recv().await {
                let mut write = pin!(wr.write_all(&bytes));
                let mut stalled = false;
                let r = loop {
                    tokio::select! {
                        r = &mut write => break r,
                        _ = tokio::time::sleep(STALL_AFTER), if !stalled => {
                            stalled = true;
                            let _ = events.send(NetEvent::Stalled(key)).await;
                        }
                        _ = &mut closed, if give_up.is_none() => {
                            give_up = Some(tokio::time::Instant::now() + LINGER);
                        }
                        () = tokio::time::sleep_until(
                            give_up.unwrap_or_else(tokio::time::Instant::now),
                        ), if give_up.is_some() => {
                            debug!(?key, "BGP peer does not read; dropped what was queued for it");
                            return;
                        }
                    }
                };
                if stalled {
                    let _ = events.send(NetEvent::Progress(key)).await;
                }
                if let Err(e) = r {
                    debug!(error = %e, "BGP write failed");
                    return;
                }
                let _ = done.send((key, bytes.len() as u64));
            }
            // The speaker closed the connection: everything queued is
            // written (a NOTIFICATION included); now say goodbye.
            let _ = wr.shutdown().await;
        });
        ConnTasks {
            writer: Some(tx),
            closing: Some(closing),
            _closing_writer: closing_writer,
            written: Some(written),
            _reader: reader,
        }
    }

    /// Queues bytes for writing.
    pub fn write(&self, bytes: Bytes) {
        if let Some(w) = &self.writer {
            let _ = w.send(bytes);
        }
    }

    /// Closes the connection after what is queued (a NOTIFICATION, say):
    /// the writer task, which ends when it is written, or [`LINGER`] later
    /// if the peer does not read.
    pub fn close(mut self) -> Option<JoinHandle<()>> {
        self.writer = None;
        self.written.take()
    }
}

impl Drop for ConnTasks {
    fn drop(&mut self) {
        // The writer ends by itself once its channel closes (after writing
        // what is queued); the reader stops reporting and drains until the
        // peer closes (see `start`).
        if let Some(c) = self.closing.take() {
            let _ = c.send(());
        }
    }
}

/// The live connections, by key.
pub type Conns = HashMap<ConnKey, ConnTasks>;
