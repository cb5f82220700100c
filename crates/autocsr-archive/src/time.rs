//! Time stamps in the archive formats' own units: zip's DOS date and time, 7z's Windows
//! FILETIME (no time crate needed).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, clamped to 0 for earlier times.
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// 100-nanosecond intervals between 1601-01-01 (the Windows FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// The Windows FILETIME 7z stores: 100 ns intervals since 1601-01-01 UTC, saturating at
/// both ends of its range.
pub(crate) fn windows_filetime(time: SystemTime) -> u64 {
    let ticks =
        |elapsed: std::time::Duration| u64::try_from(elapsed.as_nanos() / 100).unwrap_or(u64::MAX);
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => FILETIME_UNIX_EPOCH.saturating_add(ticks(after)),
        Err(before) => FILETIME_UNIX_EPOCH.saturating_sub(ticks(before.duration())),
    }
}

/// UTC civil date and time: (year, month, day, hour, minute, second).
pub(crate) fn civil_utc(seconds: u64) -> (i64, u8, u8, u8, u8, u8) {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX / 2);
    let rem = seconds % 86_400;
    // Howard Hinnant's days_from_civil inverse (public domain algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let narrow = |value: i64| u8::try_from(value).unwrap_or(0);
    let narrow_u = |value: u64| u8::try_from(value).unwrap_or(0);
    (
        year,
        narrow(month),
        narrow(day),
        narrow_u(rem / 3600),
        narrow_u(rem % 3600 / 60),
        narrow_u(rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil_utc(0), (1970, 1, 1, 0, 0, 0));
        // 2000-02-29 12:34:56 UTC
        assert_eq!(civil_utc(951_827_696), (2000, 2, 29, 12, 34, 56));
        // 2026-11-25 00:00:00 UTC
        assert_eq!(civil_utc(1_795_564_800), (2026, 11, 25, 0, 0, 0));
    }

    #[test]
    fn filetimes_agree_with_sevenz_rust2() {
        use std::time::Duration;
        let times = [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_795_564_800, 123_456_789),
            UNIX_EPOCH - Duration::from_secs(86_400 * 365 * 300),
        ];
        for time in times {
            let theirs = sevenz_rust2::NtTime::try_from(time).unwrap();
            assert_eq!(windows_filetime(time), u64::from(theirs), "{time:?}");
        }
        assert_eq!(
            windows_filetime(UNIX_EPOCH - Duration::from_secs(u64::MAX / 4)),
            0
        );
    }
}
