"""Neuron-level pictures of a small network, as the notes draw them (docs/backprop.md#the-four-equations).

``neuron_view(t)`` takes a ``LayerTrace`` of one example and draws

* the **forward network**: one ellipse per neuron holding its weighted input z and activation a (x_k for
  the inputs), the weights on the edges, and the cost as a single node fed by the output layer;
* the **reverse network** (Lee's picture of the backward pass): one triangle per neuron that multiplies
  what arrives, ∂C/∂a, by the constant f'(z) fixed in the forward pass, giving δ = ∂C/∂z; ∂C/∂a^L enters at
  the output from the cost node, and every δ travels back along the same edges, multiplied by their weights,
  to be summed at the neurons of the layer before.

Names and numbers follow the trace's notation (lfd's δ is twice nndl's, its cost being (x − y)²). A layer
wider than ``MAX_UNITS`` is drawn as one box with a summary of its values; edges between two drawn layers
carry their weights as labels when both layers have at most ``LABELLED_UNITS`` units, and otherwise show
the weight by colour (sign) and width (size) with the value in the edge's tooltip. The SVG scales to the
width of its window (``width: 100%``), so the page never scrolls sideways.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glassgrad.explain.markup import escape
from glassgrad.explain.notation import Symbols, layer_label
from glassgrad.files import write_atomically

if TYPE_CHECKING:      # for annotations only
    from glassgrad.explain.trace import LayerTrace

MAX_UNITS = 10          # wider layers are summarised in one box
LABELLED_UNITS = 4      # weights written on the edges when both layers have at most this many units
COLUMN_GAP = 240        # px between layer columns
TOP = 64                # room for the layer titles


_e = escape


def _num(v) -> str:
    return f"{v:.3g}".replace("-", "−")


@dataclass
class _Column:
    title: str
    units: int
    x: float
    ys: list[float]            # one per drawn unit; one centre for a summarised layer

    @property
    def summarised(self) -> bool:
        return self.units > MAX_UNITS


class NeuronView:
    """The forward and reverse neuron pictures of one traced example; ``save(path)`` writes .html or .svg."""

    def __init__(self, t: LayerTrace) -> None:
        if t.n != 1:
            raise ValueError(f"neuron_view: the picture shows one example's numbers; trace one example, not {t.n}")
        self.t = t
        self.s = Symbols(t.notation)
        p = t._pass
        self.sizes = [p.x.shape[1]] + [len(b) for b in p.b]
        self.L = len(self.sizes) - 1
        self.a = [row[0] for row in p.a]
        self.z = [row[0] for row in p.z]
        self.d = [row[0] for row in p.delta]
        self.W = p.W
        self.fp = [layer.act.df(self.z[m]) for m, layer in enumerate(t._net)]

    # ---- layout --------------------------------------------------------------------------------------
    def _columns(self, spacing: float) -> tuple[list[_Column], float]:
        tallest = max(min(n, MAX_UNITS) if n <= MAX_UNITS else 2 for n in self.sizes)
        height = TOP + tallest * spacing + 20
        cols = []
        for m, n in enumerate(self.sizes):
            title = "input layer" if m == 0 else layer_label(m, self.L)
            x = 70 + m * COLUMN_GAP
            if n > MAX_UNITS:
                cols.append(_Column(title, n, x, [TOP + (height - TOP - 20) / 2]))
            else:
                top = TOP + (height - TOP - 20 - n * spacing) / 2
                cols.append(_Column(title, n, x, [top + (k + 0.5) * spacing for k in range(n)]))
        return cols, height

    # ---- pictures ------------------------------------------------------------------------------------
    def forward_svg(self) -> str:
        """The forward network: z and a in each neuron, weights on the edges, the cost as one node."""
        return self._svg(reverse=False)

    def reverse_svg(self) -> str:
        """Lee's reverse network: × f'(z) triangles, ∂C/∂a entering at the output, δ back along the weights."""
        return self._svg(reverse=True)

    def _svg(self, reverse: bool) -> str:
        cols, height = self._columns(spacing=112 if reverse else 84)
        cost_x = cols[-1].x + COLUMN_GAP * 0.85
        out = [_svg_open(cost_x + 110, height, "reverse network" if reverse else "forward network")]
        out += self._titles(cols, "backward: δ = ∂C/∂a × f'(z), ∂C/∂a = Σ w·δ of the next layer" if reverse
                            else "forward: z = Σ w·a + b, a = f(z)")
        for m in range(2 if reverse else 1, self.L + 1):      # the reverse network stops at the first layer's δ
            out += self._edges(cols[m - 1], cols[m], m, reverse)
        for m, col in enumerate(cols):
            if reverse and m > 0:
                out += self._reverse_units(m, col)
            elif not reverse:
                out += self._forward_units(m, col)
        out += self._cost_node(cols[-1], cost_x, reverse)
        return "\n".join(out + ["</svg>"])

    def _titles(self, cols: list[_Column], caption: str) -> list[str]:
        out = [_text(10, 16, caption, anchor="start", size=12, weight="bold")]
        for m, col in enumerate(cols):
            sub = f"{col.units} units" + ("" if m == 0 else f", {self.s.weights(m)} in")
            out.append(_text(col.x, 38, col.title, size=12, weight="bold"))
            out.append(_text(col.x, 53, sub, size=10, fill="#555"))
        return out

    def _forward_units(self, m: int, col: _Column) -> list[str]:
        if col.summarised:
            values = self.a[m]
            lines = [f"{col.units} units"] if m == 0 else [f"z: mean {_num(self.z[m - 1].mean())}, sd "
                                                             f"{_num(self.z[m - 1].std())}"]
            lines.append(f"{'x' if m == 0 else 'a'}: {_num(values.min())} … {_num(values.max())}")
            return _box(col.x, col.ys[0], lines)
        out = []
        for k, y in enumerate(col.ys, start=1):
            if m == 0:
                lines = [self.s.a(0, k), f"= {_num(self.a[0][k - 1])}"]
            else:
                lines = [f"z {_num(self.z[m - 1][k - 1])}", f"a {_num(self.a[m][k - 1])}"]
            name = self.s.a(m, k)
            tip = f"{name} = {self.a[m][k - 1]:.6g}"
            if m > 0:
                tip += f", {self.s.z(m, k)} = {self.z[m - 1][k - 1]:.6g}"
            out.append(f'<g class="neuron"><title>{_e(tip)}</title>'
                       f'<ellipse cx="{col.x:.1f}" cy="{y:.1f}" rx="44" ry="30" fill="#eef4ff" stroke="#3366aa"/>')
            out += [_text(col.x, y - 4 + 15 * i, line, size=11) for i, line in enumerate(lines)]
            out.append("</g>")
        return out

    def _reverse_units(self, m: int, col: _Column) -> list[str]:
        act = self.t._net[m - 1].act.name
        fp = Symbols(self.t.notation).fprime(act)
        if col.summarised:
            d = self.d[m - 1]
            return _box(col.x, col.ys[0], [f"δ: max |δ| {_num(np.abs(d).max())}", f"‖δ‖ {_num(np.linalg.norm(d))}",
                                           f"{fp}(z): {_num(self.fp[m - 1].min())} … {_num(self.fp[m - 1].max())}"])
        out = []
        cancels = m == self.L and self.t.cost != "quadratic"
        for k, y in enumerate(col.ys, start=1):
            factor = 1.0 if cancels else float(self.fp[m - 1][k - 1])
            delta = self.d[m - 1][k - 1]
            grad_a = delta / factor if factor != 0 else math.nan
            tip = (f"{self.s.delta(m, k)} = ∂{self.s.cost}/∂a × {fp}({self.s.z(m, k)}) = {grad_a:.6g} × {factor:.6g}"
                   f" = {delta:.6g}")
            x = col.x
            out.append(f'<g class="neuron"><title>{_e(tip)}</title>'
                       f'<polygon points="{x + 40:.1f},{y - 30:.1f} {x + 40:.1f},{y + 30:.1f} {x - 40:.1f},{y:.1f}" '
                       f'fill="#fff1e6" stroke="#cc6600"/>')
            out.append(_text(x + 13, y + 4, f"×{_num(factor)}", size=11))
            out.append(_text(x, y - 36, f"∂C/∂a {_num(grad_a)}" if not cancels else "δ = a − y", size=10, fill="#555",
                             halo=True))
            out.append(_text(x, y + 45, f"{self.s.delta(m, k)} = {_num(delta)}", size=11, weight="bold", halo=True))
            out.append("</g>")
        return out

    def _edges(self, src: _Column, dst: _Column, m: int, reverse: bool) -> list[str]:
        """Edges between layer m−1 (src) and layer m (dst) carrying W^m; reverse: drawn from dst back to src."""
        W = self.W[m - 1]
        colour = "#cc6600" if reverse else "#888"
        if src.summarised or dst.summarised:     # one band between the layers, the matrix named on it
            x0 = src.x + (84 if src.summarised else 46)
            x1 = dst.x - (84 if dst.summarised else 46)
            y0 = sum(src.ys) / len(src.ys)
            y1 = sum(dst.ys) / len(dst.ys)
            tip = f"{self.s.weights(m)}: {W.shape[0]}×{W.shape[1]}, ‖{self.s.weights(m)}‖ = {np.linalg.norm(W):.4g}"
            ends = (x1, y1, x0, y0) if reverse else (x0, y0, x1, y1)
            line = (f'<line x1="{ends[0]:.1f}" y1="{ends[1]:.1f}" x2="{ends[2]:.1f}" y2="{ends[3]:.1f}" '
                    f'stroke="{colour}" stroke-width="6" opacity="0.5"><title>{_e(tip)}</title></line>')
            return [line, _text((x0 + x1) / 2, (y0 + y1) / 2 - 8, f"{self.s.weights(m)} {W.shape[0]}×{W.shape[1]}",
                                size=10, halo=True, tip=tip)]
        labelled = src.units <= LABELLED_UNITS and dst.units <= LABELLED_UNITS
        big = float(np.abs(W).max()) or 1.0
        out, labels = [], []
        for j, yj in enumerate(dst.ys, start=1):
            for k, yk in enumerate(src.ys, start=1):
                w = float(W[j - 1, k - 1])
                name = self.s.weight(m, j, k)
                if reverse:            # from the tip of triangle j (layer m) to the flat side of triangle k (m−1)
                    x0, y0, x1, y1 = dst.x - 40, yj, src.x + 46, yk
                else:
                    x0, y0, x1, y1 = src.x + 44, yk, dst.x - 46, yj
                stroke = colour if labelled else ("#2b6cb0" if w >= 0 else "#c53030")
                width = 1.2 if labelled else 0.6 + 2.4 * abs(w) / big
                out.append(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{stroke}" '
                           f'stroke-width="{width:.2f}"' + (' marker-end="url(#arrow)"' if reverse else "") +
                           f'><title>{_e(f"{name} = {w:.6g}")}</title></line>')
                if labelled:           # spread along the edge by source unit so that no two labels meet
                    frac = (k if not reverse else src.units + 1 - k) / (src.units + 1)
                    t = 0.2 + 0.6 * frac if not reverse else 0.8 - 0.6 * frac
                    labels.append(_text(x0 + t * (x1 - x0), y0 + t * (y1 - y0) + 4, _num(w), size=10, halo=True,
                                        tip=f"{name} = {w:.6g}"))
        return out + labels            # labels over every edge, each with a white halo

    def _cost_node(self, out_col: _Column, cost_x: float, reverse: bool) -> list[str]:
        t, s = self.t, self.s
        sym = t.cost_symbol
        y_mid = sum(out_col.ys) / len(out_col.ys)
        kind = "quadratic" if t.cost == "quadratic" else "cross-entropy"
        value = f"{sym} = {_num(t.cost_value)}"
        out = [f'<g class="cost"><title>{_e(f"the cost, one node: {kind}, {value}")}</title>'
               f'<rect x="{cost_x - 55:.1f}" y="{y_mid - 34:.1f}" width="110" height="68" rx="10" '
               f'fill="#f3f3f3" stroke="#333"/>',
               _text(cost_x, y_mid - 12, "cost", size=11, weight="bold"),
               _text(cost_x, y_mid + 4, kind, size=10), _text(cost_x, y_mid + 20, value, size=11), "</g>"]
        if out_col.summarised:
            return out
        for j, y in enumerate(out_col.ys, start=1):
            if reverse:
                delta, fp = self.d[self.L - 1][j - 1], float(self.fp[self.L - 1][j - 1])
                grad = delta if t.cost != "quadratic" else (delta / fp if fp else math.nan)
                x0, x1 = cost_x - 56, out_col.x + 46
                label = f"{_num(grad)}"
                tip = f"∂{sym}/∂{s.a(self.L, j)} = {grad:.6g}"
                marker = ' marker-end="url(#arrow)"'
            else:
                x0, x1 = out_col.x + 44, cost_x - 56
                label, tip, marker = f"{_num(self.a[self.L][j - 1])} (y = {_num(t._pass.y[0][j - 1])})", \
                    f"{s.a(self.L, j)} = {self.a[self.L][j - 1]:.6g}, y_{j} = {t._pass.y[0][j - 1]:.6g}", ""
            ya, yb = (y_mid, y) if reverse else (y, y_mid)
            out.append(f'<line x1="{x0:.1f}" y1="{ya:.1f}" x2="{x1:.1f}" y2="{yb:.1f}" stroke="#333" '
                       f'stroke-width="1.2"{marker}><title>{_e(tip)}</title></line>')
            out.append(_text((x0 + x1) / 2, (ya + yb) / 2 - 6, label, size=10, halo=True, tip=tip))
        return out

    # ---- files ---------------------------------------------------------------------------------------
    def to_html(self, title: str = "") -> str:
        """One self-contained page with both pictures (no scripts)."""
        t = self.t
        title = title or f"{self.sizes} network, {t.notation} notation, one example"
        note = "Hover a neuron or an edge for its exact value. " + (
            "Weights are written on the edges; " if max(self.sizes) <= LABELLED_UNITS else
            "Edge colour: blue w ≥ 0, red w < 0; width: |w|; ") + (
            f"layers wider than {MAX_UNITS} units are summarised in one box.")
        return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
                f"<title>{_e(title)}</title><style>body{{font-family:sans-serif;margin:12px;max-width:100%}}"
                "svg{display:block;width:100%;height:auto;margin:8px 0 20px 0}h2{font-size:18px}"
                "p{font-size:13px;color:#333;max-width:60em}</style></head><body>"
                f"<h2>{_e(title)}</h2><p>{_e(note)}</p>"
                f"{self.forward_svg()}<p>{_e(_reverse_note(t))}</p>{self.reverse_svg()}</body></html>")

    def save(self, path: str | os.PathLike, reverse: bool = False) -> Path:
        """Write the pictures: .html (both, one page) or .svg (the forward network; ``reverse``: the reverse one)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".html", ".htm", ".svg"):
            raise ValueError(f"neuron_view: cannot write {path.name}: use .html or .svg")
        if suffix != ".svg":
            text = self.to_html()
        else:
            text = self.reverse_svg() if reverse else self.forward_svg()
        return write_atomically(path, text)

    def _repr_html_(self) -> str:
        return self.forward_svg() + self.reverse_svg()


def _reverse_note(t) -> str:
    fp = Symbols(t.notation).fprime(t.layers[0].activation)
    return (f"The reverse network: each triangle multiplies what arrives (∂C/∂a, the sum of the weighted δ coming "
            f"back from the next layer) by the constant {fp}(z) fixed in the forward pass; out comes δ = ∂C/∂z. "
            "At the output ∂C/∂a enters from the cost node. The edges are the forward edges, travelled backwards "
            "with the same weights.")


def neuron_view(t: LayerTrace) -> NeuronView:
    """The neuron-level forward and reverse pictures of a ``LayerTrace`` of one example."""
    return NeuronView(t)


def _svg_open(width: float, height: float, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" style="width:100%;max-width:{width:.0f}px;height:auto" '
            f'font-family="sans-serif" role="img" aria-label="{_e(label)}">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
            '</marker></defs>')


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11, weight: str = "normal",
          fill: str = "#111", halo: bool = False, tip: str = "") -> str:
    halo_attrs = ' stroke="white" stroke-width="4" paint-order="stroke"' if halo else ""
    title = f"<title>{_e(tip)}</title>" if tip else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
            f'fill="{fill}"{halo_attrs}>{title}{_scripts(text)}</text>')


_SCRIPT = re.compile(r"\^\(([^()]*)\)|\^\{([^{}]*)\}|\^([A-Za-z0-9]+)|_\{([^{}]*)\}|_([A-Za-z0-9]+)")


def _scripts(text: str) -> str:
    """Escaped SVG text with the views' ^(…)/^x superscripts and _{…}/_x subscripts raised and lowered."""
    out, at, shift = [], 0, 0
    for m in _SCRIPT.finditer(text):
        if m.start() > at:
            out.append(f'<tspan dy="{-shift}">{_e(text[at:m.start()])}</tspan>' if shift else _e(text[at:m.start()]))
            shift = 0
        sup = m.group(1) is not None or m.group(2) is not None or m.group(3) is not None
        body = m.group(1) if m.group(1) is not None else next(g for g in m.groups()[1:] if g is not None)
        body = f"({body})" if m.group(1) is not None else body
        target = -4 if sup else 3
        out.append(f'<tspan dy="{target - shift}" font-size="75%">{_e(body)}</tspan>')
        shift, at = target, m.end()
    rest = text[at:]
    if rest or shift:
        out.append(f'<tspan dy="{-shift}">{_e(rest)}</tspan>' if shift else _e(rest))
    return "".join(out)


def _box(x: float, y: float, lines: list[str]) -> list[str]:
    h = 18 + 14 * len(lines)
    out = [f'<rect x="{x - 80:.1f}" y="{y - h / 2:.1f}" width="160" height="{h:.1f}" rx="8" fill="#f5f5f5" '
           'stroke="#777"/>']
    return out + [_text(x, y - h / 2 + 20 + 14 * i, line, size=10) for i, line in enumerate(lines)]
