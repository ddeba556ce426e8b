//! The standard `process_*` metrics of the Prometheus client libraries
//! (CPU time, resident and virtual memory, open and maximum file
//! descriptors, start time), read from `/proc/self` at each scrape. The
//! parsers are pure functions of the files' text.

use std::time::Duration;

/// One reading of the process's resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Resident set size in bytes.
    pub resident_bytes: u64,
    /// Virtual memory size in bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors (`None`: unlimited).
    pub max_fds: Option<u64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: u64,
}

/// Clock ticks per second in `/proc/*/stat` (`USER_HZ`: 100 on every Linux
/// architecture vcped runs on; the kernel converts its own HZ to it).
const USER_HZ: u64 = 100;

impl Process {
    /// Reads `/proc/self`; `None` when a file is missing or malformed
    /// (the metrics are then left out).
    pub fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let s = parse_stat(&stat)?;
        Some(Process {
            cpu_seconds: (s.utime + s.stime) as f64 / USER_HZ as f64,
            resident_bytes: s.rss_pages * page_size(),
            virtual_bytes: s.vsize,
            open_fds,
            max_fds: parse_max_fds(&limits)?,
            start_time_seconds: boot_time(&boot)? + s.starttime / USER_HZ,
        })
    }
}

/// The page size `rss` counts in.
fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// The fields of `/proc/self/stat` we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

/// `/proc/PID/stat` (`proc(5)`): the command name is in parentheses and
/// may hold spaces and parentheses, so fields count from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // After `)`: field 3 (state) is index 0, so field N is index N - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: n(14)?,
        stime: n(15)?,
        starttime: n(22)?,
        vsize: n(23)?,
        rss_pages: n(24)?,
    })
}

/// `btime` of `/proc/stat`: boot time, seconds since the epoch.
fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft "Max open files" of `/proc/PID/limits`; `Some(None)` when
/// unlimited.
fn parse_max_fds(text: &str) -> Option<Option<u64>> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(None);
    }
    soft.parse().ok().map(Some)
}

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let text = "4242 (vcped (x) y) S 1 4242 4242 0 -1 4194560 3000 0 0 0 250 75 0 0 \
                    20 0 9 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                utime: 250,
                stime: 75,
                starttime: 123456,
                vsize: 987654321,
                rss_pages: 2048,
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }

    #[test]
    fn limits_and_boot_time() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63704                63704                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_fds(limits), Some(Some(1024)));
        assert_eq!(
            parse_max_fds(
                "Max open files            unlimited            unlimited            files\n"
            ),
            Some(None)
        );
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1765000000\nprocesses 9\n"),
            Some(1_765_000_000)
        );
    }

    #[test]
    fn this_process_reads() {
        let p = Process::read().expect("/proc/self readable");
        assert!(p.open_fds >= 3 && p.resident_bytes > 0, "{p:?}");
        let now = now_unix();
        assert!(
            p.start_time_seconds <= now && p.start_time_seconds + 3600 > now,
            "{p:?}"
        );
    }
}
