//! k-nearest-neighbour accuracy: distances by matmul on the device, selection on the host.

use anyhow::{ensure, Result};
use candle_core::{DType, Tensor};

/// The most distances one chunk of test rows holds (f32s), on the device and on the host.
const CHUNK_DISTANCES: usize = 1 << 24;

/// k-nearest-neighbour classification accuracy on `test` given `train` (Euclidean distance,
/// majority vote among the k nearest; a tied vote goes to the tied class with the nearest member).
/// Features are [n, d] f32 tensors on any device; labels are host u32 slices. Distances are computed
/// in chunks of test rows on the device as |b|^2 - 2 a.b (|a - b|^2 less the test row's |a|^2, the
/// same for every training row b, so the order is unchanged), one matmul per chunk, then the k
/// smallest per row are selected on the host (select_nth_unstable, not a full sort). Of equal
/// distances, the earlier training row counts as the nearer.
pub fn knn_accuracy(
    train: &Tensor,
    train_labels: &[u32],
    test: &Tensor,
    test_labels: &[u32],
    k: usize,
) -> Result<f64> {
    let n_train = train.dims2()?.0;
    let rows = (CHUNK_DISTANCES / n_train.max(1)).max(1);
    accuracy_in_chunks(train, train_labels, test, test_labels, k, rows)
}

/// [`knn_accuracy`] with `rows` test rows per chunk.
fn accuracy_in_chunks(
    train: &Tensor,
    train_labels: &[u32],
    test: &Tensor,
    test_labels: &[u32],
    k: usize,
    rows: usize,
) -> Result<f64> {
    let (n_train, d) = train.dims2()?;
    let (n_test, d_test) = test.dims2()?;
    ensure!(
        d == d_test,
        "knn: train rows have {d} features, test rows {d_test}"
    );
    ensure!(
        train_labels.len() == n_train && test_labels.len() == n_test,
        "knn: {n_train} train and {n_test} test rows but {} and {} labels",
        train_labels.len(),
        test_labels.len()
    );
    ensure!(n_test > 0, "knn: no test rows");
    ensure!(
        (1..=n_train).contains(&k),
        "knn: k = {k} must be in 1..={n_train} (the training rows)"
    );
    // [a, 1] . [-2 b, |b|^2] = |b|^2 - 2 a.b: the whole distance is the matmul's output, with
    // no elementwise pass over the chunk (those cost more than the matmul on the CPU).
    let train_aug = Tensor::cat(&[(train * -2.0)?, train.sqr()?.sum_keepdim(1)?], 1)?;
    let ones = Tensor::ones((n_test, 1), test.dtype(), test.device())?;
    let test_aug = Tensor::cat(&[test, &ones], 1)?;
    let mut scratch = Vec::with_capacity(n_train);
    let mut hits = 0;
    for start in (0..n_test).step_by(rows) {
        let chunk = test_aug.narrow(0, start, rows.min(n_test - start))?;
        let dist = chunk.matmul(&train_aug.t()?)?;
        let dist = dist.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        for (row, &label) in dist.chunks_exact(n_train).zip(&test_labels[start..]) {
            hits += usize::from(vote(row, train_labels, k, &mut scratch) == label);
        }
    }
    Ok(hits as f64 / n_test as f64)
}

/// The majority label among the `k` rows of smallest `dist` (ties in distance to the lower
/// index); a tied vote goes to the tied label with the nearest member. `scratch` is reused
/// between calls.
fn vote(dist: &[f32], labels: &[u32], k: usize, scratch: &mut Vec<f32>) -> u32 {
    // The k-th smallest distance by selection on the bare values, then only the rows within it.
    scratch.clear();
    scratch.extend_from_slice(dist);
    let kth = *scratch.select_nth_unstable_by(k - 1, f32::total_cmp).1;
    let mut nearest: Vec<(f32, usize)> = dist
        .iter()
        .copied()
        .zip(0..)
        .filter(|(d, _)| d.total_cmp(&kth).is_le())
        .collect();
    nearest.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    nearest.truncate(k);
    // Labels in the order of their nearest member, so the first with the most votes wins a tie.
    let mut votes: Vec<(u32, usize)> = Vec::new();
    for &(_, i) in &nearest {
        match votes.iter_mut().find(|v| v.0 == labels[i]) {
            Some(v) => v.1 += 1,
            None => votes.push((labels[i], 1)),
        }
    }
    let most = votes.iter().map(|v| v.1).max().unwrap_or(0);
    votes.iter().find(|v| v.1 == most).map_or(0, |v| v.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Streams};
    use candle_core::Device;

    fn points(p: &[[f32; 2]]) -> Result<Tensor> {
        Ok(Tensor::from_vec(p.concat(), (p.len(), 2), &Device::Cpu)?)
    }

    #[test]
    fn hand_case_with_a_tied_vote() -> Result<()> {
        // Class 0 at (0,0) and (0,1), class 1 at (3,0) and (3,1), class 2 at (10,10).
        let train = points(&[[0., 0.], [0., 1.], [3., 0.], [3., 1.], [10., 10.]])?;
        let train_labels = [0, 0, 1, 1, 2];
        // Squared distances (to the five in order):
        // (1,0):   1, 2, 4, 5, 181
        // (1.8,0): 3.24, 4.24, 1.44, 2.44, 134.24
        // (9,9):   162, 145, 117, 100, 2
        let test = points(&[[1., 0.], [1.8, 0.], [9., 9.]])?;
        let test_labels = [0, 1, 2];
        let acc = |k| knn_accuracy(&train, &train_labels, &test, &test_labels, k);
        // k = 1: nearest are classes 0, 1, 2: all right.
        assert_eq!(acc(1)?, 1.0);
        // k = 2: {0, 0}; {1, 1}; {2, 1} tied, class 2's member is nearer: all right.
        assert_eq!(acc(2)?, 1.0);
        // k = 3: {0, 0, 1}; {1, 1, 0}; {2, 1, 1} -> class 1 outvotes the nearest: 2 of 3.
        assert_eq!(acc(3)?, 2.0 / 3.0);
        // A tie between a far class 0 and a near class 1: at (1.6,0) the two nearest of the first
        // three are (3,0), class 1, at 1.96 and (0,0), class 0, at 2.56 ((0,1) is at 3.56).
        let tie = points(&[[1.6, 0.]])?;
        let train2 = train.narrow(0, 0, 3)?;
        assert_eq!(knn_accuracy(&train2, &[0, 0, 1], &tie, &[1], 2)?, 1.0);
        assert_eq!(knn_accuracy(&train2, &[0, 0, 1], &tie, &[0], 2)?, 0.0);
        // Equal distances: (1.5,0) is 2.25 from both (0,0) and (3,0); the earlier row, class 0, is nearer.
        let midway = points(&[[1.5, 0.]])?;
        assert_eq!(knn_accuracy(&train2, &[0, 0, 1], &midway, &[0], 1)?, 1.0);
        Ok(())
    }

    #[test]
    fn bad_inputs_are_errors() -> Result<()> {
        let train = points(&[[0., 0.], [1., 1.]])?;
        let test = points(&[[0., 1.]])?;
        assert!(knn_accuracy(&train, &[0, 1], &test, &[0], 0).is_err());
        assert!(knn_accuracy(&train, &[0, 1], &test, &[0], 3).is_err());
        assert!(knn_accuracy(&train, &[0], &test, &[0], 1).is_err());
        assert!(knn_accuracy(&train, &[0, 1], &test, &[0, 1], 1).is_err());
        let wide = Tensor::zeros((1, 3), DType::F32, &Device::Cpu)?;
        assert!(knn_accuracy(&train, &[0, 1], &wide, &[0], 1).is_err());
        Ok(())
    }

    /// The same rule by brute force in f64: every distance, a full stable sort by distance.
    fn brute_force(
        train: &[Vec<f32>],
        labels: &[u32],
        test: &[Vec<f32>],
        want: &[u32],
        k: usize,
    ) -> f64 {
        let mut hits = 0;
        for (a, &label) in test.iter().zip(want) {
            let dist = |b: &Vec<f32>| -> f64 {
                a.iter()
                    .zip(b)
                    .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
                    .sum()
            };
            let mut order: Vec<usize> = (0..train.len()).collect();
            order.sort_by(|&i, &j| dist(&train[i]).total_cmp(&dist(&train[j])));
            let count = |l: u32| order[..k].iter().filter(|&&i| labels[i] == l).count();
            let most = order[..k].iter().map(|&i| count(labels[i])).max().unwrap();
            let pred = order[..k]
                .iter()
                .map(|&i| labels[i])
                .find(|&l| count(l) == most)
                .unwrap();
            hits += usize::from(pred == label);
        }
        hits as f64 / test.len() as f64
    }

    #[test]
    fn matches_brute_force_on_random_clusters() -> Result<()> {
        let dev = Device::Cpu;
        let mut rng = Streams::new(9).stream(Purpose::Eval, 0);
        let (n_train, n_test, d, classes) = (300, 61, 6, 4);
        let labels: Vec<u32> = (0..n_train + n_test)
            .map(|_| rng.index(classes) as u32)
            .collect();
        // Class centres one unit apart along the first axes, unit noise: overlapping clusters.
        let centres: Vec<f32> = labels
            .iter()
            .flat_map(|&l| (0..d).map(move |j| f32::from(j == l as usize)))
            .collect();
        let x = (Tensor::from_vec(centres, (n_train + n_test, d), &dev)?
            + rng.normal((n_train + n_test, d), &dev)?)?;
        let (train, test) = (x.narrow(0, 0, n_train)?, x.narrow(0, n_train, n_test)?);
        let (train_labels, test_labels) = labels.split_at(n_train);
        let (train_v, test_v) = (train.to_vec2::<f32>()?, test.to_vec2::<f32>()?);
        for k in [1, 2, 5, 8, 25] {
            let want = brute_force(&train_v, train_labels, &test_v, test_labels, k);
            let got = knn_accuracy(&train, train_labels, &test, test_labels, k)?;
            assert_eq!(got, want, "k = {k}");
            // Uneven chunks (7 rows, the last 5) give the same.
            let chunked = accuracy_in_chunks(&train, train_labels, &test, test_labels, k, 7)?;
            assert_eq!(chunked, want, "k = {k}, chunks of 7");
        }
        Ok(())
    }
}
