"""Two labs from the notes, measured rather than asserted.

* **Cost lab** (``cost_sweep``): the numerical approach needs two forward passes per weight, backprop one
  forward and one backward pass for all of them. Sweep the number of parameters P, count the forward
  passes and the gate applications of each method, time them, and fit the slopes of log(cost) against
  log(P): ≈ 1 for centred differences, ≈ 0 for backprop's passes.
* **Linearisation probe** (``probe``): ΔC ≈ (∂C/∂w) Δw. Nudge one weight by Δw on a log scale and compare
  the actual change of the cost with the prediction; the residual shrinks as Δw² (fitted slope ≈ 2 in
  log-log). And the centred difference's error against ε: truncation (∝ ε²) for large ε, round-off
  (∝ 1/ε) for small ε, with the best ε marked.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from glassgrad import engine
from glassgrad.explain.model_check import CostRow, gradient_cost_comparison
from glassgrad.texttable import aligned, rule

if TYPE_CHECKING:      # for annotations only
    from glassgrad.nn import Module
    from glassgrad.tensor import Tensor


def fitted_slope(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """The least-squares slope of log y against log x (rounded to 1e-9: a constant gives 0, not −1e-17)."""
    slope = float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])
    return round(slope, 9) + 0.0


# --------------------------------------------------------------------------------------------------
# The cost lab
# --------------------------------------------------------------------------------------------------
@dataclass
class CostSweep:
    """The sweep's rows and the fitted log-log slopes against the number of parameters P."""

    rows: list[CostRow]
    slopes: dict[str, float]

    def __str__(self) -> str:
        head = ("P", "network", "numerical: passes", "gates", "seconds", "backprop: passes", "gates recorded",
                "seconds")
        body = [(f"{r.parameters:,}", str(r.sizes), f"{r.numerical_forward_passes:,}", f"{r.numerical_gates:,}",
                 f"{r.numerical_seconds:.4f}", f"{r.backprop_forward_passes} fwd + {r.backprop_backward_passes} bwd",
                 f"{r.backprop_gates:,}", f"{r.backprop_seconds:.5f}") for r in self.rows]
        lines = aligned([head, *body], align_right=True)
        lines.insert(1, rule([head, *body]))
        s = self.slopes
        lines += ["", "Fitted slopes of log(cost) against log(P):",
                  f"  centred differences: forward passes {s['numerical passes']:.3f}, gate applications "
                  f"{s['numerical gates']:.3f}, time {s['numerical seconds']:.2f}",
                  f"  backprop:            passes {s['backprop passes']:.3f}, gates recorded "
                  f"{s['backprop gates']:.3f}, time {s['backprop seconds']:.2f}",
                  "Centred differences cost 2 forward passes per parameter (slope 1); backprop one forward and one "
                  "backward pass for all of them (slope 0 in passes; its gates grow only with depth, not width)."]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike) -> Path | None:
        """The log-log plot of passes, gates and seconds against P, with the fitted slopes (None without
        matplotlib)."""
        from glassgrad.explain.plots import _pyplot, save_figure

        plt = _pyplot()
        if plt is None:
            return None
        P = [r.parameters for r in self.rows]
        fig, axes = plt.subplots(1, 3, figsize=(14, 4))
        panels = (("forward passes", "numerical_forward_passes", None, "passes"),
                  ("gate applications", "numerical_gates", "backprop_gates", "gates"),
                  ("seconds", "numerical_seconds", "backprop_seconds", "seconds"))
        for ax, (title, num, bp, key) in zip(axes, panels):
            ax.loglog(P, [getattr(r, num) for r in self.rows], "o-",
                      label=f"centred differences (slope {self.slopes['numerical ' + key]:.2f})")
            bp_values = ([r.backprop_forward_passes + r.backprop_backward_passes for r in self.rows] if bp is None
                         else [getattr(r, bp) for r in self.rows])
            ax.loglog(P, bp_values, "s-", label=f"backprop (slope {self.slopes['backprop ' + key]:.2f})")
            ax.set_xlabel("parameters P")
            ax.set_title(title)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        return save_figure(fig, path, "The cost of every gradient: centred differences vs backprop")


def cost_sweep(hidden: Sequence[int] = (2, 4, 8, 16, 32, 64), n_in: int = 4, n_out: int = 3,
               activation: str = "sigmoid", batch: int = 16, seed: int = 0) -> CostSweep:
    """Networks [n_in, h, n_out] for each width h: forward passes, gates and seconds of both methods, and
    the fitted slopes against P. Pass counts and gate counts are exact; times depend on the machine."""
    if len(hidden) < 2 or min(hidden) < 1:
        raise ValueError(f"cost_sweep: need at least two positive hidden widths to fit a slope, got {list(hidden)}")
    rows = gradient_cost_comparison([(n_in, h, n_out) for h in hidden], activation=activation, batch=batch,
                                    seed=seed, verbose=False)
    P = [r.parameters for r in rows]
    slopes = {
        "numerical passes": fitted_slope(P, [r.numerical_forward_passes for r in rows]),
        "numerical gates": fitted_slope(P, [r.numerical_gates for r in rows]),
        "numerical seconds": fitted_slope(P, [r.numerical_seconds for r in rows]),
        "backprop passes": fitted_slope(P, [r.backprop_forward_passes + r.backprop_backward_passes for r in rows]),
        "backprop gates": fitted_slope(P, [r.backprop_gates for r in rows]),
        "backprop seconds": fitted_slope(P, [r.backprop_seconds for r in rows]),
    }
    return CostSweep(rows, slopes)


# --------------------------------------------------------------------------------------------------
# The linearisation probe
# --------------------------------------------------------------------------------------------------
@dataclass
class Probe:
    """ΔC against Δw for one weight, and the centred difference's error against ε."""

    param: str
    weight: float
    gradient: float          # ∂C/∂w by backprop
    cost: float
    steps: np.ndarray        # Δw
    actual: np.ndarray       # C(w + Δw) − C(w)
    predicted: np.ndarray    # (∂C/∂w) Δw
    residual: np.ndarray     # |actual − predicted|
    residual_slope: float    # fitted over fit_range
    fit_range: tuple[float, float]
    eps: np.ndarray
    fd_error: np.ndarray     # |(C(w + ε) − C(w − ε)) / 2ε − ∂C/∂w|
    best_eps: float
    truncation_slope: float  # fitted over ε ≥ 1e-3, where truncation dominates (≈ 2)

    def __str__(self) -> str:
        lines = [f"Linearisation probe of {self.param} = {self.weight:.6g}: C = {self.cost:.6g}, "
                 f"∂C/∂w = {self.gradient:.6g} (backprop)", "",
                 f"{'Δw':>10}  {'actual ΔC':>13}  {'predicted ∂C/∂w·Δw':>19}  {'residual':>10}"]
        for d, a, p, r in zip(self.steps, self.actual, self.predicted, self.residual):
            lines.append(f"{d:10.3g}  {a:13.6g}  {p:19.6g}  {r:10.3g}")
        lo, hi = self.fit_range
        lines += ["", f"fitted residual slope (log-log, Δw in [{lo:g}, {hi:g}]): {self.residual_slope:.3f}  "
                      "(≈ 2: the error of the linear prediction is second order in Δw)", "",
                  f"{'ε':>10}  {'|centred difference − ∂C/∂w|':>30}"]
        for e, err in zip(self.eps, self.fd_error):
            mark = "   ← best ε" if e == self.best_eps else ""
            lines.append(f"{e:10.3g}  {err:30.3g}{mark}")
        lines.append(f"\nbest ε = {self.best_eps:.3g}: larger ε loses to truncation (∝ ε²; fitted slope for ε ≥ 1e-3: "
                     f"{self.truncation_slope:.3f}), smaller ε to round-off (∝ 1/ε)")
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike) -> Path | None:
        """The two panels (None without matplotlib)."""
        from glassgrad.explain.plots import _pyplot, save_figure

        plt = _pyplot()
        if plt is None:
            return None
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
        left.loglog(self.steps, np.abs(self.actual), "o-", label="|actual ΔC|")
        left.loglog(self.steps, np.abs(self.predicted), "--", label="|predicted ∂C/∂w·Δw|")
        left.loglog(self.steps, self.residual, "s-", label=f"residual (fitted slope {self.residual_slope:.2f})")
        left.set_xlabel("Δw")
        left.set_title(f"ΔC ≈ ∂C/∂w Δw for {self.param}")
        right.loglog(self.eps, self.fd_error, "o-", label="|centred difference − backprop|")
        best = self.fd_error[list(self.eps).index(self.best_eps)]
        right.loglog([self.best_eps], [best], "r*", ms=14, label=f"best ε = {self.best_eps:.1e}")
        right.set_xlabel("ε")
        right.set_title("centred-difference error: round-off vs truncation")
        for ax in (left, right):
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        return save_figure(fig, path, "The linearisation probe")


def probe_network(sizes: Sequence[int] = (2, 3, 2), activation: str = "sigmoid",
                  seed: int = 0) -> tuple[Module, Tensor, Tensor]:
    """The probe's network: ``mlp(sizes)`` with ``activation`` in every layer, N(0, 1) weights, float64, and one
    seeded example (x, y) with y in (0, 1). Returns ``(model, x, y)``."""
    import glassgrad as gg
    from glassgrad.train.models import mlp

    gg.manual_seed(seed)
    model = mlp(list(sizes), activation, output_activation=activation, weight_init="normal")
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    rng = np.random.default_rng([seed, 1])
    x = gg.tensor(rng.standard_normal((1, sizes[0])), dtype=gg.float64)
    y = gg.tensor(rng.uniform(0.05, 0.95, (1, sizes[-1])), dtype=gg.float64)
    return model, x, y


def probe(param: str = "W2[1,2]", sizes: Sequence[int] = (2, 3, 2), activation: str = "sigmoid", seed: int = 0,
          steps: Sequence[float] | None = None, eps: Sequence[float] | None = None,
          fit_range: tuple[float, float] = (1e-4, 1e-1)) -> Probe:
    """Probe one weight of a small random float64 network (quadratic cost, one seeded example)."""
    from glassgrad.explain.notation import parse_entry
    from glassgrad.nn import Linear
    from glassgrad.nn.functional import quadratic_cost

    try:
        ell, j, k = parse_entry(param, "nndl", list(sizes))     # w^l_jk, or b^l_j when k = 0; 1-based
    except ValueError as e:
        raise ValueError(str(e).replace("--entry", "--param")) from None
    model, x, y = probe_network(sizes, activation, seed)
    layers = [m for m in model.modules() if isinstance(m, Linear)]
    kind, layer, idx = ("b", ell - 1, (j - 1,)) if k == 0 else ("W", ell - 1, (j - 1, k - 1))
    target = layers[layer].weight if kind == "W" else layers[layer].bias
    assert target is not None, "probe_network's Linear layers have biases"
    with engine.enable_grad():
        cost = quadratic_cost(model(x), y)
    (grad,) = engine.backward(cost, np.ones_like(cost.data), inputs=[target])
    g, w0, c0 = float(grad[idx]), float(target.data[idx]), float(cost.item())

    def cost_at(w: float) -> float:
        target.data[idx] = w
        try:
            with engine.no_grad():
                return float(quadratic_cost(model(x), y).item())
        finally:
            target.data[idx] = w0

    dws = np.logspace(-6, 0, 25) if steps is None else np.asarray(steps, float)
    epsilons = np.logspace(-13, -1, 25) if eps is None else np.asarray(eps, float)
    actual = np.array([cost_at(w0 + d) - c0 for d in dws])
    predicted = g * dws
    residual = np.abs(actual - predicted)
    inside = (dws >= fit_range[0]) & (dws <= fit_range[1]) & (residual > 0)
    if inside.sum() < 2:
        raise ValueError(f"probe: fewer than two steps Δw with a nonzero residual in {fit_range}: widen the range")
    slope = fitted_slope(dws[inside], residual[inside])
    fd_error = np.array([abs((cost_at(w0 + e) - cost_at(w0 - e)) / (2 * e) - g) for e in epsilons])
    best = float(epsilons[int(np.argmin(fd_error))])
    large = (epsilons >= 1e-3) & (fd_error > 0)
    truncation = fitted_slope(epsilons[large], fd_error[large]) if large.sum() >= 2 else float("nan")
    return Probe(param, w0, g, c0, dws, actual, predicted, residual, slope, fit_range, epsilons, fd_error, best,
                 truncation)
