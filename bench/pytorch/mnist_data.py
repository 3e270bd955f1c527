"""MNIST plumbing shared by the PyTorch baselines (no network access).

torchvision.datasets.MNIST(download=False) looks for the *unpacked* IDX files
under ROOT/MNIST/raw/.  The repository keeps the four original .gz files in
data/mnist/, so we unpack them once into a scratch ROOT outside the repo.
"""
import gzip
import os
import shutil

import torch

try:
    from torchvision import datasets, transforms
except ImportError:  # e.g. a GPU machine's venv with torch only: read the IDX files here
    datasets = transforms = None

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
    if datasets is None:
        return IdxMnist(root, train)
    return datasets.MNIST(root, train=train, transform=transforms.ToTensor(), download=False)


class IdxMnist(torch.utils.data.Dataset):
    """torchvision's MNIST without torchvision: .data (N x 28 x 28 uint8), .targets, and
    items as ToTensor gives them (1 x 28 x 28 float32 in [0, 1], label)."""

    def __init__(self, root, train):
        raw = os.path.join(root, "MNIST", "raw")
        stem = "train" if train else "t10k"
        self.data = _idx(os.path.join(raw, f"{stem}-images-idx3-ubyte"))
        self.targets = _idx(os.path.join(raw, f"{stem}-labels-idx1-ubyte")).long()

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data[i].unsqueeze(0).to(torch.float32).div(255), int(self.targets[i])


def _idx(path):
    """An unpacked IDX file of unsigned bytes as a uint8 tensor of its shape."""
    with open(path, "rb") as f:
        buf = f.read()
    ndim = buf[3]
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(buf[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def as_tensor(ds):
    """Whole split as one (N, 784) float32 tensor, bit-identical to ToTensor (uint8 / 255)."""
    return ds.data.reshape(len(ds), -1).to(torch.float32).div(255)
