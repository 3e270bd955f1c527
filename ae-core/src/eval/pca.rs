//! Principal components of a small feature matrix, for drawing codes in two dimensions.

use candle_core::{DType, Result, Tensor};

/// The rows of `x` ([n, d]) projected on its first two principal axes (the top eigenvectors
/// of the covariance, found by Jacobi rotations in f64 on the host: d is a code size, small).
/// A 1-D input gets a zero second coordinate.
pub fn project_2d(x: &Tensor) -> Result<Vec<(f64, f64)>> {
    let x = x.to_dtype(DType::F64)?;
    let centred = x.broadcast_sub(&x.mean_keepdim(0)?)?;
    let (n, d) = centred.dims2()?;
    let cov = (centred.t()?.matmul(&centred)? / (n.max(2) - 1) as f64)?.to_vec2::<f64>()?;
    let (values, vectors) = symmetric_eigen(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let axis = |k: usize| -> Vec<f64> {
        order
            .get(k)
            .map_or(vec![0.0; d], |&c| (0..d).map(|r| vectors[r][c]).collect())
    };
    let axes = Tensor::from_vec([axis(0), axis(1)].concat(), (2, d), x.device())?;
    let p = centred.matmul(&axes.t()?)?.to_vec2::<f64>()?;
    Ok(p.into_iter().map(|r| (r[0], r[1])).collect())
}

/// Eigenvalues and eigenvectors (as columns) of a symmetric matrix by cyclic Jacobi rotations.
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let d = a.len();
    let mut v: Vec<Vec<f64>> = (0..d)
        .map(|i| (0..d).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                // A <- A J (columns p, q), then A <- J^T A (rows p, q), V <- V J.
                let rotate_columns = |m: &mut Vec<Vec<f64>>| {
                    for row in m.iter_mut() {
                        let (xp, xq) = (row[p], row[q]);
                        row[p] = c * xp - s * xq;
                        row[q] = s * xp + c * xq;
                    }
                };
                rotate_columns(&mut a);
                let (rp, rq) = (a[p].clone(), a[q].clone());
                for k in 0..d {
                    a[p][k] = c * rp[k] - s * rq[k];
                    a[q][k] = s * rp[k] + c * rq[k];
                }
                rotate_columns(&mut v);
            }
        }
    }
    ((0..d).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn eigen_of_a_matrix_known_by_hand() {
        // [[2, 1], [1, 2]]: eigenvalues 3 (axis (1, 1)/sqrt 2) and 1 (axis (1, -1)/sqrt 2).
        let (vals, vecs) = symmetric_eigen(vec![vec![2.0, 1.0], vec![1.0, 2.0]]);
        let mut sorted = vals.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-12 && (sorted[1] - 3.0).abs() < 1e-12);
        let top = if vals[0] > vals[1] { 0 } else { 1 };
        assert!((vecs[0][top].abs() - 0.5f64.sqrt()).abs() < 1e-12);
        assert!((vecs[0][top] - vecs[1][top]).abs() < 1e-12);
    }

    /// Points spread 10 along (3, 4)/5, 1 along (-4, 3)/5 and 0.1 along a third axis: the
    /// projection recovers those spreads (up to sign) and nothing of the third axis.
    #[test]
    fn projection_finds_the_axes_of_generated_data() -> Result<()> {
        let mut rows = Vec::new();
        let mut coords = Vec::new();
        for i in 0..200 {
            let a = 10.0 * ((i as f64) * 0.37).sin();
            let b = ((i as f64) * 1.91).cos();
            let c = 0.1 * ((i as f64) * 2.3).sin();
            rows.extend([0.6 * a - 0.8 * b + 1.0, 0.8 * a + 0.6 * b - 2.0, c + 5.0]);
            coords.push((a, b));
        }
        let x = Tensor::from_vec(rows, (200, 3), &Device::Cpu)?;
        let p = project_2d(&x)?;
        let mean = |f: &dyn Fn(&(f64, f64)) -> f64| coords.iter().map(f).sum::<f64>() / 200.0;
        let (ma, mb) = (mean(&|c| c.0), mean(&|c| c.1));
        // The first axis's sign is arbitrary: take it from the first point.
        let s0 = p[0].0.signum() * (coords[0].0 - ma).signum();
        for (q, c) in p.iter().zip(&coords) {
            assert!((q.0 * s0 - (c.0 - ma)).abs() < 0.02, "{q:?} {c:?}");
            assert!((q.1.abs() - (c.1 - mb).abs()).abs() < 0.02, "{q:?} {c:?}");
        }
        Ok(())
    }
}
