//! The Frechet distance between two sets of feature vectors, each summarised by a Gaussian:
//! |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) (Heusel et al. 2017), in f64. The
//! trace of the square root is that of (S_a^(1/2) S_b S_a^(1/2))^(1/2), a symmetric matrix,
//! so two symmetric eigendecompositions give it without a general matrix square root.

use super::pca::symmetric_eigen;
use candle_core::{DType, Result, Tensor};

/// The mean and the covariance (normalised by n - 1, as numpy's `cov`) of the rows of `x`.
fn moments(x: &Tensor) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let x = x.to_dtype(DType::F64)?;
    let n = x.dim(0)?;
    if n < 2 {
        candle_core::bail!("a Frechet distance needs at least 2 feature vectors, not {n}");
    }
    let mean = x.mean_keepdim(0)?;
    let centred = x.broadcast_sub(&mean)?;
    let cov = (centred.t()?.matmul(&centred)? / (n - 1) as f64)?;
    Ok((mean.squeeze(0)?.to_vec1()?, cov.to_vec2()?))
}

/// S^(1/2) of a symmetric positive semi-definite S (negative rounding errors clipped to 0).
fn sqrt_psd(s: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let d = s.len();
    let (values, vectors) = symmetric_eigen(s);
    let roots: Vec<f64> = values.iter().map(|v| v.max(0.0).sqrt()).collect();
    (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    (0..d)
                        .map(|k| vectors[i][k] * roots[k] * vectors[j][k])
                        .sum()
                })
                .collect()
        })
        .collect()
}

fn matmul(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let (n, m) = (a.len(), b[0].len());
    (0..n)
        .map(|i| {
            (0..m)
                .map(|j| a[i].iter().zip(b).map(|(x, row)| x * row[j]).sum())
                .collect()
        })
        .collect()
}

/// The Frechet distance between the Gaussians of the rows of `a` and of `b` ([n, d], [m, d]).
pub fn frechet_distance(a: &Tensor, b: &Tensor) -> Result<f64> {
    let ((mu_a, s_a), (mu_b, s_b)) = (moments(a)?, moments(b)?);
    let mean: f64 = mu_a.iter().zip(&mu_b).map(|(x, y)| (x - y).powi(2)).sum();
    let trace = |s: &[Vec<f64>]| (0..s.len()).map(|i| s[i][i]).sum::<f64>();
    let (t_a, t_b) = (trace(&s_a), trace(&s_b));
    let root_a = sqrt_psd(s_a);
    let p = matmul(&matmul(&root_a, &s_b), &root_a);
    // Symmetric in exact arithmetic; made so before the decomposition.
    let m: Vec<Vec<f64>> = (0..p.len())
        .map(|i| (0..p.len()).map(|j| 0.5 * (p[i][j] + p[j][i])).collect())
        .collect();
    let cross: f64 = symmetric_eigen(m).0.iter().map(|v| v.max(0.0).sqrt()).sum();
    Ok(mean + t_a + t_b - 2.0 * cross)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Diagonal covariances commute: the distance is |mu_a - mu_b|^2 + sum (s_a - s_b)^2 of
    /// the standard deviations. Rows chosen so that the sample moments are exact.
    #[test]
    fn diagonal_covariances_by_hand() -> Result<()> {
        // Two points per set: mean (m), sample variance 2 h^2 for offsets +-h.
        let set = |m: [f64; 2], h: [f64; 2]| {
            Tensor::new(
                &[[m[0] + h[0], m[1] + h[1]], [m[0] - h[0], m[1] - h[1]]],
                &Device::Cpu,
            )
        };
        // Each offset moves both coordinates, so make them independent with four points.
        let a = Tensor::cat(
            &[set([1.0, 2.0], [1.0, 0.0])?, set([1.0, 2.0], [0.0, 3.0])?],
            0,
        )?;
        let b = Tensor::cat(
            &[set([0.0, 0.0], [2.0, 0.0])?, set([0.0, 0.0], [0.0, 1.0])?],
            0,
        )?;
        // Four rows, n - 1 = 3: variances 2 h^2 / 3 per coordinate.
        let (va, vb) = ([2.0 / 3.0, 18.0 / 3.0], [8.0 / 3.0, 2.0 / 3.0]);
        let want = (1.0 + 4.0)
            + (0..2)
                .map(|i| (f64::sqrt(va[i]) - f64::sqrt(vb[i])).powi(2))
                .sum::<f64>();
        let got = frechet_distance(&a, &b)?;
        assert!((got - want).abs() < 1e-10, "{got} vs {want}");
        Ok(())
    }

    /// Non-diagonal in the sense that matters: one set's covariance is the other's rotated by
    /// 90 degrees, diag(8/3, 2/3) against diag(2/3, 8/3) as sample covariances; the product is
    /// (16/9) I, its root (4/3) I: 2 x 10/3 - 2 x 2 x 4/3 = 4/3. And a set against itself: 0.
    #[test]
    fn a_rotated_covariance_by_hand() -> Result<()> {
        let a = Tensor::new(
            &[[2.0f64, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]],
            &Device::Cpu,
        )?;
        let b = Tensor::new(
            &[[0.0f64, 2.0], [0.0, -2.0], [1.0, 0.0], [-1.0, 0.0]],
            &Device::Cpu,
        )?;
        // Sample covariances are diag(8/3, 2/3) and diag(2/3, 8/3): 2 x (10/3) - 2 x 2 x (4/3).
        let want = 20.0 / 3.0 - 4.0 * (16.0f64 / 9.0).sqrt();
        let got = frechet_distance(&a, &b)?;
        assert!((got - want).abs() < 1e-10, "{got} vs {want}");
        assert!(frechet_distance(&a, &a)?.abs() < 1e-10);
        Ok(())
    }

    /// A general case: the closed form's pieces checked against each other, tr sqrt(S_a S_b)
    /// computed as the sum of the square roots of the eigenvalues of S_a S_b (real and
    /// non-negative for two SPD matrices), found here from the 2 x 2 characteristic polynomial.
    #[test]
    fn a_full_2d_case_by_the_characteristic_polynomial() -> Result<()> {
        let rows = |v: &[[f64; 2]]| {
            Tensor::new(
                v.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
                &Device::Cpu,
            )
        };
        let a = rows(&[[1.0, 2.0], [3.0, 1.0], [-1.0, 0.5], [0.0, -2.0], [2.0, 2.5]])?;
        let b = rows(&[
            [0.5, 0.0],
            [1.5, -1.0],
            [-2.0, 1.0],
            [0.3, 0.2],
            [1.0, 3.0],
            [0.0, 0.0],
        ])?;
        let ((ma, sa), (mb, sb)) = (moments(&a)?, moments(&b)?);
        let p = matmul(&sa, &sb);
        let (tr, det) = (p[0][0] + p[1][1], p[0][0] * p[1][1] - p[0][1] * p[1][0]);
        let disc = (tr * tr / 4.0 - det).sqrt();
        let (l1, l2) = (tr / 2.0 + disc, tr / 2.0 - disc);
        let want = (ma[0] - mb[0]).powi(2)
            + (ma[1] - mb[1]).powi(2)
            + sa[0][0]
            + sa[1][1]
            + sb[0][0]
            + sb[1][1]
            - 2.0 * (l1.sqrt() + l2.sqrt());
        let got = frechet_distance(&a, &b)?;
        assert!((got - want).abs() < 1e-10, "{got} vs {want}");
        assert!(want > 0.5, "{want}");
        Ok(())
    }
}
