"""Data set splits: the ``DataSplits`` every loader returns, and the seeded train / validation / test split."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from glassgrad.data.dataset import _split_indices

XY = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class DataSplits:
    """A data set split into train / val / test ``(X, y)`` pairs.

    Attributes:
        train, val, test: ``(X, y)`` with ``X`` float32 and ``y`` int64 labels
            (float32 targets for regression). ``val`` may be ``None``.
        num_classes: number of classes, ``None`` for a regression set.
        name: the data set's name, e.g. ``"mnist"``.
        input_shape: shape of one example, e.g. ``(64,)`` or ``(1, 28, 28)``.
    """

    train: XY
    val: XY | None
    test: XY
    num_classes: int | None
    name: str
    input_shape: tuple[int, ...]

    def __repr__(self) -> str:
        def part(p: XY | None) -> str:
            return "None" if p is None else f"{len(p[0])} examples"

        return (
            f"DataSplits(name={self.name!r}, train={part(self.train)}, val={part(self.val)}, "
            f"test={part(self.test)}, num_classes={self.num_classes}, input_shape={self.input_shape})"
        )


Split = DataSplits  # short alias


def _xy(X: np.ndarray, y: np.ndarray, y_dtype: Any = np.int64) -> XY:
    return np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=y_dtype)


def _split_train_val_test(
    X: np.ndarray,
    y: np.ndarray,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int | None,
    test_seed: int | None,
    stratify: bool,
) -> tuple[XY, XY | None, XY]:
    """Seeded split: test first (``test_seed``), then validation out of the rest (``seed``)."""
    rest, test = _split_indices(len(X), test_fraction, test_seed, y if stratify else None)
    if val_fraction == 0:
        return (X[rest], y[rest]), None, (X[test], y[test])
    tr, va = _split_indices(len(rest), val_fraction, seed, y[rest] if stratify else None)
    tr, va = rest[tr], rest[va]
    return (X[tr], y[tr]), (X[va], y[va]), (X[test], y[test])
