"""Checkpoints: a model's arrays, an optimiser's state and JSON metadata in one ``.npz`` file.

Safe to load: the file is read with ``allow_pickle=False``, so loading never runs code from it; the
structure (optimiser state, metadata) is JSON. Safe to write: the file is written to a temporary name
beside the target and renamed over it, so a crash mid-write leaves the previous checkpoint intact.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from glassgrad._backend import ndarray, xp
from glassgrad._version import __version__

FORMAT = "glassgrad-checkpoint/1"
_META = "__metadata__"


class CheckpointError(ValueError):
    """A file that is not a readable glassgrad checkpoint; the message names the file and the problem."""


def _flatten(obj: Any, path: str, arrays: dict[str, ndarray]) -> Any:
    """Nested dicts / lists of numbers and arrays → JSON, with each array stored under its own key."""
    if isinstance(obj, ndarray):
        arrays[path] = obj
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


def _unflatten(obj: Any, arrays) -> Any:
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__dict__" in obj:
            return {_unflatten(k, arrays): _unflatten(v, arrays) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_unflatten(v, arrays) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def save_checkpoint(path: str | os.PathLike, model=None, optimizer=None, metadata: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Write model state, optimiser state, ``extra`` state (nested) and ``metadata`` (JSON) atomically."""
    path = Path(path)
    arrays: dict[str, ndarray] = {}
    tree = {
        "format": FORMAT,
        "glassgrad_version": __version__,
        "metadata": metadata or {},
        "model": _flatten(dict(model.state_dict()), "model", arrays) if model is not None else None,
        "optimizer": _flatten(optimizer.state_dict(), "optimizer", arrays) if optimizer is not None else None,
        "extra": _flatten(extra or {}, "extra", arrays),
    }
    arrays[_META] = xp.frombuffer(json.dumps(tree).encode(), dtype=xp.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            xp.savez(f, **arrays)  # type: ignore[arg-type]  # numpy stubs type **kwds as allow_pickle
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class Checkpoint:
    """A loaded checkpoint: ``model_state``, ``optimizer_state``, ``extra``, ``metadata``."""

    def __init__(self, path: Path, tree: dict, arrays: dict[str, ndarray]):
        self.path = path
        self.version = tree.get("glassgrad_version")
        self.metadata = tree.get("metadata", {})
        self.model_state = _unflatten(tree["model"], arrays) if tree.get("model") else None
        self.optimizer_state = _unflatten(tree["optimizer"], arrays) if tree.get("optimizer") else None
        self.extra = _unflatten(tree.get("extra") or {}, arrays)

    def restore(self, model=None, optimizer=None) -> "Checkpoint":
        """Load the saved state into a model and an optimiser built the same way."""
        if model is not None:
            if self.model_state is None:
                raise CheckpointError(f"{self.path}: holds no model state")
            model.load_state_dict(self.model_state)
        if optimizer is not None:
            if self.optimizer_state is None:
                raise CheckpointError(f"{self.path}: holds no optimizer state")
            optimizer.load_state_dict(self.optimizer_state)
        return self


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; never unpickles, never runs code from the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with path.open("rb") as f:
        if f.read(4) != b"PK\x03\x04":   # every .npz is a zip archive
            raise CheckpointError(f"{path}: not a glassgrad checkpoint (not an .npz archive)")
    try:
        with xp.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable .npz checkpoint (truncated or another format): {e}") from e
    except ValueError as e:   # an object array: refused by allow_pickle=False
        raise CheckpointError(f"{path}: contains pickled objects, which glassgrad never loads: {e}") from e
    if _META not in arrays:
        raise CheckpointError(f"{path}: an .npz file but not a glassgrad checkpoint (no {_META} entry)")
    try:
        tree = json.loads(arrays.pop(_META).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: its metadata is not valid JSON: {e}") from e
    if tree.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {tree.get('format')!r} (expected {FORMAT})")
    return Checkpoint(path, tree, arrays)
