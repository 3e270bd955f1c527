"""PyTorch twin of aelab's conv autoencoder, for timing one epoch side by side (bench/speed-conv.sh).

The architecture of `model.arch: conv` with `model.channels: [32, 64]`, latent 20: encoder
Conv2d(1, 32, 4, 2, 1) ReLU Conv2d(32, 64, 4, 2, 1) ReLU Flatten Linear(3136, 20); decoder
Linear(20, 3136) ReLU, ConvTranspose2d(64, 32, 4, 2, 1) ReLU,
ConvTranspose2d(32, 1, 4, 2, 1) -> logits (28 -> 14 -> 7 and back, no output padding).
Denoising with gaussian noise of std 0.5 clamped to [0, 1], BCE with logits summed over
pixels, mean over the batch, Adam 1e-3, batch 128, the training set as one tensor and batches
by index (the fast loop). One thread. After the epochs, the test MSE per pixel of the clean
test images' reconstructions, to hold the two sides' training to the same result. (aelab reads its last map channels last, a permutation of
the linear layers' weights: the same function class and cost.)

  python conv_ae.py --epochs 1 --seed 0 --out conv.json
"""
import argparse
import json
import time

import torch
from torch import nn

from mnist_data import as_tensor, mnist, prepare_root


def make_model(latent=20):
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 7 * 7, latent),
    )
    decoder = nn.Sequential(
        nn.Linear(latent, 64 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, 2, 1),
        nn.Flatten(),
    )
    return nn.Sequential(encoder, decoder)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    root = prepare_root()
    x = as_tensor(mnist(root, True))
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
    secs = []
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(len(x)).split(a.batch):
            clean = x[idx]
            noisy = (clean + 0.5 * torch.randn_like(clean)).clamp(0, 1)
            loss = loss_fn(model(noisy), clean) / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        secs.append(time.perf_counter() - t0)
    test = as_tensor(mnist(root, False))
    with torch.no_grad():
        mse = torch.cat([(torch.sigmoid(model(b)) - b).pow(2) for b in test.split(1000)]).mean()
    out = {"sec_per_epoch": secs, "test_mse": mse.item(), "torch": torch.__version__, "threads": 1}
    json.dump(out, open(a.out, "w"))
    print(out)


if __name__ == "__main__":
    main()
