"""PyTorch side of the paper protocol of experiments/vae-nll.yaml and iwae-nll.yaml (Burda et
al. 2016, one stochastic layer), for comparing the test NLL of the two at a budget that fits:

  encoder 784-200-200 (tanh), linear heads 200->50 for mu and logvar; decoder 50-200-200-784
  (tanh, tanh, linear) emitting Bernoulli logits; weights Glorot-uniform, biases 0 (aelab's
  `init: xavier_uniform`);
  the last 400 training images held out (aelab's `data.val_size: 400`), the other 59600
  binarized afresh every batch (dynamic binarization), batch 20, shuffled every epoch;
  Adam(lr 1e-3, eps 1e-4) with the piecewise rate 1e-3 x 10^(-i/7) for 3^i passes (LambdaLR);
  training loss per image -log (1/k) sum_j w_j with k = --train-samples draws (1: the ELBO);
  at the end, -log p(x) by the IWAE bound with --k samples on the first --test-images test
  images, binarized once with a fixed generator.

torch.set_num_threads(1) by default, as the other baselines. --epochs 40 is the truncated
protocol (stages i = 0..3); 3280 is the whole.

  python nll_protocol.py --seeds 0 --epochs 40 --train-samples 1 --out vae.json
  python nll_protocol.py --seeds 0 --epochs 40 --train-samples 50 --out iwae.json
"""
import argparse
import json
import math
import time

import torch
from torch import nn

from mnist_data import DEFAULT_ROOT, as_tensor, mnist, prepare_root

STAGES = 8  # i = 0..7: 3^i passes each, 3280 in all


def rate_factor(epoch):
    """10^(-i/7) in stage i, which spans passes [(3^i - 1) / 2, (3^(i+1) - 1) / 2)."""
    for i in range(STAGES):
        if epoch < (3 ** (i + 1) - 1) // 2:
            return 10 ** (-i / 7)
    return 10 ** (-(STAGES - 1) / 7)


class VAE(nn.Module):
    def __init__(self, hidden=200, code=50):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(784, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.mu = nn.Linear(hidden, code)
        self.logvar = nn.Linear(hidden, code)
        self.decoder = nn.Sequential(
            nn.Linear(code, hidden), nn.Tanh(),
            nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, 784),
        )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def log_weights(self, x, k, generator=None):
        """log p(x, z_j) - log q(z_j | x) for k draws per image, as [n, k]."""
        h = self.trunk(x)
        mu, logvar = self.mu(h), self.logvar(h)
        eps = torch.randn((x.shape[0], k, mu.shape[1]), generator=generator, device=x.device)
        std = torch.exp(0.5 * logvar).unsqueeze(1)
        z = mu.unsqueeze(1) + std * eps
        logits = self.decoder(z)
        log_px_z = -nn.functional.binary_cross_entropy_with_logits(
            logits, x.unsqueeze(1).expand_as(logits), reduction="none").sum(-1)
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        log_pz = (-0.5 * z.pow(2) - half_log_2pi).sum(-1)
        log_qz = (-0.5 * eps.pow(2) - 0.5 * logvar.unsqueeze(1) - half_log_2pi).sum(-1)
        return log_px_z + log_pz - log_qz


def bound(lw):
    """-log (1/k) sum_j exp(lw_j) per image."""
    return -(torch.logsumexp(lw, dim=1) - math.log(lw.shape[1]))


@torch.no_grad()
def test_nll(model, x, k, seed):
    gen = torch.Generator(device=x.device).manual_seed(2000 + seed)
    per = max(1, (1 << 22) // (k * x.shape[1]))
    total = 0.0
    for i in range(0, len(x), per):
        total += bound(model.log_weights(x[i:i + per], k, gen)).sum(dtype=torch.float64).item()
    return total / len(x)


def run(seed, args, x_train, x_test):
    torch.manual_seed(seed)
    model = VAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate_factor)
    rec = {"seed": seed, "train_loss": [], "lr": [], "sec_per_epoch": []}
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        rec["lr"].append(sched.get_last_lr()[0])
        total = 0.0
        perm = torch.randperm(len(x_train))
        for i in range(0, len(x_train), args.batch):
            x = torch.bernoulli(x_train[perm[i:i + args.batch]])
            loss = bound(model.log_weights(x, args.train_samples)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        sched.step()
        rec["sec_per_epoch"].append(time.perf_counter() - t0)
        rec["train_loss"].append(total / len(x_train))
        print(f"seed {seed} epoch {epoch + 1}: train {rec['train_loss'][-1]:.2f} "
              f"lr {rec['lr'][-1]:.3e} ({rec['sec_per_epoch'][-1]:.1f} s)", flush=True)
    t0 = time.perf_counter()
    rec[f"test_iwae{args.k}_nll"] = test_nll(model, x_test, args.k, seed)
    rec["test_seconds"] = time.perf_counter() - t0
    print(f"seed {seed}: test iwae{args.k}_nll {rec[f'test_iwae{args.k}_nll']:.2f} "
          f"({rec['test_seconds']:.0f} s)", flush=True)
    return rec


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--train-samples", type=int, default=1, help="k of the training bound (1: ELBO)")
    p.add_argument("--k", type=int, default=5000, help="samples of the test bound")
    p.add_argument("--test-images", type=int, default=10000)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--val", type=int, default=400, help="training images held out from the end")
    p.add_argument("--limit", type=int, help="train on the first N of the other images only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--root", default=DEFAULT_ROOT, help="scratch dir for torchvision's MNIST/raw layout")
    p.add_argument("--out", help="write the per-seed records as JSON here")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    root = prepare_root(args.root)
    x_all = as_tensor(mnist(root, train=True))
    x_train = x_all[:len(x_all) - args.val][:args.limit]
    gen = torch.Generator().manual_seed(0)
    x_test = torch.bernoulli(as_tensor(mnist(root, train=False))[:args.test_images], generator=gen)

    runs = [run(s, args, x_train, x_test) for s in args.seeds]
    result = {
        "model": "nll_protocol",
        "config": {"epochs": args.epochs, "batch": args.batch, "train_samples": args.train_samples,
                   "k": args.k, "test_images": len(x_test), "train_images": len(x_train),
                   "threads": torch.get_num_threads()},
        "torch": torch.__version__,
        "runs": runs,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
