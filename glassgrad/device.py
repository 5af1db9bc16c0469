"""Devices: where a tensor's values live, and the array library that computes with them there.

A tensor holds one array. On the CPU it is a NumPy ``ndarray``; on a GPU (device type ``"cuda"``) it is the
array of the library registered for that device type — CuPy, loaded on first use by ``glassgrad.cuda`` (or a
stand-in that the tests register). The library is chosen *per array*, never globally, so CPU and GPU tensors
coexist: ``array_module(a)`` is ``numpy`` for a NumPy array and ``cupy`` for a CuPy array, as CuPy's own
``cupy.get_array_module``.

Nothing is copied between devices behind your back: a gate given tensors on two devices raises an error
naming both (``check_same_device``); ``to_device`` and ``to_host`` are the explicit copies.

A library joins through ``register_backend(device_type, backend)`` with a ``Backend`` describing it; that is
how ``glassgrad.cuda`` registers CuPy and how ``tests/devices.py`` registers its CPU-side stand-in.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Union

import numpy

__all__ = ["Device", "DeviceLike", "device", "Backend", "register_backend", "registered_backend", "backend_for",
           "array_module", "device_of", "to_device", "to_host", "as_array", "is_device_array", "writable",
           "check_same_device", "check_current", "add_at", "creating_on", "on_device_of"]

_TYPES = ("cpu", "cuda")
_SPEC_FORMS = "'cpu', 'cuda', 'cuda:N' (N a GPU index ≥ 0) or a gg.Device"


class Device:
    """Where a tensor lives: ``Device("cpu")`` or ``Device("cuda", index)``, as ``torch.device``.

    ``str(d)`` is ``"cpu"``, ``"cuda"`` or ``"cuda:0"``. ``index=None`` on ``"cuda"`` means the current
    GPU, so ``t.device == "cuda"`` holds for a tensor on the current GPU, and ``t.device == "cuda:0"`` for
    one on GPU 0. A device compares equal to another ``Device`` or to a spec string; it is immutable and
    hashable. ``gg.device(spec)`` parses a spec.
    """

    __slots__ = ("type", "index")
    type: str
    index: int | None

    def __init__(self, type: str, index: int | None = None):   # noqa: A002  torch.device's parameter name
        if type not in _TYPES:
            raise ValueError(f"Device: unknown device type {type!r}; expected 'cpu' or 'cuda'")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise ValueError(f"Device: the index must be an integer ≥ 0 or None, not {index!r}")
            if type == "cpu":
                raise ValueError(f"Device: 'cpu' takes no index (got {index})")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Device is immutable: cannot set {name!r}")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}{'' if self.index is None else f', index={self.index}'})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except ValueError:
                return False
        if not isinstance(other, Device):
            return NotImplemented
        if self.type != other.type:
            return False
        if self.index == other.index or self.type == "cpu":
            return True
        if self.index is not None and other.index is not None:
            return False
        known = self.index if self.index is not None else other.index     # the other is the current GPU
        backend = _BACKENDS.get(self.type)
        return backend is not None and backend.current_index() == known

    def __hash__(self) -> int:
        return hash(self.type)     # "cuda" equals "cuda:<current>", so the index cannot enter the hash

    def __reduce__(self) -> tuple[Callable[..., Device], tuple[str, int | None]]:
        return (Device, (self.type, self.index))


CPU = Device("cpu")

DeviceLike = Union[str, Device]
"""What ``device=`` arguments accept: a spec string ("cpu", "cuda", "cuda:N") or a ``Device``."""


def device(spec: str | Device) -> Device:
    """The ``Device`` that ``spec`` names: ``"cpu"``, ``"cuda"`` (the current GPU), ``"cuda:N"``, or a
    ``Device`` (returned as is). Anything else raises a ValueError naming the spec and the accepted forms."""
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, str):
        kind, colon, number = spec.strip().partition(":")
        if kind in _TYPES and not colon:
            return CPU if kind == "cpu" else Device(kind)
        if kind == "cuda" and number.isdigit():
            return Device(kind, int(number))
    raise ValueError(f"unknown device {spec!r}: expected {_SPEC_FORMS}")


# --------------------------------------------------------------------------------------------------
# Array libraries behind the device types
# --------------------------------------------------------------------------------------------------
class Backend:
    """An array library holding arrays on the devices of one type (``"cuda"``): what glassgrad needs of it.

    Subclasses fill in every method; ``glassgrad.cuda`` has the CuPy one. ``module`` is the NumPy-like
    module (``cupy``): the gates call its creation functions, ``lib.stride_tricks``, ``linalg`` …;
    ``array_type`` is its array class (``cupy.ndarray``).
    """

    name: str = ""
    module: Any = None
    array_type: type = type(None)

    def device_count(self) -> int:
        """How many devices of this type exist (0 when none can be used)."""
        raise NotImplementedError

    def current_index(self) -> int:
        """The index of the current device (where new arrays are made)."""
        raise NotImplementedError

    def index_of(self, array: Any) -> int:
        """The index of the device that holds ``array``."""
        raise NotImplementedError

    def to_device(self, array: Any, index: int) -> Any:
        """A copy of ``array`` (a NumPy array, or an array of this library) on device ``index``."""
        raise NotImplementedError

    def to_host(self, array: Any) -> numpy.ndarray:
        """A NumPy copy of ``array``."""
        raise NotImplementedError

    def using(self, index: int) -> contextlib.AbstractContextManager:
        """A context in which device ``index`` is the current one (new arrays are made there)."""
        raise NotImplementedError

    def add_at(self, a: Any, index: Any, values: Any) -> None:
        """``numpy.add.at(a, index, values)``: add values into a at index, repeated indices adding up."""
        raise NotImplementedError


_BACKENDS: dict[str, Backend] = {}
_BY_TYPE: dict[type, Backend] = {}           # array type → its backend, for array_module and device_of


def register_backend(device_type: str, backend: Backend | None) -> Backend | None:
    """Make ``backend`` the array library of ``device_type`` (``"cuda"``); ``None`` removes it. Returns the
    backend registered before, so a caller (a test's stand-in) can put it back."""
    if device_type == "cpu" or device_type not in _TYPES:
        raise ValueError(f"register_backend: device type {device_type!r} cannot take a backend; only 'cuda' "
                         "can (the CPU is always NumPy)")
    previous = _BACKENDS.pop(device_type, None)
    if previous is not None:
        _BY_TYPE.pop(previous.array_type, None)
    if backend is not None:
        _BACKENDS[device_type] = backend
        _BY_TYPE[backend.array_type] = backend
    return previous


def registered_backend(device_type: str) -> Backend | None:
    """The backend registered for ``device_type``, or None (nothing is imported to find one)."""
    return _BACKENDS.get(device_type)


def backend_for(dev: Device) -> Backend:
    """The backend of a non-CPU device (``cuda``, ``cuda:N``), loading CuPy on first use; a RuntimeError with the
    install line when there is none, or when it sees no GPU (or not that many)."""
    backend = _BACKENDS.get(dev.type)
    if backend is None:
        from glassgrad import cuda  # beside the core; imports CuPy only now
        backend = cuda.backend()
    count = backend.device_count()
    if count == 0:
        from glassgrad import cuda
        raise RuntimeError(f"device {str(dev)!r}: {backend.name} sees no GPU. {cuda.INSTALL_HINT}")
    if dev.index is not None and dev.index >= count:
        raise RuntimeError(f"device {str(dev)!r}: there are {count} GPU(s), indexed 0..{count - 1}")
    return backend


def _backend_of(array: Any) -> Backend | None:
    """The backend whose array ``array`` is (a tensor's: its array's), or None for NumPy arrays, scalars and the
    rest."""
    backend = _BY_TYPE.get(type(array))
    if backend is not None:
        return backend
    from glassgrad.tensor import Tensor  # (tensor.py imports this module): gates ask about tensors too
    if isinstance(array, Tensor):
        return _backend_of(array.data)
    for backend in _BACKENDS.values():
        if isinstance(array, backend.array_type):
            return backend
    if type(array).__module__.startswith("cupy") and "cuda" not in _BACKENDS:   # a CuPy array seen first
        from glassgrad import cuda
        return cuda.backend() if isinstance(array, cuda.backend().array_type) else None
    return None


def is_device_array(value: Any) -> bool:
    """True for an array of a registered device backend (a CuPy array), False for NumPy arrays and the rest."""
    if type(value) is numpy.ndarray:
        return False
    backend = _backend_of(value)
    return backend is not None and isinstance(value, backend.array_type)


def array_module(array: Any) -> Any:
    """The array library of ``array`` (an array or a tensor): ``numpy`` for NumPy arrays, scalars and lists,
    ``cupy`` for a CuPy array (CuPy's ``get_array_module`` pattern: chosen per array, so CPU and GPU arrays
    coexist)."""
    if type(array) is numpy.ndarray:
        return numpy
    backend = _backend_of(array)
    return numpy if backend is None else backend.module


_DEVICES: dict[tuple[str, int], Device] = {}     # one Device per (type, index): device_of allocates nothing


def as_array(value: Any) -> Any:
    """``value`` as an array: an array of any device (or a tensor's array) as it is, anything else through
    ``numpy.asarray`` (numbers and lists are made on the host)."""
    if type(value) is numpy.ndarray:
        return value
    if isinstance(value, numpy.generic):     # a NumPy scalar (what a full reduction gives): no backend to look for
        return numpy.asarray(value)
    backend = _backend_of(value)
    if backend is None:
        return numpy.asarray(value)
    return value if isinstance(value, backend.array_type) else value.data     # a tensor: its array


def writable(array: Any) -> bool:
    """Whether ``array`` may be written in place: NumPy's ``flags.writeable``; a GPU array always may (CuPy's flags
    have no ``writeable``)."""
    return bool(getattr(array.flags, "writeable", True))


def device_of(array: Any) -> Device:
    """The device holding ``array`` (an array or a tensor): ``cpu`` for NumPy arrays (and scalars), ``cuda:N``
    for a GPU array."""
    if type(array) is numpy.ndarray:
        return CPU
    backend = _backend_of(array)
    if backend is None:
        return CPU
    key = ("cuda", backend.index_of(as_array(array)))
    found = _DEVICES.get(key)
    if found is None:
        found = _DEVICES[key] = Device(*key)
    return found


def to_device(array: Any, spec: str | Device) -> Any:
    """``array`` on device ``spec``: the array itself when it is there already, else a copy made there."""
    target = device(spec)
    if target.type == "cpu":
        return to_host(array)
    array = as_array(array)
    backend = backend_for(target)
    index = backend.current_index() if target.index is None else target.index
    if isinstance(array, backend.array_type) and backend.index_of(array) == index:
        return array
    if not isinstance(array, backend.array_type):
        array = to_host(array)
    return backend.to_device(array, index)


def to_host(value: Any) -> numpy.ndarray:
    """``value`` (an array of any device, or a tensor: its array) as a NumPy array: the array itself when it is
    one, else a copy brought to host memory (``.get()``)."""
    if type(value) is numpy.ndarray:
        return value
    from glassgrad.tensor import Tensor  # (tensor.py imports this module)
    if isinstance(value, Tensor):
        value = value.data
        if type(value) is numpy.ndarray:
            return value
    backend = _backend_of(value)
    return numpy.asarray(value) if backend is None else backend.to_host(value)


@contextlib.contextmanager
def creating_on(spec: str | Device | None) -> Iterator[Any]:
    """``with creating_on(device) as xp:`` the array module of ``device`` (``numpy`` for None or the CPU),
    with that GPU current, so ``xp.zeros(...)`` makes the array there."""
    target = CPU if spec is None else device(spec)
    if target.type == "cpu":
        yield numpy
        return
    backend = backend_for(target)
    with backend.using(backend.current_index() if target.index is None else target.index):
        yield backend.module


def add_at(a: Any, index: Any, values: Any) -> None:
    """``numpy.add.at`` on the array's own device (CuPy: ``cupyx.scatter_add``): repeated indices add up."""
    if type(a) is numpy.ndarray:
        numpy.add.at(a, index, values)
        return
    backend = _backend_of(a)
    if backend is None:
        raise TypeError(f"add_at: not an array of a known device: {type(a).__name__}")
    backend.add_at(a, index, values)


def _devices(values: Iterable[Any]) -> list[Device]:
    """The distinct devices of the arrays among ``values`` (scalars, None and the like have none)."""
    from glassgrad.tensor import Tensor
    found: list[Device] = []
    for v in values:
        if isinstance(v, Tensor):
            v = v.data
        if isinstance(v, numpy.ndarray):
            d = CPU
        elif _backend_of(v) is not None:
            d = device_of(v)
        else:
            continue
        if d not in found:
            found.append(d)
    return found


def check_same_device(who: str, values: Iterable[Any]) -> None:
    """Raise a RuntimeError naming ``who`` and the devices when the arrays among ``values`` live on more
    than one device: gates never copy between devices behind your back."""
    found = _devices(values)
    if len(found) > 1:
        raise RuntimeError(f"{who}: the inputs are on different devices, {' and '.join(str(d) for d in found)}; "
                           "move them to one device first (t.to(device), t.cpu(), t.cuda())")


def check_current(who: str, array: Any) -> None:
    """Raise a RuntimeError naming ``who`` when ``array`` is on a GPU that is not the current one: GPU work runs on
    the current GPU (``cuda:0`` unless changed), so computing with tensors on ``cuda:N`` needs
    ``with gg.cuda.device(N):`` around it."""
    backend = _backend_of(array)
    if backend is None:
        return
    index, current = backend.index_of(as_array(array)), backend.current_index()
    if index != current:
        raise RuntimeError(f"{who}: the inputs are on cuda:{index} but the current GPU is cuda:{current}; compute "
                           f"under `with gg.cuda.device({index}):`")


def on_device_of(array: Any) -> contextlib.AbstractContextManager:
    """A context with ``array``'s GPU current (nothing to do for a NumPy array), for code that makes arrays."""
    if type(array) is numpy.ndarray:
        return contextlib.nullcontext()
    backend = _backend_of(array)
    return contextlib.nullcontext() if backend is None else backend.using(backend.index_of(array))
