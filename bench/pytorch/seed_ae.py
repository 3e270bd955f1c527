"""PyTorch reference for the seed notebook's plain autoencoder (the number the Rust port must match).

Model, loss, optimiser and data loop are the seed's:
  encoder 784-256-64-20 with ReLU after every layer (the 20-d code included),
  decoder 20-64-256-784 with ReLU, ReLU, Sigmoid,
  nn.MSELoss() (mean over batch and pixels), Adam(lr=1e-3, weight_decay=0), batch 32,
  torchvision MNIST + ToTensor + DataLoader(shuffle=True).
--fast swaps the DataLoader for the "fair fast loop": the training set as one
in-memory tensor and minibatches cut from torch.randperm each epoch.
--compile (with --fast) runs the model and loss through torch.compile (static shapes; forward and
backward; Adam stays eager), compiled and warmed up on both batch sizes of an epoch
before the clock starts. --limit N trains on the first N images only (short runs for
instruction counts).

Metric: test MSE per pixel = mean squared error over all 10000 x 784 test pixels
(eval mode, no_grad), after every epoch.  Seconds per epoch time the training loop only.
torch.set_num_threads(1): the benchmark machine is shared, and one thread is the
comparison point for the single-threaded Rust port.
--device cuda runs it on the GPU (model and data on the device, the epoch's loss summed
there and read once, the clock read after a synchronize); --limit N trains on the first N
images (quick trials).

  python seed_ae.py --seeds 0 1 2 3 4 --epochs 10 --batch 32 --out ae.json
"""
import argparse
import json
import time

import torch
from torch import nn

from mnist_data import DEFAULT_ROOT, as_tensor, mnist, prepare_root


def make_model():
    encoder = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 64), nn.ReLU(),
        nn.Linear(64, 20), nn.ReLU(),
    )
    decoder = nn.Sequential(
        nn.Linear(20, 64), nn.ReLU(),
        nn.Linear(64, 256), nn.ReLU(),
        nn.Linear(256, 784), nn.Sigmoid(),
    )
    return nn.Sequential(encoder, decoder)


@torch.no_grad()
def test_mse(model, x_test, chunk=1000):
    """Mean over every pixel of every test image (sum accumulated in float64)."""
    model.eval()
    sse = 0.0
    for i in range(0, len(x_test), chunk):
        x = x_test[i:i + chunk]
        sse += (model(x) - x).pow(2).sum(dtype=torch.float64).item()
    model.train()
    return sse / x_test.numel()


def batches_dataloader(loader, device):
    """The seed's loop: DataLoader(shuffle=True) over ToTensor images, flattened."""
    for img, _ in loader:
        yield img.view(img.size(0), -1).to(device)


def batches_fast(x_train, batch):
    """Fair fast loop: one randperm per epoch, slices of the in-memory tensor."""
    perm = torch.randperm(len(x_train), device=x_train.device)
    for i in range(0, len(x_train), batch):
        yield x_train[perm[i:i + batch]]


def warm_up(step_loss, model, x_train, batch):
    """Compiles for a full batch and the epoch's last one; leaves no gradient behind."""
    for n in sorted({batch, len(x_train) % batch or batch}):
        step_loss(x_train[:n]).backward()
    model.zero_grad(set_to_none=True)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(seed, args, train_ds, x_train, x_test):
    torch.manual_seed(seed)
    dev = x_train.device
    model = make_model().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)
    loss_fn = nn.MSELoss()
    loader = torch.utils.data.DataLoader(train_ds, batch_size=args.batch, shuffle=True)
    step_loss = lambda x: loss_fn(model(x), x)
    if args.compile:
        step_loss = torch.compile(step_loss, dynamic=False)
        warm_up(step_loss, model, x_train, args.batch)
    rec = {"seed": seed, "train_loss": [], "test_mse": [], "sec_per_epoch": []}
    for epoch in range(args.epochs):
        sync(dev)
        t0 = time.perf_counter()
        total, n = 0.0, 0
        batches = batches_fast(x_train, args.batch) if args.fast else batches_dataloader(loader, dev)
        for x in batches:
            loss = step_loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if dev.type == "cuda":  # no host round-trip per step on the GPU
                total = total + loss.detach().double() * len(x)
            else:
                total += loss.item() * len(x)
            n += len(x)
        total = float(total)
        sync(dev)
        rec["sec_per_epoch"].append(time.perf_counter() - t0)
        rec["train_loss"].append(total / n)  # image-weighted mean of the batch losses
        rec["test_mse"].append(test_mse(model, x_test))
        print(f"seed {seed} epoch {epoch + 1}: train {rec['train_loss'][-1]:.6f} "
              f"test_mse {rec['test_mse'][-1]:.6f} ({rec['sec_per_epoch'][-1]:.1f} s)", flush=True)
    return rec


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--fast", action="store_true", help="in-memory tensor + randperm batches instead of DataLoader")
    p.add_argument("--compile", action="store_true", help="torch.compile the model and loss (with --fast)")
    p.add_argument("--limit", type=int, help="train on the first N images only")
    p.add_argument("--test-limit", type=int, help="test on the first N test images only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--root", default=DEFAULT_ROOT, help="scratch dir for torchvision's MNIST/raw layout")
    p.add_argument("--out", help="write the per-seed records as JSON here")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    root = prepare_root(args.root)
    train_ds = mnist(root, train=True)
    if args.limit:
        train_ds = torch.utils.data.Subset(train_ds, range(args.limit))
        x_train = as_tensor(train_ds.dataset)[:args.limit].to(dev)
    else:
        x_train = as_tensor(train_ds).to(dev)
    x_test = as_tensor(mnist(root, train=False))[:args.test_limit].to(dev)

    runs = [run(s, args, train_ds, x_train, x_test) for s in args.seeds]
    result = {
        "model": "seed_ae",
        "loop": ("compiled " if args.compile else "") + ("fast" if args.fast else "dataloader"),
        "config": {"epochs": args.epochs, "batch": args.batch, "lr": 1e-3, "optimizer": "Adam",
                   "loss": "MSELoss(mean)", "threads": torch.get_num_threads(),
                   "device": str(dev), "train_images": len(x_train)},
        "torch": torch.__version__,
        "runs": runs,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
