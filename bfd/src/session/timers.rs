//! Intervals as the wire carries them (µs, `u32`) and as the clock takes
//! them (`Duration`).

use std::time::Duration;

/// A duration in whole microseconds, saturating at the field's maximum
/// (about 71 minutes).
pub(super) fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Microseconds as a duration.
pub(super) fn to_duration(us: u32) -> Duration {
    Duration::from_micros(u64::from(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_saturate_and_round_trip() {
        assert_eq!(micros(Duration::from_millis(300)), 300_000);
        assert_eq!(micros(Duration::from_secs(1 << 40)), u32::MAX);
        assert_eq!(to_duration(300_000), Duration::from_millis(300));
    }
}
