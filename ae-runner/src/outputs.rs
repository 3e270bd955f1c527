//! What a run leaves behind: its folder, metrics.csv written row by row, provenance, status.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// metrics.csv: the header comes from the first row's keys; every row is flushed at once, so a
/// crashed run keeps every epoch it finished.
pub struct MetricsCsv {
    writer: csv::Writer<File>,
    columns: Option<Vec<String>>,
}

impl MetricsCsv {
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            writer: csv::Writer::from_writer(file),
            columns: None,
        })
    }

    /// Reopens the metrics of a run resumed after `epochs` epochs: rows of later epochs (written
    /// after its checkpoint) are cut, so that no epoch appears twice.
    pub fn resume(path: &Path, epochs: usize) -> Result<Self> {
        // Flexible: a kill may have left a torn last row, dropped like any later one.
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .with_context(|| format!("reading {}", path.display()))?;
        let header: Vec<String> = reader.headers()?.iter().map(String::from).collect();
        let mut kept = csv::Writer::from_writer(Vec::new());
        kept.write_record(&header)?;
        for rec in reader.records() {
            let Ok(rec) = rec else { continue };
            let epoch = rec.get(0).and_then(|e| e.parse::<usize>().ok());
            if rec.len() == header.len() && epoch.is_some_and(|e| e <= epochs) {
                kept.write_record(&rec)?;
            }
        }
        write_atomic(path, &kept.into_inner()?)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            writer: csv::Writer::from_writer(file),
            columns: Some(header),
        })
    }

    pub fn write(&mut self, row: &[(String, String)]) -> Result<()> {
        if self.columns.is_none() {
            let cols: Vec<String> = row.iter().map(|(k, _)| k.clone()).collect();
            self.writer.write_record(&cols)?;
            self.columns = Some(cols);
        }
        self.writer.write_record(row.iter().map(|(_, v)| v))?;
        self.writer.flush()?;
        Ok(())
    }
}

/// Writes a one-row CSV (header, values).
pub fn write_row_csv(path: &Path, row: &[(String, String)]) -> Result<()> {
    let mut w = MetricsCsv::create(path)?;
    w.write(row)
}

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

/// Writes to a temporary file and renames it into place: a kill leaves the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    sync_rename(&tmp, path)
}

/// `x.png` -> `x.png.tmp`, beside it (same file system, so the rename is atomic).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Flushes a finished temporary file to disk and renames it over `path`.
pub fn sync_rename(tmp: &Path, path: &Path) -> Result<()> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", tmp.display()))?;
    std::fs::rename(tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    if let Some(dir) = path.parent() {
        // The rename itself reaches the disk with the folder's metadata.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Moves an old run folder aside (`<run>.old-N`), never deleting it.
pub fn move_aside(dir: &Path) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = (1..)
        .map(|i| dir.with_file_name(format!("{name}.old-{i}")))
        .find(|p| !p.exists())
        .expect("some name is free");
    std::fs::rename(dir, &aside).with_context(|| format!("moving {} aside", dir.display()))?;
    Ok(aside)
}

/// Where the run came from, for config.yaml.
pub fn provenance(device: &str, threads: usize) -> serde_yaml::Value {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let mut m = serde_yaml::Mapping::new();
    let mut put = |k: &str, v: serde_yaml::Value| {
        m.insert(k.into(), v);
    };
    put("git_commit", commit.into());
    put("git_dirty", dirty.into());
    put("aelab_version", env!("CARGO_PKG_VERSION").into());
    put("candle_version", env!("AE_CANDLE_VERSION").into());
    put("device", device.into());
    put("threads", (threads as u64).into());
    put("cpu", cpu.into());
    put("host_os", std::env::consts::OS.into());
    put("started", now().into());
    put(
        "command",
        std::env::args().collect::<Vec<_>>().join(" ").into(),
    );
    serde_yaml::Value::Mapping(m)
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
