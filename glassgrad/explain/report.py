"""A training run as ONE self-contained HTML file: open it in any browser, offline, without a server.

Everything is inline: the CSS in a ``<style>`` element, the plots as base64 PNG ``data:`` URIs, the tables
as HTML. No scripts, no fonts or images fetched from anywhere. Sections: the result, the settings, the
learning curves, the confusion matrix, the gradient health (diagnosis, per-layer table, plots) and the
model (its repr and the parameters of each layer).
"""
from __future__ import annotations

import base64
import datetime
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from glassgrad._backend import ndarray, xp
from glassgrad.explain.markup import escape
from glassgrad.files import write_atomically

if TYPE_CHECKING:      # for annotations only (the train package loads on first use)
    from glassgrad.explain.health import GradientHealth
    from glassgrad.nn import Module
    from glassgrad.train.fit import History

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f6f7f9;
       color: #1d2330; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
header { background: #1d2330; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 1.6em; }
header p { margin: 0; color: #c5cbd8; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 16px 20px; margin: 18px 0; }
h2 { margin-top: 0; font-size: 1.2em; border-bottom: 2px solid #e9ecf1; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.92em; }
th, td { border: 1px solid #dde1e8; padding: 4px 9px; text-align: right; }
th { background: #eef1f5; }
td.name, th.name { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
pre { background: #f1f3f6; padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 0.88em; }
.metrics { display: flex; gap: 16px; flex-wrap: wrap; }
.metric { background: #eef4ff; border-radius: 8px; padding: 10px 16px; }
.metric b { display: block; font-size: 1.5em; }
ul.findings li { margin: 6px 0; }
li.ok { color: #1b6e2d; } li.vanishing, li.exploding { color: #a12a1e; } li.saturated, li.dead { color: #8a5a00; }
span.diag { font-weight: bold; }
.muted { color: #6a7385; }
"""


# ---- small HTML helpers -----------------------------------------------------------------------------
_e = escape


def _num(v, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool) or isinstance(v, (int,)) or (hasattr(v, "dtype") and v.dtype.kind in "iu"):
        return f"{int(v):,}"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _e(v)
    if not math.isfinite(f):
        return str(f)
    return f"{f:.{digits}g}" if abs(f) >= 1e-3 or f == 0 else f"{f:.2e}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], name_cols: int = 1) -> str:
    """An HTML table; cells are already escaped HTML; the first ``name_cols`` columns align left."""
    cls = lambda i: ' class="name"' if i < name_cols else ""   # noqa: E731
    out = ["<table><tr>" + "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(head)) + "</tr>"]
    out += ["<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows]
    return "\n".join(out + ["</table>"])


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{_e(title)}</h2>\n{body}\n</section>"


def _png(draw: Callable[[Path], Path | None], alt: str) -> str:
    """Run a plot function into a temporary file and inline the PNG as a data URI ('' without matplotlib)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = draw(Path(tmp) / "plot.png")
        if path is None or not Path(path).is_file():
            return ""
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _no_plot() -> str:
    return '<p class="muted">(no plot: matplotlib is not installed; pip install "glassgrad[plot]")</p>'


# ---- sections ---------------------------------------------------------------------------------------
def _results(test_metrics: dict | None, history) -> str:
    cards = [f'<div class="metric">test {_e(k)}<b>{_num(v)}</b></div>' for k, v in (test_metrics or {}).items()]
    epochs = len(history.epochs)
    if epochs:
        cards.append(f'<div class="metric">epochs<b>{epochs}</b></div>')
    stop = getattr(history, "stop_reason", None)
    note = f"<p><b>Stopped:</b> {_e(stop)}</p>" if stop else ""
    return _section("Result", f'<div class="metrics">{"".join(cards) or "<p>no test metrics</p>"}</div>{note}')


def _flatten(settings: dict, prefix: str = "") -> dict:
    """Nested settings (``{"model": {"sizes": …}}``) as one level of dotted keys."""
    flat = {}
    for k, v in settings.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def _settings(settings: dict | None) -> str:
    if not settings:
        return ""
    rows = [(_e(k), _e(v)) for k, v in _flatten(settings).items()]
    return _section("Settings", _table(["setting", "value"], rows, name_cols=2))


def _learning_curves(history, title: str) -> str:
    from glassgrad.explain.plots import learning_curve

    if not history.epochs:
        return _section("Learning curves", "<p>no epochs were completed</p>")
    img = _png(lambda p: learning_curve(history, p, title=title), "learning curves") or _no_plot()
    keys = [k for k in history.epochs[0] if k != "epoch"]
    rows = [[_num(e.get("epoch"))] + [_num(e.get(k)) for k in keys] for e in history.epochs]
    return _section("Learning curves", img + "<details><summary>per-epoch metrics</summary>"
                    + _table(["epoch", *map(_e, keys)], rows) + "</details>")


def _confusion(matrix, class_names: Sequence[str] | None) -> str:
    if matrix is None:
        return ""
    m = xp.asarray(matrix)
    k = len(m)
    names = [str(c) for c in (class_names or range(k))]
    totals = m.sum(axis=1)
    rows = []
    for i in range(k):
        cells = [f"<b>{_e(names[i])}</b>"]
        for j in range(k):
            share = m[i, j] / totals[i] if totals[i] else 0.0
            colour = "40, 90, 200" if i == j else "200, 60, 40"
            cls = ' class="diag"' if i == j else ""
            cells.append(f'<span{cls} style="display:block;background:rgba({colour},{0.08 + 0.7 * share:.2f})">'
                         f"{int(m[i, j])}</span>")
        cells.append(f"{(m[i, i] / totals[i] if totals[i] else 0):.1%}")
        rows.append(cells)
    accuracy = float(xp.trace(m)) / max(float(m.sum()), 1.0)
    body = (f"<p>Rows: true class; columns: predicted class. Accuracy {accuracy:.2%} on "
            f"{int(m.sum()):,} examples.</p>" + _table(["true \\ predicted", *map(_e, names), "recall"], rows))
    return _section("Confusion matrix", body)


def _findings(findings) -> str:
    return '<ul class="findings">' + "".join(f'<li class="{_e(f.kind)}">{_e(f)}</li>' for f in findings) + "</ul>"


def _health_table(snapshot) -> str:
    pct = lambda v: "—" if v is None else f"{100 * v:.0f}%"   # noqa: E731
    rows = [(_e(layer.title), f"{layer.fan_in}→{layer.fan_out}", _e((layer.activation or "—").lower()),
             _num(layer.grad_w), _num(layer.delta), _num(layer.update_ratio), _num(layer.mean_abs_z, 3),
             pct(layer.saturated), pct(layer.dead))
            for layer in snapshot.layers]
    return _table(["layer", "size", "f", "‖∂C/∂W‖", "‖δ‖ = ‖∂C/∂b‖", "‖ΔW‖/‖W‖", "mean |z|", "saturated",
                   "dead ReLUs"], rows, name_cols=3)


def _health(health) -> str:
    if health is None or not getattr(health, "snapshots", None):
        return ""
    from glassgrad.explain import plots

    first, last = health.snapshots[0], health.latest()
    parts = [f"<p>Recorded every {health.every} step(s): {len(health.snapshots)} snapshots, steps "
             f"{first.step}–{last.step}. ‖δ‖ = ‖∂C/∂b‖ is each layer's speed of learning.</p>",
             f"<h3>Diagnosis at the start (step {first.step})</h3>", _findings(first.diagnose()),
             f"<h3>Diagnosis at the end (step {last.step})</h3>", _findings(last.diagnose()),
             f"<h3>Per-layer health at step {last.step}</h3>", _health_table(last)]
    curves = _png(lambda p: plots.gradient_norm_curves(health, p, "delta"), "gradient norms per layer")
    if curves:
        parts += [curves, _png(lambda p: plots.gradient_norm_curves(health, p, "update_ratio"),
                               "update-to-weight ratio per layer"),
                  _png(lambda p: plots.activation_histograms(first, p, f"activations at step {first.step}"),
                       "activation histograms at the start"),
                  _png(lambda p: plots.activation_histograms(last, p, f"activations at step {last.step}"),
                       "activation histograms at the end")]
    else:
        parts.append(_no_plot())
    return _section("Gradient health", "\n".join(parts))


def _model(model) -> str:
    from glassgrad.explain.notation import layer_label, parameter_label, parameter_names

    names = parameter_names(model)          # Linear layers as the notes count them: W^l, b^l, l = 1 … L
    L = max((ell for ell, _ in names.values()), default=0)
    rows = []
    for name, m in model.named_modules():
        own = [(n, p) for n, p in vars(m).items() if type(p).__name__ == "Parameter"]
        if own:
            path = (name + "." if name else "")
            where = [names.get(path + n) for n, _ in own]
            shapes = ", ".join(f"{parameter_label(*w) if w else n} {'×'.join(map(str, p.shape))}"
                               for (n, p), w in zip(own, where))
            layer = layer_label(where[0][0], L) if where[0] else ""
            rows.append((_e(layer), _e(name or "(model)"), _e(type(m).__name__), _e(shapes),
                         f"{sum(p.numel() for _, p in own):,}"))
    total = sum(p.numel() for _, p in model.named_parameters())
    rows.append(("<b>total</b>", "", "", "", f"<b>{total:,}</b>"))
    return _section("Model", f"<pre>{_e(repr(model))}</pre>"
                    + _table(["layer", "module", "type", "parameters", "count"], rows, name_cols=4))


# ---- the report -------------------------------------------------------------------------------------
def _as_history(history):
    from glassgrad.train.fit import History

    if isinstance(history, History):
        return history
    return History(list(history or []))


def render_report(history: History | list[dict], model: Module, test_metrics: dict | None = None,
                  confusion: ndarray | None = None, health: GradientHealth | None = None,
                  title: str = "glassgrad training report", settings: dict | None = None,
                  class_names: Sequence[str] | None = None) -> str:
    """The report as one HTML string (see ``write_report``)."""
    history = _as_history(history)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [_results(test_metrics, history), _settings(settings), _learning_curves(history, title),
            _confusion(confusion, class_names), _health(health), _model(model)]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>", "</head>", "<body>",
        f"<header><h1>{_e(title)}</h1><p>glassgrad run report, written {when}</p></header>", "<main>",
        *[part for part in body if part], "</main>", "</body>", "</html>", ""])


def write_report(path: str | os.PathLike, history: History | list[dict], model: Module,
                 test_metrics: dict | None = None, confusion: ndarray | None = None,
                 health: GradientHealth | None = None,
                 title: str = "glassgrad training report", settings: dict | None = None,
                 class_names: Sequence[str] | None = None) -> Path:
    """Write ONE self-contained HTML file: learning curves, confusion matrix, gradient health, model, settings.

    ``history`` is fit's ``History`` (or its list of per-epoch dicts); ``confusion`` a k×k count matrix
    (rows true, columns predicted) or None; ``health`` a ``GradientHealth`` callback that ran during fit,
    or None. Plots need matplotlib and are left out (with a note) without it. Returns the path.
    """
    return write_atomically(path, render_report(history, model, test_metrics, confusion, health, title, settings,
                                                class_names))
