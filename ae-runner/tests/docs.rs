//! docs/config.md documents every key: each section's table is checked against the config types
//! and the model registry, so a model or key added without its docs fails here.

use ae_core::data::DataConfig;
use ae_core::optim::{self, OptimizerConfig};
use ae_runner::config::{EvalConfig, LogConfig, TrainConfig};
use ae_runner::results::yaml::{self, Value};
use ae_variants::{registry, COMMON_KEYS};
use std::collections::BTreeSet;
use std::path::Path;

fn config_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md"))
        .unwrap()
}

/// The text under the heading `heading` (e.g. `## train`, `### vae`), up to the next heading.
fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let start = doc.find(&format!("\n{heading}\n"))? + heading.len() + 2;
    let rest = &doc[start..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The keys a section's table documents: the backticked names of each row's first cell, where
/// a name without a dot after a dotted one shares its parent (`optimizer.beta1`, `beta2`).
fn documented(section: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        let mut parent = String::new();
        for (i, name) in cell.split('`').skip(1).step_by(2).enumerate() {
            if i == 0 {
                parent = name
                    .rsplit_once('.')
                    .map(|(p, _)| p.to_string())
                    .unwrap_or_default();
                keys.insert(name.to_string());
            } else if !name.contains('.') && !parent.is_empty() {
                keys.insert(format!("{parent}.{name}"));
            } else {
                keys.insert(name.to_string());
            }
        }
    }
    keys
}

/// Every leaf key of a serialised config, dotted.
fn leaves(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(v, &key, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn keys_of(v: Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    leaves(&v, "", &mut out);
    out
}

fn missing(doc: &str, heading: &str, keys: &BTreeSet<String>) -> Vec<String> {
    let Some(text) = section(doc, heading) else {
        return vec![format!("no section `{heading}`")];
    };
    let have = documented(text);
    keys.iter()
        .filter(|k| !have.contains(*k))
        .map(|k| format!("`{heading}` lacks `{k}`"))
        .collect()
}

/// Every missing key of every section, for `doc`.
fn problems(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(missing(
        doc,
        "## data",
        &keys_of(serde_json::to_value(DataConfig::default()).unwrap()),
    ));
    let common: BTreeSet<String> = COMMON_KEYS.iter().map(|k| k.to_string()).collect();
    out.extend(missing(doc, "## model", &common));
    let variants = section(doc, "## model")
        .map(documented_values)
        .unwrap_or_default();
    for name in registry::names() {
        let (_, spec) =
            registry::read(yaml::parse(&format!("{{variant: {name}}}")).unwrap()).unwrap();
        out.extend(missing(
            doc,
            &format!("### {name}"),
            &keys_of(spec.resolved()),
        ));
        if !variants.contains(name) {
            out.push(format!("`## model` does not list `{name}` as a variant"));
        }
    }
    // Every optimizer kind's keys, not only the default kind's.
    let mut train = keys_of(serde_json::to_value(TrainConfig::default()).unwrap());
    for kind in optim::KINDS {
        let cfg = OptimizerConfig::of_kind(kind).unwrap();
        leaves(&serde_json::to_value(cfg).unwrap(), "optimizer", &mut train);
        let row = section(doc, "## train")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("| `optimizer.kind` |"))
            .unwrap_or_default();
        if !row
            .split('|')
            .nth(3)
            .unwrap_or_default()
            .contains(&format!("`{kind}`"))
        {
            out.push(format!(
                "`## train` does not list `{kind}` as an optimizer kind"
            ));
        }
    }
    out.extend(missing(doc, "## train", &train));
    out.extend(missing(
        doc,
        "## eval",
        &keys_of(serde_json::to_value(EvalConfig::default()).unwrap()),
    ));
    out.extend(missing(
        doc,
        "## log",
        &keys_of(serde_json::to_value(LogConfig::default()).unwrap()),
    ));
    out
}

/// The backticked values in the `variant` row's "allowed" cell.
fn documented_values(section: &str) -> BTreeSet<&'static str> {
    let row = section
        .lines()
        .find(|l| l.starts_with("| `variant` |"))
        .unwrap_or_default();
    let allowed = row.split('|').nth(3).unwrap_or_default();
    registry::names()
        .into_iter()
        .filter(|n| allowed.contains(&format!("`{n}`")))
        .collect()
}

#[test]
fn every_key_and_model_is_in_the_config_reference() {
    let p = problems(&config_md());
    assert!(p.is_empty(), "docs/config.md:\n{}", p.join("\n"));
}

#[test]
fn a_key_or_model_missing_from_the_reference_is_found() {
    let doc = config_md();
    // Drop one model's section and one train key's row: both are reported.
    let vae = section(&doc, "### vae").unwrap();
    let cut = doc
        .replace(vae, "\n")
        .replace("| `log_every` |", "| log_every |");
    let p = problems(&cut).join("\n");
    assert!(p.contains("`### vae` lacks `kl_weight`"), "{p}");
    assert!(p.contains("`## train` lacks `log_every`"), "{p}");
    let no_alpha = doc.replace("| `optimizer.alpha` |", "| optimizer.alpha |");
    let p = problems(&no_alpha).join("\n");
    assert!(p.contains("`## train` lacks `optimizer.alpha`"), "{p}");
    let kinds = doc
        .lines()
        .find(|l| l.starts_with("| `optimizer.kind` |"))
        .unwrap();
    let unlisted = doc.replace(kinds, &kinds.replace("`rmsprop`", "rmsprop"));
    assert!(problems(&unlisted)
        .join("\n")
        .contains("`rmsprop` as an optimizer kind"));
    let row = doc
        .lines()
        .find(|l| l.starts_with("| `variant` |"))
        .unwrap();
    let unlisted = doc.replace(row, &row.replace("`vae`", "vae"));
    assert!(problems(&unlisted)
        .join("\n")
        .contains("`vae` as a variant"));
}
