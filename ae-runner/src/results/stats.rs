//! Mean, sample std and n over seeds, the groups of runs they are taken over, and numbers
//! shown to four significant digits.

use crate::results::records::{leaf, metric_names, RunRecord, SEED_KEY};
use std::collections::BTreeMap;

/// Mean, sample std (n - 1) and n.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    /// None for a single value: one run says nothing about the spread.
    pub std: Option<f64>,
    pub n: usize,
}

pub fn stat(xs: &[f64]) -> Stat {
    let n = xs.len();
    let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
    let std = (n > 1)
        .then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
    Stat { mean, std, n }
}

/// One row of a grouped table: the values of the non-seed keys and each metric's statistics
/// over the finished runs of the group.
#[derive(Debug, Clone)]
pub struct Group {
    pub values: Vec<(String, String)>,
    pub stats: BTreeMap<String, Stat>,
    /// The finished runs' seconds per epoch (see `RunRecord::epoch_seconds`).
    pub epoch_seconds: Option<Stat>,
    pub finished: usize,
    pub runs: usize,
}

impl Group {
    /// The group's values as `key=value,...` (leaf keys), or `all` without swept keys.
    pub fn label(&self) -> String {
        if self.values.is_empty() {
            return "all".into();
        }
        self.values
            .iter()
            .map(|(k, v)| format!("{}={v}", leaf(k)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The non-seed values of a group and its runs.
type Bucket<'a> = (Vec<(String, String)>, Vec<&'a RunRecord>);

/// Groups runs by every swept key but the seed, in first-seen order.
pub fn group(runs: &[RunRecord]) -> Vec<Group> {
    let mut groups: Vec<Bucket> = Vec::new();
    for r in runs {
        let key: Vec<(String, String)> = r
            .values
            .iter()
            .filter(|(k, _)| k != SEED_KEY)
            .cloned()
            .collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let metrics = metric_names(runs);
    groups
        .into_iter()
        .map(|(values, members)| {
            let done: Vec<&&RunRecord> =
                members.iter().filter(|r| r.status == "finished").collect();
            let stats = metrics
                .iter()
                .filter_map(|m| {
                    let xs: Vec<f64> = done
                        .iter()
                        .filter_map(|r| r.test.iter().find(|(k, _)| k == m).map(|(_, v)| *v))
                        .collect();
                    (!xs.is_empty()).then(|| (m.clone(), stat(&xs)))
                })
                .collect();
            let secs: Vec<f64> = done.iter().filter_map(|r| r.epoch_seconds).collect();
            Group {
                values,
                stats,
                epoch_seconds: (!secs.is_empty()).then(|| stat(&secs)),
                finished: done.len(),
                runs: members.len(),
            }
        })
        .collect()
}

/// A metric with one value in every finished run that reports it (the raw-pixel baselines of a
/// sweep over a model setting, say): tables and plots say it once instead of showing a column
/// of `± 0` or a flat panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    pub name: String,
    pub value: f64,
    /// The finished runs that report it.
    pub runs: usize,
}

impl Constant {
    /// `name = value`, to four significant digits.
    pub fn show(&self) -> String {
        format!("{} = {}", self.name, num(self.value))
    }
}

/// The `metrics` that are the same in every finished run of `groups` reporting them, where at
/// least two do (one run is no sweep). Equal up to what printing the values loses.
pub fn constants(groups: &[Group], metrics: &[String]) -> Vec<Constant> {
    metrics
        .iter()
        .filter_map(|m| {
            let stats: Vec<&Stat> = groups.iter().filter_map(|g| g.stats.get(m)).collect();
            let first = stats.first()?.mean;
            let tol = 1e-9 * first.abs().max(1.0);
            let runs: usize = stats.iter().map(|s| s.n).sum();
            let same = stats
                .iter()
                .all(|s| (s.mean - first).abs() <= tol && s.std.unwrap_or(0.0) <= tol);
            (same && runs > 1).then(|| Constant {
                name: m.clone(),
                value: first,
                runs,
            })
        })
        .collect()
}

/// Decimals that show four significant digits of `v` (at least two).
fn decimals(v: f64) -> usize {
    if v == 0.0 || !v.is_finite() {
        return 2;
    }
    (3 - v.abs().log10().floor() as i64).clamp(2, 8) as usize
}

/// A number with four significant digits (at least two decimals).
pub fn num(v: f64) -> String {
    format!("{v:.*}", decimals(v))
}

/// mean ± std, both to the mean's precision; the mean alone for a single run.
pub fn cell(s: Option<&Stat>) -> String {
    match s {
        Some(Stat {
            mean,
            std: Some(std),
            ..
        }) => format!("{mean:.*} ± {std:.*}", decimals(*mean), decimals(*mean)),
        Some(s) => num(s.mean),
        None => "".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_by_hand() {
        let s = stat(&[1.0, 2.0, 6.0]);
        assert_eq!(s.mean, 3.0);
        assert!((s.std.unwrap() - 7f64.sqrt()).abs() < 1e-12); // ((4 + 1 + 9) / 2)^0.5
        assert_eq!(stat(&[5.0]).std, None, "no spread from one value");
        assert_eq!(cell(Some(&stat(&[5.0]))), "5.000");
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(num(0.0123456), "0.01235");
        assert_eq!(num(108.5531), "108.55");
        assert_eq!(num(3.33333), "3.333");
    }

    fn rec(name: &str, kl: &str, seed: &str, mse: f64, status: &str) -> RunRecord {
        RunRecord {
            name: name.into(),
            values: vec![
                ("model.kl_weight".into(), kl.into()),
                (SEED_KEY.into(), seed.into()),
            ],
            status: status.into(),
            seconds: Some(1.0),
            epoch_seconds: Some(0.5),
            test: vec![("mse".into(), mse)],
            message: None,
        }
    }

    #[test]
    fn groups_average_over_seeds_and_skip_unfinished_runs() {
        let runs = vec![
            rec("a", "0.5", "0", 1.0, "finished"),
            rec("b", "0.5", "1", 3.0, "finished"),
            rec("c", "2", "0", 10.0, "finished"),
            rec("d", "2", "1", f64::NAN, "diverged"),
        ];
        let g = group(&runs);
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0].values,
            vec![("model.kl_weight".to_string(), "0.5".to_string())]
        );
        assert_eq!(
            g[0].stats["mse"],
            Stat {
                mean: 2.0,
                std: Some(2f64.sqrt()),
                n: 2
            }
        );
        assert_eq!((g[1].finished, g[1].runs), (1, 2));
        assert_eq!(g[1].stats["mse"].mean, 10.0);
    }
}
