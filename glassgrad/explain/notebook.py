"""The backprop notebook: one offline HTML page with every view of one chosen network, for a class.

Sections: the notes' circuit (graph and gate table), the backward stepper of the network's cost (inline,
in its own frame), the layer trace (BP1–BP4 with numbers, checked against the engine), the gradient
health at initialisation, and the two labs (the linearisation probe of one weight of this network, and
the cost sweep). Everything is inline — style, SVG, plots as PNG data URIs, the stepper's script — so the
file opens from a USB stick without a network or a server.
"""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Sequence

CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; line-height: 1.45; }
header { background: #1d2330; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; } header p { margin: 4px 0 0; color: #c5cbd8; }
nav { padding: 10px 32px; background: #e9ecf1; } nav a { margin-right: 18px; }
main { max-width: 1200px; margin: 0 auto; padding: 12px 32px 48px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 14px 20px; margin: 18px 0; }
pre { background: #f1f3f6; padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; } iframe { width: 100%; height: 760px; border: 1px solid #dde1e8; }
.graph { overflow-x: auto; }
"""

SECTIONS = (("circuit", "1. The circuit"), ("stepper", "2. The backward stepper"), ("trace", "3. The layer trace"),
            ("health", "4. Gradient health"), ("labs", "5. The labs"))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def notebook_html(sizes: Sequence[int] = (2, 3, 2), activation: str = "sigmoid", seed: int = 0,
                  param: str = "W2[1,2]") -> str:
    """The notebook page for the network ``sizes`` (float64, ``activation`` in every layer, quadratic cost,
    seeded weights and one example); ``param`` is the weight the linearisation probe nudges."""
    from glassgrad.cli.explain_views import CIRCUIT
    from glassgrad.explain.circuit import gate_table
    from glassgrad.explain.expression import evaluate
    from glassgrad.explain.graph import graph
    from glassgrad.explain.health import health_report
    from glassgrad.explain.labs import cost_sweep, probe, probe_network
    from glassgrad.explain.report import _png
    from glassgrad.explain.stepper import stepper
    from glassgrad.explain.trace import cost_tensor, trace
    from glassgrad.nn import Linear
    from glassgrad.nn.functional import quadratic_cost

    sizes = list(sizes)
    model, x, y = probe_network(sizes, activation, seed)
    for ell, layer in enumerate((m for m in model.modules() if isinstance(m, Linear)), start=1):
        assert layer.bias is not None, "probe_network's Linear layers have biases"
        layer.weight.name, layer.bias.name = f"W{ell}", f"b{ell}"      # the stepper names the leaves so
    title = f"Backprop notebook: the {sizes} {activation} network (seed {seed})"

    f, leaves = evaluate(CIRCUIT[0], CIRCUIT[1])
    circuit = (f"<p>The notes' first circuit f = {_e(CIRCUIT[0])} at {_e(', '.join(CIRCUIT[1]))}: forward values and "
               "gradients on the graph, and the same gate by gate.</p>"
               f'<div class="graph">{graph(f, title="f = (x + y) z").draw_svg(standalone=False)}</div>'
               f"<pre>{_e(gate_table(f, leaves))}</pre>")

    step = stepper(cost_tensor(model, x, y), title=f"{sizes} {activation} network, quadratic cost")
    stepper_part = (f"<p>The network's cost, {len(step)} gates: press Next (→) inside the frame to step the backward "
                    "pass one gate at a time.</p>" + step._repr_html_())

    traced = trace(model, x, y, cost="quadratic", notation="nndl")
    trace_part = f"<pre>{_e(traced)}</pre>"

    snapshot = health_report(model, quadratic_cost, x, y)
    findings = "".join(f"<li>{_e(finding)}</li>" for finding in snapshot.diagnose())
    health_part = f"<pre>{_e(snapshot.table())}</pre><ul>{findings}</ul>"

    probed = probe(param, sizes, activation, seed)
    sweep = cost_sweep(hidden=(2, 4, 8, 16, 32), batch=8, seed=seed)
    labs_part = ("<h3>Linearisation probe: ΔC ≈ ∂C/∂w Δw</h3>"
                 + _png(probed.plot, f"linearisation probe of {param}")
                 + f"<pre>{_e(probed)}</pre><h3>Cost lab: centred differences vs backprop</h3>"
                 + _png(sweep.plot, "cost sweep") + f"<pre>{_e(sweep)}</pre>")

    bodies = dict(zip((k for k, _ in SECTIONS), (circuit, stepper_part, trace_part, health_part, labs_part)))
    nav = "".join(f'<a href="#{k}">{_e(label)}</a>' for k, label in SECTIONS)
    sections = "\n".join(f'<section id="{k}"><h2>{_e(label)}</h2>\n{bodies[k]}\n</section>' for k, label in SECTIONS)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body><header><h1>{_e(title)}</h1><p>Every view of one network in one "
            f"offline file: the circuit, the stepper, the trace, the health and the labs.</p></header>"
            f"<nav>{nav}</nav><main>\n{sections}\n</main></body></html>\n")


def write_notebook(path: str | os.PathLike, sizes: Sequence[int] = (2, 3, 2), activation: str = "sigmoid",
                   seed: int = 0, param: str = "W2[1,2]") -> Path:
    """Write the notebook page to ``path`` (.html); see ``notebook_html``."""
    from glassgrad.explain.stepper import html_path, write_page

    html_path(path, "notebook")        # a wrong file name is refused before the page is computed
    return write_page(path, notebook_html(sizes, activation, seed, param), "notebook")

