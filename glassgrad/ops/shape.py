"""Gates that move entries around without changing them: their VJPs move the gradient back.

reshape ↔ reshape back, transpose ↔ the inverse transpose, getitem ↔ scatter-add into zeros,
concatenate ↔ slice, pad ↔ crop. ``broadcast_to`` passes g straight back: the engine sums it down.
"""
from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any, Sequence, overload

from glassgrad._backend import ndarray, xp
from glassgrad.device import Device, add_at, array_module, as_array, check_same_device, device_of
from glassgrad.device import to_device as _array_to_device
from glassgrad.engine import Each, gate, nondifferentiable
from glassgrad.tensor import Axis, Index, Tensor, TensorLike

if TYPE_CHECKING:   # for the annotations only
    from numpy.typing import ArrayLike, DTypeLike


def _reshape(x: ndarray, shape: int | Sequence[int]) -> ndarray:
    return xp.reshape(x, shape)


reshape = gate("reshape", _reshape,
               lambda g, out, x, *, shape: g.reshape(x.shape),
               doc="The same entries in a new shape (one axis may be -1). ∂/∂x: g reshaped back to x's shape.")


def _inverse(axes, ndim):
    return None if axes is None else tuple(xp.argsort([a % ndim for a in axes]))


def _transpose(x: ndarray, axes: Sequence[int] | None = None) -> ndarray:
    return xp.transpose(x, axes)


def _swapaxes(x: ndarray, axis1: int, axis2: int) -> ndarray:
    return xp.swapaxes(x, axis1, axis2)


transpose = gate("transpose", _transpose,
                 lambda g, out, x, *, axes: transpose(g, axes=_inverse(axes, x.ndim)),
                 doc="Permute axes (reverse them when axes is None), as np.transpose. ∂/∂x: g permuted back "
                     "by the inverse permutation.")
swapaxes = gate("swapaxes", _swapaxes,
                lambda g, out, x, *, axis1, axis2: swapaxes(g, axis1=axis1, axis2=axis2),
                doc="Exchange two axes. ∂/∂x: g with the same two axes exchanged back.")


def _broadcast(x: ndarray, shape: tuple[int, ...]) -> ndarray:
    # A small result is filled in directly: NumPy's broadcast view costs ~4 µs to set up, a 4096-entry copy
    # less than one. A large one stays a read-only view, taking no memory.
    if math.prod(shape) > 4096:
        return xp.broadcast_to(x, shape)
    out = array_module(x).empty(shape, dtype=xp.result_type(x))
    out[...] = x
    return out


broadcast_to = gate("broadcast_to", _broadcast,
                    lambda g, out, x, *, shape: g,       # the engine sums g back to x's shape
                    doc="x broadcast to shape (a read-only view when large). ∂/∂x: g summed back over the "
                        "broadcast axes (by the engine, as for every broadcast input).")
def _squeeze_forward(x: ndarray, axis: Axis = None) -> ndarray:
    return xp.squeeze(x, axis)


def _unsqueeze_forward(x: ndarray, axis: int | Sequence[int]) -> ndarray:
    return xp.expand_dims(x, axis)


_squeeze = gate("squeeze", _squeeze_forward,
                lambda g, out, x, *, axis: g.reshape(x.shape),
                doc="Remove axes of length 1 (all of them when axis is None). ∂/∂x: g reshaped back to x's shape.")
_unsqueeze = gate("unsqueeze", _unsqueeze_forward,
                  lambda g, out, x, *, axis: g.reshape(x.shape),
                  doc="Insert an axis of length 1 at axis. ∂/∂x: g reshaped back to x's shape.")


def squeeze(x: TensorLike, axis: Axis = None) -> Tensor:
    """Remove axes of length 1 (all of them when axis is None)."""
    return _squeeze(x, axis=axis)


def unsqueeze(x: TensorLike, axis: int | Sequence[int]) -> Tensor:
    """Insert an axis of length 1 at ``axis`` (NumPy's expand_dims)."""
    return _unsqueeze(x, axis=axis)


expand_dims = unsqueeze


def permute(x: TensorLike, *axes: int | Sequence[int]) -> Tensor:
    """Reorder the axes, as ``torch.permute``: ``permute(x, 1, 0)`` or ``permute(x, (1, 0))``; see ``transpose``."""
    return transpose(x, axes=axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes)


def flatten(x: Tensor | ndarray, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Fold axes ``start_dim`` … ``end_dim`` (both included) into one, as ``torch.flatten``; a 0-d x becomes (1,)."""
    if x.ndim == 0:
        return reshape(x, shape=(1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for {x.ndim} axes")
    return reshape(x, shape=x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])


def _piece(g, axis, start, stop):
    return g[(builtins.slice(None),) * (axis % g.ndim) + (builtins.slice(start, stop),)]


def _concatenate_vjp(i, g, out, *xs, axis):
    start = builtins.sum(x.shape[axis] for x in xs[:i])
    return _piece(g, axis, start, start + xs[i].shape[axis])


def _concatenate_forward(*xs: ndarray, axis: int = 0) -> ndarray:
    return xp.concatenate(xs, axis=axis)


def _stack_forward(*xs: ndarray, axis: int = 0) -> ndarray:
    return xp.stack(xs, axis=axis)


_concatenate = gate("concatenate", _concatenate_forward, Each(_concatenate_vjp),
                    doc="Join inputs along an existing axis. ∂/∂x_i: the slice of g where x_i was placed.")
_stack = gate("stack", _stack_forward,
              Each(lambda i, g, out, *xs, axis: g[(builtins.slice(None),) * (axis % out.ndim) + (i,)]),
              doc="Join inputs along a new axis. ∂/∂x_i: g at index i of the new axis.")


def concatenate(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; each gets back its own slice of the gradient."""
    return _concatenate(*tensors, axis=axis)


def stack(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    return _stack(*tensors, axis=axis)


cat = concatenate


def split(x: Tensor | ndarray, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split like ``np.split``: a number of equal sections, or the indices where pieces start."""
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"split: axis {axis} of length {n} does not divide into {indices_or_sections} equal parts")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step))
    else:
        bounds = [0, *indices_or_sections, n]
    return [_piece(x, axis, a, b) for a, b in zip(bounds[:-1], bounds[1:])]


# ---- indexing --------------------------------------------------------------------------------------
def plain_index(index: Index) -> Any:
    """An index with any tensors in it replaced by their arrays."""
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index.data if isinstance(index, Tensor) else index


_BASIC_INDEX = (int, builtins.slice, type(None), type(Ellipsis))
"""The types of a basic index's parts: ints, slices, None, Ellipsis (no index arrays)."""


def _is_basic(index) -> bool:
    """Basic indexing (ints, slices, None, ...) never selects an entry twice; integer arrays may."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, _BASIC_INDEX) or
               (getattr(p, "dtype", None) == xp.bool_ and not isinstance(p, xp.generic)) for p in parts)


def _scatter_add(g: ndarray, index: Any, shape: tuple[int, ...]) -> ndarray:
    z = array_module(g).zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        z[index] = g
    else:
        add_at(z, index, g)           # repeated indices add up their gradients (CuPy: cupyx.scatter_add)
    return z


_unindex = gate("unindex", _scatter_add,
                lambda g, out, h, *, index, shape: g[index],
                doc="The backward of indexing: h added into zeros of shape at the indexed places. Its own "
                    "derivative is indexing again: ∂/∂h = g[index].")


def _getitem_forward(x: ndarray, index: Any) -> ndarray:
    return x[index]


_getitem = gate("getitem", _getitem_forward,
                lambda g, out, x, *, index: _unindex(g, index=index, shape=x.shape),
                doc="x[index] with slices, integers, masks or integer arrays. ∂/∂x: g added into zeros of x's "
                    "shape at the indexed places (the unindex gate); entries selected several times receive the "
                    "sum of their gradients.")


def getitem(x: TensorLike, index: Index) -> Tensor:
    """``x[index]``; tensors inside the index are used as arrays (on x's device: else an error naming both)."""
    index = plain_index(index)
    parts = index if isinstance(index, tuple) else (index,)
    if any(type(part) not in _BASIC_INDEX for part in parts):     # an index array: it must live where x does
        check_same_device("getitem", (x, *parts))
    return _getitem(x, index=index)


def _pad_vjp(g, out, x, *, pad_width, value):
    return g[tuple(builtins.slice(before, n - after) for (before, after), n in zip(pad_width, out.shape))]


def _pad_forward(x: ndarray, pad_width: tuple[tuple[int, int], ...], value: float = 0.0) -> ndarray:
    return xp.pad(x, pad_width, constant_values=value)


_pad = gate("pad", _pad_forward, _pad_vjp,
            doc="Pad with a constant, pad_width one (before, after) pair per axis. ∂/∂x: g cropped back to x "
                "(the padding's gradient is dropped).")


def pad(x: Tensor | ndarray, pad_width: int | Sequence[int] | Sequence[Sequence[int]], value: float = 0.0) -> Tensor:
    """Pad with a constant, ``pad_width`` as in ``np.pad`` (an int, a pair, or one pair per axis). Negative
    widths crop instead, as in PyTorch's ``F.pad``: the crop is a slice, the rest a pad."""
    widths = xp.broadcast_to(xp.asarray(pad_width, dtype=int), (x.ndim, 2))
    if (widths < 0).any():
        cut = xp.maximum(-widths, 0)
        if any(n - a - b < 0 for (a, b), n in zip(cut, x.shape)):
            raise ValueError(f"pad: widths {widths.tolist()} crop more than the shape {x.shape} holds")
        x = getitem(x, tuple(builtins.slice(int(a), n - int(b)) for (a, b), n in zip(cut, x.shape)))
        widths = xp.maximum(widths, 0)
    return _pad(x, pad_width=tuple((int(a), int(b)) for a, b in widths), value=value)


# astype: floats convert differentiably (the engine casts the gradient back); other dtypes are constants.
def _astype_forward(x: ndarray, dtype: xp.dtype[Any]) -> ndarray:
    return x.astype(dtype)


_astype = gate("astype", _astype_forward, lambda g, out, x, *, dtype: g,
               doc="Convert to another floating dtype. ∂/∂x = g (the engine casts it back to x's dtype).")


@overload
def astype(x: Tensor, dtype: DTypeLike) -> Tensor: ...
@overload
def astype(x: ndarray, dtype: DTypeLike) -> ndarray: ...
def astype(x: Tensor | ndarray, dtype: DTypeLike) -> Tensor | ndarray:
    """``x`` converted to ``dtype``: differentiably to a floating dtype, as a constant (no gradient) to any other."""
    dtype = xp.dtype(dtype)
    if dtype.kind == "f":
        return _astype(x, dtype=dtype)
    return Tensor._make(x.data.astype(dtype)) if isinstance(x, Tensor) else x.astype(dtype)


# to_device: the copy to another device, differentiable as in PyTorch (the gradient goes back to the source device)
def _to_device_forward(x: ndarray, device: Device) -> ndarray:
    return _array_to_device(x, device)


def _source_device(x):
    return x.device if isinstance(x, Tensor) else device_of(x)


to_device = gate("to_device", _to_device_forward,
                 lambda g, out, x, *, device: to_device(g, device=_source_device(x)),
                 doc="A copy of x on another device (t.to(device), t.cpu(), t.cuda()). ∂/∂x: g copied back to x's "
                     "device.")


def _one_hot(labels: ArrayLike, num_classes: int, dtype: DTypeLike = xp.float32) -> ndarray:
    values = as_array(labels)
    if values.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, not {values.dtype}")
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes - 1}], found {values.min()}..{values.max()}")
    return array_module(values).eye(num_classes, dtype=dtype)[values]


one_hot = nondifferentiable(_one_hot)
one_hot.__doc__ = "Rows of the identity for integer labels: one_hot(y, 10) has shape y.shape + (10,). No gradient."
