"""Writes the PyTorch side of aelab's seed-parity test (ae-variants/tests/pytorch_parity.rs).

The seed notebook's AE (784-256-64-20, ReLU after every encoder layer, sigmoid output), built
by PyTorch from torch.manual_seed(0), then 200 Adam steps (lr 1e-3) with nn.MSELoss on fixed
batches of 32 MNIST training images. Saved: the initial weights (`init.<aelab name>`), the
gradients of the first step (`grad0.<name>`), the batches' indices (`idx`) and the 200 losses.

  bench/.venv/bin/python bench/pytorch/parity_fixture.py
"""
import gzip
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "ae-variants/tests/fixtures/seed_ae_torch.safetensors"

torch.set_num_threads(1)
torch.manual_seed(0)
enc = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 20), nn.ReLU())
dec = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())
model = nn.Sequential(enc, dec)
raw = gzip.open(ROOT / "data/mnist/train-images-idx3-ubyte.gz").read()[16:]
x = torch.tensor(np.frombuffer(raw, dtype=np.uint8).reshape(60000, 784).astype(np.float32) / 255.0)

# PyTorch's parameter names -> aelab's (`enc.0` is the first Linear of the encoder).
NAMES = {"0.0": "enc.0", "0.2": "enc.1", "0.4": "enc.2", "1.0": "dec.0", "1.2": "dec.1", "1.4": "dec.2"}


def aelab_name(k):
    layer, kind = k.rsplit(".", 1)
    return f"{NAMES[layer]}.{kind}"


out = {f"init.{aelab_name(k)}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
idx = torch.randint(0, 60000, (200, 32), generator=torch.Generator().manual_seed(123))
out["idx"] = idx.to(torch.int64)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
losses = []
for step in range(200):
    b = x[idx[step]]
    loss = nn.functional.mse_loss(model(b), b)
    opt.zero_grad()
    loss.backward()
    if step == 0:
        for k, p in model.named_parameters():
            out[f"grad0.{aelab_name(k)}"] = p.grad.detach().clone().contiguous()
    opt.step()
    losses.append(loss.item())
out["losses"] = torch.tensor(losses)
save_file(out, str(OUT))
print(f"wrote {OUT}: loss {losses[0]:.6f} -> {losses[-1]:.6f}, torch {torch.__version__}")
