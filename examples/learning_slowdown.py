"""The learning slowdown (Nielsen, "Neural Networks and Deep Learning", chapter 3; docs/backprop.md, costs and training).

One sigmoid neuron, input x = 1, target y = 0, trained by gradient descent on that single example.
From a saturated start (w = 2, b = 2: z = 4, a = σ(4) ≈ 0.98, σ'(4) ≈ 0.018) the quadratic cost learns
very slowly at first, because its output error carries the factor σ'(z):

    quadratic      C = ½(a − y)²                      δ = ∂C/∂z = (a − y) σ'(z)
    cross-entropy  C = −[y ln a + (1 − y) ln(1 − a)]   δ = ∂C/∂z = a − y

Both are trained with the same η (default 0.15, the book's rate for the quadratic cost) from the same
start; the book's unsaturated start (w = 0.6, b = 0.9) is run too, for reference. The δ values are the
ones glassgrad's backward pass produces (z.grad), next to the formulas above.

    python examples/learning_slowdown.py              # 300 epochs plotted, epochs to a < 0.1 counted up to 5000
    python examples/learning_slowdown.py --lr 0.005   # the book's cross-entropy rate (its animations)
    python examples/learning_slowdown.py --quick      # the same with fewer epochs

Writes docs/img/learning_slowdown.png (or --out). Results are in docs/experiments.md.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import glassgrad as gg
from glassgrad import nn
from glassgrad.explain.plots import save_figure
from glassgrad.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
STARTS = {"saturated": (2.0, 2.0), "unsaturated": (0.6, 0.9)}
COSTS = {
    "quadratic": lambda a, y: F.quadratic_cost(a, y),               # ½(a − y)², mean over the batch of one
    "cross-entropy": lambda a, y: F.binary_cross_entropy(a, y),     # −[y ln a + (1 − y) ln(1 − a)]
}


def neuron(w: float, b: float) -> nn.Module:
    """A single sigmoid neuron in float64: a = σ(w x + b)."""
    lin = nn.Linear(1, 1, dtype=gg.float64)
    lin.weight.data[...] = w
    lin.bias.data[...] = b
    return lin


def train(cost_name: str, w: float, b: float, lr: float, epochs: int, x, y) -> dict:
    """Gradient descent on the one example for ``epochs`` epochs; records a, C and δ = ∂C/∂z per epoch."""
    lin = neuron(w, b)
    cost = COSTS[cost_name]
    outputs, costs, deltas = [], [], []
    for _ in range(epochs + 1):           # record at epoch 0 (the start) .. epochs; update after recording
        lin.zero_grad()
        z = lin(x)
        z.retain_grad()
        a = z.sigmoid()
        c = cost(a, y)
        c.backward()
        outputs.append(float(a.item()))
        costs.append(float(c.item()))
        deltas.append(float(z.grad.item()))
        for p in (lin.weight, lin.bias):
            p.data -= lr * p.grad.data    # w ← w − η ∂C/∂w, b ← b − η ∂C/∂b
    return {"output": outputs, "cost": costs, "delta": deltas,
            "w": float(lin.weight.data.item()), "b": float(lin.bias.data.item())}


def first_below(values: list[float], threshold: float) -> int | None:
    return next((i for i, v in enumerate(values) if v < threshold), None)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lr", type=float, default=0.15, help="learning rate η, the same for both costs (default 0.15)")
    p.add_argument("--epochs", type=int, default=300, help="epochs shown in the plot (default 300, as the book)")
    p.add_argument("--max-epochs", type=int, default=5000,
                   help="train this long to count the epochs to reach the threshold (default 5000)")
    p.add_argument("--threshold", type=float, default=0.1, help="count epochs until the output a < this (0.1)")
    p.add_argument("--plateau", type=float, default=0.9,
                   help="also count epochs until a < this: the length of the slow start (default 0.9)")
    p.add_argument("--quick", action="store_true", help="a short run (100 epochs plotted, counted up to 1000)")
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "learning_slowdown.png"), help="plot file (PNG)")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.max_epochs = min(args.epochs, 100), min(args.max_epochs, 1000)
    args.max_epochs = max(args.max_epochs, args.epochs)

    started = time.perf_counter()
    x = gg.tensor([[1.0]], dtype=gg.float64)
    y = gg.tensor([[0.0]], dtype=gg.float64)

    # ---- δ^L at the start: formulas next to what backward() gives ---------------------------------------
    print("Output error δ = ∂C/∂z at the start (x = 1, y = 0):")
    head = ("start", "z", "a = σ(z)", "σ'(z)", "(a−y)σ'(z)", "quadratic δ", "a − y", "cross-entropy δ")
    print("{:<27} {:>5} {:>9} {:>8} {:>11} {:>12} {:>7} {:>16}".format(*head))
    start_deltas = {}
    for name, (w, b) in STARTS.items():
        z = w * 1.0 + b
        a = 1 / (1 + math.exp(-z))
        ds = a * (1 - a)
        got = {c: train(c, w, b, args.lr, 0, x, y)["delta"][0] for c in COSTS}
        start_deltas[name] = {"z": z, "a": a, "sigma_prime": ds, "quadratic_formula": a * ds,
                              "cross_entropy_formula": a, "quadratic": got["quadratic"],
                              "cross_entropy": got["cross-entropy"]}
        print(f"{name + f' (w={w:g}, b={b:g})':<27} {z:>5.2f} {a:>9.4f} {ds:>8.4f} {a * ds:>11.5f} "
              f"{got['quadratic']:>12.5f} {a:>7.4f} {got['cross-entropy']:>16.5f}")
    sat = start_deltas["saturated"]
    print(f"From the saturated start the cross-entropy δ is {sat['cross_entropy'] / sat['quadratic']:.0f}× the "
          f"quadratic δ (1/σ'(z) = {1 / sat['sigma_prime']:.0f}).\n")

    # ---- training ---------------------------------------------------------------------------------------
    runs = {(s, c): train(c, *STARTS[s], args.lr, args.max_epochs, x, y) for s in STARTS for c in COSTS}
    print(f"Gradient descent, η = {args.lr} for both costs; epochs until the output a falls below "
          f"{args.plateau:g} (the slow start) and below {args.threshold:g} (counted up to {args.max_epochs}):")
    print(f"{'start':<12} {'cost':<14} {'a at 0':>7} {f'a at {args.epochs}':>9} {f'C at {args.epochs}':>9} "
          f"{f'epochs to a<{args.plateau:g}':>16} {f'epochs to a<{args.threshold:g}':>16}")
    epochs_to, plateau = {}, {}
    for (s, c), r in runs.items():
        n, m = first_below(r["output"], args.threshold), first_below(r["output"], args.plateau)
        epochs_to[(s, c)], plateau[(s, c)] = n, m
        shown = [str(v) if v is not None else f">{args.max_epochs}" for v in (m, n)]
        print(f"{s:<12} {c:<14} {r['output'][0]:>7.4f} {r['output'][args.epochs]:>9.4f} "
              f"{r['cost'][args.epochs]:>9.4f} {shown[0]:>16} {shown[1]:>16}")
    q, ce = epochs_to[("saturated", "quadratic")], epochs_to[("saturated", "cross-entropy")]
    if q is not None and ce is not None:
        print(f"From the saturated start the quadratic cost needs {q / max(ce, 1):.0f}× as many epochs as "
              "the cross-entropy.")

    path = plot(runs, args.epochs, args.threshold, args.lr, args.out)
    seconds = time.perf_counter() - started
    print(f"plot: {path}" if path else "plot: skipped (matplotlib is not installed)")
    print(f"{seconds:.1f} s")
    return {"lr": args.lr, "threshold": args.threshold, "start_deltas": start_deltas,
            "epochs_to_threshold": {f"{s}/{c}": n for (s, c), n in epochs_to.items()},
            "epochs_to_plateau_end": {f"{s}/{c}": n for (s, c), n in plateau.items()},
            "output_at_epochs": {f"{s}/{c}": r["output"][args.epochs] for (s, c), r in runs.items()},
            "cost_curves": {f"{s}/{c}": r["cost"][:args.epochs + 1] for (s, c), r in runs.items()},
            "plot": str(path) if path else None, "seconds": seconds}


def plot(runs: dict, epochs: int, threshold: float, lr: float, out: str) -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"quadratic": "tab:red", "cross-entropy": "tab:blue"}
    styles = {"saturated": "-", "unsaturated": ":"}
    fig, (ax_c, ax_a) = plt.subplots(1, 2, figsize=(10, 3.8))
    t = range(epochs + 1)
    for (s, c), r in runs.items():
        w, b = STARTS[s]
        label = f"{c}, w={w:g}, b={b:g}"
        ax_c.plot(t, r["cost"][:epochs + 1], styles[s], color=colors[c], label=label)
        ax_a.plot(t, r["output"][:epochs + 1], styles[s], color=colors[c], label=label)
    ax_c.set_yscale("log")
    ax_c.set_xlabel("epoch")
    ax_c.set_ylabel("cost C (each its own)")
    ax_c.set_title("cost")
    ax_a.axhline(threshold, color="gray", lw=0.8, ls="--")
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("output a")
    ax_a.set_ylim(0, 1)
    ax_a.set_title("output (target 0)")
    for ax in (ax_c, ax_a):
        ax.grid(alpha=0.3)
    ax_a.legend(fontsize=8)
    fig.suptitle(f"One sigmoid neuron, x = 1, y = 0, η = {lr}: quadratic vs cross-entropy cost")
    return save_figure(fig, out, dpi=90)


if __name__ == "__main__":
    main()
