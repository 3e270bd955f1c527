"""Writes the PyTorch side of aelab's learning-rate schedule test (ae-core/tests/schedules.rs).

Each case is an aelab `train.schedule` config and the torch.optim.lr_scheduler composition it
stands for, run for 200 epochs (or steps) on one SGD optimizer with two param groups of
different base rates. Recorded: `get_last_lr()` before each step, as torch computes it (several
schedulers are recursive: each rate is the previous one times a ratio). The plateau cases are fed
the fixed metric sequences written into the fixture beside them.

  bench/.venv/bin/python bench/pytorch/schedule_fixture.py
"""
import json
import pathlib
import platform

import torch
from torch.optim import lr_scheduler as S

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "ae-core/tests/fixtures/schedules.json"
EPOCHS = 200
BASE_LRS = [0.1, 0.025]


def loss_like():
    """A validation loss that improves, stalls (cuts), improves again, then mostly stalls, with
    a small improvement every 25 epochs; six decimals, so both sides parse the same doubles."""
    out = []
    for e in range(EPOCHS):
        if e < 20:
            v = 1.0 - 0.03 * e
        elif e < 40:
            v = 0.43 + 0.001 * (e % 3)
        elif e < 60:
            v = 0.42 - 0.005 * (e - 40)
        else:
            v = 0.33 * 0.99 ** ((e - 60) // 25) + 0.0005 * (e % 4)
        out.append(round(v, 6))
    return out


METRICS = {"loss": loss_like()}
METRICS["score"] = [-v for v in METRICS["loss"]]


def cosine(opt, t_max, eta_min=0.0, warmup=0, start=1 / 3):
    """aelab's cosine: LinearLR for `warmup` epochs, then CosineAnnealingLR to t_max."""
    if warmup == 0:
        return S.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min)
    linear = S.LinearLR(opt, start_factor=start, end_factor=1.0, total_iters=warmup)
    cos = S.CosineAnnealingLR(opt, T_max=t_max - warmup, eta_min=eta_min)
    return S.SequentialLR(opt, [linear, cos], milestones=[warmup])


def piecewise(points):
    """aelab's piecewise: the factor of the last point at or before the epoch, 1 before any."""

    def factor(epoch):
        f = 1.0
        for e, p in points:
            if e <= epoch:
                f = p
        return f

    return factor


# (aelab config, torch composition as text, constructor, metric sequence or None)
CASES = [
    ({"kind": "constant"}, "no scheduler", None, None),
    ({"kind": "step", "step_size": 30}, "StepLR(step_size=30)", lambda o: S.StepLR(o, 30), None),
    (
        {"kind": "step", "step_size": 7, "gamma": 0.5},
        "StepLR(step_size=7, gamma=0.5)",
        lambda o: S.StepLR(o, 7, gamma=0.5),
        None,
    ),
    (
        {"kind": "step", "step_size": 1, "gamma": 0.97, "per": "step"},
        "StepLR(step_size=1, gamma=0.97), stepped per iteration",
        lambda o: S.StepLR(o, 1, gamma=0.97),
        None,
    ),
    (
        {"kind": "multistep", "milestones": [30, 80]},
        "MultiStepLR(milestones=[30, 80])",
        lambda o: S.MultiStepLR(o, [30, 80]),
        None,
    ),
    (
        {"kind": "multistep", "milestones": [0, 5, 6, 100, 150], "gamma": 0.5},
        "MultiStepLR(milestones=[0, 5, 6, 100, 150], gamma=0.5)",
        lambda o: S.MultiStepLR(o, [0, 5, 6, 100, 150], gamma=0.5),
        None,
    ),
    (
        {"kind": "exponential", "gamma": 0.95},
        "ExponentialLR(gamma=0.95)",
        lambda o: S.ExponentialLR(o, 0.95),
        None,
    ),
    (
        {"kind": "exponential", "gamma": 0.999},
        "ExponentialLR(gamma=0.999)",
        lambda o: S.ExponentialLR(o, 0.999),
        None,
    ),
    (
        {"kind": "cosine", "t_max": 200},
        "CosineAnnealingLR(T_max=200)",
        lambda o: cosine(o, 200),
        None,
    ),
    (
        {"kind": "cosine", "t_max": 200, "eta_min": 1e-4, "warmup": 10, "warmup_start_factor": 0.01},
        "SequentialLR([LinearLR(start_factor=0.01, total_iters=10), "
        "CosineAnnealingLR(T_max=190, eta_min=1e-4)], milestones=[10])",
        lambda o: cosine(o, 200, 1e-4, 10, 0.01),
        None,
    ),
    (
        {"kind": "cosine", "t_max": 65, "eta_min": 0.001, "warmup": 5},
        "SequentialLR([LinearLR(total_iters=5), CosineAnnealingLR(T_max=60, eta_min=0.001)], "
        "milestones=[5]): runs past t_max, where torch's rate rises again",
        lambda o: cosine(o, 65, 0.001, 5),
        None,
    ),
    (
        {"kind": "cosine", "t_max": 150, "warmup": 20, "warmup_start_factor": 0.1, "per": "step"},
        "SequentialLR([LinearLR(start_factor=0.1, total_iters=20), CosineAnnealingLR(T_max=130)], "
        "milestones=[20]), stepped per iteration",
        lambda o: cosine(o, 150, 0.0, 20, 0.1),
        None,
    ),
    (
        {"kind": "piecewise", "points": [[0, 1.0], [10, 0.5], [50, 0.1], [120, 0.01]]},
        "LambdaLR",
        lambda o: S.LambdaLR(o, piecewise([(0, 1.0), (10, 0.5), (50, 0.1), (120, 0.01)])),
        None,
    ),
    (
        {"kind": "piecewise", "points": [[5, 0.2], [100, 2.0]]},
        "LambdaLR",
        lambda o: S.LambdaLR(o, piecewise([(5, 0.2), (100, 2.0)])),
        None,
    ),
    ({"kind": "plateau"}, "ReduceLROnPlateau()", lambda o: S.ReduceLROnPlateau(o), "loss"),
    (
        {"kind": "plateau", "factor": 0.5, "patience": 3, "cooldown": 2, "min_lr": 0.001},
        "ReduceLROnPlateau(factor=0.5, patience=3, cooldown=2, min_lr=0.001)",
        lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=3, cooldown=2, min_lr=0.001),
        "loss",
    ),
    (
        {"kind": "plateau", "mode": "max", "threshold_mode": "abs", "threshold": 0.005, "patience": 5},
        "ReduceLROnPlateau(mode='max', threshold=0.005, threshold_mode='abs', patience=5): "
        "cuts below eps (1e-8) are skipped",
        lambda o: S.ReduceLROnPlateau(o, mode="max", threshold=0.005, threshold_mode="abs", patience=5),
        "score",
    ),
]


def run(make, metric):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in BASE_LRS]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, BASE_LRS)])
    sched = make(opt) if make else None
    rates = []
    for e in range(EPOCHS):
        rates.append(sched.get_last_lr() if sched else [g["lr"] for g in opt.param_groups])
        opt.step()
        if metric is not None:
            sched.step(METRICS[metric][e])
        elif sched is not None:
            sched.step()
    # One list per param group.
    return [list(g) for g in zip(*rates)]


cases = []
for config, torch_form, make, metric in CASES:
    case = {"config": config, "torch": torch_form, "lrs": run(make, metric)}
    if metric:
        case["metric"] = metric
    cases.append(case)

fixture = {
    "torch": torch.__version__,
    "python": platform.python_version(),
    "epochs": EPOCHS,
    "base_lrs": BASE_LRS,
    "metrics": METRICS,
    "cases": cases,
}
OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
print(f"wrote {OUT}: {len(cases)} cases, torch {torch.__version__}")
