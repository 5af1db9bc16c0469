"""Stateless network functions: layers, activations, losses and penalties on tensors.

Losses check that prediction and target shapes match exactly: a (N, 1) prediction against a (N,)
target would otherwise broadcast to (N, N) and train on nonsense without a word.
"""
from __future__ import annotations

from typing import Iterable

from glassgrad._backend import xp
from glassgrad.engine import ShapeError
from glassgrad.ops import (  # noqa: F401  activations are gates; re-exported here for the nn vocabulary
    elu, leaky_relu, log, log_softmax, relu, sigmoid, softmax, softplus, tanh)
from glassgrad.ops import nn as _fused
from glassgrad.tensor import Generator, Tensor, _rng


def linear(x, weight, bias=None):
    """z = x Wᵀ + b for a weight of shape (out_features, in_features), one fused gate."""
    if x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the weight "
                         f"expects {weight.shape[1]} (shape {weight.shape})")
    return _fused.linear(x, weight) if bias is None else _fused.linear(x, weight, bias)


def identity(x):
    return x


# ---- losses -----------------------------------------------------------------------------------------
REDUCTIONS = ("mean", "sum", "none")


def _same_shape(name: str, prediction, target) -> None:
    if prediction.shape != target.shape:
        raise ShapeError(f"{name}: prediction shape {prediction.shape} and target shape {target.shape} differ; "
                         "reshape one of them (no silent broadcasting in losses)")


def _reduce(name: str, losses, reduction: str):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, not {reduction!r}")


def cross_entropy(logits, target, reduction: str = "mean"):
    """Softmax cross-entropy on logits (N, C) with integer labels (N,) or target distributions (N, C).

    Fused: the gradient is ``softmax(z) − y`` in one step, stable for logits as large as ±1e4.
    """
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must have shape (N, C), not {logits.shape}")
    labels = getattr(target, "data", target)
    if labels.dtype.kind in "iu":
        if labels.shape != logits.shape[:1]:
            raise ShapeError(f"cross_entropy: {logits.shape[0]} rows of logits but labels of shape {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            raise ValueError(f"cross_entropy: labels must lie in [0, {logits.shape[1] - 1}], "
                             f"found {labels.min()}..{labels.max()}")
    else:
        _same_shape("cross_entropy", logits, target)
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, not {reduction!r}")
    return _fused.cross_entropy(logits, target, reduction=reduction)


def quadratic_cost(a, y):
    """The notes' quadratic cost C = (1/n) Σ_x ½‖a − y‖²: half the squared error, summed over outputs and
    averaged over the batch (its output error is δ^L = (a − y) ⊙ σ'(z))."""
    _same_shape("quadratic_cost", a, y)
    diff = a - y
    return (diff * diff).sum() * (0.5 / a.shape[0])


def mse_loss(prediction, target, reduction: str = "mean"):
    """Mean squared error over every entry, as PyTorch's MSELoss."""
    _same_shape("mse_loss", prediction, target)
    diff = prediction - target
    return _reduce("mse_loss", diff * diff, reduction)


def binary_cross_entropy(p, y, reduction: str = "mean"):
    """−[y log p + (1 − y) log(1 − p)] on probabilities; logs are clipped at −100 as in PyTorch."""
    _same_shape("binary_cross_entropy", p, y)
    losses = -(y * log(p).clip(min=-100.0) + (1 - y) * log(1 - p).clip(min=-100.0))
    return _reduce("binary_cross_entropy", losses, reduction)


def binary_cross_entropy_with_logits(z, y, reduction: str = "mean"):
    """Binary cross-entropy on logits, softplus(z) − y z: stable for any z."""
    _same_shape("binary_cross_entropy_with_logits", z, y)
    return _reduce("binary_cross_entropy_with_logits", softplus(z) - y * z, reduction)


def _penalised(parameters: Iterable[Tensor], include_biases: bool) -> list[Tensor]:
    """Weights only by default: the notes do not regularise biases (1-d parameters)."""
    return [p for p in parameters if include_biases or p.ndim >= 2]


def l2_penalty(parameters: Iterable[Tensor], lam: float, n: int, include_biases: bool = False):
    """(λ / 2n) Σ w²: the notes' L2 weight decay, n being the size of the training set."""
    return sum((p * p).sum() for p in _penalised(parameters, include_biases)) * (lam / (2 * n))


def l1_penalty(parameters: Iterable[Tensor], lam: float, n: int, include_biases: bool = False):
    """(λ / n) Σ |w|."""
    return sum(p.abs().sum() for p in _penalised(parameters, include_biases)) * (lam / n)


def dropout(x, p: float = 0.5, training: bool = True, generator: Generator | None = None):
    """Zero each entry with probability p and scale the rest by 1/(1 − p) (identity when not training)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), not {p}")
    if not training or p == 0:
        return x
    keep = (_rng(generator).random(x.shape) >= p).astype(x.dtype) * (1.0 / (1 - p))
    return x * keep
