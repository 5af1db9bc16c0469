"""Why weights must start random: the symmetry problem (docs/backprop.md#training).

If every weight of a layer starts at the same value, every hidden unit of that layer computes the same
output, receives the same δ (BP2) and so the same update (BP3, BP4) — forever. The layer behaves like a
single unit however wide it is. This script trains the same MLP on scikit-learn's 8×8 digits
(1797 images, 10 classes, offline) from three starts:

    zeros     every weight and bias 0
    constant  every weight and bias equal to --constant (0.1)
    random    weights N(0, 1/n_in), biases N(0, 1) (the notes' initialisation, nn.init.inv_sqrt_fan_in_)

and reports, for each hidden layer, the spread between its units — max over inputs of
(max_j W[j, k] − min_j W[j, k]), with the bias as one more input — before and after training, the
number of distinct units, and the accuracy.

It runs in float64 by default (--dtype float32 to compare). The units of a symmetric layer are identical
in exact arithmetic, but the matrix products go through BLAS kernels that differ by CPU: one kernel may
compute the edge columns of a product in a remainder loop without FMA and the others with FMA, so columns
that hold the same numbers can round differently. In float32 that is a spread of ~1e-8 on some CPUs
(OpenBLAS's Haswell kernel) and 0 on others; in float64 the same kernels gave 0 on every core type tried.

    python examples/symmetry.py                  # [64, 32, 32, 10] sigmoid, softmax cross-entropy, SGD, 30 epochs
    python examples/symmetry.py --activation tanh
    python examples/symmetry.py --quick
    python examples/symmetry.py --dtype float32   # round-off may then separate the units by ~1e-8

Writes docs/img/symmetry.png (or --out). Results are in docs/experiments.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.data import load_digits
from glassgrad.explain.plots import save_figure
from glassgrad.nn import functional as F
from glassgrad.train import Callback, evaluate, fit

REPO = Path(__file__).resolve().parents[1]
INITS = ("zeros", "constant", "random")
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def build(sizes: list[int], activation: str, init: str, constant: float, dtype=np.float64) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        # random: N(0, 1/n_in), biases N(0, 1)
        lin = nn.Linear(n_in, n_out, weight_init="inv_sqrt_fan_in", dtype=dtype)
        if init == "zeros":
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        elif init == "constant":
            nn.init.constant_(lin.weight, constant)
            nn.init.constant_(lin.bias, constant)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)        # logits; the softmax is inside F.cross_entropy


def hidden_layers(model) -> list:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[:-1]


def unit_spread(lin) -> float:
    """max over inputs k of (max_j W[j, k] − min_j W[j, k]), the bias counted as input 0: 0 when all units
    of the layer have identical weights."""
    wb = np.concatenate([np.asarray(lin.bias.data)[:, None], np.asarray(lin.weight.data)], axis=1).astype(np.float64)
    return float(np.max(wb.max(axis=0) - wb.min(axis=0)))


def distinct_units(lin, tol: float = 1e-6) -> int:
    """How many different units the layer has (rows of [b, W] that differ by more than tol)."""
    wb = np.concatenate([np.asarray(lin.bias.data)[:, None], np.asarray(lin.weight.data)], axis=1)
    reps: list[np.ndarray] = []
    for row in wb:
        if not any(np.max(np.abs(row - r)) <= tol for r in reps):
            reps.append(row)
    return len(reps)


class SpreadLog(Callback):
    """The spread of each hidden layer after every epoch."""

    def __init__(self):
        self.spreads: list[list[float]] = []

    def on_epoch_end(self, state, logs) -> None:
        self.spreads.append([unit_spread(l) for l in hidden_layers(state.model)])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, nargs="+", default=[32, 32], help="hidden layer sizes (default 32 32)")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid")
    p.add_argument("--constant", type=float, default=0.1, help="the value of every weight for --init constant")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="float64 (default): identical units stay exactly identical; float32: BLAS round-off "
                        "that differs by CPU may separate them by ~1e-8")
    p.add_argument("--quick", action="store_true", help="5 epochs")
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "symmetry.png"), help="plot file (PNG)")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs = min(args.epochs, 5)

    started = time.perf_counter()
    dtype = np.dtype(args.dtype)
    digits = load_digits(seed=args.seed)
    data = dataclasses.replace(digits, **{part: (X.astype(dtype), y) for part, (X, y) in
                                          (("train", digits.train), ("val", digits.val), ("test", digits.test))})
    sizes = [64, *args.hidden, 10]
    results = {}
    for init in INITS:
        gg.manual_seed(args.seed)
        model = build(sizes, args.activation, init, args.constant, dtype)
        before = [unit_spread(l) for l in hidden_layers(model)]
        log = SpreadLog()
        t0 = time.perf_counter()
        history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=args.lr), data.train, args.epochs,
                      validation=data.val, batch_size=args.batch_size, seed=args.seed, callbacks=[log],
                      progress=False, verbose=False, compile=True)
        test = evaluate(model, data.test, F.cross_entropy)
        hidden = hidden_layers(model)
        results[init] = {
            "spread_before": before,
            "spread_after": [unit_spread(l) for l in hidden],
            "distinct_units": [distinct_units(l) for l in hidden],
            "train_accuracy": history["accuracy"],
            "val_accuracy": history["val_accuracy"],
            "test_accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "spread_per_epoch": log.spreads,
            "first_layer_weights": np.array(hidden[0].weight.data, dtype=np.float64),
            "seconds": time.perf_counter() - t0,
        }

    counts = np.bincount(data.test[1], minlength=10)
    chance = float(counts.max() / counts.sum())
    act = args.activation
    print(f"{sizes} {act} MLP on the 8x8 digits ({len(data.train[0])} training, {len(data.test[0])} test images), "
          f"softmax cross-entropy, SGD η = {args.lr}, batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}, "
          f"{args.dtype}")
    print(f"chance (always the most common test class): {chance:.3f}\n")
    names = [f"layer {i + 1}" for i in range(len(args.hidden))]
    print(f"{'init':<9} {'hidden layer':<12} {'units':>5} {'spread at start':>15} {'spread after':>12} "
          f"{'distinct units':>14}")
    for init, r in results.items():
        for i, name in enumerate(names):
            print(f"{init:<9} {name:<12} {args.hidden[i]:>5} {r['spread_before'][i]:>15.3g} "
                  f"{r['spread_after'][i]:>12.3g} {r['distinct_units'][i]:>14}")
    print()
    print(f"{'init':<9} {'train acc':>9} {'val acc':>8} {'test acc':>9} {'test loss':>9} {'seconds':>7}")
    for init, r in results.items():
        print(f"{init:<9} {r['train_accuracy'][-1]:>9.3f} {r['val_accuracy'][-1]:>8.3f} {r['test_accuracy']:>9.3f} "
              f"{r['test_loss']:>9.3f} {r['seconds']:>7.1f}")

    path = plot(results, args, sizes, chance)
    seconds = time.perf_counter() - started
    print(f"plot: {path}" if path else "plot: skipped (matplotlib is not installed)")
    print(f"{seconds:.1f} s")
    return {"sizes": sizes, "activation": act, "dtype": args.dtype, "chance": chance, "results": results,
            "plot": str(path) if path else None, "seconds": seconds}


def plot(results: dict, args, sizes: list[int], chance: float) -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"zeros": "tab:red", "constant": "tab:orange", "random": "tab:blue"}
    fig = plt.figure(figsize=(12, 4))
    grid = fig.add_gridspec(1, 4, width_ratios=[1.6, 1, 1, 1])
    ax_acc = fig.add_subplot(grid[0, 0])
    for init, r in results.items():
        epochs = range(1, len(r["val_accuracy"]) + 1)
        ax_acc.plot(epochs, r["val_accuracy"], "-o", ms=3, color=colors[init], label=f"{init}: validation")
        ax_acc.plot(epochs, r["train_accuracy"], ":", color=colors[init], label=f"{init}: training")
    ax_acc.axhline(chance, color="gray", lw=0.8, ls="--", label="chance")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1.02)
    ax_acc.set_title("accuracy per epoch")
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(fontsize=7, ncol=2, loc="center right")
    for i, (init, r) in enumerate(results.items()):
        ax = fig.add_subplot(grid[0, i + 1])
        w = r["first_layer_weights"]
        lim = float(np.max(np.abs(w))) or 1.0
        ax.imshow(w, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_title(f"{init}: W of hidden layer 1\n{r['distinct_units'][0]} distinct unit(s), "
                     f"spread {r['spread_after'][0]:.2g}", fontsize=9)
        ax.set_xlabel("input pixel k")
        ax.set_ylabel("hidden unit j" if i == 0 else "")
    fig.suptitle(f"{sizes} {args.activation} MLP on the 8×8 digits after {args.epochs} epochs ({args.dtype}): "
                 "zero, constant and random initialisation")
    return save_figure(fig, args.out, dpi=90)


if __name__ == "__main__":
    main()
