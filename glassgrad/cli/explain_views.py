"""``glassgrad explain circuit``, ``explain neuron`` and ``explain mlp``: expressions gate by gate, and a small
network layer by layer in the learner's notation."""
from __future__ import annotations

import argparse
import sys

from glassgrad.cli.options import COUNT, NON_NEGATIVE, NON_NEGATIVE_INT, REAL, UsageError, cannot_write
from glassgrad.files import write_atomically

CIRCUIT = ("(x + y) * z", ["x=-2", "y=5", "z=-4"])   # the notes' first circuit: f = −12, ∂f/∂z = 3, ∂f/∂x = ∂f/∂y = −4


def _neuron(args) -> int:
    from glassgrad.cli import NEURON, show_neuron
    return show_neuron({k: getattr(args, k) for k in NEURON}, args.format)



def _write_graph(view, path: str) -> int:
    """Save a graph view; without Graphviz an .svg falls back to glassgrad's own drawing."""
    from glassgrad.explain.graph import GraphvizNotFound

    try:
        view.save(path)
    except GraphvizNotFound as e:
        if not path.lower().endswith(".svg"):
            raise UsageError(str(e)) from None
        try:
            write_atomically(path, view.draw_svg())
        except OSError as e:
            raise cannot_write("--graph", path, e) from None
        print("(Graphviz 'dot' is not installed: the SVG was drawn by glassgrad itself)", file=sys.stderr)
    except OSError as e:
        raise cannot_write("--graph", path, e) from None
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"\ngraph written to {path}" + (" (the reverse network of the backward pass)" if view.reverse else ""))
    return 0


def _write_neurons(result, path: str, reverse: bool) -> int:
    """The neuron-level pictures: both in one .html page, or the forward (--reverse: reverse) network as .svg."""
    from glassgrad.explain.neurons import neuron_view

    svg = path.lower().endswith(".svg")
    try:
        neuron_view(result).save(path, reverse)
    except OSError as e:
        raise cannot_write("--graph", path, e) from None
    what = ("the reverse network" if reverse else "the forward network") if svg else "the forward and reverse networks"
    print(f"\nneuron picture written to {path} ({what})")
    return 0


def _circuit(args) -> int:
    from glassgrad.explain import gate_table
    from glassgrad.explain.expression import ExpressionError, evaluate
    from glassgrad.explain.graph import graph

    if args.expr is not None and args.values is None:
        raise UsageError("--expr needs --values for its variables, e.g. --values x=-2 y=5 z=-4")
    expr = CIRCUIT[0] if args.expr is None else args.expr
    try:
        f, leaves = evaluate(expr, CIRCUIT[1] if args.values is None else args.values)
    except ExpressionError as e:
        raise UsageError(str(e)) from None
    at = ", ".join(f"{t.name} = {t.item():g}" for t in leaves)
    intro = "The notes' first circuit" if args.expr is None and args.values is None else "The expression"
    print(f"{intro}  f({', '.join(str(t.name) for t in leaves)}) = {expr}  at {at}")   # evaluate names every leaf
    print("\nGate by gate (forward in order; the backward pass runs from the last row up):\n")
    print(gate_table(f, leaves, fmt=args.format))
    print(f"\nf = {f.item():.4f}")
    if args.graph:
        return _write_graph(graph(f, reverse=args.reverse, title=f"f = {expr}"), args.graph)
    return 0


def _example(sizes: list[int], cost: str, seed: int):
    """One random input x ~ N(0, 1) and a target: one-hot of a random class, or a number in (0, 1)."""
    import numpy as np

    rng = np.random.default_rng([seed, 1])    # not the weights' stream
    x = rng.standard_normal(sizes[0])
    if sizes[-1] == 1:
        return x, rng.uniform(0.05, 0.95, 1)
    return x, np.eye(sizes[-1])[rng.integers(sizes[-1])]


def _mlp(args) -> int:
    import glassgrad as gg
    from glassgrad.explain.graph import graph
    from glassgrad.explain.trace import cost_tensor, trace
    from glassgrad.train.models import mlp

    # The notes' choices: θ = tanh in the lfd lecture, σ elsewhere; the same unit at the output with the
    # quadratic cost; σ or logits with cross-entropy.
    activation = args.activation or ("tanh" if args.notation == "lfd" else "sigmoid")
    output = args.output_activation
    if output is None:
        output = activation if args.cost == "quadratic" else ("sigmoid" if activation == "sigmoid" else None)
    try:
        gg.manual_seed(args.seed)
        model = mlp(args.sizes, activation, output_activation=output, weight_init="normal")
        for p in model.parameters():
            p.data = p.data.astype(gg.float64)     # float64: hand and engine agree to rounding
        x, y = _example(args.sizes, args.cost, args.seed)
        result = trace(model, x, y, cost=args.cost, notation=args.notation, lam=args.lam)
        derivation = result.entry(args.entry) if args.entry else None
    except ValueError as e:
        raise UsageError(str(e)) from None
    if derivation is not None:
        print(derivation.render(args.format))
        return 0 if derivation.agree else 1
    print(result.render(args.format))
    if args.format == "text":
        print("\nThe same numbers in the three notations (w^l_jk = W^(l)_kj = Θ^(l)_jk):\n")
        print(result.correspondence(limit=8))
    if not args.graph:
        return 0
    if not args.gates and args.graph.lower().endswith((".html", ".htm", ".svg")):
        return _write_neurons(result, args.graph, args.reverse)
    cost = cost_tensor(model, x, y, args.cost, args.notation, args.lam)
    return _write_graph(graph(cost, reverse=args.reverse, title=f"{args.sizes} {activation} network, "
                              f"{args.cost} cost", model=model), args.graph)


def add_commands(commands: argparse._SubParsersAction) -> None:
    from glassgrad.cli import NEURON
    from glassgrad.explain.notation import NOTATIONS
    from glassgrad.explain.trace import COSTS
    from glassgrad.train.models import ACTIVATIONS

    c = commands.add_parser("circuit", help="an expression gate by gate (default: the notes' (x + y)·z)",
                            description="Evaluate an arithmetic expression gate by gate and backpropagate through "
                                        "it. Without arguments: the notes' f = (x + y)·z at x = −2, y = 5, z = −4.")
    c.add_argument("--expr", help='an expression such as "(x + y) * z"; allowed: numbers, the variables, '
                                  "+ - * / **, exp log sqrt tanh sigmoid relu abs max(a, b) min(a, b)")
    c.add_argument("--values", nargs="+", metavar="NAME=NUMBER", help="the variables' values, e.g. x=-2 y=5 z=-4")
    _graph_options(c)
    _format_option(c)
    c.set_defaults(run=_circuit)

    n = commands.add_parser("neuron", help="the notes' sigmoid neuron gate by gate, with every gradient")
    for name, default in NEURON.items():
        n.add_argument(f"--{name}", type=REAL, default=default, help=f"value of {name}")
    _format_option(n)
    n.set_defaults(run=_neuron)

    m = commands.add_parser("mlp", help="a small random network layer by layer: BP1–BP4 checked against the engine",
                            description="Build a small random network and one example, and print z, a, δ, ∂C/∂b "
                                        "and ∂C/∂W for every layer in the chosen notation, checked against backward().")
    m.add_argument("--sizes", type=COUNT, nargs="+", default=[2, 2, 2], help="layer sizes")
    m.add_argument("--activation", default=None, choices=list(ACTIVATIONS),
                   help="default: tanh with --notation lfd (the lecture's θ), sigmoid otherwise")
    m.add_argument("--output-activation", default=None, choices=list(ACTIVATIONS),
                   help="default: the activation for the quadratic cost; sigmoid (binary cross-entropy) or "
                        "none (softmax on the logits) for cross_entropy")
    m.add_argument("--cost", default="quadratic", choices=list(COSTS), help="cost")
    m.add_argument("--notation", default="nndl", choices=list(NOTATIONS), help="notation of the trace")
    m.add_argument("--lam", type=NON_NEGATIVE, default=0.0, metavar="λ",
                   help="L2 weight decay (λ/2n) Σ w², biases exempt (nndl and theta)")
    m.add_argument("--entry", metavar="WEIGHT",
                   help="print the chain rule for one weight, 1-based in the chosen notation, checked against "
                        "backward(): nndl W2[j,k] or b2[j]; lfd W2[i,j] (i = 0: bias); theta Theta1[k,i] "
                        "(i = 0: bias)")
    m.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="seed of the weights and the example")
    _format_option(m)
    _graph_options(m)
    m.add_argument("--gates", action="store_true",
                   help="with --graph: draw the gate-level computational graph instead of the neuron picture "
                        "(.html and .svg give the neuron picture; .dot and .png always the gate graph)")
    m.set_defaults(run=_mlp)


def _format_option(p) -> None:
    from glassgrad.explain.export import FORMATS
    p.add_argument("--format", default="text", choices=list(FORMATS),
                   help="text, or markdown / latex to paste into slides")


def _graph_options(p) -> None:
    p.add_argument("--graph", metavar="FILE", help="also write the graph view: .html (no Graphviz needed), "
                                                   ".dot, or .svg/.png (through Graphviz's dot)")
    p.add_argument("--reverse", action="store_true", help="draw the graph as the reverse network of the backward pass")
