//! A blocking control-socket client (std's Unix socket, no async runtime),
//! used by `vcpectl` and the tests.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::reply::Reply;
use crate::request::{API_VERSION, Envelope, Request};

/// A connection to a running `vcped`.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    stream: BufReader<UnixStream>,
}

/// Why a request got no reply. Its message says what to do next.
#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be reached.
    Connect {
        /// The control socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Sending the request or reading the reply failed.
    Io {
        /// "sending to" or "reading from".
        doing: &'static str,
        /// The control socket.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The daemon closed the connection without answering.
    Closed {
        /// The control socket.
        path: PathBuf,
    },
    /// The request could not be encoded, or the reply not decoded.
    Json {
        /// What was being done.
        doing: &'static str,
        /// Why.
        source: serde_json::Error,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { path, source } => write!(
                f,
                "cannot reach vcped at {}: is it running? (start it with `vcped run --config FILE`, \
                 or point to its socket with --socket): {source}",
                path.display()
            ),
            ClientError::Io {
                doing,
                path,
                source,
            } => write!(f, "{doing} {}: {source}", path.display()),
            ClientError::Closed { path } => write!(
                f,
                "vcped closed the control connection at {} without answering; see its log",
                path.display()
            ),
            ClientError::Json { doing, source } => write!(f, "{doing}: {source}"),
        }
    }
}

impl std::error::Error for ClientError {
    // The cause is part of the message already (one line for the operator).
}

impl Client {
    /// Connects to the daemon's control socket.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let connect = || -> io::Result<UnixStream> {
            let stream = UnixStream::connect(path)?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            Ok(stream)
        };
        let stream = connect().map_err(|source| ClientError::Connect {
            path: path.to_owned(),
            source,
        })?;
        Ok(Client {
            path: path.to_owned(),
            stream: BufReader::new(stream),
        })
    }

    /// Sends one request and waits for its reply.
    pub fn call(&mut self, request: Request) -> Result<Reply, ClientError> {
        let mut line = serde_json::to_string(&Envelope {
            version: API_VERSION,
            request,
        })
        .map_err(|source| ClientError::Json {
            doing: "encoding the request",
            source,
        })?;
        line.push('\n');
        let io = |doing, source| ClientError::Io {
            doing,
            path: self.path.clone(),
            source,
        };
        self.stream
            .get_mut()
            .write_all(line.as_bytes())
            .map_err(|e| io("sending to", e))?;
        let mut answer = String::new();
        let n = self
            .stream
            .read_line(&mut answer)
            .map_err(|e| io("reading from", e))?;
        if n == 0 {
            return Err(ClientError::Closed {
                path: self.path.clone(),
            });
        }
        serde_json::from_str(&answer).map_err(|source| ClientError::Json {
            doing: "vcped sent a reply this vcpectl cannot read",
            source,
        })
    }
}
