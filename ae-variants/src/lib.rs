//! The autoencoder variants behind one trait. The runner sees only [`Autoencoder`] and
//! [`parse`]; a new variant is one file here and one line in [`VARIANTS`].

pub mod adversarial;
mod backbone;
pub mod denoising;
mod deterministic;
pub mod dropout;
pub mod plain;
pub mod vae;

pub use backbone::{Arch, Backbone, Net, Recon};

use ae_core::activation::Activation;
use ae_core::layers::Init;
use ae_core::optim::{Adam, OptimizerConfig};
use ae_core::rng::{Rng, Streams};
use ae_core::ConfigError;
use anyhow::Result;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A loss term or metric: its name in the CSV and its value (a device scalar for a loss, one
/// value per image for a metric).
pub type Named = (&'static str, Tensor);

/// What the runner asks of every variant.
pub trait Autoencoder {
    /// Called before each epoch (0-based), e.g. for a KL warm-up.
    fn start_epoch(&mut self, _epoch: usize) {}
    /// One optimisation step on a batch (the variant owns its optimisers). Returns the loss
    /// terms as device scalars, so that the runner reads them back only now and then.
    fn train_step(&mut self, x: &Tensor, rng: &mut Rng) -> Result<Vec<Named>>;
    /// Per-image metrics on held-out images: the shared `mse`, `psnr`, `bce` on clean images,
    /// then the variant's own.
    fn evaluate(&self, x: &Tensor, rng: &mut Rng) -> Result<Vec<Named>>;
    /// The code of each image (the posterior mean for the VAE).
    fn encode(&self, x: &Tensor) -> Result<Tensor>;
    /// Decoder logits of codes.
    fn decode(&self, z: &Tensor) -> Result<Tensor>;
    /// log p(x, z_j) - log q(z_j|x) for k draws z_j ~ q(z|x) of each image, as [n, k], for
    /// variants with a likelihood (the VAE); the IWAE bound on log p(x) is their log-mean-exp.
    fn log_weights(&self, _x: &Tensor, _k: usize, _rng: &mut Rng) -> Result<Option<Tensor>> {
        Ok(None)
    }
    /// Draws from the prior, as images in [0, 1], for variants that have one.
    fn sample(&self, n: usize, rng: &mut Rng) -> Result<Option<Tensor>>;
    /// Rows of the reconstructions picture: the images, then what the model makes of them.
    fn display(&self, x: &Tensor, _rng: &mut Rng) -> Result<Vec<Tensor>> {
        Ok(vec![
            x.clone(),
            candle_nn::ops::sigmoid(&self.decode(&self.encode(x)?)?)?,
        ])
    }
    /// Whether every draw `train_step` and `evaluate` make from their stream is of one kind
    /// (normals only, or uniforms and Bernoulli masks only), so that the runner may draw those
    /// streams ahead on a GPU ([`Rng::ahead`]: one upload per block, not one per step). The
    /// default, false, is always correct; a variant that also draws indices (the AAE's
    /// mixture prior) must keep it.
    fn draws_one_kind(&self) -> bool {
        false
    }
    /// Two times the multiply-adds of one image through the encoder and the decoder.
    fn flops(&self) -> usize;
    /// Every weight, for saving.
    fn varmap(&self) -> &VarMap;
    /// The variant's optimisers by name, for checkpoints.
    fn optimizers(&mut self) -> Vec<(&'static str, &mut Adam)>;
}

/// Everything a checkpoint needs to continue training exactly: `weights.<var>` and
/// `optim.<optimiser>.<var>` (Adam's moments) and `optim.<optimiser>.steps`.
pub fn checkpoint_state(ae: &mut dyn Autoencoder) -> Result<HashMap<String, Tensor>> {
    let mut state: HashMap<String, Tensor> = ae
        .varmap()
        .data()
        .lock()
        .expect("varmap lock")
        .iter()
        .map(|(k, v)| (format!("weights.{k}"), v.as_tensor().clone()))
        .collect();
    for (name, opt) in ae.optimizers() {
        for (k, t) in opt.state()? {
            state.insert(format!("optim.{name}.{k}"), t);
        }
    }
    Ok(state)
}

/// Loads what [`checkpoint_state`] saved; a checkpoint of another architecture is an error
/// naming the first tensor that does not fit.
pub fn restore_state(ae: &mut dyn Autoencoder, state: &HashMap<String, Tensor>) -> Result<()> {
    load_weights(ae, state, "weights.")?;
    for (name, opt) in ae.optimizers() {
        opt.restore(&|k| get(state, &format!("optim.{name}.{k}")))?;
    }
    Ok(())
}

/// Sets every weight from `state[prefix + name]` (model.safetensors has no prefix).
pub fn load_weights(
    ae: &dyn Autoencoder,
    state: &HashMap<String, Tensor>,
    prefix: &str,
) -> Result<()> {
    for (k, var) in ae.varmap().data().lock().expect("varmap lock").iter() {
        let t = get(state, &format!("{prefix}{k}"))?;
        anyhow::ensure!(
            t.dims() == var.dims(),
            "{prefix}{k} is {:?} in the file, {:?} in this model: it is from another architecture",
            t.dims(),
            var.dims()
        );
        var.set(&t.to_device(var.device())?)?;
    }
    Ok(())
}

fn get(state: &HashMap<String, Tensor>, k: &str) -> candle_core::Result<Tensor> {
    state.get(k).cloned().ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "the file has no `{k}`: it is from another architecture"
        ))
    })
}

/// The `model:` section: what all variants share, plus the variant's own keys in `params`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelConfig {
    /// One of [`VARIANTS`].
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
    pub params: BTreeMap<String, serde_yaml::Value>,
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
    map: &mut serde_yaml::Mapping,
    key: &str,
    default: T,
) -> Result<T, ConfigError> {
    match map.remove(key) {
        None => Ok(default),
        Some(v) => serde_yaml::from_value(v)
            .map_err(|e| ConfigError::new(format!("model.{key}"), e.to_string())),
    }
}

impl ModelConfig {
    /// Reads `model:`: the shared keys by name (each error names its key), the rest kept for
    /// the variant.
    pub fn from_value(value: serde_yaml::Value) -> Result<Self, ConfigError> {
        let serde_yaml::Value::Mapping(mut map) = value else {
            return Err(ConfigError::new(
                "model",
                "must be a mapping with at least `variant`",
            ));
        };
        let variant: Option<String> = take(&mut map, "variant", None)?;
        let variant = variant.ok_or_else(|| {
            ConfigError::new(
                "model.variant",
                format!("missing; allowed: {}", variant_names().join(", ")),
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
            params: map
                .into_iter()
                .map(|(k, v)| match k {
                    serde_yaml::Value::String(k) => Ok((k, v)),
                    other => Err(ConfigError::new(
                        "model",
                        format!("key {other:?} is not a string"),
                    )),
                })
                .collect::<Result<_, _>>()?,
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

fn variant_names() -> Vec<&'static str> {
    VARIANTS.iter().map(|(n, _)| *n).collect()
}

/// What building a model needs besides its config.
pub struct BuildContext<'a> {
    pub device: &'a Device,
    /// Pixels per image.
    pub input_dim: usize,
    /// (channels, height, width) of an image, for metrics that need its layout (SSIM).
    pub image_shape: (usize, usize, usize),
    pub optimizer: &'a OptimizerConfig,
    pub streams: Streams,
}

/// A variant's own config type: deserialised from the `model:` keys it owns, then validated.
pub trait VariantConfig: Serialize + DeserializeOwned + 'static {
    fn validate(&self, model: &ModelConfig) -> Result<(), ConfigError>;
    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>>;
}

/// A parsed, validated variant: its resolved keys and how to build it.
pub trait Spec {
    /// The variant's keys with defaults filled in, for the resolved config.
    fn resolved(&self) -> serde_yaml::Value;
    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>>;
}

impl<C: VariantConfig> Spec for C {
    fn resolved(&self) -> serde_yaml::Value {
        serde_yaml::to_value(self).expect("variant configs serialise")
    }
    fn build(&self, model: &ModelConfig, ctx: &BuildContext) -> Result<Box<dyn Autoencoder>> {
        VariantConfig::build(self, model, ctx)
    }
}

type Parser = fn(&ModelConfig) -> Result<Box<dyn Spec>, ConfigError>;

/// Every variant: its name in `model.variant` and its config type.
pub const VARIANTS: &[(&str, Parser)] = &[
    ("plain", parse_as::<plain::PlainConfig>),
    ("denoising", parse_as::<denoising::DenoisingConfig>),
    ("dropout", parse_as::<dropout::DropoutConfig>),
    ("adversarial", parse_as::<adversarial::AdversarialConfig>),
    ("vae", parse_as::<vae::VaeConfig>),
];

fn parse_as<C: VariantConfig>(model: &ModelConfig) -> Result<Box<dyn Spec>, ConfigError> {
    let map: serde_yaml::Mapping = model
        .params
        .iter()
        .map(|(k, v)| (k.clone().into(), v.clone()))
        .collect();
    let cfg: C =
        serde_path_to_error::deserialize(serde_yaml::Value::Mapping(map)).map_err(|e| {
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
pub fn parse(model: &ModelConfig) -> Result<Box<dyn Spec>, ConfigError> {
    match VARIANTS.iter().find(|(name, _)| *name == model.variant) {
        Some((_, parser)) => parser(model),
        None => Err(ConfigError::new(
            "model.variant",
            format!(
                "`{}` is not a variant; allowed: {}",
                model.variant,
                variant_names().join(", ")
            ),
        )),
    }
}
