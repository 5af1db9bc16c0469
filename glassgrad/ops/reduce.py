"""Reductions: sum, mean, max, min, prod, var, std, logsumexp (softmax and log_softmax are in softmax.py).

Arguments follow NumPy: ``axis`` (an int, a tuple or None for all axes) and ``keepdims``; a 0-d tensor
accepts axis 0 or -1 in every reduction, as in PyTorch. The gradient of a reduction is ``g`` copied back
over the axes that were reduced (``_unreduce``), times the local derivative of each summand.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from glassgrad._backend import ndarray, xp
from glassgrad.axes import kept_shape, reduced_axes, reduced_count
from glassgrad.device import as_array
from glassgrad.engine import gate, nondifferentiable
from glassgrad.ops.elementwise import exp, where
from glassgrad.ops.shape import _broadcast, broadcast_to
from glassgrad.tensor import Axis, Tensor

if TYPE_CHECKING:   # for the annotations only
    from numpy.typing import ArrayLike


def _unreduce(g, x, axis):
    """Broadcast the gradient of a reduction back to the input's shape (d Σx / dx_i = 1 for every i). On
    arrays (an ordinary backward pass) the broadcast is done directly, without the gate's argument binding."""
    kept = g.reshape(kept_shape(x.shape, axis))
    return broadcast_to(kept, x.shape) if isinstance(kept, Tensor) else _broadcast(kept, x.shape)


# The reductions call the array's own method where they can: NumPy's np.sum and np.max are Python wrappers
# around it, which cost as much again as a small reduction.
def _sum(x: ndarray, axis: Axis = None, keepdims: bool = False) -> ndarray:
    axes = reduced_axes(axis, x.ndim)
    return x.sum(axis=axes, keepdims=keepdims) if type(x) is ndarray else xp.sum(x, axis=axes, keepdims=keepdims)


def _mean(x: ndarray, axis: Axis = None, keepdims: bool = False) -> ndarray:
    return xp.mean(x, axis=reduced_axes(axis, x.ndim), keepdims=keepdims)


sum = gate("sum", _sum,
           lambda g, out, x, *, axis, keepdims: _unreduce(g, x, axis),
           doc="Σ over axis (all axes when None). ∂/∂x_i = g: g copied back over the summed axes.")
mean = gate("mean", _mean,
            lambda g, out, x, *, axis, keepdims: _unreduce(g, x, axis) / reduced_count(x.shape, out.shape),
            doc="Mean over axis (all axes when None). ∂/∂x_i = g / n, n the number of entries averaged.")


def _extreme_vjp(g, out, x, *, axis, keepdims):
    """max and min send g to the entries equal to the result; tied entries share it equally."""
    hit = (x == out.reshape(kept_shape(x.shape, axis))).astype(x.dtype)
    return _unreduce(g, x, axis) * (hit / hit.sum(axis=reduced_axes(axis, x.ndim), keepdims=True))


def _max(x: ndarray, axis: Axis = None, keepdims: bool = False) -> ndarray:
    axes = reduced_axes(axis, x.ndim)
    return x.max(axis=axes, keepdims=keepdims) if type(x) is ndarray else xp.max(x, axis=axes, keepdims=keepdims)


def _min(x: ndarray, axis: Axis = None, keepdims: bool = False) -> ndarray:
    axes = reduced_axes(axis, x.ndim)
    return x.min(axis=axes, keepdims=keepdims) if type(x) is ndarray else xp.min(x, axis=axes, keepdims=keepdims)


max = gate("max", _max, _extreme_vjp,
           doc="Largest entry over axis (NumPy's amax; no indices). ∂/∂x_i = g where x_i is the maximum, else 0; "
               "tied maxima share the gradient equally (a subgradient).")
min = gate("min", _min, _extreme_vjp,
           doc="Smallest entry over axis (NumPy's amin; no indices). ∂/∂x_i = g where x_i is the minimum, "
               "else 0; tied minima share the gradient equally (a subgradient).")


def _product_of_others(x, axis):
    """For each entry, the product of the other entries it was multiplied with (exact with zeros)."""
    axes = reduced_axes(axis, x.ndim)
    moved = xp.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    flat = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))
    ones = xp.ones_like(flat[..., :1])
    before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(flat[..., 1:], -1)], axis=-1), axis=-1), -1)
    return xp.moveaxis((before * after).reshape(moved.shape), tuple(range(-len(axes), 0)), axes)


def _prod_vjp(g, out, x, *, axis, keepdims):
    g = _unreduce(g, x, axis)
    data = as_array(x)                               # the values, for a tensor too (ndarray.data is a buffer)
    if xp.all(data != 0):
        return g * _unreduce(out, x, axis) / x          # ∂Π/∂x_i = Π / x_i
    return g * _product_of_others(data, axis)


def _prod(x: ndarray, axis: Axis = None, keepdims: bool = False) -> ndarray:
    return xp.prod(x, axis=reduced_axes(axis, x.ndim), keepdims=keepdims)


prod = gate("prod", _prod, _prod_vjp,
            doc="Product of entries over axis. ∂/∂x_i = g · Π_{j≠i} x_j (= g · out / x_i where no entry is 0); "
                "exact with zeros too, the second derivative only where x ≠ 0.")


def _per_degree_of_freedom(x, out, ddof) -> float:
    """1 / (n − ddof), the scale of var's and std's gradients; NaN when no degree of freedom is left (as the
    forward and PyTorch give), not a ZeroDivisionError. A Python float, so float32 stays float32."""
    dof = reduced_count(x.shape, out.shape) - ddof
    return 1 / dof if dof > 0 else math.nan


def _var(x: ndarray, axis: Axis = None, ddof: float = 0, keepdims: bool = False) -> ndarray:
    return xp.var(x, axis=reduced_axes(axis, x.ndim), ddof=ddof, keepdims=keepdims)


def _std(x: ndarray, axis: Axis = None, ddof: float = 0, keepdims: bool = False) -> ndarray:
    return xp.std(x, axis=reduced_axes(axis, x.ndim), ddof=ddof, keepdims=keepdims)


var = gate("var", _var,
           lambda g, out, x, *, axis, ddof, keepdims:
               _unreduce(g, x, axis) * (2 * _per_degree_of_freedom(x, out, ddof))
               * (x - mean(x, axis=axis, keepdims=True)),
           doc="Variance over axis; ddof=0 by default as in NumPy (PyTorch's default is ddof=1). "
               "∂/∂x_i = g · 2(x_i − x̄) / (n − ddof); NaN when n ≤ ddof, as the forward.")


def _std_vjp(g, out, x, *, axis, ddof, keepdims):
    """∂σ/∂x_i = (x_i − mean) / ((n − ddof) σ); 0 where σ = 0 (constant data), as in PyTorch."""
    s = out.reshape(kept_shape(x.shape, axis))
    flat = s == 0
    return where(flat, 0, _unreduce(g, x, axis) * _per_degree_of_freedom(x, out, ddof)
                 * (x - mean(x, axis=axis, keepdims=True)) / where(flat, 1, s))


std = gate("std", _std, _std_vjp,
           doc="Standard deviation, sqrt(var); ddof=0 by default as in NumPy. ∂/∂x_i = g · (x_i − x̄) / ((n − ddof) σ); "
               "where σ = 0 (constant data) the gradient is 0, as in PyTorch (the true derivative of sqrt at 0 is "
               "infinite).")


def _logsumexp(x: ndarray, axis: Axis = None, keepdims: bool = False) -> ndarray:
    axes = reduced_axes(axis, x.ndim)
    m = xp.max(x, axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)                  # rows of −inf stay −inf, not NaN
    out = xp.log(xp.sum(xp.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdims else out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))


logsumexp = gate("logsumexp", _logsumexp,
                 lambda g, out, x, *, axis, keepdims:
                     _unreduce(g, x, axis) * exp(x - out.reshape(kept_shape(x.shape, axis))),   # = g · softmax(x)
                 doc="log Σ e^x over axis, stable for large |x| (the maximum is taken out first). "
                     "∂/∂x_i = g · e^(x_i − out) = g · softmax(x)_i.")


@nondifferentiable
def argmax(x: ArrayLike, axis: int | None = None, keepdims: bool = False) -> ndarray:
    """Index of the largest entry along axis (of the flattened array when None). No gradient."""
    return xp.argmax(x, axis=axis, keepdims=keepdims)


@nondifferentiable
def argmin(x: ArrayLike, axis: int | None = None, keepdims: bool = False) -> ndarray:
    """Index of the smallest entry along axis (of the flattened array when None). No gradient."""
    return xp.argmin(x, axis=axis, keepdims=keepdims)
