"""Checkpoints: a model's arrays, an optimiser's state and JSON metadata in one ``.npz`` file.

Safe to load: the file is read with ``allow_pickle=False``, so loading never runs code from it; the
structure (optimiser state, metadata) is JSON. Safe to write: the file is written to a temporary name
beside the target and renamed over it, so a crash mid-write leaves the previous checkpoint intact.
Loading checks everything before anything is changed (``glassgrad.state``); every problem is a
``CheckpointError`` naming the file, the key and what to do.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glassgrad._backend import ndarray, xp
from glassgrad._version import __version__
from glassgrad.device import is_device_array, to_host
from glassgrad.files import write_atomically
from glassgrad.state import CheckpointError, Commit, Stateful, commit_all, describe_dtype, first_nonfinite

if TYPE_CHECKING:      # for annotations only (build_model loads nn when it is called)
    from glassgrad.nn import Module

__all__ = ["FORMAT", "Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint", "load_array"]

FORMAT = "glassgrad-checkpoint/1"
_META = "__metadata__"
MAX_DEPTH = 64            # nesting of the JSON structure; glassgrad writes at most about 8
MAX_ENTRIES = 100_000     # arrays in one file
_DEFLATE_RATIO = 1032     # the most that deflate can expand: bounds what a compressed entry may declare
_NUMBER_KINDS = "biuf"    # bool, integers, floats: the only arrays a checkpoint's state may hold
_READABLE_KINDS = "biufcSU"   # read (bounded by the file's size), then refused by key if not numbers


def _flatten(obj: Any, path: str, arrays: dict[str, ndarray]) -> Any:
    """Nested dicts / lists of numbers and arrays → JSON, with each array stored under its own key (as a
    host NumPy array: a GPU array is copied back, so the file loads on a machine without a GPU)."""
    if isinstance(obj, ndarray) or is_device_array(obj):
        arrays[path] = to_host(obj)
        return {"__array__": path}
    if isinstance(obj, xp.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {"__dict__": [[_flatten(k, f"{path}/k{i}", arrays), _flatten(v, f"{path}/{i}", arrays)]
                             for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_flatten(v, f"{path}/{i}", arrays) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} at {path}; state must be dicts, lists, "
                    "numbers, strings and arrays")


def _unflatten(obj: Any, arrays: dict[str, ndarray], where: str, depth: int = 0) -> Any:
    """The inverse of ``_flatten``, checking the structure: a ``CheckpointError`` naming ``where`` otherwise."""
    if depth > MAX_DEPTH:
        raise CheckpointError(f"{where} is nested more than {MAX_DEPTH} levels deep")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict) and set(obj) == {"__array__"}:
        ref = obj["__array__"]
        if not isinstance(ref, str) or ref not in arrays:
            raise CheckpointError(f"{where} refers to an array {ref!r} that the file does not hold")
        if arrays[ref].dtype.kind not in _NUMBER_KINDS:
            raise CheckpointError(f"{where} holds {describe_dtype(arrays[ref].dtype)}; a checkpoint holds only "
                                  "arrays of real numbers — the file is corrupt or from another program")
        return arrays[ref]
    if isinstance(obj, dict) and set(obj) == {"__dict__"} and isinstance(obj["__dict__"], list):
        out = {}
        for i, pair in enumerate(obj["__dict__"]):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise CheckpointError(f"{where}: entry {i} is not a [key, value] pair")
            key = _unflatten(pair[0], arrays, f"{where}/k{i}", depth + 1)
            if not (key is None or isinstance(key, (bool, int, float, str))):
                raise CheckpointError(f"{where}: key {i} is a {type(key).__name__}, not a number or string")
            out[key] = _unflatten(pair[1], arrays, f"{where}/{key}", depth + 1)
        return out
    if isinstance(obj, dict) and set(obj) <= {"__list__", "tuple"} and isinstance(obj.get("__list__"), list):
        items = [_unflatten(v, arrays, f"{where}/{i}", depth + 1) for i, v in enumerate(obj["__list__"])]
        return tuple(items) if obj.get("tuple") is True else items
    raise CheckpointError(f"{where} is a {type(obj).__name__} in no form glassgrad writes")


def _json_depth_ok(obj: Any, limit: int) -> bool:
    """Whether plain JSON ``obj`` nests at most ``limit`` levels (checked without deep recursion)."""
    stack = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return True


def save_checkpoint(path: str | os.PathLike, model: Stateful | None = None, optimizer: Stateful | None = None,
                    metadata: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Write model state, optimiser state, ``extra`` state (nested) and ``metadata`` (JSON) atomically.

    The file is written to ``<path>.tmp`` beside the target and renamed over it: a crash mid-write leaves
    the previous checkpoint intact and at most that one temporary file, which the next write replaces.
    Arrays are always stored as host NumPy arrays (from any device); loading puts each on the device of the
    parameter it loads into. The
    file's permissions follow the umask. A model whose weights are not all finite is refused
    (``CheckpointError``): a checkpoint never holds NaN or infinite weights.
    """
    path = Path(path)
    model_state = dict(model.state_dict()) if model is not None else None
    bad = first_nonfinite(model_state.items()) if model_state is not None else None
    if bad is not None:
        raise CheckpointError(f"{path}: not written: the model's {bad[0]} holds {bad[1]} values; a checkpoint "
                              "never holds non-finite weights (keep the last good one)")
    arrays: dict[str, ndarray] = {}
    tree = {
        "format": FORMAT,
        "glassgrad_version": __version__,
        "metadata": metadata or {},
        "model": _flatten(model_state, "model", arrays) if model_state is not None else None,
        "optimizer": _flatten(optimizer.state_dict(), "optimizer", arrays) if optimizer is not None else None,
        "extra": _flatten(extra or {}, "extra", arrays),
    }
    arrays[_META] = xp.frombuffer(json.dumps(tree).encode(), dtype=xp.uint8)
    # numpy's stubs type savez's **kwds as allow_pickle
    return write_atomically(path, lambda f: xp.savez(f, **arrays), durable=True)  # type: ignore[arg-type]


class Checkpoint:
    """A loaded, checked checkpoint: ``model_state``, ``optimizer_state``, ``extra``, ``metadata``.

    ``restore(model, optimizer)`` loads it all or nothing; ``prepare_restore`` checks it against them and
    returns the function that loads it, for callers that restore more than these two at once.
    """

    def __init__(self, path: Path, tree: dict, arrays: dict[str, ndarray]):
        self.path = Path(path)
        if not isinstance(tree, dict):
            raise self.error(f"its metadata is a JSON {type(tree).__name__}, not an object")
        if tree.get("format") != FORMAT:
            raise self.error(f"unknown checkpoint format {tree.get('format')!r} (expected {FORMAT})")
        if not _json_depth_ok(tree, MAX_DEPTH):
            raise self.error(f"its metadata is nested more than {MAX_DEPTH} levels deep")
        version, metadata = tree.get("glassgrad_version"), tree.get("metadata", {})
        if not (version is None or isinstance(version, str)):
            raise self.error(f"key 'glassgrad_version' is a {type(version).__name__}, not a string")
        if not isinstance(metadata, dict):
            raise self.error(f"key 'metadata' is a JSON {type(metadata).__name__}, not an object")
        self.version, self.metadata = version, metadata
        try:
            self.model_state = self._section(tree, "model", arrays, optional=True)
            self.optimizer_state = self._section(tree, "optimizer", arrays, optional=True)
            self.extra = self._section(tree, "extra", arrays, optional=False) or {}
        except CheckpointError as e:
            raise self.error(str(e)) from None
        for name, value in (self.model_state or {}).items():
            if not isinstance(name, str) or not isinstance(value, ndarray):
                raise self.error(f"model state key {name!r} holds a {type(value).__name__}, not an array")

    @staticmethod
    def _section(tree: dict, key: str, arrays: dict[str, ndarray], optional: bool) -> dict | None:
        if tree.get(key) is None and optional:
            return None
        value = _unflatten(tree.get(key) or {"__dict__": []}, arrays, key)
        if not isinstance(value, dict):
            raise CheckpointError(f"key {key!r} holds a {type(value).__name__}, not a dict")
        return value

    def error(self, problem: str) -> CheckpointError:
        """A ``CheckpointError`` about this file."""
        return CheckpointError(f"{self.path}: {problem}")

    def prepare_restore(self, model: Stateful | None = None, optimizer: Stateful | None = None) -> Commit:
        """Check that the saved state fits ``model`` and ``optimizer`` (either may be None) without changing
        anything; return the function that loads it. A ``CheckpointError`` names the file and the key."""
        commits: list[Commit] = []
        for target, state, what in ((model, self.model_state, "model"), (optimizer, self.optimizer_state, "optimizer")):
            if target is None:
                continue
            if state is None:
                raise self.error(f"holds no {what} state (it was saved without one)")
            commits.append(self._prepare(target, state, what))
        return lambda: commit_all(*commits)

    def _prepare(self, target, state: dict, what: str) -> Commit:
        prepare = getattr(target, "prepare_state_dict", None)
        if prepare is None:         # an object with only load_state_dict: it is loaded last, as it is
            return lambda: target.load_state_dict(state)
        try:
            return prepare(state)
        except CheckpointError as e:
            raise self.error(f"{what} state: {e}") from None
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise self.error(f"{what} state does not fit the {what} ({type(e).__name__}: {e}); load it into "
                             f"a {what} built the same way") from None

    def build_model(self) -> Module:
        """The model described by the metadata's spec (``metadata["model"]``, as ``glassgrad train`` writes
        it), with the saved weights loaded. The spec is checked against the saved state before anything is
        built, so a spec that does not match it (or asks for terabytes) is refused, not allocated."""
        from glassgrad.train.models import build_model, check_spec, spec_num_parameters

        spec = self.metadata.get("model")
        if spec is None:
            raise self.error("has no model spec in its metadata; load it from Python with "
                             "load_checkpoint(path).restore(your_model)")
        if self.model_state is None:
            raise self.error("holds no model state (it was saved without one)")
        try:
            check_spec(spec)
        except ValueError as e:
            raise self.error(f"key 'metadata/model': {e}") from None
        saved = sum(int(a.size) for a in self.model_state.values())
        if spec_num_parameters(spec) != saved:
            raise self.error(f"key 'metadata/model': the spec {spec['sizes']} describes "
                             f"{spec_num_parameters(spec):,} weights but the file holds {saved:,}; the metadata "
                             "does not belong to these weights")
        model = build_model(spec)
        self.restore(model)
        return model

    def restore(self, model: Stateful | None = None, optimizer: Stateful | None = None) -> Checkpoint:
        """Load the saved state into a model and an optimiser built the same way: all or nothing."""
        self.prepare_restore(model, optimizer)()
        return self

    def prepare_resume(self, *bit_generators: xp.random.BitGenerator) -> tuple[list[dict], Commit]:
        """Check the resume state that ``fit`` saved (epoch, history, the states of the random generators:
        the data loader's, then the default one) and return the history and the function that sets the
        generators' states."""
        extra = self.extra
        missing = [k for k in ("epoch", "history", "loader_rng", "default_rng") if k not in extra]
        if missing:
            raise self.error(f"has no resume state (missing {missing}); it was not written by "
                             "ModelCheckpoint during fit — start a new run, or load the weights with restore()")
        epoch, history = extra["epoch"], extra["history"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise self.error(f"key 'extra/epoch' is {epoch!r}, not a whole number >= 0")
        if not isinstance(history, list) or len(history) != epoch or not all(isinstance(h, dict) for h in history):
            raise self.error(f"key 'extra/history' must be a list of {epoch} dicts (one per epoch), found "
                             f"{type(history).__name__} of length {len(history) if isinstance(history, list) else '-'}")
        states = (extra["loader_rng"], extra["default_rng"])
        for key, state, generator in zip(("loader_rng", "default_rng"), states, bit_generators):
            probe = type(generator)()
            try:
                probe.state = state
            except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
                raise self.error(f"key 'extra/{key}' is not a state of a {type(generator).__name__} random "
                                 f"generator ({type(e).__name__}: {e})") from None

        def commit() -> None:
            for generator, state in zip(bit_generators, states):
                generator.state = state
        return [dict(h) for h in history], commit


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and check a checkpoint written by ``save_checkpoint``; never unpickles, never runs code from the file.

    Every entry's declared size is checked against the file's own size before anything is allocated, and
    the JSON structure against the format (types, nesting depth, array references). Any problem is a
    ``CheckpointError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: " + ("not a file (a folder or a device); give the checkpoint's .npz file"
                                             if path.exists() else "no such checkpoint file"))
    try:
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != b"PK\x03\x04":   # every .npz is a zip archive
            raise CheckpointError(f"{path}: not a glassgrad checkpoint (not an .npz archive)")
        arrays = _read_npz(path)
        if _META not in arrays:
            raise CheckpointError(f"{path}: an .npz file but not a glassgrad checkpoint (no {_META} entry)")
        meta = arrays.pop(_META)
        if meta.dtype != xp.uint8 or meta.ndim != 1:
            raise CheckpointError(f"{path}: entry {_META!r} is not JSON text (bytes)")
        try:
            tree = json.loads(meta.tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{path}: its metadata is not valid JSON: {e}") from None
        except RecursionError:
            raise CheckpointError(f"{path}: its metadata is nested too deeply to be a glassgrad checkpoint") from None
        return Checkpoint(path, tree, arrays)
    except CheckpointError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as e:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint (truncated or another format): {e}") from None
    except Exception as e:   # MemoryError, RecursionError, …: a crafted file never surfaces as a low-level error
        raise CheckpointError(f"{path}: not a readable glassgrad checkpoint ({type(e).__name__}: {e})") from None


def _read_npz(path: Path) -> dict[str, ndarray]:
    """The arrays of an .npz file, read without ``numpy.load``: each .npy header is checked (numbers only,
    no pickled objects, a declared size the entry really holds) before its data is read."""
    file_size = path.stat().st_size
    arrays: dict[str, ndarray] = {}
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise CheckpointError(f"{path}: holds {len(infos)} entries; a checkpoint holds at most {MAX_ENTRIES}")
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else None
            if key is None or key in arrays:
                raise CheckpointError(f"{path}: entry {info.filename!r} is " +
                                      ("not an array (.npy)" if key is None else "there twice"))
            ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_RATIO
            if info.compress_size > file_size or info.file_size > info.compress_size * ratio:
                raise CheckpointError(f"{path}: entry {key!r} declares {info.file_size:,} bytes, more than a "
                                      f"{file_size:,}-byte file can hold; the file is corrupt or crafted")
            with zf.open(info) as f:
                arrays[key] = _read_npy(f, info.file_size, f"{path}: entry {key!r}")
    return arrays


def load_array(path: str | os.PathLike) -> ndarray:
    """One array from a ``.npy`` file, with the checks ``load_checkpoint`` makes: numbers only, never
    pickled objects, a declared size the file really holds. A ``CheckpointError`` names the file otherwise."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            array = _read_npy(f, path.stat().st_size, str(path))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror or e})") from None
    if array.dtype.kind not in _NUMBER_KINDS:
        raise CheckpointError(f"{path}: holds {describe_dtype(array.dtype)}, not numbers")
    return array


def _read_npy(f, size: int, where: str) -> ndarray:
    try:
        version = xp.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = xp.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = xp.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f".npy format version {version} is not one numpy.savez writes")
    except ValueError as e:
        raise CheckpointError(f"{where} is not a valid .npy array: {e}") from None
    if dtype.hasobject:
        raise CheckpointError(f"{where} contains pickled objects, which glassgrad never loads")
    if dtype.kind not in _READABLE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CheckpointError(f"{where} holds {describe_dtype(dtype)}; a checkpoint holds only arrays of real "
                              "numbers")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > size:
        raise CheckpointError(f"{where} declares shape {shape} ({nbytes:,} bytes) but holds at most {size:,} "
                              "bytes; the file is truncated or crafted")
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise CheckpointError(f"{where} is truncated ({len(data):,} of {nbytes:,} bytes)")
    while f.read(1 << 20):   # read to the end of the entry, so zipfile checks its CRC
        pass
    array = xp.frombuffer(bytearray(data), dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))
