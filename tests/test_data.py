"""Tests of glassgrad.data: batching, splits, preprocessing, loaders, IDX parsing, download, toy sets."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

import glassgrad.data as gd  # noqa: E402
from glassgrad.data import (  # noqa: E402
    ChecksumError,
    DataLoader,
    Dataset,
    IDXFormatError,
    Standardizer,
    TensorDataset,
    one_hot,
    random_split,
    train_val_split,
)

SHARED = REPO_ROOT.parent / "shared" / "data"

try:
    from glassgrad.tensor import Tensor

    _TENSOR_ERROR = None
except Exception as exc:  # the core may not exist yet
    Tensor = None
    _TENSOR_ERROR = f"glassgrad.tensor cannot be imported yet: {type(exc).__name__}: {exc}"

requires_tensor = pytest.mark.skipif(Tensor is None, reason=str(_TENSOR_ERROR))


def need_shared(*names: str) -> Path:
    missing = [n for n in names if not (SHARED / n).exists()]
    if missing:
        pytest.skip(f"../shared/data not found: {SHARED} lacks {', '.join(missing)}")
    return SHARED


def arrays_of(loader):
    """All batches of one epoch as tuples of NumPy arrays (works for Tensors and arrays)."""
    return [tuple(np.asarray(t) for t in batch) for batch in loader]


@pytest.fixture(params=[pytest.param(True, marks=requires_tensor, id="tensor"), pytest.param(False, id="numpy")])
def as_tensor(request):
    return request.param


# --------------------------------------------------------------------------- Dataset / DataLoader


def make_xy(n=10):
    X = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return X, y


def test_tensor_dataset_basics():
    X, y = make_xy(5)
    ds = TensorDataset(X, y)
    assert len(ds) == 5
    x2, y2 = ds[2]
    np.testing.assert_array_equal(x2, X[2])
    assert y2 == 2
    with pytest.raises(ValueError, match=r"\[5, 4\]"):
        TensorDataset(X, y[:4])
    with pytest.raises(ValueError):
        TensorDataset()


def test_loader_shapes_and_partial_last_batch(as_tensor):
    X, y = make_xy(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4, as_tensor=as_tensor)
    assert len(loader) == 3
    batches = arrays_of(loader)
    assert [b[0].shape for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert [b[1].shape for b in batches] == [(4,), (4,), (2,)]
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), X)  # no shuffle: in order
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)


def test_loader_drop_last(as_tensor):
    X, y = make_xy(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True, shuffle=True, seed=1, as_tensor=as_tensor)
    assert len(loader) == 2
    batches = arrays_of(loader)
    assert [b[0].shape[0] for b in batches] == [4, 4]
    assert len(DataLoader(TensorDataset(X, y), batch_size=20, drop_last=True)) == 0
    assert len(DataLoader(TensorDataset(X, y), batch_size=20)) == 1


@requires_tensor
def test_loader_yields_tensors_keeping_dtype():
    X, y = make_xy(6)
    batch = next(iter(DataLoader(TensorDataset(X, y), batch_size=4)))
    assert isinstance(batch, tuple) and len(batch) == 2
    assert all(isinstance(t, Tensor) for t in batch)
    assert np.asarray(batch[0]).dtype == np.float32
    assert np.asarray(batch[1]).dtype == np.int64


def test_every_example_once_per_epoch_and_epochs_differ(as_tensor):
    n = 103
    X, y = make_xy(n)
    loader = DataLoader(TensorDataset(X, y), batch_size=10, shuffle=True, seed=0, as_tensor=as_tensor)
    orders = []
    for _ in range(3):
        seen = np.concatenate([b[1] for b in arrays_of(loader)])
        assert sorted(seen.tolist()) == list(range(n))
        orders.append(seen)
    assert not np.array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], np.arange(n))
    # X and y stay aligned after shuffling
    for xb, yb in arrays_of(loader):
        np.testing.assert_array_equal(xb, X[yb])


def test_seeded_shuffle_is_reproducible():
    X, y = make_xy(50)
    ds = TensorDataset(X, y)

    def epochs(loader, k=3):
        return [np.concatenate([b[1] for b in arrays_of(loader)]) for _ in range(k)]

    a = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=42, as_tensor=False))
    b = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=42, as_tensor=False))
    c = epochs(DataLoader(ds, batch_size=8, shuffle=True, seed=43, as_tensor=False))
    for ea, eb in zip(a, b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], c[0])
    g = np.random.default_rng(42)
    d = epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=g, as_tensor=False))
    np.testing.assert_array_equal(d[0], a[0])
    with pytest.raises(ValueError, match="either seed or generator"):
        DataLoader(ds, seed=1, generator=np.random.default_rng(1))


def test_permutation_drawn_at_iter_time():
    X, y = make_xy(20)
    loader = DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True, seed=3, as_tensor=False)
    it1, it2 = iter(loader), iter(loader)  # two epochs' iterators drawn in order
    e1 = np.concatenate([b[1] for b in it1])
    e2 = np.concatenate([b[1] for b in it2])
    ref = np.random.default_rng(3)
    np.testing.assert_array_equal(e1, ref.permutation(20))
    np.testing.assert_array_equal(e2, ref.permutation(20))


def test_tensor_dataset_batches_are_vectorised(monkeypatch):
    X, y = make_xy(10)
    ds = TensorDataset(X, y)

    def no_per_example(self, index):
        raise AssertionError("DataLoader must not index a TensorDataset example by example")

    monkeypatch.setattr(TensorDataset, "__getitem__", no_per_example)
    batches = arrays_of(DataLoader(ds, batch_size=3, shuffle=True, seed=0, as_tensor=False))
    assert sum(len(b[0]) for b in batches) == 10


def test_generic_dataset_is_collated_with_stack(as_tensor):
    class Squares(Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.full((2, 2), i, dtype=np.float32), np.int64(i * i)

    batches = arrays_of(DataLoader(Squares(), batch_size=3, as_tensor=as_tensor))
    assert [b[0].shape for b in batches] == [(3, 2, 2), (3, 2, 2), (1, 2, 2)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.arange(7) ** 2)

    # a plain list of single arrays also works (one field per batch)
    plain = [np.array([i, i], dtype=np.float32) for i in range(5)]
    (xb,) = arrays_of(DataLoader(plain, batch_size=5, as_tensor=False))[0]
    assert xb.shape == (5, 2)


def test_loader_rejects_bad_batch_size():
    X, y = make_xy(4)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            DataLoader(TensorDataset(X, y), batch_size=bad)


# --------------------------------------------------------------------------- splits


def test_train_val_split_sizes_disjoint_and_deterministic():
    X, y = make_xy(100)
    (Xtr, Xva), (ytr, yva) = train_val_split(X, y, val_fraction=0.25, seed=0)
    assert len(Xtr) == 75 and len(Xva) == 25
    assert sorted(np.concatenate([ytr, yva]).tolist()) == list(range(100))
    np.testing.assert_array_equal(Xtr, X[ytr])
    again = train_val_split(X, y, val_fraction=0.25, seed=0)
    np.testing.assert_array_equal(again[1][1], yva)
    other = train_val_split(X, y, val_fraction=0.25, seed=1)
    assert not np.array_equal(other[1][1], yva)
    # ceil rounding, as scikit-learn: 1797 * 0.2 -> 360
    (_, v), = train_val_split(np.zeros(1797), val_fraction=0.2)
    assert len(v) == 360
    with pytest.raises(ValueError, match="val_fraction"):
        train_val_split(X, val_fraction=1.0)
    with pytest.raises(ValueError, match="same first dimension"):
        train_val_split(X, y[:5])


def test_train_val_split_stratified():
    labels = np.repeat(np.arange(3), [60, 30, 10])
    idx = np.arange(100)
    (itr, iva), (ltr, lva) = train_val_split(idx, labels, val_fraction=0.2, seed=5, stratify=labels)
    assert len(iva) == 20
    assert np.bincount(lva, minlength=3).tolist() == [12, 6, 2]
    assert np.bincount(ltr, minlength=3).tolist() == [48, 24, 8]
    np.testing.assert_array_equal(labels[iva], lva)


def test_random_split():
    X, y = make_xy(10)
    ds = TensorDataset(X, y)
    a, b = random_split(ds, [7, 3], seed=0)
    assert len(a) == 7 and len(b) == 3
    ya = np.concatenate([bt[1] for bt in arrays_of(DataLoader(a, batch_size=4, as_tensor=False))])
    yb = np.concatenate([bt[1] for bt in arrays_of(DataLoader(b, batch_size=4, as_tensor=False))])
    assert sorted(np.concatenate([ya, yb]).tolist()) == list(range(10))
    np.testing.assert_array_equal(random_split(ds, [7, 3], seed=0)[1].indices, b.indices)
    sizes = [len(s) for s in random_split(ds, [0.5, 0.3, 0.2])]
    assert sizes == [5, 3, 2]
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ds, [5, 4])


# --------------------------------------------------------------------------- one_hot / Standardizer


def test_one_hot():
    out = one_hot([0, 2, 1])
    assert out.dtype == np.float32 and out.shape == (3, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert one_hot(np.array([1, 0]), num_classes=4).shape == (2, 4)
    assert one_hot(np.array([[1], [3]]), 5, dtype=np.int64).shape == (2, 1, 5)
    np.testing.assert_array_equal(one_hot(np.array([1.0, 0.0])), [[0, 1], [1, 0]])  # integral floats are fine


@pytest.mark.parametrize(
    "labels, num_classes, message",
    [
        ([0, 3], 3, r"label 3 is out of range for num_classes=3"),
        ([-1, 0], None, r"label -1 is out of range"),
        ([0.5, 1], None, r"non-integer value 0.5"),
        ([np.nan], None, r"non-integer"),
        (["a", "b"], None, r"must be integers"),
        ([0, 1], -2, r"num_classes"),
    ],
)
def test_one_hot_errors(labels, num_classes, message):
    with pytest.raises(ValueError, match=message):
        one_hot(labels, num_classes)


def test_standardizer_round_trip_and_state():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 4)) * [1, 10, 0.1, 0] + [0, 5, -3, 7]).astype(np.float32)
    s = Standardizer()
    Z = s.fit_transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z[:, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Z[:, :3].std(axis=0), 1, atol=1e-4)
    np.testing.assert_array_equal(Z[:, 3], 0)  # constant feature: centred, not scaled
    assert s.std[3] == 1.0
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-5, atol=1e-5)

    state = s.state_dict()
    assert set(state) == {"mean", "std"} and all(type(v) is np.ndarray for v in state.values())
    s2 = Standardizer()
    s2.load_state_dict(state)
    np.testing.assert_array_equal(s2.transform(X), Z)

    with pytest.raises(RuntimeError, match="not fitted"):
        Standardizer().transform(X)
    with pytest.raises(ValueError, match="shape"):
        s.transform(X[:, :2])


# --------------------------------------------------------------------------- load_digits


def test_load_digits():
    pytest.importorskip("sklearn")
    d = gd.load_digits()
    assert d.name == "digits" and d.num_classes == 10 and d.input_shape == (64,)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = d.train, d.val, d.test
    assert (len(Xtr), len(Xva), len(Xte)) == (1293, 144, 360)
    for X, y in (d.train, d.val, d.test):
        assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape[1] == 64
        assert X.min() >= 0.0 and X.max() <= 1.0
    assert Xtr.max() == 1.0
    # stratified: every class has 36 (35 or 37 for rounding) test images
    assert set(np.bincount(yte, minlength=10)) <= {35, 36, 37}
    assert np.bincount(np.concatenate([ytr, yva, yte])).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # deterministic; the test set does not depend on `seed`
    d2 = gd.load_digits(seed=1)
    np.testing.assert_array_equal(d2.test[0], Xte)
    assert not np.array_equal(d2.val[1], yva)
    np.testing.assert_array_equal(gd.load_digits().val[0], Xva)
    img = gd.load_digits(flatten=False, val_fraction=0)
    assert img.val is None and img.input_shape == (1, 8, 8) and img.train[0].shape == (1437, 1, 8, 8)


# --------------------------------------------------------------------------- MNIST (shared data)

MNIST_COUNTS = {
    "train": [4932, 5678, 4968, 5101, 4859, 4506, 4951, 5175, 4842, 4988],
    "val": [991, 1064, 990, 1030, 983, 915, 967, 1090, 1009, 961],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


@pytest.fixture(scope="module")
def mnist_npz():
    return gd.load_mnist(need_shared("mnist.npz") / "mnist.npz")


@pytest.fixture(scope="module")
def mnist_idx():
    return gd.load_mnist(need_shared("mnist-idx") / "mnist-idx")


@pytest.mark.parametrize("which", ["mnist_npz", "mnist_idx"])
def test_load_mnist_shapes_and_counts(which, request):
    d = request.getfixturevalue(which)
    assert d.name == "mnist" and d.num_classes == 10 and d.input_shape == (784,)
    for part, n in (("train", 50000), ("val", 10000), ("test", 10000)):
        X, y = getattr(d, part)
        assert X.shape == (n, 784) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert np.bincount(y, minlength=10).tolist() == MNIST_COUNTS[part]
    X = d.train[0]
    assert X.min() == 0.0 and X.max() == 1.0
    assert abs(float(X[:5000].mean()) - 0.1307) < 0.005


def test_mnist_npz_and_idx_agree(mnist_npz, mnist_idx):
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(mnist_npz, part)[1], getattr(mnist_idx, part)[1])
    np.testing.assert_array_equal(mnist_npz.test[0], mnist_idx.test[0])
    np.testing.assert_array_equal(mnist_npz.val[0], mnist_idx.val[0])


def test_mnist_nielsen_scale_and_image_shape():
    d = gd.load_mnist(need_shared("mnist.npz") / "mnist.npz", scale="nielsen", flatten=False)
    assert d.input_shape == (1, 28, 28) and d.test[0].shape == (10000, 1, 28, 28)
    assert d.test[0].max() == np.float32(255 / 256)
    raw = np.load(SHARED / "mnist.npz")["test_x"]
    np.testing.assert_array_equal(d.test[0].reshape(10000, 784), raw.astype(np.float32) / 256)


def test_mnist_found_relative_to_cwd(monkeypatch):
    need_shared("mnist.npz")
    monkeypatch.delenv("GLASSGRAD_DATA", raising=False)
    monkeypatch.chdir(REPO_ROOT)  # ../shared/data relative to the current directory
    d = gd.load_mnist(val_size=0)
    assert d.val is None and len(d.train[0]) == 60000


# --------------------------------------------------------------------------- IDX parsing on small files


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x800 | arr.ndim
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def small_mnist(rng, n_train=12, n_test=5, side=4):
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_small_mnist(directory: Path, arrays: dict, compress: bool = True) -> dict[str, bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if compress:
            data, name = gzip.compress(data), name + ".gz"
        (directory / name).write_bytes(data)
        written[name] = data
    return written


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_read_idx(tmp_path, compress):
    imgs = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    for name, arr, magic in (("imgs", imgs, 0x803), ("labels", labels, 0x801)):
        data = idx_bytes(arr)
        path = tmp_path / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(data) if compress else data)
        out = gd.read_idx(path, expected_magic=magic)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, arr)


def test_read_idx_errors(tmp_path):
    good = idx_bytes(np.zeros((3, 2, 2), np.uint8))
    truncated = tmp_path / "truncated-idx3-ubyte"
    truncated.write_bytes(good[:-3])
    with pytest.raises(IDXFormatError, match=r"truncated-idx3-ubyte: truncated"):
        gd.read_idx(truncated)

    wrong = tmp_path / "wrong-magic.gz"
    wrong.write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))  # a labels file (0x801)
    with pytest.raises(IDXFormatError, match=r"wrong-magic.gz: wrong magic number 0x00000801, expected 0x00000803"):
        gd.read_idx(wrong, expected_magic=0x803)

    foreign = tmp_path / "foreign.txt"
    foreign.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(IDXFormatError, match=r"foreign.txt: not an IDX file"):
        gd.read_idx(foreign)

    cut_gz = tmp_path / "cut.gz"
    cut_gz.write_bytes(gzip.compress(good)[:-10])
    with pytest.raises(IDXFormatError, match=r"cut.gz: corrupt or truncated gzip"):
        gd.read_idx(cut_gz)

    trailing = tmp_path / "trailing"
    trailing.write_bytes(good + b"xx")
    with pytest.raises(IDXFormatError, match=r"trailing: 2 unexpected trailing bytes"):
        gd.read_idx(trailing)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_load_mnist_from_small_idx_dir(tmp_path, compress):
    arrays = small_mnist(np.random.default_rng(0))
    write_small_mnist(tmp_path, arrays, compress)
    d = gd.load_mnist(tmp_path, val_size=2, scale=None)
    assert d.input_shape == (16,)
    assert [len(d.train[0]), len(d.val[0]), len(d.test[0])] == [10, 2, 5]
    np.testing.assert_array_equal(d.train[0], arrays["train-images-idx3-ubyte"][:10].reshape(10, 16))
    np.testing.assert_array_equal(d.val[1], arrays["train-labels-idx1-ubyte"][10:])
    np.testing.assert_array_equal(d.test[0], arrays["t10k-images-idx3-ubyte"].reshape(5, 16))
    with pytest.raises(ValueError, match="val_size=10000 is larger than the 12 training images"):
        gd.load_mnist(tmp_path)


def test_load_mnist_bad_files_name_the_file(tmp_path):
    arrays = small_mnist(np.random.default_rng(0))
    write_small_mnist(tmp_path, arrays)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8))))
    with pytest.raises(IDXFormatError, match=r"t10k-images-idx3-ubyte.gz has 5 images but .*t10k-labels"):
        gd.load_mnist(tmp_path, val_size=2)
    bad_npz = tmp_path / "mnist.npz"
    bad_npz.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match=r"mnist.npz: cannot read as an .npz"):
        gd.load_mnist(bad_npz)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match=r"other.npz: not an MNIST npz: missing keys"):
        gd.load_mnist(tmp_path / "other.npz")


def test_load_mnist_search_order_and_not_found(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ../shared/data from here
    empty_cache = tmp_path / "cache"
    env_dir = tmp_path / "env"
    monkeypatch.setenv("GLASSGRAD_DATA", str(env_dir))
    with pytest.raises(FileNotFoundError, match="download=True") as info:
        gd.load_mnist(cache_dir=empty_cache)
    assert str(env_dir) in str(info.value) and str(empty_cache) in str(info.value)
    write_small_mnist(env_dir / "mnist-idx", small_mnist(np.random.default_rng(1)))
    assert len(gd.load_mnist(cache_dir=empty_cache, val_size=3).val[0]) == 3


# --------------------------------------------------------------------------- download (local HTTP server)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_dir(tmp_path, monkeypatch):
    """Serve a temporary directory on 127.0.0.1; yields (directory, base_url)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_download_and_load(http_dir, tmp_path, monkeypatch):
    root, url = http_dir
    written = write_small_mnist(root, small_mnist(np.random.default_rng(2)))
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in written.items()}
    cache = tmp_path / "cache"
    out = gd.download_mnist(cache_dir=cache, base_url=url, sha256=sums)
    assert out == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(written)  # no temp files left
    for name, data in written.items():
        assert (cache / name).read_bytes() == data

    # load_mnist(download=True) finds nothing locally, downloads into the cache and loads
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GLASSGRAD_DATA", raising=False)
    cache2 = tmp_path / "cache2"
    d = gd.load_mnist(download=True, cache_dir=cache2, base_url=url, sha256=sums, val_size=2)
    assert len(d.train[0]) == 10 and len(d.test[0]) == 5
    assert sorted(p.name for p in cache2.iterdir()) == sorted(written)
    # a second call uses the cache (server contents no longer matter)
    for p in root.iterdir():
        p.unlink()
    assert len(gd.load_mnist(cache_dir=cache2, val_size=2).train[0]) == 10


def test_download_rejects_corrupt_file(http_dir, tmp_path):
    root, url = http_dir
    written = write_small_mnist(root, small_mnist(np.random.default_rng(3)))
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in written.items()}
    bad = "t10k-images-idx3-ubyte.gz"
    (root / bad).write_bytes(written[bad][:-5] + b"XXXXX")  # corrupted on the server
    got = hashlib.sha256((root / bad).read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError) as info:
        gd.download_mnist(cache_dir=cache, base_url=url, sha256=sums)
    msg = str(info.value)
    assert bad in msg and sums[bad] in msg and got in msg
    assert not (cache / bad).exists()
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]

    # the real MNIST checksums are the default: small files do not pass them
    with pytest.raises(ChecksumError, match=gd.MNIST_SHA256["train-images-idx3-ubyte.gz"]):
        gd.download_mnist(cache_dir=tmp_path / "cache3", base_url=url)
    assert list((tmp_path / "cache3").iterdir()) == []


def test_download_missing_file_names_url(http_dir, tmp_path):
    root, url = http_dir
    with pytest.raises(OSError, match=r"could not download http://127\.0\.0\.1:\d+/train-images-idx3-ubyte\.gz"):
        gd.download_mnist(cache_dir=tmp_path / "cache", base_url=url)
    assert list((tmp_path / "cache").iterdir()) == []


# --------------------------------------------------------------------------- Learning From Data features

LFD_TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
LFD_TEST_COUNTS = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]


def test_load_lfd_digits_all_classes():
    d = gd.load_lfd_digits(need_shared("features.train", "features.test"), digits=None)
    assert d.num_classes == 10 and d.input_shape == (2,) and d.val is None
    (Xtr, ytr), (Xte, yte) = d.train, d.test
    assert Xtr.shape == (7291, 2) and Xte.shape == (2007, 2)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert np.bincount(ytr).tolist() == LFD_TRAIN_COUNTS
    assert np.bincount(yte).tolist() == LFD_TEST_COUNTS
    assert (Xtr[:, 1] <= 0).all()  # symmetry is the second feature and never positive
    assert ((Xtr[:, 0] >= 0) & (Xtr[:, 0] <= 1)).all()  # intensity in [0, 1]


def test_load_lfd_one_vs_five_and_one_vs_all():
    path = need_shared("features.train", "features.test")
    d = gd.load_lfd_digits(path)  # default digits=(1, 5): y = 1 for digit 1, 0 for digit 5
    assert d.num_classes == 2
    assert np.bincount(d.train[1]).tolist() == [556, 1005]
    assert np.bincount(d.test[1]).tolist() == [160, 264]
    ova = gd.load_lfd_digits(path, digits=0)
    assert len(ova.train[1]) == 7291 and int(ova.train[1].sum()) == 1194
    with_val = gd.load_lfd_digits(path, val_fraction=0.1)
    assert len(with_val.val[0]) == 157 and len(with_val.train[0]) == 1561 - 157
    with pytest.raises(ValueError, match="digits"):
        gd.load_lfd_digits(path, digits=(1, 2, 3))


def test_load_lfd_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="features.train and features.test"):
        gd.load_lfd_digits(tmp_path)
    (tmp_path / "features.train").write_text("1 0.2\n5 0.3\n")
    (tmp_path / "features.test").write_text("1.0 0.2 -1.0\n")
    with pytest.raises(ValueError, match="features.train"):
        gd.load_lfd_digits(tmp_path)


# --------------------------------------------------------------------------- synthetic sets and load_dataset


@pytest.mark.parametrize(
    "maker, kwargs, x_shape, y_shape, y_dtype",
    [
        (gd.make_xor, {}, (2,), (), np.int64),
        (gd.make_moons, {}, (2,), (), np.int64),
        (gd.make_spirals, {"classes": 4}, (2,), (), np.int64),
        (gd.make_sine, {}, (1,), (1,), np.float32),
    ],
)
def test_synthetic(maker, kwargs, x_shape, y_shape, y_dtype):
    X, y = maker(n=101, seed=7, **kwargs)
    assert X.shape == (101,) + x_shape and X.dtype == np.float32
    assert y.shape == (101,) + y_shape and y.dtype == y_dtype
    X2, y2 = maker(n=101, seed=7, **kwargs)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = maker(n=101, seed=8, **kwargs)
    assert not np.array_equal(X, X3)
    if y_dtype == np.int64:
        counts = np.bincount(y)
        assert counts.max() - counts.min() <= 1  # balanced classes
    with pytest.raises(ValueError, match="n must be"):
        maker(n=0, **kwargs)


def test_synthetic_labels_make_sense():
    X, y = gd.make_xor(400, noise=0.1, seed=0)
    np.testing.assert_array_equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64))
    X, y = gd.make_sine(200, noise=0.0, seed=0)
    np.testing.assert_allclose(y, np.sin(X), atol=1e-6)
    X, y = gd.make_spirals(300, noise=0.0, seed=0)
    assert np.all(np.hypot(X[:, 0], X[:, 1]) <= 1 + 1e-6)


@pytest.mark.parametrize("name", ["xor", "moons", "spirals", "sine"])
def test_load_dataset_synthetic(name):
    d = gd.load_dataset(name, n=200, seed=3)
    assert d.name == name
    sizes = [len(d.train[0]), len(d.val[0]), len(d.test[0])]
    assert sum(sizes) == 200 and sizes[2] == 40
    if name == "sine":
        assert d.num_classes is None and d.train[1].dtype == np.float32 and d.input_shape == (1,)
    else:
        assert d.num_classes == (3 if name == "spirals" else 2) and d.train[1].dtype == np.int64
    again = gd.load_dataset(name, n=200, seed=3)
    np.testing.assert_array_equal(again.val[0], d.val[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "other"


def test_load_dataset_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="digits, mnist, lfd, xor, moons, spirals, sine"):
        gd.load_dataset("cifar")


def test_load_dataset_dispatches_to_files(tmp_path):
    write_small_mnist(tmp_path, small_mnist(np.random.default_rng(4)))
    assert gd.load_dataset("MNIST", path=tmp_path, val_size=2).name == "mnist"
    lfd = need_shared("features.train", "features.test")
    assert gd.load_dataset("lfd", path=lfd).num_classes == 2


# --------------------------------------------------------------------------- import cost


def test_import_is_cheap():
    """glassgrad.data itself must not pull in scikit-learn, gzip, urllib or hashlib."""
    code = (
        "import sys\n"
        "try:\n    import glassgrad\nexcept Exception:\n    pass\n"
        "before = set(sys.modules)\n"
        "import glassgrad.data\n"
        "heavy = {'sklearn', 'gzip', 'urllib.request', 'hashlib', 'zipfile', 'tempfile'}\n"
        "print(sorted(heavy & (set(sys.modules) - before)))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
