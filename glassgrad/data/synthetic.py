"""Small seeded toy data sets: XOR, two moons, spirals (classification) and a noisy sine (regression).

Each ``make_*`` returns ``(X, y)``: ``X`` float32 of shape ``(n, d)``; ``y`` int64
class labels of shape ``(n,)`` (``make_sine``: float32 targets of shape ``(n, 1)``).
The examples come in random order; the same ``seed`` always gives the same arrays.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["make_xor", "make_moons", "make_spirals", "make_sine"]


def _check(n: int, noise: float, min_n: int = 1) -> None:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < min_n:
        raise ValueError(f"n must be an integer >= {min_n}, got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")


def _balanced_labels(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels in ``0..k-1``, as equal in count as possible, in random order."""
    return rng.permutation(np.arange(n) % k).astype(np.int64)


def make_xor(n: int = 200, noise: float = 0.25, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """XOR: four Gaussian blobs at ``(±1, ±1)`` with std ``noise``.

    Label 1 where exactly one coordinate of the blob centre is positive, else 0.
    The four blobs get equal shares of ``n`` (up to rounding).
    """
    _check(n, noise)
    rng = np.random.default_rng(seed)
    corner = _balanced_labels(n, 4, rng)
    bits = np.stack([corner & 1, corner >> 1], axis=1)
    X = (2.0 * bits - 1.0) + noise * rng.standard_normal((n, 2))
    y = (bits[:, 0] ^ bits[:, 1]).astype(np.int64)
    return X.astype(np.float32), y


def make_moons(n: int = 200, noise: float = 0.1, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), Gaussian noise of std ``noise``.

    Class 0 is the upper moon (centre (0, 0)), class 1 the lower one (centre (1, 0.5)).
    """
    _check(n, noise)
    rng = np.random.default_rng(seed)
    y = _balanced_labels(n, 2, rng)
    t = rng.uniform(0.0, np.pi, n)
    X = np.where(
        (y == 0)[:, None],
        np.stack([np.cos(t), np.sin(t)], axis=1),
        np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1),
    )
    X = X + noise * rng.standard_normal((n, 2))
    return X.astype(np.float32), y


def make_spirals(
    n: int = 300, classes: int = 3, noise: float = 0.2, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` interleaved spiral arms in the unit disc (the CS231n toy problem).

    Each point has radius ``r`` uniform in [0, 1] and angle ``4 r + 2π k / classes``
    for its class ``k`` (about 2/3 of a turn per arm), plus Gaussian angle noise of std ``noise``.
    """
    _check(n, noise)
    if isinstance(classes, bool) or not isinstance(classes, numbers.Integral) or classes < 2:
        raise ValueError(f"classes must be an integer >= 2, got {classes!r}")
    rng = np.random.default_rng(seed)
    y = _balanced_labels(n, int(classes), rng)
    r = rng.uniform(0.0, 1.0, n)
    theta = 4.0 * r + 2.0 * np.pi * y / classes + noise * rng.standard_normal(n)
    X = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return X.astype(np.float32), y


def make_sine(
    n: int = 200, noise: float = 0.1, seed: int | None = 0, low: float = -np.pi, high: float = np.pi
) -> tuple[np.ndarray, np.ndarray]:
    """Regression: ``x`` uniform in ``[low, high]``, ``y = sin(x) + noise * N(0, 1)``.

    Returns ``X`` and ``y`` both float32 of shape ``(n, 1)``.
    """
    _check(n, noise)
    if not high > low:
        raise ValueError(f"need low < high, got low={low!r}, high={high!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, (n, 1))
    y = np.sin(x) + noise * rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32)
