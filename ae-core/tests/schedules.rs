//! Every learning-rate schedule against torch.optim.lr_scheduler: the fixture written by
//! bench/pytorch/schedule_fixture.py holds torch's `get_last_lr()` of two param groups for 200
//! epochs (or steps) of each case; every rate must agree within 1e-12 relative.

use ae_core::schedule::{ScheduleConfig, Scheduler};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/schedules.json");

fn relative(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

#[test]
fn every_rate_matches_torch() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let base = floats(&fixture["base_lrs"]);
    let epochs = fixture["epochs"].as_u64().unwrap() as usize;
    println!("torch {}", fixture["torch"]);
    let mut worst = 0f64;
    for case in fixture["cases"].as_array().unwrap() {
        let cfg: ScheduleConfig = serde_json::from_value(case["config"].clone()).unwrap();
        cfg.validate("train.schedule").unwrap();
        let want: Vec<Vec<f64>> = case["lrs"].as_array().unwrap().iter().map(floats).collect();
        let metrics = case["metric"]
            .as_str()
            .map(|m| floats(&fixture["metrics"][m]));
        let mut sched = Scheduler::new(&cfg, &base);
        let mut err = 0f64;
        for t in 0..epochs {
            for (g, lrs) in want.iter().enumerate() {
                let e = relative(sched.lrs()[g], lrs[t]);
                assert!(
                    e <= 1e-12,
                    "{}: epoch {t}, group {g}: {} vs torch {} ({e:e} relative)",
                    case["torch"],
                    sched.lrs()[g],
                    lrs[t]
                );
                err = err.max(e);
            }
            // One batch per epoch: each kind advances once, on the call its `per` names.
            sched.end_step();
            sched.end_epoch(metrics.as_ref().map_or(f64::NAN, |m| m[t]));
        }
        println!("{:.1e} max relative error: {}", err, case["torch"]);
        worst = worst.max(err);
    }
    println!("{worst:.1e} max relative error over all cases");
}
