"""``gg.cuda``: NVIDIA GPUs through CuPy, loaded on first use.

CuPy is optional (``pip install "glassgrad[cuda]"`` installs ``cupy-cuda12x``) and is never imported by
``import glassgrad``: the first call here, or the first ``device="cuda"``, imports it and registers it as the
backend of the ``"cuda"`` device type (``glassgrad.device.register_backend``). Asking for ``"cuda"`` without
CuPy, or without a GPU it can use, raises a RuntimeError that says which and gives the install line.
"""
from __future__ import annotations

import contextlib
from typing import Any

import numpy

from glassgrad.device import Backend, Device, backend_for, register_backend, registered_backend

__all__ = ["is_available", "device_count", "current_device", "device", "INSTALL_HINT"]

INSTALL_HINT = ('GPUs need CuPy and an NVIDIA GPU with its driver: pip install "glassgrad[cuda]" '
                "(CuPy for CUDA 12); gg.cuda.is_available() tells whether a GPU can be used.")

_import_error: Exception | None = None     # why CuPy could not be imported, once tried


class CuPyBackend(Backend):
    """CuPy as the array library of the ``"cuda"`` device type."""

    name = "CuPy"

    def __init__(self, cupy: Any, cupyx: Any):
        self.module = cupy
        self.array_type = cupy.ndarray
        self._cupyx = cupyx

    def device_count(self) -> int:
        try:
            return int(self.module.cuda.runtime.getDeviceCount())
        except Exception:        # CUDARuntimeError: no driver, no device, a driver too old
            return 0

    def current_index(self) -> int:
        return int(self.module.cuda.runtime.getDevice())

    def index_of(self, array: Any) -> int:
        return int(array.device.id)

    def to_device(self, array: Any, index: int) -> Any:
        with self.module.cuda.Device(index):
            return self.module.array(array, copy=True)     # from the host, or from another GPU (peer copy)

    def to_host(self, array: Any) -> numpy.ndarray:
        return array.get()

    def using(self, index: int) -> contextlib.AbstractContextManager:
        return self.module.cuda.Device(index)

    def add_at(self, a: Any, index: Any, values: Any) -> None:
        self._cupyx.scatter_add(a, index, values)


def _load() -> CuPyBackend | None:
    """The CuPy backend, registered for "cuda" on first success; None when CuPy cannot be imported."""
    global _import_error
    registered = registered_backend("cuda")
    if isinstance(registered, CuPyBackend):
        return registered
    if _import_error is not None:
        return None
    try:
        import cupy
        import cupyx
    except Exception as e:      # not installed, or installed for another CUDA: say why later
        _import_error = e
        return None
    backend = CuPyBackend(cupy, cupyx)
    if registered is None:      # a backend registered by hand (a test's stand-in) keeps its place
        register_backend("cuda", backend)
    return backend


def backend() -> Backend:
    """The backend of the "cuda" device type: the one registered, else CuPy (imported now); a RuntimeError
    with the install line when CuPy cannot be imported."""
    registered = registered_backend("cuda")
    if registered is not None:
        return registered
    loaded = _load()
    if loaded is None:
        raise RuntimeError(f"CUDA is not available: CuPy cannot be imported ({_import_error}). {INSTALL_HINT}")
    return loaded


def is_available() -> bool:
    """True when tensors can be put on ``"cuda"``: CuPy imports and sees at least one GPU (or a backend was
    registered for "cuda" by hand, as the tests' stand-in is). Never raises; False without CuPy."""
    registered = registered_backend("cuda")
    found = registered if registered is not None else _load()
    return found is not None and found.device_count() > 0


def device_count() -> int:
    """How many GPUs the "cuda" backend sees (0 without CuPy or without a GPU)."""
    registered = registered_backend("cuda")
    found = registered if registered is not None else _load()
    return 0 if found is None else found.device_count()


def device(index: int) -> contextlib.AbstractContextManager:
    """``with gg.cuda.device(1):`` makes GPU 1 current inside the block (as ``torch.cuda.device``): new tensors on
    "cuda" go there, and computing with tensors on cuda:1 needs it (GPU work runs on the current GPU)."""
    return backend_for(Device("cuda", index)).using(index)


def current_device() -> int:
    """The index of the current GPU (where ``device="cuda"`` puts new tensors); RuntimeError without one."""
    return backend_for(Device("cuda")).current_index()
