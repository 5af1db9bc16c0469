"""Weights in the formats other libraries use: ``.safetensors`` files and PyTorch ``state_dict``s.

glassgrad's layers name and shape their parameters as PyTorch's do (``Linear.weight`` is (out, in),
``Conv2d.weight`` (O, C, kh, kw), ``BatchNorm``'s ``running_mean``/``running_var``, ``Sequential``'s
``0.``, ``1.`` …), so a state dict crosses unchanged, except for one key: PyTorch's BatchNorm also keeps
``num_batches_tracked``, a count glassgrad does not keep. Importing drops it; exporting adds it (as 0,
which PyTorch uses only with ``momentum=None``).

``.safetensors`` (the optional ``safetensors`` package, ``pip install safetensors``) is a flat file of
named arrays and a JSON header: loading one never runs code, unlike a pickled ``.pt`` file.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

from glassgrad._backend import ndarray, xp
from glassgrad.device import to_host
from glassgrad.files import write_atomically
from glassgrad.nn.module import Module

TORCH_ONLY_SUFFIX = ".num_batches_tracked"


def _safetensors_numpy():
    try:
        from safetensors import numpy as st_numpy
    except ImportError:
        raise ImportError("reading and writing .safetensors files needs the safetensors package: "
                          "pip install safetensors (or pip install 'glassgrad[exchange]')") from None
    return st_numpy


def _arrays(model_or_state: Module | Mapping[str, Any]) -> "OrderedDict[str, ndarray]":
    """The named arrays of a model or state dict as host NumPy arrays (from any device)."""
    state = model_or_state.state_dict() if isinstance(model_or_state, Module) else model_or_state
    out = OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"weights: keys must be strings, not {name!r}")
        out[name] = to_host(value)
    return out


def save_safetensors(model_or_state: Module | Mapping[str, Any], path: str | os.PathLike,
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write a model's parameters and buffers (or a dict of arrays) to a ``.safetensors`` file, atomically:
    a crash mid-write leaves any previous file intact. Arrays on a GPU are copied to the host first.
    ``metadata``: string keys and values for the header."""
    st_numpy = _safetensors_numpy()
    arrays = {k: xp.ascontiguousarray(v) for k, v in _arrays(model_or_state).items()}
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("save_safetensors: metadata keys and values must be strings")
    path = Path(path)
    data = st_numpy.save(arrays, metadata=dict(metadata) if metadata else None)
    return write_atomically(path, data)


def load_safetensors(path: str | os.PathLike) -> "OrderedDict[str, ndarray]":
    """The named arrays of a ``.safetensors`` file (no code runs while reading it); pass them to
    ``model.load_state_dict`` or ``load_torch_state_dict``."""
    st_numpy = _safetensors_numpy()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_safetensors: {path} does not exist")
    try:
        arrays = st_numpy.load(path.read_bytes())
    except Exception as e:          # the package raises its own error types for a malformed header
        raise ValueError(f"load_safetensors: {path} is not a readable .safetensors file ({e})") from None
    return OrderedDict(sorted(arrays.items()))


def _to_numpy(value) -> ndarray:
    """A PyTorch tensor (or an array) as a NumPy array of its own (never sharing the tensor's memory)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return xp.array(value)


def from_torch_state_dict(state: Mapping[str, Any], model: Module | None = None) -> "OrderedDict[str, ndarray]":
    """A PyTorch ``state_dict`` as glassgrad arrays: tensors copied to NumPy, and PyTorch-only keys
    (``*.num_batches_tracked``) dropped unless ``model`` has such a key."""
    keep = set(model.state_dict()) if model is not None else set()
    return OrderedDict((k, _to_numpy(v)) for k, v in state.items()
                       if not k.endswith(TORCH_ONLY_SUFFIX) or k in keep)


def load_torch_state_dict(model: Module, state: Mapping[str, Any], strict: bool = True) -> Module:
    """Load a PyTorch ``state_dict`` (tensors or arrays) into a glassgrad model with the same structure; all or
    nothing, shapes checked first. Returns the model."""
    converted = from_torch_state_dict(state, model)
    own = model.state_dict()
    for name, value in converted.items():
        if name in own and value.dtype != own[name].dtype and own[name].dtype.kind == "f":
            converted[name] = value.astype(own[name].dtype)
    model.load_state_dict(converted, strict=strict)
    return model


def to_torch_state_dict(model_or_state: Module | Mapping[str, Any]) -> "OrderedDict[str, Any]":
    """A glassgrad model's state as a PyTorch ``state_dict`` (torch tensors, copies), with the
    ``num_batches_tracked`` entries that PyTorch's BatchNorm expects; load it with
    ``torch_model.load_state_dict``. The tensors are on the CPU, whatever device the model is on."""
    import torch

    out: OrderedDict[str, Any] = OrderedDict()
    for name, value in _arrays(model_or_state).items():
        out[name] = torch.from_numpy(xp.array(value))
        if name.endswith("running_var"):
            prefix = name[: -len("running_var")]
            out[prefix + TORCH_ONLY_SUFFIX[1:]] = torch.tensor(0, dtype=torch.int64)
    return out
