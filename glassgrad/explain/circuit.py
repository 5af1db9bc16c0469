"""Gate-by-gate view of a scalar expression: every gate in forward order with its inputs, its output,
its local derivatives and the gradient arriving from above (docs/backprop.md#gates-and-worked-examples).

Leaves and intermediate values may be arrays (f = (w * x).sum() with vectors w, x): their values and
gradients are then shown element by element, and the "local derivative" column holds the gate's VJP with
an incoming gradient of ones, ∂(Σ out)/∂in, which for an elementwise gate is each entry's own derivative.

The view is an observer on the ordinary backward pass; the engine is not changed to produce it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from numpy.typing import ArrayLike, DTypeLike

from glassgrad import engine
from glassgrad._backend import xp
from glassgrad.checks import check_int
from glassgrad.tensor import Tensor, tensor

Value = float | xp.ndarray      # one entry, or an array shown element by element


@dataclass
class GateStep:
    """One gate of the circuit: what went in and out, forward and backward."""

    step: int
    gate: str
    inputs: list[str]            # names of the inputs: a leaf's name, a number, or [k] for step k's output
    input_values: list[Value]
    output: Value
    grad_output: Value           # ∂f/∂output: the gradient arriving from above
    local: list[Value | None]    # ∂output/∂input for each input (None for constants); ∂(Σ out)/∂in for arrays
    grad_inputs: list[Value | None]   # ∂f/∂input = grad_output · local (elementwise)


def _value(a: ArrayLike) -> Value:
    """A Python float for one entry, else a float64 copy of the array (shown element by element)."""
    array = xp.asarray(a)
    return float(array.reshape(-1)[0]) if array.size == 1 else array.astype(xp.float64)


def _number(v: Value | None, digits: int, spec: str = "f") -> str:
    """``v`` with ``digits`` decimals ("—" for None); an array entry by entry, as NumPy prints it."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}{spec}}"
    return xp.array2string(v, separator=", ", threshold=16, edgeitems=3, max_line_width=10**6,
                           formatter={"float_kind": lambda e: f"{e:.{digits}{spec}}"}).replace("\n", "")


def gate_steps(f: Tensor, leaves: Sequence[Tensor] = ()) -> tuple[list[GateStep], list[Value | None]]:
    """Backpropagate from the scalar ``f`` (keeping the graph, leaving ``.grad`` alone): every gate in
    forward order, and ∂f/∂leaf for each of ``leaves``."""
    if not isinstance(f, Tensor):
        raise TypeError(f"gate_steps: f must be a Tensor computed by gates, not {type(f).__name__}")
    if f.numel() != 1:
        raise ValueError(f"gate_steps: the expression must be a scalar, not shape {f.shape}")
    leaves = list(leaves)
    for k, leaf in enumerate(leaves):
        if not isinstance(leaf, Tensor):
            raise TypeError(f"gate_steps: leaves[{k}] must be a Tensor (one of f's inputs), not {type(leaf).__name__}")
    seen = []
    leaf_grads = engine.backward(f, xp.ones_like(f.data), retain_graph=True, inputs=list(leaves),
                                 observer=lambda node, g, grads: seen.append((node, g, grads)))
    seen.reverse()   # backward visits the gates from the output; the table reads forward
    number = {node: k + 1 for k, (node, _, _) in enumerate(seen)}
    steps = []
    for node, g, grads in seen:
        names, values, local = [], [], []
        ones = xp.ones_like(node.out)
        needs = [isinstance(t, Tensor) and t.requires_grad for t in node.inputs]
        unit = node.gate.input_grads(ones, node.out, node.arrays, node.params, needs)
        for t, a, u in zip(node.inputs, node.arrays, unit):
            if isinstance(t, Tensor) and t.grad_fn is not None:
                names.append(f"[{number[t.grad_fn]}]")
            elif isinstance(t, Tensor) and t.name:
                names.append(t.name)
            else:
                names.append(_number(_value(a), 6, "g"))
            values.append(_value(a))
            local.append(None if u is None else _value(u))
        steps.append(GateStep(number[node], node.gate.name, names, values, _value(node.out), _value(g), local,
                              [None if gi is None else _value(gi) for gi in grads]))
    return steps, [None if g is None else _value(g) for g in leaf_grads]


def gate_table(f: Tensor, leaves: Sequence[Tensor] = (), digits: int = 4, fmt: str = "text") -> str:
    """The gate-by-gate table followed by ∂f/∂leaf for each named leaf, as "text", "markdown" or "latex"."""
    from glassgrad.explain.export import Math, Table, check_format, rich_latex, rich_markdown

    check_format(fmt)
    check_int("gate_table digits", digits, low=0)
    num = lambda v: _number(v, digits)   # noqa: E731
    steps, leaf_grads = gate_steps(f, leaves)
    rows = []
    for s in steps:
        ins = ", ".join(f"{n}={_number(v, 6, 'g')}" if n[0].isalpha() else n
                        for n, v in zip(s.inputs, s.input_values))
        rows.append((str(s.step), s.gate, ins, num(s.output), num(s.grad_output),
                     ", ".join(num(v) for v in s.local), ", ".join(num(v) for v in s.grad_inputs)))
    table = Table(("step", "gate", "inputs", "output", "∂f/∂output", "local ∂out/∂in", "∂f/∂in"), rows)
    grads = [Math(f"∂f/∂{leaf.name or 'input'} = {num(g)}") for leaf, g in zip(leaves, leaf_grads)]
    if fmt == "text":
        return "\n".join([table.text(), *([""] if grads else []), *grads])
    if fmt == "markdown":
        return "\n".join([table.markdown(), "", *(f"- {rich_markdown([g])}" for g in grads)]).rstrip()
    return "\n".join([table.latex(), "", *(rf"\noindent {rich_latex([g])}\par" for g in grads)]).rstrip()


def sigmoid_neuron(w0: float = 2.0, x0: float = -1.0, w1: float = -3.0, x1: float = -2.0, w2: float = -3.0,
                   dtype: DTypeLike = "float64") -> tuple[Tensor, list[Tensor]]:
    """The notes' sigmoid neuron f = 1 / (1 + exp(−(w0·x0 + w1·x1 + w2))) from elementary gates.

    Returns ``(f, leaves)``; the leaves are named and require grad.
    """
    values = dict(w0=w0, x0=x0, w1=w1, x1=x1, w2=w2)
    leaves = {k: tensor(v, dtype=dtype, requires_grad=True) for k, v in values.items()}
    for k, t in leaves.items():
        t.name = k
    dot = leaves["w0"] * leaves["x0"] + leaves["w1"] * leaves["x1"] + leaves["w2"]
    f = ((dot * -1.0).exp() + 1.0).reciprocal()
    return f, list(leaves.values())
