//! Blocking control-socket client used by `vcpectl` and the tests.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::proto::{API_VERSION, Envelope, Reply, Request};

/// A connection to a running `vcped`.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    stream: BufReader<UnixStream>,
}

impl Client {
    /// Connects to the daemon's control socket.
    pub fn connect(path: &Path) -> anyhow::Result<Client> {
        let stream = UnixStream::connect(path).with_context(|| {
            format!(
                "cannot reach vcped at {}: is it running? (start it with `vcped run --config FILE`, \
                 or point to its socket with --socket)",
                path.display()
            )
        })?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            path: path.to_owned(),
            stream: BufReader::new(stream),
        })
    }

    /// Sends one request and waits for its reply.
    pub fn call(&mut self, request: Request) -> anyhow::Result<Reply> {
        let mut line = serde_json::to_string(&Envelope {
            version: API_VERSION,
            request,
        })?;
        line.push('\n');
        self.stream
            .get_mut()
            .write_all(line.as_bytes())
            .with_context(|| format!("sending to {}", self.path.display()))?;
        let mut answer = String::new();
        let n = self
            .stream
            .read_line(&mut answer)
            .with_context(|| format!("reading from {}", self.path.display()))?;
        if n == 0 {
            bail!(
                "vcped closed the control connection at {} without answering; see its log",
                self.path.display()
            );
        }
        serde_json::from_str(&answer).context("vcped sent a reply this vcpectl cannot read")
    }
}
