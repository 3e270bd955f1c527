//! The importance-weighted bound on -log p(x) (Burda et al. 2016) of a model with a
//! likelihood: at the end of a run on the test images (the evaluation) and every
//! `eval.every` epochs on validation images (metrics.csv).

use crate::run::interrupt::{self, Interrupted};
use ae_core::data::Split;
use ae_core::eval::iwae::log_mean_exp;
use ae_core::rng::{Purpose, Streams};
use ae_variants::Autoencoder;
use anyhow::Result;
use candle_core::DType;

/// The bound's name with `k` samples: `iwae<k>_nll`, or `iwae<k>_nll_given_label` for a model
/// conditioned on the label, whose bound is on -log p(x|y) (below -log p(x) by up to
/// log(classes), so not to be read beside the others).
pub fn bound_name(model: &dyn Autoencoder, k: usize) -> String {
    match model.conditional() {
        true => format!("iwae{k}_nll_given_label"),
        false => format!("iwae{k}_nll"),
    }
}

/// -log p(x) (-log p(x|y) for a conditional model) by the IWAE bound with `k` samples,
/// averaged over the images of `split`; None for a variant without a likelihood. Images go in
/// groups of about 4M decoded pixels.
pub fn iwae_nll(
    model: &dyn Autoencoder,
    split: &Split,
    k: usize,
    streams: &Streams,
) -> Result<Option<f64>> {
    let (n, dim) = split.images.dims2()?;
    let per = ((1usize << 22) / (k * dim).max(1)).max(1);
    let mut rng = streams.stream(Purpose::Eval, 2);
    let bar = indicatif::ProgressBar::new(n as u64);
    if n * k < 1_000_000 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut total = 0f64;
    for x in split.chunks(per)? {
        let Some(lw) = model.log_weights(&x, k, &mut rng)? else {
            return Ok(None);
        };
        let s = log_mean_exp(&lw)?.sum_all()?.to_dtype(DType::F64)?;
        total += s.to_scalar::<f64>()?;
        bar.inc(x.len() as u64);
        // The full bound takes minutes: Ctrl-C stops here, and the run resumes into it.
        if let Some(sig) = interrupt::received() {
            bar.abandon();
            return Err(Interrupted(sig).into());
        }
    }
    bar.finish_and_clear();
    Ok(Some(-total / n as f64))
}
