"""Fused gates for the hot composites of a network: one gate where the elementary version needs many.

Each is the same function as its elementary composition with a hand-written VJP; the compositions are
here too, as teaching versions (``linear_composite``, ``cross_entropy_composite``), tested equal to the
fused gates in value and gradient:

* ``linear``: z = x Wᵀ + b. Its three VJPs are BP2's ``Wᵀ δ`` (here ``g W``, rows are examples),
  BP4's "activation in times error out" ``gᵀ x``, and BP3's ``∂C/∂b = δ`` summed over the batch.
* ``cross_entropy``: the mean of −log softmax(z)[label]. Its VJP is ``softmax(z) − y``: the cross-entropy
  cost removes the f'(z) factor from δ^L (docs/backprop.md#costs-and-regularisation).
"""
from __future__ import annotations

from glassgrad._backend import ndarray, xp
from glassgrad.device import array_module, as_array
from glassgrad.engine import gate
from glassgrad.ops import reduce as _reduce
from glassgrad.ops.elementwise import add, mul, neg, sub
from glassgrad.ops.linalg import matmul
from glassgrad.ops.shape import transpose
from glassgrad.ops.softmax import _softmax, log_softmax, softmax
from glassgrad.tensor import Tensor, TensorLike


def _linear(x: ndarray, w: ndarray, b: ndarray | None = None) -> ndarray:
    out = xp.matmul(x, w.T)
    if b is not None:
        out += b
    return out


def _rows(a):
    """All leading axes folded into one: (…, n) → (examples, n)."""
    return a.reshape(-1, a.shape[-1])


def _linear_vjp_w(g, out, x, w, b=None):
    """∂C/∂W = gᵀ x (BP4). One example: an outer product, which NumPy does faster than a matmul over an
    inner dimension of 1 (and exactly: each entry is one product either way)."""
    g, x = _rows(g), _rows(x)
    if g.shape[0] == 1 and not isinstance(g, Tensor) and not isinstance(x, Tensor):
        return xp.multiply(g.reshape(-1, 1), x)
    return g.T @ x


linear = gate("linear", _linear,
              lambda g, out, x, w, b=None: g @ w,                      # ∂C/∂x = g W       (BP2, before ⊙ f')
              _linear_vjp_w,                                           # ∂C/∂W = gᵀ x      (BP4)
              lambda g, out, x, w, b=None: _rows(g).sum(axis=0),       # ∂C/∂b = Σ g       (BP3)
              doc="x @ W.T + b with W of shape (out_features, in_features), as nn.Linear; b may be left out. "
                  "∂/∂x = g W (BP2 before ⊙ f'), ∂/∂W = gᵀ x (BP4), ∂/∂b = Σ g over the examples (BP3). "
                  "Teaching version from elementary gates: ops.fused.linear_composite.")


class _SavedSoftmax:
    """The softmax of the last logits ``cross_entropy`` saw, kept for the backward pass that follows it.

    The gate's output is the loss, so the engine keeps no softmax for the VJP; instead of recomputing it
    there (max, subtract, exp, sum, divide), the forward leaves it here, keyed by the identity of its logits
    and targets. The VJP takes it once (and lets it go); any other call recomputes it.
    """

    __slots__ = ("z", "y", "p")

    def __init__(self):
        self.z = self.y = self.p = None

    def keep(self, z, y, p) -> None:
        self.z, self.y, self.p = z, y, p

    def take(self, z, y):
        p = self.p if (self.z is z and self.y is y) else None
        self.z = self.y = self.p = None
        return p


_saved = _SavedSoftmax()


def _log_softmax_rows(z):
    """(log softmax(z), softmax(z)) along the last axis: the maximum taken out first, one exp."""
    shifted = z - z.max(axis=-1, keepdims=True)     # methods: CuPy has no maximum.reduce
    p = xp.exp(shifted)
    s = p.sum(axis=-1, keepdims=True)
    shifted -= xp.log(s)
    p /= s
    return shifted, p


def _cross_entropy(z: ndarray, y: ndarray, reduction: str = "mean") -> ndarray:
    logp, p = _log_softmax_rows(z)
    _saved.keep(z, y, p)
    if y.ndim == 1:
        picked = logp[array_module(logp).arange(len(y)), y]     # log-probability of each example's label
        if reduction == "none":
            return xp.negative(picked, out=picked)
        total = -picked.sum()
        return total / len(y) if reduction == "mean" else total
    losses = -(y * logp).sum(axis=-1)
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / len(losses) if reduction == "mean" else total


def _per_example(g, z, reduction):
    """The gradient arriving at each example's loss, shaped to broadcast over the classes."""
    if reduction == "mean":
        return g / z.shape[0]
    return g if reduction == "sum" else g.reshape(-1, 1)


def _cross_entropy_vjp_z(g, out, z, y, *, reduction):
    """δ^L = (softmax(z) − y) · g: for labels, the softmax with the label's entry lowered by one."""
    scale = _per_example(g, z, reduction)
    if not isinstance(z, Tensor):
        p = _saved.take(z, y)
        p = _softmax(z) if p is None else p
        if y.ndim == 1:
            d = xp.multiply(p, scale)
            d[array_module(d).arange(len(y)), y] -= scale.reshape(-1) if reduction == "none" else scale
            return d
        return (p * y.sum(axis=-1, keepdims=True) - y) * scale
    if y.ndim == 1:                                  # differentiable again (create_graph): through gates
        t = array_module(z).eye(z.shape[-1], dtype=z.dtype)[y.data if isinstance(y, Tensor) else y]
        return (softmax(z, axis=-1) - t) * scale
    return (softmax(z, axis=-1) * y.sum(axis=-1, keepdims=True) - y) * scale


cross_entropy = gate("cross_entropy", _cross_entropy,
                     _cross_entropy_vjp_z,
                     lambda g, out, z, y, *, reduction: -log_softmax(z, axis=-1) * _per_example(g, z, reduction),
                     doc="Softmax cross-entropy of logits (N, C) with integer labels (N,) or target "
                         "distributions (N, C); reduction 'mean', 'sum' or 'none'. Stable for large logits. "
                         "∂/∂z = g · (softmax(z) · Σy − y) per example (δ^L = a − y: no f'(z) factor; the softmax "
                         "is the one the forward computed), ∂/∂y = −g · log_softmax(z) for target distributions; "
                         "integer labels have no gradient. Teaching version from elementary gates: "
                         "ops.fused.cross_entropy_composite.")


# ---- teaching versions: the same functions from elementary gates ------------------------------------
def linear_composite(x: TensorLike, w: TensorLike, b: TensorLike | None = None) -> Tensor:
    """``linear`` from elementary gates: ``x @ transpose(w) + b``. Backward runs through matmul's VJPs
    (g @ W and gᵀ x) and add's, whose broadcast b-gradient the engine sums over the batch (BP3)."""
    out = matmul(x, transpose(w))
    return out if b is None else add(out, b)


def cross_entropy_composite(z: Tensor, y: TensorLike, reduction: str = "mean") -> Tensor:
    """``cross_entropy`` from elementary gates: log softmax as ``z − logsumexp(z)``, each example's loss
    ``−Σ_c t_c log p_c`` with t the one-hot label (or the target distribution), then the reduction.
    Backward through these gates gives the fused gate's ``softmax(z) − t`` one step at a time."""
    logp = sub(z, _reduce.logsumexp(z, axis=-1, keepdims=True))
    labels = as_array(y)
    target = array_module(labels).eye(z.shape[-1], dtype=logp.dtype)[labels] if labels.ndim == 1 else y
    losses = neg(_reduce.sum(mul(target, logp), axis=-1))
    if reduction == "none":
        return losses
    return _reduce.mean(losses) if reduction == "mean" else _reduce.sum(losses)
