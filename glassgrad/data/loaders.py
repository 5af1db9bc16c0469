"""Data set loaders by name: ``load_dataset("mnist")``, and the synthetic toy sets split like the others.

Each data set has its own module: ``digits.py`` (scikit-learn's 8x8 digits), ``mnist.py`` (npz or IDX,
optional verified download), ``lfd.py`` (the "Learning From Data" digit features), ``synthetic.py`` (the
toy sets). Every loader returns a :class:`DataSplits` (``splits.py``) with ``(X, y)`` pairs: ``X``
float32, ``y`` int64 class labels (float32 targets for the ``"sine"`` regression set). Where files are
looked for is in ``files.py``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from glassgrad.data.digits import load_digits
from glassgrad.data.lfd import load_lfd_digits
from glassgrad.data.mnist import load_mnist
from glassgrad.data.splits import XY, DataSplits, _split_train_val_test, _xy
from glassgrad.data.synthetic import make_moons, make_sine, make_spirals, make_xor

__all__ = ["DATASET_NAMES", "load_dataset"]

_SYNTHETIC: dict[str, tuple[Callable[..., XY], int]] = {
    # name: (maker, default total number of examples)
    "xor": (make_xor, 400),
    "moons": (make_moons, 400),
    "spirals": (make_spirals, 600),
    "sine": (make_sine, 400),
}


def _load_synthetic(
    name: str,
    n: int | None = None,
    noise: float | None = None,
    seed: int | None = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    **maker_kwargs: Any,
) -> DataSplits:
    maker, default_n = _SYNTHETIC[name]
    kwargs = dict(maker_kwargs)
    if noise is not None:
        kwargs["noise"] = noise
    X, y = maker(n=default_n if n is None else n, seed=seed, **kwargs)
    regression = name == "sine"
    train, val, test = _split_train_val_test(
        X,
        y,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=None if seed is None else seed + 1,
        test_seed=seed,
        stratify=not regression,
    )
    y_dtype = np.float32 if regression else np.int64
    if regression:
        num_classes = None
    elif name == "spirals":
        num_classes = int(kwargs.get("classes", 3))
    else:
        num_classes = 2
    return DataSplits(
        train=_xy(*train, y_dtype=y_dtype),
        val=None if val is None else _xy(*val, y_dtype=y_dtype),
        test=_xy(*test, y_dtype=y_dtype),
        num_classes=num_classes,
        name=name,
        input_shape=tuple(X.shape[1:]),
    )


DATASET_NAMES: tuple[str, ...] = ("digits", "mnist", "lfd", "xor", "moons", "spirals", "sine")


def load_dataset(name: str, **kwargs: Any) -> DataSplits:
    """Load a data set by name; ``kwargs`` go to its loader.

    ``"digits"`` -> :func:`load_digits`, ``"mnist"`` -> :func:`load_mnist`,
    ``"lfd"`` -> :func:`load_lfd_digits`; ``"xor"``, ``"moons"``, ``"spirals"``,
    ``"sine"`` generate the toy set (kwargs ``n``, ``noise``, ``seed``, ``val_fraction=0.15``,
    ``test_fraction=0.2``, and ``classes`` for spirals) and split it into train/val/test.
    """
    key = str(name).strip().lower()
    if key == "digits":
        return load_digits(**kwargs)
    if key == "mnist":
        return load_mnist(**kwargs)
    if key == "lfd":
        return load_lfd_digits(**kwargs)
    if key in _SYNTHETIC:
        return _load_synthetic(key, **kwargs)
    raise ValueError(f"unknown data set {name!r}; choose one of: {', '.join(DATASET_NAMES)}")
