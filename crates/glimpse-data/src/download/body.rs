//! Copying a response body into a partial file within two limits: the file's cap (a mirror
//! sending bytes without end once filled a 1 GiB disk in 1.3 s, the length unsaid) and a least
//! rate (one sending a byte every 5 s kept `glimpse data` waiting forever: every read came back
//! well within the socket's timeout).

use std::fs;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

/// The least a download must bring: at least `min_bytes` in every `window`, or it stops (and
/// a socket read waits at most `window` for its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallRule {
    pub min_bytes: u64,
    pub window: Duration,
}

impl Default for StallRule {
    /// 64 KiB a minute: about 1 KB/s, far below any working connection, and the 60 s a socket
    /// read waited before this rule.
    fn default() -> Self {
        StallRule {
            min_bytes: 64 << 10,
            window: Duration::from_secs(60),
        }
    }
}

/// Why a body stopped before its end.
#[derive(Debug)]
pub(super) enum BodyError {
    /// The connection failed (a retry resumes it).
    Dropped(io::Error),
    /// Writing the partial file failed.
    Write(io::Error),
    /// The next bytes would take the file past its cap; they were not written.
    OverCap,
    /// Fewer than the rule's bytes arrived in its last window: this many.
    Stalled { in_window: u64 },
}

/// What has arrived, counted against the file's cap and the stall rule.
pub(super) struct Meter {
    rule: StallRule,
    cap: u64,
    /// Bytes of the file so far, those the partial file held before included.
    pub(super) total: u64,
    window_start: Instant,
    in_window: u64,
}

impl Meter {
    /// A meter for a file capped at `cap` bytes whose partial file already holds `start`.
    pub(super) fn new(rule: StallRule, cap: u64, start: u64) -> Self {
        Meter {
            rule,
            cap,
            total: start,
            window_start: Instant::now(),
            in_window: 0,
        }
    }

    /// Admits `n` more bytes unless they take the file past its cap, checked before they are
    /// written so the partial file never holds more than the cap.
    fn admit(&mut self, n: u64) -> Result<(), BodyError> {
        match self.total.checked_add(n) {
            Some(total) if total <= self.cap => self.total = total,
            _ => return Err(BodyError::OverCap),
        }
        self.in_window += n;
        Ok(())
    }

    /// At the end of each window: too few bytes in it is a stall; enough starts the next.
    fn check_rate(&mut self) -> Result<(), BodyError> {
        let now = Instant::now();
        if now.duration_since(self.window_start) < self.rule.window {
            return Ok(());
        }
        if self.in_window < self.rule.min_bytes {
            return Err(BodyError::Stalled {
                in_window: self.in_window,
            });
        }
        self.window_start = now;
        self.in_window = 0;
        Ok(())
    }
}

/// Whether a read failed for want of bytes within the socket's timeout (the stall window).
fn timed_out(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

/// Copies the response body into `out` until its end, within `meter`'s limits.
pub(super) fn copy_body(
    mut reader: impl Read,
    out: &mut fs::File,
    meter: &mut Meter,
    progress: &ProgressBar,
) -> Result<(), BodyError> {
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(n) => n,
            // Nothing for a whole window (the socket's timeout is the window).
            Err(e) if timed_out(&e) => return Err(BodyError::Stalled { in_window: 0 }),
            Err(e) => return Err(BodyError::Dropped(e)),
        };
        if n == 0 {
            return Ok(());
        }
        meter.admit(n as u64)?;
        out.write_all(&buffer[..n]).map_err(BodyError::Write)?;
        progress.inc(n as u64);
        meter.check_rate()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_checked_before_bytes_are_counted() {
        let mut meter = Meter::new(StallRule::default(), 100, 90);
        meter.admit(10).unwrap();
        assert!(matches!(meter.admit(1), Err(BodyError::OverCap)));
        assert_eq!(meter.total, 100);
        let mut meter = Meter::new(StallRule::default(), u64::MAX, u64::MAX - 1);
        assert!(matches!(meter.admit(2), Err(BodyError::OverCap)));
    }

    #[test]
    fn a_window_short_of_bytes_is_a_stall_and_a_full_one_starts_the_next() {
        let rule = StallRule {
            min_bytes: 10,
            window: Duration::ZERO,
        };
        let mut meter = Meter::new(rule, u64::MAX, 0);
        meter.admit(10).unwrap();
        meter.check_rate().unwrap();
        meter.admit(9).unwrap();
        assert!(matches!(
            meter.check_rate(),
            Err(BodyError::Stalled { in_window: 9 })
        ));
        let mut patient = Meter::new(StallRule::default(), u64::MAX, 0);
        patient.admit(1).unwrap();
        patient.check_rate().unwrap();
    }
}
