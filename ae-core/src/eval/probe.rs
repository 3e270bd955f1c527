//! A linear probe: how well a linear classifier reads the labels off the features, with its
//! penalty chosen on a validation split. Fitted full-batch by L-BFGS, loss and gradient in f64
//! on the features' device, the optimiser's small vectors on the host.

use anyhow::{ensure, Result};
use candle_core::{DType, Tensor, D};
use std::collections::VecDeque;

/// How the probe is fitted and its penalty chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// The L2 penalties tried; ties in validation accuracy go to the larger (simpler model).
    pub l2_grid: Vec<f64>,
    /// The fraction of training rows, taken from the end, that the penalty is chosen on.
    pub val_fraction: f64,
    /// L-BFGS iterations at most, per fit.
    pub max_iter: usize,
    /// A fit stops when an iteration lowers the loss by no more than tol * max(|loss|, 1)
    /// (scipy's `ftol` test), or when the line search can lower it no further.
    pub tol: f64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            l2_grid: vec![1e-4, 1e-3, 1e-2, 1e-1, 1.0],
            val_fraction: 0.2,
            max_iter: 500,
            tol: 1e-6,
        }
    }
}

/// A linear probe's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// On the test rows, refitted on all training rows with the chosen penalty.
    pub accuracy: f64,
    /// The chosen penalty, one of the grid's.
    pub l2: f64,
    /// The chosen penalty's accuracy on the validation split.
    pub val_accuracy: f64,
}

/// L-BFGS's history: the last this many steps and gradient changes.
const HISTORY: usize = 10;
/// Armijo's sufficient-decrease fraction.
const ARMIJO: f64 = 1e-4;
/// Step halvings before the line search gives up (the loss no longer falls at f64 precision).
const MAX_HALVINGS: usize = 50;

/// A linear probe: multinomial logistic regression on standardized features (mean and std from
/// the training features; a zero std becomes 1), with an L2 penalty chosen from `l2_grid` by accuracy on a
/// validation split (the last `val_fraction` of the training rows; the caller shuffles), then refit on all training rows
/// with the chosen penalty, and its accuracy on the test rows.
///
/// Loss: mean cross-entropy + (l2 / 2) |W|^2, the bias not penalised. Each fit standardises
/// with its own rows' statistics, so the validation rows take no part in the validation fits.
pub fn linear_probe(
    train: &Tensor,
    train_labels: &[u32],
    test: &Tensor,
    test_labels: &[u32],
    n_classes: usize,
    cfg: &ProbeConfig,
) -> Result<Probe> {
    let (n, d) = train.dims2()?;
    let (n_test, d_test) = test.dims2()?;
    ensure!(
        d == d_test,
        "probe: train rows have {d} features, test rows {d_test}"
    );
    ensure!(
        train_labels.len() == n && test_labels.len() == n_test,
        "probe: {n} train and {n_test} test rows but {} and {} labels",
        train_labels.len(),
        test_labels.len()
    );
    ensure!(n_test > 0, "probe: no test rows");
    ensure!(
        n_classes >= 2,
        "probe: {n_classes} classes (needs 2 or more)"
    );
    ensure!(
        train_labels
            .iter()
            .chain(test_labels)
            .all(|&l| (l as usize) < n_classes),
        "probe: a label is not below n_classes = {n_classes}"
    );
    ensure!(
        !cfg.l2_grid.is_empty() && cfg.l2_grid.iter().all(|l| l.is_finite() && *l >= 0.0),
        "probe: l2_grid {:?} must be non-empty, finite and >= 0",
        cfg.l2_grid
    );
    let n_val = (n as f64 * cfg.val_fraction).round() as usize;
    ensure!(
        cfg.val_fraction > 0.0 && n_val >= 1 && n_val < n,
        "probe: val_fraction {} of {n} training rows leaves no validation or no fitting rows",
        cfg.val_fraction
    );
    let n_fit = n - n_val;
    let (fit_x, val_x) = (train.narrow(0, 0, n_fit)?, train.narrow(0, n_fit, n_val)?);
    let (fit_y, val_y) = train_labels.split_at(n_fit);
    let scored = cfg
        .l2_grid
        .iter()
        .map(|&l2| {
            let model = Model::fit(&fit_x, fit_y, n_classes, l2, cfg)?;
            Ok((model.accuracy(&val_x, val_y)?, l2))
        })
        .collect::<Result<Vec<_>>>()?;
    let (val_accuracy, l2) = scored
        .into_iter()
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .expect("the grid is not empty");
    let model = Model::fit(train, train_labels, n_classes, l2, cfg)?;
    Ok(Probe {
        accuracy: model.accuracy(test, test_labels)?,
        l2,
        val_accuracy,
    })
}

/// A fitted probe: its rows' standardisation, and weights [d, k] and bias [k] on the
/// standardised features, all f64 on the features' device.
struct Model {
    mean: Tensor,
    std: Tensor,
    w: Tensor,
    b: Tensor,
}

impl Model {
    fn fit(
        x: &Tensor,
        labels: &[u32],
        n_classes: usize,
        l2: f64,
        cfg: &ProbeConfig,
    ) -> Result<Model> {
        let x = x.to_dtype(DType::F64)?;
        let mean = x.mean_keepdim(0)?;
        let centred = x.broadcast_sub(&mean)?;
        let std = centred.sqr()?.mean_keepdim(0)?.sqrt()?;
        let std = std.eq(0.0)?.where_cond(&std.ones_like()?, &std)?;
        let objective = Objective::new(centred.broadcast_div(&std)?, labels, n_classes, l2)?;
        let theta = lbfgs(
            |theta| objective.loss_and_grad(theta),
            vec![0.0; objective.len()],
            cfg.max_iter,
            cfg.tol,
        )?;
        let (w, b) = objective.params(&theta)?;
        Ok(Model { mean, std, w, b })
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let xs = x
            .to_dtype(DType::F64)?
            .broadcast_sub(&self.mean)?
            .broadcast_div(&self.std)?;
        Ok(xs.matmul(&self.w)?.broadcast_add(&self.b)?)
    }

    fn accuracy(&self, x: &Tensor, labels: &[u32]) -> Result<f64> {
        let pred = self.logits(x)?.argmax(D::Minus1)?.to_vec1::<u32>()?;
        let hits = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(hits as f64 / labels.len() as f64)
    }
}

/// The penalised mean cross-entropy of standardised rows, as a function of the flat parameters
/// theta = W ([d, k], row-major) then b ([k]).
struct Objective {
    x: Tensor,
    onehot: Tensor,
    l2: f64,
    /// Features and classes.
    d: usize,
    k: usize,
}

impl Objective {
    fn new(x: Tensor, labels: &[u32], n_classes: usize, l2: f64) -> Result<Self> {
        let mut onehot = vec![0f64; labels.len() * n_classes];
        for (row, &l) in labels.iter().enumerate() {
            onehot[row * n_classes + l as usize] = 1.0;
        }
        let onehot = Tensor::from_vec(onehot, (labels.len(), n_classes), x.device())?;
        let d = x.dim(1)?;
        Ok(Self {
            x,
            onehot,
            l2,
            d,
            k: n_classes,
        })
    }

    fn len(&self) -> usize {
        (self.d + 1) * self.k
    }

    /// W and b as tensors on the device.
    fn params(&self, theta: &[f64]) -> Result<(Tensor, Tensor)> {
        let (d, k, dev) = (self.d, self.k, self.x.device());
        Ok((
            Tensor::from_slice(&theta[..d * k], (d, k), dev)?,
            Tensor::from_slice(&theta[d * k..], k, dev)?,
        ))
    }

    /// The loss and its gradient: X^T (softmax - onehot) / n + l2 W for W, the column sums of
    /// (softmax - onehot) / n for b.
    fn loss_and_grad(&self, theta: &[f64]) -> Result<(f64, Vec<f64>)> {
        let n = self.x.dim(0)? as f64;
        let (w, b) = self.params(theta)?;
        let logits = self.x.matmul(&w)?.broadcast_add(&b)?;
        let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let cross_entropy = (&log_p * &self.onehot)?.sum_all()?.to_scalar::<f64>()? / -n;
        let residual = ((log_p.exp()? - &self.onehot)? / n)?;
        let grad_w = (self.x.t()?.matmul(&residual)? + (w * self.l2)?)?;
        let mut grad = grad_w.flatten_all()?.to_vec1::<f64>()?;
        grad.extend(residual.sum(0)?.to_vec1::<f64>()?);
        let w_sq: f64 = theta[..self.d * self.k].iter().map(|v| v * v).sum();
        Ok((cross_entropy + 0.5 * self.l2 * w_sq, grad))
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The L-BFGS step direction, -H g, by the two-loop recursion over `history` of (s, y, 1 / y.s),
/// with H's initial scale s.y / y.y from the latest pair (the identity when there is none).
fn direction(g: &[f64], history: &VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut alphas = Vec::with_capacity(history.len());
    for (s, y, rho) in history.iter().rev() {
        let a = rho * dot(s, &q);
        q.iter_mut().zip(y).for_each(|(q, y)| *q -= a * y);
        alphas.push(a);
    }
    if let Some((s, y, _)) = history.back() {
        let gamma = dot(s, y) / dot(y, y);
        q.iter_mut().for_each(|q| *q *= gamma);
    }
    for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
        let b = rho * dot(y, &q);
        q.iter_mut().zip(s).for_each(|(q, s)| *q += (a - b) * s);
    }
    q.iter().map(|v| -v).collect()
}

/// Minimises `f` (value and gradient) from `x` by L-BFGS with a backtracking Armijo line
/// search; stops as [`ProbeConfig::tol`] says, or after `max_iter` iterations.
fn lbfgs(
    mut f: impl FnMut(&[f64]) -> Result<(f64, Vec<f64>)>,
    mut x: Vec<f64>,
    max_iter: usize,
    tol: f64,
) -> Result<Vec<f64>> {
    let (mut fx, mut g) = f(&x)?;
    let mut history = VecDeque::with_capacity(HISTORY);
    for _ in 0..max_iter {
        let mut p = direction(&g, &history);
        let mut slope = dot(&g, &p);
        if slope >= 0.0 {
            // Not a descent direction (stale curvature): restart from steepest descent.
            history.clear();
            p = g.iter().map(|v| -v).collect();
            slope = -dot(&g, &g);
        }
        if slope == 0.0 {
            break;
        }
        // Without curvature yet, the first trial step has length 1.
        let mut step = if history.is_empty() {
            1.0 / slope.abs().sqrt()
        } else {
            1.0
        };
        let mut accepted = None;
        for _ in 0..MAX_HALVINGS {
            let trial: Vec<f64> = x.iter().zip(&p).map(|(x, p)| x + step * p).collect();
            let (f_trial, g_trial) = f(&trial)?;
            if f_trial <= fx + ARMIJO * step * slope {
                accepted = Some((trial, f_trial, g_trial));
                break;
            }
            step *= 0.5;
        }
        let Some((x_new, f_new, g_new)) = accepted else {
            break;
        };
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        // Keep only pairs with positive curvature, so H stays positive definite.
        if sy > f64::EPSILON * dot(&y, &y) {
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        let decrease = fx - f_new;
        (x, fx, g) = (x_new, f_new, g_new);
        if decrease <= tol * fx.abs().max(1.0) {
            break;
        }
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Streams};
    use candle_core::Device;

    /// One row of `d` features per label: unit gaussian noise around `spread` times the label's
    /// axis, feature j then scaled by j + 1 and moved by j.
    fn gaussian_classes(
        labels: Vec<u32>,
        d: usize,
        spread: f32,
        seed: u64,
    ) -> Result<(Tensor, Vec<u32>)> {
        let n = labels.len();
        let noise = Streams::new(seed)
            .stream(Purpose::Eval, 0)
            .normal((n, d), &Device::Cpu)?;
        let x: Vec<f32> = noise
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                let (row, j) = (i / d, i % d);
                let centre = if j == labels[row] as usize {
                    spread
                } else {
                    0.0
                };
                (centre + e) * (j + 1) as f32 + j as f32
            })
            .collect();
        Ok((Tensor::from_vec(x, (n, d), &Device::Cpu)?, labels))
    }

    /// Labels 0, 1, .., k - 1, 0, 1, .. for `n` rows.
    fn cyclic(n: usize, k: u32) -> Vec<u32> {
        (0..n as u32).map(|i| i % k).collect()
    }

    /// The loss's gradient (W row-major, then b) in f64 by loops, standardising `x` itself.
    fn loop_gradient(x: &[Vec<f32>], y: &[u32], l2: f64, w: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
        let (n, d, k) = (x.len(), x[0].len(), b.len());
        let column = |j: usize| x.iter().map(move |r| r[j] as f64);
        let mean: Vec<f64> = (0..d).map(|j| column(j).sum::<f64>() / n as f64).collect();
        let std: Vec<f64> = (0..d)
            .map(|j| (column(j).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n as f64).sqrt())
            .collect();
        let mut grad_w = vec![vec![0.0; k]; d];
        let mut grad_b = vec![0.0; k];
        for (row, &label) in x.iter().zip(y) {
            let xs: Vec<f64> = (0..d).map(|j| (row[j] as f64 - mean[j]) / std[j]).collect();
            let z: Vec<f64> = (0..k)
                .map(|c| b[c] + (0..d).map(|j| xs[j] * w[j][c]).sum::<f64>())
                .collect();
            let total: f64 = z.iter().map(|v| v.exp()).sum();
            for c in 0..k {
                let r = (z[c].exp() / total - f64::from(c == label as usize)) / n as f64;
                grad_b[c] += r;
                for j in 0..d {
                    grad_w[j][c] += xs[j] * r;
                }
            }
        }
        let mut grad = Vec::new();
        for j in 0..d {
            grad.extend((0..k).map(|c| grad_w[j][c] + l2 * w[j][c]));
        }
        grad.extend(grad_b);
        grad
    }

    fn weights(model: &Model) -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
        Ok((model.w.to_vec2::<f64>()?, model.b.to_vec1::<f64>()?))
    }

    #[test]
    fn gradient_vanishes_at_the_fit() -> Result<()> {
        let (x, y) = gaussian_classes(cyclic(90, 3), 4, 1.0, 1)?;
        let l2 = 1e-2;
        let model = Model::fit(&x, &y, 3, l2, &ProbeConfig::default())?;
        let (w, b) = weights(&model)?;
        let grad = loop_gradient(&x.to_vec2::<f32>()?, &y, l2, &w, &b);
        let largest = grad.iter().fold(0f64, |m, g| m.max(g.abs()));
        assert!(largest < 1e-4, "gradient {grad:?}");
        // The fit went somewhere: at W = 0, b = 0 the gradient is far from 0.
        let at_zero = loop_gradient(
            &x.to_vec2::<f32>()?,
            &y,
            l2,
            &vec![vec![0.0; 3]; 4],
            &[0.0; 3],
        );
        assert!(at_zero.iter().any(|g| g.abs() > 0.1), "{at_zero:?}");
        Ok(())
    }

    // Written by `/tmp/skl/bin/python bench/probe_reference.py` (scikit-learn 1.9.1).
    const X: [[f32; 3]; 60] = [
        [1.764, 6.200, -0.804],
        [3.741, 12.103, -1.195],
        [0.950, 9.046, -1.121],
        [0.411, 5.432, -0.709],
        [2.261, 6.865, -0.911],
        [0.334, 13.982, -1.141],
        [0.313, 2.438, -1.511],
        [2.154, 9.093, -1.148],
        [2.270, 5.137, -1.091],
        [-0.187, 9.598, -0.706],
        [1.655, 7.634, -1.178],
        [-1.981, 8.456, -1.069],
        [1.230, 8.607, -1.077],
        [1.198, 3.354, -1.284],
        [-1.706, 15.352, -1.202],
        [-0.438, 1.242, -0.845],
        [-0.114, 5.862, -1.179],
        [0.387, 7.968, -1.336],
        [-0.028, 6.285, -0.987],
        [1.802, 4.597, -1.073],
        [-0.672, 8.421, -1.263],
        [-1.726, 5.532, -1.080],
        [-0.130, 7.888, -1.181],
        [0.052, 11.687, -1.074],
        [1.139, 1.296, -0.920],
        [0.815, 3.888, -1.116],
        [-0.312, 9.668, -1.333],
        [0.901, 6.397, -1.307],
        [2.988, 12.188, -0.764],
        [-0.180, 6.288, -0.889],
        [-0.403, 8.667, -0.958],
        [2.477, 7.569, -0.859],
        [0.011, 14.858, -1.075],
        [0.402, 10.649, -1.270],
        [0.230, 9.408, -1.235],
        [1.944, 8.259, -1.249],
        [1.923, 9.442, -0.626],
        [2.406, 3.916, -0.618],
        [-0.268, 11.907, -0.911],
        [-0.155, 6.842, -0.816],
        [1.876, 3.202, -0.940],
        [1.326, 7.416, -1.130],
        [-0.435, 10.548, -0.866],
        [1.907, 4.190, -0.892],
        [-0.674, 9.595, -1.227],
        [0.676, 6.730, -1.042],
        [1.896, 3.221, -1.298],
        [0.439, 10.000, -0.973],
        [2.383, 7.833, -1.183],
        [2.617, 2.552, -1.092],
        [-0.068, 14.640, -1.249],
        [-0.826, 4.705, -1.133],
        [2.627, 3.260, -1.229],
        [-0.438, 8.006, -0.714],
        [0.949, 5.263, -1.245],
        [2.344, 3.499, -1.309],
        [1.188, 10.451, -0.916],
        [0.319, 7.570, -1.130],
        [0.466, 8.545, -1.161],
        [-0.690, 8.133, -1.097],
    ];
    const Y: [u32; 60] = [
        0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2,
        0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2,
    ];

    #[test]
    fn matches_scikit_learn() -> Result<()> {
        let want_w = [
            [-0.4527701152283232, 1.02283077821087, -0.5700606629825467],
            [-0.4664819520650199, -0.4822546923693696, 0.9487366444343895],
            [
                0.3213093137248451,
                -0.13072889632976933,
                -0.19058041739507567,
            ],
        ];
        let want_b = [
            0.22719402833144614,
            -0.1619891585964444,
            -0.06520486973500174,
        ];
        let x = Tensor::new(&X, &Device::Cpu)?;
        let tight = ProbeConfig {
            l2_grid: vec![0.01],
            tol: 1e-14,
            max_iter: 10_000,
            ..ProbeConfig::default()
        };
        let (w, b) = weights(&Model::fit(&x, &Y, 3, 0.01, &tight)?)?;
        for (got, want) in w.iter().flatten().zip(want_w.iter().flatten()) {
            assert!((got - want).abs() < 1e-6, "W {w:?}");
        }
        // The intercepts are defined up to a common shift; both fits start at 0 and keep their sum.
        for (got, want) in b.iter().zip(want_b) {
            assert!((got - want).abs() < 1e-6, "b {b:?}");
        }
        // Trained and tested on the same rows: sklearn's training accuracy.
        let probe = linear_probe(&x, &Y, &x, &Y, 3, &tight)?;
        assert_eq!(probe.accuracy, 0.6833333333333333);
        Ok(())
    }

    #[test]
    fn separable_classes_are_all_right() -> Result<()> {
        let (train, train_labels) = gaussian_classes(cyclic(300, 4), 5, 12.0, 2)?;
        let (test, test_labels) = gaussian_classes(cyclic(100, 4), 5, 12.0, 3)?;
        let probe = linear_probe(
            &train,
            &train_labels,
            &test,
            &test_labels,
            4,
            &ProbeConfig::default(),
        )?;
        assert_eq!(probe.accuracy, 1.0);
        assert_eq!(probe.val_accuracy, 1.0);
        assert!(ProbeConfig::default().l2_grid.contains(&probe.l2));
        Ok(())
    }

    #[test]
    fn the_penalty_is_chosen_on_the_last_rows() -> Result<()> {
        // One feature, positive on every third row; label = (x > 0) on the first 80 rows, the
        // reverse on the last 20. The validation fit sees only the first 80, so it gets every
        // validation row wrong. (With the first 20 rows held out instead, it gets them right.)
        let xs: Vec<f32> = (0..100)
            .map(|i| {
                if i % 3 == 0 {
                    1.0 + i as f32 / 100.0
                } else {
                    -1.0 - i as f32 / 100.0
                }
            })
            .collect();
        let labels: Vec<u32> = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| u32::from((x > 0.0) == (i < 80)))
            .collect();
        let x = Tensor::from_vec(xs, (100, 1), &Device::Cpu)?;
        let one = ProbeConfig {
            l2_grid: vec![0.05],
            ..ProbeConfig::default()
        };
        let probe = linear_probe(&x, &labels, &x, &labels, 2, &one)?;
        assert_eq!((probe.l2, probe.val_accuracy), (0.05, 0.0));

        // Separable classes, one in four rows of class 1: a huge penalty leaves the weights too
        // small to outvote the intercept, so it calls every validation row class 0 (3 in 4
        // right), and loses to a small penalty in either order. Equal accuracies go to the
        // larger penalty.
        let (train, train_labels) =
            gaussian_classes((0..200).map(|i| u32::from(i % 4 == 3)).collect(), 3, 8.0, 4)?;
        let choose = |grid: &[f64]| {
            let cfg = ProbeConfig {
                l2_grid: grid.to_vec(),
                ..ProbeConfig::default()
            };
            linear_probe(&train, &train_labels, &train, &train_labels, 2, &cfg)
        };
        for grid in [[1e3, 1e-3], [1e-3, 1e3]] {
            let probe = choose(&grid)?;
            assert_eq!((probe.l2, probe.val_accuracy), (1e-3, 1.0), "{grid:?}");
        }
        assert_eq!(choose(&[1e-4, 1e-2, 1e-3])?.l2, 1e-2);
        Ok(())
    }

    #[test]
    fn bad_inputs_are_errors() -> Result<()> {
        let (x, y) = gaussian_classes(cyclic(20, 2), 2, 1.0, 5)?;
        let cfg = ProbeConfig::default();
        let probe = |labels: &[u32], classes, cfg: &ProbeConfig| {
            linear_probe(&x, labels, &x, labels, classes, cfg)
        };
        assert!(probe(&y, 2, &cfg).is_ok());
        assert!(probe(&y[..19], 2, &cfg).is_err());
        assert!(probe(&y, 1, &cfg).is_err());
        assert!(probe(&[2; 20], 2, &cfg).is_err());
        for bad in [
            ProbeConfig {
                l2_grid: vec![],
                ..cfg.clone()
            },
            ProbeConfig {
                l2_grid: vec![-1.0],
                ..cfg.clone()
            },
            ProbeConfig {
                val_fraction: 0.0,
                ..cfg.clone()
            },
            ProbeConfig {
                val_fraction: 0.01,
                ..cfg.clone()
            },
            ProbeConfig {
                val_fraction: 1.0,
                ..cfg.clone()
            },
        ] {
            assert!(probe(&y, 2, &bad).is_err(), "{bad:?}");
        }
        let wide = Tensor::zeros((20, 3), DType::F32, &Device::Cpu)?;
        assert!(linear_probe(&x, &y, &wide, &y, 2, &cfg).is_err());
        Ok(())
    }
}
