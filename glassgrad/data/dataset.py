"""Datasets, the batching ``DataLoader``, splits, ``one_hot`` and ``Standardizer``.

Everything here works on NumPy arrays. Only :class:`DataLoader` produces
glassgrad Tensors, and it imports :mod:`glassgrad.tensor` lazily (on ``iter()``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterator, Sequence

import numpy as np

from glassgrad.device import Device, to_device
from glassgrad.device import device as as_device

__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "DataLoader",
    "train_val_split",
    "random_split",
    "one_hot",
    "Standardizer",
]


# --------------------------------------------------------------------------- datasets


class Dataset:
    """Base class of a map-style dataset: ``len(ds)`` examples, ``ds[i]`` the i-th one.

    ``ds[i]`` returns one example: an array or a tuple of arrays (fields).
    Subclasses implement ``__len__`` and ``__getitem__``; they may override
    :meth:`get_batch` to fetch a whole batch at once (no per-example loop).
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """Return the examples at ``indices`` as a tuple of stacked arrays (one per field)."""
        return _collate([self[int(i)] for i in indices])


def _collate(items: list[Any]) -> tuple[np.ndarray, ...]:
    """Stack a list of examples (each an array or a tuple of arrays) field by field."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    first = items[0]
    if isinstance(first, (tuple, list)):
        n_fields = len(first)
        for item in items:
            if not isinstance(item, (tuple, list)) or len(item) != n_fields:
                raise ValueError(
                    f"all examples must have the same number of fields ({n_fields}); got {item!r}"
                )
        return tuple(np.stack([np.asarray(item[k]) for item in items]) for k in range(n_fields))
    return (np.stack([np.asarray(item) for item in items]),)


class TensorDataset(Dataset):
    """A dataset over arrays that share their first dimension (e.g. ``X`` and ``y``).

    ``ds[i]`` is the tuple ``(a[i] for a in arrays)``. Inputs may be NumPy arrays,
    anything :func:`numpy.asarray` accepts, or glassgrad Tensors.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        converted = tuple(np.asarray(a) for a in arrays)
        for k, a in enumerate(converted):
            if a.ndim == 0:
                raise ValueError(f"array {k} is a scalar; TensorDataset needs arrays with a first dimension")
        lengths = [a.shape[0] for a in converted]
        if len(set(lengths)) != 1:
            raise ValueError(
                "TensorDataset: all arrays must have the same first dimension (number of examples); "
                f"got lengths {lengths}"
            )
        self.arrays: tuple[np.ndarray, ...] = converted

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """Fancy-index every array at once (vectorised, no Python loop over examples)."""
        return tuple(a[indices] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The examples of ``dataset`` at positions ``indices`` (as returned by :func:`random_split`)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: Any) -> Any:
        return self.dataset[self.indices[index]]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """The examples at ``indices`` of this subset, in one call to the dataset."""
        return _get_batch(self.dataset, self.indices[indices])

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"


def _is_array(a: Any) -> bool:
    """A NumPy array or a glassgrad Tensor (anything with a shape that NumPy can read)."""
    return isinstance(a, np.ndarray) or (hasattr(a, "shape") and hasattr(a, "__array__"))


def _get_batch(dataset: Any, indices: np.ndarray) -> tuple[np.ndarray, ...]:
    if isinstance(dataset, Dataset):
        return dataset.get_batch(indices)
    # Any object with __len__/__getitem__ (e.g. a list of (x, y) pairs).
    return _collate([dataset[int(i)] for i in indices])


# --------------------------------------------------------------------------- DataLoader


class DataLoader:
    """Iterate over a dataset in batches; each batch is a tuple of glassgrad Tensors.

    Args:
        dataset: a :class:`Dataset` (a :class:`TensorDataset` is batched by fancy
            indexing, anything else is collated with ``np.stack``), a tuple of arrays
            sharing their first dimension such as ``(X, y)`` (read as ``TensorDataset(X, y)``,
            as ``fit`` reads it), or any other object with ``__len__`` and ``__getitem__``
            (a list of ``(x, y)`` examples, say).
        batch_size: examples per batch; the last batch may be smaller.
        shuffle: draw a fresh permutation at the start of every epoch (every ``iter()``).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        seed: seed of the loader's own ``np.random.Generator`` (same seed, same orders).
        generator: use this ``np.random.Generator`` (or a ``glassgrad.tensor.Generator``)
            instead of creating one from ``seed``.
        as_tensor: if False, yield plain NumPy arrays instead of Tensors.
        device: put every batch on this device (``"cuda"``, ``"cuda:1"``) as it is yielded: the batch is
            gathered from the dataset on the host, then copied over (one copy per array per batch);
            ``None`` (default) leaves it in host memory. With ``as_tensor=False`` the arrays are the
            device's (CuPy arrays on a GPU).
        num_replicas: data-parallel training over ``num_replicas`` processes (as PyTorch's
            ``DistributedSampler``): this loader yields only shard ``rank`` of every epoch.
        rank: this process's shard, ``0 <= rank < num_replicas``. All replicas draw
            the same order (give them the same ``seed``) and rank r takes positions r, r + num_replicas, …
            of it, so every example is used once per epoch across the ranks, and the k-th batches of all
            ranks together are the k-th batch of ``batch_size × num_replicas`` that one process would draw.
            When ``num_replicas`` does not divide the number of examples, the first examples of the
            epoch's order are repeated (padding, as PyTorch) so that every rank gets ``ceil(n /
            num_replicas)`` examples and the same number of batches (ranks must take the same number of steps).

    ``len(loader)`` is the number of batches per epoch (of this rank's shard).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
        as_tensor: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
        device: str | Device | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, numbers.Integral) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be an integer in [0, num_replicas={num_replicas}), got {rank!r}")
        self.device = None if device is None else as_device(device)     # a bad spec raises here, naming it
        if generator is not None and seed is not None:
            raise ValueError("pass either seed or generator, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            # Also accept glassgrad.tensor.Generator, which wraps a numpy Generator as ``.rng``.
            if not isinstance(getattr(generator, "rng", None), np.random.Generator):
                raise TypeError(
                    f"generator must be a numpy.random.Generator, got {type(generator).__name__}"
                )
            generator = generator.rng
        if isinstance(dataset, tuple) and dataset and all(_is_array(a) for a in dataset):
            dataset = TensorDataset(*dataset)     # (X, y): fields, not two examples
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.as_tensor = bool(as_tensor)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.generator: np.random.Generator = generator if generator is not None else np.random.default_rng(seed)

    def shard_size(self) -> int:
        """Examples per epoch on this rank: ``ceil(len(dataset) / num_replicas)`` (all of them for one replica)."""
        return -(-len(self.dataset) // self.num_replicas)

    def __len__(self) -> int:
        n = self.shard_size()
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        # Draw the order (and import the Tensor factory) now, at iter() time.
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        if self.num_replicas > 1:
            padded = self.shard_size() * self.num_replicas
            order = np.resize(order, padded)[self.rank :: self.num_replicas]   # resize repeats from the start
        convert: Any = None
        if self.as_tensor:
            # Batches are fresh arrays (fancy indexing / np.stack), so wrapping them without
            # another copy is safe; fall back to tensor() (which copies) if as_tensor is absent.
            try:
                from glassgrad.tensor import as_tensor as convert
            except ImportError:
                from glassgrad.tensor import tensor as convert
        return self._batches(order, convert)

    def _batches(self, order: np.ndarray, convert: Any) -> Iterator[tuple[Any, ...]]:
        bs = self.batch_size
        stop = len(order) - len(order) % bs if self.drop_last else len(order)
        for start in range(0, stop, bs):
            arrays = _get_batch(self.dataset, order[start : start + bs])
            if self.device is not None:
                arrays = tuple(to_device(a, self.device) for a in arrays)
            if convert is None:
                yield arrays
            else:
                yield tuple(convert(a) for a in arrays)

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset)} examples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)}"
            + (f", rank {self.rank} of {self.num_replicas}" if self.num_replicas > 1 else "")
            + (f", device={self.device}" if self.device is not None else "")
            + ")"
        )


# --------------------------------------------------------------------------- splits


def _n_val(n: int, val_fraction: float) -> int:
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    # Same rounding as scikit-learn's train_test_split: ceil (1797 * 0.2 -> 360).
    return min(n, int(math.ceil(n * val_fraction - 1e-9)))


def _split_indices(
    n: int, val_fraction: float, seed: int | None, stratify: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled (train_idx, val_idx) with ``ceil(val_fraction * n)`` validation indices."""
    n_val = _n_val(n, val_fraction)
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        return perm[n_val:], perm[:n_val]
    labels = np.asarray(stratify)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"stratify must be a 1-D array of length {n}, got shape {labels.shape}")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    # Largest-remainder allocation so the class quotas sum exactly to n_val.
    exact = counts * (n_val / n) if n else counts * 0.0
    quota = np.floor(exact).astype(np.int64)
    short = n_val - int(quota.sum())
    if short > 0:
        frac = exact - quota
        # Ties broken at random (seeded) rather than by class order.
        order = np.lexsort((rng.random(len(classes)), -frac))
        quota[order[:short]] += 1
    val_parts, train_parts = [], []
    for c in range(len(classes)):
        idx = np.flatnonzero(inverse == c)
        idx = idx[rng.permutation(len(idx))]
        val_parts.append(idx[: quota[c]])
        train_parts.append(idx[quota[c] :])
    train_idx = np.concatenate(train_parts) if train_parts else np.zeros(0, np.int64)
    val_idx = np.concatenate(val_parts) if val_parts else np.zeros(0, np.int64)
    return train_idx[rng.permutation(len(train_idx))], val_idx[rng.permutation(len(val_idx))]


def train_val_split(
    *arrays: Any,
    val_fraction: float = 0.1,
    seed: int | None = 0,
    stratify: Any = None,
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Split arrays (same first dimension) into shuffled train and validation parts.

    Returns one ``(train, val)`` pair per input array, e.g.
    ``(X_tr, X_val), (y_tr, y_val) = train_val_split(X, y, stratify=y)``.
    The validation part has ``ceil(val_fraction * n)`` examples (as scikit-learn).
    With ``stratify`` (1-D labels), each class keeps its proportion in both parts.
    """
    if not arrays:
        raise ValueError("train_val_split needs at least one array")
    arrs = [np.asarray(a) for a in arrays]
    lengths = [a.shape[0] if a.ndim else None for a in arrs]
    if None in lengths or len(set(lengths)) != 1:
        raise ValueError(f"all arrays must have the same first dimension; got lengths {lengths}")
    train_idx, val_idx = _split_indices(int(arrs[0].shape[0]), val_fraction, seed, stratify)
    return tuple((a[train_idx], a[val_idx]) for a in arrs)


def random_split(dataset: Any, lengths: Sequence[int | float], seed: int | None = 0) -> list[Subset]:
    """Randomly split ``dataset`` into non-overlapping :class:`Subset` s of the given lengths.

    ``lengths`` are example counts summing to ``len(dataset)``, or fractions summing
    to 1 (counts are then floored and the remainder handed out one by one from the first).
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("lengths must not be empty")
    if all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in lengths):
        counts = [int(x) for x in lengths]
        if any(c < 0 for c in counts):
            raise ValueError(f"lengths must be non-negative, got {lengths}")
        if sum(counts) != n:
            raise ValueError(f"lengths {lengths} sum to {sum(counts)}, but the dataset has {n} examples")
    else:
        fracs = [float(x) for x in lengths]
        if any(f < 0 or f > 1 for f in fracs) or not math.isclose(sum(fracs), 1.0, abs_tol=1e-6):
            raise ValueError(
                f"lengths must be integers summing to {n} or fractions in [0, 1] summing to 1, got {lengths}"
            )
        counts = [int(math.floor(f * n)) for f in fracs]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, perm[bounds[i] : bounds[i + 1]]) for i in range(len(counts))]


# --------------------------------------------------------------------------- one_hot


def one_hot(labels: Any, num_classes: int | None = None, dtype: Any = np.float32) -> np.ndarray:
    """One-hot encode integer class labels: shape ``labels.shape + (num_classes,)``.

    ``num_classes`` defaults to ``max(labels) + 1``. Raises ``ValueError`` for
    non-integer labels (e.g. 2.5, NaN, strings) and for labels outside ``[0, num_classes)``.
    """
    lab = np.asarray(labels)
    if lab.dtype == bool:
        lab = lab.astype(np.int64)
    if not (np.issubdtype(lab.dtype, np.integer) or np.issubdtype(lab.dtype, np.floating)):
        raise ValueError(f"labels must be integers, got an array of dtype {lab.dtype}")
    if np.issubdtype(lab.dtype, np.floating):
        bad = ~np.isfinite(lab) | (lab != np.round(lab))
        if bad.any():
            raise ValueError(
                f"labels must be integers, got non-integer value {lab[bad].flat[0].item()!r} "
                f"({int(bad.sum())} non-integer label(s))"
            )
    lab = lab.astype(np.int64)
    if num_classes is None:
        num_classes = int(lab.max()) + 1 if lab.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 0:
        raise ValueError(f"num_classes must be a non-negative integer, got {num_classes!r}")
    num_classes = int(num_classes)
    if lab.size:
        lo, hi = int(lab.min()), int(lab.max())
        if lo < 0 or hi >= num_classes:
            bad_value = lo if lo < 0 else hi
            raise ValueError(
                f"label {bad_value} is out of range for num_classes={num_classes} "
                f"(labels must be in [0, {num_classes - 1}])"
            )
    out = np.zeros(lab.shape + (num_classes,), dtype=dtype)
    if lab.size:
        np.put_along_axis(out, lab[..., None], 1, axis=-1)
    return out


# --------------------------------------------------------------------------- Standardizer


class Standardizer:
    """Per-feature standardisation ``(x - mean) / std`` with statistics fitted on training data.

    Statistics are taken over axis 0 (examples), so every remaining position
    (a column, or a pixel of an image) is one feature. Features whose std is
    at most ``eps`` (constant features) are only centred, not scaled.
    The output keeps a floating input's dtype (float32 stays float32).
    """

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = float(eps)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None  # effective scale: 1 where the std was <= eps

    def fit(self, X: Any) -> "Standardizer":
        """Compute the mean and std of each feature of ``X`` (shape ``(n, ...)``); returns self."""
        x = np.asarray(X)
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"fit needs at least one example, got an array of shape {x.shape}")
        x64 = x.astype(np.float64, copy=False)
        self.mean = x64.mean(axis=0)
        std = x64.std(axis=0)
        self.std = np.where(std <= self.eps, 1.0, std)
        return self

    def _check(self, x: np.ndarray) -> None:
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer is not fitted yet: call fit() or load_state_dict() first")
        if x.shape[1:] != self.mean.shape:
            raise ValueError(f"expected examples of shape {self.mean.shape}, got an array of shape {x.shape}")

    @staticmethod
    def _out_dtype(x: np.ndarray) -> Any:
        return x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64

    def transform(self, X: Any) -> np.ndarray:
        """Return ``(X - mean) / std``."""
        x = np.asarray(X)
        self._check(x)
        return ((x - self.mean) / self.std).astype(self._out_dtype(x), copy=False)

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo :meth:`transform`: ``X * std + mean``."""
        x = np.asarray(X)
        self._check(x)
        return (x * self.std + self.mean).astype(self._out_dtype(x), copy=False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The fitted statistics as plain arrays: ``{"mean": ..., "std": ...}`` (copies)."""
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer is not fitted yet: nothing to save")
        return {"mean": self.mean.copy(), "std": self.std.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore statistics saved by :meth:`state_dict`."""
        missing = {"mean", "std"} - set(state)
        if missing:
            raise KeyError(f"state_dict is missing {sorted(missing)}")
        mean = np.array(state["mean"], dtype=np.float64)
        std = np.array(state["std"], dtype=np.float64)
        if mean.shape != std.shape:
            raise ValueError(f"mean and std shapes differ: {mean.shape} vs {std.shape}")
        self.mean, self.std = mean, np.where(std <= self.eps, 1.0, std)

    def __repr__(self) -> str:
        fitted = f"features={self.mean.shape}" if self.mean is not None else "not fitted"
        return f"Standardizer({fitted})"
