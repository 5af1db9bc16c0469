"""Plots (matplotlib, an optional dependency: ``pip install glassgrad[plot]``), written to PNG files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:      # for annotations only
    from matplotlib.figure import Figure

    from glassgrad.explain.health import GradientHealth, HealthSnapshot
    from glassgrad.train.fit import History


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def learning_curve(history: History, path: str | Path, title: str = "") -> Path | None:
    """Loss and accuracy per epoch (training and validation) as a PNG; None when matplotlib is missing or
    no epoch finished."""
    plt = _pyplot()
    if plt is None or not len(history):
        return None
    epochs = history["epoch"]
    panels = [k for k in ("loss", "accuracy") if any(v is not None for v in history[k])]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, key in zip(axes[0], panels):
        ax.plot(epochs, history[key], marker="o", ms=3, label=f"training {key}")
        if any(v is not None for v in history[f"val_{key}"]):
            ax.plot(epochs, history[f"val_{key}"], marker="o", ms=3, label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path, title)


# ---- gradient health (glassgrad.explain.health) ----------------------------------------------------
METRIC_LABELS = {"delta": "‖δ‖ = ‖∂C/∂b‖", "grad_w": "‖∂C/∂W‖", "grad_b": "‖∂C/∂b‖",
                 "update_ratio": "‖ΔW‖ / ‖W‖", "weight_norm": "‖W‖", "mean_abs_z": "mean |z|"}


def _positive(values) -> list:
    """Values for a log axis: zero, negative, missing and non-finite ones become gaps."""
    import math
    return [v if v is not None and math.isfinite(v) and v > 0 else float("nan") for v in values]


def save_figure(fig: Figure, path: str | os.PathLike, title: str = "", dpi: int = 110) -> Path:
    """Lay out, title and write a matplotlib figure to ``path`` (folders created), then close it."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _draw_norm_curves(ax, health, metric: str) -> None:
    labels = [layer.label for layer in health.latest().layers]
    for label, values in zip(labels, health.series(metric).values()):
        ax.plot(health.steps, _positive(values), marker="o", ms=2, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f"per-layer {METRIC_LABELS.get(metric, metric)} during training")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)   # beside the data


def _draw_speed_bars(ax, snapshot, metric: str) -> None:
    layers = snapshot.layers
    ax.bar(range(len(layers)), _positive([getattr(layer, metric) for layer in layers]), color="tab:blue")
    ax.set_xticks(range(len(layers)), [layer.label for layer in layers], rotation=20, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f"speed of learning per layer at step {snapshot.step}")
    ax.grid(alpha=0.3, axis="y", which="both")


def _draw_histogram(ax, layer, step: int) -> None:
    import numpy as np

    values = np.asarray(layer.values if layer.values is not None else [], dtype=float)
    values = values[np.isfinite(values)]
    ax.hist(values, bins=40, color="tab:orange" if layer.activation else "tab:gray")
    what = f"a = {layer.activation.lower()}(z)" if layer.activation else "z (output)"
    notes = [f"{100 * layer.saturated:.0f}% saturated" if layer.saturated is not None else "",
             f"{100 * layer.dead:.0f}% dead" if layer.dead is not None else ""]
    ax.set_title(f"{layer.title}, step {step}\n{what}" + "".join(f", {n}" for n in notes if n), fontsize=9)
    ax.tick_params(labelsize=7)


def gradient_norm_curves(health: GradientHealth, path: str | Path, metric: str = "delta",
                         title: str = "") -> Path | None:
    """Per-layer gradient norms over training (log scale) from a ``GradientHealth`` callback."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    _draw_norm_curves(ax, health, metric)
    return save_figure(fig, path, title)


def activation_histograms(snapshot: HealthSnapshot, path: str | Path, title: str = "") -> Path | None:
    """A histogram of each layer's activations (z for a layer without activation) for one snapshot."""
    plt = _pyplot()
    if plt is None:
        return None
    n = len(snapshot.layers)
    fig, axes = plt.subplots(1, n, figsize=(max(3.0 * n, 5), 3), squeeze=False)
    for ax, layer in zip(axes[0], snapshot.layers):
        _draw_histogram(ax, layer, snapshot.step)
    return save_figure(fig, path, title or f"activations at step {snapshot.step}")


def health_plot(health: GradientHealth | HealthSnapshot, path: str | Path, metric: str = "delta",
                title: str = "") -> Path | None:
    """One PNG: per-layer gradient norms (curves over training for a ``GradientHealth`` with several
    snapshots, bars for a single ``HealthSnapshot``) above the activation histograms of the latest step."""
    plt = _pyplot()
    if plt is None:
        return None
    from glassgrad.explain.health import GradientHealth

    snapshot = health.latest() if isinstance(health, GradientHealth) else health
    n = len(snapshot.layers)
    fig = plt.figure(figsize=(max(3.0 * n, 8), 7))
    grid = fig.add_gridspec(2, n, height_ratios=[1.3, 1])
    top = fig.add_subplot(grid[0, :])
    if isinstance(health, GradientHealth) and len(health.snapshots) > 1:
        _draw_norm_curves(top, health, metric)
    else:
        _draw_speed_bars(top, snapshot, metric)
    for i, layer in enumerate(snapshot.layers):
        _draw_histogram(fig.add_subplot(grid[1, i]), layer, snapshot.step)
    return save_figure(fig, path, title)
