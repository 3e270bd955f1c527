//! The values each metric can take, by its name in the tables, so that a plot's axis never
//! runs past them (an accuracy above 1, a KL below 0). The models declare these ranges beside
//! their metrics (`ae_core::metrics::Metric::range`); results/ knows no model, so they are
//! copied here, and a test checks the copy against every declared metric.

/// The lowest and highest value a metric can take (either may be infinite).
pub type Range = (f64, f64);

pub const NONNEGATIVE: Option<Range> = Some((0.0, f64::INFINITY));
const UNIT: Option<Range> = Some((0.0, 1.0));

/// The metrics and loss terms the models declare, with their ranges.
const DECLARED: &[(&str, Option<Range>)] = &[
    ("mse", UNIT),
    ("psnr", None),
    ("bce", NONNEGATIVE),
    ("loss", None),
    ("recon", NONNEGATIVE),
    ("psnr_gain", None),
    ("psnr_noisy", None),
    ("psnr_denoised", None),
    ("ssim_noisy", Some((-1.0, 1.0))),
    ("ssim_denoised", Some((-1.0, 1.0))),
    ("neg_elbo", None),
    ("neg_elbo_given_label", None),
    ("nll", None),
    ("kl", NONNEGATIVE),
    ("disc", NONNEGATIVE),
    ("gen", NONNEGATIVE),
    ("disc_acc", UNIT),
    ("l1", NONNEGATIVE),
    ("kl_sparsity", NONNEGATIVE),
    ("mmd", None),
    ("code_norm", NONNEGATIVE),
    ("decoder_norm", NONNEGATIVE),
    ("jacobian", NONNEGATIVE),
    ("codebook", NONNEGATIVE),
    ("commitment", NONNEGATIVE),
    ("perplexity", Some((1.0, f64::INFINITY))),
    ("codes_used", UNIT),
    ("quantization", NONNEGATIVE),
];

/// The range of the metric `name` (no split prefix), None where it is unbounded or unknown.
/// Besides the models' metrics, the evaluation's (eval/mod.rs): classifier accuracies
/// (`probe_acc`, `knn5_acc`, `pixel_probe_acc`, ...) and anomaly AUROCs (`auroc_recon`) are
/// fractions, as are the class coverages of samples (`class_coverage`, `class_coverage_gmm`);
/// as are the shares of a conditional model's samples read as the class asked for
/// (`sample_label_acc`); a Frechet distance (`classifier_fd`) is >= 0; the IWAE bound
/// (`iwae100_nll`, `iwae100_nll_given_label`) is unbounded, as a Gaussian likelihood's NLL is.
pub fn bounds(name: &str) -> Option<Range> {
    if let Some((_, range)) = DECLARED.iter().find(|(n, _)| *n == name) {
        return *range;
    }
    let fraction = ["auroc_", "class_coverage", "sample_label_acc"];
    if name.ends_with("_acc") || fraction.iter().any(|p| name.starts_with(p)) {
        return UNIT;
    }
    if name.starts_with("classifier_fd") {
        return NONNEGATIVE;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ae_core::metrics::{self, Metric};
    use ae_variants::{adversarial, contractive, deterministic, rae, sparse, vae, vqvae, wae};
    use std::path::Path;

    const ALL: &[Metric] = &[
        metrics::MSE,
        metrics::PSNR,
        metrics::BCE,
        metrics::LOSS,
        deterministic::RECON,
        deterministic::PSNR_GAIN,
        deterministic::PSNR_NOISY,
        deterministic::PSNR_DENOISED,
        deterministic::SSIM_NOISY,
        deterministic::SSIM_DENOISED,
        vae::NEG_ELBO,
        vae::NEG_ELBO_GIVEN_LABEL,
        vae::NLL,
        vae::KL,
        adversarial::DISC,
        adversarial::GEN,
        adversarial::DISC_ACC,
        sparse::L1,
        sparse::KL_SPARSITY,
        wae::MMD,
        rae::CODE_NORM,
        rae::DECODER_NORM,
        contractive::JACOBIAN,
        vqvae::CODEBOOK,
        vqvae::COMMITMENT,
        vqvae::PERPLEXITY,
        vqvae::CODES_USED,
        vqvae::QUANTIZATION,
    ];

    /// The names in every `Metric::lower("...")` and `Metric::higher("...")` of a crate.
    fn declared_in(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                declared_in(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for way in ["Metric::lower(\"", "Metric::higher(\""] {
                    for part in text.split(way).skip(1) {
                        out.push(part.split('"').next().unwrap().to_string());
                    }
                }
            }
        }
    }

    #[test]
    fn the_table_is_the_ranges_the_models_declare() {
        for m in ALL {
            assert_eq!(bounds(m.name), m.range, "{}", m.name);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut names = Vec::new();
        declared_in(&root.join("ae-core/src"), &mut names);
        declared_in(&root.join("ae-variants/src"), &mut names);
        names.sort();
        let mut listed: Vec<String> = DECLARED.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(
            names, listed,
            "a metric was declared: add it to DECLARED and ALL"
        );
        assert_eq!(ALL.len(), DECLARED.len());
    }

    #[test]
    fn the_evaluations_fractions_are_in_the_unit_range() {
        for name in [
            "probe_acc",
            "knn5_acc",
            "pixel_probe_acc",
            "pixel_knn10_acc",
        ] {
            assert_eq!(bounds(name), UNIT, "{name}");
        }
        assert_eq!(bounds("auroc_recon"), UNIT);
        assert_eq!(bounds("class_coverage_gmm"), UNIT);
        assert_eq!(bounds("sample_label_acc_gmm"), UNIT);
        assert_eq!(bounds("iwae100_nll_given_label"), None);
        assert_eq!(bounds("classifier_fd"), NONNEGATIVE);
        assert_eq!(bounds("iwae100_nll"), None);
        assert_eq!(bounds("no_such_metric"), None);
    }
}
