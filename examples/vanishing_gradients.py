"""Vanishing gradients: how fast each hidden layer learns (Nielsen, "Neural Networks and Deep Learning",
chapter 5; docs/backprop.md#training).

The speed of learning of hidden layer l is ‖∂C/∂b^l‖ = ‖δ^l‖ averaged over the examples (BP3). On the way
back BP2 multiplies δ by (W^{l+1})ᵀ and σ'(z^l) ≤ 1/4 once per layer, so in a sigmoid network each hidden
layer learns several times more slowly than the one after it. The book measured this with its network2.py
(generate_gradient.py): weights N(0, 1/n_in), biases N(0, 1), sigmoid output with the cross-entropy of
each output unit, the average gradient over the first 1000 MNIST training images. This script does the
same, averaged over --seeds random initialisations, for three configurations of the same depths:

    sigmoid      as the book: Linear (W ~ N(0, 1/n_in), b ~ N(0, 1)) → Sigmoid
    relu-he      Linear (He: W ~ N(0, 2/n_in), b = 0) → ReLU
    sigmoid-bn   Linear without bias (W ~ N(0, 1/n_in)) → BatchNorm1d → Sigmoid; the bias is BatchNorm's β,
                 so the speed is ‖∂C/∂β^l‖ (a Linear bias before BatchNorm gets no gradient at all)

The output layer is always Linear → Sigmoid with the book's cost C = −(1/n) Σ_x Σ_j [y_j ln a_j +
(1 − y_j) ln(1 − a_j)]. Then, as the book, it trains each network on those 1000 images by full-batch
gradient descent (η = 0.1, L2 λ = 5.0) and records the speeds before every step.

    python examples/vanishing_gradients.py                 # 10 seeds; 500 epochs of training
    python examples/vanishing_gradients.py --init normal   # sigmoid weights N(0, 1) instead
    python examples/vanishing_gradients.py --quick

Data: ../shared/data/mnist.npz (Nielsen's split), inputs p/256 as in the book. Writes
docs/img/vanishing_gradients.png (or --out). Results are in docs/experiments.md.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.data import load_mnist
from glassgrad.explain import health_report
from glassgrad.explain.plots import save_figure
from glassgrad.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CONFIGS = ("sigmoid", "relu-he", "sigmoid-bn")
DEPTHS = {2: [784, 30, 30, 10], 3: [784, 30, 30, 30, 10], 4: [784, 30, 30, 30, 30, 10]}
# The book's speeds at initialisation, one random network each (chapter 5, "The vanishing gradient problem").
BOOK = {2: [0.07, 0.31], 3: [0.012, 0.060, 0.283], 4: [0.003, 0.017, 0.070, 0.285]}


def build(config: str, sizes: list[int], init: str) -> tuple[nn.Sequential, list]:
    """The network and, per hidden layer, the parameter that plays the bias b^l (whose gradient is δ^l)."""
    layers: list[nn.Module] = []
    biases, weights = [], []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        if last:
            lin = nn.Linear(n_in, n_out, weight_init="he" if config == "relu-he" else init)
            layers += [lin, nn.Sigmoid()]
        elif config == "sigmoid":
            lin = nn.Linear(n_in, n_out, weight_init=init)
            layers += [lin, nn.Sigmoid()]
            biases.append(lin.bias)
        elif config == "relu-he":
            lin = nn.Linear(n_in, n_out, weight_init="he")
            layers += [lin, nn.ReLU()]
            biases.append(lin.bias)
        else:  # sigmoid-bn
            lin = nn.Linear(n_in, n_out, bias=False, weight_init=init)
            bn = nn.BatchNorm1d(n_out)
            layers += [lin, bn, nn.Sigmoid()]
            biases.append(bn.bias)
        if not last:
            weights.append(lin.weight)
    return nn.Sequential(*layers), list(zip(biases, weights))


def cost(a, y_onehot):
    """network2's CrossEntropyCost: Σ over the 10 outputs, mean over the examples."""
    return F.binary_cross_entropy(a, y_onehot, reduction="sum") * (1.0 / a.shape[0])


def norm(t) -> float:
    return float(np.linalg.norm(np.asarray(t.data, dtype=np.float64)))


def forward(model, x) -> tuple:
    """The output, and the weighted input of each hidden layer (the tensor going into its activation,
    after BatchNorm if there is one) with ``retain_grad()``, so that backward leaves δ^l_x in its .grad."""
    mods = list(model)
    zs = []
    for i, m in enumerate(mods):
        x = m(x)
        if i + 2 < len(mods) and isinstance(mods[i + 1], (nn.Sigmoid, nn.ReLU)):
            x.retain_grad()
            zs.append(x)
    return x, zs


def measure(model, hidden, x, y, penalty=None) -> dict:
    """One forward and one backward pass; per hidden layer:

    * ``b``: ‖∂C/∂b^l‖ = ‖(1/n) Σ_x δ^l_x‖, the book's speed of learning (BatchNorm's β for sigmoid-bn);
    * ``w``: ‖∂C/∂W^l‖;
    * ``delta``: the RMS over examples of ‖δ^l_x‖, δ of the example's own cost C_x (no averaging, so no
      cancellation between examples).
    ``penalty`` (a tensor function of the model) is added to the cost, e.g. L2 while training; it does
    not touch the biases."""
    model.zero_grad()
    a, zs = forward(model, x)
    c = cost(a, y)
    (c if penalty is None else c + penalty(model)).backward()
    n = a.shape[0]
    return {"b": [norm(b.grad) for b, _ in hidden], "w": [norm(w.grad) for _, w in hidden],
            "delta": [float(np.sqrt(np.mean(np.sum(np.square(n * np.asarray(z.grad.data, np.float64)), axis=1))))
                      for z in zs]}


def fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=1000, help="the first N training images (default 1000)")
    p.add_argument("--seeds", type=int, default=10, help="random initialisations to average (default 10)")
    p.add_argument("--init", choices=("inv_sqrt_fan_in", "normal"), default="inv_sqrt_fan_in",
                   help="sigmoid networks' weights: N(0, 1/n_in) as network2 (default) or N(0, 1)")
    p.add_argument("--train-epochs", type=int, default=500,
                   help="epochs of full-batch training, recording the speeds before each step "
                        "(η = 0.1, λ = 5.0, as the book; 0 skips training; default 500)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--l2", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1; 0 leaves NumPy's default)")
    p.add_argument("--data-path", default=None, help="mnist.npz or its folder (default ../shared/data)")
    p.add_argument("--quick", action="store_true", help="3 seeds, 200 images, 20 epochs of training")
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "vanishing_gradients.png"), help="plot file (PNG)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.examples = min(args.seeds, 3), min(args.examples, 200)
        args.train_epochs = min(args.train_epochs, 20)
    with gg.blas_threads(args.threads):
        return run(args)


def run(args) -> dict:
    started = time.perf_counter()
    path = args.data_path or (SHARED if (SHARED / "mnist.npz").is_file() else None)
    data = load_mnist(path, scale="nielsen")
    x = gg.tensor(data.train[0][:args.examples])
    y = gg.one_hot(gg.tensor(data.train[1][:args.examples]), 10)

    # ---- at initialisation, over seeds -------------------------------------------------------------------
    at_init: dict = {}      # (config, depth) -> {"b"|"w"|"delta": array (seeds, hidden layers)}
    for config in CONFIGS:
        for depth, sizes in DEPTHS.items():
            rows = []
            for seed in range(args.seeds):
                gg.manual_seed(seed)
                model, hidden = build(config, sizes, args.init)
                rows.append(measure(model, hidden, x, y))
            at_init[(config, depth)] = {k: np.array([r[k] for r in rows]) for k in rows[0]}

    init_name = "N(0, 1/n_in)" if args.init == "inv_sqrt_fan_in" else "N(0, 1)"
    print(f"Hidden layers at initialisation: mean over {args.seeds} seeds; the first {args.examples} MNIST training "
          f"images; cross-entropy cost; sigmoid weights {init_name}.")
    print("speed = ‖∂C/∂b^l‖ (the book's measure; for sigmoid-bn ‖∂C/∂β^l‖, BatchNorm's shift); ratio = first / "
          "last hidden layer, mean over seeds.\n")
    print(f"{'network':<25} {'config':<11} {'speed ‖∂C/∂b^l‖':<38} {'ratio':>6}  {'book (ratio)':<30} "
          f"{'min–max over seeds'}")
    table: dict = {}
    for depth, sizes in DEPTHS.items():
        for config in CONFIGS:
            m = at_init[(config, depth)]
            ratios = {k: float(np.mean(v[:, 0] / v[:, -1])) for k, v in m.items()}
            table[f"{config}/{depth}"] = {
                "sizes": sizes, "speed": m["b"].mean(0).tolist(), "speed_min": m["b"].min(0).tolist(),
                "speed_max": m["b"].max(0).tolist(), "ratio": ratios["b"], "grad_w": m["w"].mean(0).tolist(),
                "ratio_grad_w": ratios["w"], "delta_rms": m["delta"].mean(0).tolist(), "ratio_delta": ratios["delta"]}
            book = ""
            if config == "sigmoid" and args.init == "inv_sqrt_fan_in":
                book = f"{', '.join(f'{v:g}' for v in BOOK[depth])} ({BOOK[depth][0] / BOOK[depth][-1]:.3f})"
            spread = ", ".join(f"{lo:.2g}–{hi:.2g}" for lo, hi in zip(m["b"].min(0), m["b"].max(0)))
            print(f"{str(sizes):<25} {config:<11} {fmt(m['b'].mean(0)):<38} {ratios['b']:>6.3f}  {book:<30} {spread}")
    print("\nThe same networks, two more measures: ‖∂C/∂W^l‖, and the RMS over examples x of ‖δ^l_x‖ = ‖∂C_x/∂z^l‖ "
          "(one example's own error, before averaging over the batch):\n")
    print(f"{'network':<25} {'config':<11} {'‖∂C/∂W^l‖':<38} {'ratio':>6}  {'RMS ‖δ^l_x‖':<38} {'ratio':>6}")
    for depth, sizes in DEPTHS.items():
        for config in CONFIGS:
            t = table[f"{config}/{depth}"]
            print(f"{str(sizes):<25} {config:<11} {fmt(t['grad_w']):<38} {t['ratio_grad_w']:>6.3f}  "
                  f"{fmt(t['delta_rms']):<38} {t['ratio_delta']:>6.3f}")

    # The library's own diagnosis of the deepest sigmoid network (glassgrad.explain.health_report).
    gg.manual_seed(0)
    model, _ = build("sigmoid", DEPTHS[4], args.init)
    finding = next((f for f in health_report(model, cost, x, y).diagnose() if f.kind in ("vanishing", "ok")), None)
    if finding is not None:
        print(f"\nglassgrad.explain.health_report on {DEPTHS[4]} sigmoid, seed 0:\n  {finding.message}")

    # ---- during training (seed 0), as the book's generate_gradient.py --------------------------------------
    training: dict = {}
    if args.train_epochs > 0:
        n = args.examples
        penalty = (lambda mdl: F.l2_penalty(mdl.parameters(), args.l2, n)) if args.l2 else None
        print(f"\nAfter {args.train_epochs} epochs of full-batch gradient descent on the {n} images (η = {args.lr}, "
              f"λ = {args.l2}), seed 0; validation accuracy on Nielsen's 10,000 validation images:\n")
        print(f"{'network':<25} {'config':<11} {'speed ‖∂C/∂b^l‖':<38} {'ratio':>6}  {'RMS ‖δ^l_x‖':<38} "
              f"{'ratio':>6}  {'val acc':>7}")
        for depth, sizes in DEPTHS.items():
            for config in CONFIGS:
                gg.manual_seed(0)
                model, hidden = build(config, sizes, args.init)
                opt = optim.SGD(model.parameters(), lr=args.lr)
                record = []
                for _ in range(args.train_epochs + 1):   # measured before every step, and once after the last
                    record.append(measure(model, hidden, x, y, penalty))
                    opt.step()                           # uses the gradients measure() left in .grad
                record.pop()                             # (that last step is not taken into account)
                model.eval()
                with gg.no_grad():
                    acc = float(np.mean(np.argmax(model(gg.tensor(data.val[0])).numpy(), axis=1) == data.val[1]))
                final = record[-1]
                training[(config, depth)] = {"b": np.array([r["b"] for r in record]),
                                             "delta": np.array([r["delta"] for r in record])}
                table[f"{config}/{depth}"].update(
                    trained_speed=final["b"], trained_ratio=final["b"][0] / final["b"][-1],
                    trained_delta_rms=final["delta"], trained_ratio_delta=final["delta"][0] / final["delta"][-1],
                    val_accuracy=acc)
                print(f"{str(sizes):<25} {config:<11} {fmt(final['b']):<38} {final['b'][0] / final['b'][-1]:>6.3f}  "
                      f"{fmt(final['delta']):<38} {final['delta'][0] / final['delta'][-1]:>6.3f}  {acc:>7.3f}")

    out = plot(at_init, training, args)
    seconds = time.perf_counter() - started
    print(f"\nplot: {out}" if out else "\nplot: skipped (matplotlib is not installed)")
    print(f"{seconds:.1f} s")
    return {"table": table, "book": BOOK, "seeds": args.seeds, "examples": args.examples, "init": args.init,
            "train_epochs": args.train_epochs, "plot": str(out) if out else None, "seconds": seconds}


def plot(at_init: dict, training: dict, args) -> Path | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"sigmoid": "tab:red", "relu-he": "tab:green", "sigmoid-bn": "tab:blue"}
    rows = 3 if training else 2
    fig, axes = plt.subplots(rows, 3, figsize=(12, 3.4 * rows), squeeze=False)
    width = 0.26
    measures = (("b", "speed ‖∂C/∂b‖ (sigmoid-bn: ‖∂C/∂β‖)"), ("delta", "RMS over examples of ‖δ_x‖"))
    for row, (key, label) in enumerate(measures):
        for col, (depth, sizes) in enumerate(DEPTHS.items()):
            ax = axes[row, col]
            layers = np.arange(depth)
            for k, config in enumerate(CONFIGS):
                v = at_init[(config, depth)][key]
                mean = v.mean(axis=0)
                err = np.vstack([mean - v.min(axis=0), v.max(axis=0) - mean])
                ax.bar(layers + (k - 1) * width, mean, width, yerr=err, capsize=2, color=colors[config],
                       label=config)
            if key == "b" and args.init == "inv_sqrt_fan_in":
                ax.plot(layers - width, BOOK[depth], "k_", ms=12, mew=2, label="book (sigmoid)")
            ax.set_yscale("log")
            ax.set_xticks(layers, [f"hidden {i + 1}" for i in layers])
            ax.set_title(f"{sizes} at initialisation", fontsize=10)
            ax.tick_params(labelsize=8)
            ax.set_ylabel(label, fontsize=9)
            ax.grid(alpha=0.3, axis="y", which="both")
            if col == 0:
                ax.legend(fontsize=8)
    if training:
        depth = max(DEPTHS)
        for col, config in enumerate(CONFIGS):
            ax = axes[2, col]
            s = training[(config, depth)]["b"]
            for i in range(s.shape[1]):
                ax.plot(np.arange(len(s)), s[:, i], label=f"hidden layer {i + 1}")
            ax.set_yscale("log")
            ax.set_xlabel("epoch of full-batch training")
            ax.set_ylabel("speed ‖∂C/∂b‖" if config != "sigmoid-bn" else "‖∂C/∂β‖", fontsize=9)
            ax.set_title(f"{config}, 4 hidden layers: during training (seed 0)", fontsize=10)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
    fig.suptitle(f"Speed of learning per hidden layer: MNIST, first {args.examples} images, mean and min–max "
                 f"over {args.seeds} seeds")
    return save_figure(fig, args.out, dpi=70)


if __name__ == "__main__":
    main()
