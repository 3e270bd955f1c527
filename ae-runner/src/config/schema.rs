//! The experiment schema: `train:` and `eval:` as typed structs with defaults, the file's top
//! level, and a validated [`Experiment`]. No tensors here.

use crate::results::yaml::{Map, Value};
use ae_core::data::DataConfig;
use ae_core::error::{at_least_one, ensure};
use ae_core::metrics::{Better, Metric};
use ae_core::optim::OptimizerConfig;
use ae_core::schedule::{Mode, ScheduleConfig};
use ae_core::stopping::EarlyStopping;
use ae_core::ConfigError;
use ae_variants::{ModelConfig, Spec};
use serde::{Deserialize, Serialize};

/// `train:`: how long, how, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    /// How the rate of every optimiser changes over the run (constant by default).
    pub schedule: ScheduleConfig,
    /// The validation metric (`val_<name>`) that `plateau`, early stopping and best.safetensors
    /// follow.
    pub monitor: Option<String>,
    /// Stop when the monitored metric stops improving (None: train every epoch).
    pub early_stopping: Option<EarlyStopping>,
    /// Which weights test.csv and the evaluation use: the last epoch's or the best monitored.
    pub test_weights: TestWeights,
    pub seed: u64,
    /// auto | cpu | cuda | cuda:N
    pub device: String,
    /// CPU threads for candle's matmuls (0: all cores). One is fastest for small MLPs on 2 cores.
    pub threads: usize,
    /// Images per evaluation batch.
    pub eval_batch_size: usize,
    /// Also evaluate the test set after every epoch (`test_*` columns); otherwise only at the end.
    pub test_each_epoch: bool,
    /// Epochs between checkpoints (one is always written at the end).
    pub checkpoint_every: usize,
    /// Steps between progress-bar updates (each reads the running loss back from the device).
    pub log_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig::default(),
            monitor: None,
            early_stopping: None,
            test_weights: TestWeights::Last,
            seed: 0,
            device: "auto".into(),
            threads: 1,
            eval_batch_size: 1000,
            test_each_epoch: false,
            checkpoint_every: 1,
            log_every: 100,
        }
    }
}

impl TrainConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        at_least_one(self.epochs, "train.epochs")?;
        at_least_one(self.batch_size, "train.batch_size")?;
        at_least_one(self.eval_batch_size, "train.eval_batch_size")?;
        at_least_one(self.checkpoint_every, "train.checkpoint_every")?;
        at_least_one(self.log_every, "train.log_every")?;
        ensure(
            ae_core::device::is_valid_spec(&self.device),
            "train.device",
            || {
                format!(
                    "`{}` is not allowed: auto, cpu, cuda or cuda:N",
                    self.device
                )
            },
        )?;
        self.optimizer.validate("train.optimizer")?;
        self.schedule.validate("train.schedule")?;
        if let Some(s) = &self.early_stopping {
            s.validate("train.early_stopping")?;
        }
        Ok(())
    }

    /// What asks for `train.monitor`, if anything does.
    fn monitor_needed_by(&self) -> Option<&'static str> {
        if matches!(self.schedule, ScheduleConfig::Plateau(_)) {
            Some("train.schedule kind plateau")
        } else if self.early_stopping.is_some() {
            Some("train.early_stopping")
        } else if self.test_weights == TestWeights::Best {
            Some("train.test_weights best")
        } else {
            None
        }
    }

    /// Checks `train.monitor` against the metrics the model reports on validation images and
    /// `val_size`; returns the direction in which it improves (Min without a monitor).
    fn validate_monitor(&self, val_size: usize, metrics: &[Metric]) -> Result<Mode, ConfigError> {
        let needed_by = self.monitor_needed_by();
        if self.monitor.is_none() && needed_by.is_none() {
            return Ok(Mode::Min);
        }
        let allowed = metrics
            .iter()
            .map(|m| format!("val_{}", m.name))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(name) = &self.monitor else {
            return Err(ConfigError::new(
                "train.monitor",
                format!(
                    "{} needs it: name a validation metric of this model: {allowed}",
                    needed_by.unwrap_or_default()
                ),
            ));
        };
        let metric = name
            .strip_prefix("val_")
            .and_then(|n| metrics.iter().find(|m| m.name == n))
            .ok_or_else(|| {
                ConfigError::new(
                    "train.monitor",
                    format!(
                        "`{name}` is not a validation metric of this model; allowed: {allowed}"
                    ),
                )
            })?;
        ensure(val_size > 0, "train.monitor", || {
            format!("{name} needs validation images, but data.val_size is 0")
        })?;
        let better = match metric.better {
            Better::Lower => Mode::Min,
            Better::Higher => Mode::Max,
        };
        if let ScheduleConfig::Plateau(p) = &self.schedule {
            let word = |m: Mode| if m == Mode::Min { "min" } else { "max" };
            ensure(p.mode == better, "train.schedule.mode", || {
                format!(
                    "{} is not allowed with train.monitor {name}, which is better {}: mode {}",
                    word(p.mode),
                    if better == Mode::Min {
                        "lower"
                    } else {
                        "higher"
                    },
                    word(better)
                )
            })?;
        }
        Ok(better)
    }
}

/// `train.test_weights`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestWeights {
    /// The weights after the last epoch trained.
    #[default]
    Last,
    /// The weights of the epoch with the best `train.monitor` value (best.safetensors).
    Best,
}

/// The file as written, before the model section is handed to its variant.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: Option<String>,
    #[serde(default)]
    data: DataConfig,
    model: Value,
    #[serde(default)]
    train: TrainConfig,
    #[serde(default)]
    eval: EvalConfig,
    #[serde(default)]
    log: LogConfig,
    /// Written by ae-runner into a run's config.yaml; ignored on input.
    #[serde(default, rename = "provenance")]
    _provenance: Option<Value>,
}

/// The keys of an experiment file's top level, for "did you mean" hints.
pub const TOP_KEYS: &[&str] = &[
    "name",
    "data",
    "model",
    "train",
    "eval",
    "log",
    "sweep",
    "cases",
    "provenance",
];

/// A validated experiment.
pub struct Experiment {
    pub name: String,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub eval: EvalConfig,
    pub log: LogConfig,
    pub spec: Box<dyn Spec>,
    /// The direction in which `train.monitor` improves (Min without one).
    pub monitor_mode: Mode,
}

impl Experiment {
    /// The fully resolved config, every default filled in.
    pub fn resolved(&self) -> Value {
        fn tree(v: &impl Serialize) -> Value {
            serde_json::to_value(v).expect("configs serialise")
        }
        let Value::Object(mut model) = tree(&self.model) else {
            unreachable!("a struct serialises to a mapping")
        };
        if let Value::Object(own) = self.spec.resolved() {
            model.extend(own);
        }
        let mut top = Map::new();
        top.insert("name".into(), self.name.clone().into());
        top.insert("data".into(), tree(&self.data));
        top.insert("model".into(), Value::Object(model));
        top.insert("train".into(), tree(&self.train));
        top.insert("eval".into(), tree(&self.eval));
        top.insert("log".into(), tree(&self.log));
        Value::Object(top)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Importance samples per image for the IWAE bound on -log p(x) (VAE only; 0: off).
    pub iwae_k: usize,
    /// Test images the bound is estimated on, the first ones (0: all).
    pub iwae_images: usize,
    /// Epochs between IWAE bounds on validation images during training (0: none).
    pub every: usize,
    /// Validation images those bounds are estimated on, the first ones (0: all).
    pub every_images: usize,
    /// A linear probe (logistic regression) on the codes.
    pub probe: bool,
    /// Neighbours of the k-NN classifier on the codes (0: off).
    pub knn_k: usize,
    /// Training images, of every class, the probe and k-NN are fit on (0: all).
    pub fit_images: usize,
    /// The same classifiers on raw pixels beside them.
    pub pixels: bool,
    /// interpolations.png, latent.svg and, for a 2-D code, manifold.png.
    pub pictures: bool,
    /// Epochs between the reconstructions kept as `reconstructions-epoch-NNN.png` (0: none).
    pub pictures_every: usize,
    /// Components of the ex-post Gaussian mixture fitted to the `fit_images` training codes,
    /// whose decoded draws are samples-gmm.png (0: off).
    pub gmm_components: usize,
    /// The classifier Frechet distance and class coverage of the model's samples (from its
    /// prior and from the ex-post mixture), with a classifier trained on first use.
    pub classifier_fd: bool,
    /// Samples drawn for it.
    pub fd_samples: usize,
    /// Training images the classifier is trained on, the first ones (0: all).
    pub classifier_images: usize,
    /// Smaller fixed sizes for the keys left unset (see [`quick`]), for quick sweeps.
    pub quick: bool,
}

/// Where a run is watched while it trains. These keys change no number a run computes, so a
/// run folder written with other values is still the same run (see `run::folder::inspect`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// TensorBoard event files under `<out>/<name>/tensorboard/<run>/`.
    pub tensorboard: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { tensorboard: true }
    }
}

/// What `eval.quick: true` sets where the file leaves a key unset: fixed sizes, not scaled
/// with a run's length, so that the runs of a sweep stay comparable. The pixel baselines are
/// off: they are the same for every run and the slowest part on 784 pixels.
fn quick() -> [(&'static str, Value); 3] {
    [
        ("iwae_images", 200.into()),
        ("fit_images", 2000.into()),
        ("pixels", false.into()),
    ]
}

/// The sections of a config with their defaults, for [`drop_empty_sections`]: built once,
/// not for each of a sweep's runs.
static SECTIONS: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    serde_json::json!({
        "data": DataConfig::default(),
        "train": TrainConfig::default(),
        "eval": EvalConfig::default(),
        "log": LogConfig::default(),
    })
});

/// Drops the keys left empty (`train:` with nothing under it reads as null) where the config
/// has a section: an empty section means its defaults, as it did with the earlier YAML library.
fn drop_empty_sections(value: &mut Value, defaults: &Value) {
    let (Some(map), Some(defaults)) = (value.as_object_mut(), defaults.as_object()) else {
        return;
    };
    map.retain(|k, v| !(v.is_null() && defaults.get(k).is_some_and(Value::is_object)));
    for (k, v) in map.iter_mut() {
        if let Some(d) = defaults.get(k) {
            drop_empty_sections(v, d);
        }
    }
}

/// Fills `eval:` from [`quick`] where `eval.quick` is true and the key is unset.
fn apply_quick(value: &mut Value) {
    let Some(eval) = value.get_mut("eval").and_then(Value::as_object_mut) else {
        return;
    };
    if eval.get("quick") == Some(&Value::Bool(true)) {
        for (key, v) in quick() {
            eval.entry(key).or_insert(v);
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            iwae_k: 100,
            iwae_images: 1000,
            every: 0,
            every_images: 1000,
            probe: true,
            knn_k: 5,
            fit_images: 10000,
            pixels: true,
            pictures: true,
            pictures_every: 0,
            gmm_components: 10,
            classifier_fd: false,
            fd_samples: 10000,
            classifier_images: 0,
            quick: false,
        }
    }
}

impl EvalConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, n) in [
            ("eval.knn_k", self.knn_k),
            ("eval.gmm_components", self.gmm_components),
        ] {
            ensure(self.fit_images == 0 || n <= self.fit_images, key, || {
                format!(
                    "{n} is not allowed: at most eval.fit_images ({})",
                    self.fit_images
                )
            })?;
        }
        ensure(
            !self.classifier_fd || self.fd_samples >= 2,
            "eval.fd_samples",
            || {
                format!(
                "{} is not allowed with eval.classifier_fd: a Frechet distance needs >= 2 samples",
                self.fd_samples
            )
            },
        )
    }

    /// `every` needs the bound (`iwae_k`), a model with a likelihood and validation images.
    fn validate_every(&self, val_size: usize, likelihood: bool) -> Result<(), ConfigError> {
        if self.every == 0 {
            return Ok(());
        }
        ensure(self.iwae_k > 0, "eval.every", || {
            "needs eval.iwae_k > 0: the bound's samples per image".into()
        })?;
        ensure(likelihood, "eval.every", || {
            "the IWAE bound needs a model with a likelihood (vae)".into()
        })?;
        ensure(val_size > 0, "eval.every", || {
            "the bound is on validation images, but data.val_size is 0".into()
        })
    }

    /// The settings as (name, value) columns of eval.csv: the sizes the metrics depend on,
    /// and with `classifier_fd` those its distances depend on.
    pub fn columns(&self) -> Vec<(String, String)> {
        let mut sizes = vec![
            ("iwae_k", self.iwae_k),
            ("iwae_images", self.iwae_images),
            ("fit_images", self.fit_images),
        ];
        if self.classifier_fd {
            sizes.extend([
                ("gmm_components", self.gmm_components),
                ("fd_samples", self.fd_samples),
                ("classifier_images", self.classifier_images),
            ]);
        }
        sizes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Deserialises and validates one experiment from a value without `sweep` or `cases`.
pub fn parse_experiment(mut value: Value, default_name: &str) -> Result<Experiment, ConfigError> {
    drop_empty_sections(&mut value, &SECTIONS);
    apply_quick(&mut value);
    let raw: RawExperiment = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        // serde names an unknown or missing key in its message, not in its path.
        let named = msg
            .strip_prefix("unknown field `")
            .or_else(|| msg.strip_prefix("missing field `"))
            .map(|r| r.split('`').next().unwrap_or_default().to_string());
        let key = match (path.as_str(), named) {
            (".", Some(field)) => field,
            (".", None) => String::new(),
            (p, Some(field)) if !p.ends_with(&field) => format!("{p}.{field}"),
            (p, _) => p.to_string(),
        };
        ConfigError::new(key, msg)
    })?;
    let name = raw.name.unwrap_or_else(|| default_name.to_string());
    ensure(
        !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..",
        "name",
        || format!("`{name}` is not allowed: a folder name without slashes"),
    )?;
    raw.data.validate()?;
    raw.train.validate()?;
    raw.eval.validate()?;
    let (model, spec) = ae_variants::registry::read(raw.model)?;
    // Asked of the model only where a key needs it: it builds the model once.
    let monitor_mode = if raw.train.monitor.is_some()
        || raw.train.monitor_needed_by().is_some()
        || raw.eval.every > 0
    {
        let vocabulary = ae_variants::vocabulary::of(&model, spec.as_ref())
            .map_err(|e| ConfigError::new("model", format!("{e:#}")))?;
        raw.eval
            .validate_every(raw.data.val_size, vocabulary.likelihood)?;
        raw.train
            .validate_monitor(raw.data.val_size, &vocabulary.held_out)?
    } else {
        Mode::Min
    };
    Ok(Experiment {
        name,
        data: raw.data,
        model,
        train: raw.train,
        eval: raw.eval,
        log: raw.log,
        spec,
        monitor_mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::yaml;

    fn exp_of(text: &str) -> Experiment {
        parse_experiment(yaml::parse(text).unwrap(), "x").unwrap()
    }

    fn eval_of(text: &str) -> EvalConfig {
        exp_of(text).eval
    }

    #[test]
    fn quick_sets_the_keys_left_unset_and_only_those() {
        let plain = eval_of("model: {variant: plain}\n");
        assert_eq!(plain, EvalConfig::default());
        let quick = eval_of("model: {variant: plain}\neval: {quick: true, fit_images: 500}\n");
        assert_eq!(
            quick,
            EvalConfig {
                quick: true,
                iwae_images: 200,
                fit_images: 500,
                pixels: false,
                ..EvalConfig::default()
            }
        );
        let off = eval_of("model: {variant: plain}\neval: {quick: false}\n");
        assert_eq!(off, EvalConfig::default());
    }

    #[test]
    fn an_empty_section_is_its_defaults() {
        let exp = exp_of("model: {variant: plain}\ndata:\ntrain: {optimizer: }\neval:\n");
        assert_eq!(exp.train, TrainConfig::default());
        assert_eq!(exp.eval, EvalConfig::default());
        // A key whose value may be null keeps it.
        let exp = exp_of("model: {variant: plain}\ndata: {test_limit: null}\n");
        assert_eq!(exp.data.test_limit, None);
    }

    #[test]
    fn a_quick_runs_resolved_config_reads_back_the_same() {
        let exp = exp_of("model: {variant: vae}\neval: {quick: true}\n");
        let again = parse_experiment(exp.resolved(), "x").unwrap();
        assert_eq!(again.eval, exp.eval);
        assert_eq!(again.resolved(), exp.resolved());
    }
}
