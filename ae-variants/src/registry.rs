//! Every model, by its name in `model.variant`: the one list that the runner, the tests and
//! docs/config.md are checked against. A new model is one file and one line here.

use crate::config::ModelConfig;
use crate::seam::{Spec, VariantConfig};
use crate::{adversarial, denoising, dropout, plain, vae};
use ae_core::ConfigError;

type Parser = fn(&ModelConfig) -> Result<Box<dyn Spec>, ConfigError>;

/// Every model: its name in `model.variant` and how its keys are read.
pub const VARIANTS: &[(&str, Parser)] = &[
    ("plain", parse_as::<plain::PlainConfig>),
    ("denoising", parse_as::<denoising::DenoisingConfig>),
    ("dropout", parse_as::<dropout::DropoutConfig>),
    ("adversarial", parse_as::<adversarial::AdversarialConfig>),
    ("vae", parse_as::<vae::VaeConfig>),
    ("sparse", parse_as::<crate::sparse::SparseConfig>),
    ("wae", parse_as::<crate::wae::WaeConfig>),
    ("rae", parse_as::<crate::rae::RaeConfig>),
    (
        "contractive",
        parse_as::<crate::contractive::ContractiveConfig>,
    ),
    ("vqvae", parse_as::<crate::vqvae::VqvaeConfig>),
    ("cvae", parse_as::<crate::cvae::CvaeConfig>),
];

fn parse_as<C: VariantConfig>(model: &ModelConfig) -> Result<Box<dyn Spec>, ConfigError> {
    let map = model.params.clone().into_iter().collect();
    let cfg: C = serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." {
            "model".to_string()
        } else {
            format!("model.{path}")
        };
        ConfigError::new(key, e.into_inner().to_string())
    })?;
    cfg.validate(model)?;
    Ok(Box::new(cfg))
}

/// Checks the keys of `model`'s variant.
fn parse(model: &ModelConfig) -> Result<Box<dyn Spec>, ConfigError> {
    match VARIANTS.iter().find(|(name, _)| *name == model.variant) {
        Some((_, parser)) => parser(model),
        None => Err(ConfigError::new(
            "model.variant",
            format!(
                "`{}` is not a variant; allowed: {}",
                model.variant,
                names().join(", ")
            ),
        )),
    }
}

/// The names of every model, in registry order.
pub fn names() -> Vec<&'static str> {
    VARIANTS.iter().map(|(n, _)| *n).collect()
}

/// Reads `model:` (shared keys, then the model's own): its config and its validated spec.
pub fn read(value: serde_json::Value) -> Result<(ModelConfig, Box<dyn Spec>), ConfigError> {
    let model = ModelConfig::from_value(value, &names())?;
    let spec = parse(&model)?;
    Ok((model, spec))
}
