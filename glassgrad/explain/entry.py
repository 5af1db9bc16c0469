"""One weight's derivation: the chain rule for a single weight, every factor with its number.

``trace(model, x, y, notation=…).entry("W2[1,2]")`` (or ``derive_entry``) writes, in the trace's notation
and with 1-based units, what the notes do by hand for one weight, e.g. in theta notation

    ∂J/∂Θ^(1)_{2,2} = a^(1)_2 · δ^(2)_2 = (δ^(3)_1 Θ^(2)_{1,2} + δ^(3)_2 Θ^(2)_{2,2}) · g'(z^(2)_2) · x_2

— the input on the weight times the error at its neuron, that error being the sum over the paths through
the next layer — then every δ it needs from the output back, each with its numbers. The result is checked
against the engine's ``backward()`` of the same cost (the trace's).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from glassgrad.explain.export import Math, check_format
from glassgrad.explain.notation import Symbols, parse_entry

if TYPE_CHECKING:      # for annotations only
    from glassgrad.explain.trace import LayerTrace

MAX_TERMS = 10     # a sum over more paths than this is shown with its first terms, "…" and its last


@dataclass
class EntryDerivation:
    """The derivation of ∂cost/∂(one weight); ``str()`` prints it, ``render(fmt)`` as Markdown or LaTeX."""

    notation: str
    name: str                    # the weight's name in the notation, e.g. "Θ^(1)_{2,2}"
    value: float                 # the hand computation's ∂cost/∂weight
    engine_value: float          # the engine's backward() for the same entry
    agree: bool
    _lines: list = field(default_factory=list, repr=False)
    _trace: Any = field(default=None, repr=False)      # the LayerTrace it was derived from

    @property
    def difference(self) -> float:
        return abs(self.value - self.engine_value)

    def __str__(self) -> str:
        return self.render("text")

    def render(self, fmt: str = "text", standalone: bool = False) -> str:
        from glassgrad.explain.trace import _render
        return _render(self._lines, check_format(fmt), self._trace, standalone)


def _n(v: float) -> str:
    """A number in a product: 4 significant digits, negative ones in brackets."""
    s = f"{v:.4g}".replace("-", "−")
    return f"({s})" if v < 0 else s


def _terms(items: list[str]) -> str:
    if len(items) > MAX_TERMS:
        items = items[:3] + ["…"] + items[-1:]
    return " + ".join(items)


def derive_entry(t: LayerTrace, entry: str) -> EntryDerivation:
    """The chain rule for the weight ``entry`` (e.g. "W2[1,2]", "b2[1]", "Theta1[2,2]") of the one example
    traced by ``t`` (a ``LayerTrace``), in ``t``'s notation."""
    from glassgrad.explain.trace import _fp, _Line

    if t.n != 1:
        raise ValueError("entry: the single-weight derivation follows one example; trace one example (the "
                         f"gradient over a batch is the mean of the examples' chains), not {t.n}")
    p, s = t._pass, Symbols(t.notation)
    sizes = [p.x.shape[1]] + [len(b) for b in p.b]
    L = len(sizes) - 1
    ell, j, k = parse_entry(entry, t.notation, sizes)
    c = t.cost_symbol
    a = [row[0] for row in p.a]            # a[m][u−1]: unit u's output in layer m (a[0] = x)
    z = [row[0] for row in p.z]            # z[m−1]: layer m
    d = [row[0] for row in p.delta]        # d[m−1]: δ of layer m, in the notation's own cost
    W = p.W                                # W[m−1][i−1, u−1]: into unit i of layer m from unit u of layer m−1

    def fprime(m: int, u: int) -> float:
        return float(t._net[m - 1].act.df(z[m - 1][u - 1:u])[0])

    def fp_symbol(m: int, u: int) -> str:
        return f"{_fp(t, m)}({s.z(m, u)})"

    def linear(m: int) -> bool:
        return t.layers[m - 1].activation == "identity"

    def delta_lines(m: int, u: int) -> list[str]:
        """δ of unit u in layer m: its rule with symbols, with numbers, and its value."""
        if m == L:
            diff = f"{s.a(L, u)} − y_{u}"
            if t.cost != "quadratic":
                return [f"{s.delta(m, u)} = {diff}", f"= {_n(a[L][u - 1])} − {_n(p.y[0][u - 1])}",
                        f"= {d[m - 1][u - 1]:.6g}"]
            two = "2" if t.notation == "lfd" else ""
            factor = "" if linear(m) else f" · {fp_symbol(m, u)}"
            nums = f"{_n(a[L][u - 1])} − {_n(p.y[0][u - 1])}"
            nums = (f"{two}{' × ' if two else ''}({nums})" if two or not linear(m) else nums) + \
                ("" if linear(m) else f" × {_n(fprime(m, u))}")
            rule = f"{two}({diff}){factor}" if two or factor else diff
            return [f"{s.delta(m, u)} = {rule}", f"= {nums}", f"= {d[m - 1][u - 1]:.6g}"]
        paths = [f"{s.delta(m + 1, i)} {s.weight(m + 1, i, u)}" for i in range(1, sizes[m + 1] + 1)]
        products = [f"{_n(d[m][i - 1])} × {_n(W[m][i - 1, u - 1])}" for i in range(1, sizes[m + 1] + 1)]
        factor = "" if linear(m) else f" · {fp_symbol(m, u)}"
        times = "" if linear(m) else f" × {_n(fprime(m, u))}"
        return [f"{s.delta(m, u)} = ({_terms(paths)}){factor}", f"= ({_terms(products)}){times}",
                f"= {d[m - 1][u - 1]:.6g}"]

    name = s.weight(ell, j, k)
    decay = t.lam and k > 0
    n_sym = "m" if t.notation == "theta" else "n"
    decay_sym = f" + (λ/{n_sym}) {name}" if decay else ""
    decay_num = f" + ({t.lam:g}/1) × {_n(W[ell - 1][j - 1, k - 1])}" if decay else ""
    input_sym, input_num = ("1", "1") if k == 0 else (s.a(ell - 1, k), _n(a[ell - 1][k - 1]))
    value = (d[ell - 1][j - 1] * (1.0 if k == 0 else a[ell - 1][k - 1])
             + (t.lam * W[ell - 1][j - 1, k - 1] if decay else 0))
    engine = t._engine.gb[ell - 1][j - 1] if k == 0 else t._engine.gW[ell - 1][j - 1, k - 1]
    engine = float(engine)
    agree = abs(value - engine) <= t.tolerance

    grad = f"∂{c}/∂{name}"
    why = "the bias unit's input is 1" if k == 0 else "the input on the weight"
    out = [_Line(0, [f"One weight's chain rule ({t.notation} notation; units counted from 1, unit 0 = the bias "
                     f"unit): ", Math(grad)], heading=True),
           _Line(1, Math(f"{grad} = {input_sym} · {s.delta(ell, j)}{decay_sym}"),
                 note=f"{why} × the error at its neuron" + (", plus the weight-decay term" if decay else ""))]
    if ell < L:        # one more step: the error as the sum over the paths through the next layer
        paths = [f"{s.delta(ell + 1, i)} {s.weight(ell + 1, i, j)}" for i in range(1, sizes[ell + 1] + 1)]
        factor = "" if linear(ell) else f" · {fp_symbol(ell, j)}"
        out.append(_Line(1, Math(f"{' ' * len(grad)} = ({_terms(paths)}){factor} · {input_sym}{decay_sym}"),
                         note=f"summing over the {sizes[ell + 1]} paths through layer {s.layer(ell + 1)}"))
    first = delta_lines(ell, j)
    out.append(_Line(1, Math(f"{' ' * len(grad)} = {first[1][2:]} × {input_num}{decay_num}")))
    out.append(_Line(1, Math(f"{' ' * len(grad)} = {value:.6g}")))
    out += [_Line(0, ""), _Line(0, "where, from the output back:" if ell < L else "where:")]
    for m in range(L, ell, -1):
        for u in range(1, sizes[m] + 1):
            if len(range(sizes[m])) > MAX_TERMS and 3 <= u < sizes[m]:
                if u == 3:
                    out.append(_Line(1, Math(f"… (δ of units 3 … {sizes[m] - 1} of layer {s.layer(m)} alike)")))
                continue
            rule, nums, val = delta_lines(m, u)
            out.append(_Line(1, Math(f"{rule} {nums} {val}"), note="output layer" if m == L else ""))
    rule, nums, val = first
    if not linear(ell):
        out.append(_Line(1, Math(f"{fp_symbol(ell, j)} = {fprime(ell, j):.6g}"), note=_fprime_rule(t, ell)))
    out.append(_Line(1, Math(f"{rule} {nums} {val}"), note="the error at the weight's neuron"))
    verdict = "AGREE" if agree else "DISAGREE"
    out += [_Line(0, ""), _Line(0, ["Check: the engine's backward() gives ", Math(f"{grad} = {engine:.6g}"),
                                    f"; the chain above and backward() {verdict} (difference "
                                    f"{abs(value - engine):.2g}, tolerance {t.tolerance:.1g})"])]
    return EntryDerivation(t.notation, name, float(value), engine, agree, out, t)


def _fprime_rule(t: LayerTrace, ell: int) -> str:
    act = t.layers[ell - 1].activation
    return {"sigmoid": "sigmoid: f'(z) = f(z)(1 − f(z))", "tanh": "tanh: f'(z) = 1 − f(z)²",
            "relu": "relu: f'(z) = 1 where z > 0, else 0"}.get(
        act, f"the derivative of {act}")
