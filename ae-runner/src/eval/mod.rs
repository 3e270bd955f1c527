//! The evaluation papers report, run cheaply at the end of every run and in full on demand
//! (`ae-runner eval RUN_DIR --set eval.iwae_k=5000`): the IWAE bound on -log p(x), a linear
//! probe and k-NN on the codes beside the same classifiers on raw pixels, one-class anomaly
//! AUROC for a run trained on some classes only, and the pictures of the latent space.

pub mod judge;
pub mod pictures;

use crate::config::{EvalConfig, Experiment};
use crate::results::evaluations;
use crate::run::board;
use crate::run::bound::{bound_name, iwae_nll};
use crate::run::context::DataCache;
use crate::run::interrupt;
use ae_core::data::{chunks, Binarize, DataConfig, Dataset, Split, EVAL_BINARIZE_SEED};
use ae_core::eval::gmm::{Gmm, GmmConfig};
use ae_core::eval::{auroc, knn_accuracy, linear_probe, ProbeConfig};
use ae_core::metrics::MSE;
use ae_core::rng::{Purpose, Rng, Streams};
use ae_variants::vae::NEG_ELBO;
use ae_variants::Autoencoder;
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// The data a run's evaluation reads: every class and every training image, whatever the run
/// trained on (probes need them all, and anomalies are the other classes).
pub fn data_of(exp: &Experiment) -> DataConfig {
    DataConfig {
        classes: None,
        train_limit: None,
        ..exp.data.clone()
    }
}

/// Evaluates `model` as `exp.eval` says, writes its row of eval.csv (settings, then metrics;
/// beside the rows of other settings with `keep_earlier`) and the pictures into `dir`, and
/// returns the metrics. Nothing here needs a gradient.
pub fn evaluate(
    exp: &Experiment,
    model: &dyn Autoencoder,
    device: &Device,
    streams: &Streams,
    dir: &Path,
    cache: &mut DataCache,
    keep_earlier: bool,
) -> Result<Vec<(String, f64)>> {
    let out =
        ae_core::grad::no_grad(|| evaluate_without_grad(exp, model, device, streams, dir, cache))?;
    let metrics: Vec<(String, String)> = out
        .iter()
        .map(|(k, v)| (k.clone(), format!("{v:.6}")))
        .collect();
    let path = dir.join("eval.csv");
    evaluations::write(&path, &exp.eval.columns(), &metrics, keep_earlier)?;
    Ok(out)
}

fn evaluate_without_grad(
    exp: &Experiment,
    model: &dyn Autoencoder,
    device: &Device,
    streams: &Streams,
    dir: &Path,
    cache: &mut DataCache,
) -> Result<Vec<(String, f64)>> {
    let cfg = &exp.eval;
    let data_cfg = data_of(exp);
    let data = cache.get(&data_cfg, device, streams, exp.train.seed)?;
    let batch = exp.train.eval_batch_size;
    let test_labels: Vec<u32> = data.test.labels.to_vec1()?;
    let mut out = Vec::new();
    // Only a model with a likelihood has the bound: ask with one image, on a stream of its own
    // so that the bound's draws stay as they were.
    let iwae = cfg.iwae_k > 0 && {
        let one = data.test.narrow(0, 1)?;
        let mut rng = streams.stream(Purpose::Eval, 4);
        model.log_weights(&one, 1, &mut rng)?.is_some()
    };
    let test_codes = codes(model, &data.test, batch)?;
    let classify = cfg.probe || cfg.knn_k > 0;
    let gmm = cfg.gmm_components > 0 && (cfg.pictures || cfg.classifier_fd);
    let fit = (classify || gmm)
        .then(|| fit_split(&data, cfg.fit_images))
        .transpose()?;
    // The training codes, for the classifiers and the ex-post density.
    let fit_codes = fit.as_ref().map(|f| codes(model, f, batch)).transpose()?;
    let anomalies = exp.data.classes.as_ref().and_then(|normal| {
        let positive: Vec<bool> = test_labels
            .iter()
            .map(|l| !normal.contains(&(*l as u8)))
            .collect();
        let both = positive.iter().any(|&p| p) && positive.iter().any(|&p| !p);
        both.then_some(positive)
    });

    // The ex-post density of the training codes: a picture, and samples to judge.
    let mixture = match (&fit_codes, gmm) {
        (Some(codes), true) => ex_post(codes, cfg.gmm_components, streams)?,
        _ => None,
    };
    // Each part says what it does before it starts and what it found after: together they
    // can take longer than training a short run.
    let mut parts = Progress::new(
        [
            iwae,
            classify,
            classify && cfg.pixels,
            anomalies.is_some(),
            cfg.classifier_fd,
            cfg.pictures,
        ]
        .iter()
        .filter(|&&on| on)
        .count(),
    );
    if iwae {
        let n = match cfg.iwae_images {
            0 => data.test.len(),
            n => n.min(data.test.len()),
        };
        let what = format!("IWAE bound, k = {}, on {n} test images", cfg.iwae_k);
        parts.run(&what, &mut out, || {
            let nll = iwae_nll(model, &data.test.narrow(0, n)?, cfg.iwae_k, streams)?;
            Ok(nll
                .map(|v| (bound_name(model, cfg.iwae_k), v))
                .into_iter()
                .collect())
        })?;
    }

    if let (Some(fit), Some(fit_codes), true) = (&fit, &fit_codes, classify) {
        let fit_labels: Vec<u32> = fit.labels.to_vec1()?;
        let what = classifiers_named(cfg, fit.len(), data.test.len(), "codes");
        parts.run(&what, &mut out, || {
            let test = (&test_codes, test_labels.as_slice());
            classifiers(cfg, (fit_codes, &fit_labels), test, "")
        })?;
        if cfg.pixels {
            // The same for every run of a sweep on these data and settings.
            let key = format!(
                "{data_cfg:?} {} {} {}",
                cfg.fit_images, cfg.knn_k, cfg.probe
            );
            let what = classifiers_named(cfg, fit.len(), data.test.len(), "raw pixels");
            parts.run(&what, &mut out, || {
                cache.pixel_metrics(key, || {
                    let test = (&data.test.images, test_labels.as_slice());
                    classifiers(cfg, (&fit.images, &fit_labels), test, "pixel_")
                })
            })?;
        }
    }

    if let Some(positive) = &anomalies {
        let what = format!("anomaly AUROC on {} test images", positive.len());
        parts.run(&what, &mut out, || {
            scores(model, &data.test, batch, streams)?
                .into_iter()
                .map(|(name, scores)| Ok((format!("auroc_{name}"), auroc(&scores, positive)?)))
                .collect()
        })?;
    }

    if cfg.classifier_fd {
        let n = cfg.fd_samples;
        let what = format!("classifier Frechet distance of {n} samples to the test images");
        parts.run(&what, &mut out, || {
            // results/<exp>/<run>: the output folder is two up (absolute, for a relative
            // run folder given to `ae-runner eval`).
            let run = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            let root = run.parent().and_then(Path::parent).unwrap_or(&run);
            let (c, _, acc) = judge::of_experiment(root, exp, &data)?;
            let test = c.features(&data.test.images)?;
            let mut found = vec![("classifier_acc".to_string(), acc)];
            // Every class as often; judged against the label asked for where the model reads it.
            let labels = board::class_labels(n, 1, data.classes, device)?;
            let asked = model.conditional().then_some(&labels);
            let mut rng = streams.stream(Purpose::Sample, 2);
            if let Some(s) = model.sample(n, Some(&labels), &mut rng)? {
                found.extend(judge::judge(&c, &s, &test, "", asked)?);
            }
            if let Some(m) = &mixture {
                let rng = &mut streams.stream(Purpose::Sample, 3);
                let s = decoded_draws(model, m, &labels, rng)?;
                found.extend(judge::judge(&c, &s, &test, "_gmm", asked)?);
            }
            Ok(found)
        })?;
    }

    if cfg.pictures {
        parts.announce(if mixture.is_some() {
            "pictures: interpolations, latent codes, ex-post samples"
        } else {
            "pictures: interpolations, latent codes"
        });
        let shape = data.image_shape;
        let first = data.test.narrow(0, data.test.len().min(16))?;
        pictures::interpolations(model, &first, shape, &dir.join("interpolations.png"))?;
        if test_codes.dim(1)? == 2 {
            let path = dir.join("manifold.png");
            pictures::manifold(model, &test_codes, test_labels[0], shape, &path)?;
        }
        let n = data.test.len().min(2000);
        let shown = test_codes.narrow(0, 0, n)?;
        pictures::latent_scatter(&shown, &test_labels[..n], &dir.join("latent.svg"))?;
        if let Some(m) = &mixture {
            let labels = board::grid_labels(model, data.classes, device)?;
            let s = decoded_draws(model, m, &labels, &mut streams.stream(Purpose::Sample, 1))?;
            let path = dir.join("samples-gmm.png");
            pictures::grid(&s, board::COLUMNS, shape, &path)?;
        }
        parts.done(&[]);
    }

    Ok(out)
}

/// A Gaussian mixture of `components` fitted to the training `codes` (Ghosh et al.'s ex-post
/// density); None, with a warning, where EM fails: it feeds a picture and a metric, and a run
/// is not failed for them.
fn ex_post(codes: &Tensor, components: usize, streams: &Streams) -> Result<Option<Gmm>> {
    let (n, dim) = codes.dims2()?;
    let x = codes
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let cfg = GmmConfig {
        components: components.min(n),
        ..Default::default()
    };
    match Gmm::fit(&x, dim, cfg, &mut streams.stream(Purpose::Eval, 5)) {
        Ok(m) => {
            tracing::info!(
                "ex-post density: {} components on {n} training codes, {} EM iterations, \
                 mean log-likelihood {:.3}",
                cfg.components,
                m.iterations,
                m.log_likelihood
            );
            Ok(Some(m))
        }
        Err(e) => {
            tracing::warn!("no ex-post samples: fitting the mixture failed: {e}");
            Ok(None)
        }
    }
}

/// One draw of the mixture per label of `labels`, decoded with it (a conditional model reads
/// it; the codes of its training images are fitted whatever their class) into images in
/// [0, 1].
fn decoded_draws(
    model: &dyn Autoencoder,
    m: &Gmm,
    labels: &Tensor,
    rng: &mut Rng,
) -> Result<Tensor> {
    let n = labels.dim(0)?;
    let device = model.backbone().device();
    let z = Tensor::from_vec(m.sample(n, rng)?, (n, m.dim), &device)?.to_dtype(DType::F32)?;
    let parts = chunks(&z, 1000)?
        .iter()
        .zip(chunks(labels, 1000)?)
        .map(|(z, l)| Ok(candle_nn::ops::sigmoid(&model.decode(z, Some(&l))?)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0)?)
}

/// Numbered parts of an evaluation, each logged when it starts and when it ends.
struct Progress {
    total: usize,
    index: usize,
    started: std::time::Instant,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self {
            total,
            index: 0,
            started: std::time::Instant::now(),
        }
    }

    fn announce(&mut self, what: &str) {
        self.index += 1;
        self.started = std::time::Instant::now();
        tracing::info!("evaluation {}/{}: {what} ...", self.index, self.total);
    }

    fn done(&self, found: &[(String, f64)]) {
        let found: Vec<String> = found.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        let found = match found.is_empty() {
            true => String::new(),
            false => format!(": {}", found.join(", ")),
        };
        tracing::info!(
            "evaluation {}/{}: done in {:.1} s{found}",
            self.index,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Runs one part, adds what it found to `out`, and stops on Ctrl-C after it.
    fn run(
        &mut self,
        what: &str,
        out: &mut Vec<(String, f64)>,
        part: impl FnOnce() -> Result<Vec<(String, f64)>>,
    ) -> Result<()> {
        self.announce(what);
        let found = part()?;
        self.done(&found);
        out.extend(found);
        interrupt::check()?;
        Ok(())
    }
}

/// What [`classifiers`] fits, for the progress line.
fn classifiers_named(cfg: &EvalConfig, fit: usize, test: usize, on: &str) -> String {
    let mut which = Vec::new();
    if cfg.probe {
        which.push("linear probe".to_string());
    }
    if cfg.knn_k > 0 {
        which.push(format!("{}-NN", cfg.knn_k));
    }
    format!(
        "{} on {on}, fit on {fit} training images, scored on {test} test images",
        which.join(" and ")
    )
}

/// The first `n` training images (0: all), binarised once with the evaluation seed when the
/// run binarises its batches on the fly, as the test images are.
fn fit_split(data: &Dataset, n: usize) -> Result<Split> {
    let n = if n == 0 {
        data.train.len()
    } else {
        n.min(data.train.len())
    };
    let mut images = data.train.images.narrow(0, 0, n)?;
    if data.binarize == Binarize::Dynamic {
        images = Streams::new(EVAL_BINARIZE_SEED)
            .stream(Purpose::Binarize, 1)
            .binarize(&images)?;
    }
    Ok(Split {
        images,
        labels: data.train.labels.narrow(0, 0, n)?,
    })
}

/// The codes of the images of `split` (with their labels, for a conditional model), batch by
/// batch.
fn codes(model: &dyn Autoencoder, split: &Split, batch: usize) -> Result<Tensor> {
    let parts = split
        .chunks(batch)?
        .iter()
        .map(|x| model.encode(x))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0)?)
}

/// Probe and k-NN accuracy of features, named with `prefix`.
fn classifiers(
    cfg: &EvalConfig,
    (fit, fit_labels): (&Tensor, &[u32]),
    (test, test_labels): (&Tensor, &[u32]),
    prefix: &str,
) -> Result<Vec<(String, f64)>> {
    let mut out = Vec::new();
    if cfg.probe {
        let classes = fit_labels
            .iter()
            .chain(test_labels)
            .max()
            .map_or(0, |m| m + 1);
        let p = linear_probe(
            fit,
            fit_labels,
            test,
            test_labels,
            classes as usize,
            &ProbeConfig::default(),
        )?;
        out.push((format!("{prefix}probe_acc"), p.accuracy));
        interrupt::check()?;
    }
    if cfg.knn_k > 0 {
        let acc = knn_accuracy(fit, fit_labels, test, test_labels, cfg.knn_k)?;
        out.push((format!("{prefix}knn{}_acc", cfg.knn_k), acc));
        interrupt::check()?;
    }
    Ok(out)
}

/// The anomaly scores of each test image: its reconstruction error (`mse`) and, where the
/// model has one, its negative ELBO.
fn scores(
    model: &dyn Autoencoder,
    split: &Split,
    batch: usize,
    streams: &Streams,
) -> Result<Vec<(&'static str, Vec<f64>)>> {
    let mut rng = streams.stream(Purpose::Eval, 3);
    let mut by_name: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for b in split.chunks(batch)? {
        for (metric, v) in model.evaluate(&b, &mut rng)? {
            if metric == MSE || metric == NEG_ELBO {
                let v = v.to_dtype(DType::F64)?.to_vec1::<f64>()?;
                by_name.entry(metric.name).or_default().extend(v);
            }
        }
    }
    Ok(by_name.into_iter().collect())
}
