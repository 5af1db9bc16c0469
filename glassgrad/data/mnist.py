"""MNIST: the original IDX files or Nielsen's ``mnist.npz``, with an optional verified download.

Nothing is ever unpickled: ``.npz`` files are read with ``allow_pickle=False``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from glassgrad.data.files import ChecksumError, _default_cache_dir, _download_file, _search_dirs, _sha256_file
from glassgrad.data.splits import XY, DataSplits


class IDXFormatError(ValueError):
    """An IDX file is truncated, has a wrong magic number or inconsistent sizes."""



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
