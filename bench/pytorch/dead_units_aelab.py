"""Dead ReLU code units (zero on every test image) of aelab seed-AE runs, from their
model.safetensors (numpy + safetensors).
  bench/.venv/bin/python bench/pytorch/dead_units_aelab.py results/ae/seed=*/model.safetensors
"""
import pathlib
import gzip, numpy as np, sys
from safetensors.numpy import load_file
raw = gzip.open(pathlib.Path(__file__).resolve().parents[2] / 'data/mnist/t10k-images-idx3-ubyte.gz').read()[16:]
x = np.frombuffer(raw, dtype=np.uint8).reshape(10000, 784).astype(np.float32) / 255.0
def code(w):
    h = x
    for i in range(3):
        h = np.maximum(h @ w[f'enc.{i}.weight'].T + w[f'enc.{i}.bias'], 0)
    return h
for p in sys.argv[1:]:
    c = code(load_file(p))
    print(p.split('/')[-2], 'dead code units:', int((c.max(0) == 0).sum()), 'of 20')
