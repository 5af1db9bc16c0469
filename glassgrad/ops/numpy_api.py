"""NumPy's functions called on tensors: ``np.exp(t)``, ``np.sum(t, axis=0)``, ``np.concatenate([t, u])``.

``Tensor.__array_ufunc__`` and ``Tensor.__array_function__`` (NEP 13 and NEP 18) hand such calls here.
A NumPy function with a glassgrad gate runs that gate, so the result is a tensor in the graph and the
gradient flows; a function whose result carries no gradient (``np.shape``, ``np.argmax``, ``np.allclose``)
runs on the values; any other function raises a ``TypeError`` that names it — never an ndarray that
silently dropped the gradient. ``np.asarray(t)`` stays the explicit way out of the graph.

Each handler takes NumPy's own signature (positional order included, since NumPy passes the arguments as
the caller wrote them) and refuses the arguments a tensor cannot honour (``out=``, ``where=``, ``initial=``).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from glassgrad import ops
from glassgrad.ops import linalg_decomp as linalg
from glassgrad.tensor import Tensor


class _Missing:
    """NumPy's ``<no value>`` default: an argument the caller did not give."""

    def __repr__(self) -> str:
        return "<not given>"


MISSING: Any = _Missing()


def _refuse(name: str, **given) -> None:
    """A clear error for NumPy arguments that a differentiable result cannot honour."""
    for key, value in given.items():
        if value is not None and value is not MISSING:
            if key == "out":
                raise TypeError(f"np.{name}(…, out=…) on a tensor: writing into an array would drop the gradient; "
                                "assign the returned tensor instead")
            raise TypeError(f"np.{name}(…, {key}=…) is not supported on tensors")


def _given(value, default):
    return default if value is MISSING else value


def _cast(t, dtype):
    return t if dtype is None else ops.astype(t, dtype)


def _no_gradient_error(name: str) -> TypeError:
    return TypeError(f"{name} has no glassgrad gate, so gradients cannot flow through it; call it on "
                     f"np.asarray(t) to compute with the values and leave the graph explicitly")


# ---- reductions -------------------------------------------------------------------------------------
def _sum(a, axis=None, dtype=None, out=None, keepdims=MISSING, initial=MISSING, where=MISSING):
    _refuse("sum", out=out, initial=initial, where=where)
    return _cast(ops.sum(a, axis=axis, keepdims=_given(keepdims, False)), dtype)


def _prod(a, axis=None, dtype=None, out=None, keepdims=MISSING, initial=MISSING, where=MISSING):
    _refuse("prod", out=out, initial=initial, where=where)
    return _cast(ops.prod(a, axis=axis, keepdims=_given(keepdims, False)), dtype)


def _mean(a, axis=None, dtype=None, out=None, keepdims=MISSING, *, where=MISSING):
    _refuse("mean", out=out, where=where)
    return _cast(ops.mean(a, axis=axis, keepdims=_given(keepdims, False)), dtype)


def _extreme(op: Callable, name: str) -> Callable:
    def handler(a, axis=None, out=None, keepdims=MISSING, initial=MISSING, where=MISSING):
        _refuse(name, out=out, initial=initial, where=where)
        return op(a, axis=axis, keepdims=_given(keepdims, False))
    return handler


def _spread(op: Callable, name: str) -> Callable:
    def handler(a, axis=None, dtype=None, out=None, ddof=0, keepdims=MISSING, *, where=MISSING, mean=MISSING,
                correction=MISSING):
        _refuse(name, out=out, where=where, mean=mean)
        ddof = _given(correction, ddof)
        return _cast(op(a, axis=axis, ddof=ddof, keepdims=_given(keepdims, False)), dtype)
    return handler


# ---- shapes ---------------------------------------------------------------------------------------------
def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting=None):
    _refuse("concatenate", out=out, casting=casting)
    if axis is None:
        arrays = [ops.reshape(a, (-1,)) for a in arrays]
        axis = 0
    return _cast(ops.concatenate(list(arrays), axis=axis), dtype)


def _stack(arrays, axis=0, out=None, *, dtype=None, casting=None):
    _refuse("stack", out=out, casting=casting)
    return _cast(ops.stack(list(arrays), axis=axis), dtype)


def _where(condition, *xy):
    if not xy:          # np.where(c): the indices of the true entries, no gradient
        return np.where(_values(condition))
    if len(xy) != 2:
        raise TypeError("np.where takes a condition alone or a condition and two values")
    return ops.where(condition, *xy)


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    _refuse("reshape", copy=copy)
    if order != "C":
        raise TypeError("np.reshape(…, order=…) other than 'C' is not supported on tensors")
    return ops.reshape(a, shape if shape is not None else newshape)


def _clip(a, a_min=MISSING, a_max=MISSING, out=None, *, min=MISSING, max=MISSING):
    _refuse("clip", out=out)
    lo, hi = _given(min, _given(a_min, None)), _given(max, _given(a_max, None))
    return ops.clip(a, lo, hi)


def _pad(array, pad_width, mode="constant", **kwargs):
    if mode != "constant" or set(kwargs) - {"constant_values"}:
        raise TypeError("np.pad on a tensor supports mode='constant' with one constant_values number")
    return ops.pad(array, pad_width, kwargs.get("constant_values", 0.0))


def _copy(a, order="K", subok=False):
    return ops.astype(a, a.dtype)


def _like(maker: Callable) -> Callable:
    """np.zeros_like and friends: a new constant tensor of the same shape (its values ignore the input's)."""
    def handler(a, *args, **kwargs):
        return Tensor(maker(_values(a), *args, **kwargs))
    return handler


def _without_out(op: Callable, name: str) -> Callable:
    def handler(*args, out=None):
        _refuse(name, out=out)
        return op(*args)
    return handler


def _each(op: Callable) -> Callable:
    """np.atleast_*d: one result per argument (a tuple when there are several)."""
    def handler(*arys):
        results = tuple(op(a) for a in arys)
        return results[0] if len(results) == 1 else results
    return handler


def _stacking(op: Callable, name: str) -> Callable:
    def handler(tup, *, dtype=None, casting=None):
        _refuse(name, casting=casting)
        return _cast(op(list(tup)), dtype)
    return handler


def _einsum(*operands, out=None, optimize=False, **kwargs):
    _refuse("einsum", out=out, **kwargs)
    return ops.einsum(*operands)


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is None and not axisa == axisb == axisc:
        raise TypeError("np.cross on tensors takes one axis= for both inputs and the result")
    return ops.cross(a, b, axis=axisc if axis is None else axis)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _refuse("trace", out=out)
    return _cast(ops.trace(a, offset, axis1, axis2), dtype)


def _running(op: Callable, name: str) -> Callable:
    def handler(a, axis=None, dtype=None, out=None):
        _refuse(name, out=out)
        return _cast(op(a, axis=axis), dtype)
    return handler


def _diff(a, n=1, axis=-1, prepend=MISSING, append=MISSING):
    _refuse("diff", prepend=prepend, append=append)
    return ops.diff(a, n, axis)


def _sort(a, axis=-1, kind=None, order=None, *, stable=None):
    _refuse("sort", order=order)
    return ops.sort(a, axis=axis)


def _partition(a, kth, axis=-1, kind="introselect", order=None):
    _refuse("partition", order=order)
    return ops.partition(a, kth, axis)


def _take(a, indices, axis=None, out=None, mode="raise"):
    _refuse("take", out=out)
    if mode != "raise":
        raise TypeError("np.take(…, mode=…) other than 'raise' is not supported on tensors")
    return ops.take(a, indices, axis)


def _round(a, decimals=0, out=None):
    _refuse("round", out=out)
    return ops.round(a, decimals=decimals)


def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    return ops.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    return linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)


def _pinv(a, rcond=None, hermitian=False, *, rtol=MISSING):
    _refuse("linalg.pinv", rcond=rcond, rtol=rtol)
    return linalg.pinv(a)


def _qr(a, mode="reduced"):
    if mode != "reduced":
        raise TypeError(f"np.linalg.qr(…, mode={mode!r}) on tensors: only mode='reduced' has a gradient")
    return linalg.qr(a)


def _cholesky(a, /, *, upper=False):
    lower = linalg.cholesky(a)
    return ops.swapaxes(lower, -1, -2) if upper else lower


def _symmetric(op: Callable, name: str) -> Callable:
    def handler(a, UPLO="L"):
        if UPLO != "L":
            raise TypeError(f"np.linalg.{name}(…, UPLO='U') is not supported on tensors (the lower triangle is read)")
        return op(a)
    return handler


# ---- the tables ---------------------------------------------------------------------------------------
FUNCTIONS: dict[Callable, Callable] = {
    np.sum: _sum, np.prod: _prod, np.mean: _mean,
    np.max: _extreme(ops.max, "max"), np.amax: _extreme(ops.max, "amax"),
    np.min: _extreme(ops.min, "min"), np.amin: _extreme(ops.min, "amin"),
    np.var: _spread(ops.var, "var"), np.std: _spread(ops.std, "std"),
    np.concatenate: _concatenate, np.stack: _stack, np.where: _where, np.reshape: _reshape,
    np.transpose: lambda a, axes=None: ops.transpose(a, axes),
    np.swapaxes: lambda a, axis1, axis2: ops.swapaxes(a, axis1, axis2),
    np.squeeze: lambda a, axis=None: ops.squeeze(a, axis),
    np.expand_dims: lambda a, axis: ops.unsqueeze(a, axis),
    np.broadcast_to: lambda array, shape, subok=False: ops.broadcast_to(array, tuple(np.broadcast_shapes(shape))),
    np.clip: _clip, np.pad: _pad, np.copy: _copy,
    np.split: lambda ary, indices_or_sections, axis=0: ops.split(ary, indices_or_sections, axis),
    np.ravel: lambda a, order="C": ops.reshape(a, (-1,)),
    np.zeros_like: _like(np.zeros_like), np.ones_like: _like(np.ones_like), np.full_like: _like(np.full_like),
    np.empty_like: _like(np.zeros_like),
    np.einsum: _einsum, np.tensordot: lambda a, b, axes=2: ops.tensordot(a, b, axes),
    np.dot: _without_out(ops.dot, "dot"), np.inner: ops.inner, np.outer: _without_out(ops.outer, "outer"),
    np.kron: ops.kron, np.cross: _cross, np.trace: _trace, np.diagonal: ops.diagonal, np.diag: ops.diag,
    np.cumsum: _running(ops.cumsum, "cumsum"), np.cumprod: _running(ops.cumprod, "cumprod"), np.diff: _diff,
    np.sort: _sort, np.partition: _partition, np.take: _take,
    np.take_along_axis: lambda arr, indices, axis=-1: ops.take_along_axis(arr, indices, axis),
    np.tile: ops.tile, np.repeat: ops.repeat, np.flip: lambda m, axis=None: ops.flip(m, axis),
    np.roll: ops.roll, np.moveaxis: ops.moveaxis, np.sinc: ops.sinc, np.round: _round, np.around: _round,
    np.nan_to_num: _nan_to_num, np.tril: ops.tril, np.triu: ops.triu, np.atleast_1d: _each(ops.atleast_1d),
    np.atleast_2d: _each(ops.atleast_2d), np.atleast_3d: _each(ops.atleast_3d),
    np.vstack: _stacking(ops.vstack, "vstack"), np.hstack: _stacking(ops.hstack, "hstack"),
    np.dstack: _stacking(ops.dstack, "dstack"), np.column_stack: ops.column_stack, np.fliplr: ops.fliplr,
    np.flipud: ops.flipud, np.rot90: ops.rot90,
    np.linalg.norm: linalg.norm, np.linalg.vector_norm: linalg.vector_norm,
    np.linalg.matrix_norm: lambda x, /, *, keepdims=False, ord="fro": linalg.matrix_norm(x, ord, keepdims),
    np.linalg.solve: linalg.solve, np.linalg.inv: linalg.inv, np.linalg.det: linalg.det,
    np.linalg.slogdet: linalg.slogdet, np.linalg.cholesky: _cholesky,
    np.linalg.eigh: _symmetric(linalg.eigh, "eigh"), np.linalg.eigvalsh: _symmetric(linalg.eigvalsh, "eigvalsh"),
    np.linalg.svd: _svd, np.linalg.svdvals: linalg.svdvals, np.linalg.pinv: _pinv, np.linalg.qr: _qr,
    np.linalg.eig: linalg.eig, np.linalg.eigvals: linalg.eigvals, np.linalg.cross: ops.cross,
    np.linalg.outer: ops.outer,
    np.linalg.tensordot: lambda a, b, /, *, axes=2: ops.tensordot(a, b, axes),
    np.linalg.trace: lambda x, /, *, offset=0, dtype=None: _cast(ops.trace(x, offset, -2, -1), dtype),
    np.linalg.diagonal: lambda x, /, *, offset=0: ops.diagonal(x, offset, -2, -1),
}
"""NumPy function → its differentiable implementation on tensors (NEP 18)."""

NO_GRADIENT = {
    np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.nonzero, np.flatnonzero,
    np.count_nonzero, np.allclose, np.isclose, np.array_equal, np.array_equiv, np.any, np.all,
    np.result_type, np.iscomplexobj, np.isrealobj, np.may_share_memory, np.shares_memory, np.searchsorted,
    np.argwhere, np.isin, np.array2string, np.array_repr, np.array_str,
}
"""NumPy functions whose result carries no gradient (shapes, indices, booleans): computed on the values."""

UFUNCS: dict[np.ufunc, Callable] = {
    np.add: ops.add, np.subtract: ops.sub, np.multiply: ops.mul, np.divide: ops.div, np.negative: ops.neg,
    np.positive: lambda x: x, np.power: ops.pow, np.exp: ops.exp, np.log: ops.log, np.sqrt: ops.sqrt,
    np.absolute: ops.abs, np.reciprocal: ops.reciprocal, np.tanh: ops.tanh, np.maximum: ops.maximum,
    np.minimum: ops.minimum, np.matmul: ops.matmul, np.sign: ops.sign,
    np.sin: ops.sin, np.cos: ops.cos, np.tan: ops.tan, np.arcsin: ops.arcsin, np.arccos: ops.arccos,
    np.arctan: ops.arctan, np.arctan2: ops.arctan2, np.sinh: ops.sinh, np.cosh: ops.cosh, np.arcsinh: ops.arcsinh,
    np.arccosh: ops.arccosh, np.arctanh: ops.arctanh, np.log1p: ops.log1p, np.expm1: ops.expm1, np.log2: ops.log2,
    np.log10: ops.log10, np.exp2: ops.exp2, np.square: ops.square, np.logaddexp: ops.logaddexp,
    np.hypot: ops.hypot, np.remainder: ops.remainder, np.fmod: ops.fmod, np.floor: ops.floor, np.ceil: ops.ceil,
    np.trunc: ops.trunc, np.rint: ops.round,
}
"""NumPy ufunc → its gate (NEP 13)."""

NO_GRADIENT_UFUNCS = {
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal, np.logical_and,
    np.logical_or, np.logical_not, np.logical_xor, np.isfinite, np.isnan, np.isinf, np.signbit,
    np.floor_divide,
}
"""Ufuncs with a bool or piecewise-constant result: computed on the values, a constant tensor out."""

REDUCE = {np.add: ops.sum, np.multiply: ops.prod, np.maximum: ops.max, np.minimum: ops.min}
"""``ufunc.reduce`` that is a glassgrad reduction: ``np.add.reduce(t, axis)`` is ``gg.sum(t, axis)``."""


# ---- dispatch ------------------------------------------------------------------------------------------
def _values(x):
    """Tensors (also inside lists and tuples) replaced by their arrays."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (list, tuple)):
        return type(x)(_values(v) for v in x)
    return x


def _constant(result):
    return Tensor._make(result) if isinstance(result, np.ndarray) else result


def array_function(func: Callable, args: tuple, kwargs: dict) -> Any:   # tensors, or NotImplemented
    """``Tensor.__array_function__``: the gate for ``func``, its value for a gradient-free one, or an error."""
    handler = FUNCTIONS.get(func)
    if handler is not None:
        return handler(*args, **kwargs)
    if func in NO_GRADIENT:
        result = func(*_values(args), **_values(kwargs))
        return tuple(_constant(r) for r in result) if isinstance(result, tuple) else _constant(result)
    module = getattr(func, "__module__", None) or ""
    raise _no_gradient_error(f"{module if module.startswith('numpy.') else 'numpy'}.{getattr(func, '__name__', func)}")


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Tensor.__array_ufunc__``: ``np.exp(t)`` is ``gg.exp(t)``, ``np.add.reduce(t)`` is ``gg.sum(t, axis=0)``."""
    name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
    if "out" in kwargs:
        _refuse(name, out=kwargs["out"])
    extra = {k: v for k, v in kwargs.items() if k != "out" and v is not None}
    if method == "__call__":
        gate = UFUNCS.get(ufunc)
        if gate is not None:
            _refuse(name, **extra)
            return gate(*inputs)
        if ufunc in NO_GRADIENT_UFUNCS:
            return _constant(ufunc(*_values(inputs), **extra))
    elif method == "reduce" and ufunc in REDUCE:
        axis = extra.pop("axis", 0)
        keepdims = extra.pop("keepdims", False)
        _refuse(name, **extra)
        return REDUCE[ufunc](inputs[0], axis=axis, keepdims=keepdims)
    raise _no_gradient_error(f"numpy.{name}")
