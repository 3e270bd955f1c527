//! The importance-weighted bound on log p(x) (Burda et al. 2016): with k draws z_j ~ q(z|x),
//! log p(x) >= E[log (1/k) sum_j p(x, z_j) / q(z_j|x)], tight as k grows. The pieces are
//! here, every normaliser included; a variant supplies its own p(x|z).

use candle_core::{Result, Tensor, D};

const LOG_2PI: f64 = 1.837_877_066_409_345_5;

/// log N(z; mu, diag(exp(logvar))) summed over the last dim; `mu` and `logvar` broadcast
/// against `z` (e.g. [n, 1, d] against [n, k, d]).
pub fn log_normal(z: &Tensor, mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let d = z.dim(D::Minus1)? as f64;
    let sq = z.broadcast_sub(mu)?.sqr()?;
    let scaled = sq.broadcast_mul(&logvar.neg()?.exp()?)?.sum(D::Minus1)?;
    let logdet = logvar.sum(D::Minus1)?.broadcast_as(scaled.shape())?;
    ((scaled + logdet)? + d * LOG_2PI)? * -0.5
}

/// log N(z; 0, I) summed over the last dim.
pub fn log_std_normal(z: &Tensor) -> Result<Tensor> {
    let d = z.dim(D::Minus1)? as f64;
    (z.sqr()?.sum(D::Minus1)? + d * LOG_2PI)? * -0.5
}

/// log((1/k) sum_j exp(w_j)) over the last dim, without overflow: max + log mean exp(w - max).
pub fn log_mean_exp(w: &Tensor) -> Result<Tensor> {
    let k = w.dim(D::Minus1)? as f64;
    let max = w.max_keepdim(D::Minus1)?;
    let s = w.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?;
    (s.log()? + max)?.squeeze(D::Minus1)? - k.ln()
}

#[cfg(test)]
mod tests {
    //! A linear-Gaussian model, where log p(x) is exact: p(z) = N(0, I), p(x|z) = N(Wz + b,
    //! s^2 I), so p(x) = N(b, W W^T + s^2 I) and the posterior is Gaussian in closed form.
    use super::*;
    use crate::losses::gaussian_nll;
    use candle_core::Device;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    const W: [[f64; 2]; 3] = [[1.0, 0.5], [-0.3, 0.8], [0.7, -1.2]];
    const B: [f64; 3] = [0.2, -0.1, 0.4];
    const S: f64 = 0.5;
    const X: [f64; 3] = [1.1, -0.7, 0.3];

    /// log N(X; B, W W^T + S^2 I) by a 3x3 Cholesky factorisation, in plain f64.
    fn exact_log_px() -> f64 {
        let mut c = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                c[i][j] = W[i][0] * W[j][0] + W[i][1] * W[j][1] + if i == j { S * S } else { 0.0 };
            }
        }
        let mut l = [[0.0; 3]; 3];
        for i in 0..3 {
            for j in 0..=i {
                let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
                l[i][j] = if i == j {
                    (c[i][i] - s).sqrt()
                } else {
                    (c[i][j] - s) / l[j][j]
                };
            }
        }
        // Solve L y = x - b; then the quadratic form is |y|^2 and log det C = 2 sum log L_ii.
        let mut y = [0.0; 3];
        for i in 0..3 {
            y[i] = (X[i] - B[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
        }
        let quad: f64 = y.iter().map(|v| v * v).sum();
        let logdet: f64 = 2.0 * (0..3).map(|i| l[i][i].ln()).sum::<f64>();
        -0.5 * (3.0 * LOG_2PI + logdet + quad)
    }

    /// The exact posterior: (mean, 2x2 covariance).
    fn posterior() -> ([f64; 2], [[f64; 2]; 2]) {
        // Precision A = I + W^T W / s^2; mean = A^-1 W^T (x - b) / s^2.
        let mut a = [[0.0; 2]; 2];
        for i in 0..2 {
            for j in 0..2 {
                a[i][j] = (0..3).map(|r| W[r][i] * W[r][j]).sum::<f64>() / (S * S)
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
        let inv = [
            [a[1][1] / det, -a[0][1] / det],
            [-a[1][0] / det, a[0][0] / det],
        ];
        let r: Vec<f64> = (0..2)
            .map(|i| (0..3).map(|k| W[k][i] * (X[k] - B[k])).sum::<f64>() / (S * S))
            .collect();
        let m = [
            inv[0][0] * r[0] + inv[0][1] * r[1],
            inv[1][0] * r[0] + inv[1][1] * r[1],
        ];
        (m, inv)
    }

    /// log p(x, z) - log q(z|x) for `reps` x `k` draws from a diagonal q(mu, logvar), with
    /// the library's pieces: log p(x|z) = -gaussian_nll, log p(z) = log_std_normal.
    fn log_weights(mu: [f64; 2], logvar: [f64; 2], reps: usize, k: usize, seed: u64) -> Tensor {
        let dev = Device::Cpu;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let eps: Vec<f64> = (0..reps * k * 2)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let eps = Tensor::from_vec(eps, (reps, k, 2), &dev).unwrap();
        let mu_t = Tensor::new(&[[mu]], &dev).unwrap(); // [1, 1, 2]
        let lv_t = Tensor::new(&[[logvar]], &dev).unwrap();
        let z = eps
            .broadcast_mul(&(&lv_t * 0.5).unwrap().exp().unwrap())
            .unwrap()
            .broadcast_add(&mu_t)
            .unwrap();
        let w = Tensor::new(&W, &dev).unwrap(); // [3, 2]
        let mean = z
            .reshape((reps * k, 2))
            .unwrap()
            .matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&Tensor::new(&B, &dev).unwrap())
            .unwrap();
        let x = Tensor::new(&X, &dev)
            .unwrap()
            .broadcast_as((reps * k, 3))
            .unwrap();
        let log_px_z = gaussian_nll(&mean, &x, S).unwrap().neg().unwrap();
        let log_pz = log_std_normal(&z).unwrap();
        let log_q = log_normal(&z, &mu_t, &lv_t).unwrap();
        ((log_px_z.reshape((reps, k)).unwrap() + log_pz).unwrap() - log_q).unwrap()
    }

    #[test]
    fn log_normal_by_hand() -> Result<()> {
        let dev = Device::Cpu;
        // N(1; 0, e^0) + N(-2; 1, e^2): -0.5 (2 log 2pi + 0 + 2 + 1 + 9 e^-2).
        let z = Tensor::new(&[[1.0f64, -2.0]], &dev)?;
        let mu = Tensor::new(&[[0.0f64, 1.0]], &dev)?;
        let lv = Tensor::new(&[[0.0f64, 2.0]], &dev)?;
        let want = -0.5 * (2.0 * LOG_2PI + 2.0 + 1.0 + 9.0 * (-2.0f64).exp());
        let got = log_normal(&z, &mu, &lv)?.to_vec1::<f64>()?[0];
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let got = log_std_normal(&z)?.to_vec1::<f64>()?[0];
        assert!((got - -0.5 * (2.0 * LOG_2PI + 5.0)).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn log_mean_exp_is_stable_and_exact() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::new(&[[1000.0f64, 1000.0], [-1000.0, -1000.0 + 2f64.ln()]], &dev)?;
        let v = log_mean_exp(&w)?.to_vec1::<f64>()?;
        assert!((v[0] - 1000.0).abs() < 1e-9, "{v:?}");
        assert!((v[1] - (-1000.0 + 1.5f64.ln())).abs() < 1e-9, "{v:?}");
        let w = Tensor::new(&[[0.1f32, 0.7, -0.4]], &dev)?;
        let direct = ((0.1f64.exp() + 0.7f64.exp() + (-0.4f64).exp()) / 3.0).ln();
        assert!((log_mean_exp(&w)?.to_vec1::<f32>()?[0] as f64 - direct).abs() < 1e-6);
        Ok(())
    }

    /// With q the exact posterior every weight equals p(x), whatever z is drawn: this holds
    /// only if every normaliser of p(x|z), p(z) and q(z|x) is right. (1-D latent and data:
    /// p(x) = N(b, w^2 + s^2), posterior N(w (x - b) / (w^2 + s^2), s^2 / (w^2 + s^2)).)
    #[test]
    fn every_weight_is_exact_under_the_exact_posterior() -> Result<()> {
        let (w, b, s, x) = (1.3f64, 0.2, 0.5, 1.1);
        let var = w * w + s * s;
        let exact = -0.5 * (LOG_2PI + var.ln() + (x - b) * (x - b) / var);
        let (pm, pv) = (w * (x - b) / var, s * s / var);
        let dev = Device::Cpu;
        let z = Tensor::new(&[[[-1.0f64], [0.3], [2.5]]], &dev)?; // [1, 3, 1]
        let mean = ((&z * w)? + b)?;
        let target = Tensor::new(&[[[x]]], &dev)?.broadcast_as((1, 3, 1))?;
        let log_px_z = gaussian_nll(&mean, &target, s)?.neg()?;
        let mu = Tensor::new(&[[[pm]]], &dev)?;
        let lv = Tensor::new(&[[[pv.ln()]]], &dev)?;
        let lw = ((log_px_z + log_std_normal(&z)?)? - log_normal(&z, &mu, &lv)?)?;
        for v in lw.flatten_all()?.to_vec1::<f64>()? {
            assert!((v - exact).abs() < 1e-12, "{v} vs {exact}");
        }
        Ok(())
    }

    /// With a diagonal q that is not the posterior, the bound rises with k toward the exact
    /// log p(x) and stays below it on average.
    #[test]
    fn the_bound_converges_to_the_exact_log_likelihood_from_below() {
        let exact = exact_log_px();
        let (m, cov) = posterior();
        // q: the posterior's marginals (a mean-field approximation), means shifted.
        let mu = [m[0] + 0.3, m[1] - 0.2];
        // Wider than the posterior, so the weights are bounded and the bound converges fast.
        let logvar = [(2.0 * cov[0][0]).ln(), (2.0 * cov[1][1]).ln()];
        let est = |k: usize, reps: usize, seed: u64| {
            let lw = log_weights(mu, logvar, reps, k, seed);
            let per_rep = log_mean_exp(&lw).unwrap();
            let v = per_rep.to_vec1::<f64>().unwrap();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let se = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                / (v.len() * (v.len() - 1)) as f64)
                .sqrt();
            (mean, se)
        };
        let (e1, s1) = est(1, 4000, 1);
        let (e10, s10) = est(10, 2000, 2);
        let (e100, s100) = est(100, 400, 3);
        let (e5000, s5000) = est(5000, 100, 4);
        // The k = 1 estimate is the ELBO: exactly log p(x) - KL(q || posterior) in expectation;
        // a gap of at least 0.05 nats here, well beyond its standard error.
        assert!(
            e1 < exact - 0.05 && exact - e1 > 5.0 * s1,
            "k=1 {e1} exact {exact}"
        );
        assert!(e1 + 3.0 * (s1 + s10) < e10, "k=1 {e1}, k=10 {e10}");
        assert!(e10 < e100, "k=10 {e10}, k=100 {e100}");
        assert!(e100 <= exact + 3.0 * s100, "k=100 {e100} exact {exact}");
        // Measured: exact -3.9075, k = 1: -5.03, 10: -3.961, 100: -3.911.
        assert!(
            (e5000 - exact).abs() < 1e-3 + 3.0 * s5000,
            "k=5000 {e5000} +- {s5000}, exact {exact}"
        );
    }
}
