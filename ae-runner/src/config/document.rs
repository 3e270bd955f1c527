//! An experiment file as read: YAML text, `--set` overrides on dotted keys, and the user's
//! error for a config error (file, line and key, or the flag or sweep entry that set it).

use crate::config::locate::{key_lines, line_of};
use crate::config::schema::TOP_KEYS;
use crate::results::yaml::{self, inline, Map, Value};
use ae_core::{ConfigError, UserError};
use std::path::{Path, PathBuf};

/// Sets `a.b.c` in a mapping, creating the mappings on the way.
pub fn set_dotted(root: &mut Value, key: &str, value: Value) -> Result<(), String> {
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(format!("`{key}` is not a dotted key"));
        }
        let Value::Object(map) = node else {
            return Err(format!("`{}` is not a mapping", parts[..i].join(".")));
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_string(), value);
            return Ok(());
        }
        node = map
            .entry(*part)
            .or_insert_with(|| Value::Object(Map::new()));
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
    let value = yaml::parse(v)
        .map_err(|e| UserError(format!("--set {s}: value is not valid YAML: {e}")))?;
    Ok((k.trim().to_string(), value))
}

/// The first line whose indentation holds a tab (1-based).
fn tab_indented(text: &str) -> Option<usize> {
    text.lines()
        .position(|line| line[..line.len() - line.trim_start().len()].contains('\t'))
        .map(|i| i + 1)
}

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" into a hint; a note after "; "
/// (an optimizer key of another kind: which) follows the key.
fn did_you_mean(message: &str, extra: &[&str]) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let (rest, note) = match rest.split_once("; ") {
        Some((rest, note)) => (rest, format!(" {note}")),
        None => (rest, String::new()),
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
        "unknown key `{unknown}`{hint}{note}; allowed: {}",
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
        let mut value = yaml::parse(&text).map_err(|e| {
            // A tab in the indentation is reported wherever the scanner met it (often the end
            // of the line before): name the line that has it.
            if let Some(line) = tab_indented(&text) {
                return UserError(format!(
                    "{}:{line}: YAML syntax error: line {line} is indented with a tab; YAML indents with spaces only (the parser: {e})",
                    path.display()
                ));
            }
            match e.at {
                Some((line, column)) => UserError(format!(
                    "{}:{line}:{column}: YAML syntax error: {e}",
                    path.display(),
                )),
                None => UserError(format!("{}: YAML syntax error: {e}", path.display())),
            }
        })?;
        if !value.is_object() {
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
        // The key in error is the one set, lies below it, or holds it (`--set modle.x=3` makes
        // the unknown key `modle`).
        let covers = |k: &str| {
            e.key == k
                || e.key.starts_with(&format!("{k}."))
                || e.key.starts_with(&format!("{k}["))
                || (!e.key.is_empty() && k.starts_with(&format!("{}.", e.key)))
        };
        let lines = key_lines(&self.text);
        let at = |path: &str| match line_of(&lines, path) {
            Some(l) => format!("{}:{l}", self.path.display()),
            None => self.path.display().to_string(),
        };
        if let Some(run) = run {
            if let Some((k, written, v)) = run.overrides.iter().find(|(k, _, _)| covers(k)) {
                return UserError(format!(
                    "{}: {}, {k} = {}: {}: {message}",
                    at(written),
                    run.label,
                    inline(v),
                    e.key
                ));
            }
        }
        if let Some((k, v)) = self.sets.iter().find(|(k, _)| covers(k)) {
            return UserError(format!("--set {k}={}: {}: {message}", inline(v), e.key));
        }
        let label = run.map(|r| format!(" ({})", r.label)).unwrap_or_default();
        UserError(format!("{}: {}: {message}{label}", at(&e.key), e.key))
    }
}
