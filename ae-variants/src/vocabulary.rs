//! The metrics a model reports on held-out images, known before any data is read: what the
//! runner's `--check` needs to tell whether `train.monitor` names one of them. Asked of the
//! model itself (built on the CPU and evaluated on two blank images) rather than of a second
//! list beside its `evaluate`, which could drift from it.

use crate::backbone::BuildContext;
use crate::config::ModelConfig;
use crate::seam::Spec;
use ae_core::data::Split;
use ae_core::metrics::Metric;
use ae_core::optim::OptimizerConfig;
use ae_core::rng::{Purpose, Streams};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};

/// What [`crate::Autoencoder::evaluate`] of the model `spec` describes returns, in its order
/// (names and directions do not depend on the image size, so MNIST's stands for any).
pub fn held_out_metrics(model: &ModelConfig, spec: &dyn Spec) -> Result<Vec<Metric>> {
    let device = Device::Cpu;
    let optimizer = OptimizerConfig::default();
    let image_shape = (1, 28, 28);
    let (c, h, w) = image_shape;
    let ctx = BuildContext {
        device: &device,
        input_dim: c * h * w,
        image_shape,
        optimizer: &optimizer,
        streams: Streams::new(0),
    };
    let ae = spec.build(model, &ctx)?;
    let blank = Split {
        images: Tensor::zeros((2, c * h * w), DType::F32, &device)?,
        labels: Tensor::zeros(2, DType::U32, &device)?,
    };
    let mut rng = ctx.streams.stream(Purpose::Eval, 0);
    let named = ae_core::grad::no_grad(|| ae.evaluate(&blank, &mut rng))?;
    Ok(named.into_iter().map(|(metric, _)| metric).collect())
}
