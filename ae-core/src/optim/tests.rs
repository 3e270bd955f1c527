use super::*;
use candle_core::Device;
use std::collections::HashMap;

/// A config of every kind and every option (names for messages), at rates that move the test
/// tensors visibly in a few steps.
pub(super) fn every_kind() -> Vec<(&'static str, OptimizerConfig)> {
    let of = |kind: Kind, lr: f64, weight_decay: f64| OptimizerConfig {
        kind,
        lr,
        weight_decay,
        grad_clip: None,
    };
    let adam = AdamKeys::default();
    let sgd = SgdKeys::default();
    let rms = RmsPropKeys::default();
    vec![
        ("adam", of(Kind::Adam(adam), 0.01, 0.0)),
        ("adam, l2", of(Kind::Adam(adam), 0.01, 0.1)),
        (
            "adam, beta1 0.3",
            of(Kind::Adam(AdamKeys { beta1: 0.3, ..adam }), 0.01, 0.0),
        ),
        ("adamw", of(Kind::AdamW(adam), 0.01, 0.1)),
        ("sgd", of(Kind::Sgd(sgd), 0.05, 0.0)),
        (
            "sgd, momentum, dampening, l2",
            of(
                Kind::Sgd(SgdKeys {
                    momentum: 0.9,
                    dampening: 0.3,
                    ..sgd
                }),
                0.05,
                0.01,
            ),
        ),
        (
            "sgd, nesterov",
            of(
                Kind::Sgd(SgdKeys {
                    momentum: 0.8,
                    nesterov: true,
                    ..sgd
                }),
                0.05,
                0.0,
            ),
        ),
        ("rmsprop", of(Kind::RmsProp(rms), 0.01, 0.0)),
        (
            "rmsprop, centered",
            of(
                Kind::RmsProp(RmsPropKeys {
                    centered: true,
                    ..rms
                }),
                0.01,
                0.0,
            ),
        ),
        (
            "rmsprop, momentum, l2",
            of(
                Kind::RmsProp(RmsPropKeys {
                    momentum: 0.9,
                    ..rms
                }),
                0.01,
                0.01,
            ),
        ),
        (
            "rmsprop, centered, momentum",
            of(
                Kind::RmsProp(RmsPropKeys {
                    alpha: 0.9,
                    momentum: 0.5,
                    centered: true,
                    ..rms
                }),
                0.01,
                0.0,
            ),
        ),
    ]
}

/// Adam by hand, in f64, on f(w) = sum(c * w^2) with L2 weight decay.
fn reference(w0: &[f64], c: &[f64], cfg: &OptimizerConfig, steps: usize) -> Vec<f64> {
    let Kind::Adam(a) = cfg.kind else {
        unreachable!()
    };
    let (mut w, mut m, mut v) = (w0.to_vec(), vec![0.0; w0.len()], vec![0.0; w0.len()]);
    for t in 1..=steps {
        let norm = (0..w.len())
            .map(|i| (2.0 * c[i] * w[i]).powi(2))
            .sum::<f64>()
            .sqrt();
        let scale = cfg
            .grad_clip
            .map_or(1.0, |clip| (clip / (norm + 1e-6)).min(1.0));
        for i in 0..w.len() {
            let g = scale * 2.0 * c[i] * w[i] + cfg.weight_decay * w[i];
            m[i] = a.beta1 * m[i] + (1.0 - a.beta1) * g;
            v[i] = a.beta2 * v[i] + (1.0 - a.beta2) * g * g;
            let mh = m[i] / (1.0 - a.beta1.powi(t as i32));
            let vh = v[i] / (1.0 - a.beta2.powi(t as i32));
            w[i] -= cfg.lr * mh / (vh.sqrt() + a.eps);
        }
    }
    w
}

fn run_adam(cfg: &OptimizerConfig, steps: usize) -> Result<Vec<f32>> {
    let dev = Device::Cpu;
    let var = Var::from_tensor(&Tensor::new(&[[1f32, -2.0, 0.5], [3.0, -0.1, 0.0]], &dev)?)?;
    let ct = Tensor::new(&[[1f32, 0.5, 2.0], [0.1, 3.0, 1.0]], &dev)?;
    let mut opt = Optimizer::new(vec![("w".into(), var.clone())], cfg.clone())?;
    for _ in 0..steps {
        opt.backward_step(&(var.as_tensor().sqr()? * &ct)?.sum_all()?)?;
    }
    assert_eq!(opt.steps(), steps);
    var.as_tensor().flatten_all()?.to_vec1::<f32>()
}

#[test]
fn matches_adam_by_hand_with_and_without_clipping() -> Result<()> {
    let w0 = [1.0, -2.0, 0.5, 3.0, -0.1, 0.0];
    let c = [1.0, 0.5, 2.0, 0.1, 3.0, 1.0];
    for grad_clip in [None, Some(0.5)] {
        let cfg = OptimizerConfig {
            lr: 0.05,
            weight_decay: 0.1,
            grad_clip,
            ..Default::default()
        };
        let got = run_adam(&cfg, 20)?;
        let want = reference(&w0, &c, &cfg, 20);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (*g as f64 - w).abs() < 1e-5,
                "{grad_clip:?}: {got:?} vs {want:?}"
            );
        }
    }
    // Clipping changes the trajectory (the gradient norm starts near 8).
    let plain = run_adam(
        &OptimizerConfig {
            lr: 0.05,
            ..Default::default()
        },
        3,
    )?;
    let clipped = run_adam(
        &OptimizerConfig {
            lr: 0.05,
            grad_clip: Some(0.1),
            ..Default::default()
        },
        3,
    )?;
    assert_ne!(plain, clipped);
    Ok(())
}

/// Three variables (one without a gradient on odd steps) and their loss at step `t`.
struct Problem {
    vars: Vec<Var>,
    c: Tensor,
}

impl Problem {
    fn new() -> Result<Self> {
        let dev = Device::Cpu;
        let vars = [
            Tensor::new(&[1f32, -2.0, 0.5], &dev)?,
            Tensor::new(&[[0.3f32, -1.2], [2.0, 0.0]], &dev)?,
            Tensor::new(&[0.7f32], &dev)?,
        ];
        Ok(Self {
            vars: vars.iter().map(Var::from_tensor).collect::<Result<_>>()?,
            c: Tensor::new(&[2f32, 0.5, 1.0], &dev)?,
        })
    }

    fn named(&self) -> Vec<(String, Var)> {
        let names = ["a", "b", "c"];
        names
            .iter()
            .map(|n| n.to_string())
            .zip(self.vars.clone())
            .collect()
    }

    fn loss(&self, t: usize) -> Result<Tensor> {
        let [a, b, c] = [0, 1, 2].map(|i| self.vars[i].as_tensor());
        let l = ((a.sqr()? * &self.c)?.sum_all()? + (b.sin()?.sum_all()? * 0.5)?)?;
        if t.is_multiple_of(2) {
            l + (c.sqr()?.sum_all()? * (t as f64 * 0.1))?
        } else {
            Ok(l)
        }
    }

    fn values(&self) -> Result<Vec<Vec<f32>>> {
        self.vars
            .iter()
            .map(|v| v.as_tensor().flatten_all()?.to_vec1::<f32>())
            .collect()
    }
}

#[test]
fn state_round_trip_continues_identically_for_every_kind() -> Result<()> {
    for (label, cfg) in every_kind() {
        let a = Problem::new()?;
        let mut opt_a = Optimizer::new(a.named(), cfg.clone())?;
        for t in 0..5 {
            opt_a.backward_step(&a.loss(t)?)?;
        }
        let saved: HashMap<String, Tensor> = opt_a.state()?.into_iter().collect();
        let rows = cfg.state_rows().len();
        assert_eq!(saved.len(), 1 + if rows > 0 { 3 } else { 0 }, "{label}");
        let b = Problem::new()?;
        for (vb, va) in b.vars.iter().zip(&a.vars) {
            vb.set(va.as_tensor())?;
        }
        let mut opt_b = Optimizer::new(b.named(), cfg.clone())?;
        opt_b.restore(&|k| {
            saved
                .get(k)
                .cloned()
                .ok_or_else(|| candle_core::Error::Msg(format!("no {k}")))
        })?;
        assert_eq!(opt_b.steps(), 5);
        for t in 5..10 {
            opt_a.backward_step(&a.loss(t)?)?;
            opt_b.backward_step(&b.loss(t)?)?;
        }
        assert_eq!(a.values()?, b.values()?, "{label}");
    }
    Ok(())
}

#[test]
fn a_state_of_the_wrong_shape_is_refused_naming_the_rows() -> Result<()> {
    let p = Problem::new()?;
    let centered = every_kind()
        .into_iter()
        .find(|(l, _)| *l == "rmsprop, centered, momentum")
        .unwrap()
        .1;
    let mut opt = Optimizer::new(p.named(), centered)?;
    let err = opt
        .restore(&|k| match k {
            "steps" => Tensor::new(&[3i64], &Device::Cpu),
            _ => Tensor::zeros((2, 3), DType::F32, &Device::Cpu),
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[2, 3]") && err.contains("square_avg, grad_avg, momentum_buffer"),
        "{err}"
    );
    Ok(())
}

#[test]
fn tensor_op_path_matches_the_fused_cpu_path_for_every_kind() -> Result<()> {
    for (label, cfg) in every_kind() {
        for grad_clip in [None, Some(0.5)] {
            let cfg = OptimizerConfig { grad_clip, ..cfg };
            let (fused, ops) = (Problem::new()?, Problem::new()?);
            let mut opt_f = Optimizer::new(fused.named(), cfg.clone())?;
            let mut opt_o = Optimizer::with_tensor_ops(ops.named(), cfg.clone())?;
            assert!(matches!(opt_f.state[0], State::Host(_)));
            assert!(matches!(opt_o.state[0], State::Device(_)));
            for t in 0..8 {
                // A schedule's rate, changed between steps.
                opt_f.set_lr(cfg.lr * (1.0 - 0.1 * t as f64));
                opt_o.set_lr(opt_f.lr());
                opt_f.backward_step(&fused.loss(t)?)?;
                opt_o.backward_step(&ops.loss(t)?)?;
            }
            assert_eq!(
                fused.values()?,
                ops.values()?,
                "{label}, clip {grad_clip:?}"
            );
            let state = |o: &Optimizer| -> Result<Vec<Vec<f32>>> {
                o.state()?
                    .iter()
                    .filter(|(k, _)| k != "steps")
                    .map(|(_, t)| t.flatten_all()?.to_vec1::<f32>())
                    .collect()
            };
            assert_eq!(
                state(&opt_f)?,
                state(&opt_o)?,
                "{label}, clip {grad_clip:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn the_rate_is_the_configured_one_until_set() -> Result<()> {
    let p = Problem::new()?;
    let mut opt = Optimizer::new(p.named(), OptimizerConfig::of_kind("sgd").unwrap())?;
    assert_eq!(opt.lr(), 1e-3);
    opt.set_lr(0.5);
    assert_eq!((opt.lr(), opt.config().lr), (0.5, 1e-3));
    // SGD without momentum moves by exactly lr x gradient: 0.5 x 2 x 2 x 1 for a[0].
    opt.backward_step(&p.loss(1)?)?;
    assert_eq!(p.values()?[0][0], 1.0 - 2.0);
    Ok(())
}

#[test]
fn rejects_impossible_settings() {
    let with = |kind: &str, f: &dyn Fn(&mut OptimizerConfig)| {
        let mut cfg = OptimizerConfig::of_kind(kind).unwrap();
        f(&mut cfg);
        cfg.validate("train.optimizer").err().map(|e| e.key)
    };
    let sgd = |f: &dyn Fn(&mut SgdKeys)| {
        with("sgd", &|c| {
            if let Kind::Sgd(s) = &mut c.kind {
                f(s)
            }
        })
    };
    let rms = |f: &dyn Fn(&mut RmsPropKeys)| {
        with("rmsprop", &|c| {
            if let Kind::RmsProp(r) = &mut c.kind {
                f(r)
            }
        })
    };
    let adam = |kind: &str, f: &dyn Fn(&mut AdamKeys)| {
        with(kind, &|c| {
            if let Kind::Adam(a) | Kind::AdamW(a) = &mut c.kind {
                f(a)
            }
        })
    };
    let key = |k: &str| Some(format!("train.optimizer.{k}"));
    for kind in KINDS {
        assert_eq!(
            with(kind, &|_| {}),
            None,
            "{kind}: torch's defaults are allowed"
        );
        assert_eq!(with(kind, &|c| c.lr = 0.0), key("lr"));
        assert_eq!(with(kind, &|c| c.weight_decay = -1e-3), key("weight_decay"));
        assert_eq!(with(kind, &|c| c.grad_clip = Some(0.0)), key("grad_clip"));
    }
    assert_eq!(adam("adam", &|a| a.beta2 = 1.0), key("beta2"));
    assert_eq!(adam("adamw", &|a| a.beta1 = -0.1), key("beta1"));
    assert_eq!(adam("adamw", &|a| a.eps = 0.0), key("eps"));
    assert_eq!(sgd(&|s| s.momentum = -0.5), key("momentum"));
    assert_eq!(sgd(&|s| s.dampening = 1.5), key("dampening"));
    assert_eq!(sgd(&|s| s.nesterov = true), key("nesterov"));
    assert_eq!(
        sgd(&|s| {
            s.nesterov = true;
            s.momentum = 0.9;
            s.dampening = 0.1;
        }),
        key("nesterov")
    );
    assert_eq!(
        sgd(&|s| {
            s.nesterov = true;
            s.momentum = 0.9;
        }),
        None
    );
    assert_eq!(rms(&|r| r.alpha = 1.0), key("alpha"));
    assert_eq!(rms(&|r| r.eps = -1e-8), key("eps"));
    assert_eq!(rms(&|r| r.momentum = -0.1), key("momentum"));
}

mod keys {
    use super::*;
    use serde_json::json;

    fn read(v: serde_json::Value) -> std::result::Result<OptimizerConfig, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn each_kind_has_torchs_defaults_and_writes_only_its_keys() {
        let adam = read(json!({})).unwrap();
        assert_eq!(adam, OptimizerConfig::default());
        assert_eq!(
            serde_json::to_value(&adam).unwrap(),
            json!({"kind": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                   "weight_decay": 0.0, "grad_clip": null})
        );
        let adamw = read(json!({"kind": "adamw"})).unwrap();
        assert_eq!((adamw.lr, adamw.weight_decay), (1e-3, 0.01));
        let sgd = serde_json::to_value(read(json!({"kind": "sgd"})).unwrap()).unwrap();
        assert_eq!(
            sgd,
            json!({"kind": "sgd", "lr": 0.001, "momentum": 0.0, "dampening": 0.0,
                   "nesterov": false, "weight_decay": 0.0, "grad_clip": null})
        );
        let rms = serde_json::to_value(read(json!({"kind": "rmsprop"})).unwrap()).unwrap();
        assert_eq!(
            rms,
            json!({"kind": "rmsprop", "lr": 0.01, "alpha": 0.99, "eps": 1e-8,
                   "momentum": 0.0, "centered": false, "weight_decay": 0.0, "grad_clip": null})
        );
        for kind in KINDS {
            let cfg = OptimizerConfig::of_kind(kind).unwrap();
            let written = serde_json::to_value(&cfg).unwrap();
            let names: Vec<&str> = written
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(names, super::super::keys::keys_of(kind), "{kind}");
            assert_eq!(read(written).unwrap(), cfg, "{kind} reads back");
        }
    }

    #[test]
    fn keys_come_in_any_order_and_set_what_they_name() {
        let cfg = read(
            json!({"lr": 0.1, "centered": true, "momentum": 0.5, "alpha": 0.9,
                              "grad_clip": 2, "kind": "rmsprop", "weight_decay": 0.01}),
        )
        .unwrap();
        assert_eq!(
            cfg,
            OptimizerConfig {
                kind: Kind::RmsProp(RmsPropKeys {
                    alpha: 0.9,
                    eps: 1e-8,
                    momentum: 0.5,
                    centered: true
                }),
                lr: 0.1,
                weight_decay: 0.01,
                grad_clip: Some(2.0),
            }
        );
        let sgd = read(json!({"kind": "sgd", "momentum": 0.9, "nesterov": true})).unwrap();
        assert_eq!(
            sgd.kind,
            Kind::Sgd(SgdKeys {
                momentum: 0.9,
                dampening: 0.0,
                nesterov: true
            })
        );
    }

    #[test]
    fn a_key_of_another_kind_names_the_key_and_both_kinds() {
        let err = read(json!({"kind": "adam", "momentum": 0.9})).unwrap_err();
        assert!(
            err.starts_with("unknown field `momentum`, expected one of `kind`, `lr`, `beta1`"),
            "{err}"
        );
        assert!(
            err.contains("; for kind `adam` (it is a key of sgd and rmsprop)"),
            "{err}"
        );
        let err = read(json!({"beta1": 0.8, "kind": "sgd"})).unwrap_err();
        assert!(
            err.contains("unknown field `beta1`") && err.contains("kind `sgd`"),
            "{err}"
        );
        assert!(err.contains("a key of adam and adamw"), "{err}");
        // The default kind is adam.
        let err = read(json!({"centered": true})).unwrap_err();
        assert!(
            err.contains("for kind `adam` (it is a key of rmsprop)"),
            "{err}"
        );
        // A key of no kind: serde's own message, with the kind's keys.
        let err = read(json!({"kind": "sgd", "momentun": 0.9})).unwrap_err();
        assert!(
            err.starts_with("unknown field `momentun`, expected one of"),
            "{err}"
        );
        assert!(
            err.contains("`nesterov`") && !err.contains("beta1"),
            "{err}"
        );
        let err = read(json!({"kind": "sgdd"})).unwrap_err();
        assert!(
            err.contains("unknown variant `sgdd`") && err.contains("`rmsprop`"),
            "{err}"
        );
        let err = read(json!({"kind": "sgd", "nesterov": 1})).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
    }
}
