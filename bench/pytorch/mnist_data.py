"""MNIST plumbing shared by the PyTorch baselines (no network access).

torchvision.datasets.MNIST(download=False) looks for the *unpacked* IDX files
under ROOT/MNIST/raw/.  The repository keeps the four original .gz files in
data/mnist/, so we unpack them once into a scratch ROOT outside the repo.
"""
import gzip
import os
import shutil

import torch
from torchvision import datasets, transforms

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_GZ_DIR = os.path.join(REPO, "data", "mnist")
DEFAULT_ROOT = "/tmp/torchmnist"
FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def prepare_root(root=DEFAULT_ROOT, gz_dir=DEFAULT_GZ_DIR):
    """Unpack data/mnist/*.gz into ROOT/MNIST/raw/ (idempotent); return ROOT."""
    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for name in FILES:
        dst = os.path.join(raw, name)
        if not os.path.exists(dst):
            with gzip.open(os.path.join(gz_dir, name + ".gz"), "rb") as src, open(dst + ".tmp", "wb") as out:
                shutil.copyfileobj(src, out)
            os.replace(dst + ".tmp", dst)
    return root


def mnist(root, train):
    """The seed's dataset: ToTensor() gives 1x28x28 float32 pixels in [0, 1]."""
    return datasets.MNIST(root, train=train, transform=transforms.ToTensor(), download=False)


def as_tensor(ds):
    """Whole split as one (N, 784) float32 tensor, bit-identical to ToTensor (uint8 / 255)."""
    return ds.data.reshape(len(ds), -1).to(torch.float32).div(255)
