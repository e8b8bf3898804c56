//! Model-card dates: the one place the tool asks the clock.
//!
//! `SOURCE_DATE_EPOCH` (<https://reproducible-builds.org/specs/source-date-epoch/>) replaces the
//! clock when set, so that exporting or importing the same weights twice gives the same bytes.

use anyhow::{Result, bail};

/// The variable reproducible builds set to the time their outputs should carry.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The date for a model card as `YYYY-MM-DD` (UTC): `SOURCE_DATE_EPOCH`'s when it is set, today's
/// otherwise. A value that is not a whole number of seconds is an error, not silently the clock.
pub fn today() -> Result<String> {
    let secs = match std::env::var_os(SOURCE_DATE_EPOCH) {
        Some(value) => epoch_seconds(&value.to_string_lossy())?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    Ok(date_of(secs))
}

/// `SOURCE_DATE_EPOCH`'s value: decimal digits only, as the specification requires.
fn epoch_seconds(value: &str) -> Result<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "{SOURCE_DATE_EPOCH}=`{}` is not a number of seconds since 1970-01-01 (digits only); unset it or fix it",
            glimpse_files::terminal_safe(value)
        );
    }
    value
        .parse()
        .map_err(|_| anyhow::anyhow!("{SOURCE_DATE_EPOCH}=`{value}` is too large"))
}

/// Seconds since 1970-01-01 UTC → `YYYY-MM-DD`.
fn date_of(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_517), (2026, 3, 5));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn source_date_epoch_is_read_strictly() {
        assert_eq!(date_of(epoch_seconds("1772668800").unwrap()), "2026-03-05");
        assert_eq!(date_of(epoch_seconds("0").unwrap()), "1970-01-01");
        let err = epoch_seconds("2026-03-05").unwrap_err().to_string();
        assert_eq!(
            err,
            "SOURCE_DATE_EPOCH=`2026-03-05` is not a number of seconds since 1970-01-01 (digits only); unset it or fix it"
        );
        assert!(epoch_seconds("").is_err());
        assert!(epoch_seconds("-1").is_err());
        assert!(
            epoch_seconds("99999999999999999999999")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
        // The largest value still gives a date (no overflow).
        assert_eq!(date_of(u64::MAX).matches('-').count(), 2);
    }
}
