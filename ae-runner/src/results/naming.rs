//! How a value of a swept key appears in a run's folder name, and the folder name itself.

use serde_yaml::Value;

/// A value as it appears in a folder name: `0.5`, `vae`, `[256,64]` -> `256-64`.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(show).collect::<Vec<_>>().join("-"),
        Value::Null => "null".into(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
    .replace(['/', '\\', ',', '='], "_")
}

/// Folder name of a run: `kl_weight=0.5,seed=1` (a key's last part, unless two keys share it).
pub fn run_name(values: &[(String, Value)], keys: &[String], seed: u64) -> String {
    if values.is_empty() {
        return format!("seed={seed}");
    }
    let leaf = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
    let short = |k: &str| {
        let l = leaf(k);
        if keys.iter().filter(|o| leaf(o) == l).count() > 1 {
            k.to_string()
        } else {
            l
        }
    };
    values
        .iter()
        .map(|(k, v)| format!("{}={}", short(k), show(v)))
        .collect::<Vec<_>>()
        .join(",")
}
