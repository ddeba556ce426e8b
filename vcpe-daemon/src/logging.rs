//! Process-wide `tracing` subscriber set-up for `vcped`: one human-readable
//! line per event by default, or one JSON object per line
//! (`--log-format json`, `VCPE_LOG_FORMAT=json`) for log shippers.
//!
//! A JSON line holds `timestamp`, `level`, `message`, `target` and the
//! event's own fields at the top level (`neighbor`, `peer`, `reason`, ...),
//! so a shipper can index them without unpacking a nested object.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing::Subscriber;
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
    let _ = subscriber(format, filter, std::io::stderr, ansi).try_init();
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
