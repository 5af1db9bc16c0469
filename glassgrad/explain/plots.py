"""Plots (matplotlib, an optional dependency: ``pip install glassgrad[plot]``), written to PNG files."""
from __future__ import annotations

from pathlib import Path


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def learning_curve(history, path: str | Path, title: str = "") -> Path | None:
    """Loss and accuracy per epoch (training and validation) as a PNG; None when matplotlib is missing."""
    plt = _pyplot()
    if plt is None:
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
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
