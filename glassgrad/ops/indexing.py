"""Rearranging and scanning: cumsum, cumprod, diff, sort, argsort, partition, take, take_along_axis, tile,
repeat, flip, roll, moveaxis, ravel, tril, triu, the stacks (vstack, hstack, dstack, column_stack),
atleast_1d/2d/3d, fliplr, flipud, rot90.

Only cumsum and cumprod are gates of their own. The others select or copy entries, so they are written
as indexing (``getitem``, whose VJP adds the gradient back at the selected places), ``broadcast_to``,
``reshape`` and ``transpose``: their gradients are those gates' gradients, already tested, and ties in
``sort`` send the gradient where the stable sort put each entry (PyTorch's choice too).
"""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Sequence, overload

from glassgrad._backend import ndarray, xp
from glassgrad.axes import reduced_axes
from glassgrad.device import array_module, as_array
from glassgrad.engine import gate, nondifferentiable
from glassgrad.ops.elementwise import mul, sub
from glassgrad.ops.shape import broadcast_to, concatenate, getitem, reshape, transpose
from glassgrad.tensor import Axis, Tensor, TensorLike

if TYPE_CHECKING:   # for the annotations only
    from numpy.typing import ArrayLike


def _values(x: TensorLike) -> ndarray:
    return as_array(x)


def _reversed(x, axis: int):
    """x with ``axis`` reversed (a getitem, so it differentiates)."""
    return getitem(x, (builtins.slice(None),) * (axis % x.ndim) + (builtins.slice(None, None, -1),))


def _cumsum(x: ndarray, axis: int | None = None) -> ndarray:
    return xp.cumsum(x, axis=axis)


def _reverse_cumsum(g, axis: int):
    """Σ_{j ≥ i} g_j along axis: the transpose of a running sum."""
    return _reversed(cumsum(_reversed(g, axis), axis=axis), axis)


def _cumsum_vjp(g, out, x, *, axis):
    if axis is None:                                 # NumPy flattens first
        return reshape(_reverse_cumsum(g, 0), x.shape)
    return _reverse_cumsum(g, axis)


cumsum = gate("cumsum", _cumsum, _cumsum_vjp,
              doc="Running sum along axis (of the flattened x when None, as NumPy). ∂/∂x_i = Σ_{j ≥ i} g_j: "
                  "the running sum of g taken from the end.")


def _cumprod(x: ndarray, axis: int | None = None) -> ndarray:
    return xp.cumprod(x, axis=axis)


def _cumprod_with_zeros(g, x, axis: int):
    """∂/∂x_i = Σ_{j ≥ i} g_j Π_{k ≤ j, k ≠ i} x_k, exact when x has zeros (O(n²) along axis, arrays only)."""
    g, x = xp.moveaxis(g, axis, -1), xp.moveaxis(x, axis, -1)
    n = x.shape[-1]
    before = xp.cumprod(xp.concatenate([xp.ones_like(x[..., :1]), x[..., :-1]], axis=-1), axis=-1)
    grad = xp.empty_like(x)
    for i in range(n):
        after = xp.cumprod(xp.concatenate([xp.ones_like(x[..., :1]), x[..., i + 1:]], axis=-1), axis=-1)
        grad[..., i] = before[..., i] * (g[..., i:] * after).sum(axis=-1)
    return xp.moveaxis(grad, -1, axis)


def _cumprod_vjp(g, out, x, *, axis):
    shape, flat = x.shape, axis is None
    if flat:
        g, out, x = reshape(g, (-1,)), reshape(out, (-1,)), reshape(x, (-1,))
    along = 0 if flat else axis
    if xp.all(_values(x) != 0):                       # ∂/∂x_i = Σ_{j ≥ i} g_j out_j / x_i
        grad = _reverse_cumsum(g * out, along) / x
    elif isinstance(g, Tensor):
        raise ValueError("cumprod: the second derivative with zeros in x is not supported")
    else:
        grad = _cumprod_with_zeros(g, x, along)
    return reshape(grad, shape)


cumprod = gate("cumprod", _cumprod, _cumprod_vjp,
               doc="Running product along axis (flattened when None). ∂/∂x_i = Σ_{j ≥ i} g_j Π_{k ≤ j, k ≠ i} x_k, "
                   "= (Σ_{j ≥ i} g_j out_j) / x_i without zeros; exact with zeros too (first derivatives there).")


def diff(x: TensorLike, n: int = 1, axis: int = -1) -> TensorLike:
    """``np.diff``: the n-th differences x[i + 1] − x[i] along axis."""
    if n < 0:
        raise ValueError(f"diff: order n must be ≥ 0, not {n}")
    for _ in range(n):
        ndim = _values(x).ndim
        head = (builtins.slice(None),) * (axis % ndim)
        x = sub(getitem(x, head + (builtins.slice(1, None),)), getitem(x, head + (builtins.slice(None, -1),)))
    return x


def take(x: TensorLike, indices: TensorLike, axis: int | None = None) -> Tensor:
    """``np.take``: the entries at ``indices`` along axis (of the flattened x when None)."""
    indices = _values(indices)
    if axis is None:
        return getitem(reshape(x, (-1,)), indices)
    return getitem(x, (builtins.slice(None),) * (axis % _values(x).ndim) + (indices,))


def take_along_axis(x: TensorLike, indices: TensorLike, axis: int) -> Tensor:
    """``np.take_along_axis``: x[…, indices[…, i], …] along axis, indices broadcasting against x elsewhere."""
    indices = _values(indices)
    shape = _values(x).shape
    if indices.ndim != len(shape):
        raise ValueError(f"take_along_axis: indices need as many axes as x ({len(shape)}), not {indices.ndim}")
    axis = axis % len(shape)
    index = tuple(indices if d == axis else
                  array_module(indices).arange(n).reshape(tuple(-1 if k == d else 1 for k in range(len(shape))))
                  for d, n in enumerate(shape))
    return getitem(x, index)


def _argsort(x: ArrayLike, axis: int = -1, stable: bool = True) -> ndarray:
    return xp.argsort(x, axis=axis, stable=stable)


argsort = nondifferentiable(_argsort)
argsort.__doc__ = "Indices that sort x along axis (stable: ties keep their order). No gradient."


def sort(x: TensorLike, axis: int | None = -1) -> Tensor:
    """``np.sort`` (stable): the sorted values; each entry's gradient goes back to where it came from."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    return take_along_axis(x, xp.argsort(_values(x), axis=axis, stable=True), axis)


def partition(x: TensorLike, kth: int | Sequence[int], axis: int = -1) -> Tensor:
    """``np.partition``: the k-th entry in its sorted place, smaller before and larger after (gradients follow
    the entries, as for sort)."""
    return take_along_axis(x, xp.argpartition(_values(x), kth, axis=axis), axis)


def tile(x: TensorLike, reps: int | Sequence[int]) -> Tensor:
    """``np.tile``: x repeated ``reps`` times along each axis (a broadcast, so the gradient is summed back)."""
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    shape = _values(x).shape
    n = builtins.max(len(shape), len(reps))
    shape, reps = (1,) * (n - len(shape)) + shape, (1,) * (n - len(reps)) + reps
    spread = reshape(x, tuple(v for s in shape for v in (1, s)))
    copies = broadcast_to(spread, tuple(v for r, s in zip(reps, shape) for v in (r, s)))
    return reshape(copies, tuple(r * s for r, s in zip(reps, shape)))


def repeat(x: TensorLike, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """``np.repeat`` (``torch.repeat_interleave``): each entry repeated along axis (flattened when None)."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    n = _values(x).shape[axis]
    module = array_module(x)
    return take(x, module.repeat(module.arange(n), repeats), axis)


def flip(x: TensorLike, axis: Axis = None) -> Tensor:
    """``np.flip``: the order of entries reversed along axis (every axis when None)."""
    ndim = _values(x).ndim
    axes = set(reduced_axes(axis, ndim))
    return getitem(x, tuple(builtins.slice(None, None, -1) if d in axes else builtins.slice(None)
                            for d in range(ndim)))


@overload
def roll(x: Tensor, shift: int | Sequence[int], axis: Axis = None) -> Tensor: ...
@overload
def roll(x: ArrayLike, shift: int | Sequence[int], axis: Axis = None) -> TensorLike: ...
def roll(x: TensorLike, shift: int | Sequence[int], axis: Axis = None) -> TensorLike:
    """``np.roll``: entries shifted along axis, those falling off the end coming back at the start."""
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), _values(x).shape)
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    for s, a in zip(shifts, axes):
        n = _values(x).shape[a]
        x = take(x, (array_module(x).arange(n) - s) % n, a)
    return x


def moveaxis(x: TensorLike, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """``np.moveaxis``: axes moved to new positions, the others keeping their order (a transpose)."""
    ndim = _values(x).ndim
    src = [s % ndim for s in ((source,) if isinstance(source, int) else source)]
    dst = [d % ndim for d in ((destination,) if isinstance(destination, int) else destination)]
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: {len(src)} source axes but {len(dst)} destinations")
    order = [d for d in range(ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def ravel(x: TensorLike) -> Tensor:
    """``np.ravel``: x as one axis (a reshape)."""
    return reshape(x, (-1,))



def tril(x: TensorLike, k: int = 0) -> Tensor:
    """``np.tril``: entries above the k-th diagonal set to 0 (a product with a 0/1 mask, so the gradient is
    masked the same way)."""
    n, m = _values(x).shape[-2:]
    return mul(x, array_module(x).tri(n, m, k, dtype=bool))


def triu(x: TensorLike, k: int = 0) -> Tensor:
    """``np.triu``: entries below the k-th diagonal set to 0."""
    n, m = _values(x).shape[-2:]
    return mul(x, ~array_module(x).tri(n, m, k - 1, dtype=bool))


def atleast_1d(x: TensorLike) -> TensorLike:
    """x with at least one axis (a 0-d x becomes shape (1,))."""
    return reshape(x, (1,)) if _values(x).ndim == 0 else x


def atleast_2d(x: TensorLike) -> TensorLike:
    """x with at least two axes: (n,) becomes (1, n), as NumPy."""
    shape = _values(x).shape
    return reshape(x, (1,) * (2 - len(shape)) + shape) if len(shape) < 2 else x


def atleast_3d(x: TensorLike) -> TensorLike:
    """x with at least three axes: (n,) becomes (1, n, 1) and (m, n) becomes (m, n, 1), as NumPy."""
    shape = _values(x).shape
    if len(shape) >= 3:
        return x
    return reshape(x, {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}[len(shape)])


def vstack(tensors: Sequence[TensorLike]) -> Tensor:
    """``np.vstack``: joined along axis 0, vectors taken as rows."""
    return concatenate([atleast_2d(t) for t in tensors], axis=0)


def hstack(tensors: Sequence[TensorLike]) -> Tensor:
    """``np.hstack``: joined along axis 1 (axis 0 for vectors)."""
    parts = [atleast_1d(t) for t in tensors]
    return concatenate(parts, axis=0 if _values(parts[0]).ndim == 1 else 1)


def dstack(tensors: Sequence[TensorLike]) -> Tensor:
    """``np.dstack``: joined along axis 2, after making each at least 3-d."""
    return concatenate([atleast_3d(t) for t in tensors], axis=2)


def column_stack(tensors: Sequence[TensorLike]) -> Tensor:
    """``np.column_stack``: vectors as columns, matrices as they are, joined along axis 1."""
    return concatenate([reshape(t, (-1, 1)) if _values(t).ndim == 1 else atleast_2d(t) for t in tensors], axis=1)


def fliplr(x: TensorLike) -> Tensor:
    """``np.fliplr``: the order of columns (axis 1) reversed."""
    return flip(x, 1)


def flipud(x: TensorLike) -> Tensor:
    """``np.flipud``: the order of rows (axis 0) reversed."""
    return flip(x, 0)


def rot90(x: TensorLike, k: int = 1, axes: tuple[int, int] = (0, 1)) -> TensorLike:
    """``np.rot90``: rotated by 90° k times in the plane of ``axes`` (flips and a transpose)."""
    k %= 4
    a, b = axes
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, a), b)
    order = list(range(_values(x).ndim))
    order[a], order[b] = order[b], order[a]
    return transpose(flip(x, b), tuple(order)) if k == 1 else flip(transpose(x, tuple(order)), b)
