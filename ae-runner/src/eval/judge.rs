//! Judging samples rather than reconstructions: the Frechet distance between a model's
//! samples and the test images in the features of aelab's own classifier of the dataset
//! (`classifier_fd`: a classifier Frechet distance, not Inception's FID), the classes the
//! classifier sees in the samples (`class_coverage`), and for a model conditioned on the label
//! whether they are the classes asked for (`sample_label_acc`). The classifier is trained on
//! first use and kept under the output folder, `<out>/.classifier/<key>/classifier.safetensors`,
//! for every later run and evaluation on the same data.

use super::data_of;
use crate::config::Experiment;
use crate::results::files::{sync_rename, tmp_path};
use ae_core::data::{Binarize, Dataset};
use ae_core::eval::classifier::{Classifier, SHIFT};
use ae_core::eval::frechet::frechet_distance;
use anyhow::{Context, Result};
use candle_core::{DType, Tensor};
use std::path::{Path, PathBuf};

/// Passes over the training images when the classifier is trained.
pub const EPOCHS: usize = 10;
/// The seed of its initialisation and shuffling: one classifier per data, whatever the run.
const SEED: u64 = 0;

/// FNV-1a, 64 bits: a name for a description that stays the same across builds and
/// toolchains (std's hasher does not promise to).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The classifier's folder for `data` trained on its first `n` training images: the dataset's
/// name, then a hash of everything that decides those images (`source`: the data config with
/// its folder, binarisation and split, and the seed where binarisation depends on it).
fn folder(out: &Path, data: &Dataset, dataset: &str, source: &str, n: usize) -> PathBuf {
    let (c, h, w) = data.image_shape;
    let key = fnv(source);
    out.join(".classifier").join(format!(
        "{dataset}-{c}x{h}x{w}-{key:016x}-{n}-images-{EPOCHS}-epochs-shift-{SHIFT}"
    ))
}

/// The classifier that judges the samples of `exp`'s runs, on their evaluation data `data`
/// (made from [`data_of`]): loaded from under the output folder `out` or trained there now;
/// with its folder and its test accuracy.
pub fn of_experiment(
    out: &Path,
    exp: &Experiment,
    data: &Dataset,
) -> Result<(Classifier, PathBuf, f64)> {
    let (dataset, source) = names(exp);
    classifier(out, data, (&dataset, &source), exp.eval.classifier_images)
}

/// The folder [`of_experiment`] keeps that classifier in.
pub fn folder_of(out: &Path, exp: &Experiment, data: &Dataset) -> PathBuf {
    let (dataset, source) = names(exp);
    folder(
        out,
        data,
        &dataset,
        &source,
        images(exp.eval.classifier_images, data),
    )
}

/// The dataset's name and the description of what made its images (see [`folder`]).
fn names(exp: &Experiment) -> (String, String) {
    let data_cfg = data_of(exp);
    let dataset = format!("{:?}", exp.data.dataset).to_lowercase();
    // Fixed binarisation draws from the seed: its test images are the seed's.
    let seed = match exp.data.binarize {
        Binarize::Fixed => Some(exp.train.seed),
        _ => None,
    };
    (dataset, format!("{data_cfg:?} {seed:?}"))
}

/// The training images the classifier of `data` is trained on when asked for `n` (0: all).
fn images(n: usize, data: &Dataset) -> usize {
    if n == 0 {
        data.train.len()
    } else {
        n.min(data.train.len())
    }
}

/// The classifier of `data` (its first `n` training images, 0: all), loaded from under `out`
/// or trained there now, its folder and its accuracy on the test images. `source` describes
/// what made the images (see [`folder`]).
fn classifier(
    out: &Path,
    data: &Dataset,
    (dataset, source): (&str, &str),
    n: usize,
) -> Result<(Classifier, PathBuf, f64)> {
    let n = images(n, data);
    let classes = data.classes;
    let dir = folder(out, data, dataset, source, n);
    let path = dir.join("classifier.safetensors");
    let device = data.test.images.device();
    let c = if path.exists() {
        Classifier::load(&path, data.image_shape, classes, device)
            .with_context(|| format!("loading the classifier {}", path.display()))?
    } else {
        tracing::info!(
            "training the classifier for classifier_fd on {n} training images, {EPOCHS} epochs, \
             once: it is kept in {}",
            dir.display()
        );
        let mut c = Classifier::new(data.image_shape, classes, SEED, device)?;
        let images = data.train.images.narrow(0, 0, n)?;
        let labels = data.train.labels.narrow(0, 0, n)?;
        let losses = c.train(&images, &labels, EPOCHS, SEED)?;
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // One temporary file per process (tmp_path): shards evaluating at once may both train it (the
        // same weights, from the same seed) and both rename theirs into place.
        let tmp = tmp_path(&path);
        c.save(&tmp)?;
        sync_rename(&tmp, &path)?;
        tracing::info!("classifier trained: cross-entropy by epoch {losses:.4?}");
        c
    };
    let acc = c.accuracy(&data.test.images, &data.test.labels)?;
    Ok((c, dir, acc))
}

/// `classifier_fd<suffix>` of `samples` against the test images' features `test`, and
/// `class_coverage<suffix>`: exp of the entropy of the classes the classifier gives the
/// samples over the number of classes (1: every class as often; 1/classes: one class only);
/// with the labels the samples were `asked` for (a conditional model's), also
/// `sample_label_acc<suffix>`: the share of samples the classifier gives the label asked for.
pub fn judge(
    c: &Classifier,
    samples: &Tensor,
    test: &Tensor,
    suffix: &str,
    asked: Option<&Tensor>,
) -> Result<Vec<(String, f64)>> {
    let fd = frechet_distance(&c.features(samples)?, test)?;
    let predicted: Vec<u32> = c.predict(samples)?.to_vec1()?;
    let mut out = vec![
        (format!("classifier_fd{suffix}"), fd),
        (
            format!("class_coverage{suffix}"),
            coverage(&predicted, c.classes()),
        ),
    ];
    if let Some(asked) = asked {
        let asked: Vec<u32> = asked.to_dtype(DType::U32)?.to_vec1()?;
        out.push((
            format!("sample_label_acc{suffix}"),
            agreement(&predicted, &asked),
        ));
    }
    Ok(out)
}

/// The share of `predicted` equal to `asked`, position by position.
fn agreement(predicted: &[u32], asked: &[u32]) -> f64 {
    let same = predicted.iter().zip(asked).filter(|(p, a)| p == a).count();
    same as f64 / predicted.len().max(1) as f64
}

/// exp(entropy of the classes' shares among `predicted`) / `classes`.
fn coverage(predicted: &[u32], classes: usize) -> f64 {
    let mut counts = vec![0usize; classes];
    for p in predicted {
        counts[*p as usize] += 1;
    }
    let n = predicted.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| -(k as f64 / n) * (k as f64 / n).ln())
        .sum();
    entropy.exp() / classes as f64
}

#[cfg(test)]
mod tests {
    use super::{agreement, coverage, fnv};

    #[test]
    fn agreement_by_hand() {
        assert_eq!(agreement(&[1, 2, 3, 4], &[1, 0, 3, 0]), 0.5);
        assert_eq!(agreement(&[7; 5], &[7; 5]), 1.0);
        assert_eq!(agreement(&[0, 1, 2], &[1, 2, 0]), 0.0);
    }

    /// FNV-1a's published test values.
    #[test]
    fn fnv_by_its_published_values() {
        assert_eq!(fnv(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn coverage_by_hand() {
        let every: Vec<u32> = (0..50).map(|i| i % 10).collect();
        assert!((coverage(&every, 10) - 1.0).abs() < 1e-12);
        assert!((coverage(&[3; 20], 10) - 0.1).abs() < 1e-12);
        // Two classes, half each: entropy ln 2, exp 2, over 10.
        assert!((coverage(&[1, 7, 1, 7], 10) - 0.2).abs() < 1e-12);
        // Shares 3/4 and 1/4: exp(-(3/4 ln 3/4 + 1/4 ln 1/4)) / 4.
        let want = (-(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln())).exp() / 4.0;
        assert!((coverage(&[0, 0, 0, 2], 4) - want).abs() < 1e-12);
    }
}
