//! Experiment files: YAML -> overrides -> typed, validated config; every error names the file,
//! the line and the key, and says what is allowed.

use crate::eval::EvalConfig;
use crate::locate::{key_lines, line_of};
use ae_core::data::DataConfig;
use ae_core::error::{at_least_one, ensure};
use ae_core::optim::OptimizerConfig;
use ae_core::{ConfigError, UserError};
use ae_variants::{ModelConfig, Spec};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

/// `train:`: how long, how, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
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
        self.optimizer.validate("train.optimizer")
    }
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
    /// Written by ae-runner into a run's config.yaml; ignored on input.
    #[serde(default, rename = "provenance")]
    _provenance: Option<Value>,
}

const TOP_KEYS: &[&str] = &[
    "name",
    "data",
    "model",
    "train",
    "eval",
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
    pub spec: Box<dyn Spec>,
}

impl Experiment {
    /// The fully resolved config, every default filled in.
    pub fn resolved(&self) -> Value {
        let mut model = match serde_yaml::to_value(&self.model).expect("model config serialises") {
            Value::Mapping(m) => m,
            _ => unreachable!("a struct serialises to a mapping"),
        };
        if let Value::Mapping(own) = self.spec.resolved() {
            model.extend(own);
        }
        let mut top = Mapping::new();
        top.insert("name".into(), self.name.clone().into());
        top.insert(
            "data".into(),
            serde_yaml::to_value(&self.data).expect("data config serialises"),
        );
        top.insert("model".into(), Value::Mapping(model));
        top.insert(
            "train".into(),
            serde_yaml::to_value(&self.train).expect("train config serialises"),
        );
        top.insert(
            "eval".into(),
            serde_yaml::to_value(&self.eval).expect("eval config serialises"),
        );
        Value::Mapping(top)
    }
}

/// Sets `a.b.c` in a mapping, creating the mappings on the way.
pub fn set_dotted(root: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(format!("`{key}` is not a dotted key"));
        }
        let Value::Mapping(map) = node else {
            return Err(format!("`{}` is not a mapping", parts[..i].join(".")));
        };
        if i + 1 == parts.len() {
            map.insert((*part).into(), value);
            return Ok(());
        }
        node = map
            .entry((*part).into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    Ok(())
}

/// Parses `key=value` (the value as YAML: `2`, `0.5`, `[1, 2]`, `vae`).
pub fn parse_set(s: &str) -> Result<(String, Value), UserError> {
    let (k, v) = s.split_once('=').ok_or_else(|| {
        UserError(format!(
            "--set {s}: expected key=value, e.g. --set train.epochs=2"
        ))
    })?;
    let value = serde_yaml::from_str(v)
        .map_err(|e| UserError(format!("--set {s}: value is not valid YAML: {e}")))?;
    Ok((k.trim().to_string(), value))
}

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" into a hint.
fn did_you_mean(message: &str, extra: &[&str]) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let words: Vec<&str> = rest.split('`').step_by(2).collect();
    let (unknown, mut allowed) = (words[0], words[1..].to_vec());
    for k in extra {
        if !allowed.contains(k) {
            allowed.push(k);
        }
    }
    let best = allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(unknown, a), *a))
        .filter(|(d, a)| *d <= 2 + a.len() / 6)
        .min();
    let hint = best
        .map(|(_, a)| format!(" (did you mean `{a}`?)"))
        .unwrap_or_default();
    format!(
        "unknown key `{unknown}`{hint}; allowed: {}",
        allowed.join(", ")
    )
}

/// An experiment file as read, with the command line's overrides applied.
pub struct Document {
    pub path: PathBuf,
    pub text: String,
    /// The file's value with `--set` applied.
    pub value: Value,
    pub sets: Vec<(String, Value)>,
}

/// A run's own override: (dotted key, where it is written as a key path of the file, value).
pub type Override = (String, String, Value);

/// Where in the file a run's own overrides (from `sweep:` or `cases:`) were written.
pub struct RunOrigin<'a> {
    /// "run 3 of 21 (kl_weight=0.5,seed=1)".
    pub label: String,
    pub overrides: &'a [Override],
}

impl Document {
    /// Reads a file and applies `--set` overrides. YAML syntax errors give line and column.
    pub fn read(path: &Path, sets: &[(String, Value)]) -> Result<Self, UserError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UserError(format!("{}: cannot read: {e}", path.display())))?;
        Self::parse(path, text, sets)
    }

    /// [`Document::read`] of text already read (`path` names it in errors).
    pub fn parse(path: &Path, text: String, sets: &[(String, Value)]) -> Result<Self, UserError> {
        let mut value: Value = serde_yaml::from_str(&text).map_err(|e| match e.location() {
            Some(l) => UserError(format!(
                "{}:{}:{}: YAML syntax error: {e}",
                path.display(),
                l.line(),
                l.column()
            )),
            None => UserError(format!("{}: YAML syntax error: {e}", path.display())),
        })?;
        if !value.is_mapping() {
            return Err(UserError(format!(
                "{}: must be a mapping with at least `model: {{variant: ...}}`",
                path.display()
            )));
        }
        for (k, v) in sets {
            set_dotted(&mut value, k, v.clone())
                .map_err(|m| UserError(format!("--set {k}: {m}")))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            text,
            value,
            sets: sets.to_vec(),
        })
    }

    /// The experiment's name when the file gives none.
    pub fn default_name(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into())
    }

    /// The user's error for a config error: file, line and key, or the flag or sweep entry
    /// that set the key.
    pub fn error(&self, e: ConfigError, run: Option<&RunOrigin>) -> UserError {
        let mut message = e.message.clone();
        if message.starts_with("unknown field") {
            let extra: &[&str] = if e.key.starts_with("model") {
                ae_variants::COMMON_KEYS
            } else if e.key.contains('.') {
                &[]
            } else {
                TOP_KEYS
            };
            message = did_you_mean(&message, extra);
        }
        let covers = |k: &str| {
            e.key == k || e.key.starts_with(&format!("{k}.")) || e.key.starts_with(&format!("{k}["))
        };
        let lines = key_lines(&self.text);
        let at = |path: &str| match line_of(&lines, path) {
            Some(l) => format!("{}:{l}", self.path.display()),
            None => self.path.display().to_string(),
        };
        if let Some(run) = run {
            if let Some((k, written, v)) = run.overrides.iter().find(|(k, _, _)| covers(k)) {
                let v = serde_yaml::to_string(v).unwrap_or_default();
                return UserError(format!(
                    "{}: {}, {k} = {}: {}: {message}",
                    at(written),
                    run.label,
                    v.trim(),
                    e.key
                ));
            }
        }
        if let Some((k, v)) = self.sets.iter().find(|(k, _)| covers(k)) {
            let v = serde_yaml::to_string(v).unwrap_or_default();
            return UserError(format!("--set {k}={}: {}: {message}", v.trim(), e.key));
        }
        let label = run.map(|r| format!(" ({})", r.label)).unwrap_or_default();
        UserError(format!("{}: {}: {message}{label}", at(&e.key), e.key))
    }
}

/// Deserialises and validates one experiment from a value without `sweep` or `cases`.
pub fn parse_experiment(value: Value, default_name: &str) -> Result<Experiment, ConfigError> {
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
    let model = ModelConfig::from_value(raw.model)?;
    let spec = ae_variants::parse(&model)?;
    Ok(Experiment {
        name,
        data: raw.data,
        model,
        train: raw.train,
        eval: raw.eval,
        spec,
    })
}
