//! The files of a run folder, written so that a kill at any instant leaves the old file or the
//! new one: atomic replacement, metrics.csv row by row, old folders moved aside.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// metrics.csv's column of each epoch's seconds (written by `run::epochs`, read back by the
/// summary's seconds per epoch).
pub const SECONDS: &str = "seconds";

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

/// Writes to a temporary file and renames it into place: a kill leaves the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_as(path, &tmp_path(path), bytes)
}

/// [`write_atomic`] through the temporary file `tmp` (beside `path`), for a second writer of
/// the same file that must not share the first one's. A failed write removes its temporary
/// file: on a full disk, what it held is the room run.json needs to say why the run stopped.
pub fn write_atomic_as(path: &Path, tmp: &Path, bytes: &[u8]) -> Result<()> {
    let written = File::create(tmp)
        .with_context(|| format!("creating {}", tmp.display()))
        .and_then(|mut f| {
            f.write_all(bytes)
                .with_context(|| format!("writing {}", tmp.display()))
        })
        .and_then(|()| sync_rename(tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    written
}

/// `x.png` -> `x.png.<pid>.tmp`, beside it (same file system, so the rename is atomic). The
/// process id keeps two processes of one sweep (`--jobs`, shards) that write the same file,
/// such as a run's curves when a summary redraws them, from renaming each other's file away.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
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
