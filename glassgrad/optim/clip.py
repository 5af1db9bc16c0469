"""Gradient clipping, in place on each parameter's ``.grad`` (as ``torch.nn.utils.clip_grad_*_``)."""
from __future__ import annotations

import math
from typing import Iterable, Union

from glassgrad._backend import ndarray
from glassgrad.device import array_module, writable
from glassgrad.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]

TensorsT = Union[Tensor, Iterable[Tensor]]


def _grads(parameters: TensorsT, fn: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{fn}: parameters must be Tensors, but item {i} is a {type(p).__name__}")
        if p.grad is not None:
            out.append(p)
    return out


def _writable_grad(p: Tensor) -> ndarray:
    """``p.grad``'s array, replaced by a writable copy first if it is read-only (a broadcast view)."""
    grad = p.grad
    if not isinstance(grad, Tensor):
        grad = p.grad = Tensor(array_module(p.data).array(grad, dtype=p.data.dtype))
    if not writable(grad.data):
        grad.data = grad.data.copy()
    return grad.data


def _norm(g: ndarray, norm_type: float) -> float:
    """The ``norm_type``-norm of one array (computed in its own dtype, no float64 temporaries, on its device)."""
    xp = array_module(g)
    if g.size == 0:
        return 0.0
    if norm_type == math.inf:
        return float(max(g.max(), -g.min()))
    flat = g.reshape(-1)
    if norm_type == 2:
        return math.sqrt(float(xp.dot(flat, flat)))
    if norm_type == 1:
        return float(xp.abs(flat).sum())
    return float((xp.abs(flat) ** norm_type).sum()) ** (1.0 / norm_type)


def clip_grad_norm_(parameters: TensorsT, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    r"""Scale all gradients together so that their joint norm is at most ``max_norm``; return the norm.

    The total norm is that of all gradients concatenated into one vector,
    ``‖g‖ₚ = (Σᵢ ‖gᵢ‖ₚᵖ)^(1/p)`` (``norm_type`` p: any p > 0, or ``inf`` for the largest magnitude;
    PyTorch's 0 "norm" is not offered). As in PyTorch, with ``c = max_norm / (‖g‖ + 1e-6)``, every gradient becomes
    ``gᵢ ← c gᵢ`` when c < 1 (also when the norm is NaN: then the gradients become NaN).
    Parameters without a gradient are skipped. Returns the total norm before clipping as a Python float
    (PyTorch returns a tensor). ``error_if_nonfinite=True`` raises ``RuntimeError`` if it is NaN or infinite.
    """
    params = _grads(parameters, "clip_grad_norm_")
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if math.isnan(max_norm) or max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, not {max_norm}")
    if not norm_type > 0:   # PyTorch's 0 "norm" counts the non-zero per-tensor norms: not offered
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf), not {norm_type}")
    if not params:
        return 0.0
    norms = [_norm(p.grad.data if isinstance(p.grad, Tensor) else array_module(p.data).asarray(p.grad), norm_type)
             for p in params]
    if any(math.isnan(n) for n in norms):
        total = math.nan
    elif norm_type == math.inf:
        total = max(norms)
    else:
        total = math.fsum(n ** norm_type for n in norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type:g} of the gradients is "
                           f"non-finite ({total}), so they cannot be clipped; pass error_if_nonfinite=False "
                           "to clip anyway (the gradients then become NaN or 0)")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:   # also NaN, as in PyTorch
        for p in params:
            g = _writable_grad(p)
            g *= coef
    return total


def clip_grad_value_(parameters: TensorsT, clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``: ``g ← min(max(g, −c), c)``."""
    params = _grads(parameters, "clip_grad_value_")
    clip_value = float(clip_value)
    if math.isnan(clip_value) or clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, not {clip_value}")
    for p in params:
        g = _writable_grad(p)
        array_module(g).clip(g, -clip_value, clip_value, out=g)
