"""PyTorch reference VAE: the seed's MLP with the maths done right.

  encoder trunk 784-256-64 (ReLU), two linear heads 64->20 for mu and logvar (no ReLU),
  z = mu + exp(logvar/2) * eps,
  decoder 20-64-256-784 (ReLU, ReLU, linear) emitting Bernoulli logits.
Loss per image = BCE-with-logits summed over pixels + KL(N(mu, sigma^2) || N(0, 1))
              = sum BCE - 0.5 * sum(1 + logvar - mu^2 - exp(logvar)),
averaged over the batch for the optimiser.  Pixels are ToTensor's [0, 1] greys (no binarisation).
Adam(lr=1e-3), batch 128, fast loop (in-memory tensor, randperm batches).

Metrics after every epoch on the full 10000-image test set:
  neg_elbo: mean negative ELBO in nats per image, one sampled z per image.  The eps
            come from a separate generator (seeded 1000 + seed, reset at every
            evaluation) so evaluating never perturbs the training RNG stream;
  mse:      MSE per pixel of sigmoid(decoder(mu)).
torch.set_num_threads(1), as in seed_ae.py. --device cuda and --limit N as in seed_ae.py
(the evaluation generator then lives on the GPU).

  python seed_vae.py --seeds 0 1 2 --epochs 10 --batch 128 --out vae.json
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from mnist_data import DEFAULT_ROOT, as_tensor, mnist, prepare_root
from seed_ae import warm_up


class VAE(nn.Module):
    def __init__(self, code=20):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU())
        self.mu = nn.Linear(64, code)
        self.logvar = nn.Linear(64, code)
        self.decoder = nn.Sequential(
            nn.Linear(code, 64), nn.ReLU(),
            nn.Linear(64, 256), nn.ReLU(),
            nn.Linear(256, 784),  # logits
        )

    def encode(self, x):
        h = self.trunk(x)
        return self.mu(h), self.logvar(h)

    def forward(self, x, generator=None):
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decoder(z), mu, logvar


def neg_elbo_per_image(x, logits, mu, logvar):
    """Vector of per-image negative ELBOs (nats)."""
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    return rec + kl


@torch.no_grad()
def evaluate(model, x_test, seed, chunk=1000):
    model.eval()
    gen = torch.Generator(device=x_test.device).manual_seed(1000 + seed)
    nelbo, sse = 0.0, 0.0
    for i in range(0, len(x_test), chunk):
        x = x_test[i:i + chunk]
        logits, mu, logvar = model(x, generator=gen)
        nelbo += neg_elbo_per_image(x, logits, mu, logvar).sum(dtype=torch.float64).item()
        sse += (torch.sigmoid(model.decoder(mu)) - x).pow(2).sum(dtype=torch.float64).item()
    model.train()
    return nelbo / len(x_test), sse / x_test.numel()


def run(seed, args, x_train, x_test):
    torch.manual_seed(seed)
    dev = x_train.device
    model = VAE().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_loss = lambda x: neg_elbo_per_image(x, *model(x)).mean()
    if args.compile:
        step_loss = torch.compile(step_loss, dynamic=False)
        warm_up(step_loss, model, x_train, args.batch)
    rec = {"seed": seed, "train_neg_elbo": [], "test_neg_elbo": [], "test_mse": [], "sec_per_epoch": []}
    cuda = dev.type == "cuda"
    for epoch in range(args.epochs):
        if cuda:
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        total = 0.0
        perm = torch.randperm(len(x_train), device=dev)
        for i in range(0, len(x_train), args.batch):
            x = x_train[perm[i:i + args.batch]]
            loss = step_loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if cuda:  # no host round-trip per step on the GPU
                total = total + loss.detach().double() * len(x)
            else:
                total += loss.item() * len(x)
        total = float(total)
        if cuda:
            torch.cuda.synchronize(dev)
        rec["sec_per_epoch"].append(time.perf_counter() - t0)
        rec["train_neg_elbo"].append(total / len(x_train))
        nelbo, mse = evaluate(model, x_test, seed)
        rec["test_neg_elbo"].append(nelbo)
        rec["test_mse"].append(mse)
        print(f"seed {seed} epoch {epoch + 1}: train {rec['train_neg_elbo'][-1]:.2f} "
              f"test_neg_elbo {nelbo:.2f} test_mse {mse:.6f} ({rec['sec_per_epoch'][-1]:.1f} s)", flush=True)
    return rec


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--compile", action="store_true", help="torch.compile the model and loss")
    p.add_argument("--limit", type=int, help="train on the first N images only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--root", default=DEFAULT_ROOT, help="scratch dir for torchvision's MNIST/raw layout")
    p.add_argument("--out", help="write the per-seed records as JSON here")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    root = prepare_root(args.root)
    x_train = as_tensor(mnist(root, train=True))[:args.limit].to(dev)
    x_test = as_tensor(mnist(root, train=False)).to(dev)

    runs = [run(s, args, x_train, x_test) for s in args.seeds]
    result = {
        "model": "seed_vae",
        "loop": ("compiled " if args.compile else "") + "fast",
        "config": {"epochs": args.epochs, "batch": args.batch, "lr": 1e-3, "optimizer": "Adam",
                   "loss": "sum BCE-with-logits + KL, mean over batch", "latent": 20,
                   "threads": torch.get_num_threads(), "device": str(dev),
                   "train_images": len(x_train)},
        "torch": torch.__version__,
        "runs": runs,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
