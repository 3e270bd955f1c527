//! Every optimizer against torch.optim: the fixture written by bench/pytorch/optim_fixture.py
//! holds a start, 200 steps of fixed gradients for three f32 tensors and, for each case, torch's
//! parameters after the last step. The same gradients go through the fused CPU pass and the
//! tensor-op path; after 200 steps max |p_aelab - p_torch| / max |p_torch| must stay below 1e-6
//! for every tensor of every case on both.

use ae_core::optim::{Optimizer, OptimizerConfig};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/optim.json");

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// The parameters after the fixture's steps, through `new`'s path.
fn train(
    fixture: &Value,
    cfg: &OptimizerConfig,
    new: fn(Vec<(String, Var)>, OptimizerConfig) -> candle_core::Result<Optimizer>,
) -> Vec<Vec<f32>> {
    let dev = Device::Cpu;
    let shapes: Vec<Vec<usize>> = fixture["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(shape)
        .collect();
    let vars: Vec<Var> = fixture["start"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&shapes)
        .map(|(v, s)| Var::from_tensor(&Tensor::from_vec(floats(v), s.as_slice(), &dev).unwrap()))
        .collect::<candle_core::Result<_>>()
        .unwrap();
    let named = vars
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("p{i}"), v.clone()))
        .collect();
    let mut opt = new(named, cfg.clone()).unwrap();
    for step in fixture["grads"].as_array().unwrap() {
        let mut grads = GradStore::default();
        for ((var, g), s) in vars.iter().zip(step.as_array().unwrap()).zip(&shapes) {
            let g = Tensor::from_vec(floats(g), s.as_slice(), &dev).unwrap();
            grads.insert(var.as_tensor(), g);
        }
        opt.step(&grads).unwrap();
    }
    assert_eq!(opt.steps(), fixture["steps"].as_u64().unwrap() as usize);
    vars.iter()
        .map(|v| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

/// max |a - b| / max |b|, in f64.
fn relative(got: &[f32], want: &[f32]) -> f64 {
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .fold(0.0, f64::max);
    diff / want.iter().map(|b| (*b as f64).abs()).fold(0.0, f64::max)
}

#[test]
fn every_optimizer_matches_torch_after_200_steps() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    println!(
        "torch {}, CPU capability {}",
        fixture["torch"], fixture["cpu_capability"]
    );
    let paths: [(&str, fn(_, _) -> _); 2] = [
        ("fused", Optimizer::new),
        ("tensor ops", Optimizer::with_tensor_ops),
    ];
    let mut failures = Vec::new();
    let mut worst_of_all = 0f64;
    for case in fixture["cases"].as_array().unwrap() {
        let cfg: OptimizerConfig = serde_json::from_value(case["config"].clone()).unwrap();
        cfg.validate("train.optimizer").unwrap();
        let want: Vec<Vec<f32>> = case["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect();
        let mut worst = Vec::new();
        for (path, new) in paths {
            let got = train(&fixture, &cfg, new);
            let errs: Vec<f64> = got.iter().zip(&want).map(|(g, w)| relative(g, w)).collect();
            let e = errs.iter().copied().fold(0.0, f64::max);
            if e.is_nan() || e >= 1e-6 {
                let errs: Vec<String> = errs.iter().map(|e| format!("{e:.1e}")).collect();
                failures.push(format!("{} ({path}): {}", case["torch"], errs.join(", ")));
            }
            worst.push(format!("{e:.1e} {path}"));
            worst_of_all = worst_of_all.max(e);
        }
        println!("{}: {}", worst.join(", "), case["torch"]);
    }
    println!("{worst_of_all:.1e} max relative error over all cases");
    assert!(
        failures.is_empty(),
        "off torch by 1e-6 or more:\n{}",
        failures.join("\n")
    );
}
