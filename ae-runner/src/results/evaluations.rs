//! eval.csv: one row per evaluation settings (`iwae_k`, `iwae_images`, `fit_images`), so that
//! `ae-runner eval RUN --set eval.iwae_k=5000` adds the paper's number beside the one of the
//! training's end instead of replacing it. A column a row has no value for is empty.

use crate::results::files::write_atomic;
use anyhow::{Context, Result};
use std::path::Path;

/// A row as (column, value) pairs, its empty cells left out.
type Row = Vec<(String, String)>;

/// Writes an evaluation's row: `settings` then `metrics`. With `keep_earlier`, the rows of
/// other settings already in the file stay (a row of the same settings is replaced); without,
/// the file holds this row only (a model trained again makes earlier rows stale).
pub fn write(
    path: &Path,
    settings: &[(String, String)],
    metrics: &[(String, String)],
    keep_earlier: bool,
) -> Result<()> {
    let (mut header, mut rows) = match keep_earlier && path.exists() {
        true => read(path)?,
        false => (Vec::new(), Vec::new()),
    };
    let row: Vec<&(String, String)> = settings.iter().chain(metrics).collect();
    for (k, _) in &row {
        if !header.contains(k) {
            header.push(k.clone());
        }
    }
    let same_settings = |r: &Row| {
        settings
            .iter()
            .all(|(k, v)| r.iter().any(|(rk, rv)| rk == k && rv == v))
    };
    rows.retain(|r| !same_settings(r));
    rows.push(row.into_iter().cloned().collect());
    header.retain(|k| rows.iter().any(|r| r.iter().any(|(rk, _)| rk == k)));

    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&header)?;
    for r in &rows {
        let cell = |k: &String| r.iter().find(|(rk, _)| rk == k).map_or("", |(_, v)| v);
        w.write_record(header.iter().map(cell))?;
    }
    write_atomic(path, &w.into_inner()?)
}

/// The header and the rows.
fn read(path: &Path) -> Result<(Vec<String>, Vec<Row>)> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = r.headers()?.iter().map(String::from).collect();
    let mut rows = Vec::new();
    for record in r.records() {
        let record = record.with_context(|| format!("reading {}", path.display()))?;
        rows.push(
            header
                .iter()
                .zip(record.iter())
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
        );
    }
    Ok((header, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn other_settings_add_a_row_and_the_same_settings_replace_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eval.csv");
        let k100 = pairs(&[("iwae_k", "100"), ("fit_images", "10000")]);
        let k500 = pairs(&[("iwae_k", "500"), ("fit_images", "10000")]);
        write(
            &path,
            &k100,
            &pairs(&[("iwae100_nll", "90.1"), ("probe_acc", "0.9")]),
            true,
        )
        .unwrap();
        write(
            &path,
            &k500,
            &pairs(&[("iwae500_nll", "89.7"), ("probe_acc", "0.9")]),
            true,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "iwae_k,fit_images,iwae100_nll,probe_acc,iwae500_nll\n\
             100,10000,90.1,0.9,\n\
             500,10000,,0.9,89.7\n"
        );
        write(&path, &k100, &pairs(&[("iwae100_nll", "90.2")]), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "iwae_k,fit_images,iwae100_nll,probe_acc,iwae500_nll\n\
             500,10000,,0.9,89.7\n\
             100,10000,90.2,,\n"
        );
        write(&path, &k500, &pairs(&[("iwae500_nll", "88.0")]), false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "iwae_k,fit_images,iwae500_nll\n500,10000,88.0\n"
        );
    }
}
