//! Following one validation metric across epochs (`train.monitor`): which epoch was the best
//! (its weights are kept as best.safetensors) and when to stop early (`train.early_stopping`).
//!
//! Early stopping follows Keras' and PyTorch Lightning's `EarlyStopping`: an epoch improves
//! when its value beats the reference by more than `min_delta`, and only such an epoch moves the
//! reference; training stops once `patience` epochs in a row have not improved. The best epoch
//! is the one with the best value outright (no `min_delta`), as Lightning's `ModelCheckpoint`.

use crate::error::{at_least_one, ensure, ConfigError};
use crate::schedule::Mode;
use serde::{Deserialize, Serialize};

/// `train.early_stopping`: stop when the monitored metric has not improved for `patience`
/// epochs. Better is the metric's own direction (lower for a loss, higher for an accuracy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EarlyStopping {
    pub patience: usize,
    /// The least change that counts as an improvement, in the metric's own units.
    pub min_delta: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        Self {
            patience: 10,
            min_delta: 0.0,
        }
    }
}

impl EarlyStopping {
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        at_least_one(self.patience, &format!("{key}.patience"))?;
        ensure(
            self.min_delta >= 0.0 && self.min_delta.is_finite(),
            &format!("{key}.min_delta"),
            || format!("{} is not allowed: must be >= 0", self.min_delta),
        )
    }
}

/// What one epoch's value meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The best value so far: keep this epoch's weights.
    pub best: bool,
    /// Early stopping's patience has run out: this was the last epoch.
    pub stop: bool,
}

/// The monitored metric's history as far as the decisions need it, restorable from a
/// checkpoint ([`Monitor::state`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    mode: Mode,
    stopping: Option<EarlyStopping>,
    best: f64,
    /// The epoch (from 1) whose value is `best`; 0 before any.
    best_epoch: usize,
    /// Early stopping's reference value and the epochs since it moved.
    reference: f64,
    waited: usize,
}

impl Monitor {
    /// `mode` is the metric's direction; `stopping` is None when training runs all its epochs.
    pub fn new(mode: Mode, stopping: Option<EarlyStopping>) -> Self {
        let worst = match mode {
            Mode::Min => f64::INFINITY,
            Mode::Max => f64::NEG_INFINITY,
        };
        Self {
            mode,
            stopping,
            best: worst,
            best_epoch: 0,
            reference: worst,
            waited: 0,
        }
    }

    /// `a` is better than `b` by more than `delta` (a NaN is never better).
    fn beats(&self, a: f64, b: f64, delta: f64) -> bool {
        match self.mode {
            Mode::Min => a < b - delta,
            Mode::Max => a > b + delta,
        }
    }

    /// Takes epoch `epoch`'s (from 1) value.
    pub fn see(&mut self, epoch: usize, value: f64) -> Seen {
        let best = self.beats(value, self.best, 0.0);
        if best {
            self.best = value;
            self.best_epoch = epoch;
        }
        let stop = match &self.stopping {
            Some(s) => {
                if self.beats(value, self.reference, s.min_delta) {
                    self.reference = value;
                    self.waited = 0;
                } else {
                    self.waited += 1;
                }
                self.waited >= s.patience
            }
            None => false,
        };
        Seen { best, stop }
    }

    /// The best epoch (from 1; 0 before any) and its value.
    pub fn best(&self) -> (usize, f64) {
        (self.best_epoch, self.best)
    }

    /// Whether patience has run out: the run stopped early.
    pub fn stopped(&self) -> bool {
        self.stopping
            .as_ref()
            .is_some_and(|s| self.waited >= s.patience)
    }

    /// `[best, best epoch, reference, epochs waited]`, for a checkpoint (counts are exact in
    /// f64; the values may be infinite before the first epoch).
    pub fn state(&self) -> Vec<f64> {
        vec![
            self.best,
            self.best_epoch as f64,
            self.reference,
            self.waited as f64,
        ]
    }

    /// Restores what [`Monitor::state`] saved into a monitor built with the same settings.
    pub fn restore(&mut self, state: &[f64]) -> Result<(), String> {
        let count = |x: f64, what: &str| {
            if x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(53) {
                Ok(x as usize)
            } else {
                Err(format!("the monitor's state has {x} as {what}"))
            }
        };
        let [best, best_epoch, reference, waited] = state else {
            return Err(format!(
                "the monitor's state has {} values, 4 expected",
                state.len()
            ));
        };
        self.best = *best;
        self.best_epoch = count(*best_epoch, "the best epoch")?;
        self.reference = *reference;
        self.waited = count(*waited, "epochs waited")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopping(patience: usize, min_delta: f64) -> Option<EarlyStopping> {
        Some(EarlyStopping {
            patience,
            min_delta,
        })
    }

    /// Runs `values` through a monitor; returns (epochs marked best, the epoch it stopped at).
    fn trace(mut m: Monitor, values: &[f64]) -> (Vec<usize>, Option<usize>) {
        let mut best = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            let seen = m.see(i + 1, v);
            if seen.best {
                best.push(i + 1);
            }
            if seen.stop {
                return (best, Some(i + 1));
            }
        }
        (best, None)
    }

    #[test]
    fn stops_after_patience_epochs_without_an_improvement_larger_than_min_delta() {
        // Worked by hand with Keras' rule (improvement: value < reference - min_delta):
        // 1.0 sets the reference; 0.95 improves by 0.05 > 0.02 (reference 0.95); 0.94 and 0.935
        // improve by less than 0.02 (waited 1, 2) but are the best values so far; 0.96 waits 3
        // = patience: stop at epoch 5.
        let m = Monitor::new(Mode::Min, stopping(3, 0.02));
        let (best, stop) = trace(m, &[1.0, 0.95, 0.94, 0.935, 0.96, 0.5]);
        assert_eq!(best, vec![1, 2, 3, 4]);
        assert_eq!(stop, Some(5));
    }

    #[test]
    fn a_real_improvement_resets_the_wait() {
        let m = Monitor::new(Mode::Min, stopping(2, 0.0));
        // 3 (ref), 4 (wait 1), 2 (ref, wait 0), 2 (not strictly better: wait 1), 5 (wait 2): stop.
        assert_eq!(
            trace(m, &[3.0, 4.0, 2.0, 2.0, 5.0, 1.0]),
            (vec![1, 3], Some(5))
        );
    }

    #[test]
    fn max_mode_and_nan_and_no_early_stopping() {
        let m = Monitor::new(Mode::Max, stopping(1, 0.0));
        // A NaN is never an improvement, as in torch's and Lightning's comparisons.
        assert_eq!(trace(m, &[0.5, 0.7, f64::NAN]), (vec![1, 2], Some(3)));
        let m = Monitor::new(Mode::Min, None);
        assert_eq!(trace(m, &[3.0, 4.0, 5.0, 6.0, 2.0]), (vec![1, 5], None));
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let values = [1.0, 0.9, 0.95, 0.97, 0.89, 0.99, 0.98];
        let mut a = Monitor::new(Mode::Min, stopping(3, 0.005));
        for (i, &v) in values[..3].iter().enumerate() {
            a.see(i + 1, v);
        }
        let mut b = Monitor::new(Mode::Min, stopping(3, 0.005));
        b.restore(&a.state()).unwrap();
        assert_eq!(a, b);
        for (i, &v) in values[3..].iter().enumerate() {
            assert_eq!(a.see(i + 4, v), b.see(i + 4, v));
        }
        assert_eq!(b.best(), (5, 0.89));
        // 0.89 was the last real improvement; 0.99 and 0.98 wait 1 and 2 epochs.
        assert_eq!(b.state()[2..], [0.89, 2.0]);
        assert!(!b.stopped());
        b.see(8, 0.95);
        assert!(b.stopped());
        assert!(b.restore(&[1.0, 0.5, 2.0, 0.0]).is_err());
        assert!(b.restore(&[1.0]).is_err());
    }

    #[test]
    fn refuses_impossible_settings() {
        let bad = EarlyStopping {
            patience: 0,
            ..Default::default()
        };
        assert_eq!(
            bad.validate("train.early_stopping").unwrap_err().key,
            "train.early_stopping.patience"
        );
        let bad = EarlyStopping {
            min_delta: -1.0,
            ..Default::default()
        };
        assert_eq!(
            bad.validate("train.early_stopping").unwrap_err().key,
            "train.early_stopping.min_delta"
        );
    }
}
