"""Losses as modules (the functions are in ``nn.functional``)."""
from __future__ import annotations

from typing import Callable

from glassgrad.nn import functional as F
from glassgrad.nn.module import Module
from glassgrad.tensor import Tensor, TensorLike


class _Loss(Module):
    fn: Callable[..., Tensor] = staticmethod(F.mse_loss)     # the loss function, called (prediction, target)

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, prediction: Tensor, target: TensorLike) -> Tensor:
        """The loss of ``prediction`` against ``target``, reduced as the loss was made."""
        return self.fn(prediction, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error over every entry."""


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy on logits with integer labels or target distributions."""
    fn = staticmethod(F.cross_entropy)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities."""
    fn = staticmethod(F.binary_cross_entropy)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (stable)."""
    fn = staticmethod(F.binary_cross_entropy_with_logits)


class QuadraticCost(Module):
    """The notes' ½‖a − y‖² averaged over the batch."""

    def forward(self, a: Tensor, y: TensorLike) -> Tensor:
        """½‖a − y‖² averaged over the batch."""
        return F.quadratic_cost(a, y)
