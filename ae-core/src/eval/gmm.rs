//! A Gaussian mixture with full covariances, fitted by EM in f64: the ex-post density of
//! Ghosh et al. (2020), fitted to a deterministic autoencoder's training codes so that decoding
//! its draws samples the model. It follows scikit-learn's `GaussianMixture` (k-means
//! initialisation, `reg_covar` 1e-6 on each diagonal, stopping when the mean log-likelihood
//! moves by less than `tol`), the implementation those papers used.

use crate::rng::Rng;
use candle_core::{Device, Result};

/// What fitting does.
#[derive(Debug, Clone, Copy)]
pub struct GmmConfig {
    pub components: usize,
    pub max_iter: usize,
    /// EM stops when the mean log-likelihood per point changes by less than this.
    pub tol: f64,
    /// Added to every covariance's diagonal, so that none is singular.
    pub reg_covar: f64,
}

impl Default for GmmConfig {
    fn default() -> Self {
        Self {
            components: 10,
            max_iter: 100,
            tol: 1e-3,
            reg_covar: 1e-6,
        }
    }
}

/// A fitted mixture: weights, means and the Cholesky factors of the covariances.
#[derive(Debug, Clone)]
pub struct Gmm {
    pub dim: usize,
    pub weights: Vec<f64>,
    /// [components][dim].
    pub means: Vec<Vec<f64>>,
    /// Lower-triangular L with L L^T the covariance, row-major [components][dim x dim].
    pub chol: Vec<Vec<f64>>,
    /// The mean log-likelihood of the points it was fitted to, and EM's iterations.
    pub log_likelihood: f64,
    pub iterations: usize,
}

/// The lower Cholesky factor of the symmetric positive-definite `a` [d x d]; an error where
/// it is not positive definite.
fn cholesky(a: &[f64], d: usize) -> Result<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                let v = a[i * d + i] - s;
                if v <= 0.0 || !v.is_finite() {
                    candle_core::bail!("a mixture covariance is not positive definite");
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    Ok(l)
}

impl Gmm {
    /// log N(x | mean_c, L_c L_c^T) for every point (rows of `x`, [n x dim]) and component,
    /// [n][components].
    fn log_densities(&self, x: &[f64]) -> Vec<Vec<f64>> {
        let d = self.dim;
        let n = x.len() / d;
        let mut out = vec![vec![0.0; self.weights.len()]; n];
        let mut y = vec![0.0; d];
        for (c, (mean, l)) in self.means.iter().zip(&self.chol).enumerate() {
            let log_det: f64 = (0..d).map(|i| l[i * d + i].ln()).sum();
            let constant = -0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln() - log_det;
            for (i, row) in out.iter_mut().enumerate() {
                // y = L^-1 (x - mean), by forward substitution.
                let p = &x[i * d..(i + 1) * d];
                for r in 0..d {
                    let s: f64 = (0..r).map(|k| l[r * d + k] * y[k]).sum();
                    y[r] = (p[r] - mean[r] - s) / l[r * d + r];
                }
                row[c] = constant - 0.5 * y.iter().map(|v| v * v).sum::<f64>();
            }
        }
        out
    }

    /// The responsibilities of each component for each point, and the mean log-likelihood.
    fn expectation(&self, x: &[f64]) -> (Vec<Vec<f64>>, f64) {
        let mut resp = self.log_densities(x);
        let log_w: Vec<f64> = self.weights.iter().map(|w| w.ln()).collect();
        let mut total = 0.0;
        for row in &mut resp {
            row.iter_mut().zip(&log_w).for_each(|(v, w)| *v += w);
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            row.iter_mut().for_each(|v| *v = (*v - lse).exp());
            total += lse;
        }
        let n = resp.len() as f64;
        (resp, total / n)
    }

    /// Weights, means and covariances from responsibilities.
    fn maximization(x: &[f64], d: usize, resp: &[Vec<f64>], reg: f64) -> Result<Self> {
        let k = resp[0].len();
        let n = resp.len();
        let mut counts = vec![10.0 * f64::EPSILON; k];
        let mut means = vec![vec![0.0; d]; k];
        for (i, r) in resp.iter().enumerate() {
            let p = &x[i * d..(i + 1) * d];
            for c in 0..k {
                counts[c] += r[c];
                means[c].iter_mut().zip(p).for_each(|(m, v)| *m += r[c] * v);
            }
        }
        for (m, n) in means.iter_mut().zip(&counts) {
            m.iter_mut().for_each(|v| *v /= n);
        }
        let mut chol = Vec::with_capacity(k);
        let mut diff = vec![0.0; d];
        for c in 0..k {
            let mut cov = vec![0.0; d * d];
            for (i, r) in resp.iter().enumerate() {
                let w = r[c];
                let p = &x[i * d..(i + 1) * d];
                diff.iter_mut()
                    .zip(p.iter().zip(&means[c]))
                    .for_each(|(o, (v, m))| *o = v - m);
                for a in 0..d {
                    let wa = w * diff[a];
                    for b in 0..=a {
                        cov[a * d + b] += wa * diff[b];
                    }
                }
            }
            for a in 0..d {
                for b in 0..=a {
                    let v = cov[a * d + b] / counts[c];
                    cov[a * d + b] = v;
                    cov[b * d + a] = v;
                }
                cov[a * d + a] += reg;
            }
            chol.push(cholesky(&cov, d)?);
        }
        let weights = counts.iter().map(|c| c / n as f64).collect();
        Ok(Self {
            dim: d,
            weights,
            means,
            chol,
            log_likelihood: f64::NAN,
            iterations: 0,
        })
    }

    /// Fits a mixture to the rows of `x` ([n x dim], n >= components): k-means++ seeds and
    /// Lloyd's iterations give the first responsibilities (scikit-learn's `init_params:
    /// kmeans`), then EM until the mean log-likelihood settles.
    pub fn fit(x: &[f64], dim: usize, cfg: GmmConfig, rng: &mut Rng) -> Result<Self> {
        if dim == 0 {
            candle_core::bail!("a mixture of points of dimension 0");
        }
        let n = x.len() / dim;
        if n < cfg.components.max(2) || cfg.components == 0 {
            candle_core::bail!(
                "a mixture of {} components needs at least as many points, not {n}",
                cfg.components
            );
        }
        let labels = kmeans(x, dim, cfg.components, rng)?;
        let resp: Vec<Vec<f64>> = labels
            .iter()
            .map(|&l| (0..cfg.components).map(|c| f64::from(c == l)).collect())
            .collect();
        let mut gmm = Self::maximization(x, dim, &resp, cfg.reg_covar)?;
        let mut previous = f64::NEG_INFINITY;
        for it in 1..=cfg.max_iter {
            let (resp, ll) = gmm.expectation(x);
            gmm = Self::maximization(x, dim, &resp, cfg.reg_covar)?;
            gmm.iterations = it;
            gmm.log_likelihood = ll;
            if (ll - previous).abs() < cfg.tol {
                break;
            }
            previous = ll;
        }
        // The likelihood of the parameters returned, not of those before the last M-step.
        gmm.log_likelihood = gmm.expectation(x).1;
        Ok(gmm)
    }

    /// The mean log-likelihood of the rows of `x`.
    pub fn mean_log_likelihood(&self, x: &[f64]) -> f64 {
        self.expectation(x).1
    }

    /// `n` draws, rows of [n x dim]: a component by its weight, then mean + L z.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Result<Vec<f64>> {
        let d = self.dim;
        let u: Vec<f32> = rng.uniform(n, 0.0, 1.0, &Device::Cpu)?.to_vec1()?;
        let z: Vec<f32> = rng.normal(n * d, &Device::Cpu)?.to_vec1()?;
        let mut out = Vec::with_capacity(n * d);
        let last = self.weights.len() - 1;
        for (i, u) in u.iter().enumerate() {
            let mut acc = 0.0;
            let c = (0..last)
                .find(|&c| {
                    acc += self.weights[c];
                    (*u as f64) < acc
                })
                .unwrap_or(last);
            let (l, zi) = (&self.chol[c], &z[i * d..(i + 1) * d]);
            for r in 0..d {
                let lz: f64 = (0..=r).map(|k| l[r * d + k] * zi[k] as f64).sum();
                out.push(self.means[c][r] + lz);
            }
        }
        Ok(out)
    }
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means++ seeds, then Lloyd's iterations until no point changes cluster (at most 100):
/// each point's cluster.
fn kmeans(x: &[f64], d: usize, k: usize, rng: &mut Rng) -> Result<Vec<usize>> {
    let n = x.len() / d;
    let point = |i: usize| &x[i * d..(i + 1) * d];
    let mut centres: Vec<Vec<f64>> = vec![point(rng.index(n)).to_vec()];
    let mut nearest: Vec<f64> = (0..n).map(|i| sq_dist(point(i), &centres[0])).collect();
    while centres.len() < k {
        let total: f64 = nearest.iter().sum();
        let u: f32 = rng.uniform(1, 0.0, 1.0, &Device::Cpu)?.to_vec1()?[0];
        let target = u as f64 * total;
        let mut acc = 0.0;
        let pick = (0..n)
            .find(|&i| {
                acc += nearest[i];
                acc > target
            })
            .unwrap_or(n - 1);
        centres.push(point(pick).to_vec());
        let c = centres.last().expect("a centre");
        for (i, v) in nearest.iter_mut().enumerate() {
            *v = v.min(sq_dist(point(i), c));
        }
    }
    let mut labels = vec![usize::MAX; n];
    for _ in 0..100 {
        let mut changed = false;
        for (i, label) in labels.iter_mut().enumerate() {
            let best = (0..k)
                .min_by(|&a, &b| {
                    sq_dist(point(i), &centres[a]).total_cmp(&sq_dist(point(i), &centres[b]))
                })
                .expect("k >= 1");
            changed |= *label != best;
            *label = best;
        }
        if !changed {
            break;
        }
        let mut sums = vec![vec![0.0; d]; k];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l] += 1;
            sums[l].iter_mut().zip(point(i)).for_each(|(s, v)| *s += v);
        }
        for c in 0..k {
            // An empty cluster keeps its centre.
            if counts[c] > 0 {
                centres[c] = sums[c].iter().map(|s| s / counts[c] as f64).collect();
            }
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    //! Data drawn from a known mixture: the fit finds its weights, means and covariances, its
    //! likelihood is at least the true mixture's, and its draws have the data's moments.
    use super::*;
    use crate::rng::{Purpose, Streams};

    /// A mixture given by weights, means and covariances.
    fn known(weights: &[f64], means: &[Vec<f64>], covs: &[Vec<f64>]) -> Gmm {
        let d = means[0].len();
        Gmm {
            dim: d,
            weights: weights.to_vec(),
            means: means.to_vec(),
            chol: covs.iter().map(|c| cholesky(c, d).unwrap()).collect(),
            log_likelihood: f64::NAN,
            iterations: 0,
        }
    }

    fn rng(purpose: Purpose) -> Rng {
        Streams::new(11).stream(purpose, 0)
    }

    #[test]
    fn cholesky_by_hand() {
        // [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt 2]].
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        let want = [2.0, 0.0, 1.0, 2f64.sqrt()];
        assert!(
            l.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-15),
            "{l:?}"
        );
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_err());
    }

    /// The density of a 2-D Gaussian written out: at the mean of N(0, [[4, 2], [2, 3]]),
    /// -log(2 pi) - log(det)/2 with det 8.
    #[test]
    fn the_density_is_the_gaussians() {
        let g = known(&[1.0], &[vec![0.0, 0.0]], &[vec![4.0, 2.0, 2.0, 3.0]]);
        let at_mean = g.mean_log_likelihood(&[0.0, 0.0]);
        let want = -(2.0 * std::f64::consts::PI).ln() - 0.5 * 8f64.ln();
        assert!((at_mean - want).abs() < 1e-12, "{at_mean} vs {want}");
        // At (1, 1): the quadratic form is [1 1] S^-1 [1 1]^T = (3 - 2 - 2 + 4) / 8 = 3/8.
        let at = g.mean_log_likelihood(&[1.0, 1.0]);
        assert!((at - (want - 0.5 * 3.0 / 8.0)).abs() < 1e-12, "{at}");
    }

    #[test]
    fn em_recovers_a_known_mixture() {
        let truth = known(
            &[0.5, 0.3, 0.2],
            &[vec![0.0, 0.0], vec![6.0, 1.0], vec![-2.0, 7.0]],
            &[
                vec![1.0, 0.5, 0.5, 1.0],
                vec![0.5, 0.0, 0.0, 2.0],
                vec![2.0, -0.8, -0.8, 1.0],
            ],
        );
        let x = truth.sample(6000, &mut rng(Purpose::Sample)).unwrap();
        let cfg = GmmConfig {
            components: 3,
            ..Default::default()
        };
        let fit = Gmm::fit(&x, 2, cfg, &mut rng(Purpose::Init)).unwrap();
        assert!(
            fit.iterations >= 1 && fit.iterations < 100,
            "{}",
            fit.iterations
        );
        for (c, mean) in truth.means.iter().enumerate() {
            let f = (0..3)
                .min_by(|&a, &b| {
                    sq_dist(&fit.means[a], mean).total_cmp(&sq_dist(&fit.means[b], mean))
                })
                .unwrap();
            assert!(
                sq_dist(&fit.means[f], mean).sqrt() < 0.1,
                "mean {c}: {:?}",
                fit.means[f]
            );
            assert!(
                (fit.weights[f] - truth.weights[c]).abs() < 0.02,
                "weight {c}: {}",
                fit.weights[f]
            );
            let cov = |l: &[f64]| [l[0] * l[0], l[0] * l[2], l[2] * l[2] + l[3] * l[3]];
            let (got, want) = (cov(&fit.chol[f]), cov(&truth.chol[c]));
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 0.15, "covariance {c}: {got:?} vs {want:?}");
            }
        }
        // The maximum-likelihood fit is at least as likely as the mixture that drew the data.
        let true_ll = truth.mean_log_likelihood(&x);
        assert!(
            fit.log_likelihood >= true_ll - 1e-9,
            "{} vs {true_ll}",
            fit.log_likelihood
        );
        assert!(
            fit.log_likelihood - true_ll < 0.01,
            "{} vs {true_ll}",
            fit.log_likelihood
        );
    }

    /// In 5-D with four components apart, the fit's draws have the data's means and variances.
    #[test]
    fn draws_have_the_datas_moments() {
        let d: usize = 5;
        let means: Vec<Vec<f64>> = (0..4)
            .map(|c| {
                (0..d)
                    .map(|j| {
                        ((c * d + j) as f64 * 1.7).sin() * 2.0 + if j == c { 8.0 } else { 0.0 }
                    })
                    .collect()
            })
            .collect();
        let covs: Vec<Vec<f64>> = (0..4)
            .map(|c| {
                (0..d * d)
                    .map(|e| {
                        let (a, b) = (e / d, e % d);
                        let base = if a == b { 1.0 + 0.3 * c as f64 } else { 0.0 };
                        base + 0.2 * (if a.abs_diff(b) == 1 { 1.0 } else { 0.0 })
                    })
                    .collect()
            })
            .collect();
        let truth = known(&[0.1, 0.2, 0.3, 0.4], &means, &covs);
        let x = truth.sample(8000, &mut rng(Purpose::Sample)).unwrap();
        let cfg = GmmConfig {
            components: 4,
            ..Default::default()
        };
        let fit = Gmm::fit(&x, d, cfg, &mut rng(Purpose::Init)).unwrap();
        let y = fit.sample(8000, &mut rng(Purpose::Eval)).unwrap();
        let moments = |v: &[f64]| {
            let n = (v.len() / d) as f64;
            let mean: Vec<f64> = (0..d)
                .map(|j| v.iter().skip(j).step_by(d).sum::<f64>() / n)
                .collect();
            let var: Vec<f64> = (0..d)
                .map(|j| {
                    v.iter()
                        .skip(j)
                        .step_by(d)
                        .map(|x| (x - mean[j]).powi(2))
                        .sum::<f64>()
                        / n
                })
                .collect();
            (mean, var)
        };
        let ((mx, vx), (my, vy)) = (moments(&x), moments(&y));
        for j in 0..d {
            assert!(
                (mx[j] - my[j]).abs() < 0.15,
                "mean {j}: {} vs {}",
                mx[j],
                my[j]
            );
            assert!(
                (vx[j] - vy[j]).abs() < 0.1 * vx[j],
                "variance {j}: {} vs {}",
                vx[j],
                vy[j]
            );
        }
        let true_ll = truth.mean_log_likelihood(&x);
        assert!(
            fit.log_likelihood >= true_ll - 1e-9,
            "{} ({} iterations) vs {true_ll}, weights {:?}",
            fit.log_likelihood,
            fit.iterations,
            fit.weights
        );
    }
}
