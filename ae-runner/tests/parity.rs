//! `ae-runner parity`: on a machine without a GPU it can only check the CPU against itself,
//! which is a determinism check of one training step for every variant (same seed, same
//! bits); on a GPU the same command is the CUDA check of scripts/gpu-check.sh.

mod common;
use common::{ae_runner, stderr, stdout};

#[test]
fn one_step_is_bit_identical_for_every_variant_and_gradient() {
    let o = ae_runner(&[
        "parity",
        "experiments/compare-variants.yaml",
        "--device",
        "cpu",
        "--set",
        "data.train_limit=256",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{out}", stderr(&o));
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("| seed=0,")).collect();
    for variant in ["plain", "denoising", "dropout", "adversarial", "vae"] {
        let of: Vec<&&str> = rows
            .iter()
            .filter(|l| {
                l.contains(&format!("variant={variant},"))
                    || l.contains(&format!("variant={variant} "))
            })
            .collect();
        // A loss and the gradient of every weight and bias (three layers each way at least).
        assert!(of.iter().any(|l| l.contains("| loss ")), "{variant}: {out}");
        let grads = of.iter().filter(|l| l.contains("| grad ")).count();
        assert!(grads >= 12, "{variant}: {grads} gradients\n{out}");
    }
    assert!(rows.iter().all(|l| l.ends_with("| 0.00e0 |")), "{out}");
    assert!(
        out.contains("worst 0.00e0") && out.contains(": pass"),
        "{out}"
    );
}

#[test]
fn an_impossible_device_is_a_clear_error() {
    let o = ae_runner(&["parity", "experiments/vae.yaml", "--device", "gpu"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cuda:N"), "{}", stderr(&o));
}
