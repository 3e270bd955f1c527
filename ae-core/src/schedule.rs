//! Learning-rate schedules (`train.schedule`), with torch.optim.lr_scheduler's semantics and
//! defaults. A [`Scheduler`] gives every optimiser its rate from its own base rate, as torch
//! does for each param group of one optimiser.
//!
//! It works in rates, not in one factor for all optimisers: torch's floors (`eta_min` of
//! CosineAnnealingLR, `min_lr` and `eps` of ReduceLROnPlateau) are absolute rates, so two
//! optimisers with different base rates reach them at different epochs.
//!
//! How torch computes its rates, and what is computed here (ae-core/tests/schedules.rs compares
//! every rate of 200 epochs with torch's `get_last_lr()`):
//! - Recursive in torch (each rate is the previous one times a ratio): StepLR, MultiStepLR,
//!   ExponentialLR, LinearLR (the warm-up), CosineAnnealingLR (after its first step, including
//!   the `+ (1 - cos(pi / T_max)) / 2` branch past `T_max`) and ReduceLROnPlateau.
//! - Direct in torch: LambdaLR (`piecewise`: base x factor), and SequentialLR's switch from the
//!   warm-up to the cosine (the cosine's closed form at 0).
//! - Here: the closed forms torch's `_get_closed_form_lr` gives for every kind but `plateau`,
//!   from the epoch (or step) count alone, so that a checkpoint needs only the count; `plateau`
//!   repeats torch's recursion operation for operation, so its rates are part of the state.

use crate::error::{at_least_one, ensure, ConfigError};
use serde::{Deserialize, Serialize};

/// When a schedule advances: after each epoch (torch's usual `scheduler.step()` per epoch) or
/// after each training batch (stepped per iteration); epochs and steps both count from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    #[default]
    Epoch,
    Step,
}

fn tenth() -> f64 {
    0.1
}

fn third() -> f64 {
    1.0 / 3.0
}

/// `step`: StepLR, the rate times `gamma` every `step_size` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDecay {
    pub step_size: usize,
    #[serde(default = "tenth")]
    pub gamma: f64,
    #[serde(default)]
    pub per: Per,
}

/// `multistep`: MultiStepLR, the rate times `gamma` at each milestone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiStepDecay {
    /// Increasing epochs (or steps).
    pub milestones: Vec<usize>,
    #[serde(default = "tenth")]
    pub gamma: f64,
    #[serde(default)]
    pub per: Per,
}

/// `exponential`: ExponentialLR, the rate times `gamma` every epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialDecay {
    pub gamma: f64,
    #[serde(default)]
    pub per: Per,
}

/// `cosine`: a linear warm-up (LinearLR from `warmup_start_factor` to 1 over `warmup`), then
/// CosineAnnealingLR from the base rate to `eta_min` at `t_max`, both counted from the start
/// (torch: SequentialLR with milestone `warmup`, `T_max = t_max - warmup`). Past `t_max` the
/// rate rises again, as torch's does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineAnnealing {
    pub t_max: usize,
    /// The floor, an absolute rate as torch's (the same for every optimiser).
    #[serde(default)]
    pub eta_min: f64,
    /// Epochs (or steps) of warm-up; 0: none.
    #[serde(default)]
    pub warmup: usize,
    #[serde(default = "third")]
    pub warmup_start_factor: f64,
    #[serde(default)]
    pub per: Per,
}

/// `piecewise`: from each point's epoch on, the base rate times its factor; before the first,
/// the base rate (torch: LambdaLR).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Piecewise {
    /// `[epoch, factor]` pairs, epochs increasing.
    pub points: Vec<(usize, f64)>,
    #[serde(default)]
    pub per: Per,
}

/// Whether a smaller or a larger monitored value is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Min,
    Max,
}

/// How `threshold` decides that a value improves on the best: relative to it or by an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    #[default]
    Rel,
    Abs,
}

/// `plateau`: ReduceLROnPlateau, fed the monitored value after every epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plateau {
    pub mode: Mode,
    pub factor: f64,
    /// Epochs without improvement tolerated before a cut.
    pub patience: usize,
    pub threshold: f64,
    pub threshold_mode: ThresholdMode,
    /// Epochs after a cut during which bad epochs are not counted.
    pub cooldown: usize,
    /// The floor, an absolute rate as torch's (the same for every optimiser).
    pub min_lr: f64,
    /// A cut smaller than this is skipped.
    pub eps: f64,
}

impl Default for Plateau {
    fn default() -> Self {
        Self {
            mode: Mode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// `train.schedule`: the kind, by `kind`, and its keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleConfig {
    /// Every optimiser keeps its base rate. A struct variant, since serde lets a unit variant
    /// of a tagged enum take any other keys.
    Constant {},
    Step(StepDecay),
    Multistep(MultiStepDecay),
    Exponential(ExponentialDecay),
    Cosine(CosineAnnealing),
    Piecewise(Piecewise),
    Plateau(Plateau),
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self::Constant {}
    }
}

fn positive(x: f64, key: &str) -> Result<(), ConfigError> {
    ensure(x > 0.0 && x.is_finite(), key, || {
        format!("{x} is not allowed: must be > 0")
    })
}

fn non_negative(x: f64, key: &str) -> Result<(), ConfigError> {
    ensure(x >= 0.0 && x.is_finite(), key, || {
        format!("{x} is not allowed: must be >= 0")
    })
}

/// Each of `epochs` after the first above the one before it; errors name `key[i]`.
fn increasing(
    epochs: impl Iterator<Item = usize>,
    key: &str,
    what: &str,
) -> Result<(), ConfigError> {
    let epochs: Vec<usize> = epochs.collect();
    for (i, w) in epochs.windows(2).enumerate() {
        ensure(w[1] > w[0], &format!("{key}[{}]", i + 1), || {
            format!(
                "{} is not allowed after {}: {what} must increase",
                w[1], w[0]
            )
        })?;
    }
    Ok(())
}

impl ScheduleConfig {
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        match self {
            Self::Constant {} => Ok(()),
            Self::Step(s) => {
                at_least_one(s.step_size, &k("step_size"))?;
                positive(s.gamma, &k("gamma"))
            }
            Self::Multistep(s) => {
                ensure(!s.milestones.is_empty(), &k("milestones"), || {
                    "an empty list is not allowed: give at least one epoch".into()
                })?;
                increasing(s.milestones.iter().copied(), &k("milestones"), "milestones")?;
                positive(s.gamma, &k("gamma"))
            }
            Self::Exponential(s) => positive(s.gamma, &k("gamma")),
            Self::Cosine(s) => {
                at_least_one(s.t_max, &k("t_max"))?;
                non_negative(s.eta_min, &k("eta_min"))?;
                ensure(s.warmup < s.t_max, &k("warmup"), || {
                    format!(
                        "{} is not allowed: the warm-up must end before t_max ({})",
                        s.warmup, s.t_max
                    )
                })?;
                let f = s.warmup_start_factor;
                ensure(f > 0.0 && f <= 1.0, &k("warmup_start_factor"), || {
                    format!("{f} is not allowed: must be in (0, 1]")
                })
            }
            Self::Piecewise(s) => {
                ensure(!s.points.is_empty(), &k("points"), || {
                    "an empty list is not allowed: give [epoch, factor] pairs".into()
                })?;
                increasing(s.points.iter().map(|p| p.0), &k("points"), "epochs")?;
                for (i, &(_, f)) in s.points.iter().enumerate() {
                    positive(f, &format!("{}[{i}]", k("points")))?;
                }
                Ok(())
            }
            Self::Plateau(s) => {
                ensure(s.factor > 0.0 && s.factor < 1.0, &k("factor"), || {
                    format!("{} is not allowed: must be in (0, 1)", s.factor)
                })?;
                non_negative(s.threshold, &k("threshold"))?;
                non_negative(s.min_lr, &k("min_lr"))?;
                non_negative(s.eps, &k("eps"))
            }
        }
    }

    /// When the schedule advances (`plateau`: after each epoch).
    pub fn per(&self) -> Per {
        match self {
            Self::Constant {} | Self::Plateau(_) => Per::Epoch,
            Self::Step(s) => s.per,
            Self::Multistep(s) => s.per,
            Self::Exponential(s) => s.per,
            Self::Cosine(s) => s.per,
            Self::Piecewise(s) => s.per,
        }
    }

    /// The rate at epoch (or step) `t` of an optimiser whose base rate is `base`, for every
    /// kind but `plateau` (whose rate depends on the values it was fed).
    fn rate(&self, base: f64, t: usize) -> f64 {
        match self {
            Self::Constant {} | Self::Plateau(_) => base,
            Self::Step(s) => base * s.gamma.powf((t / s.step_size) as f64),
            Self::Multistep(s) => {
                let cuts = s.milestones.iter().filter(|&&m| m <= t).count();
                base * s.gamma.powf(cuts as f64)
            }
            Self::Exponential(s) => base * s.gamma.powf(t as f64),
            Self::Cosine(s) if t < s.warmup => {
                let f = s.warmup_start_factor;
                base * (f + (1.0 - f) * t as f64 / s.warmup as f64)
            }
            Self::Cosine(s) => {
                // In the order of torch's closed form: at t_max, 1 + cos is exactly 0.
                let (t, t_max) = ((t - s.warmup) as f64, (s.t_max - s.warmup) as f64);
                let cos = (std::f64::consts::PI * t / t_max).cos();
                s.eta_min + (base - s.eta_min) * (1.0 + cos) / 2.0
            }
            Self::Piecewise(s) => {
                let factor = s.points.iter().take_while(|p| p.0 <= t).last();
                base * factor.map_or(1.0, |p| p.1)
            }
        }
    }
}

/// What `plateau` has seen: the best value, the bad epochs since it and the cooldown left.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PlateauTrack {
    best: f64,
    bad_epochs: usize,
    cooldown_left: usize,
}

impl Plateau {
    /// ReduceLROnPlateau.step, operation for operation.
    fn step(&self, tr: &mut PlateauTrack, lrs: &mut [f64], metric: f64) {
        let better = match (self.mode, self.threshold_mode) {
            (Mode::Min, ThresholdMode::Rel) => metric < tr.best * (1.0 - self.threshold),
            (Mode::Min, ThresholdMode::Abs) => metric < tr.best - self.threshold,
            (Mode::Max, ThresholdMode::Rel) => metric > tr.best * (self.threshold + 1.0),
            (Mode::Max, ThresholdMode::Abs) => metric > tr.best + self.threshold,
        };
        if better {
            tr.best = metric;
            tr.bad_epochs = 0;
        } else {
            tr.bad_epochs += 1;
        }
        if tr.cooldown_left > 0 {
            tr.cooldown_left -= 1;
            tr.bad_epochs = 0;
        }
        if tr.bad_epochs > self.patience {
            for lr in lrs.iter_mut() {
                let cut = (*lr * self.factor).max(self.min_lr);
                if *lr - cut > self.eps {
                    *lr = cut;
                }
            }
            tr.cooldown_left = self.cooldown;
            tr.bad_epochs = 0;
        }
    }
}

/// The rates of a run's optimisers under one schedule, advanced by [`Scheduler::end_step`]
/// after every training batch and [`Scheduler::end_epoch`] after every epoch.
#[derive(Debug, Clone)]
pub struct Scheduler {
    cfg: ScheduleConfig,
    base: Vec<f64>,
    /// Epochs or steps done (torch's `last_epoch`).
    t: usize,
    lrs: Vec<f64>,
    track: PlateauTrack,
}

/// Values of [`Scheduler::state`] before the rates.
const STATE_HEAD: usize = 4;

impl Scheduler {
    /// The schedule of optimisers with base rates `base_lrs`, at epoch (and step) 0.
    pub fn new(cfg: &ScheduleConfig, base_lrs: &[f64]) -> Self {
        // torch's `mode_worse`, the best before any value.
        let best = match cfg {
            ScheduleConfig::Plateau(Plateau {
                mode: Mode::Max, ..
            }) => f64::NEG_INFINITY,
            _ => f64::INFINITY,
        };
        Self {
            cfg: cfg.clone(),
            base: base_lrs.to_vec(),
            t: 0,
            lrs: base_lrs.iter().map(|&b| cfg.rate(b, 0)).collect(),
            track: PlateauTrack {
                best,
                bad_epochs: 0,
                cooldown_left: 0,
            },
        }
    }

    /// The rate of each optimiser now, in the order of the base rates.
    pub fn lrs(&self) -> &[f64] {
        &self.lrs
    }

    /// After each training batch (all of its optimiser steps): advances a `per: step` schedule;
    /// whether it did (the rates may have moved).
    pub fn end_step(&mut self) -> bool {
        let per_step = self.cfg.per() == Per::Step;
        if per_step {
            self.advance();
        }
        per_step
    }

    /// After each epoch, with the monitored value of that epoch: advances a `per: epoch`
    /// schedule; only `plateau` reads `metric` (a NaN counts as no improvement, as in torch).
    pub fn end_epoch(&mut self, metric: f64) {
        if let ScheduleConfig::Plateau(p) = &self.cfg {
            self.t += 1;
            p.step(&mut self.track, &mut self.lrs, metric);
        } else if self.cfg.per() == Per::Epoch {
            self.advance();
        }
    }

    fn advance(&mut self) {
        self.t += 1;
        let (cfg, t) = (&self.cfg, self.t);
        for (lr, &b) in self.lrs.iter_mut().zip(&self.base) {
            *lr = cfg.rate(b, t);
        }
    }

    /// The whole state, for a checkpoint: `[t, best, bad epochs, cooldown left, rate of each
    /// optimiser...]` (counts are exact in f64; `best` may be infinite).
    pub fn state(&self) -> Vec<f64> {
        let tr = &self.track;
        let head = [
            self.t as f64,
            tr.best,
            tr.bad_epochs as f64,
            tr.cooldown_left as f64,
        ];
        head.into_iter().chain(self.lrs.iter().copied()).collect()
    }

    /// Restores what [`Scheduler::state`] saved, into a scheduler built with the same config
    /// and base rates.
    pub fn restore(&mut self, state: &[f64]) -> Result<(), String> {
        if state.len() != STATE_HEAD + self.base.len() {
            return Err(format!(
                "the schedule's state has {} values, {} expected for {} optimisers",
                state.len(),
                STATE_HEAD + self.base.len(),
                self.base.len()
            ));
        }
        let count = |x: f64, what: &str| {
            if x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(53) {
                Ok(x as usize)
            } else {
                Err(format!("the schedule's state has {x} as {what}"))
            }
        };
        self.t = count(state[0], "its epoch or step")?;
        self.track = PlateauTrack {
            best: state[1],
            bad_epochs: count(state[2], "bad epochs")?,
            cooldown_left: count(state[3], "cooldown left")?,
        };
        self.lrs = state[STATE_HEAD..].to_vec();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ScheduleConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_each_kind_with_torch_defaults_and_refuses_unknown_keys() {
        assert_eq!(
            parse(r#"{"kind": "constant"}"#),
            Ok(ScheduleConfig::Constant {})
        );
        assert_eq!(
            parse(r#"{"kind": "step", "step_size": 3}"#),
            Ok(ScheduleConfig::Step(StepDecay {
                step_size: 3,
                gamma: 0.1,
                per: Per::Epoch
            }))
        );
        assert_eq!(
            parse(r#"{"kind": "plateau"}"#),
            Ok(ScheduleConfig::Plateau(Plateau::default()))
        );
        let ScheduleConfig::Cosine(c) = parse(r#"{"kind": "cosine", "t_max": 9}"#).unwrap() else {
            panic!("not cosine")
        };
        assert_eq!(
            (c.eta_min, c.warmup, c.warmup_start_factor),
            (0.0, 0, 1.0 / 3.0)
        );
        // What a run's config.yaml holds reads back as the same schedule.
        for json in [
            r#"{"kind": "constant"}"#,
            r#"{"kind": "piecewise", "points": [[0, 1.0], [10, 0.5]], "per": "step"}"#,
            r#"{"kind": "plateau", "mode": "max", "min_lr": 1e-5}"#,
        ] {
            let cfg = parse(json).unwrap();
            let written = serde_json::to_string(&cfg).unwrap();
            assert_eq!(parse(&written), Ok(cfg), "{written}");
        }
        for (json, says) in [
            (
                r#"{"kind": "step", "step_size": 3, "gama": 0.5}"#,
                "unknown field `gama`",
            ),
            (
                r#"{"kind": "constant", "gamma": 0.5}"#,
                "unknown field `gamma`",
            ),
            (
                r#"{"kind": "plateau", "per": "step"}"#,
                "unknown field `per`",
            ),
            (r#"{"kind": "cos"}"#, "unknown variant `cos`"),
            (r#"{"kind": "step"}"#, "missing field `step_size`"),
            (
                r#"{"kind": "exponential", "gamma": 0.9, "per": "batch"}"#,
                "unknown variant `batch`",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(says), "{json}: {err}");
        }
    }

    #[test]
    fn validate_names_the_key_and_what_is_allowed() {
        for (json, key, says) in [
            (
                r#"{"kind": "step", "step_size": 0}"#,
                "step_size",
                "must be at least 1",
            ),
            (
                r#"{"kind": "step", "step_size": 2, "gamma": 0}"#,
                "gamma",
                "must be > 0",
            ),
            (
                r#"{"kind": "exponential", "gamma": -0.5}"#,
                "gamma",
                "must be > 0",
            ),
            (
                r#"{"kind": "multistep", "milestones": []}"#,
                "milestones",
                "at least one",
            ),
            (
                r#"{"kind": "multistep", "milestones": [10, 30, 30]}"#,
                "milestones[2]",
                "30 is not allowed after 30: milestones must increase",
            ),
            (
                r#"{"kind": "cosine", "t_max": 0}"#,
                "t_max",
                "must be at least 1",
            ),
            (
                r#"{"kind": "cosine", "t_max": 10, "warmup": 10}"#,
                "warmup",
                "must end before t_max (10)",
            ),
            (
                r#"{"kind": "cosine", "t_max": 10, "eta_min": -1e-3}"#,
                "eta_min",
                "must be >= 0",
            ),
            (
                r#"{"kind": "cosine", "t_max": 10, "warmup": 2, "warmup_start_factor": 0}"#,
                "warmup_start_factor",
                "must be in (0, 1]",
            ),
            (
                r#"{"kind": "piecewise", "points": []}"#,
                "points",
                "[epoch, factor] pairs",
            ),
            (
                r#"{"kind": "piecewise", "points": [[0, 1.0], [20, 0.1], [10, 0.01]]}"#,
                "points[2]",
                "10 is not allowed after 20: epochs must increase",
            ),
            (
                r#"{"kind": "piecewise", "points": [[0, 1.0], [5, 0]]}"#,
                "points[1]",
                "must be > 0",
            ),
            (
                r#"{"kind": "plateau", "factor": 1.0}"#,
                "factor",
                "must be in (0, 1)",
            ),
            (
                r#"{"kind": "plateau", "factor": 0}"#,
                "factor",
                "must be in (0, 1)",
            ),
            (
                r#"{"kind": "plateau", "threshold": -1}"#,
                "threshold",
                "must be >= 0",
            ),
            (
                r#"{"kind": "plateau", "min_lr": -1e-6}"#,
                "min_lr",
                "must be >= 0",
            ),
        ] {
            let err = parse(json).unwrap().validate("train.schedule").unwrap_err();
            assert_eq!(err.key, format!("train.schedule.{key}"), "{json}");
            assert!(err.message.contains(says), "{json}: {err}");
        }
        for json in [
            r#"{"kind": "constant"}"#,
            r#"{"kind": "cosine", "t_max": 10, "warmup": 9, "warmup_start_factor": 1}"#,
            r#"{"kind": "piecewise", "points": [[3, 0.5]]}"#,
            r#"{"kind": "plateau", "factor": 0.5, "min_lr": 1e-5}"#,
        ] {
            parse(json).unwrap().validate("train.schedule").unwrap();
        }
    }

    /// Runs `a` for `kill` epochs of `batches` batches, restores its state into a fresh
    /// scheduler, and checks that both give the same rates, bit for bit, to the end; returns
    /// the state at the kill.
    fn resumed_identically(cfg: &str, metrics: &[f64], batches: usize, kill: usize) -> Vec<f64> {
        let cfg = parse(cfg).unwrap();
        cfg.validate("train.schedule").unwrap();
        let base = [0.1, 0.025];
        let run = |s: &mut Scheduler, epoch: usize, seen: &mut Vec<Vec<f64>>| {
            for _ in 0..batches {
                seen.push(s.lrs().to_vec());
                s.end_step();
            }
            s.end_epoch(metrics[epoch]);
        };
        let (mut a, mut seen_a) = (Scheduler::new(&cfg, &base), Vec::new());
        for e in 0..kill {
            run(&mut a, e, &mut seen_a);
        }
        let state = a.state();
        let mut b = Scheduler::new(&cfg, &base);
        b.restore(&state).unwrap();
        let mut seen_b = Vec::new();
        for e in kill..metrics.len() {
            run(&mut a, e, &mut seen_a);
            run(&mut b, e, &mut seen_b);
        }
        assert_eq!(seen_a[kill * batches..], seen_b[..], "{cfg:?}");
        state
    }

    #[test]
    fn restoring_mid_schedule_continues_with_identical_rates() {
        let flat = [1.0; 30];
        // During a per-step warm-up: 2 epochs of 3 batches into a 10-step warm-up.
        let state = resumed_identically(
            r#"{"kind": "cosine", "t_max": 60, "warmup": 10, "warmup_start_factor": 0.01, "per": "step", "eta_min": 1e-4}"#,
            &flat[..20],
            3,
            2,
        );
        assert_eq!(state[0], 6.0);
        assert!(state[4] < 0.1, "{state:?}");
        // Plateau on a flat loss: cuts at epochs 4, 10 and 16 (patience 3, cooldown 2).
        let plateau =
            r#"{"kind": "plateau", "factor": 0.5, "patience": 3, "cooldown": 2, "min_lr": 0.01}"#;
        // Just after the first cut, in its cooldown.
        let state = resumed_identically(plateau, &flat, 2, 5);
        assert_eq!(state[1..], [1.0, 0.0, 2.0, 0.05, 0.0125]);
        // Later in the cooldown of the second cut, and after the floor of the second optimiser.
        let state = resumed_identically(plateau, &flat, 2, 12);
        assert_eq!(state[1..], [1.0, 0.0, 1.0, 0.025, 0.01]);
        // Counting bad epochs after the cooldown, best value kept.
        let state = resumed_identically(plateau, &flat, 2, 15);
        assert_eq!(state[1..4], [1.0, 2.0, 0.0]);
        // Max mode starts from -inf, which the state keeps.
        let state = resumed_identically(r#"{"kind": "plateau", "mode": "max"}"#, &flat, 1, 0);
        assert_eq!(state[1], f64::NEG_INFINITY);
    }

    #[test]
    fn restore_refuses_a_state_of_another_shape() {
        let mut s = Scheduler::new(&ScheduleConfig::default(), &[0.1, 0.2]);
        let err = s.restore(&[0.0, 1.0, 0.0, 0.0, 0.1]).unwrap_err();
        assert!(
            err.contains("5 values, 6 expected for 2 optimisers"),
            "{err}"
        );
        let err = s.restore(&[1.5, 1.0, 0.0, 0.0, 0.1, 0.2]).unwrap_err();
        assert!(err.contains("1.5 as its epoch or step"), "{err}");
    }
}
