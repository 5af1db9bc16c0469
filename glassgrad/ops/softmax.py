"""softmax and log_softmax: a whole axis in, a whole axis out, so each output depends on every input.

For ``s = softmax(x)`` the Jacobian is ``∂s_i/∂x_j = s_i (δ_ij − s_j)``; applied to ``g`` it gives the VJP
``s ⊙ (g − Σ_j g_j s_j)`` without ever forming the matrix. For ``log_softmax`` the Jacobian is
``δ_ij − s_j``, so the VJP is ``g − s · Σ_j g_j``.
"""
from __future__ import annotations

from glassgrad._backend import ndarray, xp
from glassgrad.axes import reduced_axes
from glassgrad.engine import gate
from glassgrad.ops.elementwise import exp
from glassgrad.ops.reduce import _logsumexp


def _along(axis: int, ndim: int) -> tuple:
    """softmax and log_softmax normalise along one axis: ``axis`` must be a single int."""
    if isinstance(axis, bool) or not isinstance(axis, (int, xp.integer)):
        raise TypeError(f"axis must be a single int (the axis to normalise along), not {axis!r}")
    return reduced_axes(axis, ndim)


def _softmax(x: ndarray, axis: int = -1) -> ndarray:
    along = _along(axis, x.ndim)
    e = xp.exp(x - xp.max(x, axis=along, keepdims=True))   # shifting by the max changes nothing but overflow
    return e / xp.sum(e, axis=along, keepdims=True)


def _log_softmax(x: ndarray, axis: int = -1) -> ndarray:
    return x - _logsumexp(x, axis=_along(axis, x.ndim), keepdims=True)


softmax = gate("softmax", _softmax,
               # ∂s_i/∂x_j = s_i(δ_ij − s_j)  ⇒  (Jᵀg)_j = s_j (g_j − Σ_i g_i s_i)
               lambda g, out, x, *, axis: out * (g - (g * out).sum(axis=reduced_axes(axis, x.ndim), keepdims=True)),
               doc="e^x / Σ e^x along axis, stable for large |x|. ∂/∂x = s ⊙ (g − Σ g s) with s = softmax(x) "
                   "(from ∂s_i/∂x_j = s_i(δ_ij − s_j)).")
log_softmax = gate("log_softmax", _log_softmax,
                   # ∂(log s_i)/∂x_j = δ_ij − s_j  ⇒  (Jᵀg)_j = g_j − s_j Σ_i g_i, and s = e^out
                   lambda g, out, x, *, axis: g - exp(out) * g.sum(axis=reduced_axes(axis, x.ndim), keepdims=True),
                   doc="x − logsumexp(x) along axis, stable for large |x|. ∂/∂x = g − softmax(x) · Σ g "
                       "(from ∂ log s_i/∂x_j = δ_ij − s_j).")
