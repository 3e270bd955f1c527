"""Writes the PyTorch side of aelab's optimizer test (ae-core/tests/optim.rs).

Each case is an aelab `train.optimizer` config and the torch.optim optimizer it stands for
(single-tensor implementation: foreach=False, fused=False, maximize and differentiable False),
run for 200 steps on the same three f32 tensors from the same start, fed the same gradients
every step. The gradients do not depend on the parameters: they are a fixed, seeded sequence,
stored in the fixture (four significant digits, so that both sides parse the same doubles and
round them to the same f32). `grad_clip` is torch.nn.utils.clip_grad_norm_ over the
optimizer's parameters before each step. Recorded: the parameters after the last step.

  bench/.venv/bin/python bench/pytorch/optim_fixture.py
"""
import json
import pathlib
import platform

import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "ae-core/tests/fixtures/optim.json"
STEPS = 200
# 3 and 12 elements: only torch's scalar loop; 40: its vector loop (32 at AVX-512) and a tail.
SHAPES = [[3], [4, 3], [5, 8]]
# Gradient size per tensor: Adam and RMSprop divide by a running size, SGD does not.
SCALES = [1.0, 0.1, 0.01]


def four_digits(t):
    return [float(f"{x:.4g}") for x in t.flatten().tolist()]


gen = torch.Generator().manual_seed(16)
START = [four_digits(torch.randn(s, generator=gen)) for s in SHAPES]
# Step t's gradients: noise around a fixed direction, their size cycling over 7 steps, so
# that a gradient-norm clip applies on some steps and not on others.
DIRECTION = [torch.randn(s, generator=gen) for s in SHAPES]
GRADS = [
    [
        four_digits(scale * (0.3 + 0.3 * (t % 7)) * (d + torch.randn(s, generator=gen)))
        for s, d, scale in zip(SHAPES, DIRECTION, SCALES)
    ]
    for t in range(STEPS)
]

SINGLE = {"foreach": False}
O = torch.optim

# (aelab config, torch optimizer as text, constructor)
CASES = [
    ({"kind": "adam"}, "Adam()", lambda p: O.Adam(p, **SINGLE)),
    ({"kind": "adam", "lr": 1e-2}, "Adam(lr=1e-2)", lambda p: O.Adam(p, lr=1e-2, **SINGLE)),
    (
        {"kind": "adam", "lr": 1e-2, "weight_decay": 0.1},
        "Adam(lr=1e-2, weight_decay=0.1)",
        lambda p: O.Adam(p, lr=1e-2, weight_decay=0.1, **SINGLE),
    ),
    (
        {"kind": "adam", "lr": 5e-3, "beta1": 0.3, "beta2": 0.9, "eps": 1e-6},
        "Adam(lr=5e-3, betas=(0.3, 0.9), eps=1e-6): lerp's weight >= 0.5 branch",
        lambda p: O.Adam(p, lr=5e-3, betas=(0.3, 0.9), eps=1e-6, **SINGLE),
    ),
    (
        {"kind": "adam", "lr": 1e-2, "grad_clip": 1.0},
        "clip_grad_norm_(max_norm=1.0), Adam(lr=1e-2)",
        lambda p: O.Adam(p, lr=1e-2, **SINGLE),
    ),
    ({"kind": "adamw"}, "AdamW()", lambda p: O.AdamW(p, **SINGLE)),
    (
        {"kind": "adamw", "lr": 1e-2, "weight_decay": 0.1},
        "AdamW(lr=1e-2, weight_decay=0.1)",
        lambda p: O.AdamW(p, lr=1e-2, weight_decay=0.1, **SINGLE),
    ),
    ({"kind": "sgd", "lr": 1e-2}, "SGD(lr=1e-2)", lambda p: O.SGD(p, lr=1e-2, **SINGLE)),
    (
        {"kind": "sgd", "lr": 1e-2, "momentum": 0.9},
        "SGD(lr=1e-2, momentum=0.9)",
        lambda p: O.SGD(p, lr=1e-2, momentum=0.9, **SINGLE),
    ),
    (
        {"kind": "sgd", "lr": 1e-2, "momentum": 0.9, "dampening": 0.5},
        "SGD(lr=1e-2, momentum=0.9, dampening=0.5)",
        lambda p: O.SGD(p, lr=1e-2, momentum=0.9, dampening=0.5, **SINGLE),
    ),
    (
        {"kind": "sgd", "lr": 1e-2, "momentum": 0.9, "nesterov": True},
        "SGD(lr=1e-2, momentum=0.9, nesterov=True)",
        lambda p: O.SGD(p, lr=1e-2, momentum=0.9, nesterov=True, **SINGLE),
    ),
    (
        {"kind": "sgd", "lr": 1e-2, "momentum": 0.5, "weight_decay": 0.01},
        "SGD(lr=1e-2, momentum=0.5, weight_decay=0.01)",
        lambda p: O.SGD(p, lr=1e-2, momentum=0.5, weight_decay=0.01, **SINGLE),
    ),
    (
        {"kind": "sgd", "lr": 1e-2, "weight_decay": 0.1, "grad_clip": 2.0},
        "clip_grad_norm_(max_norm=2.0), SGD(lr=1e-2, weight_decay=0.1)",
        lambda p: O.SGD(p, lr=1e-2, weight_decay=0.1, **SINGLE),
    ),
    ({"kind": "rmsprop"}, "RMSprop()", lambda p: O.RMSprop(p, **SINGLE)),
    (
        {"kind": "rmsprop", "lr": 1e-3, "momentum": 0.9},
        "RMSprop(lr=1e-3, momentum=0.9)",
        lambda p: O.RMSprop(p, lr=1e-3, momentum=0.9, **SINGLE),
    ),
    (
        {"kind": "rmsprop", "lr": 1e-3, "centered": True},
        "RMSprop(lr=1e-3, centered=True)",
        lambda p: O.RMSprop(p, lr=1e-3, centered=True, **SINGLE),
    ),
    (
        {
            "kind": "rmsprop",
            "lr": 1e-3,
            "alpha": 0.9,
            "centered": True,
            "momentum": 0.5,
            "weight_decay": 0.01,
        },
        "RMSprop(lr=1e-3, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.01)",
        lambda p: O.RMSprop(
            p, lr=1e-3, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.01, **SINGLE
        ),
    ),
]


def run(config, make):
    params = [
        torch.tensor(v, dtype=torch.float32).reshape(s).requires_grad_()
        for v, s in zip(START, SHAPES)
    ]
    opt = make(params)
    clip = config.get("grad_clip")
    for t in range(STEPS):
        for p, g, s in zip(params, GRADS[t], SHAPES):
            p.grad = torch.tensor(g, dtype=torch.float32).reshape(s)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip, foreach=False)
        opt.step()
    # f32 values as doubles: exact, and read back to the same f32.
    return [p.detach().flatten().tolist() for p in params]


torch.set_num_threads(1)
cases = [
    {"config": config, "torch": torch_form, "params": run(config, make)}
    for config, torch_form, make in CASES
]
fixture = {
    "torch": torch.__version__,
    "python": platform.python_version(),
    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    "steps": STEPS,
    "shapes": SHAPES,
    "start": START,
    "grads": GRADS,
    "cases": cases,
}
OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
print(f"wrote {OUT}: {len(cases)} cases, torch {torch.__version__}")
