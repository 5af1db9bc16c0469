"""glassgrad.data: datasets, batching, splits and data set loaders.

Imports only NumPy at import time; scikit-learn, gzip, urllib and hashlib are
imported inside the functions that need them, and glassgrad Tensors are built
by :class:`DataLoader` only when it is iterated.
"""

from .dataset import (
    DataLoader,
    Dataset,
    Standardizer,
    Subset,
    TensorDataset,
    one_hot,
    random_split,
    train_val_split,
)
from .digits import load_digits
from .files import ChecksumError
from .lfd import load_lfd_digits
from .loaders import DATASET_NAMES, load_dataset
from .mnist import MNIST_FILES, MNIST_SHA256, MNIST_URLS, IDXFormatError, download_mnist, load_mnist, read_idx
from .splits import DataSplits, Split
from .synthetic import make_moons, make_sine, make_spirals, make_xor

__all__ = [
    # datasets and batching
    "Dataset",
    "TensorDataset",
    "Subset",
    "DataLoader",
    # splits and preprocessing
    "train_val_split",
    "random_split",
    "one_hot",
    "Standardizer",
    # loaders
    "DataSplits",
    "Split",
    "load_dataset",
    "load_digits",
    "load_mnist",
    "load_lfd_digits",
    "download_mnist",
    "read_idx",
    "IDXFormatError",
    "ChecksumError",
    "DATASET_NAMES",
    "MNIST_FILES",
    "MNIST_SHA256",
    "MNIST_URLS",
    # synthetic
    "make_xor",
    "make_moons",
    "make_spirals",
    "make_sine",
]
