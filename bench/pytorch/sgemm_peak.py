"""The machine's FP32 peak for THREADS threads, as the best of 8 PyTorch SGEMMs of 2048x2048,
in GFLOP/s (bench/speed.sh and bench/speed-conv.sh divide achieved FLOP/s by it).

  python sgemm_peak.py THREADS
"""
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]))
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
times = []
for _ in range(8):
    t = time.perf_counter()
    a @ b
    times.append(time.perf_counter() - t)
print(2 * 2048 ** 3 / min(times) / 1e9)
