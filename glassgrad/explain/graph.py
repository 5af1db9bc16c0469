"""Graph view: the gates that produced a tensor, with every forward value and every gradient
(docs/backprop.md#gates-and-worked-examples).

``graph(f)`` walks the recorded nodes from ``f`` back to the leaves and, unless ``backward=False``, runs
the ordinary backward pass once more with an observer (``retain_graph=True``, ``inputs=`` capture, so
no ``.grad`` is touched). Where an input was broadcast, the gradient the gate returns is larger than the
input and the engine sums it back (``engine.sum_to``); the observer sees the gradient *before* that sum,
so the view can show the step on the edge: "Σ over axis 0: (64, 10) → (10,)".

Outputs: ``to_dot()`` (Graphviz text), ``to_svg()`` and ``save("g.svg" | "g.png")`` through the ``dot``
program, and ``draw_svg()`` / ``to_html()`` drawn by glassgrad itself, which need nothing installed.
``reverse=True`` draws the backward pass as the notes' reverse network: the edges run from the output
to the leaves and each gate is labelled with the local derivative it multiplies by.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from glassgrad import engine
from glassgrad._backend import ndarray, xp
from glassgrad.device import array_module, to_device, to_host
from glassgrad.explain.markup import escape
from glassgrad.files import write_atomically
from glassgrad.tensor import Tensor, TensorLike

if TYPE_CHECKING:      # for annotations only
    from glassgrad.nn import Module

# What each gate multiplies the incoming gradient by, in the notes' words (the reverse view's labels).
LOCAL_RULES = {
    "add": "× 1 to each input (copies)", "sub": "× 1, × −1", "mul": "× the other input (swaps)",
    "div": "× 1/y, × −x/y²", "neg": "× −1", "pow": "× y·x^(y−1)", "exp": "× e^x", "log": "× 1/x",
    "sqrt": "× 1/(2√x)", "reciprocal": "× −1/x²", "abs": "× sign(x)",
    "sigmoid": "× f'(z) = σ(z)(1 − σ(z))", "tanh": "× f'(z) = 1 − tanh²(z)", "relu": "× f'(z) = [z > 0]",
    "leaky_relu": "× f'(z) = 1 or slope", "elu": "× f'(z) = 1 or α e^z", "softplus": "× f'(z) = σ(z)",
    "maximum": "routes to the larger input", "minimum": "routes to the smaller input",
    "clip": "passes inside [min, max]", "where": "follows the condition",
    "matmul": "A @ B: g Bᵀ to A, Aᵀ g to B", "linear": "g W (BP2), gᵀ x (BP4), Σ g (BP3)",
    "sum": "copies back to every summed entry", "mean": "× 1/n back to every entry",
    "cross_entropy": "softmax(z) − y", "reshape": "reshapes back", "transpose": "transposes back",
}
ACTIVATIONS = {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus"}
ELEMENTWISE_UNARY = ACTIVATIONS | {"exp", "log", "sqrt", "reciprocal", "abs", "neg"}
ELEMENTWISE_BINARY = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}


class GraphvizNotFound(RuntimeError):
    """The ``dot`` program is needed for this output and is not installed."""


# --------------------------------------------------------------------------------------------------
# The view: nodes and edges
# --------------------------------------------------------------------------------------------------
@dataclass
class GraphNode:
    """A gate (kind "op"), a leaf tensor ("leaf") or a constant ("const")."""

    id: str
    kind: str
    label: str                  # gate name, leaf name, or "const"
    value: object               # the forward value (array)
    grad: object = None         # ∂f/∂(this value) after backward, else None
    local: str | None = None    # reverse view: what this gate multiplies the gradient by
    depth: int = 0              # column of the drawing: leaves left, the output right

    def lines(self, reverse: bool = False) -> list[str]:
        """The text of the node's box."""
        head = [self.label]
        out = _summary_lines("=", self.value)
        grad = [] if self.grad is None else _summary_lines("grad", self.grad)
        local = [self.local] if reverse and self.local else []
        return head + out + local + grad


@dataclass
class GraphEdge:
    """``src`` feeds input number ``slot`` of the gate ``dst``."""

    src: str
    dst: str
    slot: int
    grad: object = None          # the gradient passed back along this edge (after any Σ)
    summed: str | None = None    # "Σ over axis 0: (64, 10) → (10,)" when broadcasting is undone here
    local: object = None         # reverse view of a two-input elementwise gate: ∂out/∂input
    shared: bool = False         # src feeds several gates: this edge carries only part of its gradient

    def label(self, reverse: bool) -> str:
        """The edge's label: a summed broadcast, and in the reverse view the local derivative or shared gradient."""
        parts = [self.summed] if self.summed else []
        if reverse and self.local is not None:
            parts.append("× " + _short(self.local))
        if reverse and self.shared and self.grad is not None:
            parts.append("grad " + _short(self.grad))
        return "\n".join(parts)


@dataclass
class GraphView:
    """The graph of one tensor: ``nodes`` in forward order (inputs before the gates that use them)."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    reverse: bool = False
    title: str = "glassgrad graph"
    has_gradients: bool = False     # backward ran: nodes and edges carry gradients
    _uid: str = field(default="", repr=False)

    def node(self, node_id: str) -> GraphNode:
        """The node with id ``node_id``."""
        return next(n for n in self.nodes if n.id == node_id)

    def inputs_of(self) -> dict[str, list[GraphEdge]]:
        """Each gate's incoming edges, in input order."""
        into: dict[str, list[GraphEdge]] = {}
        for e in sorted(self.edges, key=lambda e: e.slot):
            into.setdefault(e.dst, []).append(e)
        return into

    @property
    def ops(self) -> list[str]:
        """The gate names in forward order."""
        return [n.label for n in self.nodes if n.kind == "op"]

    def __str__(self) -> str:
        lines, into = [], self.inputs_of()
        for n in self.nodes:
            ins = [e.src for e in into.get(n.id, [])]
            text = " | ".join(n.lines(self.reverse))
            lines.append(f"{n.id}: {text}" + (f"  ← {', '.join(ins)}" if ins else ""))
        lines += [f"{e.src} → {e.dst}: {e.summed}" for e in self.edges if e.summed]
        return "\n".join(lines)

    # ---- Graphviz ------------------------------------------------------------------------------
    def to_dot(self) -> str:
        """The graph as Graphviz DOT text (``dot -Tsvg g.dot > g.svg``)."""
        style = {"op": 'shape=box, style="rounded,filled", fillcolor="#dde8f8"',
                 "leaf": 'shape=ellipse, style=filled, fillcolor="#d8f0d8"',
                 "const": 'shape=box, style=filled, fillcolor="#eeeeee"'}
        out = [f"digraph {_dot_id(self.title)} {{", "  rankdir=LR;",
               '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];']
        out += [f'  {n.id} [{style[n.kind]}, label="{_dot_text(chr(10).join(n.lines(self.reverse)))}"];'
                for n in self.nodes]
        for e in self.edges:
            a, b = (e.dst, e.src) if self.reverse else (e.src, e.dst)
            attrs = [f'label="{_dot_text(e.label(self.reverse))}"']
            if e.summed:
                attrs.append('color="#d9822b", fontcolor="#d9822b"')
            if _no_gradient(self, e):
                attrs.append("style=dashed")
            out.append(f"  {a} -> {b} [{', '.join(attrs)}];")
        return "\n".join(out + ["}"]) + "\n"

    def to_svg(self) -> str:
        """SVG laid out by Graphviz's ``dot`` (GraphvizNotFound when it is missing: use ``draw_svg()``)."""
        return _run_dot(self.to_dot(), "svg").decode("utf-8")

    # ---- glassgrad's own drawing -----------------------------------------------------------------
    def draw_svg(self, standalone: bool = True) -> str:
        """SVG drawn by glassgrad (no Graphviz): columns by depth from the leaves, edges as curves."""
        return _draw(self, standalone)

    def to_html(self) -> str:
        """A self-contained HTML page with the inline SVG: no scripts, no network, no Graphviz."""
        legend = ("Backward pass as the reverse network: gradients flow from the output (left) to the "
                  "leaves (right); each gate shows the local derivative it multiplies by."
                  if self.reverse else "Forward pass from the leaves (left) to the output (right); "
                  "each box shows its value (=) and, after backward, its gradient (grad).")
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{escape(self.title)}</title>"
                "<style>body{font-family:sans-serif;margin:1.5em}p{color:#444;max-width:60em}"
                "svg{max-width:100%;height:auto}</style>"      # a wide graph scales to the window
                f"</head><body><h2>{escape(self.title)}</h2><p>{escape(legend)} Orange edges: "
                "a broadcast input's gradient summed back to its shape.</p>\n"
                f"{self.draw_svg(standalone=False)}\n</body></html>\n")

    def save(self, path: str | os.PathLike) -> Path:
        """Write .dot/.gv (DOT text), .html (own drawing) or .svg/.png/.pdf (through Graphviz)."""
        path = Path(path)
        kind = path.suffix.lower().lstrip(".")
        if kind in ("dot", "gv"):
            return write_atomically(path, self.to_dot())
        if kind in ("html", "htm"):
            return write_atomically(path, self.to_html())
        if kind in ("svg", "png", "pdf"):
            return write_atomically(path, _run_dot(self.to_dot(), kind))
        raise ValueError(f"save: unknown file type {path.suffix!r}; use .html, .dot, .svg, .png or .pdf")

    # ---- notebooks ---------------------------------------------------------------------------------
    def _repr_svg_(self) -> str:
        return self.draw_svg()

    def _repr_html_(self) -> str:
        return self.draw_svg(standalone=False)


def _run_dot(dot_text: str, fmt: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound(f"writing {fmt.upper()} needs Graphviz's 'dot' program, which is not installed "
                               "(e.g. apt install graphviz). Without it use .to_html() / save('graph.html') "
                               "or .draw_svg(), drawn by glassgrad itself, or save the .dot text.")
    done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _dot_id(text: str) -> str:
    return '"' + _dot_text(text) + '"'


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --------------------------------------------------------------------------------------------------
# Number summaries
# --------------------------------------------------------------------------------------------------
def _num(v: float) -> str:
    return f"{float(v):.4g}"


def _short(a) -> str:
    """One line: the number, a few numbers, or the shape with the mean (from any device: shown on the host)."""
    a = to_host(a)
    if a.size == 1:
        return _num(a.reshape(-1)[0])
    if a.size <= 4:
        return "[" + ", ".join(_num(v) for v in a.reshape(-1)) + "]"
    return f"{a.shape} μ {_num(a.mean())}"


def _summary_lines(prefix: str, a) -> list[str]:
    """Scalars: the number; small arrays: the numbers; others: shape, dtype, mean/std/min/max (on the host)."""
    a = to_host(a)
    if a.size <= 4:
        return [f"{prefix} {_short(a)}"]
    if a.dtype.kind not in "fiub":
        return [f"{prefix} {a.shape} {a.dtype}"]
    f = a.astype(xp.float64)
    return [f"{prefix} {a.shape} {a.dtype}",
            f"  μ {_num(f.mean())} σ {_num(f.std())}", f"  min {_num(f.min())} max {_num(f.max())}"]


def _summed_axes(grad_shape: tuple, shape: tuple) -> tuple:
    """The axes ``engine.sum_to`` sums over: the leading ones, and those where the input had size 1."""
    lead = len(grad_shape) - len(shape)
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad_shape[lead + i] != 1)


def _sum_note(grad_shape: tuple, shape: tuple) -> str:
    axes = _summed_axes(grad_shape, shape)
    which = f"axis {axes[0]}" if len(axes) == 1 else "axes " + ", ".join(map(str, axes))
    return f"Σ over {which}: {tuple(grad_shape)} → {tuple(shape)}"


# --------------------------------------------------------------------------------------------------
# Building the view
# --------------------------------------------------------------------------------------------------
FREED = ("graph: this tensor's graph was freed by an earlier backward(); build the view before calling "
         "backward(), or call backward(retain_graph=True)")


def _forward_order(root: engine.Node) -> list[engine.Node]:
    """The nodes reachable from ``root``, each after the nodes that feed it."""
    return engine.forward_order(root, FREED)


class _Builder:
    """Turns engine nodes into GraphNodes and GraphEdges, then fills in the gradients."""

    def __init__(self, names: dict | None = None):
        self.names = names or {}     # id(parameter) → its name for people (W^1, b^1, …)
        self.nodes: list[GraphNode] = []
        self.edges: list[GraphEdge] = []
        self.ids: dict = {}          # engine node or id(leaf tensor) → view node id
        self.leaves: list[Tensor] = []

    def add(self, key, kind: str, label: str, value) -> str:
        node_id = f"n{len(self.nodes)}"
        self.nodes.append(GraphNode(node_id, kind, label, value))
        if key is not None:
            self.ids[key] = node_id
        return node_id

    def source(self, t) -> str:
        """The view node of one gate input: an earlier gate, a leaf or a constant."""
        if isinstance(t, Tensor) and t.grad_fn is not None:
            return self.ids[t.grad_fn]
        if isinstance(t, Tensor):
            if id(t) not in self.ids:
                kind = "leaf" if t.requires_grad else "const"
                label = t.name or self.names.get(id(t)) or ("leaf" if t.requires_grad else "const")
                self.add(id(t), kind, label, t.data)
                if t.requires_grad:
                    self.leaves.append(t)
            return self.ids[id(t)]
        return self.add(None, "const", "const", to_host(t))

    def build(self, order: list[engine.Node]) -> None:
        for node in order:
            srcs = [self.source(t) for t in node.inputs]
            dst = self.add(node, "op", node.gate.name, node.out)
            self.edges += [GraphEdge(s, dst, slot) for slot, s in enumerate(srcs)]
        uses: dict[str, int] = {}
        for e in self.edges:
            uses[e.src] = uses.get(e.src, 0) + 1
        for e in self.edges:
            e.shared = uses[e.src] > 1     # its gradient is a sum: show each part on its edge


def _parameter_names(model) -> dict[int, str]:
    from glassgrad.explain.notation import parameter_label, parameter_names

    linear = parameter_names(model)
    return {id(p): parameter_label(*linear[path]) if path in linear else path
            for path, p in model.named_parameters()}


def graph(result: Tensor, backward: bool = True, reverse: bool = False, grad: TensorLike | None = None,
          title: str | None = None, model: Module | None = None) -> GraphView:
    """The graph of gates that produced ``result``, with forward values and (``backward=True``) gradients.

    ``grad`` is the gradient of some scalar w.r.t. ``result`` (default: ones, i.e. of ``result.sum()``).
    The backward pass keeps the graph and leaves every ``.grad`` alone. ``reverse=True`` labels the view
    as the notes' reverse network (edges from the output to the leaves, local derivatives on the gates).
    With ``model``, its unnamed parameters are labelled as the notes name them: W^l and b^l for the l-th
    Linear layer (1-based), the module path (``"3.weight"``) for any other parameter.
    """
    view, b = forward_view(result, reverse, title, model)
    if backward and result.requires_grad:
        _fill_gradients(view, b, result, grad)
    _fill_locals(view, b)
    _place(view)
    return view


def forward_view(result: Tensor, reverse: bool = False, title: str | None = None,
                 model: Module | None = None) -> tuple[GraphView, _Builder]:
    """The view's nodes and edges with forward values only, and the builder that maps each engine node
    (and ``id(leaf)``) to its view id (``builder.ids``): for views that add their own gradients."""
    if not isinstance(result, Tensor):
        raise TypeError(f"graph: expected a Tensor, got {type(result).__name__}")
    b = _Builder(_parameter_names(model) if model is not None else None)
    if result.grad_fn is None:
        b.source(result)
    else:
        b.build(_forward_order(result.grad_fn))
    return GraphView(b.nodes, b.edges, reverse, title or "glassgrad graph", _uid=f"gg{id(b):x}"), b


def _fill_gradients(view: GraphView, b: _Builder, result: Tensor, grad) -> None:
    """Run backward once more with an observer: gradients of every gate output, edge and leaf."""
    if grad is None:
        seed = array_module(result.data).ones_like(result.data)
    else:        # on the result's device, wherever the given gradient is
        given = grad.data if isinstance(grad, Tensor) else grad
        seed = to_device(array_module(given).asarray(given, dtype=result.dtype), result.device)
    if seed.shape != result.shape:
        raise ValueError(f"graph: grad has shape {seed.shape} but the result has shape {result.shape}")
    seen: dict[engine.Node, tuple[ndarray, Sequence[ndarray | None]]] = {}
    leaf_grads = engine.backward(result, seed, retain_graph=True, inputs=b.leaves,
                                 observer=lambda node, g, grads: seen.__setitem__(node, (g, grads)))
    view.has_gradients = True
    by_id, into = {n.id: n for n in view.nodes}, view.inputs_of()
    for node, (g, grads) in seen.items():
        by_id[b.ids[node]].grad = g
        for e, t, gi in zip(into[b.ids[node]], node.inputs, grads):
            if gi is None:
                continue
            if gi.shape != t.shape:    # a broadcast input: the engine sums the gradient back (sum_to)
                e.summed = _sum_note(gi.shape, t.shape)
                gi = engine.sum_to(gi, t.shape)
            e.grad = gi
    for t, g in zip(b.leaves, leaf_grads):
        by_id[b.ids[id(t)]].grad = g
    if result.grad_fn is None:
        by_id[b.ids[id(result)]].grad = seed


def _fill_locals(view: GraphView, b: _Builder) -> None:
    """The local derivative of each gate: a rule in words, with values for elementwise gates."""
    by_id, into = {n.id: n for n in view.nodes}, view.inputs_of()
    for node, node_id in b.ids.items():
        if not isinstance(node, engine.Node):
            continue
        name, single = node.gate.name, _single_elementwise(node)
        rule = "× f'(z)" if single else LOCAL_RULES.get(name, "× its local derivative (VJP)")
        by_id[node_id].local = rule
        if name in ELEMENTWISE_UNARY or single:          # one input: the node carries f'(z)
            by_id[node_id].local = f"{rule} = {_short(_unit_locals(node)[0])}"
        elif name in ELEMENTWISE_BINARY:                 # two inputs: each edge carries its own factor
            for e, unit in zip(into[node_id], _unit_locals(node)):
                e.local = unit


def _single_elementwise(node: engine.Node) -> bool:
    """A custom gate (gg.Function, nn.Activation) with one input of the output's shape: f'(z) applies."""
    from glassgrad.function import _FunctionGate
    tensors = [t for t in node.inputs if isinstance(t, Tensor)]
    return (isinstance(node.gate, _FunctionGate) and len(node.inputs) == 1 and len(tensors) == 1
            and tensors[0].shape == node.out.shape)


def _unit_locals(node: engine.Node) -> list:
    """∂out/∂input elementwise: the gate's VJPs applied to a gradient of ones."""
    needs = [isinstance(t, Tensor) and t.requires_grad for t in node.inputs]
    with xp.errstate(all="ignore"):     # e.g. ∂(x^y)/∂y = x^y log x at x < 0: nan, shown as such
        return node.gate.input_grads(xp.ones_like(node.out), node.out, node.arrays, node.params, needs)


def _place(view: GraphView) -> None:
    """Depths for the drawing: a gate one column right of its deepest input; a leaf or constant one
    column left of its first consumer, so inputs sit next to the gates that use them."""
    depth: dict[str, int] = {}
    consumers: dict[str, list[str]] = {}
    for e in view.edges:
        consumers.setdefault(e.src, []).append(e.dst)
    inputs: dict[str, list[str]] = {}
    for e in view.edges:
        inputs.setdefault(e.dst, []).append(e.src)
    for n in view.nodes:                       # forward order: inputs first
        depth[n.id] = 1 + max((depth[s] for s in inputs.get(n.id, [])), default=-1)
    for n in view.nodes:
        if n.kind != "op" and n.id in consumers:
            depth[n.id] = min(depth[c] for c in consumers[n.id]) - 1
    for n in view.nodes:
        n.depth = depth[n.id]


# --------------------------------------------------------------------------------------------------
# glassgrad's own drawing: columns by depth, boxes of text, curved edges (no Graphviz, no scripts)
# --------------------------------------------------------------------------------------------------
CHAR_W, LINE_H, PAD, GAP_X, GAP_Y = 6.7, 14, 8, 120, 22
FILL = {"op": "#dde8f8", "leaf": "#d8f0d8", "const": "#eeeeee"}
EDGE, SUMMED = "#667", "#d9822b"     # ordinary edges; edges where a broadcast gradient is summed back


def _columns(view: GraphView) -> list[list[GraphNode]]:
    """Nodes by column (the reverse view puts the output on the left), ordered to reduce crossings:
    each node sits near the average row of its neighbours in the columns already placed."""
    top = max((n.depth for n in view.nodes), default=0)
    cols: list[list[GraphNode]] = [[] for _ in range(top + 1)]
    for n in view.nodes:
        cols[top - n.depth if view.reverse else n.depth].append(n)
    col_of = {n.id: i for i, col in enumerate(cols) for n in col}
    links: dict[str, list[str]] = {}
    for e in view.edges:
        links.setdefault(e.src, []).append(e.dst)
        links.setdefault(e.dst, []).append(e.src)
    for sweep in (range(len(cols)), reversed(range(len(cols)))):
        row = {n.id: i for col in cols for i, n in enumerate(col)}
        for c in sweep:
            def centre(n, c=c, row=row):      # used at once by sort: binds this sweep's rows
                near = [row[m] for m in links.get(n.id, []) if col_of[m] != c]
                return sum(near) / len(near) if near else row[n.id]
            cols[c].sort(key=centre)
            row.update({n.id: i for i, n in enumerate(cols[c])})
    return cols


def _draw(view: GraphView, standalone: bool) -> str:
    cols = _columns(view)
    text = {n.id: n.lines(view.reverse) for n in view.nodes}
    size = {k: (max(len(s) for s in v) * CHAR_W + 2 * PAD, len(v) * LINE_H + 2 * PAD - 4) for k, v in text.items()}
    col_of = {n.id: i for i, col in enumerate(cols) for n in col}
    gaps: list[float] = [GAP_X] * len(cols)         # each gap as wide as the widest edge label drawn in it
    for e in view.edges:
        label = e.label(view.reverse)
        if label:
            c = min(col_of[e.src], col_of[e.dst])
            gaps[c] = max(gaps[c], max(len(s) for s in label.split("\n")) * CHAR_W + 30)
    heights = [sum(size[n.id][1] for n in col) + GAP_Y * (len(col) - 1) for col in cols]
    total_h = max(heights, default=0) + 2 * GAP_Y
    pos: dict[str, tuple[float, float, float, float, float]] = {}
    x: float = GAP_Y
    for col, h, gap in zip(cols, heights, gaps):
        width = max((size[n.id][0] for n in col), default=0)
        y = (total_h - h) / 2
        for n in col:
            w, hh = size[n.id]
            pos[n.id] = (x + (width - w) / 2, y, w, hh, x + width + gap / 2)   # last: where labels go
            y += hh + GAP_Y
        x += width + gap
    total_w = x - gaps[-1] + GAP_Y if cols else 2 * GAP_Y
    xmlns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    out = [f'<svg{xmlns} width="{total_w:.0f}" height="{total_h:.0f}" viewBox="0 0 {total_w:.0f} {total_h:.0f}" '
           'font-family="monospace" font-size="11">',
           "<defs>" + "".join(f'<marker id="{view._uid}{k}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
                              f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>'
                              for k, c in (("a", EDGE), ("s", SUMMED))) + "</defs>"]
    twins: dict[tuple, list[GraphEdge]] = {}     # parallel edges (x * x): drawn apart, labels stacked
    for e in view.edges:
        twins.setdefault((e.src, e.dst), []).append(e)
    out += [_svg_edge(view, e, pos, twins[e.src, e.dst].index(e), len(twins[e.src, e.dst])) for e in view.edges]
    out += [_svg_node(n, text[n.id], pos[n.id]) for n in view.nodes]
    return "\n".join(out + ["</svg>"])


def _no_gradient(view: GraphView, e: GraphEdge) -> bool:
    """In the reverse view an edge into a constant carries no gradient: drawn dashed."""
    return view.reverse and view.has_gradients and e.grad is None


def _bezier(p0, p1, p2, p3, t):
    return tuple((1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c + t ** 3 * d
                 for a, b, c, d in zip(p0, p1, p2, p3))


def _svg_edge(view: GraphView, e: GraphEdge, pos: dict, k: int = 0, parallel: int = 1) -> str:
    a, b = (pos[e.src], pos[e.dst]) if pos[e.src][0] < pos[e.dst][0] else (pos[e.dst], pos[e.src])
    shift = (k - (parallel - 1) / 2) * 8
    p0, p3 = (a[0] + a[2], a[1] + a[3] / 2 + shift), (b[0], b[1] + b[3] / 2 + shift)
    dx = (p3[0] - p0[0]) / 2
    p1, p2 = (p0[0] + dx, p0[1]), (p3[0] - dx, p3[1])
    colour, marker = (SUMMED, "s") if e.summed else (EDGE, "a")
    dash = ' stroke-dasharray="4 3"' if _no_gradient(view, e) else ""
    parts = [f'<path d="M{p0[0]:.1f},{p0[1]:.1f} C{p1[0]:.1f},{p1[1]:.1f} {p2[0]:.1f},{p2[1]:.1f} '
             f'{p3[0]:.1f},{p3[1]:.1f}" fill="none" stroke="{colour}" stroke-width="1.3"{dash} '
             f'marker-end="url(#{view._uid}{marker})"/>']
    label = e.label(view.reverse)
    if label:
        lo, hi = 0.0, 1.0                 # the label sits on the curve, in the gap right of the left node
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _bezier(p0, p1, p2, p3, mid)[0] < a[4] else (lo, mid)
        mx, my = _bezier(p0, p1, p2, p3, lo)
        lines = label.split("\n")
        my += (k - (parallel - 1) / 2) * (LINE_H * len(lines) + 10) - LINE_H * (len(lines) - 1) / 2 - 3
        parts += [f'<text x="{mx:.1f}" y="{my + i * LINE_H:.1f}" text-anchor="middle" fill="{colour}" '
                  f'stroke="white" stroke-width="3" paint-order="stroke">{escape(line, quote=False)}</text>'
                  for i, line in enumerate(lines)]
    return "\n".join(parts)


def _svg_node(n: GraphNode, lines: list[str], box: tuple) -> str:
    x, y, w, h = box[:4]
    rx = h / 2 if n.kind == "leaf" else 6
    parts = [f'<g class="{n.kind}" data-node="{n.id}">'
             f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx:.1f}" '
             f'fill="{FILL[n.kind]}" stroke="#556"/>']
    for i, line in enumerate(lines):
        weight = ' font-weight="bold"' if i == 0 else ""
        parts.append(f'<text x="{x + w / 2:.1f}" y="{y + PAD + 7 + i * LINE_H:.1f}" text-anchor="middle"{weight}>'
                     f'{escape(line, quote=False)}</text>')
    return "\n".join(parts + ["</g>"])
