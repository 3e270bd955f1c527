//! The `model:` section: the keys every model shares, read by name (each error names its key),
//! and the model's own keys kept for its config type.

use ae_core::activation::Activation;
use ae_core::layers::Init;
use ae_core::ConfigError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The architecture of the encoder and decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// input -> hidden... -> code, and the mirror: linear layers on rows of pixels.
    #[default]
    Mlp,
    /// Stride-2 convolutions with `channels`, a linear map to the code, and the mirror.
    Conv,
}

/// The `model:` section: what all variants share, plus the variant's own keys in `params`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelConfig {
    /// One of [`crate::registry::VARIANTS`].
    pub variant: String,
    /// `mlp` or `conv`: the encoder and decoder every variant is built on.
    pub arch: Arch,
    /// Hidden widths of an MLP encoder; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Channels of a conv encoder's stride-2 layers; the decoder mirrors them.
    pub channels: Vec<usize>,
    pub latent_dim: usize,
    /// Between hidden layers.
    pub activation: Activation,
    /// On the code (the seed's AE has `relu`; a VAE or AAE needs `none`).
    pub code_activation: Activation,
    pub init: Init,
    /// The variant's own keys, checked by its config type.
    #[serde(flatten)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// The keys every variant has, for "did you mean" hints.
pub const COMMON_KEYS: &[&str] = &[
    "variant",
    "arch",
    "hidden",
    "channels",
    "latent_dim",
    "activation",
    "code_activation",
    "init",
];

/// Deserialises one key of `model:`, naming it in the error.
fn take<T: DeserializeOwned>(
    map: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    default: T,
) -> Result<T, ConfigError> {
    match map.remove(key) {
        None => Ok(default),
        Some(v) => serde_json::from_value(v)
            .map_err(|e| ConfigError::new(format!("model.{key}"), e.to_string())),
    }
}

impl ModelConfig {
    /// Reads `model:`: the shared keys by name (each error names its key), the rest kept for
    /// the model's own type; `variants` are the names allowed, for the message when it is
    /// missing.
    pub fn from_value(value: serde_json::Value, variants: &[&str]) -> Result<Self, ConfigError> {
        let serde_json::Value::Object(mut map) = value else {
            return Err(ConfigError::new(
                "model",
                "must be a mapping with at least `variant`",
            ));
        };
        let variant: Option<String> = take(&mut map, "variant", None)?;
        let variant = variant.ok_or_else(|| {
            ConfigError::new(
                "model.variant",
                format!("missing; allowed: {}", variants.join(", ")),
            )
        })?;
        let cfg = Self {
            variant,
            arch: take(&mut map, "arch", Arch::Mlp)?,
            hidden: take(&mut map, "hidden", vec![256, 64])?,
            channels: take(&mut map, "channels", vec![32, 64])?,
            latent_dim: take(&mut map, "latent_dim", 20)?,
            activation: take(&mut map, "activation", Activation::Relu)?,
            code_activation: take(&mut map, "code_activation", Activation::None)?,
            init: take(&mut map, "init", Init::Pytorch)?,
            params: map.into_iter().collect(),
        };
        ae_core::error::at_least_one(cfg.latent_dim, "model.latent_dim")?;
        ae_core::error::ensure(
            !cfg.channels.is_empty() && cfg.channels.iter().all(|&c| c > 0),
            "model.channels",
            || {
                format!(
                    "{:?} is not allowed: at least one layer, every count at least 1",
                    cfg.channels
                )
            },
        )?;
        ae_core::error::ensure(cfg.hidden.iter().all(|&h| h > 0), "model.hidden", || {
            format!(
                "{:?} is not allowed: every width must be at least 1",
                cfg.hidden
            )
        })?;
        Ok(cfg)
    }
}
