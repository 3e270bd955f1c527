//! What the variant tests share: real MNIST from the repository's data/, and a variant built
//! from its YAML through `parse`, as the runner builds it.

use ae_core::data::{DataConfig, Dataset};
use ae_core::optim::OptimizerConfig;
use ae_core::rng::Streams;
use ae_variants::{registry, Autoencoder, BuildContext};
use candle_core::Device;
use std::path::Path;

/// data/mnist, on the CPU, with `cfg`'s other settings.
pub fn mnist(cfg: DataConfig) -> Dataset {
    let cfg = DataConfig {
        root: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist")),
        ..cfg
    };
    Dataset::load(&cfg, &Device::Cpu, &Streams::new(0)).unwrap()
}

/// The variant `model_yaml` describes, with Adam's defaults, initialised from `streams`.
pub fn build(model_yaml: &str, data: &Dataset, streams: Streams) -> Box<dyn Autoencoder> {
    build_with(model_yaml, data, streams, OptimizerConfig::default())
}

/// [`build`] with the optimiser `opt`.
#[allow(dead_code)]
pub fn build_with(
    model_yaml: &str,
    data: &Dataset,
    streams: Streams,
    opt: OptimizerConfig,
) -> Box<dyn Autoencoder> {
    let (model, spec) = registry::read(serde_saphyr::from_str(model_yaml).unwrap()).unwrap();
    let ctx = BuildContext {
        device: &Device::Cpu,
        input_dim: data.dim(),
        image_shape: data.image_shape,
        classes: data.classes,
        optimizer: &opt,
        streams,
    };
    spec.build(&model, &ctx).unwrap()
}
