//! Wall-clock time derived from the shell's monotonic `now`, and XEP-0082
//! date-time formatting (for XEP-0203 delay stamps and XEP-0202 time).

use std::time::{Duration, Instant};

/// Maps the monotonic clock onto Unix time, from one reference point the
/// shell gives (and may refresh).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    at: Instant,
    unix: Duration,
}

impl WallClock {
    pub(crate) fn new(at: Instant, unix: Duration) -> Self {
        Self { at, unix }
    }

    /// Unix time at `now`.
    pub(crate) fn unix(&self, now: Instant) -> Duration {
        match now.checked_duration_since(self.at) {
            Some(ahead) => self.unix.saturating_add(ahead),
            None => self.unix.saturating_sub(self.at.duration_since(now)),
        }
    }

    /// XEP-0082 `DateTime` in UTC at `now`, e.g. `2024-02-29T13:05:09Z`.
    pub(crate) fn stamp(&self, now: Instant) -> String {
        format_datetime(self.unix(now).as_secs())
    }
}

/// XEP-0082 §3.2 `CCYY-MM-DDThh:mm:ssZ` for a Unix timestamp.
pub fn format_datetime(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// algorithm, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_format_per_xep_0082() {
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_datetime(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_datetime(1_709_211_909), "2024-02-29T13:05:09Z");
        assert_eq!(format_datetime(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn wall_clock_follows_the_monotonic_clock() {
        let t0 = Instant::now();
        let c = WallClock::new(t0, Duration::from_secs(1_000));
        assert_eq!(c.unix(t0 + Duration::from_secs(5)).as_secs(), 1_005);
        assert_eq!(c.stamp(t0), "1970-01-01T00:16:40Z");
    }
}
