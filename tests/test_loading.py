"""Loading is all or nothing on every path, against hostile files and states.

Every case asserts the one error type (``CheckpointError``), that its message names the file or the key,
and that the model, the optimiser and the random generators are exactly as they were.
"""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import optim
from glassgrad.data import make_moons
from glassgrad.nn import functional as F
from glassgrad.state import CheckpointError, StateKeyError
from glassgrad.tensor import default_generator
from glassgrad.train import ModelCheckpoint, fit, load_checkpoint, mlp, save_checkpoint
from glassgrad.train import checkpoint as checkpoint_module

QUIET = dict(progress=False, verbose=False)


# --------------------------------------------------------------------------------------------------
# A trained setup and its snapshot: "unchanged" means every array and setting is as it was
# --------------------------------------------------------------------------------------------------
def setup(seed: int = 0, kind: str = "sgd"):
    gg.manual_seed(seed)
    model = mlp([2, 8, 2], "tanh")
    opt = (optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if kind == "sgd"
           else optim.Adam(model.parameters(), lr=0.01))
    model(gg.ones(4, 2)).sum().backward()
    opt.step()
    return model, opt


def snapshot(model, opt) -> str:
    """Everything loading could change, as text: weights, optimiser state and settings, generators."""
    return json.dumps({"model": {k: v.tolist() for k, v in model.state_dict().items()},
                       "opt": opt.state_dict(), "rng": default_generator.get_state()},
                      default=lambda a: a.tolist() if isinstance(a, np.ndarray) else repr(a), sort_keys=True)


@pytest.fixture
def saved(tmp_path):
    """A good checkpoint of a trained model with resume state, its arrays and its JSON tree."""
    X, y = make_moons(64, noise=0.1, seed=0)
    model, opt = setup()
    path = tmp_path / "good.npz"
    fit(model, F.cross_entropy, opt, (X, y), epochs=1, batch_size=16, callbacks=[ModelCheckpoint(path)],
        metadata={"model": {"kind": "mlp", "sizes": [2, 8, 2], "activation": "tanh"}}, **QUIET)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    tree = json.loads(arrays["__metadata__"].tobytes())
    return path, arrays, tree


def write_checkpoint(path, model_state=None, optimizer_state=None, metadata=None, extra=None) -> str:
    """A checkpoint file as save_checkpoint lays it out, but with whatever state it is given (no checks)."""
    arrays: dict = {}
    flatten = checkpoint_module._flatten
    tree = {"format": checkpoint_module.FORMAT, "metadata": metadata or {},
            "model": None if model_state is None else flatten(model_state, "model", arrays),
            "optimizer": None if optimizer_state is None else flatten(optimizer_state, "optimizer", arrays),
            "extra": flatten(extra or {}, "extra", arrays)}
    return write_npz(path, arrays, tree)


def write_npz(path, arrays: dict, tree: dict | None = None) -> str:
    arrays = dict(arrays)
    if tree is not None:
        arrays["__metadata__"] = np.frombuffer(json.dumps(tree).encode(), np.uint8)
    np.savez(path, **arrays)
    return str(path)


def assert_refused(path, *names: str, call=None, model=None, opt=None):
    """``call`` (default: load_checkpoint(path)) raises CheckpointError naming path and ``names``, and
    leaves ``model``/``opt`` (and the default generator) unchanged."""
    before = snapshot(model, opt) if model is not None else None
    with pytest.raises(CheckpointError) as e:
        (call or (lambda: load_checkpoint(path)))()
    message = str(e.value)
    assert str(path) in message, message
    for name in names:
        assert name in message, (name, message)
    assert "\n" not in message.strip()
    if model is not None:
        assert snapshot(model, opt) == before
    return message


# --------------------------------------------------------------------------------------------------
# Crafted .npy headers and zip archives: nothing is allocated from a declared size
# --------------------------------------------------------------------------------------------------
def npy_bytes(descr, shape: tuple, data: bytes = b"", version=(1, 0), fortran=False) -> bytes:
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode("latin1")
    size_fmt = "<H" if version == (1, 0) else "<I"
    prefix = 10 if version == (1, 0) else 12
    header += b" " * ((64 - (prefix + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(size_fmt, len(header)) + header + data


def zip_with(path, entries: dict[str, bytes], compression=zipfile.ZIP_STORED) -> str:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return str(path)


def good_entries(saved) -> dict[str, bytes]:
    _, arrays, _ = saved
    out = {}
    for k, a in arrays.items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, a, allow_pickle=False)
        out[k + ".npy"] = buffer.getvalue()
    return out


@pytest.mark.parametrize("shape, descr", [((2 ** 45,), "<f8"), ((2 ** 31, 2 ** 31, 2 ** 31), "<f4"),
                                          ((10 ** 6,), "<f4"), ((-1,), "<f4")])
def test_a_crafted_npy_header_is_refused_before_any_allocation(saved, tmp_path, shape, descr):
    entries = good_entries(saved)
    entries["model/0.npy"] = npy_bytes(descr, shape, b"\0" * 64)
    path = zip_with(tmp_path / "huge.npz", entries)
    assert_refused(path, "model/0")


def test_a_huge_compressed_declaration_is_bounded_by_the_file(saved, tmp_path):
    entries = good_entries(saved)
    path = tmp_path / "bomb.npz"
    zip_with(path, entries, zipfile.ZIP_DEFLATED)
    assert load_checkpoint(path).model_state is not None     # a compressed checkpoint loads
    raw = bytearray(path.read_bytes())
    # the central directory's "uncompressed size" of the first entry: 1000 GB
    central = raw.rindex(b"PK\x01\x02", 0, len(raw))
    first = raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, first + 24, 0xFFFFFFF0)
    assert central >= first
    path.write_bytes(bytes(raw))
    assert_refused(path)


@pytest.mark.parametrize("entry, data, words", [
    ("model/0.npy", "object", "pickle"),
    ("model/0.npy", "<U3", "model/0.weight holds strings"),
    ("model/0.npy", "structured", "records"),
    ("model/0.npy", "v3", "not a valid .npy"),
    ("model/0.npy", "badheader", "not a valid .npy"),
    ("notes.txt", "text", "not an array"),
])
def test_entries_that_are_not_arrays_of_numbers(saved, tmp_path, entry, data, words):
    entries = good_entries(saved)
    entries[entry] = {
        "object": npy_bytes("|O", (2,), b"\0" * 16),
        "<U3": npy_bytes("<U3", (2,), b"\0" * 24),
        "structured": npy_bytes([("a", "<f4"), ("b", "<f4")], (2,), b"\0" * 16),
        "v3": npy_bytes("<f4", (2,), b"\0" * 8, version=(3, 0)),
        "badheader": b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n",
        "text": b"hello",
    }[data]
    path = zip_with(tmp_path / "odd.npz", entries)
    assert_refused(path, words)


def test_big_endian_and_fortran_order_arrays_load_as_saved(saved, tmp_path):
    entries = good_entries(saved)
    _, arrays, _ = saved
    w = arrays["model/0"]                                   # the first key of the model state: 0.weight
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asfortranarray(w.astype(">f4")))
    entries["model/0.npy"] = buffer.getvalue()
    ckpt = load_checkpoint(zip_with(tmp_path / "be.npz", entries))
    np.testing.assert_array_equal(ckpt.model_state["0.weight"], w)


def test_every_truncation_and_many_corruptions_raise_only_checkpoint_errors(saved, tmp_path):
    path, _, _ = saved
    data = path.read_bytes()
    target = tmp_path / "cut.npz"
    cuts = sorted(set(np.linspace(0, len(data) - 1, 60).astype(int).tolist()))
    for cut in cuts:
        target.write_bytes(data[:cut])
        assert_refused(target)
    rng = np.random.default_rng(0)
    loaded = 0
    for position in rng.integers(0, len(data), 150):
        corrupt = bytearray(data)
        corrupt[position] ^= 0xFF
        target.write_bytes(bytes(corrupt))
        try:                                   # a flip in a harmless place may still load; nothing else may escape
            load_checkpoint(target)
            loaded += 1
        except CheckpointError as e:
            assert str(target) in str(e)
    assert loaded < 150


# --------------------------------------------------------------------------------------------------
# The JSON structure: wrong shapes of JSON, depth, dangling references
# --------------------------------------------------------------------------------------------------
def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = {"__list__": [value]}
    return value


@pytest.mark.parametrize("change, words", [
    (lambda t: [1, 2, 3], "not an object"),
    (lambda t: "hello", "not an object"),
    (lambda t: {**t, "metadata": [1, 2]}, "'metadata'"),
    (lambda t: {**t, "model": "hello"}, "model"),
    (lambda t: {**t, "model": {"__dict__": [["0.weight", "hello"]]}}, "0.weight"),
    (lambda t: {**t, "model": {"__dict__": [["0.weight", {"__array__": "nowhere"}]]}}, "'nowhere'"),
    (lambda t: {**t, "optimizer": {"__list__": [1]}}, "optimizer"),
    (lambda t: {**t, "extra": {"__dict__": [[{"__list__": []}, 1]]}}, "extra"),
    (lambda t: {**t, "extra": {"__dict__": [[1, 2, 3]]}}, "pair"),
    (lambda t: {**t, "extra": {"__dict__": [["deep", nested(200)]]}}, "nested"),
    (lambda t: {**t, "metadata": {"deep": json.loads("[" * 100 + "]" * 100)}}, "nested"),
    (lambda t: {**t, "glassgrad_version": {"x": 1}}, "glassgrad_version"),
    (lambda t: {**t, "format": None}, "unknown checkpoint format"),
])
def test_wrong_json_structures_are_refused_naming_the_key(saved, tmp_path, change, words):
    _, arrays, tree = saved
    path = write_npz(tmp_path / "bad.npz", {k: v for k, v in arrays.items() if k != "__metadata__"}, change(tree))
    assert_refused(path, words)


def test_json_nested_past_the_parsers_limit(saved, tmp_path):
    _, arrays, _ = saved
    text = b"[" * 200_000 + b"]" * 200_000
    entries = {k: v for k, v in arrays.items() if k != "__metadata__"}
    entries["__metadata__"] = np.frombuffer(text, np.uint8)
    path = write_npz(tmp_path / "deep.npz", entries)
    assert_refused(path, "nested")


def test_paths_that_are_not_checkpoint_files(tmp_path):
    assert_refused(tmp_path / "absent.npz", "no such checkpoint file")
    assert_refused(tmp_path, "not a file")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert_refused(tmp_path / "loop")


def test_metadata_that_is_not_bytes(saved, tmp_path):
    _, arrays, _ = saved
    path = write_npz(tmp_path / "m.npz", {**arrays, "__metadata__": np.zeros(3, np.float32)})
    assert_refused(path, "__metadata__")


# --------------------------------------------------------------------------------------------------
# Restoring: the state must fit; nothing changes when it does not
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, words", [
    ("0.weight", np.zeros((3, 3), np.float32), "(3, 3)"),
    ("0.weight", np.float32(1.0), "not an array"),
    ("0.weight", np.zeros((), np.float32), "shape ()"),
    ("2.bias", np.zeros(2, np.complex64), "complex"),
    ("2.bias", np.array(["a", "b"]), "strings"),
    ("2.bias", np.array([b"a", b"b"]), "bytes"),
    ("2.bias", np.zeros(2, np.float64) + 0.1, "cannot represent exactly"),
    ("2.bias", np.array([np.nan, 0], np.float32), "nan"),
    ("2.bias", np.array([np.inf, 0], np.float32), "inf"),
    ("2.bias", "hello", "str"),
    ("2.bias", [1.0, 2.0], "list"),
])
def test_a_model_state_that_does_not_fit_changes_nothing(tmp_path, key, value, words):
    source, source_opt = setup(seed=1)
    state = {k: v + 1 for k, v in source.state_dict().items()}      # every earlier key would change first
    state[key] = value
    path = write_checkpoint(tmp_path / "bad.npz", state, source_opt.state_dict())
    model, opt = setup(seed=5)
    assert_refused(path, key, words, call=lambda: load_checkpoint(path).restore(model, opt), model=model, opt=opt)


@pytest.mark.parametrize("change, words", [
    (lambda o: {**o, "param_groups": [{**o["param_groups"][0], "lr": -1.0}]}, "learning rate"),
    (lambda o: {**o, "param_groups": [{**o["param_groups"][0], "lr": "fast"}]}, "'lr'"),
    (lambda o: {**o, "param_groups": [{**o["param_groups"][0], "lr": float("inf")}]}, "not a finite number"),
    (lambda o: {**o, "param_groups": [{**o["param_groups"][0], "momentum": True}]}, "'momentum'"),
    (lambda o: {**o, "param_groups": [{**o["param_groups"][0], "nesterov": 3}]}, "'nesterov'"),
    (lambda o: {**o, "param_groups": [{**o["param_groups"][0], "surprise": 1}]}, "'surprise'"),
    (lambda o: {**o, "param_groups": [{**o["param_groups"][0], "params": [0, 1]}]}, "group 0"),
    (lambda o: {**o, "param_groups": [{**o["param_groups"][0], "params": [0, 0, 1, 2]}]}, "twice"),
    (lambda o: {**o, "param_groups": 7}, "param_groups"),
    (lambda o: {**o, "state": [1, 2]}, "'state'"),
    (lambda o: {**o, "state": {**o["state"], "x": {}}}, "'x'"),
    (lambda o: {**o, "state": {**o["state"], 9: {}}}, "none of its parameter groups"),
    (lambda o: {**o, "state": {**o["state"], 0: {"momentum_buffer": np.zeros(7, np.float32)}}}, "(7,)"),
    (lambda o: {**o, "state": {**o["state"], 0: {"momentum_buffer": np.zeros((8, 2), np.complex64)}}}, "complex"),
    (lambda o: {**o, "state": {**o["state"], 0: {"momentum_buffer": "fast"}}}, "momentum_buffer"),
    (lambda o: {**o, "state": {**o["state"], 0: 5}}, "must be a dict"),
    (lambda o: {"state": o["state"]}, "param_groups"),
])
def test_an_optimizer_state_that_does_not_fit_changes_neither_model_nor_optimizer(tmp_path, change, words):
    """The model state is good and comes first: it must still not be loaded when the optimiser's is bad."""
    source, source_opt = setup(seed=1)
    path = write_checkpoint(tmp_path / "c.npz", source.state_dict(), change(source_opt.state_dict()))
    model, opt = setup(seed=5)
    assert_refused(path, "optimizer", words, call=lambda: load_checkpoint(path).restore(model, opt),
                   model=model, opt=opt)


def test_the_state_of_another_kind_of_optimizer(tmp_path):
    source, source_opt = setup(seed=1, kind="adam")
    path = save_checkpoint(tmp_path / "adam.npz", source, source_opt)
    model, opt = setup(seed=5, kind="sgd")
    assert_refused(path, "optimizer", call=lambda: load_checkpoint(path).restore(model, opt), model=model, opt=opt)


def test_a_checkpoint_of_another_architecture(tmp_path):
    gg.manual_seed(0)
    path = save_checkpoint(tmp_path / "wide.npz", mlp([2, 16, 2]))
    model, opt = setup(seed=5)
    message = assert_refused(path, "0.weight", "(16, 2)", "(8, 2)",
                             call=lambda: load_checkpoint(path).restore(model, opt), model=model, opt=opt)
    assert "same sizes" in message
    with pytest.raises(CheckpointError, match="missing keys"):
        load_checkpoint(save_checkpoint(tmp_path / "deep.npz", mlp([2, 8, 8, 2]))).restore(model)


# --------------------------------------------------------------------------------------------------
# fit(resume=...): the model, the optimiser, the generators — all or nothing
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (lambda e: {k: v for k, v in e.items() if k != "history"}, "resume state"),
    (lambda e: {**e, "history": "hello"}, "history"),
    (lambda e: {**e, "history": [{}, {}, {}]}, "history"),
    (lambda e: {**e, "epoch": -1}, "epoch"),
    (lambda e: {**e, "epoch": "1"}, "epoch"),
    (lambda e: {**e, "loader_rng": {"bit_generator": "MT19937"}}, "loader_rng"),
    (lambda e: {**e, "default_rng": [1, 2]}, "default_rng"),
    (lambda e: {**e, "default_rng": {**e["default_rng"], "state": "x"}}, "default_rng"),
])
def test_resume_from_a_bad_checkpoint_changes_nothing(saved, tmp_path, change, words):
    path, arrays, tree = saved
    ckpt = load_checkpoint(path)
    extra_arrays = {}
    tree = {**tree, "extra": checkpoint_module._flatten(change(ckpt.extra), "extra", extra_arrays)}
    bad = write_npz(tmp_path / "bad.npz", {**{k: v for k, v in arrays.items() if not k.startswith("extra")},
                                           **extra_arrays}, tree)
    X, y = make_moons(64, noise=0.1, seed=0)
    model, opt = setup(seed=5)
    assert_refused(bad, words, model=model, opt=opt,
                   call=lambda: fit(model, F.cross_entropy, opt, (X, y), epochs=3, resume=bad, **QUIET))


def test_resume_with_a_mismatched_optimizer_leaves_the_model_alone(saved):
    path, _, _ = saved
    X, y = make_moons(64, noise=0.1, seed=0)
    model, opt = setup(seed=5, kind="adam")
    assert_refused(path, "optimizer", model=model, opt=opt,
                   call=lambda: fit(model, F.cross_entropy, opt, (X, y), epochs=3, resume=path, **QUIET))


# --------------------------------------------------------------------------------------------------
# Model specs in the metadata (what the command line builds from)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, words", [
    ({"kind": "mlp", "sizes": [4_000_000, 4_000_000, 1_000_000]}, "describes"),
    ({"kind": "mlp", "sizes": [2, 16, 2]}, "describes"),
    ("hello", "not a str"),
    ({"kind": "mlp", "sizes": "hello"}, "sizes"),
    ({"kind": "mlp", "sizes": [2, 0, 2]}, "sizes"),
    ({"kind": "mlp", "sizes": [2, True, 2]}, "sizes"),
    ({"kind": "mlp", "sizes": [2, 8, 2], "activation": "nope"}, "activation"),
    ({"kind": "mlp", "sizes": [2, 8, 2], "activation": ["relu"]}, "activation"),
    ({"kind": "mlp", "sizes": [2, 8, 2], "extra": 1}, "unknown keys"),
    ({"kind": "transformer"}, "unknown model kind"),
    (None, "no model spec"),
])
def test_a_model_spec_is_checked_against_the_weights_before_building(saved, tmp_path, spec, words):
    _, arrays, tree = saved
    metadata = {**tree["metadata"], "model": spec}
    if spec is None:
        del metadata["model"]
    path = write_npz(tmp_path / "spec.npz", {k: v for k, v in arrays.items() if k != "__metadata__"},
                     {**tree, "metadata": metadata})
    message = assert_refused(path, words, call=lambda: load_checkpoint(path).build_model())
    if isinstance(spec, dict) and spec.get("kind") == "mlp" and isinstance(spec.get("sizes"), list):
        assert "metadata/model" in message


def test_build_model_from_a_good_checkpoint(saved):
    path, arrays, _ = saved
    model = load_checkpoint(path).build_model()
    np.testing.assert_array_equal(model.state_dict()["0.weight"], arrays["model/0"])


# --------------------------------------------------------------------------------------------------
# State dicts from Python: the same checks, the same error type
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, words", [
    (np.zeros((2, 8), np.complex64), "complex"),
    (np.array([["a"] * 8] * 2), "strings"),
    (np.array([[object()] * 8] * 2, dtype=object), "objects"),
    (np.zeros((2, 8), np.float64) + 0.1, "cannot represent exactly"),
    (np.full((2, 8), 2 ** 24 + 1, np.int64), "cannot represent exactly"),
    (np.full((2, 8), 1e300), "cannot represent exactly"),
    (np.full((2, 8), np.nan, np.float32), "nan"),
    (np.zeros((8, 2), np.float32), "(8, 2)"),
    ("weights", "str"),
    ([[1.0, "x"]] * 2, "list"),
])
def test_module_load_state_dict_refuses_and_changes_nothing(value, words):
    model, opt = setup()
    state = {k: v + 1 for k, v in model.state_dict().items()}     # earlier keys would change first
    state["2.weight"] = value                                      # a bad value on a later key
    before = snapshot(model, opt)
    with pytest.raises(CheckpointError) as e:
        model.load_state_dict(state)
    assert "2.weight" in str(e.value) and words in str(e.value)
    assert snapshot(model, opt) == before


def test_module_load_state_dict_accepts_lossless_conversions():
    model, _ = setup()
    for convert in (lambda a: a.astype(np.float16), lambda a: a.astype(np.float64), lambda a: a.tolist()):
        state = {k: convert(np.round(v * 8) / 8) for k, v in model.state_dict().items()}   # eighths: exact in all
        model.load_state_dict(state)
        assert all(p.dtype == np.float32 for p in model.parameters())
        assert all(np.array_equal(model.state_dict()[k], np.asarray(v, np.float32)) for k, v in state.items())
    model.load_state_dict({k: np.ones(v.shape, np.int64) for k, v in model.state_dict().items()})
    assert all(np.all(p.data == 1) for p in model.parameters())
    with pytest.raises(StateKeyError) as e:
        model.load_state_dict({})
    assert isinstance(e.value, KeyError) and "missing keys" in str(e.value)
    with pytest.raises(CheckpointError, match="dict of arrays"):
        model.load_state_dict([1, 2])


@pytest.mark.parametrize("bad", [
    {"state": {}, "param_groups": [5]},
    {"state": {"0": {"step": "abc", "exp_avg": 0}}, "param_groups": None},
    {"state": {"x": {}}, "param_groups": []},
    "state",
    {"state": {0: {"step": -1, "exp_avg": np.zeros((8, 2), np.float32), "exp_avg_sq": np.zeros((8, 2), np.float32)}},
     "param_groups": [{"params": [0, 1, 2, 3], "lr": 0.1}]},
    {"state": {0: {"step": 1.5, "exp_avg": np.zeros((8, 2), np.float32), "exp_avg_sq": np.zeros((8, 2), np.float32)}},
     "param_groups": [{"params": [0, 1, 2, 3], "lr": 0.1}]},
    {"state": {}, "param_groups": [{"params": [0, 1, 2, 3], "betas": [0.9]}]},
    {"state": {}, "param_groups": [{"params": [0, 1, 2, 3], "betas": "ab"}]},
    {"state": {}, "param_groups": [{"params": ["a", 1, 2, 3]}]},
])
def test_optimizer_load_state_dict_refuses_and_changes_nothing(bad):
    model, opt = setup(kind="adam")
    before = snapshot(model, opt)
    with pytest.raises(CheckpointError):
        opt.load_state_dict(bad)
    assert snapshot(model, opt) == before


# --------------------------------------------------------------------------------------------------
# Writing: never non-finite weights; at most one temporary file; permissions follow the umask
# --------------------------------------------------------------------------------------------------
def test_a_model_with_non_finite_weights_is_not_saved(tmp_path):
    model, opt = setup()
    path = save_checkpoint(tmp_path / "m.npz", model, opt)
    good = path.read_bytes()
    model[2].bias.data[0] = np.nan
    with pytest.raises(CheckpointError, match=r"2\.bias holds nan"):
        save_checkpoint(path, model, opt)
    assert path.read_bytes() == good


def test_the_temporary_file_has_one_fixed_name_and_the_next_write_replaces_it(tmp_path):
    model, opt = setup()
    path = tmp_path / "model.npz"
    stale = tmp_path / "model.npz.tmp"
    stale.write_bytes(b"half a checkpoint")
    os.chmod(stale, 0o600)
    save_checkpoint(path, model, opt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


@pytest.mark.skipif(os.name != "posix", reason="permission bits are POSIX")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_checkpoints_follow_the_umask(tmp_path, umask):
    model, _ = setup()
    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / f"m{umask:o}.npz", model)
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask


SIGKILL_WRITER = """
import sys, numpy as np
from glassgrad.train import checkpoint
from glassgrad import nn
model = nn.Linear(2000, 1000)          # an 8 MB checkpoint: long enough a write to interrupt
real = checkpoint.xp.savez
def slow(f, **arrays):
    real(f, **arrays)
    f.flush()
    print("writing", flush=True)
    import time; time.sleep(60)          # killed here: the temporary file is complete on disk
checkpoint.xp.savez = slow
checkpoint.save_checkpoint(sys.argv[1], model)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_a_write_killed_with_sigkill_leaves_one_temporary_file_that_the_next_write_removes(tmp_path):
    import signal
    import subprocess
    import sys

    path = tmp_path / "model.npz"
    model, _ = setup()
    save_checkpoint(path, model)
    good = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(__import__("pathlib").Path(
        gg.__file__).parents[1]), os.environ.get("PYTHONPATH")]))}
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", SIGKILL_WRITER, str(path)], stdout=subprocess.PIPE, env=env,
                                text=True)
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "model.npz.tmp"]
        assert path.read_bytes() == good                      # the target is untouched
    save_checkpoint(path, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
