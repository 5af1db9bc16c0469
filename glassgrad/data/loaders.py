"""Data set loaders: scikit-learn digits, MNIST (npz or IDX, optional verified download),
the "Learning From Data" digit features, and the synthetic toy sets.

Every loader returns a :class:`DataSplits` with ``(X, y)`` pairs: ``X`` float32,
``y`` int64 class labels (float32 targets for the ``"sine"`` regression set).

Local files are searched, when no ``path`` is given, in this order:

1. the directory in the environment variable ``GLASSGRAD_DATA``
   (several directories may be joined with ``os.pathsep``);
2. ``../shared/data`` relative to the current directory;
3. the cache directory, ``cache_dir`` or ``$XDG_CACHE_HOME/glassgrad/<name>``
   (``~/.cache/glassgrad/<name>`` by default).

Nothing is ever unpickled: ``.npz`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .dataset import _split_indices
from .synthetic import make_moons, make_sine, make_spirals, make_xor

__all__ = [
    "DataSplits",
    "Split",
    "IDXFormatError",
    "ChecksumError",
    "DATASET_NAMES",
    "MNIST_FILES",
    "MNIST_SHA256",
    "MNIST_URLS",
    "read_idx",
    "download_mnist",
    "load_digits",
    "load_mnist",
    "load_lfd_digits",
    "load_dataset",
]

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


class IDXFormatError(ValueError):
    """An IDX file is truncated, has a wrong magic number or inconsistent sizes."""


class ChecksumError(ValueError):
    """A downloaded file's sha256 differs from the expected one."""


# --------------------------------------------------------------------------- helpers


def _xy(X: np.ndarray, y: np.ndarray, y_dtype: Any = np.int64) -> XY:
    return np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=y_dtype)


def _default_cache_dir(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "glassgrad" / name


def _search_dirs(name: str, cache_dir: str | os.PathLike | None) -> list[Path]:
    """Directories to search, in order: $GLASSGRAD_DATA, ./../shared/data, the cache dir."""
    dirs = [Path(p).expanduser() for p in os.environ.get("GLASSGRAD_DATA", "").split(os.pathsep) if p]
    dirs.append(Path.cwd().parent / "shared" / "data")
    dirs.append(Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir(name))
    return dirs


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


# --------------------------------------------------------------------------- digits


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


# --------------------------------------------------------------------------- IDX / MNIST

# Compressed-file names of the four original MNIST files, by role.
MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# sha256 of the compressed files (as published by TFDS / Keras).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

# Mirrors tried in order by download_mnist.
MNIST_URLS: tuple[str, ...] = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw, detected from its first bytes).

    The big-endian header is ``0x00 0x00 <type> <ndim>`` then ``ndim`` 32-bit sizes;
    MNIST images have magic 0x803 (uint8, 3-D), labels 0x801 (uint8, 1-D).
    Raises :class:`IDXFormatError` naming the file if it is not an IDX file, has
    another magic than ``expected_magic``, or is truncated / too long.
    """
    import gzip
    import zlib

    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=f) as g:
                    data = g.read()
            else:
                data = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise IDXFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    if len(data) < 4:
        raise IDXFormatError(f"{path}: not an IDX file (only {len(data)} bytes, the header needs at least 4)")
    magic = int.from_bytes(data[:4], "big")
    type_code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise IDXFormatError(f"{path}: not an IDX file (bad magic number 0x{magic:08x})")
    if expected_magic is not None and magic != expected_magic:
        raise IDXFormatError(f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x}")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXFormatError(f"{path}: truncated header ({len(data)} bytes, need {header_len})")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = header_len + math.prod(dims) * dtype.itemsize
    if len(data) < expected:
        raise IDXFormatError(
            f"{path}: truncated: header says shape {dims} ({expected} bytes in all), but the file has {len(data)} bytes"
        )
    if len(data) > expected:
        raise IDXFormatError(
            f"{path}: {len(data) - expected} unexpected trailing bytes after the data of shape {dims}"
        )
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def _find_idx_dir(d: Path) -> dict[str, Path] | None:
    """The four MNIST IDX files in ``d`` (``.gz`` or uncompressed), or None if any is missing."""
    found = {}
    for role, gz_name in MNIST_FILES.items():
        for candidate in (d / gz_name, d / gz_name[: -len(".gz")]):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            return None
    return found


def _find_mnist_in(d: Path) -> tuple[str, Any] | None:
    if not d.is_dir():
        return None
    if (d / "mnist.npz").is_file():
        return "npz", d / "mnist.npz"
    for sub in (d, d / "mnist-idx", d / "mnist"):
        if sub.is_dir():
            files = _find_idx_dir(sub)
            if files is not None:
                return "idx", files
    return None


def _download_file(url: str, dest: Path, expected_sha256: str | None, timeout: float) -> None:
    """Stream ``url`` into ``dest`` atomically (temp file, then ``os.replace``), checking its sha256."""
    import hashlib
    import tempfile
    import urllib.error
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    while chunk := resp.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError) as exc:
                raise OSError(f"could not download {url}: {exc}") from exc
        got = digest.hexdigest()
        if expected_sha256 is not None and got != expected_sha256.lower():
            raise ChecksumError(
                f"checksum mismatch for {dest.name} (downloaded from {url}): "
                f"expected sha256 {expected_sha256.lower()}, got {got}; the file was deleted"
            )
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download_mnist(
    cache_dir: str | os.PathLike | None = None,
    base_url: str | Sequence[str] = MNIST_URLS,
    sha256: Mapping[str, str | None] | None = None,
    force: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download the four MNIST IDX ``.gz`` files into ``cache_dir`` and return that directory.

    ``cache_dir`` defaults to ``~/.cache/glassgrad/mnist``. ``base_url`` is one URL
    prefix or several mirrors tried in order (a file's URL is ``base_url + name``).
    Every file is checked against ``sha256`` (file name -> hex digest; the real MNIST
    values :data:`MNIST_SHA256` by default, entries given here override them, ``None``
    skips the check). Each file is written to a temporary file and moved into place only
    when its checksum matches; otherwise it is deleted and :class:`ChecksumError` names
    the file and both hashes. Files already cached with the right checksum are kept
    unless ``force``.
    """
    cache = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir("mnist")
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls:
        raise ValueError("base_url must name at least one URL")
    expected = {**MNIST_SHA256, **(dict(sha256) if sha256 else {})}
    for name in MNIST_FILES.values():
        dest = cache / name
        want = expected.get(name)
        if dest.is_file() and not force:
            if want is None or _sha256_file(dest) == want.lower():
                continue
            dest.unlink()  # stale or corrupt cached copy: fetch it again
        errors: list[tuple[str, Exception]] = []
        for base in urls:
            url = base if base.endswith("/") else base + "/"
            url += name
            try:
                _download_file(url, dest, want, timeout)
                break
            except (OSError, ChecksumError) as exc:
                errors.append((url, exc))
        else:
            if len(errors) == 1:
                raise errors[0][1]
            detail = "\n".join(f"  {url}: {exc}" for url, exc in errors)
            cls = ChecksumError if any(isinstance(e, ChecksumError) for _, e in errors) else OSError
            raise cls(f"could not download {name} from any mirror:\n{detail}")
    return cache


def _lut(scale: float | str | None) -> np.ndarray:
    """uint8 -> float32 lookup table (exactly rounded p * scale)."""
    p = np.arange(256, dtype=np.float64)
    if scale is None:
        return p.astype(np.float32)
    if isinstance(scale, str):
        if scale.lower() != "nielsen":
            raise ValueError(f'scale must be a number, None or "nielsen", got {scale!r}')
        return (p / 256.0).astype(np.float32)
    if math.isclose(float(scale), 1 / 255, rel_tol=1e-9):
        return (p / 255.0).astype(np.float32)
    return (p * float(scale)).astype(np.float32)


def _read_mnist_npz(path: Path) -> dict[str, np.ndarray]:
    import zipfile

    keys = ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")
    try:
        npz = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read as an .npz file (truncated or not a zip archive?): {exc}") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an .npz archive (a single array of shape {np.shape(npz)})")
    with npz:
        missing = [k for k in keys if k not in npz.files]
        if missing:
            raise ValueError(f"{path}: not an MNIST npz: missing keys {missing} (has {sorted(npz.files)})")
        try:
            arrays = {k: npz[k] for k in keys}
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(f"{path}: corrupt .npz member: {exc}") from exc
    for k in keys:
        a = arrays[k]
        if a.dtype != np.uint8:
            raise ValueError(f"{path}: {k} has dtype {a.dtype}, expected uint8")
    for split in ("train", "val", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{path}: {split}_x {x.shape} and {split}_y {y.shape} do not match")
    return arrays


def _images_2d(x: np.ndarray, where: str) -> np.ndarray:
    """Images as ``(N, H, W)``; flat rows of a square size are reshaped."""
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side * side == x.shape[1]:
            return x.reshape(len(x), side, side)
    raise ValueError(f"{where}: cannot interpret images of shape {x.shape} as (N, H, W)")


def _read_mnist_idx(files: dict[str, Path]) -> dict[str, np.ndarray]:
    out = {}
    for split in ("train", "test"):
        x = read_idx(files[f"{split}_images"], expected_magic=_IMAGES_MAGIC)
        y = read_idx(files[f"{split}_labels"], expected_magic=_LABELS_MAGIC)
        if len(x) != len(y):
            raise IDXFormatError(
                f"{files[f'{split}_images']} has {len(x)} images but {files[f'{split}_labels']} has {len(y)} labels"
            )
        out[f"{split}_x"], out[f"{split}_y"] = x, y
    return out


def load_mnist(
    path: str | os.PathLike | None = None,
    flatten: bool = True,
    scale: float | str | None = 1 / 255,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | Sequence[str] = MNIST_URLS,
    sha256: Mapping[str, str | None] | None = None,
    val_size: int = 10000,
) -> DataSplits:
    """MNIST with Nielsen's split: 50000 train / 10000 val / 10000 test, 10 classes.

    Args:
        path: a ``mnist.npz`` (keys ``train_x, train_y, val_x, val_y, test_x, test_y``,
            uint8) or a directory holding ``mnist.npz`` or the four IDX files
            (``train-images-idx3-ubyte[.gz]`` etc., also looked for in a ``mnist-idx/``
            subdirectory). ``None``: search ``$GLASSGRAD_DATA``, ``../shared/data``
            and the cache directory, in that order.
        flatten: ``X`` of shape ``(N, 784)`` if True, else ``(N, 1, 28, 28)``.
        scale: pixel factor: ``1/255`` gives [0, 1]; ``"nielsen"`` divides by 256
            (the exact values of Nielsen's ``mnist.pkl.gz``); ``None`` keeps 0..255.
        download: if nothing is found locally, fetch the IDX files into the cache
            (see :func:`download_mnist`, which ``cache_dir``, ``base_url`` and ``sha256`` go to).
        val_size: the last ``val_size`` of the 60000 training images form the
            validation set (0 gives ``val=None`` and 60000 training images).
    """
    if isinstance(val_size, bool) or not isinstance(val_size, int) or val_size < 0:
        raise ValueError(f"val_size must be a non-negative integer, got {val_size!r}")
    lut = _lut(scale)
    source: tuple[str, Any] | None
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            source = ("npz", p)
        elif p.is_dir():
            source = _find_mnist_in(p)
            if source is None:
                names = ", ".join(MNIST_FILES.values())
                raise FileNotFoundError(f"{p}: no mnist.npz and not all four IDX files ({names}, or uncompressed)")
        else:
            raise FileNotFoundError(f"MNIST path does not exist: {p}")
    else:
        searched = _search_dirs("mnist", cache_dir)
        source = next((s for s in map(_find_mnist_in, searched) if s is not None), None)
        if source is None:
            if not download:
                places = "\n".join(f"  {d}" for d in searched)
                raise FileNotFoundError(
                    "MNIST not found; looked for mnist.npz or the four IDX files in:\n"
                    f"{places}\nPass path=..., set GLASSGRAD_DATA, or use download=True."
                )
            source = ("idx", _find_idx_dir(download_mnist(cache_dir, base_url, sha256)))

    _, where = source
    if isinstance(where, Path):                 # ("npz", path of mnist.npz)
        raw = _read_mnist_npz(where)
        full_x = np.concatenate([raw["train_x"], raw["val_x"]])
        full_y = np.concatenate([raw["train_y"], raw["val_y"]])
        label = str(where)
    else:                                       # ("idx", the four IDX files by role)
        if where is None:
            raise FileNotFoundError(f"MNIST: the IDX files were not found after download into {cache_dir}")
        raw = _read_mnist_idx(where)
        full_x, full_y = raw["train_x"], raw["train_y"]
        label = str(where["train_images"])
    full_x = _images_2d(full_x, label)
    test_x = _images_2d(raw["test_x"], label)
    if full_x.shape[1:] != test_x.shape[1:]:
        raise ValueError(f"{label}: train images {full_x.shape[1:]} and test images {test_x.shape[1:]} differ in size")
    if val_size > len(full_x):
        raise ValueError(f"val_size={val_size} is larger than the {len(full_x)} training images")
    for name, labels in (("training", full_y), ("test", raw["test_y"])):
        if labels.size and labels.max() > 9:
            raise ValueError(f"{label}: {name} labels go up to {labels.max()}, expected digits 0..9")

    h, w = full_x.shape[1:]
    shape = (h * w,) if flatten else (1, h, w)

    def convert(x: np.ndarray, y: np.ndarray) -> XY:
        return lut[x].reshape((len(x),) + shape), y.astype(np.int64)

    n_train = len(full_x) - val_size
    train = convert(full_x[:n_train], full_y[:n_train])
    val = convert(full_x[n_train:], full_y[n_train:]) if val_size else None
    test = convert(test_x, raw["test_y"])
    return DataSplits(train=train, val=val, test=test, num_classes=10, name="mnist", input_shape=shape)


# --------------------------------------------------------------------------- Learning From Data

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


# --------------------------------------------------------------------------- synthetic + dispatch

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
