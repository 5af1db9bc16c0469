"""The "Learning From Data" digit features: average intensity and symmetry (``features.train`` / ``.test``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from glassgrad.data.dataset import _split_indices
from glassgrad.data.files import _search_dirs
from glassgrad.data.splits import DataSplits, _xy

_LFD_FILES = ("features.train", "features.test")


def _find_lfd_in(d: Path) -> Path | None:
    for sub in (d, d / "lfd"):
        if all((sub / f).is_file() for f in _LFD_FILES):
            return sub
    return None


def _read_lfd(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: not a features file (expected 3 numeric columns per row): {exc}") from exc
    if table.shape[1] != 3 or len(table) == 0:
        raise ValueError(f"{path}: expected rows of 3 columns (digit, intensity, symmetry), got shape {table.shape}")
    digit = table[:, 0]
    if not np.all((digit == np.round(digit)) & (digit >= 0) & (digit <= 9)):
        raise ValueError(f"{path}: the first column must hold digits 0..9")
    return table[:, 1:].astype(np.float32), digit.astype(np.int64)


def load_lfd_digits(
    path: str | os.PathLike | None = None,
    digits: int | Sequence[int] | None = (1, 5),
    val_fraction: float = 0.0,
    seed: int | None = 0,
    cache_dir: str | os.PathLike | None = None,
) -> DataSplits:
    """The "Learning From Data" USPS digit features: ``X`` = (intensity, symmetry), 2 columns.

    Reads ``features.train`` (7291 rows) and ``features.test`` (2007 rows) from ``path``
    (a directory) or, if ``path`` is None, from ``$GLASSGRAD_DATA``, ``../shared/data``
    or ``cache_dir`` (default ``~/.cache/glassgrad/lfd``). No download.

    Labels:
        * ``digits=(a, b)`` (default ``(1, 5)``): only the rows of digits ``a`` and ``b``;
          **y = 1 for the first digit ``a``, y = 0 for ``b``** (binary, ``num_classes=2``).
        * ``digits=a`` or ``(a,)``: one-versus-all on every row; y = 1 for digit ``a``, else 0.
        * ``digits=None``: all rows, y = the digit 0..9 (``num_classes=10``).

    ``val_fraction > 0`` carves a stratified, seeded validation set out of the training rows.
    """
    if path is not None:
        d = Path(path).expanduser()
        found = _find_lfd_in(d) if d.is_dir() else None
        if found is None:
            raise FileNotFoundError(f"{d}: expected a directory holding {' and '.join(_LFD_FILES)}")
    else:
        searched = _search_dirs("lfd", cache_dir)
        found = next((f for f in (_find_lfd_in(s) for s in searched if s.is_dir()) if f is not None), None)
        if found is None:
            where = "\n".join(f"  {s}" for s in searched)
            raise FileNotFoundError(
                f"{' and '.join(_LFD_FILES)} not found; looked in:\n{where}\nPass path=... or set GLASSGRAD_DATA."
            )
    X_tr, d_tr = _read_lfd(found / "features.train")
    X_te, d_te = _read_lfd(found / "features.test")

    if digits is None:
        y_tr, y_te, num_classes = d_tr, d_te, 10
    else:
        sel = (int(digits),) if isinstance(digits, (int, np.integer)) else tuple(int(v) for v in digits)
        if len(sel) not in (1, 2) or len(set(sel)) != len(sel) or not all(0 <= v <= 9 for v in sel):
            raise ValueError(f"digits must be None, one digit or two different digits in 0..9, got {digits!r}")
        if len(sel) == 2:
            keep_tr, keep_te = np.isin(d_tr, sel), np.isin(d_te, sel)
            X_tr, d_tr, X_te, d_te = X_tr[keep_tr], d_tr[keep_tr], X_te[keep_te], d_te[keep_te]
        y_tr, y_te, num_classes = (d_tr == sel[0]).astype(np.int64), (d_te == sel[0]).astype(np.int64), 2

    val = None
    if val_fraction:
        tr, va = _split_indices(len(X_tr), val_fraction, seed, y_tr)
        val = _xy(X_tr[va], y_tr[va])
        X_tr, y_tr = X_tr[np.sort(tr)], y_tr[np.sort(tr)]
    return DataSplits(
        train=_xy(X_tr, y_tr), val=val, test=_xy(X_te, y_te), num_classes=num_classes, name="lfd", input_shape=(2,)
    )
