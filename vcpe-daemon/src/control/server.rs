//! The daemon side of the control socket: accepts connections and answers
//! requests through a handler supplied by the daemon's wiring.
//!
//! Bounded against a client that holds connections open: at most
//! [`MAX_CONNECTIONS`] are served at once (the next ones get a refusal
//! that says so), a connection idle for [`IDLE_TIMEOUT`] is closed, and a
//! failing accept (out of file descriptors) backs off instead of spinning
//! ([`crate::accept_backoff`]).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tracing::debug;

use crate::accept_backoff::AcceptErrors;

use vcpe_api::{Handler, Reply};

/// Longest request line accepted, so a stuck client cannot grow our memory.
const MAX_REQUEST: usize = 1 << 20;

/// Control connections served at once; one more is answered with a
/// refusal and closed.
pub const MAX_CONNECTIONS: usize = 64;

/// Connections being refused at once (each waits up to [`REFUSE_WAIT`]
/// for the request, so the refusal is read as its answer); past that, an
/// extra connection is closed without a word.
const MAX_REFUSING: usize = 64;

/// How long a refused connection may take to send its request.
const REFUSE_WAIT: Duration = Duration::from_secs(1);

/// A connection with no request for this long is closed (and so is one
/// that does not read its reply for this long).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound control socket; the socket file is removed on drop.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
}

impl Server {
    /// Binds the socket at `path` with the given file mode (0o600 or 0o660).
    ///
    /// A stale socket file left by a crashed run is replaced; a socket some
    /// live daemon still answers on is refused.
    pub fn bind(path: &Path, mode: u32) -> anyhow::Result<Server> {
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                anyhow::bail!(
                    "another vcped already answers on {}; stop it first or choose another \
                     [control] socket",
                    path.display()
                );
            }
            fs::remove_file(path)
                .with_context(|| format!("removing stale socket {}", path.display()))?;
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting mode on {}", path.display()))?;
        Ok(Server {
            listener,
            path: path.to_owned(),
        })
    }

    /// Gives the socket file to `group` (the config's `[control] group`,
    /// whose members may then use `vcpectl` without root; mode 0660).
    pub fn set_group(&self, group: &str) -> anyhow::Result<()> {
        let gid = nix::unistd::Group::from_name(group)
            .with_context(|| format!("looking up group {group:?}"))?
            .with_context(|| {
                format!(
                    "[control] group {group:?} does not exist; create it (groupadd {group}) or \
                     remove the setting (then only root can use vcpectl)"
                )
            })?
            .gid;
        nix::unistd::chown(&self.path, None, Some(gid))
            .with_context(|| format!("giving {} to group {group}", self.path.display()))?;
        Ok(())
    }

    /// Serves connections forever, one task per connection, at most
    /// [`MAX_CONNECTIONS`] at once.
    pub async fn serve<H: Handler + Send + Sync + 'static>(self, handler: Arc<H>) {
        self.serve_with(handler, MAX_CONNECTIONS, IDLE_TIMEOUT)
            .await;
    }

    async fn serve_with<H: Handler + Send + Sync + 'static>(
        self,
        handler: Arc<H>,
        max: usize,
        idle: Duration,
    ) {
        let slots = Arc::new(Semaphore::new(max));
        let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
        let mut errors = AcceptErrors::new("control socket");
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => {
                    errors.succeeded();
                    stream
                }
                Err(e) => {
                    errors.pause_after(&e).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                if let Ok(r) = Arc::clone(&refusing).try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream, max).await;
                        drop(r);
                    });
                }
                continue;
            };
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                if let Err(e) = connection(stream, handler, idle).await {
                    debug!(error = %e, "control connection ended");
                }
                drop(slot);
            });
        }
    }
}

/// The answer to a connection past the limit.
fn busy(max: usize) -> Reply {
    Reply::Error {
        message: format!(
            "vcped already serves {max} control connections, the most it serves at once; \
             try again in a moment, or close idle vcpectl sessions (idle ones are closed \
             after {} s)",
            IDLE_TIMEOUT.as_secs()
        ),
    }
}

/// Reads the request (briefly) so the client reads the refusal as its
/// answer rather than a broken pipe, then answers it and closes.
async fn refuse(stream: UnixStream, max: usize) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read.take(MAX_REQUEST as u64)).lines();
    let _ = tokio::time::timeout(REFUSE_WAIT, lines.next_line()).await;
    if let Ok(mut text) = serde_json::to_string(&busy(max)) {
        text.push('\n');
        let _ = tokio::time::timeout(REFUSE_WAIT, write.write_all(text.as_bytes())).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

async fn connection<H: Handler + Send + Sync + 'static>(
    stream: UnixStream,
    handler: Arc<H>,
    idle: Duration,
) -> anyhow::Result<()> {
    // Who is on the other end (SO_PEERCRED): recorded with config changes.
    let uid = stream.peer_cred().ok().map(|c| c.uid());
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read.take(MAX_REQUEST as u64)).lines();
    loop {
        let Ok(next) = tokio::time::timeout(idle, lines.next_line()).await else {
            debug!("control connection idle for {} s, closed", idle.as_secs());
            return Ok(());
        };
        let Some(line) = next? else {
            return Ok(());
        };
        // Off the runtime's workers: a handler may wait for the routing
        // mutex (held by the FIB thread for a whole batch) or for the BGP
        // task, and must not stall BGP timers and sockets meanwhile.
        let h = Arc::clone(&handler);
        let reply = tokio::task::spawn_blocking(move || answer(&line, h.as_ref(), uid)).await?;
        let mut text = serde_json::to_string(&reply)?;
        text.push('\n');
        tokio::time::timeout(idle, write.write_all(text.as_bytes()))
            .await
            .context("the client did not read its reply")??;
    }
}

fn answer<H: Handler>(line: &str, handler: &H, uid: Option<u32>) -> Reply {
    match vcpe_api::parse_request_line(line) {
        Ok(request) => handler.handle_from(request, uid),
        Err(message) => Reply::Error { message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vcpe_api::{Client, Request, Status};

    struct Fixed;
    impl Handler for Fixed {
        fn handle(&self, request: Request) -> Reply {
            match request {
                Request::Status => Reply::Status(Status {
                    version: "t".into(),
                    pid: 1,
                    uptime_secs: 2,
                    config_path: "c".into(),
                    router_id: "10.0.0.1".into(),
                    asn: 65001,
                    interfaces: 1,
                    static_routes: 2,
                    peers: 3,
                    bgp_neighbors: 4,
                }),
                _ => Reply::Error {
                    message: "not answered in this test".into(),
                },
            }
        }
    }

    #[test]
    fn wrong_version_and_garbage_get_errors_that_say_what_to_do() {
        let Reply::Error { message } = answer(r#"{"version":9,"command":"status"}"#, &Fixed, None)
        else {
            panic!("expected error")
        };
        assert!(message.contains("speaks version 1"), "{message}");
        let Reply::Error { message } = answer("not json", &Fixed, None) else {
            panic!("expected error")
        };
        assert!(message.contains("not JSON"), "{message}");
        let Reply::Error { message } = answer(r#"{"version":1,"command":"fly"}"#, &Fixed, None)
        else {
            panic!("expected error")
        };
        assert!(message.contains("unknown"), "{message}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_socket_goes_to_the_configured_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let server = Server::bind(&path, 0o660).unwrap();
        // Group 0 exists everywhere; its name differs (root, wheel).
        let root = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(0))
            .unwrap()
            .unwrap();
        server.set_group(&root.name).unwrap();
        let err = server.set_group("no-such-group-vcpe").unwrap_err();
        assert!(
            format!("{err:#}").contains("groupadd no-such-group-vcpe"),
            "{err:#}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn client_and_server_talk_over_a_real_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let server = Server::bind(&path, 0o600).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        tokio::spawn(server.serve(Arc::new(Fixed)));
        let p = path.clone();
        let reply = tokio::task::spawn_blocking(move || {
            let mut c = Client::connect(&p).unwrap();
            c.call(Request::Status).unwrap()
        })
        .await
        .unwrap();
        let Reply::Status(s) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(s.bgp_neighbors, 4);
        // A second bind on a live socket is refused rather than stealing it.
        let err = Server::bind(&path, 0o600).unwrap_err().to_string();
        assert!(err.contains("already answers"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn past_the_limit_a_client_is_refused_and_idle_ones_are_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let server = Server::bind(&path, 0o600).unwrap();
        let idle = Duration::from_millis(500);
        tokio::spawn(server.serve_with(Arc::new(Fixed), 2, idle));
        let p = path.clone();
        tokio::task::spawn_blocking(move || {
            // Two idle connections take both places...
            let held: Vec<_> = (0..2)
                .map(|_| std::os::unix::net::UnixStream::connect(&p).unwrap())
                .collect();
            std::thread::sleep(Duration::from_millis(100));
            // ... so a third gets the refusal as its answer.
            let mut c = Client::connect(&p).unwrap();
            let reply = c.call(Request::Status).unwrap();
            let Reply::Error { message } = reply else {
                panic!("{reply:?}")
            };
            assert!(
                message.contains("already serves 2 control connections"),
                "{message}"
            );
            // Idle past the timeout, they are closed: a read sees EOF.
            for mut h in held {
                h.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 1];
                assert_eq!(std::io::Read::read(&mut h, &mut buf).unwrap(), 0);
            }
            // And the places are free again.
            let mut c = Client::connect(&p).unwrap();
            assert!(matches!(c.call(Request::Status).unwrap(), Reply::Status(_)));
        })
        .await
        .unwrap();
    }
}
