//! Process-wide `tracing` subscriber set-up for `vcped`: one human-readable
//! line per event by default, or one JSON object per line
//! (`--log-format json`, `VCPE_LOG_FORMAT=json`) for log shippers.
//!
//! A JSON line holds `timestamp`, `level`, `message`, `target` and the
//! event's own fields at the top level (`neighbor`, `peer`, `reason`, ...),
//! so a shipper can index them without unpacking a nested object.
//!
//! When stderr is the journal (systemd sets `JOURNAL_STREAM` to its
//! device and inode), every line starts with its syslog priority (`<3>`
//! error, `<4>` warning, `<6>` info, `<7>` debug and trace; `sd-daemon(3)`),
//! so `journalctl -p warning` filters, and human lines leave out the
//! timestamp the journal adds itself.

use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use clap::ValueEnum;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global subscriber writing to stderr.
///
/// The level comes from `RUST_LOG` when set (e.g. `RUST_LOG=vcpe_bgp=debug`),
/// otherwise from `default_level`. Human lines are coloured only when
/// stderr is a terminal (not in the journal or a log file).
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let ansi = std::io::stderr().is_terminal();
    // `try_init` fails only if a subscriber is already installed (tests).
    let _ = if stderr_is_journal() {
        journal_subscriber(format, filter, Prioritized(std::io::stderr))
    } else {
        subscriber(format, filter, std::io::stderr, ansi)
    }
    .try_init();
}

/// Whether stderr is the journal's stream: `JOURNAL_STREAM` holds
/// `DEVICE:INODE` of the socket systemd connected it to (a redirected
/// stderr of a child of the service no longer matches).
pub fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    stream.to_string_lossy() == format!("{}:{}", meta.dev(), meta.ino())
}

/// The syslog priority of a `tracing` level, as journald reads it from a
/// line's `<N>` prefix.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// A [`MakeWriter`] whose lines start with the event's `<priority>`.
#[derive(Debug, Clone)]
pub struct Prioritized<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Prioritized<M> {
    type Writer = PrefixedWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        PrefixedWriter {
            prefix: None,
            inner: self.0.make_writer(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        PrefixedWriter {
            prefix: Some(priority(meta.level())),
            inner: self.0.make_writer_for(meta),
        }
    }
}

/// One event's writer: the `<N>` prefix before its first byte.
#[derive(Debug)]
pub struct PrefixedWriter<W> {
    prefix: Option<u8>,
    inner: W,
}

impl<W: Write> Write for PrefixedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(p) = self.prefix.take() {
            // The fmt layer writes one event with one `write_all`: prefix
            // and line go out together.
            let mut line = Vec::with_capacity(buf.len() + 4);
            line.extend_from_slice(format!("<{p}>").as_bytes());
            line.extend_from_slice(buf);
            self.inner.write_all(&line)?;
            return Ok(buf.len());
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The subscriber for the journal: `<N>` priority prefixes, no colour,
/// human lines without a timestamp (the journal stamps each line).
pub fn journal_subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Human => Box::new(builder.with_ansi(false).without_time().finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

/// The subscriber for `format`, writing its lines to `writer`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Human => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Captured log output.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn capture(format: LogFormat) -> String {
        let buf = Buf::default();
        let out = buf.clone();
        let sub = subscriber(format, EnvFilter::new("info"), move || out.clone(), false);
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(neighbor = %"10.255.0.2", reason = "hold timer expired", "BGP session down");
            tracing::info!("vcped started");
            tracing::debug!("filtered out");
        });
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_lines_have_level_message_and_fields_at_the_top() {
        let text = capture(LogFormat::Json);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["message"], "BGP session down");
        assert_eq!(lines[0]["neighbor"], "10.255.0.2");
        assert_eq!(lines[0]["reason"], "hold timer expired");
        assert!(lines[0]["timestamp"].is_string(), "{text}");
        assert_eq!(lines[1]["level"], "INFO");
        assert_eq!(lines[1]["message"], "vcped started");
    }

    /// Parses `<N>` as journald does (`sd-daemon(3)`): the priority and
    /// the rest of the line.
    fn journal_priority(line: &str) -> Option<(u8, &str)> {
        let rest = line.strip_prefix('<')?;
        let (n, text) = rest.split_once('>')?;
        Some((n.parse().ok().filter(|p| *p <= 7)?, text))
    }

    #[test]
    fn journal_lines_carry_syslog_priorities() {
        for format in [LogFormat::Human, LogFormat::Json] {
            let buf = Buf::default();
            let out = buf.clone();
            let sub = journal_subscriber(
                format,
                EnvFilter::new("debug"),
                Prioritized(move || out.clone()),
            );
            tracing::subscriber::with_default(sub, || {
                tracing::error!("reload refused");
                tracing::warn!(neighbor = %"10.255.0.2", "BGP session down");
                tracing::info!("vcped started");
                tracing::debug!("scrape");
            });
            let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            let parsed: Vec<(u8, &str)> = text
                .lines()
                .map(|l| journal_priority(l).unwrap_or_else(|| panic!("no priority: {l:?}")))
                .collect();
            let prios: Vec<u8> = parsed.iter().map(|p| p.0).collect();
            assert_eq!(prios, [3, 4, 6, 7], "{text}");
            assert!(parsed[1].1.contains("BGP session down"), "{text}");
            // `journalctl -p warning` keeps priorities 0..=4.
            let warning: Vec<&str> = parsed.iter().filter(|p| p.0 <= 4).map(|p| p.1).collect();
            assert_eq!(warning.len(), 2, "{text}");
            if format == LogFormat::Json {
                let v: serde_json::Value = serde_json::from_str(parsed[2].1).unwrap();
                assert_eq!(v["message"], "vcped started");
            } else {
                // No timestamp: the line starts with the level.
                assert!(parsed[2].1.trim_start().starts_with("INFO"), "{text}");
            }
        }
    }

    #[test]
    fn without_journal_stream_stderr_is_not_the_journal() {
        // The test harness's stderr is no journal socket whatever the env.
        if std::env::var_os("JOURNAL_STREAM").is_none() {
            assert!(!stderr_is_journal());
        }
    }

    #[test]
    fn human_lines_are_plain_text_without_colour() {
        let text = capture(LogFormat::Human);
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.contains("WARN")
                && first.contains("BGP session down")
                && first.contains("neighbor=10.255.0.2"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "ANSI escapes in {text:?}");
        assert!(serde_json::from_str::<serde_json::Value>(first).is_err());
    }
}
