"""A CPU-side stand-in for CuPy, registered as the "cuda" backend in tests, and the ``device`` parameters.

glassgrad picks the array library per array (``glassgrad.device.array_module``) and never copies between
devices behind your back. To test that plumbing on a machine without a GPU, ``StandInArray`` wraps a NumPy array
and behaves towards NumPy the way a CuPy array does:

* it is *not* an ``np.ndarray`` (``isinstance`` and ``type(a) is ndarray`` checks fail, as for CuPy);
* ``np.asarray(a)`` / ``np.array(a)`` raise TypeError (CuPy: "Implicit conversion to a NumPy array is not
  allowed"); ``a.get()`` is the explicit copy to the host;
* NumPy ufuncs and functions given it dispatch to it (``__array_ufunc__`` / ``__array_function__``), and it
  refuses any plain ``np.ndarray`` operand — also as an index — as CuPy refuses them; scalars are fine;
* reductions return 0-d arrays, not NumPy scalars (as CuPy's do);
* its ``flags`` have ``owndata`` and the contiguity flags but no ``writeable`` (as CuPy's);
* it has two "GPUs": arrays carry a device index, arrays of two indices are never combined, every result
  (and every new array) is made on the current one (``StandInBackend.using``, as ``cupy.cuda.Device(i)``),
  and an array on another GPU than the current one is refused except by the copies (``array``, ``asarray``,
  ``a.copy()``) — CuPy on a machine without peer access between its GPUs.

``STANDIN`` is the module object the backend hands out as ``array_module(a)``: NumPy's functions, ufuncs,
``lib.stride_tricks``, ``linalg`` and ``random`` wrapped in the same way, with ``array``/``asarray`` taking
host arrays (the explicit host-to-device copy).

What it proves: every gate, the engine, ``gg.compile`` and the tensor API run with a second array library
that shares nothing with NumPy's types, and give NumPy's numbers; no code path converts a device array to
NumPy implicitly or mixes devices; device-mismatch errors; ``.to()`` round trips and gradients coming back to
the source device.

What it cannot prove: anything about real CUDA — CuPy's own numerics (its kernels, cuBLAS/cuSOLVER results and
their tolerances, float64 atomics in ``scatter_add``), functions CuPy lacks or implements with other defaults,
memory use and allocation, streams, asynchronous execution and synchronisation, multi-GPU peer copies, speed.
Those are checked only on a machine with an NVIDIA GPU (the real ``cuda`` parameter, and the GPU check script).
"""
from __future__ import annotations

import contextlib
import types
from typing import Any, Iterator

import numpy as np
import pytest

import glassgrad as gg
from glassgrad.device import Backend, register_backend, to_device
from glassgrad.tensor import Tensor

N_DEVICES = 2
_current = [0]        # the current stand-in GPU


class _Flags:
    """CuPy's flags: no ``writeable`` (its arrays always are)."""

    __slots__ = ("owndata", "c_contiguous", "f_contiguous")

    def __init__(self, a: np.ndarray, owndata: bool):
        self.owndata = owndata
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous


class _DeviceId:
    __slots__ = ("id",)

    def __init__(self, index: int):
        self.id = index


def _refuse(value: Any) -> None:
    raise TypeError(f"Unsupported type {type(value)} (the stand-in refuses host arrays, as CuPy does: "
                    "move them first)")


class StandInArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A NumPy array posing as a GPU array (see the module docstring)."""

    __slots__ = ("_a", "_index", "_owndata")
    __array_priority__ = 100      # below Tensor's 1000: tensor ⊕ array goes to the tensor

    def __init__(self, a: np.ndarray, index: int, owndata: bool = True):
        self._a = a
        self._index = index
        self._owndata = owndata

    # ---- what CuPy arrays have --------------------------------------------------------------------
    @property
    def device(self) -> _DeviceId:
        return _DeviceId(self._index)

    @property
    def flags(self) -> _Flags:
        return _Flags(self._a, self._owndata)

    def get(self) -> np.ndarray:
        """A host copy (``cupy.ndarray.get``)."""
        return self._a.copy()

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly (stand-in for CuPy).")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(isinstance(v, Tensor) for v in inputs):
            return NotImplemented
        return _call(_method(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        if any(issubclass(t, Tensor) for t in types_):
            return NotImplemented
        return _call(func, args, kwargs)

    # ---- the ndarray surface, delegated -------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):        # __array_interface__, __array_struct__ …: NumPy must not see the host array
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if name in _TO_HOST:
            return attr
        if callable(attr):
            return lambda *args, **kwargs: _call(attr, args, kwargs, index=self._index, transfer=name == "copy")
        return _wrap(attr, self._index, view=True)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, [self._index])], self._index, view=True)

    def __setitem__(self, index, value) -> None:
        devices = [self._index]
        self._a[_unwrap(index, devices)] = _unwrap(value, devices)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Iterator:
        return (self[i] for i in range(len(self)))

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __repr__(self) -> str:
        return f"standin({self._a!r}, device={self._index})"

    @property
    def shape(self) -> tuple:
        return self._a.shape

    @property
    def dtype(self) -> np.dtype:
        return self._a.dtype

    @property
    def ndim(self) -> int:
        return self._a.ndim

    @property
    def size(self) -> int:
        return self._a.size


def _unwrap(value: Any, devices: list[int], host_ok: bool = False) -> Any:
    """NumPy's view of ``value``: stand-in arrays unwrapped (all on one device, collected in ``devices``), host
    arrays refused unless ``host_ok``; lists, tuples and dicts walked."""
    if isinstance(value, StandInArray):
        if devices and value._index != devices[0]:
            raise ValueError(f"arrays on stand-in GPUs {devices[0]} and {value._index} cannot be combined")
        devices.append(value._index)
        return value._a
    if isinstance(value, np.ndarray):
        if not host_ok:
            _refuse(value)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, devices, host_ok) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, devices, host_ok) for k, v in value.items()}
    return value


def _wrap(value: Any, index: int, view: bool = False) -> Any:
    """Results back as stand-in arrays on device ``index``; NumPy scalars become 0-d arrays, as in CuPy."""
    if isinstance(value, np.ndarray):
        return StandInArray(value, index, owndata=not view and value.flags.owndata)
    if isinstance(value, np.generic) and not isinstance(value, (np.str_, np.bytes_)):
        return StandInArray(np.asarray(value), index)
    if isinstance(value, (list, tuple)) and any(isinstance(v, (np.ndarray, np.generic)) for v in value):
        wrapped = [_wrap(v, index, view) for v in value]
        return type(value)(*wrapped) if hasattr(value, "_fields") else type(value)(wrapped)
    return value


_TO_HOST = {"item", "tolist"}          # values to Python: from any device


def _call(func, args, kwargs, index: int | None = None, host_ok: bool = False, transfer: bool = False) -> Any:
    """``func`` on NumPy's view of the arguments, the result on the current device. As CuPy without peer access,
    arrays on another GPU than the current one are refused, except by the copies (``array``, ``asarray``,
    ``a.copy()``), which bring them to the current device."""
    devices = [] if index is None else [index]
    given_out = kwargs.get("out")
    args, kwargs = _unwrap(args, devices, host_ok), _unwrap(kwargs, devices, host_ok)
    if devices and devices[0] != _current[0] and not transfer:
        raise ValueError(f"the array is on stand-in GPU {devices[0]} but GPU {_current[0]} is current (as CuPy "
                         "without peer access: compute with that GPU current)")
    result = func(*args, **kwargs)
    if given_out is not None:        # written in place: hand back the caller's own array(s)
        return given_out[0] if isinstance(given_out, tuple) and len(given_out) == 1 else given_out
    return _wrap(result, _current[0])


# CuPy's ufunc methods exist only for some ufuncs ("reduce: add, multiply"): use the array methods elsewhere
_METHODS = {"reduce": {"add", "multiply"}, "accumulate": {"add", "multiply"}, "at": {"add"}}


def _method(ufunc: np.ufunc, method: str):
    if method != "__call__" and ufunc.__name__ not in _METHODS.get(method, {ufunc.__name__}):
        raise TypeError(f"the stand-in (as CuPy) has no {ufunc.__name__}.{method}: use an array method "
                        f"(x.max(), x.sum()) instead")
    return getattr(ufunc, method)


class _Ufunc:
    """A NumPy ufunc refusing host arrays, with ``reduce``, ``accumulate``, ``outer`` and ``at``."""

    def __init__(self, ufunc: np.ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *args, **kwargs):
        return _call(self._ufunc, args, kwargs)

    def reduce(self, *args, **kwargs):
        return _call(_method(self._ufunc, "reduce"), args, kwargs)

    def accumulate(self, *args, **kwargs):
        return _call(_method(self._ufunc, "accumulate"), args, kwargs)

    def outer(self, *args, **kwargs):
        return _call(_method(self._ufunc, "outer"), args, kwargs)

    def at(self, a, index, values=None) -> None:
        _call(_method(self._ufunc, "at"), (a, index) if values is None else (a, index, values), {})


_TRANSFERS = {"array", "asarray", "ascontiguousarray", "asanyarray"}    # host arrays welcome: the explicit copy


class _Module(types.SimpleNamespace):
    """NumPy (or one of its submodules) posing as CuPy: every function wrapped by ``_call``."""

    def __init__(self, numpy_module: Any, name: str):
        super().__init__()
        object.__setattr__(self, "_numpy", numpy_module)
        object.__setattr__(self, "__name__", name)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._numpy, name)
        if isinstance(attr, np.ufunc):
            wrapped: Any = _Ufunc(attr)
        elif isinstance(attr, types.ModuleType):
            wrapped = _Module(attr, f"{self.__name__}.{name}")
        elif isinstance(attr, type) or not callable(attr):
            return attr                                   # dtypes, errors, constants
        elif name in _TRANSFERS:
            def wrapped(*args, _f=attr, **kwargs):
                return _call(_f, args, kwargs, host_ok=True, transfer=True)
        else:
            def wrapped(*args, _f=attr, **kwargs):
                return _call(_f, args, kwargs)
        object.__setattr__(self, name, wrapped)          # cached: made once per name
        return wrapped


STANDIN = _Module(np, "standin")
STANDIN.ndarray = StandInArray
# NumPy's submodules are attributes only once imported; the gates use these three
STANDIN.lib = _Module(types.SimpleNamespace(stride_tricks=np.lib.stride_tricks), "standin.lib")
STANDIN.linalg = _Module(np.linalg, "standin.linalg")
STANDIN.random = _Module(np.random, "standin.random")


class StandInBackend(Backend):
    """The stand-in as the backend of the "cuda" device type: two stand-in GPUs."""

    name = "stand-in"
    module = STANDIN
    array_type = StandInArray

    def device_count(self) -> int:
        return N_DEVICES

    def current_index(self) -> int:
        return _current[0]

    def index_of(self, array: Any) -> int:
        return array._index

    def to_device(self, array: Any, index: int) -> Any:
        source = array._a if isinstance(array, StandInArray) else np.asarray(array)
        return StandInArray(source.copy(), index)

    def to_host(self, array: Any) -> np.ndarray:
        return array.get()

    @contextlib.contextmanager
    def using(self, index: int) -> Iterator[None]:
        previous, _current[0] = _current[0], index
        try:
            yield
        finally:
            _current[0] = previous

    def add_at(self, a: Any, index: Any, values: Any) -> None:
        STANDIN.add.at(a, index, values)


@contextlib.contextmanager
def standin_registered() -> Iterator[StandInBackend]:
    """The stand-in as the "cuda" backend for the duration; whatever was registered before comes back."""
    backend = StandInBackend()
    previous = register_backend("cuda", backend)
    _current[0] = 0
    try:
        yield backend
    finally:
        register_backend("cuda", previous)


DEVICE_PARAMS = [
    pytest.param("cpu", id="cpu"),
    pytest.param("standin", id="standin-cuda"),
    pytest.param("cuda", id="cuda"),
]
"""The ``device`` fixture's parameters: the CPU, the stand-in as "cuda" (always), the real GPU (skipped unless
``gg.cuda.is_available()``)."""


def on(device: str) -> contextlib.AbstractContextManager:
    """The context a ``device`` parameter needs: the stand-in registered for "standin", a skip for "cuda"
    without a GPU, nothing for "cpu"."""
    if device == "standin":
        return standin_registered()
    if device == "cuda" and not gg.cuda.is_available():
        pytest.skip("no CUDA GPU here (gg.cuda.is_available() is False): the real-GPU case runs only on one")
    return contextlib.nullcontext()


def at(constant: Any, t: Tensor) -> Any:
    """A test case's constant (an array, or an index tuple holding arrays) on the device of the case's tensor
    ``t``: gates never move arrays themselves, so a case built on the host moves its constants explicitly."""
    if isinstance(constant, tuple):
        return tuple(at(c, t) for c in constant)
    return to_device(constant, t.device) if isinstance(constant, np.ndarray) else constant
