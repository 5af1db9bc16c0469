"""Fused gates for the hot composites of a network: one gate where the elementary version needs many.

Each is the same function as its elementary composition (tested against it) with a hand-written VJP:

* ``linear``: z = x Wᵀ + b. Its three VJPs are BP2's ``Wᵀ δ`` (here ``g W``, rows are examples),
  BP4's "activation in times error out" ``gᵀ x``, and BP3's ``∂C/∂b = δ`` summed over the batch.
* ``cross_entropy``: the mean of −log softmax(z)[label]. Its VJP is ``softmax(z) − y``: the cross-entropy
  cost removes the f'(z) factor from δ^L (BACKGROUND §4).
"""
from glassgrad._backend import xp
from glassgrad.engine import gate
from glassgrad.ops.reduce import _logsumexp
from glassgrad.ops.softmax import log_softmax, softmax
from glassgrad.tensor import Tensor


def _linear(x, w, b=None):
    out = xp.matmul(x, w.T)
    if b is not None:
        out += b
    return out


def _rows(a):
    """All leading axes folded into one: (…, n) → (examples, n)."""
    return a.reshape(-1, a.shape[-1])


linear = gate("linear", _linear,
              lambda g, out, x, w, b=None: g @ w,                      # ∂C/∂x = g W       (BP2, before ⊙ f')
              lambda g, out, x, w, b=None: _rows(g).T @ _rows(x),      # ∂C/∂W = gᵀ x      (BP4)
              lambda g, out, x, w, b=None: _rows(g).sum(axis=0),       # ∂C/∂b = Σ g       (BP3)
              doc="x @ W.T + b with W of shape (out_features, in_features), as nn.Linear; b may be left out. "
                  "∂/∂x = g W (BP2 before ⊙ f'), ∂/∂W = gᵀ x (BP4), ∂/∂b = Σ g over the examples (BP3).")


def _target(z, y):
    """The target as a distribution over classes: one-hot rows for integer labels, else y itself."""
    labels = y.data if isinstance(y, Tensor) else y
    return xp.eye(z.shape[-1], dtype=z.dtype)[labels] if labels.ndim == 1 else y


def _per_example(g, z, reduction):
    """The gradient arriving at each example's loss, shaped to broadcast over the classes."""
    if reduction == "mean":
        return g / z.shape[0]
    return g if reduction == "sum" else g.reshape(-1, 1)


def _cross_entropy(z, y, reduction="mean"):
    logp = z - _logsumexp(z, axis=-1, keepdims=True)
    if y.ndim == 1:
        losses = -logp[xp.arange(len(y)), y]
    else:
        losses = -(y * logp).sum(axis=-1)
    if reduction == "none":
        return losses
    return losses.sum() / len(losses) if reduction == "mean" else losses.sum()


def _cross_entropy_vjp_z(g, out, z, y, *, reduction):
    t = _target(z, y)
    mass = 1 if getattr(y, "ndim", 0) == 1 else t.sum(axis=-1, keepdims=True)
    return (softmax(z, axis=-1) * mass - t) * _per_example(g, z, reduction)     # δ^L = a − y


cross_entropy = gate("cross_entropy", _cross_entropy,
                     _cross_entropy_vjp_z,
                     lambda g, out, z, y, *, reduction: -log_softmax(z, axis=-1) * _per_example(g, z, reduction),
                     doc="Softmax cross-entropy of logits (N, C) with integer labels (N,) or target "
                         "distributions (N, C); reduction 'mean', 'sum' or 'none'. Stable for large logits. "
                         "∂/∂z = g · (softmax(z) · Σy − y) per example (δ^L = a − y: no f'(z) factor), "
                         "∂/∂y = −g · log_softmax(z) for target distributions; integer labels have no gradient.")
