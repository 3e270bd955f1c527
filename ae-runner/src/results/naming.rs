//! How a value of a swept key appears in a run's folder name, and the folder name itself.

use crate::results::yaml::{self, Value};

/// A value as it appears in a folder name: `0.5`, `vae`, `[256,64]` -> `256-64`.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join("-"),
        Value::Null => "null".into(),
        Value::Number(_) => yaml::inline(v),
        other => yaml::write(other).trim().to_string(),
    }
    .replace(['/', '\\', ',', '='], "_")
}

/// A count with its noun, in the plural unless it is 1: `1 run`, `3 runs`, `2 processes`.
pub fn count(n: usize, noun: &str) -> String {
    match (n, noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        yaml::parse(s).unwrap()
    }

    /// The names of existing run folders: a change here breaks resuming them.
    #[test]
    fn values_the_shipped_experiments_sweep_keep_their_names() {
        let cases = [
            // vae-kl-sweep, denoising-noise-sweep, compare-variants
            ("0.1", "0.1"),
            ("0.25", "0.25"),
            ("0.5", "0.5"),
            ("1", "1"),
            ("1.0", "1.0"),
            ("8", "8"),
            ("0.3", "0.3"),
            ("0.7", "0.7"),
            // seeds, variants, losses, noises, priors, datasets, archs
            ("2", "2"),
            ("vae", "vae"),
            ("bce", "bce"),
            ("masking", "masking"),
            ("fashion-mnist", "fashion-mnist"),
            ("conv", "conv"),
            // hidden, channels, data.classes
            ("[256, 64]", "256-64"),
            ("[32, 64]", "32-64"),
            ("[0]", "0"),
            ("[[1, 2], 3]", "1-2-3"),
            // other shapes a sweep may hold
            ("1.0e-3", "0.001"),
            ("1e-7", "1e-7"),
            ("2.5e10", "25000000000.0"),
            ("-0.5", "-0.5"),
            ("-3", "-3"),
            ("true", "true"),
            ("null", "null"),
            ("'a/b,c=d'", "a_b_c_d"),
            ("{kind: adam, lr: 0.1}", "kind: adam\nlr: 0.1"),
        ];
        for (text, name) in cases {
            assert_eq!(show(&yaml(text)), name, "{text}");
        }
    }

    #[test]
    fn run_names_use_the_last_part_unless_two_keys_share_it() {
        let values = vec![
            ("model.kl_weight".to_string(), yaml("0.5")),
            ("train.seed".to_string(), yaml("1")),
        ];
        let keys: Vec<String> = values.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(run_name(&values, &keys, 1), "kl_weight=0.5,seed=1");
        assert_eq!(run_name(&[], &[], 3), "seed=3");
        let clash = vec![
            ("model.seed".to_string(), yaml("0")),
            ("train.seed".to_string(), yaml("1")),
        ];
        let keys: Vec<String> = clash.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(run_name(&clash, &keys, 1), "model.seed=0,train.seed=1");
    }
}
