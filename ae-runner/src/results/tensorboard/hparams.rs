//! The HParams dashboard's records, as torch's `add_hparams` writes them: each run's
//! hyperparameters (its swept values) when it starts and its status when it ends, and for the
//! experiment the table's columns: the swept keys and the `final/` metrics.

use super::proto::{
    Experiment, HParamInfo, HParams, ListValue, MetricInfo, MetricName, ProtoValue, Scalar,
    SessionEndInfo, SessionStartInfo, DATA_TYPE_BOOL, DATA_TYPE_FLOAT64, DATA_TYPE_STRING,
    STATUS_FAILURE, STATUS_SUCCESS,
};
use super::writer::EventWriter;
use crate::results::records::RunRecord;
use anyhow::Result;
use std::path::Path;

pub const EXPERIMENT: &str = "_hparams_/experiment";
pub const SESSION_START: &str = "_hparams_/session_start_info";
pub const SESSION_END: &str = "_hparams_/session_end_info";

/// A swept value as folder names show it: a number, a boolean or a string.
pub fn value(shown: &str) -> ProtoValue {
    let kind = match (shown.parse::<f64>(), shown) {
        (Ok(x), _) => Scalar::Number(x),
        (_, "true") => Scalar::Bool(true),
        (_, "false") => Scalar::Bool(false),
        _ => Scalar::String(shown.to_string()),
    };
    ProtoValue { kind: Some(kind) }
}

pub fn session_start(values: &[(String, String)], secs: f64) -> HParams {
    HParams::SessionStartInfo(SessionStartInfo {
        hparams: values.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
        start_time_secs: secs,
    })
}

pub fn session_end(success: bool, secs: f64) -> HParams {
    HParams::SessionEndInfo(SessionEndInfo {
        status: if success {
            STATUS_SUCCESS
        } else {
            STATUS_FAILURE
        },
        end_time_secs: secs,
    })
}

/// The columns of the experiment's table: each swept key, typed by its values, then every
/// test and evaluation metric of the runs as `final/<metric>`. None without swept keys.
pub fn experiment(runs: &[RunRecord]) -> Option<HParams> {
    let mut keys: Vec<&str> = Vec::new();
    let mut metrics: Vec<&str> = Vec::new();
    for r in runs {
        for (k, _) in &r.values {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        for (m, _) in &r.test {
            if !metrics.contains(&m.as_str()) {
                metrics.push(m);
            }
        }
    }
    if keys.is_empty() {
        return None;
    }
    let hparam_infos = keys
        .iter()
        .map(|&key| {
            let mut seen: Vec<ProtoValue> = Vec::new();
            for (_, v) in runs
                .iter()
                .flat_map(|r| &r.values)
                .filter(|(k, _)| k == key)
            {
                let v = value(v);
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            let all = |f: fn(&Scalar) -> bool| seen.iter().all(|v| v.kind.as_ref().is_some_and(f));
            let r#type = if all(|s| matches!(s, Scalar::Number(_))) {
                DATA_TYPE_FLOAT64
            } else if all(|s| matches!(s, Scalar::Bool(_))) {
                DATA_TYPE_BOOL
            } else {
                DATA_TYPE_STRING
            };
            HParamInfo {
                name: key.to_string(),
                r#type,
                domain_discrete: Some(ListValue { values: seen }),
            }
        })
        .collect();
    let metric_infos = metrics
        .iter()
        .map(|m| MetricInfo {
            name: Some(MetricName {
                group: String::new(),
                tag: format!("final/{m}"),
            }),
        })
        .collect();
    Some(HParams::Experiment(Experiment {
        hparam_infos,
        metric_infos,
    }))
}

/// The experiment's record in `<exp>/tensorboard/` (replacing the one before), where the runs'
/// streams are; nothing if there are none or nothing was swept.
pub fn write_experiment(exp_dir: &Path, runs: &[RunRecord]) -> Result<()> {
    let dir = exp_dir.join("tensorboard");
    match experiment(runs) {
        Some(e) if dir.is_dir() => {
            let mut w = EventWriter::open(&dir, None)?;
            w.hparams(0, EXPERIMENT, e)?;
            w.flush()
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[(&str, &str)], metrics: &[&str]) -> RunRecord {
        RunRecord {
            name: "r".into(),
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            status: "finished".into(),
            seconds: None,
            epoch_seconds: None,
            test: metrics.iter().map(|m| (m.to_string(), 1.0)).collect(),
            message: None,
        }
    }

    #[test]
    fn columns_are_typed_by_their_values_and_metrics_are_the_final_ones() {
        let runs = [
            run(
                &[
                    ("model.variant", "ae"),
                    ("train.seed", "0"),
                    ("x.on", "true"),
                ],
                &["mse"],
            ),
            run(
                &[
                    ("model.variant", "vae"),
                    ("train.seed", "1"),
                    ("x.on", "false"),
                ],
                &["mse", "neg_elbo"],
            ),
        ];
        let Some(HParams::Experiment(e)) = experiment(&runs) else {
            panic!("an experiment")
        };
        let types: Vec<(&str, i32, usize)> = e
            .hparam_infos
            .iter()
            .map(|h| {
                let n = h.domain_discrete.as_ref().map_or(0, |d| d.values.len());
                (h.name.as_str(), h.r#type, n)
            })
            .collect();
        assert_eq!(
            types,
            [
                ("model.variant", DATA_TYPE_STRING, 2),
                ("train.seed", DATA_TYPE_FLOAT64, 2),
                ("x.on", DATA_TYPE_BOOL, 2)
            ]
        );
        let tags: Vec<&str> = e
            .metric_infos
            .iter()
            .map(|m| m.name.as_ref().unwrap().tag.as_str())
            .collect();
        assert_eq!(tags, ["final/mse", "final/neg_elbo"]);
        assert!(
            experiment(&[run(&[], &["mse"])]).is_none(),
            "no sweep, no table"
        );
    }
}
