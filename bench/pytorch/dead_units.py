"""The seed AE in PyTorch with the one-tensor loop, 10 epochs per seed: test MSE and the number
of dead ReLU code units (zero on every test image) after each epoch. Used for the README's
seed-parity paragraph.   bench/.venv/bin/python bench/pytorch/dead_units.py 0 1 2 ...
"""
import gzip, pathlib, sys

import numpy as np
import torch
from torch import nn

DATA = str(pathlib.Path(__file__).resolve().parents[2] / "data/mnist")
torch.set_num_threads(1)
raw = gzip.open(DATA + '/train-images-idx3-ubyte.gz').read()[16:]
x = torch.tensor(np.frombuffer(raw, dtype=np.uint8).reshape(60000, 784).astype(np.float32) / 255.0)
rawt = gzip.open(DATA + '/t10k-images-idx3-ubyte.gz').read()[16:]
xt = torch.tensor(np.frombuffer(rawt, dtype=np.uint8).reshape(10000, 784).astype(np.float32) / 255.0)
for seed in [int(s) for s in sys.argv[1:]]:
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(784,256), nn.ReLU(), nn.Linear(256,64), nn.ReLU(), nn.Linear(64,20), nn.ReLU())
    dec = nn.Sequential(nn.Linear(20,64), nn.ReLU(), nn.Linear(64,256), nn.ReLU(), nn.Linear(256,784), nn.Sigmoid())
    m = nn.Sequential(enc, dec); opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    dead_after = []
    for ep in range(10):
        perm = torch.randperm(60000)
        for i in range(0, 60000, 32):
            b = x[perm[i:i+32]]
            loss = nn.functional.mse_loss(m(b), b); opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            dead_after.append(int((enc(xt).max(0).values == 0).sum()))
    with torch.no_grad():
        mse = ((m(xt) - xt) ** 2).mean().item()
    print(f"seed {seed}: test mse {mse:.6f}, dead code units per epoch {dead_after}", flush=True)
