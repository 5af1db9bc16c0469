"""Layer trace: the four backprop equations worked layer by layer, in the learner's notation
(docs/backprop.md#the-four-equations).

``trace(model, x, y)`` takes a ``Sequential`` of ``Linear`` layers and elementwise activations, and
computes with plain NumPy (not with the engine) for each layer the weighted input, the activation, the
error δ (at the output, then backwards), and the gradients of the cost. It then runs the engine's own
``backward()`` on the same model and the same cost and compares every δ and gradient, so the trace states
whether the hand computation and the library agree, and by how much at most.

Each notation follows its own source, cost and conventions included (``glassgrad.explain.notation``):

* ``nndl``  — C_x = ½‖a^L − y‖², C = (1/n) Σ_x C_x; BP1 δ^L = (a^L − y) ⊙ σ'(z^L), BP2
  δ^l = ((W^(l+1))ᵀ δ^(l+1)) ⊙ σ'(z^l), BP3 ∂C/∂b^l = δ^l, BP4 ∂C/∂W^l = δ^l (a^(l−1))ᵀ; with λ > 0 the
  cost gains (λ/2n) Σ w² and BP4 gains (λ/n) W^l.
* ``lfd``   — e = ‖x^(L) − y‖² (no ½), E_in = (1/N) Σ_n e_n; s^(ℓ) = (W^(ℓ))ᵀ x^(ℓ−1), x^(ℓ) = [1; θ(s^(ℓ))];
  δ^(L) = 2(x^(L) − y) ⊗ θ'(s^(L)), δ^(ℓ) = θ'(s^(ℓ)) ⊗ [W^(ℓ+1) δ^(ℓ+1)] without row 0 (the bias);
  ∂e/∂W^(ℓ) = x^(ℓ−1) (δ^(ℓ))ᵀ, whose row 0 is the bias gradient. Every δ and gradient is twice nndl's.
* ``theta`` — J(Θ) = (1/2m) Σ_i ‖h(x_i) − y_i‖² + (λ/2m) Σ_l Σ_k Σ_{i≥1} (Θ^(l)_ki)² (the bias column 0 is not
  regularised); δ^(L) = a^(L) − y for a linear output (⊙ g'(z^(L)) otherwise), δ^(j) = ((Θ^(j))ᵀ δ^(j+1)
  without entry 0) ⊙ g'(z^(j)); Δ^(j) = Σ_i δ^(j+1) (a^(j))ᵀ, ∂J/∂Θ^(j) = D^(j) = Δ^(j)/m + (λ/m)Θ^(j) on
  columns ≥ 1.

With ``cost="cross_entropy"`` every notation uses the same cross-entropy (binary over a sigmoid output,
softmax over a linear one), for which δ^L = a^L − y. For a batch the per-example δ are shown (one column per
example) and the gradients are averages over the batch, as the cost is.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

import numpy as np
from numpy.typing import ArrayLike

from glassgrad import engine, nn
from glassgrad.device import to_host
from glassgrad.explain.export import (
    Math,
    Rich,
    _keep,
    check_format,
    latex_document,
    rich_latex,
    rich_markdown,
    rich_text,
    tex_math,
    tex_matrix,
)
from glassgrad.explain.notation import SOURCES, Symbols, check_notation, correspondence
from glassgrad.nn import functional as F
from glassgrad.nn.module import Parameter
from glassgrad.tensor import Tensor
from glassgrad.texttable import aligned

if TYPE_CHECKING:      # for annotations only (entry imports this module)
    from glassgrad.explain.entry import EntryDerivation

COSTS = ("quadratic", "cross_entropy")


# --------------------------------------------------------------------------------------------------
# Activations in plain NumPy: f and f'
# --------------------------------------------------------------------------------------------------
@dataclass
class _Act:
    name: str
    f: Callable
    df: Callable
    module: nn.Module | None = None     # the engine's layer (None: no activation module, f(z) = z)


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))     # = 1/(1 + e^−z), without overflow


IDENTITY = _Act("identity", lambda z: z, np.ones_like)


def _activation(m: nn.Module) -> _Act | None:
    """f and f' of an elementwise activation module, or None for anything else."""
    if isinstance(m, nn.Sigmoid):
        return _Act("sigmoid", _sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z)), m)
    if isinstance(m, nn.Tanh):
        return _Act("tanh", np.tanh, lambda z: 1 - np.tanh(z) ** 2, m)
    if isinstance(m, nn.ReLU):
        return _Act("relu", lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype), m)
    if isinstance(m, nn.Identity):
        return _Act("identity", IDENTITY.f, IDENTITY.df, m)
    if isinstance(m, nn.Softplus):
        return _Act("softplus", lambda z: np.logaddexp(0, z), _sigmoid, m)
    if isinstance(m, nn.LeakyReLU):
        s = m.negative_slope
        return _Act("leaky_relu", lambda z: np.where(z > 0, z, s * z), lambda z: np.where(z > 0, 1.0, s), m)
    if isinstance(m, nn.ELU):
        al = m.alpha
        return _Act("elu", lambda z: np.where(z > 0, z, al * np.expm1(np.minimum(z, 0))),
                    lambda z: np.where(z > 0, 1.0, al * np.exp(np.minimum(z, 0))), m)
    if isinstance(m, nn.Activation):
        return _custom_activation(m)
    return None


def _custom_activation(m: nn.Activation) -> _Act:
    """nn.Activation(f, df): call the user's own f and f' (through its gate's forward and backward)."""
    from glassgrad.function import Context

    def df(z):
        ctx = Context((True,))
        ctx.saved_tensors = (z,)
        return m.gate.backward(ctx, np.ones_like(z))

    return _Act(m.name, lambda z: m.gate.forward(Context((True,)), z), df, m)


# --------------------------------------------------------------------------------------------------
# The network as (Linear, activation) pairs
# --------------------------------------------------------------------------------------------------
@dataclass
class _Layer:
    linear: nn.Linear
    act: _Act

    @property
    def bias(self) -> Parameter:
        """``linear.bias`` (read each time, like the weight), which ``_network`` requires to exist."""
        assert self.linear.bias is not None, "trace admits only Linear layers with a bias"
        return self.linear.bias


def _modules(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [m for child in model for m in _modules(child)]
    return [model]


def _network(model: nn.Module) -> list[_Layer]:
    linears: list[nn.Linear] = []
    acts: dict[int, _Act] = {}                  # index into linears -> the activation after that layer
    for i, m in enumerate(_modules(model)):
        if isinstance(m, nn.Linear):
            if m.bias is None:
                raise ValueError(f"trace: module {i} is a Linear layer without a bias; the notes' layers have one")
            linears.append(m)
            continue
        act = _activation(m)
        if act is None:
            raise ValueError(f"trace: module {i} ({type(m).__name__}) is neither a Linear layer nor an elementwise "
                             "activation; trace follows Sequential(Linear, activation, Linear, activation, …) "
                             "networks with sigmoid, tanh, relu, identity, softplus, leaky_relu, elu or "
                             "nn.Activation layers")
        if not linears or len(linears) - 1 in acts:
            raise ValueError(f"trace: the activation {act.name} (module {i}) must follow a Linear layer")
        acts[len(linears) - 1] = act
    if not linears:
        raise ValueError("trace: the model has no Linear layer")
    return [_Layer(linear, acts.get(j, IDENTITY)) for j, linear in enumerate(linears)]



# --------------------------------------------------------------------------------------------------
# The hand computation (rows are examples, float64)
# --------------------------------------------------------------------------------------------------
@dataclass
class _Pass:
    x: np.ndarray
    y: np.ndarray
    acts: list[str]
    W: list = field(default_factory=list)
    b: list = field(default_factory=list)
    z: list = field(default_factory=list)
    a: list = field(default_factory=list)         # a[0] = x
    delta: list = field(default_factory=list)     # per example: δ of the example's own cost
    gW: list = field(default_factory=list)        # ∂cost/∂W, averaged over the batch (+ the λ term)
    gb: list = field(default_factory=list)
    cost: float = 0.0
    output: str = "quadratic"                      # "quadratic", "binary" or "softmax"


def _inputs(layers: list[_Layer], x, y) -> tuple[np.ndarray, np.ndarray]:
    """x as (n, d0) rows and y as (n, dL) rows; integer labels are one-hot encoded."""
    x = to_host(x).astype(np.float64)
    X = x.reshape(1, -1) if x.ndim == 1 else x
    d0, dL = layers[0].linear.in_features, layers[-1].linear.out_features
    if X.ndim != 2 or X.shape[1] != d0:
        raise ValueError(f"trace: x has shape {x.shape}; the network takes {d0} inputs (one example or (n, {d0}))")
    y = to_host(y)
    if y.dtype.kind in "iu" and y.size == len(X) and dL > 1:
        y = np.eye(dL)[y.reshape(-1)]
    Y = np.asarray(y, dtype=np.float64).reshape(len(X), -1) if y.size == len(X) * dL else None
    if Y is None or Y.shape[1] != dL:
        raise ValueError(f"trace: y has shape {y.shape}; the network's output has shape ({len(X)}, {dL})")
    return X, Y


def _output_kind(cost: str, act: str) -> str:
    if cost not in COSTS:
        raise ValueError(f"trace: unknown cost {cost!r}; choose from {', '.join(COSTS)}")
    if cost == "quadratic":
        return "quadratic"
    if act in ("sigmoid", "identity"):
        return "binary" if act == "sigmoid" else "softmax"
    raise ValueError(f"trace: the cross-entropy cost needs a sigmoid output layer (binary cross-entropy) or a "
                     f"linear output layer (softmax cross-entropy on the logits), not {act}")


def _squared_error_weight(notation: str) -> float:
    """k in the quadratic cost k‖a − y‖² of one example: ½ in nndl and theta, 1 in lfd (e = (x − y)²)."""
    return 1.0 if notation == "lfd" else 0.5


def _hand_pass(layers: list[_Layer], X: np.ndarray, Y: np.ndarray, cost: str, notation: str, lam: float) -> _Pass:
    p = _Pass(X, Y, [layer.act.name for layer in layers], a=[X])
    p.output = _output_kind(cost, layers[-1].act.name)
    for layer in layers:                                  # forward: z^l = W^l a^(l−1) + b^l, a^l = f(z^l)
        p.W.append(layer.linear.weight.data.astype(np.float64))
        p.b.append(layer.bias.data.astype(np.float64))
        p.z.append(p.a[-1] @ p.W[-1].T + p.b[-1])
        p.a.append(layer.act.f(p.z[-1]))
    p.cost, delta = _output_error(p, layers[-1].act, _squared_error_weight(notation))
    p.delta = [delta]
    for ell in range(len(layers) - 2, -1, -1):              # δ^l = ((W^(l+1))ᵀ δ^(l+1)) ⊙ f'(z^l)
        p.delta.insert(0, (p.delta[0] @ p.W[ell + 1]) * layers[ell].act.df(p.z[ell]))
    n = len(X)
    p.gb = [d.mean(axis=0) for d in p.delta]                                  # ∂/∂b = δ, averaged
    p.gW = [d.T @ a / n + lam / n * W for d, a, W in zip(p.delta, p.a[:-1], p.W)]   # δ aᵀ averaged (+ (λ/n) W)
    p.cost += lam / (2 * n) * sum(float((W ** 2).sum()) for W in p.W)       # (λ/2n) Σ w², biases exempt
    return p


def _output_error(p: _Pass, act: _Act, k: float) -> tuple[float, np.ndarray]:
    """The cost (averaged over the examples) and the output error δ^L of each example."""
    a, y, z, n = p.a[-1], p.y, p.z[-1], len(p.y)
    if p.output == "quadratic":                                   # C_x = k‖a − y‖²: δ^L = 2k (a − y) ⊙ f'(z^L)
        return k * float(((a - y) ** 2).sum()) / n, 2 * k * (a - y) * act.df(z)
    if p.output == "binary":
        with np.errstate(divide="ignore", invalid="ignore"):
            c = -(y * np.log(a) + (1 - y) * np.log(1 - a))
        return float(np.nansum(c)) / n, a - y                               # σ'(z^L) cancels
    logp = z - z.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return float(-(y * logp).sum()) / n, np.exp(logp) - y                   # softmax(z^L) − y


# --------------------------------------------------------------------------------------------------
# The engine's gradients of the same model and cost
# --------------------------------------------------------------------------------------------------
def _engine_forward(layers: list[_Layer], X: np.ndarray, Y: np.ndarray, output: str, notation: str = "nndl",
                    lam: float = 0.0) -> tuple[Tensor, list, list]:
    """The same network and cost run by the engine: (cost, [z^l tensors], [x, y tensors])."""
    dtype = layers[0].linear.weight.dtype
    x, y = Tensor(X.astype(dtype), name="x"), Tensor(Y.astype(dtype), name="y")
    with engine.enable_grad():
        a, zs = x, []
        for layer in layers:
            zs.append(layer.linear(a))
            a = layer.act.module(zs[-1]) if layer.act.module is not None else zs[-1]
        if output == "quadratic":       # quadratic_cost is (1/n) Σ ½‖a − y‖²; lfd's e has no ½
            cost = F.quadratic_cost(a, y) * (2 * _squared_error_weight(notation))
        elif output == "binary":
            cost = F.binary_cross_entropy(a, y, reduction="sum") * (1.0 / len(X))
        else:
            cost = F.cross_entropy(a, y)
        if lam:
            cost = cost + F.l2_penalty([layer.linear.weight for layer in layers], lam, len(X))
    return cost, zs, [x, y]


def cost_tensor(model: nn.Module, x: ArrayLike, y: ArrayLike, cost: str = "quadratic", notation: str = "nndl",
                lam: float = 0.0) -> Tensor:
    """The cost of ``model`` on ``x``, ``y`` as the engine computes it for the trace in ``notation`` (for a
    graph view); x and y become tensors named "x" and "y"."""
    layers = _network(model)
    X, Y = _inputs(layers, x, y)
    return _engine_forward(layers, X, Y, _output_kind(cost, layers[-1].act.name), notation, lam)[0]


def _engine_pass(layers: list[_Layer], X: np.ndarray, Y: np.ndarray, output: str, notation: str,
                 lam: float) -> _Pass:
    """δ^l (= n ∂cost/∂z^l), ∂/∂b^l and ∂/∂W^l from the engine's backward(); no ``.grad`` is touched."""
    cost, zs, _ = _engine_forward(layers, X, Y, output, notation, lam)
    params: list[Tensor] = [p for layer in layers for p in (layer.linear.weight, layer.bias)]
    grads = engine.backward(cost, np.ones_like(cost.data), inputs=params + zs)
    k = len(params)
    return _Pass(X, Y, [], gW=grads[0:k:2], gb=grads[1:k:2], delta=[len(X) * g for g in grads[k:]],
                 cost=float(cost.item()))


def _largest_difference(mine: _Pass, theirs: _Pass) -> list[float]:
    """For each layer, the largest |hand − engine| over δ, ∂/∂b and ∂/∂W."""
    return [max(float(np.abs(m - t).max()) for m, t in zip(ms, ts))
            for ms, ts in zip(zip(mine.delta, mine.gb, mine.gW), zip(theirs.delta, theirs.gb, theirs.gW))]


# --------------------------------------------------------------------------------------------------
# The result, in one notation
# --------------------------------------------------------------------------------------------------
@dataclass
class TracedLayer:
    """One layer in the chosen notation; vectors are columns (one column per example for a batch).

    ``number`` is l in nndl, ℓ in lfd, and in theta the layer j+1 whose z, a, δ these are (``weight``
    is then Θ^(j)). ``weight`` holds the biases too in lfd (row 0) and theta (column 0); ``bias`` and
    ``grad_bias`` are always given separately as well. ``grad_weight`` is the gradient of the notation's
    cost (theta's D^(j), λ term included); ``accumulated`` is theta's Δ^(j) = Σ over the examples of
    δ^(j+1)(a^(j))ᵀ, None in the other notations.
    """

    number: int
    activation: str
    weight: np.ndarray
    bias: np.ndarray
    z: np.ndarray
    a: np.ndarray
    delta: np.ndarray
    grad_weight: np.ndarray
    grad_bias: np.ndarray
    difference: float            # largest |hand − engine| for this layer's δ and gradients
    accumulated: np.ndarray | None = None


@dataclass
class LayerTrace:
    """The layer-by-layer backprop of one example or batch in one notation, checked against the engine."""

    notation: str
    cost: str
    cost_value: float
    n: int                       # examples
    x: np.ndarray                # a^0 (nndl), x^(0) = [1; x] (lfd), a^(1) = [1; x] (theta)
    y: np.ndarray
    layers: list[TracedLayer]
    agree: bool
    max_abs_diff: float
    tolerance: float
    dtype: str                   # the model's dtype, in which the engine computed
    lam: float = 0.0             # the L2 strength λ (nndl and theta)
    engine_cost: float = float("nan")
    digits: int = 4
    max_items: int = 8           # rows / columns printed before eliding with …
    _pass: _Pass = field(kw_only=True, repr=False)          # the hand computation
    _engine: _Pass = field(kw_only=True, repr=False)        # the engine's gradients of the same network
    _net: list[_Layer] = field(kw_only=True, repr=False)

    def in_notation(self, notation: str) -> "LayerTrace":
        """The same network and example traced in another notation, with that notation's own cost (lfd's
        e = (x − y)² doubles every δ and gradient of nndl's ½(x − y)²); recomputed from the current weights."""
        return _trace(self._net, self._pass.x, self._pass.y, self.cost, notation, self.lam,
                      digits=self.digits, max_items=self.max_items)

    def entry(self, entry: str) -> EntryDerivation:
        """The chain rule for one weight, e.g. ``t.entry("W2[1,2]")``: see ``glassgrad.explain.entry``."""
        from glassgrad.explain.entry import derive_entry
        return derive_entry(self, entry)

    @property
    def agreement(self) -> str:
        """One line: do the hand computation and the engine agree, and by how much."""
        c = self.cost_symbol
        what = {"nndl": "δ^l, ∂C/∂b^l and ∂C/∂W^l", "lfd": f"δ^(ℓ) and ∂{c}/∂W^(ℓ)",
                "theta": "δ^(j) and ∂J/∂Θ^(j)"}[self.notation]
        verdict = "AGREE" if self.agree else "DISAGREE"
        return (f"Check: the engine's backward() of the same cost and these hand-computed {what} {verdict} in "
                f"every layer; largest absolute difference {self.max_abs_diff:.3g} (tolerance "
                f"{self.tolerance:.1g}, model in {self.dtype})")

    @property
    def cost_symbol(self) -> str:
        """The cost's symbol in this trace's notation (C, E_in, J …)."""
        return "E_in" if self.notation == "lfd" and self.n > 1 else Symbols(self.notation).cost

    def __str__(self) -> str:
        return self.render("text")

    def render(self, fmt: str = "text", standalone: bool = False) -> str:
        """The trace as "text", "markdown" or "latex" (``standalone``: a complete LaTeX document)."""
        return _render(_LINES[self.notation](self), check_format(fmt), self, standalone)

    def correspondence(self, limit: int = 12) -> str:
        """A table naming the first ``limit`` weights and biases in all three notations, with their values."""
        return str(correspondence(self._pass.W, self._pass.b, limit))


def trace(model: nn.Module, x: ArrayLike, y: ArrayLike, cost: str = "quadratic", notation: str = "nndl",
          lam: float = 0.0) -> LayerTrace:
    """The backprop equations for each layer of ``model`` on ``x`` (one example or a batch of rows) with
    target ``y``, in ``notation`` with its own cost, computed in NumPy and checked against the engine.

    ``lam`` adds L2 weight decay (λ/2n) Σ w² (biases exempt) in nndl and theta; the lfd lecture's backprop
    has none. ``str()`` of the result prints it; ``render("markdown" | "latex")`` gives paste-ready output.
    """
    if any(p.device != "cpu" for p in model.parameters()):
        model = copy.deepcopy(model).to("cpu")   # a hand computation in NumPy: on a host copy of the model
    return _trace(_network(model), x, y, cost, notation, lam)


def _trace(net: list[_Layer], x, y, cost: str, notation: str, lam: float, digits: int = 4,
           max_items: int = 8) -> LayerTrace:
    check_notation(notation, "trace")
    if not (isinstance(lam, (int, float)) and np.isfinite(lam) and lam >= 0):
        raise ValueError(f"trace: lam (λ) must be a number ≥ 0, not {lam!r}")
    if lam and notation == "lfd":
        raise ValueError("trace: the lfd lecture's backprop has no regularisation term; use lam with the nndl "
                         "or theta notation")
    X, Y = _inputs(net, x, y)
    mine = _hand_pass(net, X, Y, cost, notation, float(lam))
    theirs = _engine_pass(net, X, Y, mine.output, notation, float(lam))
    diffs = _largest_difference(mine, theirs)
    dtype = net[0].linear.weight.dtype
    scale = max([1.0] + [float(np.abs(a).max()) for a in mine.delta + mine.gW])
    tol = (1e-10 if dtype == np.float64 else 1e-5) * scale
    base = LayerTrace(notation, cost, float(mine.cost), len(X), X, Y, [], max(diffs) <= tol, max(diffs), tol,
                      str(dtype), float(lam), theirs.cost, digits, max_items, _pass=mine, _engine=theirs, _net=net)
    return _convert(mine, diffs, notation, base)


def _cols(rows: np.ndarray) -> np.ndarray:
    """Rows of examples → a column vector for one example, or one column per example."""
    return rows[0] if len(rows) == 1 else rows.T


def _one(rows: np.ndarray) -> np.ndarray:
    """Prepend the bias unit x_0 = 1 to each example."""
    return np.hstack([np.ones((len(rows), 1)), rows])


def _convert(p: _Pass, diffs: list, notation: str, base: LayerTrace) -> LayerTrace:
    L = len(p.W)
    layers = []
    for ell in range(L):
        last = ell == L - 1
        if notation == "nndl":
            layer = TracedLayer(ell + 1, p.acts[ell], p.W[ell], p.b[ell], _cols(p.z[ell]), _cols(p.a[ell + 1]),
                                _cols(p.delta[ell]), p.gW[ell], p.gb[ell], diffs[ell])
        elif notation == "lfd":      # W^(ℓ) = [bᵀ; Wᵀ]; x^(ℓ) = [1; θ(s)] except at the output
            layer = TracedLayer(ell + 1, p.acts[ell], np.vstack([p.b[ell], p.W[ell].T]), p.b[ell], _cols(p.z[ell]),
                                _cols(p.a[ell + 1] if last else _one(p.a[ell + 1])), _cols(p.delta[ell]),
                                np.vstack([p.gb[ell], p.gW[ell].T]), p.gb[ell], diffs[ell])
        else:                        # Θ^(j) = [b | W]; Δ^(j) = Σ δ^(j+1) (a^(j))ᵀ; D^(j) = Δ^(j)/m + (λ/m)Θ
            grad = np.hstack([p.gb[ell][:, None], p.gW[ell]])
            accumulated = np.hstack([p.delta[ell].sum(axis=0)[:, None], p.delta[ell].T @ p.a[ell]])
            layer = TracedLayer(ell + 2, p.acts[ell], np.hstack([p.b[ell][:, None], p.W[ell]]), p.b[ell],
                                _cols(p.z[ell]),
                                _cols(p.a[ell + 1] if last else _one(p.a[ell + 1])), _cols(p.delta[ell]),
                                grad, p.gb[ell], diffs[ell], accumulated=accumulated)
        layers.append(layer)
    x = _cols(p.x if notation == "nndl" else _one(p.x))
    return replace(base, notation=notation, x=x, y=_cols(p.y), layers=layers)


# --------------------------------------------------------------------------------------------------
# The printout: a list of lines, rendered as text, Markdown or LaTeX
# --------------------------------------------------------------------------------------------------
@dataclass
class _Line:
    indent: int
    text: Rich                         # prose (str) and formulas (Math)
    value: np.ndarray | None = None    # printed as "= <value>" after the text's last formula
    note: str = ""                     # prose after the formula (in brackets in text)
    heading: bool = False


def _matrix(a: np.ndarray, digits: int, limit: int) -> list[str]:
    """A vector or matrix as text lines, numbers to ``digits`` significant digits, long axes elided."""
    m = np.atleast_2d(a)
    rows = [[("…" if j is None or i is None else f"{m[i, j]:.{digits}g}") for j in _keep(m.shape[1], limit)]
            for i in _keep(m.shape[0], limit)]
    lines = aligned(rows, align_right=True)
    if np.ndim(a) < 2:
        return [f"[{lines[0]}]"]
    return [("[[" if k == 0 else " [") + line + ("]]" if k == len(lines) - 1 else "]") for k, line in enumerate(lines)]


def _show(indent: str, label: str, a, digits: int, limit: int) -> list[str]:
    """``label = <array>`` with continuation lines aligned under the first."""
    lines = _matrix(np.asarray(a), digits, limit)
    if len(lines) > 1 and len(label) > 24:     # a long formula: the matrix goes below it
        return [f"{indent}{label}"] + [f"{indent}    {'=' if k == 0 else ' '} {s}" for k, s in enumerate(lines)]
    pad = indent + " " * (len(label) + 3)
    return [f"{indent}{label} = {lines[0]}"] + [pad + s for s in lines[1:]]


def _with_value(parts: list[str], value, fmt: str, t: LayerTrace) -> str:
    """Markdown/LaTeX: the value joins the last formula, ``$… = [matrix]$``."""
    matrix = tex_matrix(value, t.digits, t.max_items)
    if parts and isinstance(parts[-1], Math):
        head = rich_markdown(parts[:-1]) if fmt == "markdown" else rich_latex(parts[:-1])
        return f"{head}${tex_math(parts[-1]).strip()} = {matrix}$"
    head = rich_markdown(parts) if fmt == "markdown" else rich_latex(parts)
    return f"{head} $= {matrix}$"


def _render(lines: list[_Line], fmt: str, t: LayerTrace, standalone: bool = False) -> str:
    out: list[str] = []
    for line in lines:
        parts = [line.text] if isinstance(line.text, str) else list(line.text)
        if fmt == "text":
            label = rich_text(parts) + (f"   ({line.note})" if line.note else "")
            pad = "  " * line.indent
            out += [pad + label] if line.value is None else _show(pad, label, line.value, t.digits, t.max_items)
            continue
        body = (_with_value(parts, line.value, fmt, t) if line.value is not None
                else rich_markdown(parts) if fmt == "markdown" else rich_latex(parts))
        if fmt == "markdown":
            note = f" — {rich_markdown(line.note)}" if line.note else ""
            if line.heading:
                out += ["", f"**{body}**", ""]
            elif line.indent:
                out.append("- " + body + note)
            elif body or note:
                out += ["", body + note, ""]
            continue
        else:
            note = rf" \quad ({rich_latex(line.note)})" if line.note else ""
            if not body and not note:
                out.append(r"\medskip")
                continue
            body = rf"\textbf{{{body}}}" if line.heading else body
            out.append(rf"\noindent\hspace*{{{1.5 * line.indent:g}em}}{body}{note}\par")
    if fmt == "markdown":   # list items stay together; paragraphs are separated by blank lines
        text = "\n".join(out)
        return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    text = "\n".join(out)
    return latex_document(text) if fmt == "latex" and standalone else text


def _sizes(t: LayerTrace) -> list[int]:
    return [t._pass.x.shape[1]] + [len(layer.bias) for layer in t.layers]


def _header(t: LayerTrace, name: str, cost: str, rules: list[tuple[str, str]]) -> list[_Line]:
    acts = ", ".join(layer.activation for layer in t.layers)
    examples = ("one example" if t.n == 1 else
                f"a batch of {t.n} examples, one column each (gradients: batch means)")
    formula, _, note = cost.partition("   (")
    lines = [_Line(0, f"Layer trace — {name} notation ({SOURCES[t.notation]})", heading=True),
             _Line(0, f"network {_sizes(t)} with activations {acts}; {examples}"),
             _Line(0, ["cost  ", Math(formula)], note=note[:-1])]
    for tag, rule in rules:          # "formula   (prose)": the prose is a note, not math
        formula, _, note = rule.partition("   (")
        lines.append(_Line(1, [f"{tag}  " if tag else "", Math(formula)], note=note[:-1]))
    lines.append(_Line(0, ["", Math(f"{t.cost_symbol} = {t.cost_value:.{t.digits + 2}g}")],
                       note="" if t.n == 1 else "averaged over the batch"))
    return lines + [_Line(0, "")]


def _fp(t: LayerTrace, ell: int) -> str:
    """f' of layer l (1-based) as the notation writes it."""
    return Symbols(t.notation).fprime(t.layers[ell - 1].activation)


def _output_rule(t: LayerTrace, d: str, a: str, z: str) -> tuple[str, str]:
    """δ at the output in the notation's own form, and a note."""
    act = t.layers[-1].activation
    fp, times = _fp(t, len(t.layers)), "⊗" if t.notation == "lfd" else "⊙"
    two = "2" if t.notation == "lfd" else ""
    if t.cost == "quadratic":
        if act == "identity":
            return (f"{d} = 2({a} − y)" if two else f"{d} = {a} − y"), "linear output: the factor f'(z) = 1"
        if t.notation == "lfd":
            return f"{d} = 2({a} − y) {times} {fp}({z})", ""
        return f"{d} = ({a} − y) {times} {fp}({z})", ""
    if act == "sigmoid":
        return f"{d} = {a} − y", f"cross-entropy: the σ'({z}) factor cancels"
    return f"{d} = softmax({z}) − y", ""


def _cost_formula(t: LayerTrace) -> str:
    """The notation's cost: one example's term, its mean over the data, and the λ term if any."""
    notation, L = t.notation, len(t.layers)
    out = {"nndl": "a^L", "lfd": "x^(L)", "theta": f"a^({L + 1})"}[notation]
    logits = {"nndl": "z^L", "lfd": "s^(L)", "theta": f"z^({L + 1})"}[notation]
    c = {"nndl": "C_x", "lfd": "e", "theta": "J_i"}[notation]
    if t.cost == "quadratic" and notation == "lfd":
        one = f"e = ({out} − y)²" if len(t.layers[-1].bias) == 1 else f"e = Σ_j ({out}_j − y_j)²"
    elif t.cost == "quadratic":
        one = f"{c} = ½‖{out} − y‖²"
    elif t.layers[-1].activation == "sigmoid":
        one = f"{c} = −Σ_j [y_j ln {out}_j + (1 − y_j) ln(1 − {out}_j)]"
    else:
        one = f"{c} = −Σ_j y_j ln softmax({logits})_j"
    mean = {"nndl": "C = (1/n) Σ_x C_x", "lfd": "E_in = (1/N) Σ_n e_n", "theta": "J(Θ) = (1/m) Σ_i J_i"}[notation]
    decay = {"nndl": "   + (λ/2n) Σ_w w²   (biases not regularised)",
             "theta": "   + (λ/2m) Σ_l Σ_k Σ_{i≥1} (Θ^(l)_ki)²   (bias column 0 not regularised)"}
    if notation == "theta" and not t.lam:
        return f"{one},   {mean}   (λ = 0: no regularisation term)"
    return f"{one},   {mean}" + (decay[notation] if t.lam else "")


def _lines_nndl(t: LayerTrace) -> list[_Line]:
    L = len(t.layers)
    fp = _fp(t, L)
    batch = "" if t.n == 1 else "averaged over the batch"
    decay = " + (λ/n) W^l" if t.lam else ""
    rules = [("BP1", _output_rule(t, "δ^L", "a^L", "z^L")[0]), ("BP2", f"δ^l = ((W^(l+1))ᵀ δ^(l+1)) ⊙ {fp}(z^l)"),
             ("BP3", "∂C/∂b^l = δ^l"), ("BP4", f"∂C/∂W^l = δ^l (a^(l−1))ᵀ{decay}")]
    out = _header(t, "nndl", _cost_formula(t), rules)
    out += [_Line(0, ["Forward pass:  ", Math("z^l = W^l a^(l−1) + b^l,   a^l = f(z^l)")]),
            _Line(1, Math("a^0 = x"), t.x)]
    for layer in t.layers:
        ell = layer.number
        out.append(_Line(1, f"layer {ell} ({layer.activation})", heading=True))
        out += [_Line(2, Math(label), a) for label, a in
                ((f"W^{ell}", layer.weight), (f"b^{ell}", layer.bias), (f"z^{ell}", layer.z), (f"a^{ell}", layer.a))]
    out += [_Line(1, Math("y"), t.y), _Line(0, ""), _Line(0, f"Backward pass (L = {L}), from the output layer down:")]
    for layer in reversed(t.layers):
        ell = layer.number
        if ell == L:
            rule, note = _output_rule(t, f"δ^{ell}", f"a^{ell}", f"z^{ell}")
        else:
            rule, note = f"δ^{ell} = ((W^{ell + 1})ᵀ δ^{ell + 1}) ⊙ {_fp(t, ell)}(z^{ell})", ""
        out += [_Line(1, f"layer {ell}", heading=True),
                _Line(2, [f"{'BP1' if ell == L else 'BP2'}  ", Math(rule)], layer.delta, note),
                _Line(2, ["BP3  ", Math(f"∂C/∂b^{ell} = δ^{ell}")], layer.grad_bias, batch),
                _Line(2, ["BP4  ", Math(f"∂C/∂W^{ell} = δ^{ell} (a^{ell - 1})ᵀ"
                                        + (f" + (λ/n) W^{ell}" if t.lam else ""))],
                      layer.grad_weight, batch)]
    return out + [_Line(0, ""), _Line(0, t.agreement)]


def _lines_lfd(t: LayerTrace) -> list[_Line]:
    L = len(t.layers)
    rules = [("", "s^(ℓ) = (W^(ℓ))ᵀ x^(ℓ−1),   x^(ℓ) = [1; θ(s^(ℓ))]   (no 1 on the output x^(L))"),
             ("", _output_rule(t, "δ^(L)", "x^(L)", "s^(L)")[0] + "   (δ^(ℓ) = ∂e/∂s^(ℓ), the sensitivity)"),
             ("", "δ^(ℓ) = θ'(s^(ℓ)) ⊗ [W^(ℓ+1) δ^(ℓ+1)]_{1…d^(ℓ)}   (row 0, the bias unit's, is dropped)"),
             ("", "∂e/∂W^(ℓ) = x^(ℓ−1) (δ^(ℓ))ᵀ" + ("" if t.n == 1 else ",   ∂E_in/∂W^(ℓ) = (1/N) Σ_n ∂e_n/∂W^(ℓ)"))]
    out = _header(t, "lfd", _cost_formula(t), rules)
    out += [_Line(0, ["Forward pass:  ", Math("s^(ℓ) = (W^(ℓ))ᵀ x^(ℓ−1),   x^(ℓ) = [1; θ(s^(ℓ))]")],
                  note="no 1 on the output x^(L)"),
            _Line(1, Math("x^(0) = [1; x]"), t.x)]
    for layer in t.layers:
        ell = layer.number
        out.append(_Line(1, f"layer ℓ = {ell} (θ = {layer.activation})", heading=True))
        x_label = f"x^({ell})" if ell == L else f"x^({ell}) = [1; θ(s^({ell}))]"
        out += [_Line(2, Math(label), a) for label, a in
                ((f"W^({ell})", layer.weight), (f"s^({ell})", layer.z), (x_label, layer.a))]
    out += [_Line(1, Math("y"), t.y), _Line(0, ""),
            _Line(0, f"Backward pass: sensitivities δ^(ℓ) = ∂e/∂s^(ℓ), from ℓ = {L} down:")]
    for layer in reversed(t.layers):
        ell = layer.number
        if ell == L:
            rule, note = _output_rule(t, f"δ^({ell})", f"x^({ell})", f"s^({ell})")
        else:
            d = len(layer.bias)
            rule = f"δ^({ell}) = θ'(s^({ell})) ⊗ [W^({ell + 1}) δ^({ell + 1})]_{{1…{d}}}"
            note = "row 0, the bias unit's, dropped"
        grad = (f"∂e/∂W^({ell}) = x^({ell - 1}) (δ^({ell}))ᵀ" if t.n == 1 else
                f"∂E_in/∂W^({ell}) = (1/N) Σ_n x^({ell - 1})_n (δ^({ell})_n)ᵀ")
        out += [_Line(1, f"layer ℓ = {ell}", heading=True), _Line(2, Math(rule), layer.delta, note),
                _Line(2, Math(grad), layer.grad_weight, f"row 0 = δ^({ell}): the bias")]
    return out + [_Line(0, ""), _Line(0, t.agreement)]


def _lines_theta(t: LayerTrace) -> list[_Line]:
    K = len(t.layers) + 1                 # the output layer's number: the input is layer 1
    decay = " + (λ/m) Θ^(j)" if t.lam else ""
    rules = [("", "z^(j+1) = Θ^(j) a^(j),   a^(j+1) = [1; g(z^(j+1))]   (no bias unit on the output)"),
             ("", _output_rule(t, "δ^(L)", "a^(L)", "z^(L)")[0]),
             ("", "δ^(j) = [(Θ^(j))ᵀ δ^(j+1)]_{1…} ⊙ g'(z^(j))   (entry 0, the bias unit's, is dropped)"),
             ("", "Δ^(j) = Σ_i δ^(j+1) (a^(j))ᵀ,   D^(j) = ∂J/∂Θ^(j) = Δ^(j)/m" + decay +
              ("   (column 0, the bias: Δ^(j)/m only)" if t.lam else ""))]
    out = _header(t, "theta", _cost_formula(t), rules)
    out += [_Line(0, ["Forward pass:  ", Math("z^(j+1) = Θ^(j) a^(j),   a^(j+1) = [1; g(z^(j+1))]")],
                  note="no bias unit on the output"),
            _Line(1, Math("a^(1) = [1; x]"), t.x)]
    for layer in t.layers:
        k = layer.number
        out.append(_Line(1, f"layer {k} (g = {layer.activation})", heading=True))
        a_label = f"a^({k})" if k == K else f"a^({k}) = [1; g(z^({k}))]"
        out += [_Line(2, Math(label), a) for label, a in
                ((f"Θ^({k - 1})", layer.weight), (f"z^({k})", layer.z), (a_label, layer.a))]
    out += [_Line(1, Math("y"), t.y), _Line(0, ""),
            _Line(0, f"Backward pass from layer {K} down (layer 1, the input, has no δ):")]
    for layer in reversed(t.layers):
        k, j = layer.number, layer.number - 1
        if k == K:
            rule, note = _output_rule(t, f"δ^({k})", f"a^({k})", f"z^({k})")
        else:
            rule = f"δ^({k}) = [(Θ^({k}))ᵀ δ^({k + 1})]_{{1…{len(layer.bias)}}} ⊙ g'(z^({k}))"
            note = "entry 0, the bias unit's, dropped"
        grad = f"D^({j}) = ∂J/∂Θ^({j}) = Δ^({j}) / m" + (f" + (λ/m) Θ^({j})" if t.lam else "")
        out += [_Line(1, f"layer {k}", heading=True), _Line(2, Math(rule), layer.delta, note),
                _Line(2, Math(f"Δ^({j}) = Σ δ^({k}) (a^({j}))ᵀ"), layer.accumulated,
                      f"column 0 = Σ δ^({k}): the bias"),
                _Line(2, Math(grad), layer.grad_weight, "column 0, the bias, is not regularised" if t.lam else "")]
    return out + [_Line(0, ""), _Line(0, t.agreement)]


_LINES = {"nndl": _lines_nndl, "lfd": _lines_lfd, "theta": _lines_theta}
