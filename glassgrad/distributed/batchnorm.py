"""``SyncBatchNorm``: batch normalisation whose batch statistics are those of the global batch, over all ranks.

A plain ``BatchNorm1d``/``BatchNorm2d`` under data parallelism normalises each rank's shard by the shard's
own mean and variance (so the model trained on N ranks is that of "ghost batch norm" over N sub-batches).
``SyncBatchNorm`` sums the per-feature statistics over the ranks in the forward pass and the two per-feature
gradient sums in the backward pass, so N ranks compute what one process computes on the whole batch.
"""
from __future__ import annotations

from numpy.typing import DTypeLike

from glassgrad.device import array_module, creating_on
from glassgrad.distributed.world import World, init
from glassgrad.engine import ShapeError
from glassgrad.function import Context, Function
from glassgrad.nn.module import Module
from glassgrad.nn.norm import _BatchNorm
from glassgrad.tensor import Tensor


def _axes_and_shape(x) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


class _SyncBatchNormGate(Function):
    """out = γ x̂ + β with x̂ = (x − μ) / √(σ² + ε), μ and σ² (biased) over the examples of *all* ranks.
    ∂/∂x = γ/√(σ² + ε) · (g − mean(g) − x̂ · mean(g x̂)), the means over all ranks' examples;
    ∂/∂γ = Σ g x̂ and ∂/∂β = Σ g over this rank's examples (the optimiser averages them over ranks)."""

    @staticmethod
    def forward(ctx: Context, x, weight, bias, *, eps: float, world: World, running: tuple, momentum: float):
        axes, shape = _axes_and_shape(x)
        features = x.shape[1]
        xp = array_module(x)        # NumPy or CuPy: the statistics are summed on x's device (MPI via the host)
        sums = xp.empty(features + 1, xp.float64)
        sums[:features] = x.sum(axis=axes, dtype=xp.float64)
        sums[features] = x.size // features
        world.allreduce_(sums)
        count = sums[features]
        if count < 2:
            raise ValueError(f"SyncBatchNorm: training needs more than one value per feature over all ranks "
                             f"to estimate a variance; got input of shape {x.shape} on {world.size} rank(s)")
        mean = sums[:features] / count
        centred = x - mean.astype(x.dtype).reshape(shape)
        squares = xp.square(centred).sum(axis=axes, dtype=xp.float64)
        world.allreduce_(squares)
        var = squares / count
        invstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype)
        xhat = centred * invstd.reshape(shape)
        running_mean, running_var = running
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += (momentum * mean).astype(running_mean.dtype)
            running_var *= 1 - momentum
            running_var += (momentum * var * (count / (count - 1))).astype(running_var.dtype)
        ctx.save_for_backward(xhat, invstd, weight, world, count)
        return xhat * weight.reshape(shape) + bias.reshape(shape)

    @staticmethod
    def backward(ctx: Context, g):
        xhat, invstd, weight, world, count = ctx.saved_tensors
        axes, shape = _axes_and_shape(g)
        features = g.shape[1]
        xp = array_module(g)
        g_sum = g.sum(axis=axes)
        gx_sum = (g * xhat).sum(axis=axes)
        sums = xp.concatenate([g_sum, gx_sum]).astype(xp.float64)
        world.allreduce_(sums)
        mean_g = (sums[:features] / count).astype(g.dtype).reshape(shape)
        mean_gx = (sums[features:] / count).astype(g.dtype).reshape(shape)
        dx = (g - mean_g - xhat * mean_gx) * (weight * invstd).reshape(shape)
        return dx, gx_sum, g_sum


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over the global batch of all ranks (input (N, F), (N, F, L) or (N, C, H, W)).

    In training mode the mean and variance are those of every rank's examples together (two small
    Allreduces forward, one backward), so ``mpirun -n N`` trains what one process trains on the whole batch;
    the running statistics are updated from these global statistics and so stay the same on every rank.
    Eval mode uses the running statistics, as ``BatchNorm``. In a world of one it is ``BatchNorm``.
    Every rank must run the forward and backward passes together (they meet in the Allreduces).
    """

    ndims, shapes = (2, 3, 4), "(N, F), (N, F, L) or (N, C, H, W)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 dtype: DTypeLike | None = None, world: World | None = None):
        super().__init__(num_features, eps, momentum, affine, dtype)
        self.world = world if world is not None else init()

    def forward(self, x: Tensor) -> Tensor:
        """Batch normalisation with statistics over the whole global batch (every process's part)."""
        if not self.training:
            return super().forward(x)
        if x.ndim not in self.ndims or x.shape[1] != self.num_features:
            raise ShapeError(f"SyncBatchNorm({self.extra_repr()}): input must have shape {self.shapes} with "
                             f"{self.num_features} features on axis 1, not {x.shape}")
        with creating_on(x.device) as xp:
            ones = xp.ones(self.num_features, x.dtype)
        weight = self.weight if self.weight is not None else ones
        bias = self.bias if self.bias is not None else ones * 0
        return _SyncBatchNormGate.apply(x, weight, bias, eps=self.eps, world=self.world, momentum=self.momentum,
                                        running=(self.running_mean, self.running_var))

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, world: World | None = None) -> Module:
        """Replace every BatchNorm layer inside ``module`` by a SyncBatchNorm with the same parameters and
        running statistics (in place; returns ``module``, or the new layer if ``module`` is a BatchNorm)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine, world=world)
            sync.weight, sync.bias = module.weight, module.bias
            for name in ("running_mean", "running_var"):
                sync.register_buffer(name, getattr(module, name))
            sync.training = module.training
            return sync
        for name, child in list(module.named_children()):
            setattr(module, name, cls.convert_sync_batchnorm(child, world))
        return module
