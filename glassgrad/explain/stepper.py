"""The backward stepper: the backward pass one gate at a time, in a self-contained HTML page.

``stepper(f)`` records the gates that produced the tensor ``f``, then runs the ordinary backward pass
once (``retain_graph=True``, gradients captured with ``inputs=``, so no ``.grad`` is touched) with an
observer, in the engine's own order. Each gate becomes one *backward step*:

    upstream ∂f/∂out  ×  local ∂out/∂in  =  downstream, the contribution passed to the input

and each contribution is shown being *added* to its input's gradient: a value used by several gates
(fan-out) receives one contribution per use, and the engine reaches a gate only after every consumer of
its output has passed its share down (a topological order), so each gate is asked once, with the
complete sum. A broadcast input's contribution is shown summed back to the input's shape.

There are as many backward steps as gates, and the gradients reached after the last step are the ones
``backward()`` computes. ``save("step.html")`` writes the page (graph with forward values beside the gate
table; Next/Prev buttons and the arrow keys step, forward too); ``_repr_html_`` shows it in Jupyter.
Nothing is fetched from the network: the page carries its data, style and script inline.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from glassgrad import engine
from glassgrad._backend import xp
from glassgrad.explain.graph import (
    ELEMENTWISE_BINARY,
    ELEMENTWISE_UNARY,
    LOCAL_RULES,
    GraphView,
    _place,
    _short,
    _single_elementwise,
    _sum_note,
    _unit_locals,
    forward_view,
)
from glassgrad.explain.markup import escape, json_for_script
from glassgrad.files import write_atomically
from glassgrad.tensor import Tensor


@dataclass
class Contribution:
    """One gradient passed from a gate down to one of its inputs, and its addition to that input's sum."""

    source: str              # view id of the input (a gate's output or a leaf)
    label: str               # how the page names the input: a leaf's name or "[k]" for gate k's output
    equation: str            # "upstream × local = downstream" with the numbers (or the gate's rule)
    value: object            # the contribution, after any sum over broadcast axes
    summed: str | None       # "Σ over axis 0: (3, 2) → (2,)" when the input was broadcast
    before: object           # the input's gradient before this contribution (None: the first)
    after: object            # the input's gradient after it
    arrived: int             # contributions this input has received so far
    expected: int            # contributions it receives in all (its uses that carry a gradient)


@dataclass
class BackwardStep:
    """One gate of the backward pass: the gradient arriving from above and what it passes down."""

    number: int              # 1 … number of gates, in the engine's order
    node: str                # view id of the gate
    gate: str
    forward_index: int       # the gate's number in forward order ([k] in the table)
    upstream: object         # ∂f/∂(this gate's output): the complete sum of its consumers' contributions
    contributions: list[Contribution]


@dataclass
class ForwardStep:
    """One gate of the forward pass: its inputs and the output it computes."""

    number: int
    node: str
    gate: str
    inputs: list[tuple[str, object]]     # (label, value)
    output: object


@dataclass
class Stepper:
    """The forward and backward pass of ``f`` gate by gate; ``save()`` writes the stepping page."""

    title: str
    view: GraphView
    forward_steps: list[ForwardStep]
    backward_steps: list[BackwardStep]
    gradients: dict[str, object]         # ∂f/∂leaf after the last step, by the leaf's label
    leaf_labels: dict[str, str] = field(default_factory=dict)   # view id → label, for the leaves

    def __len__(self) -> int:
        return len(self.backward_steps)

    def __str__(self) -> str:
        lines = [f"{self.title}: {len(self.forward_steps)} gates forward, {len(self)} backward steps"]
        for s in self.backward_steps:
            lines.append(f"step {s.number}: [{s.forward_index}] {s.gate}, upstream {_fmt(s.upstream)}")
            for c in s.contributions:
                lines.append(f"    to {c.label}: {c.equation}" + (f"; {c.summed}" if c.summed else ""))
                if c.expected > 1:
                    lines.append(f"      {_accumulation(c)}")
        lines += [f"∂f/∂{name} = {_fmt(g)}" for name, g in self.gradients.items()]
        return "\n".join(lines)

    def to_html(self) -> str:
        """The self-contained stepping page (inline SVG, style, data and script; no network)."""
        return _page(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` (.html)."""
        return write_page(path, self.to_html(), "stepper.save")

    def _repr_html_(self) -> str:
        # In an iframe: the page's script, style and arrow keys stay inside it and leave the notebook alone.
        return (f'<iframe srcdoc="{escape(self.to_html())}" '
                'style="width:100%;height:640px;border:1px solid #dde1e8"></iframe>')


def html_path(path: str | os.PathLike, who: str) -> Path:
    """``path`` as a Path, refused (naming ``who``) unless it ends in .html or .htm."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{who}: the page is HTML; give a .html path, not {path.name!r}")
    return path


def write_page(path: str | os.PathLike, text: str, who: str) -> Path:
    """Write a teaching page (stepper, worksheet, notebook) to ``path`` (.html); ``text`` is complete before
    the file is touched."""
    return write_atomically(html_path(path, who), text)


# --------------------------------------------------------------------------------------------------
# Building the steps
# --------------------------------------------------------------------------------------------------
SHOWN_ENTRIES = 12     # arrays up to this size are shown entry by entry; larger ones as shape and mean


def _fmt(a) -> str:
    if a is None:
        return "—"
    a = xp.asarray(a)
    if a.size == 1 or a.size > SHOWN_ENTRIES:
        return _short(a)
    return xp.array2string(a, separator=", ", max_line_width=10_000,
                           formatter={"float_kind": lambda v: f"{v:.4g}", "int_kind": str}).replace("\n", "")


def _accumulation(c: Contribution) -> str:
    done = f"({c.arrived} of {c.expected} contributions)"
    if c.before is None:
        return f"∂f/∂{c.label} = {_fmt(c.after)}  {done}"
    return f"∂f/∂{c.label} = {_fmt(c.before)} + {_fmt(c.value)} = {_fmt(c.after)}  {done}"


def _equation(node: engine.Node, upstream, raw, unit) -> str:
    """upstream × local = downstream with the numbers for elementwise gates; the rule for the others."""
    name = node.gate.name
    if name in ELEMENTWISE_UNARY or name in ELEMENTWISE_BINARY or _single_elementwise(node):
        times = "×" if xp.size(upstream) == 1 and xp.size(unit) == 1 else "⊙"
        return f"{_fmt(upstream)} {times} {_fmt(unit)} = {_fmt(raw)}"
    rule = LOCAL_RULES.get(name, "its VJP")
    return f"{name} passes down {rule}: upstream {_fmt(upstream)} → {_fmt(raw)}"


def stepper(f: Tensor, title: str | None = None) -> Stepper:
    """Step through the forward and backward pass of ``f`` (a tensor with a graph; usually a scalar cost).

    The backward pass starts from ∂f/∂f = 1 (ones for a non-scalar ``f``, i.e. of ``f.sum()``). Leaves
    are the tensors that require grad, named by their ``.name`` (or "leaf").
    """
    if not isinstance(f, Tensor):
        raise TypeError(f"stepper: expected a Tensor, got {type(f).__name__}")
    if f.grad_fn is None:
        raise ValueError("stepper: this tensor was not computed by any gate that needs a gradient "
                         "(it is a leaf or a constant): there is nothing to step through")
    view, b = forward_view(f, title=title or "glassgrad backward stepper")
    _place(view)
    nodes = [n for n in b.ids if isinstance(n, engine.Node)]
    index = {node: k + 1 for k, node in enumerate(nodes)}        # forward order, as in the gate table
    labels = {b.ids[node]: f"[{index[node]}]" for node in nodes}
    leaf_labels = {b.ids[id(t)]: t.name or "leaf" for t in b.leaves}
    labels.update(leaf_labels)
    expected: dict[str, int] = {}
    for node in nodes:
        for t, need in zip(node.inputs, node.needs):
            if need:
                key = b.ids[t.grad_fn] if t.grad_fn is not None else b.ids[id(t)]
                expected[key] = expected.get(key, 0) + 1

    forward_steps = []
    for node in nodes:
        ins = []
        for t, a in zip(node.inputs, node.arrays):
            key = None
            if isinstance(t, Tensor):
                key = b.ids.get(t.grad_fn) if t.grad_fn is not None else b.ids.get(id(t))
            ins.append((labels.get(key) or (t.name if isinstance(t, Tensor) and t.name else _fmt(a)), a))
        forward_steps.append(ForwardStep(index[node], b.ids[node], node.gate.name, ins, node.out))

    seen: list = []
    seed = xp.ones_like(f.data)
    leaf_grads = engine.backward(f, seed, retain_graph=True, inputs=b.leaves,
                                 observer=lambda node, g, grads: seen.append((node, g, grads)))
    totals: dict[str, object] = {}
    arrived: dict[str, int] = {}
    steps = []
    for number, (node, g, grads) in enumerate(seen, start=1):
        units = _unit_locals(node)
        contributions = []
        for slot, (t, a, gi) in enumerate(zip(node.inputs, node.arrays, grads)):
            if gi is None:
                continue
            key = b.ids[t.grad_fn] if t.grad_fn is not None else b.ids[id(t)]
            eq = _equation(node, g, gi, units[slot])
            summed = None
            if gi.shape != a.shape:      # the engine sums a broadcast input's gradient back (sum_to)
                summed = _sum_note(gi.shape, a.shape)
                gi = engine.sum_to(gi, a.shape)
            before = totals.get(key)
            after = gi if before is None else before + gi
            totals[key] = after
            arrived[key] = arrived.get(key, 0) + 1
            contributions.append(Contribution(key, labels[key], eq, gi, summed, before, after, arrived[key],
                                              expected[key]))
        steps.append(BackwardStep(number, b.ids[node], node.gate.name, index[node], g, contributions))
    gradients = {leaf_labels[b.ids[id(t)]]: (xp.zeros_like(t.data) if g is None else g)
                 for t, g in zip(b.leaves, leaf_grads)}
    return Stepper(view.title, view, forward_steps, steps, gradients, leaf_labels)


# --------------------------------------------------------------------------------------------------
# A small network's cost from elementary gates (the stepper's --model)
# --------------------------------------------------------------------------------------------------
def network_cost(sizes: Sequence[int] = (2, 3, 2), batch: int = 3, activation: str = "sigmoid",
                 seed: int = 0) -> Tensor:
    """C = (1/n) Σ_x ½‖a^L − y‖² of a small random network built from elementary gates (transpose, matmul,
    add, the activation), float64, so every step of the backward pass is one textbook gate; the biases
    are broadcast over the batch, so their gradients are summed back. Leaves: W1, b1, W2, b2, …"""
    from glassgrad import ops

    acts = {"sigmoid": ops.sigmoid, "tanh": ops.tanh, "relu": ops.relu}
    if activation not in acts:
        raise ValueError(f"network_cost: activation must be one of {', '.join(acts)}, not {activation!r}")
    sizes = list(sizes)
    if len(sizes) < 2 or min(sizes) < 1 or batch < 1:
        raise ValueError(f"network_cost: need at least two positive layer sizes and a positive batch, got "
                         f"sizes {sizes} and batch {batch}")
    rng = xp.random.default_rng(seed)
    a = Tensor(rng.standard_normal((batch, sizes[0])), name="x")
    y = Tensor(rng.uniform(0.05, 0.95, (batch, sizes[-1])), name="y")
    for ell, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        W = Tensor(rng.standard_normal((n_out, n_in)), requires_grad=True, name=f"W{ell}")
        bias = Tensor(rng.standard_normal(n_out), requires_grad=True, name=f"b{ell}")
        a = acts[activation](a @ W.T + bias)
    return ((a - y) ** 2).sum() * (0.5 / batch)


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------
def _page_data(s: Stepper) -> dict:
    return {
        "leaves": [{"id": k, "label": v} for k, v in s.leaf_labels.items()],
        "rows": [{"node": fs.node, "output": _fmt(fs.output)} for fs in s.forward_steps],
        "forward": [{"node": fs.node, "text": f"[{fs.number}] {fs.gate}(" + ", ".join(
                     f"{name} = {_fmt(v)}" for name, v in fs.inputs) + f") = {_fmt(fs.output)}",
                     "output": _fmt(fs.output)} for fs in s.forward_steps],
        "backward": [{"node": st.node, "index": st.forward_index, "gate": st.gate, "upstream": _fmt(st.upstream),
                      "contributions": [{"source": c.source, "label": c.label, "equation": c.equation,
                                         "summed": c.summed, "value": _fmt(c.value),
                                         "accumulation": _accumulation(c) if c.expected > 1 else None,
                                         "after": _fmt(c.after), "arrived": c.arrived, "expected": c.expected}
                                        for c in st.contributions]} for st in s.backward_steps],
    }


CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 12px 24px; }
header h1 { margin: 0; font-size: 1.3em; }
header p { margin: 4px 0 0; color: #c5cbd8; font-size: 0.9em; }
#controls { padding: 10px 24px; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
button { font-size: 1em; padding: 4px 12px; }
button.on { background: #1d2330; color: #fff; }
#counter { font-weight: bold; margin-left: 12px; }
#top { display: flex; gap: 16px; padding: 0 24px; align-items: flex-start; flex-wrap: wrap; }
#leafbox { flex: 1 1 380px; }
#panes { display: flex; gap: 16px; padding: 0 24px 24px; align-items: flex-start; flex-wrap: wrap; }
#graph { flex: 1 1 560px; overflow: auto; max-height: 75vh; background: #fff; border: 1px solid #dde1e8;
         border-radius: 6px; }
#side { flex: 1 1 420px; overflow: auto; max-height: 75vh; }
table { border-collapse: collapse; background: #fff; font-size: 0.82em; width: 100%; }
th, td { border: 1px solid #dde1e8; padding: 3px 7px; text-align: left; font-family: monospace; }
th { background: #eef1f5; font-family: system-ui, sans-serif; }
tr.active td { background: #ffe9a8; }
tr.done td.grad { color: #1b4e9b; }
g.active rect { stroke: #d33; stroke-width: 3; }
g.feeds rect { stroke: #d9822b; stroke-width: 2.5; }
#step { flex: 2 1 560px; background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 10px 14px;
        margin: 0 0 12px; font-family: monospace; min-height: 5em; white-space: pre-wrap; }
#step .head { font-family: system-ui, sans-serif; font-weight: bold; margin-bottom: 4px; }
#step .sum { color: #a15c00; } #step .acc { color: #1b6e2d; }
#grads td.grad { font-weight: bold; }
.muted { color: #6a7385; font-size: 0.9em; }
"""

SCRIPT = r"""
const D = JSON.parse(document.getElementById('gg-data').textContent);
let mode = 'backward', k = 0;
const total = () => (mode === 'backward' ? D.backward : D.forward).length;
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; return e; }
function highlight(node, feeds) {
  document.querySelectorAll('#graph g[data-node]').forEach(g => {
    g.classList.toggle('active', g.dataset.node === node);
    g.classList.toggle('feeds', feeds.includes(g.dataset.node)); });
}
function render() {
  document.getElementById('mode-forward').classList.toggle('on', mode === 'forward');
  document.getElementById('mode-backward').classList.toggle('on', mode === 'backward');
  document.getElementById('counter').textContent = `${mode} step ${k} of ${total()}`;
  const rows = {}; D.rows.forEach(r => { rows[r.node] = { out: '·', up: '·', down: '·' }; });
  const leafGrad = {}, leafParts = {}; D.leaves.forEach(l => { leafGrad[l.id] = '·'; leafParts[l.id] = []; });
  const box = document.getElementById('step'); box.textContent = '';
  let current = null, feeds = [];
  if (mode === 'forward') {
    D.forward.slice(0, k).forEach(s => { rows[s.node].out = s.output; });
    if (k > 0) { const s = D.forward[k - 1]; current = s.node;
      box.appendChild(el('div', 'head', `Forward step ${k} of ${total()}`));
      box.appendChild(el('div', 'fwd', s.text)); }
  } else {
    D.rows.forEach(r => { rows[r.node].out = r.output; });
    D.backward.slice(0, k).forEach(s => {
      rows[s.node].up = s.upstream;
      rows[s.node].down = s.contributions.map(c => `${c.label}: ${c.value}`).join('; ');
      s.contributions.forEach(c => { if (c.source in leafGrad) { leafGrad[c.source] = c.after;
        leafParts[c.source].push(c.value); } });
    });
    if (k > 0) {
      const s = D.backward[k - 1]; current = s.node; feeds = s.contributions.map(c => c.source);
      box.appendChild(el('div', 'head', `Backward step ${k} of ${total()}: gate [${s.index}] ${s.gate}`));
      const up = el('div', 'up', 'upstream ∂f/∂out = '); up.appendChild(el('span', 'upstream', s.upstream));
      box.appendChild(up);
      s.contributions.forEach(c => {
        const d = el('div', 'contrib'); d.dataset.source = c.source;
        d.appendChild(el('span', 'label', `to ${c.label}: `));
        d.appendChild(el('span', 'equation', c.equation));
        if (c.summed) { d.appendChild(el('div', 'sum', `  ${c.summed}: `)).appendChild(el('span', 'summed', c.value)); }
        if (c.accumulation) { d.appendChild(el('div', 'acc', '  ' + c.accumulation)); }
        d.appendChild(el('span', 'down', c.value)).hidden = true;
        box.appendChild(d);
      });
    } else {
      box.appendChild(el('div', 'head', 'Backward pass: press Next (→) to start from ∂f/∂f = 1 at the output.'));
    }
    if (k === total()) box.appendChild(el('div', 'acc', 'Done: every gradient is complete; these are backward()\'s.'));
  }
  document.querySelectorAll('#table tbody tr').forEach(tr => {
    const r = rows[tr.dataset.node];
    tr.querySelector('.out').textContent = r.out;
    tr.querySelector('.up').textContent = r.up;
    tr.querySelector('.down').textContent = r.down;
    tr.classList.toggle('active', tr.dataset.node === current);
  });
  document.querySelectorAll('#grads tbody tr').forEach(tr => {
    const id = tr.dataset.node;
    tr.querySelector('.grad').textContent = leafGrad[id];
    tr.querySelector('.parts').textContent = leafParts[id].length > 1 ? leafParts[id].join(' + ') : '';
  });
  highlight(current, feeds);
  document.querySelectorAll('#graph g.active, #table tr.active').forEach(
    e => e.scrollIntoView({block: 'nearest', inline: 'nearest'}));
}
function step(d) { k = Math.max(0, Math.min(total(), k + d)); render(); }
function setMode(m) { if (m !== mode) { mode = m; k = 0; render(); } }
document.getElementById('next').onclick = () => step(1);
document.getElementById('prev').onclick = () => step(-1);
document.getElementById('reset').onclick = () => { k = 0; render(); };
document.getElementById('mode-forward').onclick = () => setMode('forward');
document.getElementById('mode-backward').onclick = () => setMode('backward');
document.addEventListener('keydown', e => {
  if (e.key === 'ArrowRight' || e.key === 'ArrowDown') { step(1); e.preventDefault(); }
  if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') { step(-1); e.preventDefault(); }
});
render();
"""


def _page(s: Stepper) -> str:
    e = escape
    rows = "\n".join(f'<tr data-node="{e(fs.node)}"><td>[{fs.number}]</td><td>{e(fs.gate)}</td>'
                     f'<td>{e(", ".join(n if n[:1] == "[" else f"{n} = {_fmt(v)}" for n, v in fs.inputs))}</td>'
                     '<td class="out"></td><td class="grad up"></td><td class="grad down"></td></tr>'
                     for fs in s.forward_steps)
    leaves = "\n".join(f'<tr data-node="{e(k)}"><td>∂f/∂{e(v)}</td><td class="grad"></td><td class="parts"></td></tr>'
                       for k, v in s.leaf_labels.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(s.title)}</title>
<style>{CSS}</style></head><body>
<header><h1>{e(s.title)}</h1><p>{len(s.forward_steps)} gates. Backward: each step is one gate — the gradient from
above × the gate's local derivative = the gradient passed down, added to what its input already has.
Keys: → next, ← previous.</p></header>
<div id="controls"><button id="mode-forward">Forward pass</button><button id="mode-backward">Backward pass</button>
<button id="reset">Reset</button><button id="prev">◀ Prev</button><button id="next">Next ▶</button>
<span id="counter"></span></div>
<div id="top"><div id="step"></div>
<div id="leafbox"><table id="grads"><thead><tr><th>leaf</th><th>gradient so far</th><th>contributions added</th></tr>
</thead><tbody>
{leaves}
</tbody></table>
<p class="muted">Red: this step's gate. Orange: the inputs receiving its gradients. A value used by several gates
receives one contribution from each and they add up; the engine reaches a gate only after all of its
consumers have passed their share down (a topological order).</p></div></div>
<div id="panes"><div id="graph">{s.view.draw_svg(standalone=False)}</div>
<div id="side"><table id="table"><thead><tr><th>gate</th><th>name</th><th>inputs</th><th>output</th>
<th>∂f/∂out (upstream)</th><th>passed down</th></tr></thead><tbody>
{rows}
</tbody></table></div></div>
<script type="application/json" id="gg-data">{json_for_script(_page_data(s))}</script>
<script>{SCRIPT}</script>
</body></html>
"""
