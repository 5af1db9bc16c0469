"""Layer trace: the four backprop equations worked layer by layer, in the learner's notation (BACKGROUND §1–2).

``trace(model, x, y)`` takes a ``Sequential`` of ``Linear`` layers and elementwise activations, and
computes with plain NumPy (not with the engine) for each layer the weighted input z^l, the activation
a^l, the error δ^l (BP1 at the output, BP2 backwards), ∂C/∂b^l (BP3) and ∂C/∂W^l (BP4). It then runs
the engine's own ``backward()`` on the same model and compares every δ^l and gradient, so the trace
states whether the hand computation and the library agree, and by how much at most.

The result can be shown in three notations (``in_notation``):

* ``nndl``  — W^l (rows: neurons of layer l), b^l, z^l, a^l, δ^l; a^0 = x.
* ``lfd``   — W^(ℓ) of shape (d^(ℓ−1)+1) × d^(ℓ) with the biases as row 0, s^(ℓ) = (W^(ℓ))ᵀ x^(ℓ−1),
  x^(ℓ) = [1; θ(s^(ℓ))], sensitivities δ^(ℓ), ∂e/∂W^(ℓ) = x^(ℓ−1)(δ^(ℓ))ᵀ (row 0 is the bias gradient).
* ``theta`` — Θ^(j) maps layer j to j+1 with the bias unit x_0 = 1 as column 0; the input is layer 1,
  a^(1) = [1; x]; Δ^(j) = Σ δ^(j+1)(a^(j))ᵀ over the examples, ∂J/∂Θ^(j) = Δ^(j)/m.

Costs are the engine's: ``quadratic`` C = (1/n) Σ_x ½‖a^L − y‖²; ``cross_entropy`` is the binary
cross-entropy Σ_j over a sigmoid output layer, or softmax cross-entropy on a linear output layer; both
make δ^L = a^L − y (the f'(z^L) factor cancels). For a batch the per-example δ are shown (one column
per example) and the gradients are averages over the batch, as the cost is.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from glassgrad import engine, nn
from glassgrad.nn import functional as F
from glassgrad.tensor import Tensor

NOTATIONS = ("nndl", "lfd", "theta")
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
    act: _Act | None = None


def _modules(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [m for child in model for m in _modules(child)]
    return [model]


def _network(model: nn.Module) -> list[_Layer]:
    layers: list[_Layer] = []
    for i, m in enumerate(_modules(model)):
        if isinstance(m, nn.Linear):
            if m.bias is None:
                raise ValueError(f"trace: module {i} is a Linear layer without a bias; the notes' layers have one")
            layers.append(_Layer(m))
            continue
        act = _activation(m)
        if act is None:
            raise ValueError(f"trace: module {i} ({type(m).__name__}) is neither a Linear layer nor an elementwise "
                             "activation; trace follows Sequential(Linear, activation, Linear, activation, …) "
                             "networks with sigmoid, tanh, relu, identity, softplus, leaky_relu, elu or "
                             "nn.Activation layers")
        if not layers or layers[-1].act is not None:
            raise ValueError(f"trace: the activation {act.name} (module {i}) must follow a Linear layer")
        layers[-1].act = act
    if not layers:
        raise ValueError("trace: the model has no Linear layer")
    for layer in layers:
        layer.act = layer.act or IDENTITY
    return layers


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
    delta: list = field(default_factory=list)     # per example: δ of C_x
    gW: list = field(default_factory=list)        # ∂C/∂W, averaged over the batch
    gb: list = field(default_factory=list)
    cost: float = 0.0
    output: str = "quadratic"                      # "quadratic", "binary" or "softmax"


def _inputs(layers: list[_Layer], x, y) -> tuple[np.ndarray, np.ndarray]:
    """x as (n, d0) rows and y as (n, dL) rows; integer labels are one-hot encoded."""
    x = np.asarray(getattr(x, "data", x), dtype=np.float64)
    X = x.reshape(1, -1) if x.ndim == 1 else x
    d0, dL = layers[0].linear.in_features, layers[-1].linear.out_features
    if X.ndim != 2 or X.shape[1] != d0:
        raise ValueError(f"trace: x has shape {x.shape}; the network takes {d0} inputs (one example or (n, {d0}))")
    y = np.asarray(getattr(y, "data", y))
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


def _hand_pass(layers: list[_Layer], X: np.ndarray, Y: np.ndarray, cost: str) -> _Pass:
    p = _Pass(X, Y, [layer.act.name for layer in layers], a=[X])
    p.output = _output_kind(cost, layers[-1].act.name)
    for layer in layers:                                  # forward: z^l = W^l a^(l−1) + b^l, a^l = f(z^l)
        p.W.append(layer.linear.weight.data.astype(np.float64))
        p.b.append(layer.linear.bias.data.astype(np.float64))
        p.z.append(p.a[-1] @ p.W[-1].T + p.b[-1])
        p.a.append(layer.act.f(p.z[-1]))
    p.cost, delta = _bp1(p, layers[-1].act)
    p.delta = [delta]
    for l in range(len(layers) - 2, -1, -1):              # BP2: δ^l = ((W^(l+1))ᵀ δ^(l+1)) ⊙ f'(z^l)
        p.delta.insert(0, (p.delta[0] @ p.W[l + 1]) * layers[l].act.df(p.z[l]))
    n = len(X)
    p.gb = [d.mean(axis=0) for d in p.delta]                         # BP3, averaged over the batch
    p.gW = [d.T @ a / n for d, a in zip(p.delta, p.a[:-1])]          # BP4: δ (a^(l−1))ᵀ, averaged
    return p


def _bp1(p: _Pass, act: _Act) -> tuple[float, np.ndarray]:
    """The cost and the output error δ^L for each example."""
    a, y, z, n = p.a[-1], p.y, p.z[-1], len(p.y)
    if p.output == "quadratic":
        return 0.5 * ((a - y) ** 2).sum() / n, (a - y) * act.df(z)          # δ^L = (a^L − y) ⊙ f'(z^L)
    if p.output == "binary":
        with np.errstate(divide="ignore", invalid="ignore"):
            c = -(y * np.log(a) + (1 - y) * np.log(1 - a))
        return float(np.nansum(c)) / n, a - y                               # σ'(z^L) cancels
    logp = z - z.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return -(y * logp).sum() / n, np.exp(logp) - y                          # softmax(z^L) − y


# --------------------------------------------------------------------------------------------------
# The engine's gradients of the same model
# --------------------------------------------------------------------------------------------------
def _engine_forward(layers: list[_Layer], X: np.ndarray, Y: np.ndarray, output: str) -> tuple[Tensor, list, list]:
    """The same network and cost run by the engine: (cost, [z^l tensors], [x, y tensors])."""
    dtype = layers[0].linear.weight.dtype
    x, y = Tensor(X.astype(dtype), name="x"), Tensor(Y.astype(dtype), name="y")
    with engine.enable_grad():
        a, zs = x, []
        for layer in layers:
            zs.append(layer.linear(a))
            a = layer.act.module(zs[-1]) if layer.act.module is not None else zs[-1]
        if output == "quadratic":
            cost = F.quadratic_cost(a, y)
        elif output == "binary":
            cost = F.binary_cross_entropy(a, y, reduction="sum") * (1.0 / len(X))
        else:
            cost = F.cross_entropy(a, y)
    return cost, zs, [x, y]


def cost_tensor(model: nn.Module, x, y, cost: str = "quadratic") -> Tensor:
    """The cost of ``model`` on ``x``, ``y`` as the engine computes it for the trace (for a graph view);
    x and y become tensors named "x" and "y"."""
    layers = _network(model)
    X, Y = _inputs(layers, x, y)
    return _engine_forward(layers, X, Y, _output_kind(cost, layers[-1].act.name))[0]


def _engine_pass(layers: list[_Layer], X: np.ndarray, Y: np.ndarray, output: str) -> _Pass:
    """δ^l (= n ∂C/∂z^l), ∂C/∂b^l and ∂C/∂W^l from the engine's backward(); no ``.grad`` is touched."""
    cost, zs, _ = _engine_forward(layers, X, Y, output)
    params = [p for layer in layers for p in (layer.linear.weight, layer.linear.bias)]
    grads = engine.backward(cost, np.ones_like(cost.data), inputs=params + zs)
    k = len(params)
    return _Pass(X, Y, [], gW=grads[0:k:2], gb=grads[1:k:2], delta=[len(X) * g for g in grads[k:]])


def _largest_difference(mine: _Pass, theirs: _Pass) -> list[float]:
    """For each layer, the largest |hand − engine| over δ, ∂C/∂b and ∂C/∂W."""
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
    ``grad_bias`` are always given separately as well. ``accumulated`` is theta's Δ^(j) (Σ over the
    examples; ``grad_weight`` = Δ^(j)/m), None in the other notations.
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
    difference: float            # largest |hand − engine| for this layer's δ, ∂C/∂b, ∂C/∂W
    accumulated: np.ndarray | None = None


@dataclass
class LayerTrace:
    """The layer-by-layer backprop of one example or batch, checked against the engine."""

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
    digits: int = 4
    max_items: int = 8           # rows / columns printed before eliding with …
    _pass: _Pass | None = field(default=None, repr=False)
    _diffs: list | None = field(default=None, repr=False)

    def in_notation(self, notation: str) -> "LayerTrace":
        """The same trace in another notation (nothing is recomputed)."""
        return _convert(self._pass, self._diffs, notation, replace(self, notation=notation))

    @property
    def agreement(self) -> str:
        """One line: do the hand computation and the engine agree, and by how much."""
        what = {"nndl": "δ^l, ∂C/∂b^l and ∂C/∂W^l", "lfd": "δ^(ℓ) and ∂e/∂W^(ℓ)",
                "theta": "δ^(j) and ∂J/∂Θ^(j)"}[self.notation]
        verdict = "AGREE" if self.agree else "DISAGREE"
        return (f"Check: the engine's backward() and these hand-computed {what} {verdict} in every layer; "
                f"largest absolute difference {self.max_abs_diff:.3g} (tolerance {self.tolerance:.1g}, "
                f"model in {self.dtype})")

    def __str__(self) -> str:
        return {"nndl": _render_nndl, "lfd": _render_lfd, "theta": _render_theta}[self.notation](self)


def trace(model: nn.Module, x, y, cost: str = "quadratic", notation: str = "nndl") -> LayerTrace:
    """BP1–BP4 for each layer of ``model`` on ``x`` (one example or a batch of rows) with target ``y``,
    computed in NumPy and checked against the engine; ``str()`` of the result prints it in ``notation``."""
    if notation not in NOTATIONS:
        raise ValueError(f"trace: unknown notation {notation!r}; choose from {', '.join(NOTATIONS)}")
    layers = _network(model)
    X, Y = _inputs(layers, x, y)
    mine = _hand_pass(layers, X, Y, cost)
    diffs = _largest_difference(mine, _engine_pass(layers, X, Y, mine.output))
    dtype = layers[0].linear.weight.dtype
    scale = max([1.0] + [float(np.abs(a).max()) for a in mine.delta + mine.gW])
    tol = (1e-10 if dtype == np.float64 else 1e-5) * scale
    base = LayerTrace(notation, cost, float(mine.cost), len(X), X, Y, [], max(diffs) <= tol, max(diffs), tol,
                      str(dtype), _pass=mine, _diffs=diffs)
    return _convert(mine, diffs, notation, base)


def _cols(rows: np.ndarray) -> np.ndarray:
    """Rows of examples → a column vector for one example, or one column per example."""
    return rows[0] if len(rows) == 1 else rows.T


def _one(rows: np.ndarray) -> np.ndarray:
    """Prepend the bias unit x_0 = 1 to each example."""
    return np.hstack([np.ones((len(rows), 1)), rows])


def _convert(p: _Pass, diffs: list, notation: str, base: LayerTrace) -> LayerTrace:
    L, n = len(p.W), len(p.x)
    layers = []
    for l in range(L):
        last = l == L - 1
        if notation == "nndl":
            layer = TracedLayer(l + 1, p.acts[l], p.W[l], p.b[l], _cols(p.z[l]), _cols(p.a[l + 1]),
                                _cols(p.delta[l]), p.gW[l], p.gb[l], diffs[l])
        elif notation == "lfd":      # W^(ℓ) = [bᵀ; Wᵀ]; x^(ℓ) = [1; θ(s)] except at the output
            layer = TracedLayer(l + 1, p.acts[l], np.vstack([p.b[l], p.W[l].T]), p.b[l], _cols(p.z[l]),
                                _cols(p.a[l + 1] if last else _one(p.a[l + 1])), _cols(p.delta[l]),
                                np.vstack([p.gb[l], p.gW[l].T]), p.gb[l], diffs[l])
        else:                        # Θ^(j) = [b | W]; Δ^(j) = Σ δ^(j+1) (a^(j))ᵀ = n ∂J/∂Θ^(j)
            grad = np.hstack([p.gb[l][:, None], p.gW[l]])
            layer = TracedLayer(l + 2, p.acts[l], np.hstack([p.b[l][:, None], p.W[l]]), p.b[l], _cols(p.z[l]),
                                _cols(p.a[l + 1] if last else _one(p.a[l + 1])), _cols(p.delta[l]),
                                grad, p.gb[l], diffs[l], accumulated=grad * n)
        layers.append(layer)
    x = _cols(p.x if notation == "nndl" else _one(p.x))
    return replace(base, notation=notation, x=x, y=_cols(p.y), layers=layers)


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------
def _keep(count: int, limit: int) -> list[int | None]:
    """Indices to print: all, or the first few and the last two with None for the gap."""
    if count <= limit:
        return list(range(count))
    head = max(limit - 3, 1)
    return list(range(head)) + [None] + list(range(count - 2, count))


def _matrix(a: np.ndarray, digits: int, limit: int) -> list[str]:
    """A vector or matrix as text lines, numbers to ``digits`` significant digits, long axes elided."""
    m = np.atleast_2d(a)
    rows = [[("…" if j is None or i is None else f"{m[i, j]:.{digits}g}") for j in _keep(m.shape[1], limit)]
            for i in _keep(m.shape[0], limit)]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    if np.ndim(a) < 2:
        return [f"[{lines[0]}]"]
    return [("[[" if k == 0 else " [") + line + ("]]" if k == len(lines) - 1 else "]") for k, line in enumerate(lines)]


def _show(t: LayerTrace, indent: str, label: str, a) -> list[str]:
    """``label = <array>`` with continuation lines aligned under the first."""
    lines = _matrix(np.asarray(a), t.digits, t.max_items)
    if len(lines) > 1 and len(label) > 24:     # a long formula: the matrix goes below it
        return [f"{indent}{label}"] + [f"{indent}    {'=' if k == 0 else ' '} {s}" for k, s in enumerate(lines)]
    pad = indent + " " * (len(label) + 3)
    return [f"{indent}{label} = {lines[0]}"] + [pad + s for s in lines[1:]]


def _header(t: LayerTrace, title: str, cost: str) -> list[str]:
    sizes = [t._pass.x.shape[1]] + [len(layer.bias) for layer in t.layers]
    acts = ", ".join(f"{layer.activation}" for layer in t.layers)
    examples = "one example" if t.n == 1 else f"a batch of {t.n} examples, one column each (gradients: batch means)"
    mean = "" if t.n == 1 else ", averaged over the batch"
    return [f"Layer trace — {title}", f"network {sizes} with activations {acts}; {examples}",
            f"cost {cost}{mean} = {t.cost_value:.{t.digits + 2}g}", ""]


def _cost_text(t: LayerTrace, c: str, a_out: str, z_out: str) -> str:
    if t.cost == "quadratic":
        return f"{c} = ½‖{a_out} − y‖²"
    if t.layers[-1].activation == "sigmoid":
        return f"{c} = −Σ_j [y_j ln {a_out}_j + (1 − y_j) ln(1 − {a_out}_j)]"
    return f"{c} = −Σ_j y_j ln softmax({z_out})_j"


def _bp1_text(t: LayerTrace, d: str, a: str, z: str, fp: str) -> str:
    if t.cost == "quadratic":
        return f"{d} = ({a} − y) ⊙ {fp}({z})"
    if t.layers[-1].activation == "sigmoid":
        return f"{d} = {a} − y   (cross-entropy: the σ'({z}) factor cancels)"
    return f"{d} = softmax({z}) − y"


def _render_nndl(t: LayerTrace) -> str:
    L = len(t.layers)
    fp = lambda l: "σ'" if t.layers[l - 1].activation == "sigmoid" else "f'"   # noqa: E731
    out = _header(t, "nndl notation: w^l_jk = weight from neuron k in layer l−1 to neuron j in layer l",
                  _cost_text(t, "C", f"a^{L}", f"z^{L}"))
    out += ["Forward pass:  z^l = W^l a^(l−1) + b^l,   a^l = f(z^l)"] + _show(t, "  ", "a^0 = x", t.x)
    for layer in t.layers:
        l = layer.number
        out.append(f"  layer {l} ({layer.activation})")
        for label, a in ((f"W^{l}", layer.weight), (f"b^{l}", layer.bias), (f"z^{l}", layer.z), (f"a^{l}", layer.a)):
            out += _show(t, "    ", label, a)
    out += _show(t, "  ", "y", t.y) + ["", f"Backward pass (L = {L}), from the output layer down:"]
    for layer in reversed(t.layers):
        l = layer.number
        rule = (_bp1_text(t, f"δ^{l}", f"a^{l}", f"z^{l}", fp(l)) if l == L else
                f"δ^{l} = ((W^{l + 1})ᵀ δ^{l + 1}) ⊙ {fp(l)}(z^{l})")
        out += [f"  layer {l}"] + _show(t, "    ", f"{'BP1' if l == L else 'BP2'}  {rule}", layer.delta)
        batch = "" if t.n == 1 else " averaged over the batch"
        out += _show(t, "    ", f"BP3  ∂C/∂b^{l} = δ^{l}{batch}", layer.grad_bias)
        out += _show(t, "    ", f"BP4  ∂C/∂W^{l} = δ^{l} (a^{l - 1})ᵀ{batch}", layer.grad_weight)
    return "\n".join(out + ["", t.agreement])


def _render_lfd(t: LayerTrace) -> str:
    L = len(t.layers)
    e = "e" if t.n == 1 else "E_in"
    out = _header(t, "lfd notation: W^(ℓ) is (d^(ℓ−1)+1) × d^(ℓ), row 0 holds the biases (x_0 = 1)",
                  _cost_text(t, e, f"x^({L})", f"s^({L})"))
    out += ["Forward pass:  s^(ℓ) = (W^(ℓ))ᵀ x^(ℓ−1),   x^(ℓ) = [1; θ(s^(ℓ))]  (no 1 on the output x^(L))"]
    out += _show(t, "  ", "x^(0) = [1; x]", t.x)
    for layer in t.layers:
        l = layer.number
        out.append(f"  layer ℓ = {l} (θ = {layer.activation})")
        x_label = f"x^({l})" if l == L else f"x^({l}) = [1; θ(s^({l}))]"
        for label, a in ((f"W^({l})", layer.weight), (f"s^({l})", layer.z), (x_label, layer.a)):
            out += _show(t, "    ", label, a)
    out += _show(t, "  ", "y", t.y) + ["", f"Backward pass: sensitivities δ^(ℓ) = ∂{e}/∂s^(ℓ), from ℓ = {L} down:"]
    for layer in reversed(t.layers):
        l = layer.number
        rule = (_bp1_text(t, f"δ^({l})", f"x^({l})", f"s^({l})", "θ'") if l == L else
                f"δ^({l}) = θ'(s^({l})) ⊗ [W^({l + 1}) δ^({l + 1})] without row 0")
        grad = f"∂{e}/∂W^({l}) = x^({l - 1}) (δ^({l}))ᵀ" + ("" if t.n == 1 else " averaged over the batch")
        out += [f"  layer ℓ = {l}"] + _show(t, "    ", rule, layer.delta)
        out += _show(t, "    ", grad + f"   (row 0 = δ^({l}): the bias)", layer.grad_weight)
    return "\n".join(out + ["", t.agreement])


def _render_theta(t: LayerTrace) -> str:
    K = len(t.layers) + 1                 # the output layer's number: the input is layer 1
    out = _header(t, "theta notation: Θ^(j) maps layer j to layer j+1, column 0 is the bias unit x_0 = 1",
                  _cost_text(t, "J", f"a^({K})", f"z^({K})"))
    out += ["Forward pass:  z^(j+1) = Θ^(j) a^(j),   a^(j+1) = [1; g(z^(j+1))]  (no bias unit on the output)"]
    out += _show(t, "  ", "a^(1) = [1; x]", t.x)
    for layer in t.layers:
        k = layer.number
        out.append(f"  layer {k} (g = {layer.activation})")
        a_label = f"a^({k})" if k == K else f"a^({k}) = [1; g(z^({k}))]"
        for label, a in ((f"Θ^({k - 1})", layer.weight), (f"z^({k})", layer.z), (a_label, layer.a)):
            out += _show(t, "    ", label, a)
    out += _show(t, "  ", "y", t.y) + ["", f"Backward pass from layer {K} down (layer 1, the input, has no δ):"]
    for layer in reversed(t.layers):
        k, j = layer.number, layer.number - 1
        rule = (_bp1_text(t, f"δ^({k})", f"a^({k})", f"z^({k})", "g'") if k == K else
                f"δ^({k}) = ((Θ^({k}))ᵀ δ^({k + 1}) without entry 0) ⊙ g'(z^({k}))")
        out += [f"  layer {k}"] + _show(t, "    ", rule, layer.delta)
        out += _show(t, "    ", f"Δ^({j}) = Σ δ^({k}) (a^({j}))ᵀ   (column 0 = δ^({k}): the bias)", layer.accumulated)
        if t.n > 1:
            out += _show(t, "    ", f"∂J/∂Θ^({j}) = Δ^({j}) / m", layer.grad_weight)
    return "\n".join(out + ["", t.agreement])
