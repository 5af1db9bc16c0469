"""Normalisation gates: batch_norm.

``batch_norm``: (x − μ) / √(σ² + ε) · γ + β with the batch's mean and biased variance over every axis
except the features (axis 1). Its x-VJP is the compact formula (γ/σ̂)(g − mean g − x̂ · mean(g x̂));
all three VJPs are written with gates, recomputing μ, σ̂ and x̂ from x, so it is twice differentiable.

``batch_norm_composite`` is the same function from elementary gates (mean, var, sqrt): the teaching
version, tested equal to the fused gate.

The statistics are the batch's own (training mode); ``glassgrad.nn.functional.batch_norm`` handles
evaluation with running statistics and checks shapes first.
"""
from __future__ import annotations

from glassgrad._backend import ndarray
from glassgrad.engine import gate
from glassgrad.ops.elementwise import sqrt
from glassgrad.ops.reduce import mean, var
from glassgrad.ops.shape import reshape
from glassgrad.tensor import Tensor, TensorLike


def _bn_axes(x) -> tuple:
    """Every axis but the features (axis 1): (0,) for (N, F), (0, 2) for (N, C, L), (0, 2, 3) for images."""
    return (0,) + tuple(range(2, x.ndim))


def _bn_shape(x) -> tuple:
    """Per-feature parameters shaped to broadcast against x: (1, F, 1, …)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _normalised(x, eps):
    """x̂ = (x − μ) / σ̂ and 1/σ̂ with σ̂ = √(σ² + ε), batch mean and biased variance; on arrays or tensors."""
    axes = _bn_axes(x)
    centred = x - x.mean(axis=axes, keepdims=True)
    inv_std = ((centred * centred).mean(axis=axes, keepdims=True) + eps) ** -0.5
    return centred * inv_std, inv_std


def _batch_norm(x: ndarray, weight: ndarray, bias: ndarray, eps: float = 1e-5) -> ndarray:
    xhat, _ = _normalised(x, eps)
    return xhat * weight.reshape(_bn_shape(x)) + bias.reshape(_bn_shape(x))


def _batch_norm_vjp_x(g, out, x, weight, bias, *, eps):
    """(γ/σ̂) (g − mean(g) − x̂ · mean(g x̂)): g minus its projections on the two directions (shift and
    scale of the batch) that normalisation removes."""
    axes = _bn_axes(x)
    xhat, inv_std = _normalised(x, eps)
    return (weight.reshape(_bn_shape(x)) * inv_std) * (
        g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))


batch_norm = gate(
    "batch_norm", _batch_norm,
    _batch_norm_vjp_x,
    lambda g, out, x, weight, bias, *, eps: (g * _normalised(x, eps)[0]).sum(axis=_bn_axes(x)),   # Σ g x̂
    lambda g, out, x, weight, bias, *, eps: g.sum(axis=_bn_axes(x)),                               # Σ g
    doc="Training-mode batch normalisation of x (N, F, …) over every axis but axis 1, with the batch's "
        "mean and biased variance: x̂ γ + β. ∂/∂x = (γ/σ̂)(g − mean g − x̂ · mean(g x̂)), ∂/∂γ = Σ g x̂, "
        "∂/∂β = Σ g (sums over every axis but the features). Twice differentiable. Teaching version from "
        "elementary gates: ops.norm.batch_norm_composite.")


# ---- the teaching version: the same function from elementary gates ------------------------------------
def batch_norm_composite(x: Tensor, weight: TensorLike, bias: TensorLike, eps: float = 1e-5) -> Tensor:
    """``batch_norm`` from elementary gates: x̂ = (x − mean) / sqrt(var + ε) over every axis but the
    features, then x̂ γ + β. Backward through these gates arrives at the fused gate's compact formula."""
    axes, shape = _bn_axes(x), _bn_shape(x)
    xhat = (x - mean(x, axis=axes, keepdims=True)) / sqrt(var(x, axis=axes, keepdims=True) + eps)
    return xhat * reshape(weight, shape=shape) + reshape(bias, shape=shape)
