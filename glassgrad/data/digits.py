"""The scikit-learn 8x8 digits (the default data set)."""
from __future__ import annotations

import numpy as np

from glassgrad.data.splits import DataSplits, _split_train_val_test, _xy


def load_digits(
    val_fraction: float = 0.1,
    seed: int | None = 0,
    test_fraction: float = 0.2,
    test_seed: int | None = 0,
    flatten: bool = True,
) -> DataSplits:
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), pixels scaled to [0, 1].

    The test set is ``ceil(test_fraction * 1797)`` images (360 by default), drawn
    stratified with ``test_seed``, so it stays fixed when ``seed`` changes.
    Validation is ``ceil(val_fraction * rest)`` of the remaining 1437 (144 by default),
    stratified with ``seed``; ``val_fraction=0`` gives ``val=None``.
    ``flatten=False`` gives images of shape ``(1, 8, 8)`` for convnets.
    Needs scikit-learn (it ships the data; no download).
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "load_digits needs scikit-learn, which ships the 8x8 digits: "
            "pip install glassgrad[train]  (or: pip install scikit-learn)"
        ) from exc
    bunch = _sk_load_digits()
    X = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    if not flatten:
        X = X.reshape(-1, 1, 8, 8)
    train, val, test = _split_train_val_test(
        X, y, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, test_seed=test_seed, stratify=True
    )
    return DataSplits(
        train=_xy(*train),
        val=None if val is None else _xy(*val),
        test=_xy(*test),
        num_classes=10,
        name="digits",
        input_shape=tuple(X.shape[1:]),
    )
