"""Batch normalisation: BatchNorm1d for (N, F) or (N, F, L), BatchNorm2d for images (N, C, H, W)."""
from __future__ import annotations

from numpy.typing import DTypeLike

from glassgrad._backend import ndarray, xp
from glassgrad.checks import check_int, check_number
from glassgrad.engine import ShapeError
from glassgrad.nn import functional as F
from glassgrad.nn.module import Module, Parameter
from glassgrad.tensor import DEFAULT_FLOAT, Tensor


class _BatchNorm(Module):
    """Normalise each feature (axis 1) to zero mean and unit variance, then scale by γ (``weight``) and shift
    by β (``bias``), both learned when ``affine``.

    Training mode uses the batch's mean and (biased) variance, so every example's output depends on the
    rest of its batch, and the gradient flows through the statistics too. It also updates the running
    statistics (buffers, saved in ``state_dict``) as PyTorch does:
    ``running = (1 − momentum) · running + momentum · batch``, with the unbiased batch variance.
    Eval mode (``model.eval()``) normalises with the running statistics instead: a fixed affine map.
    """

    ndims: tuple = ()
    shapes: str = ""
    running_mean: ndarray           # buffers (register_buffer)
    running_var: ndarray

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 dtype: DTypeLike | None = None):
        super().__init__()
        name = type(self).__name__
        check_number(f"{name} eps", eps, 0.0)
        check_number(f"{name} momentum", momentum, 0.0, 1.0, high_inclusive=True)
        self.num_features = check_int(f"{name} num_features", num_features)
        self.eps, self.momentum, self.affine = eps, momentum, affine
        dtype = dtype or DEFAULT_FLOAT
        self.weight = Parameter(xp.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(xp.zeros(num_features, dtype)) if affine else None
        self.register_buffer("running_mean", xp.zeros(num_features, dtype))
        self.register_buffer("running_var", xp.ones(num_features, dtype))

    def forward(self, x: Tensor) -> Tensor:
        """x normalised per feature: with the batch's statistics while training, the running ones in eval mode."""
        name = f"{type(self).__name__}({self.extra_repr()})"
        if x.ndim not in self.ndims:
            raise ShapeError(f"{name}: input must have shape {self.shapes}, not {x.shape}")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{name}: input has {x.shape[1]} features on axis 1 (shape {x.shape}) but the "
                             f"layer normalises {self.num_features}")
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=self.training, momentum=self.momentum, eps=self.eps)

    def extra_repr(self) -> str:
        """Feature count, eps, momentum and affine."""
        affine = "" if self.affine else ", affine=False"
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}{affine}"


class BatchNorm1d(_BatchNorm):
    __doc__ = "For (N, F) or (N, F, L) input. " + (_BatchNorm.__doc__ or "")
    ndims, shapes = (2, 3), "(N, F) or (N, F, L)"


class BatchNorm2d(_BatchNorm):
    __doc__ = "For images (N, C, H, W): one mean and variance per channel. " + (_BatchNorm.__doc__ or "")
    ndims, shapes = (4,), "(N, C, H, W)"
