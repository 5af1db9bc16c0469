"""Stateless network functions: layers, activations, losses and penalties on tensors.

Losses check that prediction and target shapes match exactly: a (N, 1) prediction against a (N,)
target would otherwise broadcast to (N, N) and train on nonsense without a word.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from glassgrad._backend import ndarray
from glassgrad.checks import check_number
from glassgrad.checks import check_pair as _pair
from glassgrad.device import array_module, check_same_device, creating_on, device_of, to_device
from glassgrad.engine import ShapeError
from glassgrad.ops import conv as _conv
from glassgrad.ops import elu, leaky_relu, log, log_softmax, relu, sigmoid, softmax, softplus, tanh, where  # noqa: F401  activations are gates; re-exported here for the nn vocabulary
from glassgrad.ops import fused as _fused
from glassgrad.ops import norm as _norm
from glassgrad.ops.conv import max_pool2d_composite  # noqa: F401  the teaching version, re-exported
from glassgrad.tensor import Generator, Tensor, TensorLike, _rng


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """z = x Wᵀ + b for a weight of shape (out_features, in_features), one fused gate."""
    if x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the weight "
                         f"expects {weight.shape[1]} (shape {weight.shape})")
    return _fused.linear(x, weight) if bias is None else _fused.linear(x, weight, bias)


def identity(x: TensorLike) -> TensorLike:
    """x unchanged."""
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


def cross_entropy(logits: Tensor, target: TensorLike, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy on logits (N, C) with integer labels (N,) or target distributions (N, C).

    Fused: the gradient is ``softmax(z) − y`` in one step, stable for logits as large as ±1e4.
    """
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must have shape (N, C), not {logits.shape}")
    # NumPy labels, a list or a GPU array (an ndarray's .data is a memoryview), as an array of its device
    labels: Any = target.data if isinstance(target, Tensor) else array_module(target).asarray(target)
    if not isinstance(target, Tensor):
        target = labels
    if labels.dtype.kind in "iu":
        if labels.shape != logits.shape[:1]:
            raise ShapeError(f"cross_entropy: {logits.shape[0]} rows of logits but labels of shape {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            raise ValueError(f"cross_entropy: labels must lie in [0, {logits.shape[1] - 1}], "
                             f"found {labels.min()}..{labels.max()}")
    elif labels.dtype.kind != "f":
        raise TypeError(f"cross_entropy: the target must be integer class indices of shape ({logits.shape[0]},) "
                        f"or a float distribution of the logits' shape {logits.shape}, not {labels.dtype} values")
    elif labels.shape != logits.shape:
        looks_like_labels = labels.shape == logits.shape[:1]
        raise ShapeError(
            f"cross_entropy: the target must be integer class indices of shape ({logits.shape[0]},) or a "
            f"distribution of the logits' shape {logits.shape}; got {labels.dtype} values of shape {labels.shape}"
            + (" — class labels stored as floats: convert them with .astype(np.int64)" if looks_like_labels
               else ""))
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, not {reduction!r}")
    return _fused.cross_entropy(logits, target, reduction=reduction)


def quadratic_cost(a: Tensor, y: TensorLike) -> Tensor:
    """The notes' quadratic cost C = (1/n) Σ_x ½‖a − y‖²: half the squared error, summed over outputs and
    averaged over the batch (its output error is δ^L = (a − y) ⊙ σ'(z))."""
    _same_shape("quadratic_cost", a, y)
    diff = a - y
    return (diff * diff).sum() * (0.5 / a.shape[0])


def mse_loss(prediction: Tensor, target: Tensor | ndarray, reduction: str = "mean") -> Tensor:
    """Mean squared error over every entry, as PyTorch's MSELoss."""
    _same_shape("mse_loss", prediction, target)
    diff = prediction - target
    return _reduce("mse_loss", diff * diff, reduction)


def _log_clipped(x):
    """log x clipped at −100. At x = 0 (a saturated sigmoid) the value is −100 and the gradient 0: the log
    only ever sees x > 0, so its derivative 1/x is never 1/0 (which times the clip's 0 would be NaN)."""
    inside = x > 0
    return where(inside, log(where(inside, x, 1.0)), -100.0).clip(min=-100.0)


def binary_cross_entropy(p: Tensor, y: Tensor | ndarray, reduction: str = "mean") -> Tensor:
    """−[y log p + (1 − y) log(1 − p)] on probabilities; logs are clipped at −100 as in PyTorch."""
    _same_shape("binary_cross_entropy", p, y)
    losses = -(y * _log_clipped(p) + (1 - y) * _log_clipped(1 - p))
    return _reduce("binary_cross_entropy", losses, reduction)


def binary_cross_entropy_with_logits(z: Tensor, y: Tensor | ndarray, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on logits, softplus(z) − y z: stable for any z."""
    _same_shape("binary_cross_entropy_with_logits", z, y)
    return _reduce("binary_cross_entropy_with_logits", softplus(z) - y * z, reduction)


def _penalised(parameters: Iterable[Tensor], include_biases: bool) -> list[Tensor]:
    """Weights only by default: the notes do not regularise biases (1-d parameters)."""
    return [p for p in parameters if include_biases or p.ndim >= 2]


def l2_penalty(parameters: Iterable[Tensor], lam: float, n: int, include_biases: bool = False) -> Tensor | float:
    """(λ / 2n) Σ w²: the notes' L2 weight decay, n being the size of the training set."""
    return sum((p * p).sum() for p in _penalised(parameters, include_biases)) * (lam / (2 * n))


def l1_penalty(parameters: Iterable[Tensor], lam: float, n: int, include_biases: bool = False) -> Tensor | float:
    """(λ / n) Σ |w|."""
    return sum(p.abs().sum() for p in _penalised(parameters, include_biases)) * (lam / n)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator: Generator | None = None) -> Tensor:
    """Zero each entry with probability p and scale the rest by 1/(1 − p) (identity when not training)."""
    check_number("dropout p", p, 0.0, 1.0)
    if not training or p == 0:
        return x
    # drawn on the host from glassgrad's generator, so a seed gives the same mask on every device
    keep = (_rng(generator).random(x.shape) >= p).astype(x.dtype) * (1.0 / (1 - p))
    return x * to_device(keep, device_of(x.data))


# ---- convolution, pooling, batch normalisation --------------------------------------------------------


def _check_images(who: str, x) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{who}: input must have shape (N, C, H, W), not {x.shape}"
                         + (" (add a batch axis: x.unsqueeze(0))" if x.ndim == 3 else ""))


def _check_conv2d(who: str, x, weight, bias, stride, padding) -> None:
    """Shape checks for conv2d, naming ``who`` (the function or the layer) and the shapes involved."""
    _check_images(who, x)
    if weight.ndim != 4:
        raise ShapeError(f"{who}: weight must have shape (out_channels, in_channels, kh, kw), not {weight.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ShapeError(f"{who}: input has {x.shape[1]} channels (shape {x.shape}) but the weight expects "
                         f"{weight.shape[1]} (shape {weight.shape})")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ShapeError(f"{who}: bias must have shape ({weight.shape[0]},) for {weight.shape[0]} output "
                         f"channels, not {bias.shape}")
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if weight.shape[2] > padded[0] or weight.shape[3] > padded[1]:
        raise ShapeError(f"{who}: kernel {weight.shape[2]}×{weight.shape[3]} is larger than the padded input "
                         f"{padded[0]}×{padded[1]} (input {x.shape}, padding {padding})")


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] = 0) -> Tensor:
    """2-d convolution (cross-correlation, as PyTorch) of x (N, C, H, W) with weight (O, C, kh, kw) and an
    optional bias (O,); ``stride`` and ``padding`` (zeros) are an int or a pair (rows, columns).

    One fused gate: im2col and a matrix product, with the backprop equations as its VJPs (see
    ``glassgrad.ops.conv``). The output has shape (N, O, (H + 2p − kh) // s + 1, (W + 2p − kw) // s + 1).
    """
    stride, padding = _pair("conv2d", "stride", stride, 1), _pair("conv2d", "padding", padding, 0)
    _check_conv2d("conv2d", x, weight, bias, stride, padding)
    if bias is None:
        return _conv.conv2d(x, weight, stride=stride, padding=padding)
    return _conv.conv2d(x, weight, bias, stride=stride, padding=padding)


def _check_pool(who: str, x, kernel_size, stride) -> None:
    _check_images(who, x)
    if kernel_size[0] > x.shape[2] or kernel_size[1] > x.shape[3]:
        raise ShapeError(f"{who}: window {kernel_size[0]}×{kernel_size[1]} is larger than the input "
                         f"{x.shape[2]}×{x.shape[3]} (shape {x.shape})")


def max_pool2d(x: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> Tensor:
    """The largest entry of each kh×kw window of x (N, C, H, W); ``stride`` defaults to the window size.

    Rows and columns that do not fill a whole window at the end are dropped (PyTorch's floor mode).
    Windows may overlap (stride < kernel_size). One gate, a maximum over the kh·kw offsets of the
    window; the gradient goes to each window's maximum, and tied maxima share it equally, as with the
    ``max`` gate (``max_pool2d_composite`` is the same function built from ``reshape`` and ``max``;
    ``glassgrad.ops.conv``).
    PyTorch gives all of it to one of them instead. Ties are rare after a convolution, except at 0
    after a ReLU, where the ReLU's zero derivative makes the choice immaterial.
    """
    kernel_size = _pair("max_pool2d", "kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None else _pair("max_pool2d", "stride", stride, 1)
    _check_pool("max_pool2d", x, kernel_size, stride)
    return _conv.max_pool2d(x, kernel_size=kernel_size, stride=stride)


def batch_norm(x: Tensor, running_mean: ndarray | None = None, running_var: ndarray | None = None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of x (N, F), (N, F, L) or (N, F, H, W) per feature (axis 1), as PyTorch's
    ``batch_norm`` (same argument order): out = γ (x − μ) / √(σ² + ε) + β.

    * ``training=True``: μ and σ² are the batch's mean and biased variance (one fused gate, twice
      differentiable). Running statistics, when given as arrays, are updated in place:
      ``running = (1 − momentum) · running + momentum · batch``, with the unbiased variance.
    * ``training=False``: μ and σ² are ``running_mean`` and ``running_var`` (an affine map of x).

    ``weight`` (γ) and ``bias`` (β) have shape (F,); leaving them out means γ = 1, β = 0.
    """
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input must have shape (N, F, …) with features on axis 1, not {x.shape}")
    features = x.shape[1]
    check_same_device("batch_norm", [_array(t) for t in (x, running_mean, running_var, weight, bias)])
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.shape != (features,):
            raise ShapeError(f"batch_norm: {name} must have shape ({features},) for input {x.shape}, not {t.shape}")
    shape = _norm._bn_shape(x)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and running_var")
        scale = (_array(running_var).astype(x.dtype) + eps) ** -0.5
        if weight is not None:
            scale = weight * scale
        out = (x - _array(running_mean).astype(x.dtype).reshape(shape)) * scale.reshape(shape)
        return out if bias is None else out + bias.reshape(shape)
    count = math.prod(x.shape) // features
    if count < 2:
        raise ValueError(f"batch_norm: training needs more than one value per feature to estimate a "
                         f"variance; got input of shape {x.shape}")
    if running_mean is not None or running_var is not None:
        _update_running_stats(_array(x), running_mean, running_var, momentum, count)
    with creating_on(device_of(x.data)) as module:
        one, zero = module.ones(features, dtype=x.dtype), module.zeros(features, dtype=x.dtype)
    return _norm.batch_norm(x, one if weight is None else weight, zero if bias is None else bias, eps=eps)


def _array(t):
    return t.data if isinstance(t, Tensor) else t


def _update_running_stats(x, running_mean, running_var, momentum: float, count: int) -> None:
    """running ← (1 − momentum) running + momentum · batch, in place (variance unbiased, as PyTorch).
    Buffers given as tensors are updated in their arrays."""
    running_mean, running_var = _array(running_mean), _array(running_var)
    axes = _norm._bn_axes(x)
    mean = x.mean(axis=axes)
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += momentum * mean
    if running_var is not None:
        var = x.var(axis=axes) * (count / (count - 1))
        running_var *= 1 - momentum
        running_var += momentum * var
