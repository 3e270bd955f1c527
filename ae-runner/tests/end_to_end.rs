//! Each variant trains for 2 epochs on 512 real MNIST images from its own experiment file and
//! leaves config.yaml, metrics.csv, test.csv, eval.csv, model.safetensors and the pictures, with
//! finite numbers; a second identical command does nothing; a changed one is refused.

mod common;
use ae_runner::results::yaml;
use common::*;
use std::path::Path;

fn check_png(path: &Path) {
    let dec = png::Decoder::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    );
    let info = dec.read_info().unwrap().info().clone();
    assert!(
        info.width > 28 && info.height > 28,
        "{}: {}x{}",
        path.display(),
        info.width,
        info.height
    );
}

fn run_variant(name: &str, variant: &str, own_metrics: &[&str], has_samples: bool) {
    run_variant_with(name, variant, own_metrics, has_samples, &[]);
}

/// [`run_variant`] with more flags (`--set sweep={}` for a file that sweeps, so that its one
/// run is `seed=0`); returns the results folder, for more checks of the run in `seed=0`.
fn run_variant_with(
    name: &str,
    variant: &str,
    own_metrics: &[&str],
    has_samples: bool,
    extra: &[&str],
) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let o = run_small(&format!("experiments/{name}.yaml"), out.path(), extra);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    let dir = out.path().join(name).join("seed=0");
    assert!(stdout(&o).contains(dir.to_str().unwrap()), "{}", stdout(&o));

    let (header, rows) = read_csv(&dir.join("metrics.csv"));
    assert_eq!(rows.len(), 2, "{name}: one row per epoch");
    for col in [
        "epoch",
        "val_mse",
        "val_psnr",
        "val_bce",
        "seconds",
        "images_per_sec",
    ] {
        assert!(
            header.iter().any(|h| h == col),
            "{name}: no {col} in {header:?}"
        );
    }
    for m in own_metrics {
        assert!(
            header.iter().any(|h| h == &format!("val_{m}")),
            "{name}: no val_{m} in {header:?}"
        );
    }
    assert!(
        rows.iter().flatten().all(|v| v.is_finite()),
        "{name}: {rows:?}"
    );
    assert_eq!(rows[1][0], 2.0);

    let (test_header, test) = read_csv(&dir.join("test.csv"));
    assert_eq!(test.len(), 1);
    // Every column is a number but `weights`, which says which weights were tested.
    assert_eq!(test_header[..2], ["weights", "weights_epoch"]);
    assert!(test[0][1..].iter().all(|v| v.is_finite()), "{test:?}");
    assert_eq!(test[0][1], 2.0, "the last epoch's weights");
    let mse = test[0][test_header.iter().position(|h| h == "mse").unwrap()];
    assert!(mse > 0.0 && mse < 0.25, "{name}: test mse {mse}");

    let cfg = yaml::parse(&std::fs::read_to_string(dir.join("config.yaml")).unwrap()).unwrap();
    assert_eq!(cfg["model"]["variant"].as_str(), Some(variant));
    assert_eq!(cfg["train"]["epochs"].as_u64(), Some(2));
    for k in [
        "git_commit",
        "candle_version",
        "device",
        "threads",
        "started",
    ] {
        assert!(!cfg["provenance"][k].is_null(), "no provenance.{k}");
    }
    let weights =
        candle_core::safetensors::load(dir.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    for net in ["enc.", "dec."] {
        let has = weights.keys().any(|k| k.starts_with(net));
        assert!(has, "{net}: {:?}", weights.keys());
    }
    check_png(&dir.join("reconstructions.png"));
    assert_eq!(
        dir.join("samples.png").exists(),
        has_samples,
        "{name}: samples.png"
    );
    if has_samples {
        check_png(&dir.join("samples.png"));
    }
    // Every model samples from the mixture fitted to its training codes.
    check_png(&dir.join("samples-gmm.png"));
    check_png(&dir.join("interpolations.png"));
    let svg = std::fs::read_to_string(dir.join("latent.svg")).unwrap();
    assert!(
        svg.matches("<circle").count() >= 500,
        "{name}: one circle per test code"
    );

    let (eval_header, eval) = read_csv(&dir.join("eval.csv"));
    let at = |col: &str| {
        let i = eval_header.iter().position(|h| h == col);
        eval[0][i.unwrap_or_else(|| panic!("{name}: no {col} in {eval_header:?}"))]
    };
    // Chance is 0.1: 2 epochs on 512 images already give codes well above it, and 500 raw
    // images give a k-NN and a probe near 0.8.
    for (col, above) in [
        ("probe_acc", 0.15),
        ("knn5_acc", 0.15),
        ("pixel_probe_acc", 0.7),
        ("pixel_knn5_acc", 0.7),
    ] {
        let acc = at(col);
        assert!(acc > above && acc <= 1.0, "{name}: {col} {acc}");
    }
    assert_eq!(at("fit_images"), 500.0);
    // The bound on -log p(x), or on -log p(x|y) for the CVAE, named so.
    let bound = match variant {
        "vae" => Some("iwae100_nll"),
        "cvae" => Some("iwae100_nll_given_label"),
        _ => None,
    };
    let bounds: Vec<&String> = eval_header
        .iter()
        .filter(|h| h.starts_with("iwae") && h.contains("_nll"))
        .collect();
    assert_eq!(bounds, Vec::from_iter(bound), "{name}: {eval_header:?}");
    if let Some(bound) = bound {
        let nll = at(bound);
        // Below 784 ln 2 = 543.4 nats, a coin flip per pixel: the model has learnt something.
        assert!(nll > 50.0 && nll < 543.4, "{name}: {bound} {nll}");
    }

    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(status["status"], "finished");
    let test_names: Vec<&str> = status["test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(test_names.contains(&"probe_acc"), "{test_names:?}");
    out
}

#[test]
fn plain_seed_ae() {
    run_variant("ae", "plain", &[], false);
}

#[test]
fn vae() {
    run_variant("vae", "vae", &["kl", "neg_elbo"], true);
}

#[test]
fn denoising() {
    run_variant(
        "denoising",
        "denoising",
        &["psnr_noisy", "psnr_denoised", "ssim_noisy", "ssim_denoised"],
        false,
    );
}

#[test]
fn dropout() {
    run_variant("dropout", "dropout", &[], false);
}

#[test]
fn adversarial() {
    run_variant("adversarial", "adversarial", &["disc_acc"], true);
}

#[test]
fn rae_on_both_backbones() {
    for arch in ["mlp", "conv"] {
        let set = format!("model.arch={arch}");
        let extra = ["--set", "sweep={}", "--set", set.as_str()];
        run_variant_with("rae", "rae", &["code_norm"], false, &extra);
    }
}

#[test]
fn contractive() {
    let extra = ["--set", "sweep={}"];
    run_variant_with("contractive", "contractive", &["jacobian"], false, &extra);
}

#[test]
fn vqvae_on_both_backbones_with_either_codebook_update() {
    // 10 steps (2 epochs of 512 images) leave the codes collapsed onto a few vectors, as
    // early VQ training does; 50 steps give codes that a probe can read.
    for (arch, ema) in [("mlp", "false"), ("conv", "true")] {
        let (a, e) = (format!("model.arch={arch}"), format!("model.ema={ema}"));
        let mut extra = vec![
            "--set",
            "sweep={}",
            "--set",
            a.as_str(),
            "--set",
            e.as_str(),
        ];
        extra.extend(["--set", "data.train_limit=3000"]);
        run_variant_with("vqvae", "vqvae", &["quantization"], false, &extra);
    }
}

#[test]
fn cvae_on_both_backbones_samples_a_row_per_class() {
    for arch in ["mlp", "conv"] {
        let set = format!("model.arch={arch}");
        let extra = ["--set", set.as_str()];
        let own = ["kl", "neg_elbo_given_label"];
        let out = run_variant_with("cvae", "cvae", &own, true, &extra);
        // 10 rows (one per digit) of 8 samples, each cell 28 x 2 pixels and a gap of 2.
        let png = out.path().join("cvae/seed=0/samples.png");
        let dec = png::Decoder::new(std::fs::File::open(&png).unwrap());
        let info = dec.read_info().unwrap().info().clone();
        assert_eq!(
            (info.width, info.height),
            (8 * 58 + 2, 10 * 58 + 2),
            "{arch}"
        );
    }
}

#[test]
fn wae_samples_its_prior_on_both_backbones() {
    for arch in ["mlp", "conv"] {
        let set = format!("model.arch={arch}");
        let extra = ["--set", "sweep={}", "--set", set.as_str()];
        run_variant_with("wae", "wae", &[], true, &extra);
    }
}

#[test]
fn rerun_skips_refuses_a_changed_config_and_fresh_keeps_the_old_folder() {
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| run_small("experiments/vae.yaml", out.path(), extra);
    let first = run(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let dir = out.path().join("vae/seed=0");
    let before = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();

    let again = run(&[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already finished"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("metrics.csv")).unwrap(),
        before
    );

    let changed = run(&["--set", "model.kl_weight=0.5"]);
    assert_eq!(changed.status.code(), Some(2), "{}", stderr(&changed));
    assert!(
        stderr(&changed).contains("model.kl_weight: 1.0 -> 0.5"),
        "{}",
        stderr(&changed)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("metrics.csv")).unwrap(),
        before
    );

    let fresh = run(&["--set", "model.kl_weight=0.5", "--fresh"]);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(
        std::fs::read_to_string(out.path().join("vae/seed=0.old-1/metrics.csv")).unwrap(),
        before
    );
}

#[test]
fn same_seed_same_numbers() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [&a, &b] {
        assert!(run_small("experiments/denoising.yaml", d.path(), &[])
            .status
            .success());
    }
    let test = |d: &tempfile::TempDir| {
        std::fs::read_to_string(d.path().join("denoising/seed=0/test.csv")).unwrap()
    };
    assert_eq!(test(&a), test(&b));
}

/// The refusal of a changed config names each changed setting, lists included.
#[test]
fn a_changed_list_is_shown_by_its_dotted_key() {
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let args = [
            &["--set", "train.epochs=1", "--set", "data.train_limit=500"],
            extra,
        ]
        .concat();
        run_small("experiments/ae.yaml", out.path(), &args)
    };
    let first = run(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let changed = run(&["--set", "model.hidden=[256,32]"]);
    let err = stderr(&changed);
    assert_eq!(changed.status.code(), Some(2), "{err}");
    assert!(
        err.contains("model.hidden: [256, 64] -> [256, 32]"),
        "{err}"
    );
    assert_eq!(err.matches(" -> ").count(), 1, "one changed setting: {err}");
}

/// The commit a binary was built from, whatever folder it runs in (here one in no repository).
#[test]
fn provenance_names_the_commit_built_from_not_the_current_folder() {
    let out = tempfile::tempdir().unwrap();
    let exp = root().join("experiments/ae.yaml");
    let mut args = vec![exp.to_str().unwrap(), "--out", out.path().to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(&["--set", "train.epochs=1", "--set", "eval.probe=false"]);
    let o = command(&args)
        .current_dir(out.path())
        .env("AE_DATA_DIR", root().join("data"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(out.path().join("ae/seed=0/config.yaml")).unwrap();
    let cfg = yaml::parse(&text).unwrap();
    let built = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| stdout(&o).trim().to_string());
    let recorded = cfg["provenance"]["git_commit"].as_str().unwrap_or_default();
    assert_eq!(recorded, built, "{text}");
    if built != "unknown" {
        assert!(
            recorded.len() == 40 && recorded.bytes().all(|b| b.is_ascii_hexdigit()),
            "{recorded}"
        );
    }
    assert!(cfg["provenance"]["git_dirty"].is_boolean(), "{text}");
}

/// The weights and the checkpoint follow the umask like every other file of a run, so that
/// colleagues on a shared file system can read them.
#[test]
fn every_file_of_a_run_follows_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let mut args = vec!["experiments/ae.yaml", "--out", out.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend(["--set", "train.epochs=1"]);
    let mut c = command(&args);
    // SAFETY: umask is async-signal-safe and touches nothing but the child's file mode mask.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = out.join("ae/seed=0");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() {
            assert_eq!(mode, 0o644, "{name}: {mode:o}");
            seen.push(name);
        }
    }
    for f in ["model.safetensors", "checkpoint.safetensors", "config.yaml"] {
        assert!(seen.iter().any(|s| s == f), "{f} not in {seen:?}");
    }
}
