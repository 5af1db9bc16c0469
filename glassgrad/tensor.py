"""``Tensor``: a NumPy array that remembers the gate that made it, so gradients can flow back.

Dtypes: floating tensors are float32 unless you ask for float64 (``dtype=gg.float64`` or a float64
array). Python numbers never change a tensor's dtype (``x * 0.5`` stays float32); tensors of two float
dtypes combine to the wider one, as in NumPy. Integer and bool tensors exist (labels, masks, indices)
but never require a gradient.
"""
from __future__ import annotations

from types import EllipsisType
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterator, Sequence, TypeAlias, Union

from glassgrad import hooks as _hooks
from glassgrad._backend import ndarray, xp
from glassgrad.checks import check_int, check_number
from glassgrad.device import CPU as _CPU
from glassgrad.device import (
    Device,
    DeviceLike,
    as_array,
    backend_for,
    check_current,
    check_same_device,
    creating_on,
    device_of,
    is_device_array,
    to_device,
    to_host,
)
from glassgrad.device import device as _parse_device

if TYPE_CHECKING:   # for the annotations only: numpy.typing costs time at import
    from numpy.typing import ArrayLike, DTypeLike

float32 = xp.float32
float64 = xp.float64
float16 = xp.float16
int32 = xp.int32
int64 = xp.int64
bool_ = xp.bool_
DEFAULT_FLOAT = float32


def _as_dtype(dtype: DTypeLike | None) -> xp.dtype | None:
    if dtype is None:
        return None
    try:
        return xp.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"tensor: unknown dtype {dtype!r}; use e.g. gg.float32, gg.float64, gg.int64 "
                        "or gg.bool_") from e


def _to_array(data: TensorLike, dtype: DTypeLike | None = None, copy: bool = True) -> ndarray:
    """Python numbers and lists become float32 / int64 / bool arrays; arrays keep their dtype."""
    dtype = _as_dtype(dtype)
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (ndarray, xp.generic)):
        arr = xp.array(data, dtype=dtype, copy=copy or None)
    elif is_device_array(data):          # a GPU array stays on its device
        on_device: Any = data
        arr = on_device.copy() if copy else on_device
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
    else:
        try:
            arr = xp.asarray(data)
        except ValueError as e:      # nested lists of different lengths
            raise ValueError(f"tensor: the data must be rectangular (every nested list of one level the same "
                             f"length), as for np.array: {e}") from e
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        elif arr.dtype == xp.float64:
            arr = arr.astype(DEFAULT_FLOAT)
        elif arr.dtype.kind == "i" and arr.dtype != xp.int64:
            arr = arr.astype(xp.int64)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: unsupported dtype {arr.dtype} (from {type(data).__name__}); "
                        "glassgrad holds float, integer and bool arrays")
    return arr


class Tensor:
    """An array with an optional gradient. ``requires_grad=True`` makes gates record how it is used.

    ``.grad`` holds the gradient after ``backward()``; gradients *accumulate* there across backward
    calls (as in PyTorch), so clear them (``t.grad = None`` or ``optimizer.zero_grad()``) between steps.
    """

    # A tensor made by a gate that records (``engine._output``) also holds its node's fields: the gate, the
    # inputs as tensors and as arrays, which need a gradient, the parameters, the creation order (``_seq``),
    # and backward's running gradient and retain_grad() flag. ``_gate`` is None for a leaf; ``grad_fn`` shows
    # the fields as an ``engine.Node``, made when asked for (``_node``).
    __slots__ = ("data", "grad", "_requires_grad", "name", "__weakref__", "_gate", "_inputs", "_arrays", "_needs",
                 "_params", "_seq", "_pending", "_retained", "_node")
    _gate: Any                      # the engine.Gate that made this tensor; None for a leaf
    _inputs: Any                    # the node's fields, set with the gate (None once released) ...
    _arrays: Any
    _needs: Sequence[bool]
    _params: dict[str, Any]
    _seq: int
    _pending: Any                   # the gradient summed so far while backward runs, else None
    _retained: bool | None
    _node: _engine.Node
    __array_priority__ = 1000

    def __init__(self, data: TensorLike, dtype: DTypeLike | None = None, requires_grad: bool = False,
                 name: str | None = None) -> None:
        self.data = _to_array(data, dtype, copy=False)
        self.grad: Tensor | None = None
        self._gate = None
        self._requires_grad = False
        self.name = name
        self.requires_grad = requires_grad

    @staticmethod
    def _make(data: ndarray) -> Tensor:
        """Wrap an array as a tensor outside the graph, without checks."""
        t = object.__new__(Tensor)
        t.data = data if type(data) is ndarray or is_device_array(data) else xp.asarray(data)
        t.grad = t._gate = t.name = None
        t._requires_grad = False
        return t

    # ---- gradient bookkeeping -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gates record this tensor's uses, so backward can reach it (floating tensors only)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        """Whether gates record this tensor's uses, so backward can reach it (floating tensors only)."""
        if value and self.data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require gradients, not {self.data.dtype}; "
                            f"convert first, e.g. t.astype(gg.float32)")
        if not value and self._gate is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use t.detach()")
        self._requires_grad = bool(value)

    def requires_grad_(self, value: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return this tensor."""
        self.requires_grad = value
        return self

    @property
    def grad_fn(self) -> _engine.Node | None:
        """The node that made this tensor (its gate, inputs and parameters); None for a leaf."""
        if self._gate is None:
            return None
        try:
            return self._node
        except AttributeError:
            node = self._node = _engine.Node(self)
            return node

    @property
    def is_leaf(self) -> bool:
        """True for a tensor that no gate made (a leaf of the graph)."""
        return self._gate is None

    def backward(self, grad: TensorLike | None = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf that requires one.

        ``grad`` is the gradient of some scalar with respect to this tensor; it may be left out for a
        tensor with one element (then it is 1). Leaf gradients are *added* to ``.grad``. The graph's
        saved arrays are freed afterwards unless ``retain_graph=True``; ``create_graph=True`` records the
        backward pass too, so the gradients can be differentiated again.
        """
        if self.data.dtype.kind != "f":
            raise TypeError(f"backward() needs a floating tensor, not {self.data.dtype}: integer and bool "
                            "tensors have no gradient")
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: no input of the "
                               "computation had requires_grad=True (or it ran under gg.no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() on a tensor of shape {self.shape} needs a grad argument of "
                                   f"that shape (the gradient of a scalar w.r.t. it), or reduce it first "
                                   f"with .sum() or .mean()")
            if type(self.data) is not ndarray:
                check_current("backward", self.data)
            grad = xp.ones_like(self.data)          # on the tensor's device (NumPy dispatches to CuPy)
        else:
            given = grad
            grad = _to_array(grad, self.dtype, copy=True)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape} but the tensor has shape {self.shape}")
            if type(grad) is not type(self.data):
                if isinstance(given, (Tensor, ndarray)) or is_device_array(given):
                    check_same_device("backward(grad=...)", (self.data, grad))
                else:                                # numbers and lists: made on the host, then moved
                    grad = to_device(grad, self.device)
        _engine.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def retain_grad(self) -> Tensor:
        """Keep this intermediate tensor's gradient in ``.grad`` after backward (leaves always keep it)."""
        if self._gate is not None:
            self._retained = True
        return self

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory)."""
        return Tensor._make(self.data)

    # ---- devices -------------------------------------------------------------------------------
    @property
    def device(self) -> Device:
        """Where the values live: ``gg.device("cpu")`` or ``cuda:N`` (compares equal to "cpu", "cuda", "cuda:0")."""
        data = self.data
        return _CPU if type(data) is ndarray else device_of(data)

    def to(self, *args: Any, **kwargs: Any) -> "Tensor":
        """This tensor on another device and/or in another dtype, as ``torch.Tensor.to``: ``t.to("cuda")``,
        ``t.to(gg.float64)``, ``t.to("cpu", gg.float32)``, ``t.to(device=..., dtype=...)``, or ``t.to(other)``
        for another tensor's device and dtype. Returns ``self`` when nothing changes.

        Differentiable: the gradient of the copy flows back to this tensor on its own device (the ``to_device``
        gate), and a float dtype change is the ``astype`` gate.
        """
        target, dtype = _to_arguments(args, kwargs)
        out = self
        if dtype is not None and out.dtype != dtype:
            out = out.astype(dtype)
        if target is not None and out.device != target:
            here = out.device
            if here.type == target.type == "cuda" and out.requires_grad and _engine.is_grad_enabled():
                raise RuntimeError(f"to(): a tensor that requires grad moved from {here} to {target}: backward "
                                   "through a graph spanning two GPUs is not supported (one GPU and the CPU are); "
                                   "detach() it, or go through the CPU")
            out = _ops.to_device(out, target)
        return out

    def cpu(self) -> "Tensor":
        """This tensor on the CPU (``self`` when it is there already); differentiable, as ``to``."""
        return self.to(_CPU)

    def cuda(self, index: int | None = None) -> "Tensor":
        """This tensor on GPU ``index`` (the current GPU when None); differentiable, as ``to``."""
        return self.to(Device("cuda", index))

    # ---- NumPy interop and conversion -----------------------------------------------------------
    def numpy(self) -> ndarray:
        """The underlying NumPy array (shared, not copied). A tensor on a GPU raises a TypeError: call
        ``.cpu()`` first (as in PyTorch), which copies the values to host memory."""
        _value_read(self)
        if type(self.data) is not ndarray:
            _refuse_host_view(self, "numpy()")
        return self.data

    def __array__(self, dtype: DTypeLike | None = None, copy: bool | None = None) -> ndarray:
        _value_read(self)
        if type(self.data) is not ndarray:
            _refuse_host_view(self, "np.asarray()")
        if copy:
            return xp.array(self.data, dtype=dtype)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __dlpack__(self, **kwargs: Any) -> object:
        """DLPack export: ``torch.from_dlpack(t)``, ``np.from_dlpack(t)`` share this tensor's memory (the values
        only, as ``np.asarray(t)``: the gradient stays in glassgrad's graph)."""
        _value_read(self)
        return self.data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.data.__dlpack_device__()

    def __array_ufunc__(self, ufunc: xp.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """``np.exp(t)``, ``array + t``: NumPy's ufuncs run glassgrad's gates (glassgrad/ops/numpy_api.py)."""
        return _numpy_api.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable[..., Any], types: Collection[type], args: tuple[Any, ...],
                           kwargs: dict[str, Any]) -> Any:
        """``np.sum(t)``, ``np.concatenate([t, u])``: NumPy's functions run glassgrad's gates, or raise a
        TypeError naming the function when no gate exists (never an ndarray that dropped the gradient)."""
        if not all(issubclass(t, (Tensor, ndarray)) for t in types):
            return NotImplemented
        return _numpy_api.array_function(func, args, kwargs)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): the tensor has {self.data.size} elements (shape {self.shape}); item() needs "
                             "exactly one: index it first (t[0]) or reduce it (t.sum())")
        _value_read(self)
        return self.data.item()

    def tolist(self) -> list[Any] | float | int | bool:
        """The values as (nested lists of) Python numbers."""
        _value_read(self)
        return self.data.tolist()

    @property
    def shape(self) -> tuple[int, ...]:
        """The length of each axis."""
        return self.data.shape

    @property
    def dtype(self) -> xp.dtype[Any]:
        """The dtype of the values (a NumPy dtype)."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self.data.ndim

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or the length of axis ``dim``: PyTorch's ``t.size()`` (``t.numel()`` counts entries)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        """The number of entries (NumPy's ``a.size``)."""
        return self.data.size

    def dim(self) -> int:
        """The number of axes (``t.ndim``), as PyTorch's ``t.dim()``."""
        return self.data.ndim

    @property
    def T(self) -> Tensor:
        """The transpose: the axes in reverse order."""
        return _ops.transpose(self)

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        _value_read(self)
        return bool(self.data)

    def __float__(self) -> float:
        _value_read(self)
        return float(self.data)

    def __int__(self) -> int:
        _value_read(self)
        return int(self.data)

    __hash__ = object.__hash__   # tensors are hashable by identity although == is elementwise

    def __repr__(self) -> str:
        body = xp.array2string(to_host(self.data), separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.dtype != DEFAULT_FLOAT:
            extras.append(f"dtype={self.dtype}")
        if self._gate is not None:
            extras.append(f"grad_fn=<{self._gate.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        if type(self.data) is not ndarray and is_device_array(self.data):
            extras.insert(0, f"device='{self.device}'")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ---- operators ------------------------------------------------------------------------------
    # The arithmetic operators and the activations exp, log, tanh, sigmoid, relu are the gate functions
    # themselves (``Tensor.__mul__ is gg.mul``, the tensor their first input: the engine's fast path for gates
    # of x or x, y without parameters), set at the end of this module; the reflected operators are the same
    # with the inputs swapped (``engine.binary_function``). Declared here for type checkers and the docs.
    if TYPE_CHECKING:
        def __add__(self, other: TensorLike) -> Tensor:
            """``gg.add(self, other)``."""
        def __radd__(self, other: TensorLike) -> Tensor:
            """``gg.add(other, self)``."""
        def __sub__(self, other: TensorLike) -> Tensor:
            """``gg.sub(self, other)``."""
        def __rsub__(self, other: TensorLike) -> Tensor:
            """``gg.sub(other, self)``."""
        def __mul__(self, other: TensorLike) -> Tensor:
            """``gg.mul(self, other)``."""
        def __rmul__(self, other: TensorLike) -> Tensor:
            """``gg.mul(other, self)``."""
        def __truediv__(self, other: TensorLike) -> Tensor:
            """``gg.div(self, other)``."""
        def __rtruediv__(self, other: TensorLike) -> Tensor:
            """``gg.div(other, self)``."""
        def __matmul__(self, other: TensorLike) -> Tensor:
            """``gg.matmul(self, other)``."""
        def __rmatmul__(self, other: TensorLike) -> Tensor:
            """``gg.matmul(other, self)``."""
        def __neg__(self) -> Tensor:
            """``gg.neg`` of this tensor."""
        def exp(self) -> Tensor:
            """``gg.exp`` of this tensor."""
        def log(self) -> Tensor:
            """``gg.log`` of this tensor."""
        def tanh(self) -> Tensor:
            """``gg.tanh`` of this tensor."""
        def sigmoid(self) -> Tensor:
            """``gg.sigmoid`` of this tensor."""
        def relu(self) -> Tensor:
            """``gg.relu`` of this tensor."""

    def __pow__(self, other: TensorLike) -> Tensor: return _ops.pow(self, other)
    def __rpow__(self, other: TensorLike) -> Tensor: return _ops.pow(other, self)
    def __pos__(self) -> Tensor: return self
    def __abs__(self) -> Tensor: return _ops.abs(self)

    # Comparisons give bool tensors, outside the graph (they have no gradient).
    def __eq__(self, other: TensorLike) -> Tensor: return _ops.equal(self, other)  # type: ignore[override]
    def __ne__(self, other: TensorLike) -> Tensor: return _ops.not_equal(self, other)  # type: ignore[override]
    def __lt__(self, other: TensorLike) -> Tensor: return _ops.less(self, other)
    def __le__(self, other: TensorLike) -> Tensor: return _ops.less_equal(self, other)
    def __gt__(self, other: TensorLike) -> Tensor: return _ops.greater(self, other)
    def __ge__(self, other: TensorLike) -> Tensor: return _ops.greater_equal(self, other)
    def __and__(self, other: TensorLike) -> Tensor: return _ops.logical_and(self, other)
    def __or__(self, other: TensorLike) -> Tensor: return _ops.logical_or(self, other)
    def __invert__(self) -> Tensor: return _ops.logical_not(self)
    def __getitem__(self, index: Index) -> Tensor: return _ops.getitem(self, index)

    def __setitem__(self, index: Index, value: TensorLike) -> None:
        if self.requires_grad and _engine.is_grad_enabled():
            raise RuntimeError("in-place assignment into a tensor that requires grad would corrupt its "
                               "gradient; do it under gg.no_grad() or on t.detach()")
        index = _ops.plain_index(index)
        value = value.data if isinstance(value, Tensor) else value
        if type(self.data) is not ndarray or type(value) is not ndarray:
            check_same_device("setitem", (self.data, value, *(index if isinstance(index, tuple) else (index,))))
        self.data[index] = value

    # ---- gates as methods (the functions live in glassgrad.ops) ---------------------------------
    def sqrt(self) -> Tensor:
        """``gg.sqrt`` of this tensor: √x."""
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        """``gg.abs`` of this tensor: |x|."""
        return _ops.abs(self)

    def reciprocal(self) -> Tensor:
        """``gg.reciprocal`` of this tensor: 1/x."""
        return _ops.reciprocal(self)

    def pow(self, exponent: TensorLike) -> Tensor:
        """``gg.pow`` of this tensor: x ** y for a tensor or number exponent."""
        return _ops.pow(self, exponent)

    def neg(self) -> Tensor:
        """``gg.neg`` of this tensor: −x."""
        return _ops.neg(self)

    def sign(self) -> Tensor:
        """``gg.sign`` of this tensor: −1, 0 or 1."""
        return _ops.sign(self)

    def maximum(self, other: TensorLike) -> Tensor:
        """``gg.maximum`` of this tensor: Elementwise max."""
        return _ops.maximum(self, other)

    def minimum(self, other: TensorLike) -> Tensor:
        """``gg.minimum`` of this tensor: Elementwise min."""
        return _ops.minimum(self, other)

    def clip(self, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
        """``gg.clip`` of this tensor: Limit x to [lo, hi]."""
        return _ops.clip(self, min, max)
    clamp = clip

    def sin(self) -> Tensor:
        """``gg.sin`` of this tensor: sin x."""
        return _ops.sin(self)

    def cos(self) -> Tensor:
        """``gg.cos`` of this tensor: cos x."""
        return _ops.cos(self)

    def tan(self) -> Tensor:
        """``gg.tan`` of this tensor: tan x."""
        return _ops.tan(self)

    def sinh(self) -> Tensor:
        """``gg.sinh`` of this tensor: sinh x."""
        return _ops.sinh(self)

    def cosh(self) -> Tensor:
        """``gg.cosh`` of this tensor: cosh x."""
        return _ops.cosh(self)

    def arcsin(self) -> Tensor:
        """``gg.arcsin`` of this tensor: arcsin x on [−1, 1]."""
        return _ops.arcsin(self)

    def arccos(self) -> Tensor:
        """``gg.arccos`` of this tensor: arccos x on [−1, 1]."""
        return _ops.arccos(self)

    def arctan(self) -> Tensor:
        """``gg.arctan`` of this tensor: arctan x."""
        return _ops.arctan(self)
    asin, acos, atan = arcsin, arccos, arctan

    def log1p(self) -> Tensor:
        """``gg.log1p`` of this tensor: log(1 + x), accurate for small x."""
        return _ops.log1p(self)

    def expm1(self) -> Tensor:
        """``gg.expm1`` of this tensor: e^x − 1, accurate for small x."""
        return _ops.expm1(self)

    def log2(self) -> Tensor:
        """``gg.log2`` of this tensor: log₂ x."""
        return _ops.log2(self)

    def log10(self) -> Tensor:
        """``gg.log10`` of this tensor: log₁₀ x."""
        return _ops.log10(self)

    def exp2(self) -> Tensor:
        """``gg.exp2`` of this tensor: 2^x."""
        return _ops.exp2(self)

    def square(self) -> Tensor:
        """``gg.square`` of this tensor: x²."""
        return _ops.square(self)

    def floor(self) -> Tensor:
        """``gg.floor`` of this tensor: ⌊x⌋."""
        return _ops.floor(self)

    def ceil(self) -> Tensor:
        """``gg.ceil`` of this tensor: ⌈x⌉."""
        return _ops.ceil(self)

    def trunc(self) -> Tensor:
        """``gg.trunc`` of this tensor: x rounded toward 0."""
        return _ops.trunc(self)

    def round(self, decimals: int = 0) -> Tensor:
        """``gg.round`` of this tensor: x rounded to ``decimals`` places, halves to even."""
        return _ops.round(self, decimals=decimals)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
        """``gg.nan_to_num`` of this tensor: NaN → nan, ±∞ → posinf/neginf (the dtype's extremes when None)."""
        return _ops.nan_to_num(self, nan=nan, posinf=posinf, neginf=neginf)

    def cumsum(self, *args: Axis, **kwargs: Axis) -> Tensor:
        """``gg.cumsum`` of this tensor: Running sum along axis (of the flattened x when None, as NumPy)."""
        return _ops.cumsum(self, *args, **kwargs)

    def cumprod(self, *args: Axis, **kwargs: Axis) -> Tensor:
        """``gg.cumprod`` of this tensor: Running product along axis (flattened when None)."""
        return _ops.cumprod(self, *args, **kwargs)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        """``gg.diagonal`` of this tensor: ``np.diagonal``: the entries a[…, i, i + offset, …] along axis1 and axis2, as
        a new last axis."""
        return _ops.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        """``gg.trace`` of this tensor: ``np.trace``: the sum of the diagonal (of each matrix along axis1, axis2)."""
        return _ops.trace(self, offset, axis1, axis2)

    def ravel(self) -> Tensor:
        """``gg.ravel`` of this tensor: ``np.ravel``: x as one axis (a reshape)."""
        return _ops.ravel(self)

    def flip(self, axis: Axis = None) -> Tensor:
        """``gg.flip`` of this tensor: ``np.flip``: the order of entries reversed along axis (every axis when None)."""
        return _ops.flip(self, axis)

    def roll(self, shift: int | Sequence[int], axis: Axis = None) -> Tensor:
        """``gg.roll`` of this tensor: ``np.roll``: entries shifted along axis, those falling off the end coming back at
        the start."""
        return _ops.roll(self, shift, axis)

    def tile(self, reps: int | Sequence[int]) -> Tensor:
        """``gg.tile`` of this tensor: ``np.tile``: x repeated ``reps`` times along each axis."""
        return _ops.tile(self, reps)

    def take(self, indices: TensorLike, axis: int | None = None) -> Tensor:
        """``gg.take`` of this tensor: ``np.take``: the entries at ``indices`` along axis (of the flattened x when
        None)."""
        return _ops.take(self, indices, axis)

    # NumPy's axis= / keepdims= / ddof=, or PyTorch's dim= / keepdim= / correction= (glassgrad/ops/spelling.py)
    def sum(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.sum`` of this tensor: Σ over axis (all axes when None). NumPy's axis=/keepdims= or PyTorch's
        dim=/keepdim=."""
        return _ops.sum(self, *args, **kwargs)

    def mean(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.mean`` of this tensor: Mean over axis (all axes when None). NumPy's axis=/keepdims= or PyTorch's
        dim=/keepdim=."""
        return _ops.mean(self, *args, **kwargs)

    def max(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.max`` of this tensor: Largest entry over axis (NumPy's amax; no indices). NumPy's axis=/keepdims= or
        PyTorch's dim=/keepdim=."""
        return _ops.max(self, *args, **kwargs)

    def min(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.min`` of this tensor: Smallest entry over axis (NumPy's amin; no indices). NumPy's axis=/keepdims= or
        PyTorch's dim=/keepdim=."""
        return _ops.min(self, *args, **kwargs)

    def amax(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.amax`` of this tensor: Largest entry over axis (NumPy's amax; no indices). NumPy's axis=/keepdims= or
        PyTorch's dim=/keepdim=."""
        return _ops.amax(self, *args, **kwargs)

    def amin(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.amin`` of this tensor: Smallest entry over axis (NumPy's amin; no indices). NumPy's axis=/keepdims= or
        PyTorch's dim=/keepdim=."""
        return _ops.amin(self, *args, **kwargs)

    def prod(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.prod`` of this tensor: Product of entries over axis. NumPy's axis=/keepdims= or PyTorch's
        dim=/keepdim=."""
        return _ops.prod(self, *args, **kwargs)

    def var(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.var`` of this tensor: Variance over axis; ddof=0 by default, as NumPy (PyTorch's default is 1). NumPy's
        axis=/keepdims= or PyTorch's dim=/keepdim=."""
        return _ops.var(self, *args, **kwargs)

    def std(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.std`` of this tensor: Standard deviation over axis; ddof=0 by default, as NumPy. NumPy's axis=/keepdims=
        or PyTorch's dim=/keepdim=."""
        return _ops.std(self, *args, **kwargs)

    def logsumexp(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.logsumexp`` of this tensor: log Σ e^x over axis, stable for large |x| (the maximum is taken out first).
        NumPy's axis=/keepdims= or PyTorch's dim=/keepdim=."""
        return _ops.logsumexp(self, *args, **kwargs)

    def softmax(self, *args: int, **kwargs: int) -> Tensor:
        """``gg.softmax`` of this tensor: e^x / Σ e^x along axis, stable for large |x|."""
        return _ops.softmax(self, *args, **kwargs)

    def log_softmax(self, *args: int, **kwargs: int) -> Tensor:
        """``gg.log_softmax`` of this tensor: x − logsumexp(x) along axis, stable for large |x|."""
        return _ops.log_softmax(self, *args, **kwargs)

    def argmax(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.argmax`` of this tensor: Index of the largest entry along axis (of the flattened array when None).
        NumPy's axis=/keepdims= or PyTorch's dim=/keepdim=."""
        return _ops.argmax(self, *args, **kwargs)

    def argmin(self, *args: ReductionArg, **kwargs: ReductionArg) -> Tensor:
        """``gg.argmin`` of this tensor: Index of the smallest entry along axis (of the flattened array when None).
        NumPy's axis=/keepdims= or PyTorch's dim=/keepdim=."""
        return _ops.argmin(self, *args, **kwargs)

    def matmul(self, other: TensorLike) -> Tensor:
        """``gg.matmul`` of this tensor: x @ y with NumPy's rules for 1-d and batched operands."""
        return _ops.matmul(self, other)

    def dot(self, other: TensorLike) -> Tensor:
        """``gg.dot`` of this tensor: ``np.dot``: the scalar, inner or matrix product, by the operands' dimensions."""
        return _ops.dot(self, other)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """``gg.reshape`` of this tensor: The same entries in a new shape (one axis may be -1)."""
        return _ops.reshape(self, shape=shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """``gg.flatten`` of this tensor: Fold axes ``start_dim`` … ``end_dim`` (both included) into one, as
        ``torch.flatten``."""
        return _ops.flatten(self, start_dim, end_dim)

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        """NumPy's permutation (``t.transpose()``, ``t.transpose(2, 0, 1)``); two axes of a tensor that does not
        have two swap them, as ``torch.transpose(t, dim0, dim1)`` (for 2-d the two readings agree)."""
        if len(axes) == 2 and self.ndim != 2 and all(isinstance(a, int) for a in axes):
            return _ops.swapaxes(self, axis1=axes[0], axis2=axes[1])
        return _ops.transpose(self, axes=axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None))

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        """``gg.permute`` of this tensor: Reorder the axes, as ``torch.permute``: ``t.permute(1, 0)`` or ``t.permute((1,
        0))``."""
        return _ops.transpose(self, axes=axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """``gg.swapaxes`` of this tensor: Exchange two axes."""
        return _ops.swapaxes(self, axis1=axis1, axis2=axis2)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        """``gg.broadcast_to`` of this tensor: x broadcast to shape (a read-only view when large)."""
        return _ops.broadcast_to(self, shape=shape)
    expand = broadcast_to

    def squeeze(self, *args: Axis, **kwargs: Axis) -> Tensor:
        """``gg.squeeze`` of this tensor: Remove axes of length 1 (all of them when axis is None)."""
        return _ops.squeeze(self, *args, **kwargs)

    def unsqueeze(self, *args: Axis, **kwargs: Axis) -> Tensor:
        """``gg.unsqueeze`` of this tensor: Insert an axis of length 1 at axis."""
        return _ops.unsqueeze(self, *args, **kwargs)

    def split(self, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
        """``gg.split`` of this tensor: Split like ``np.split``: into equal sections, or at the given indices (a list of
        tensors)."""
        return _ops.split(self, indices_or_sections, axis)

    def pad(self, pad_width: int | Sequence[int] | Sequence[Sequence[int]], value: float = 0.0) -> Tensor:
        """``gg.pad`` of this tensor: Pad with a constant, pad_width one (before, after) pair per axis."""
        return _ops.pad(self, pad_width, value)

    def astype(self, dtype: DTypeLike) -> Tensor:
        """A copy in another dtype; differentiable between float dtypes."""
        return _ops.astype(self, xp.dtype(dtype))

    def float(self) -> Tensor:
        """A float32 copy (``astype(gg.float32)``)."""
        return self.astype(float32)

    def double(self) -> Tensor:
        """A float64 copy (``astype(gg.float64)``)."""
        return self.astype(float64)


# The types the public API is annotated with (a Tensor is itself ArrayLike through __array__; it is named for
# the reader).
TensorLike: TypeAlias = Union[Tensor, "ArrayLike"]
"""What the gates and operators take: a tensor, or anything NumPy makes an array of (number, nested list,
array); the non-tensors are constants (no gradient)."""
Axis: TypeAlias = Union[int, Sequence[int], None]
"""An axis, several axes, or None for all of them."""
ReductionArg: TypeAlias = Union[int, Sequence[int], bool, float, None]
"""An argument of a reduction method (``t.sum(...)``, ``t.var(...)``): the axis (``dim``), ``keepdims``
(``keepdim``) or ``ddof`` (``correction``)."""
Index: TypeAlias = Union[int, slice, EllipsisType, None, Tensor, ndarray, Sequence[Any], tuple[Any, ...]]
"""What ``t[index]`` takes, as NumPy: integers, slices, ``...``, ``None``, integer or bool arrays and tensors,
and tuples of these."""


# ------------------------------------------------------------------------------------------------
# Creating tensors. Every creation function takes device= ("cpu", "cuda", "cuda:N", a gg.Device; None is the
# CPU) and makes the array there; the *_like functions follow their source's device unless told otherwise.
# ------------------------------------------------------------------------------------------------
def tensor(data: TensorLike, dtype: DTypeLike | None = None, requires_grad: bool = False,
           device: DeviceLike | None = None) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested list, array or tensor), on ``device``
    (None: where ``data`` is, the CPU for numbers and lists).

    Python floats give float32 and Python ints int64; NumPy arrays keep their dtype.
    """
    arr = _to_array(data, dtype, copy=device is None)
    if device is not None:
        moved = to_device(arr, device)
        arr = _to_array(data, dtype, copy=True) if moved is arr else moved    # already there: copy it here
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(data: TensorLike, dtype: DTypeLike | None = None, device: DeviceLike | None = None) -> Tensor:
    """Like ``tensor`` but shares memory with ``data`` when it is already an array of that dtype on that device."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == xp.dtype(dtype)) and \
            (device is None or data.device == device):
        return data
    arr = _to_array(data, dtype, copy=False)
    return Tensor(arr if device is None else to_device(arr, device))


def from_dlpack(x: Any, requires_grad: bool = False) -> Tensor:
    """A tensor sharing memory with any DLPack producer: a PyTorch tensor on the CPU, a NumPy array, a JAX
    array … (``x`` itself must not require a gradient in its own library: detach it there first). A producer
    on a CUDA device is read by the "cuda" backend (CuPy), on the same GPU."""
    on_gpu = hasattr(x, "__dlpack_device__") and x.__dlpack_device__()[0] == _DLPACK_CUDA
    module = backend_for(Device("cuda")).module if on_gpu else xp
    return Tensor(module.from_dlpack(x), requires_grad=requires_grad)


_DLPACK_CUDA = 2     # DLPack's device type code of CUDA memory (kDLCUDA)


def _shape(shape: tuple[int | Sequence[int], ...], who: str) -> tuple[int, ...]:
    """The sizes given as ``zeros(2, 3)`` or ``zeros((2, 3))``, each an integer ≥ 0 (else a clear error)."""
    sizes = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    return tuple(check_int(f"{who} size", n, low=0) for n in sizes)


def _float_dtype(dtype: DTypeLike | None) -> DTypeLike:
    return DEFAULT_FLOAT if dtype is None else dtype


def zeros(*shape: int | Sequence[int], dtype: DTypeLike | None = None, requires_grad: bool = False,
          device: DeviceLike | None = None) -> Tensor:
    """A tensor of zeros of the given shape on ``device`` (None: the CPU); float32 unless ``dtype`` says otherwise."""
    size = _shape(shape, "zeros")
    with creating_on(device) as module:
        return Tensor(module.zeros(size, _float_dtype(dtype)), requires_grad=requires_grad)


def ones(*shape: int | Sequence[int], dtype: DTypeLike | None = None, requires_grad: bool = False,
         device: DeviceLike | None = None) -> Tensor:
    """A tensor of ones of the given shape on ``device`` (None: the CPU); float32 unless ``dtype`` says otherwise."""
    size = _shape(shape, "ones")
    with creating_on(device) as module:
        return Tensor(module.ones(size, _float_dtype(dtype)), requires_grad=requires_grad)


def full(shape: int | Sequence[int], fill_value: float, dtype: DTypeLike | None = None, requires_grad: bool = False,
         device: DeviceLike | None = None) -> Tensor:
    """A tensor of the given shape filled with the number ``fill_value``, on ``device`` (None: the CPU); float32
    unless ``dtype`` says otherwise."""
    if isinstance(fill_value, (str, bytes)):
        raise TypeError(f"full: fill_value must be a number, not {type(fill_value).__name__} ({fill_value!r})")
    size = _shape((shape,), "full")
    with creating_on(device) as module:
        return Tensor(module.full(size, fill_value, _float_dtype(dtype)), requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: DTypeLike | None = None,
           requires_grad: bool = False,
           device: DeviceLike | None = None) -> Tensor:
    """Like ``np.arange``, on ``device`` (None: the CPU); int64 for whole-number arguments, float32 otherwise."""
    for name, value in (("start", start), ("stop", stop), ("step", step)):
        if value is not None:
            check_number(f"arange {name}", value, low=float("-inf"))
    if step == 0:
        raise ValueError("arange: step must not be 0")
    with creating_on(device) as module:
        arr = module.arange(start, stop, step) if stop is not None else module.arange(0, start, step)
        if dtype is None:
            dtype = xp.int64 if arr.dtype.kind in "iu" else DEFAULT_FLOAT
        return Tensor(arr.astype(dtype), requires_grad=requires_grad)


def linspace(start: float, stop: float, num: int = 50, endpoint: bool = True, dtype: DTypeLike | None = None,
             requires_grad: bool = False, device: DeviceLike | None = None) -> Tensor:
    """``num`` evenly spaced values from start to stop (stop included unless endpoint=False), as ``np.linspace``,
    on ``device`` (None: the CPU); float32 unless ``dtype`` says otherwise."""
    check_int("linspace num", num, low=0)
    with creating_on(device) as module:
        return Tensor(module.linspace(start, stop, num, endpoint=endpoint).astype(_float_dtype(dtype)),
                      requires_grad=requires_grad)


def logspace(start: float, stop: float, num: int = 50, endpoint: bool = True, base: float = 10.0,
             dtype: DTypeLike | None = None,
             requires_grad: bool = False, device: DeviceLike | None = None) -> Tensor:
    """``base ** linspace(start, stop, num)``, as ``np.logspace``, on ``device`` (None: the CPU); float32 unless
    ``dtype`` says otherwise."""
    check_int("logspace num", num, low=0)
    with creating_on(device) as module:
        return Tensor(module.logspace(start, stop, num, endpoint=endpoint, base=base).astype(_float_dtype(dtype)),
                      requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike | None = None, requires_grad: bool = False,
        device: DeviceLike | None = None) -> Tensor:
    """The n × m identity matrix (m = n when omitted), as ``np.eye``, on ``device`` (None: the CPU); float32 unless
    ``dtype`` says otherwise."""
    check_int("eye n", n, low=0)
    if m is not None:
        check_int("eye m", m, low=0)
    with creating_on(device) as module:
        return Tensor(module.eye(n, m, dtype=_float_dtype(dtype)), requires_grad=requires_grad)


def _like(t: TensorLike, dtype: DTypeLike | None, device: DeviceLike | None) -> tuple:
    """(shape, dtype, device) of a *_like result: those of ``t`` unless given."""
    array = as_array(t)
    return array.shape, (array.dtype if dtype is None else dtype), (device_of(array) if device is None else device)


def zeros_like(t: TensorLike, dtype: DTypeLike | None = None, requires_grad: bool = False,
               device: DeviceLike | None = None) -> Tensor:
    """Zeros with the shape of ``t`` (a Tensor or array), its dtype and device unless ``dtype``/``device`` are given."""
    shape, dtype, device = _like(t, dtype, device)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad, device=device)


def ones_like(t: TensorLike, dtype: DTypeLike | None = None, requires_grad: bool = False,
              device: DeviceLike | None = None) -> Tensor:
    """Ones with the shape of ``t`` (a Tensor or array), its dtype and device unless ``dtype``/``device`` are given."""
    shape, dtype, device = _like(t, dtype, device)
    return ones(shape, dtype=dtype, requires_grad=requires_grad, device=device)


def full_like(t: TensorLike, fill_value: float, dtype: DTypeLike | None = None, requires_grad: bool = False,
              device: DeviceLike | None = None) -> Tensor:
    """``fill_value`` with the shape of ``t`` (a Tensor or array), its dtype and device unless ``dtype``/``device``
    are given."""
    shape, dtype, device = _like(t, dtype, device)
    return full(shape, fill_value, dtype=dtype, requires_grad=requires_grad, device=device)


# ------------------------------------------------------------------------------------------------
# Random tensors: one default generator, seeded by manual_seed, or a Generator of your own. The numbers are
# always drawn on the host by NumPy and then moved to ``device``, so a seed gives the same tensor on every
# device (at the price of one host-to-device copy; initial weights and dropout masks are small next to a step).
# ------------------------------------------------------------------------------------------------
class Generator:
    """A seeded source of random numbers (wraps ``numpy.random.Generator``, made on first use, so that
    ``import glassgrad`` does not load ``numpy.random``). It draws on the host for every device: the same seed
    gives the same numbers on the CPU and on a GPU."""

    def __init__(self, seed: int | None = None) -> None:
        self.manual_seed(seed)

    def manual_seed(self, seed: int | None) -> Generator:
        """Restart from ``seed`` (None: fresh entropy); returns this generator."""
        self.seed = seed
        self._rng: xp.random.Generator | None = None
        return self

    @property
    def rng(self) -> xp.random.Generator:
        """The ``numpy.random.Generator`` behind this one."""
        if self._rng is None:
            self._rng = xp.random.default_rng(self.seed)
        return self._rng

    def get_state(self) -> dict[str, Any]:
        """The bit generator's state, to save and restore with ``set_state``."""
        return dict(self.rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state that ``get_state`` returned."""
        self.rng.bit_generator.state = state


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the default generator: the same seed gives the same random tensors and initial weights (on every
    device: random numbers are drawn on the host, then moved)."""
    return default_generator.manual_seed(seed)


def _rng(generator: Generator | None) -> xp.random.Generator:
    return (generator or default_generator).rng


def _random(arr: ndarray, requires_grad: bool, device: DeviceLike | None) -> Tensor:
    """A tensor of host-drawn random numbers, moved to ``device``."""
    return Tensor(arr if device is None else to_device(arr, device), requires_grad=requires_grad)


def rand(*shape: int | Sequence[int], dtype: DTypeLike | None = None, requires_grad: bool = False,
         generator: Generator | None = None,
         device: DeviceLike | None = None) -> Tensor:
    """Uniform on [0, 1), on ``device`` (None: the CPU); drawn on the host, so a seed gives the same numbers on
    every device."""
    arr = _rng(generator).random(_shape(shape, "rand"), dtype=xp.float64).astype(_float_dtype(dtype))
    return _random(arr, requires_grad, device)


def randn(*shape: int | Sequence[int], dtype: DTypeLike | None = None, requires_grad: bool = False,
          generator: Generator | None = None,
          device: DeviceLike | None = None) -> Tensor:
    """Standard normal, on ``device`` (None: the CPU); drawn on the host, so a seed gives the same numbers on
    every device."""
    arr = _rng(generator).standard_normal(_shape(shape, "randn")).astype(_float_dtype(dtype))
    return _random(arr, requires_grad, device)


def rand_like(t: TensorLike, dtype: DTypeLike | None = None, requires_grad: bool = False,
              generator: Generator | None = None,
              device: DeviceLike | None = None) -> Tensor:
    """Uniform on [0, 1) with the shape of ``t``, its dtype and device unless ``dtype``/``device`` are given."""
    shape, dtype, device = _like(t, dtype, device)
    return rand(shape, dtype=dtype, requires_grad=requires_grad, generator=generator, device=device)


def randn_like(t: TensorLike, dtype: DTypeLike | None = None, requires_grad: bool = False,
               generator: Generator | None = None,
               device: DeviceLike | None = None) -> Tensor:
    """Standard normal with the shape of ``t``, its dtype and device unless ``dtype``/``device`` are given."""
    shape, dtype, device = _like(t, dtype, device)
    return randn(shape, dtype=dtype, requires_grad=requires_grad, generator=generator, device=device)


def randint(low: int, high: int, shape: Sequence[int] | int, generator: Generator | None = None,
            device: DeviceLike | None = None) -> Tensor:
    """Integers in [low, high), int64, on ``device`` (None: the CPU); drawn on the host."""
    low, high = check_int("randint low", low, low=-2**63), check_int("randint high", high, low=-2**63)
    if high <= low:
        raise ValueError(f"randint: high must be greater than low, got low={low}, high={high}")
    size = _shape((shape,), "randint")
    return _random(_rng(generator).integers(low, high, size=size, dtype=xp.int64), False, device)


def _to_arguments(args: tuple, kwargs: dict) -> tuple[Device | None, Any]:
    """(device, dtype) from ``Tensor.to``'s arguments: a device spec, a dtype, both, or another tensor."""
    unknown = set(kwargs) - {"device", "dtype"}
    if unknown or len(args) > 2:
        raise TypeError(f"to(): expected to(device), to(dtype), to(device, dtype) or to(tensor), got "
                        f"{len(args)} positional argument(s){' and ' + ', '.join(sorted(unknown)) if unknown else ''}")
    target, dtype = kwargs.get("device"), kwargs.get("dtype")
    for a in args:
        if isinstance(a, Tensor):
            target, dtype = a.device, a.dtype
        elif isinstance(a, Device) or (isinstance(a, str) and a.partition(":")[0].strip() in ("cpu", "cuda")):
            target = a
        else:
            dtype = a
    return (None if target is None else _parse_device(target)), (None if dtype is None else _as_dtype(dtype))


def _refuse_host_view(t: Tensor, what: str) -> None:
    raise TypeError(f"{what}: can't convert a tensor on {t.device} to a NumPy array; call .cpu() first to copy "
                    "it to host memory (e.g. t.cpu().numpy())")


def _value_read(t: Tensor) -> None:
    """Tell the engine's hooks that Python looked at a value (gg.compile cannot replay a step that branches on it)."""
    if _hooks.active:
        for hook in _hooks.active:
            hook.on_read(t)


# The engine and the gates import Tensor from here, so they are imported last.
from glassgrad import engine as _engine  # noqa: E402
from glassgrad import ops as _ops  # noqa: E402

if TYPE_CHECKING:
    from glassgrad.ops import numpy_api as _numpy_api
else:   # NumPy's functions on tensors (np.exp(t), np.sum(t)): their tables are built on the first such call
    from glassgrad._lazy import lazy_import as _lazy_import
    _numpy_api = _lazy_import("glassgrad.ops.numpy_api")

# The operators and activations declared for type checkers in the class: the gate functions themselves (the
# tensor is their first input), and for the reflected operators the same with the inputs swapped.
for _method in ("__neg__", "exp", "log", "tanh", "sigmoid", "relu"):
    setattr(Tensor, _method, getattr(_ops, _method.strip("_")))
for _name in ("add", "sub", "mul", "truediv", "matmul"):
    _function = getattr(_ops, "div" if _name == "truediv" else _name)
    _reflected = _engine.binary_function(_function.gate, reflected=True)
    _reflected.__name__ = f"__r{_name}__"
    _reflected.__qualname__ = f"Tensor.__r{_name}__"
    _reflected.__doc__ = f"``gg.{_function.__name__}(other, self)``."
    setattr(Tensor, f"__{_name}__", _function)
    setattr(Tensor, f"__r{_name}__", _reflected)
