//! Every shipped experiment file passes `--check`, `--check` writes nothing, and every model of
//! the registry is trained by some experiment file.

mod common;
use ae_runner::results::yaml::{self, Value};
use common::*;

#[test]
fn every_experiment_file_checks() {
    let out = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut variants = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(root().join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let rel = format!(
                "experiments/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            let o = ae_runner(&[&rel, "--check", "--out", out.path().to_str().unwrap()]);
            assert!(o.status.success(), "{rel}: {}", stderr(&o));
            // One resolved config per run (a sweep prints one YAML document per run).
            let text = stdout(&o);
            let runs: Vec<Value> = serde_saphyr::from_str_multiple(&text).unwrap();
            assert!(!runs.is_empty(), "{rel}");
            for resolved in runs {
                let variant = resolved["model"]["variant"].as_str();
                variants.insert(variant.expect("a variant").to_string());
                assert!(resolved["train"]["optimizer"]["lr"].as_f64().unwrap() > 0.0);
            }
            n += 1;
        }
    }
    assert!(n >= 5, "only {n} experiment files");
    for name in ae_variants::registry::names() {
        assert!(
            variants.contains(name),
            "no experiment file trains `{name}` (only {variants:?})"
        );
    }
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "--check wrote files"
    );
}

#[test]
fn check_prints_the_seed_architecture_with_defaults_resolved() {
    let o = ae_runner(&["experiments/ae.yaml", "--check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = yaml::parse(&stdout(&o)).unwrap();
    assert_eq!(r["model"]["hidden"], yaml::parse("[256, 64]").unwrap());
    assert_eq!(r["model"]["latent_dim"].as_u64(), Some(20));
    assert_eq!(r["model"]["code_activation"].as_str(), Some("relu"));
    assert_eq!(r["train"]["optimizer"]["weight_decay"].as_f64(), Some(0.0));
    assert_eq!(r["train"]["batch_size"].as_u64(), Some(32));
}

#[test]
fn set_overrides_reach_the_resolved_config() {
    let o = ae_runner(&[
        "experiments/vae.yaml",
        "--check",
        "--set",
        "model.kl_weight=0.25",
        "--set",
        "train.optimizer.lr=3e-4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = yaml::parse(&stdout(&o)).unwrap();
    assert_eq!(r["model"]["kl_weight"].as_f64(), Some(0.25));
    assert_eq!(r["train"]["optimizer"]["lr"].as_f64(), Some(3e-4));
}

#[test]
fn compare_variants_trains_every_model_of_the_registry_on_the_same_seeds() {
    let o = ae_runner(&["experiments/compare-variants.yaml", "--check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let runs: Vec<Value> = serde_saphyr::from_str_multiple(&stdout(&o)).unwrap();
    let mut seeds = std::collections::BTreeMap::<String, Vec<u64>>::new();
    for r in &runs {
        let variant = r["model"]["variant"].as_str().unwrap().to_string();
        seeds
            .entry(variant)
            .or_default()
            .push(r["train"]["seed"].as_u64().unwrap());
        assert_eq!(r["eval"]["classifier_fd"].as_bool(), Some(true));
    }
    let mut names = ae_variants::registry::names();
    names.sort();
    assert_eq!(seeds.keys().map(String::as_str).collect::<Vec<_>>(), names);
    for (variant, s) in seeds {
        assert_eq!(s, [0, 1, 2], "{variant}");
    }
}
