//! run.json (how a run ended) and the timestamps it holds.

use crate::results::files::write_atomic;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// run.json: how a run ended.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// running | finished | failed | diverged
    pub status: String,
    pub started: String,
    pub ended: Option<String>,
    pub seconds: Option<f64>,
    pub message: Option<String>,
    pub test: Vec<(String, f64)>,
    /// When the run was resumed from a checkpoint.
    #[serde(default)]
    pub resumed: Vec<String>,
}

impl Status {
    /// A run that starts now.
    pub fn started() -> Self {
        Self {
            status: "running".into(),
            started: now(),
            ended: None,
            seconds: None,
            message: None,
            test: vec![],
            resumed: vec![],
        }
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        write_atomic(
            &dir.join("run.json"),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
    }

    pub fn read(dir: &Path) -> Option<Status> {
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).ok()?).ok()
    }
}

/// The current UTC time as RFC 3339.
pub fn now() -> String {
    rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// Seconds since 1970 as RFC 3339 (UTC), without a date crate.
fn rfc3339(secs: u64) -> String {
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_by_hand() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day), 12:34:56: 11016 days after 1970-01-01.
        assert_eq!(
            rfc3339(11016 * 86400 + 12 * 3600 + 34 * 60 + 56),
            "2000-02-29T12:34:56Z"
        );
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
