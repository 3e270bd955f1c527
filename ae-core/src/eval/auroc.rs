//! Area under the ROC curve, from ranks (O(n log n)) rather than by sweeping thresholds.

use anyhow::{ensure, Result};

/// Area under the ROC curve of `scores` (higher = more likely positive) for the `positive`
/// flags, with tied scores counted at mid-rank (the Mann-Whitney U statistic / (P * N)).
/// Error (anyhow) if there are no positives or no negatives or the lengths differ. NaN scores are an error.
pub fn auroc(scores: &[f64], positive: &[bool]) -> Result<f64> {
    ensure!(
        scores.len() == positive.len(),
        "auroc: {} scores but {} labels",
        scores.len(),
        positive.len()
    );
    ensure!(!scores.iter().any(|s| s.is_nan()), "auroc: a score is NaN");
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    ensure!(
        n_pos > 0 && n_neg > 0,
        "auroc needs positives and negatives ({n_pos} positive, {n_neg} negative)"
    );
    let u = positive_rank_sum(scores, positive) - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Ok(u / (n_pos as f64 * n_neg as f64))
}

/// The sum of the positives' 1-based ranks by ascending score, each run of equal scores
/// sharing the mean of the ranks it spans.
fn positive_rank_sum(scores: &[f64], positive: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let tied = order[start..]
            .iter()
            .take_while(|&&i| scores[i] == scores[order[start]])
            .count();
        // Ranks start + 1 ..= start + tied; their mean:
        let mid_rank = start as f64 + (tied as f64 + 1.0) / 2.0;
        let pos = order[start..start + tied]
            .iter()
            .filter(|&&i| positive[i])
            .count();
        sum += mid_rank * pos as f64;
        start += tied;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn hand_cases() -> Result<()> {
        let pos = [false, false, true, true];
        assert_eq!(auroc(&[0.1, 0.2, 0.3, 0.4], &pos)?, 1.0);
        assert_eq!(auroc(&[0.4, 0.3, 0.2, 0.1], &pos)?, 0.0);
        assert_eq!(auroc(&[0.5; 4], &pos)?, 0.5);
        // Scores 0.1 (neg), 0.4 (pos), 0.4 (neg), 0.8 (pos). Pairs (pos, neg):
        // (0.4, 0.1) = 1, (0.4, 0.4) = 1/2, (0.8, 0.1) = 1, (0.8, 0.4) = 1 -> 3.5 / 4.
        let v = auroc(&[0.1, 0.4, 0.4, 0.8], &[false, true, false, true])?;
        assert_eq!(v, 0.875);
        // The same with -0.0 and 0.0 (equal scores that sort apart by bits) in the tie.
        let v = auroc(&[-1.0, -0.0, 0.0, 2.0], &[false, true, false, true])?;
        assert_eq!(v, 0.875);
        Ok(())
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(auroc(&[0.1, 0.2], &[true]).is_err());
        assert!(auroc(&[0.1, 0.2], &[true, true]).is_err());
        assert!(auroc(&[0.1, 0.2], &[false, false]).is_err());
        assert!(auroc(&[0.1, f64::NAN], &[true, false]).is_err());
        assert!(auroc(&[], &[]).is_err());
    }

    /// Counts every (positive, negative) pair: 1 when the positive scores higher, 1/2 on a tie.
    fn pair_count(scores: &[f64], positive: &[bool]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, &si) in scores.iter().enumerate() {
            for (j, &sj) in scores.iter().enumerate() {
                if positive[i] && !positive[j] {
                    pairs += 1.0;
                    wins += if si > sj {
                        1.0
                    } else if si == sj {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn matches_pair_counting_on_random_scores_with_ties() -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for trial in 0..20 {
            let n = 50 + 10 * trial;
            // Integer scores in 0..8 tie often; positives drawn more often at higher scores.
            let scores: Vec<f64> = (0..n).map(|_| rng.random_range(0..8) as f64).collect();
            let positive: Vec<bool> = scores
                .iter()
                .map(|&s| rng.random::<f64>() < 0.2 + 0.07 * s)
                .collect();
            let (got, want) = (auroc(&scores, &positive)?, pair_count(&scores, &positive));
            assert!((got - want).abs() < 1e-12, "trial {trial}: {got} vs {want}");
        }
        Ok(())
    }
}
