//! What a model reports, known before any data is read: the metrics on held-out images and
//! whether it has a likelihood (an IWAE bound), which the runner's `--check` needs for
//! `train.monitor` and `eval.every`. Asked of the model itself (built on the CPU and evaluated
//! on two blank images) rather than of a second list beside its code, which could drift from it.

use crate::backbone::BuildContext;
use crate::config::ModelConfig;
use crate::seam::Spec;
use ae_core::data::Split;
use ae_core::metrics::Metric;
use ae_core::optim::OptimizerConfig;
use ae_core::rng::{Purpose, Streams};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};

/// What a model reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    /// What [`crate::Autoencoder::evaluate`] returns, in its order.
    pub held_out: Vec<Metric>,
    /// Whether [`crate::Autoencoder::log_weights`] gives the IWAE bound's weights.
    pub likelihood: bool,
}

/// The vocabulary of the model `spec` describes (names and directions do not depend on the
/// image size, so MNIST's stands for any).
pub fn of(model: &ModelConfig, spec: &dyn Spec) -> Result<Vocabulary> {
    let device = Device::Cpu;
    let optimizer = OptimizerConfig::default();
    let image_shape = (1, 28, 28);
    let (c, h, w) = image_shape;
    let ctx = BuildContext {
        device: &device,
        input_dim: c * h * w,
        image_shape,
        // MNIST's, as its image size is.
        classes: 10,
        optimizer: &optimizer,
        streams: Streams::new(0),
    };
    let ae = spec.build(model, &ctx)?;
    let blank = Split {
        images: Tensor::zeros((2, c * h * w), DType::F32, &device)?,
        labels: Tensor::zeros(2, DType::U32, &device)?,
    };
    let mut rng = ctx.streams.stream(Purpose::Eval, 0);
    ae_core::grad::no_grad(|| {
        let named = ae.evaluate(&blank, &mut rng)?;
        let likelihood = ae.log_weights(&blank, 1, &mut rng)?.is_some();
        Ok(Vocabulary {
            held_out: named.into_iter().map(|(metric, _)| metric).collect(),
            likelihood,
        })
    })
}
