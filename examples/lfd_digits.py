"""The "Learning From Data" digits: batch gradient descent vs stochastic gradient descent (docs/backprop.md#training, docs/experiments.md).

Handwritten digits (USPS) reduced to two features, average intensity and symmetry
(../shared/data/features.train and features.test). The task is digit 1 versus all other digits
(y = +1 for a 1, −1 otherwise); --digits 1 5 gives the course's 1-versus-5 task instead. The model is the
lecture's small tanh network, 2-10-1 with tanh hidden units and a tanh output, trained on the squared
error E_in = (1/N) Σ_n (h(x_n) − y_n)² by

    batch GD   W(t+1) = W(t) − η ∇E_in(W(t))     all N examples per step (one step = one epoch)
    SGD        W(t+1) = W(t) − η ∇e_n(W(t))      one example n, picked at random, per step (N steps = one epoch)

with the same η, from the same random initial weights, on --n-train examples drawn from the training file.
What is compared: the in-sample error E_in (on all N examples) against the number of *epochs* — examples
seen / N, i.e. the same amount of gradient computation — for both. The figure is the slide's: the data
(intensity vs symmetry) beside log10(error) against log10(iteration) for "Gradient Descent" and "SGD", one
iteration being one pass over the N examples; a third panel, captioned on the figure, shows the same runs per
weight update (where GD has done N times more computation at the same x). E_in is recorded after every GD
step and, for SGD, at 60 log-spaced points per decade of steps and at the end of every epoch.

    python examples/lfd_digits.py                   # 1 vs all, N = 500, η = 0.01: SGD 1000 epochs, GD 10000
    python examples/lfd_digits.py --digits 1 5      # the course's 1 vs 5
    python examples/lfd_digits.py --lr 0.1 --quick

Writes docs/img/lfd_digits.png (or --out). Results are in docs/experiments.md.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.data import load_lfd_digits

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def network(hidden: int) -> nn.Sequential:
    """2-hidden-1, tanh everywhere; weights N(0, 1/n_in), biases N(0, 1)."""
    return nn.Sequential(nn.Linear(2, hidden, weight_init="inv_sqrt_fan_in"), nn.Tanh(),
                         nn.Linear(hidden, 1, weight_init="inv_sqrt_fan_in"), nn.Tanh())


def squared_error(h, y):
    """E = (1/N) Σ_n (h(x_n) − y_n)², the notes' mean squared error (no ½)."""
    d = h - y
    return (d * d).mean()


def errors(model, x, y) -> tuple[float, float]:
    """(mean squared error, classification error of sign(h)) on (x, y)."""
    with gg.no_grad():
        h = model(x)
        e = float(squared_error(h, y).item())
    wrong = float(np.mean(np.sign(h.numpy()) != y.numpy()))
    return e, wrong


def log_points(total: int, per_decade: int = 60) -> set[int]:
    """Step counts 1 .. total spaced evenly on a log scale, with every power of ten among them."""
    k = int(np.ceil(np.log10(max(total, 1)) * per_decade)) + 1
    points = set(np.unique(np.round(np.logspace(0, np.log10(max(total, 1)), k)).astype(int)).tolist())
    return points | {10 ** j for j in range(len(str(total))) if 10 ** j <= total}


def train_gd(model, x, y, lr: float, epochs: int) -> dict:
    """Batch gradient descent; E_in(W(t)) for t = 0 .. epochs (the step's own cost, before its update)."""
    opt = optim.SGD(model.parameters(), lr=lr)
    step = gg.compile(lambda a, b: squared_error(model(a), b))
    e_in = []
    started = time.perf_counter()
    for _ in range(epochs):
        opt.zero_grad()
        e_in.append(float(step(x, y).item()))   # forward + backward over all N examples
        opt.step()
    seconds = time.perf_counter() - started
    e_in.append(errors(model, x, y)[0])
    return {"updates": np.arange(epochs + 1), "epochs": np.arange(epochs + 1, dtype=float),
            "e_in": np.array(e_in), "seconds": seconds}


def train_sgd(model, x, y, lr: float, epochs: int, seed: int) -> dict:
    """SGD, one example picked uniformly at random per step; E_in at log-spaced steps and every epoch end."""
    n = len(x)
    total = epochs * n
    record = log_points(total) | set(range(n, total + 1, n))
    opt = optim.SGD(model.parameters(), lr=lr)
    step = gg.compile(lambda a, b: squared_error(model(a), b))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=total)
    xs, ys = x.numpy(), y.numpy()
    updates, e_in = [0], [errors(model, x, y)[0]]
    started, eval_seconds = time.perf_counter(), 0.0
    for t in range(1, total + 1):
        i = picks[t - 1]
        opt.zero_grad()
        step(gg.tensor(xs[i:i + 1]), gg.tensor(ys[i:i + 1]))
        opt.step()
        if t in record:
            t0 = time.perf_counter()
            updates.append(t)
            e_in.append(errors(model, x, y)[0])
            eval_seconds += time.perf_counter() - t0
    seconds = time.perf_counter() - started - eval_seconds
    updates = np.array(updates)
    return {"updates": updates, "epochs": updates / n, "e_in": np.array(e_in), "seconds": seconds}


def at_epoch(run: dict, epoch: float) -> float:
    """E_in at the last recorded point at or before ``epoch``."""
    i = np.searchsorted(run["epochs"], epoch, side="right") - 1
    return float(run["e_in"][max(i, 0)])


def epochs_to_reach(run: dict, target: float) -> float | None:
    hit = np.nonzero(run["e_in"] <= target)[0]
    return float(run["epochs"][hit[0]]) if len(hit) else None


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digits", type=int, nargs="+", default=[1],
                   help="one digit: that digit vs all (default 1); two digits: the first vs the second")
    p.add_argument("--n-train", type=int, default=500,
                   help="training examples drawn at random from features.train (default 500; 0 = all)")
    p.add_argument("--hidden", type=int, default=10, help="hidden tanh units (default 10)")
    p.add_argument("--lr", type=float, default=0.01, help="η, the same for GD and SGD (default 0.01)")
    p.add_argument("--gd-lr", type=float, default=None, help="a different η for GD only (default: --lr)")
    p.add_argument("--epochs", type=int, default=1000, help="SGD epochs (default 1000 = 1000·N steps)")
    p.add_argument("--gd-epochs", type=int, default=10000, help="GD epochs = steps (default 10000)")
    p.add_argument("--targets", type=float, nargs="+", default=[0.1, 0.05, 0.04, 0.03],
                   help="report the epochs (and seconds) each method needs to reach these E_in")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1; 0 leaves NumPy's default)")
    p.add_argument("--data-path", default=None, help="folder with features.train/test (default ../shared/data)")
    p.add_argument("--quick", action="store_true", help="N = 200, SGD 20 epochs, GD 200")
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "lfd_digits.png"), help="plot file (PNG)")
    args = p.parse_args(argv)
    if len(args.digits) not in (1, 2):
        p.error("--digits takes one digit (one vs all) or two (first vs second)")
    if args.quick:
        args.n_train = min(args.n_train or 200, 200)
        args.epochs, args.gd_epochs = min(args.epochs, 20), min(args.gd_epochs, 200)
    with gg.blas_threads(args.threads):
        return run(args)


def run(args) -> dict:
    started = time.perf_counter()
    path = args.data_path or (SHARED if (SHARED / "features.train").is_file() else None)
    digits = args.digits[0] if len(args.digits) == 1 else tuple(args.digits)
    data = load_lfd_digits(path, digits=digits)
    (X, y01), (X_test, y01_test) = data.train, data.test
    rng = np.random.default_rng(args.seed)
    if args.n_train and args.n_train < len(X):
        keep = np.sort(rng.choice(len(X), args.n_train, replace=False))
        X, y01 = X[keep], y01[keep]
    to_pm1 = lambda v: (2.0 * v - 1.0).astype(np.float32)[:, None]        # noqa: E731  y ∈ {−1, +1}
    x, y = gg.tensor(X), gg.tensor(to_pm1(y01))
    x_test, y_test = gg.tensor(X_test), gg.tensor(to_pm1(y01_test))
    task = f"digit {digits} vs all" if len(args.digits) == 1 else f"digit {digits[0]} vs {digits[1]}"
    gd_lr = args.gd_lr if args.gd_lr is not None else args.lr

    gg.manual_seed(args.seed)
    model_gd = network(args.hidden)
    model_sgd = network(args.hidden)
    model_sgd.load_state_dict(model_gd.state_dict())     # the same initial weights for both
    gd = train_gd(model_gd, x, y, gd_lr, args.gd_epochs)
    sgd = train_sgd(model_sgd, x, y, args.lr, args.epochs, args.seed + 1)

    n = len(X)
    print(f"LFD digits ({task}), features (intensity, symmetry); {n} training examples"
          f" ({int((y01 == 1).sum())} positive), {len(X_test)} test examples")
    print(f"2-{args.hidden}-1 tanh network, squared error, same initial weights; GD η = {gd_lr}, SGD η = {args.lr}\n")
    print("In-sample error E_in after the same number of epochs (examples seen / N):")
    marks = [e for e in (1, 10, 100, 1000, 10000, 100000) if e <= max(args.epochs, args.gd_epochs)]
    print(f"{'epochs':>8} {'GD E_in':>10} {'SGD E_in':>10}")
    for e in marks:
        g = f"{at_epoch(gd, e):.5f}" if e <= args.gd_epochs else "—"
        s = f"{at_epoch(sgd, e):.5f}" if e <= args.epochs else "—"
        print(f"{e:>8} {g:>10} {s:>10}")
    sgd_final = float(sgd["e_in"][-1])
    gd_needs = epochs_to_reach(gd, sgd_final)
    gd_same = at_epoch(gd, args.epochs)
    print(f"\nAfter {args.epochs} epochs SGD has E_in = {sgd_final:.5f}, GD {gd_same:.5f}. GD needs "
          + (f"{gd_needs:.0f} epochs to get there." if gd_needs is not None
             else f"more than its {args.gd_epochs} epochs to get there (it ends at {gd['e_in'][-1]:.5f})."))
    same_updates = min(args.gd_epochs, sgd["updates"][-1])
    i = np.searchsorted(sgd["updates"], same_updates, side="right") - 1
    print(f"After the same number of weight updates ({same_updates}): GD E_in = {gd['e_in'][same_updates]:.5f}, "
          f"SGD E_in = {sgd['e_in'][i]:.5f}.\n")

    print("Epochs (and training seconds, at each method's measured time per epoch) to reach E_in ≤ target:")
    print(f"{'target':>8} {'GD epochs':>10} {'GD s':>7} {'SGD epochs':>11} {'SGD s':>7}")
    reach = {}
    for target in args.targets:
        row = {}
        for name, run_, epochs in (("GD", gd, args.gd_epochs), ("SGD", sgd, args.epochs)):
            e = epochs_to_reach(run_, target)
            row[name] = {"epochs": e, "seconds": None if e is None else e * run_["seconds"] / max(epochs, 1)}
        reach[target] = row
        cells = []
        for name in ("GD", "SGD"):
            e, sec = row[name]["epochs"], row[name]["seconds"]
            cells += [f"{e:g}" if e is not None else "not reached", f"{sec:.2f}" if sec is not None else "—"]
        print(f"{target:>8g} {cells[0]:>10} {cells[1]:>7} {cells[2]:>11} {cells[3]:>7}")
    print()

    final = {}
    print(f"{'method':<6} {'epochs':>7} {'updates':>9} {'train time':>10} {'E_in':>8} {'E_test':>8} "
          f"{'in-sample class. err':>20} {'test class. err':>15}")
    for name, model, run_, epochs in (("GD", model_gd, gd, args.gd_epochs), ("SGD", model_sgd, sgd, args.epochs)):
        e_in, c_in = errors(model, x, y)
        e_te, c_te = errors(model, x_test, y_test)
        final[name] = {"epochs": epochs, "updates": int(run_["updates"][-1]), "seconds": run_["seconds"],
                       "e_in": e_in, "e_test": e_te, "class_err_in": c_in, "class_err_test": c_te}
        print(f"{name:<6} {epochs:>7} {int(run_['updates'][-1]):>9} {run_['seconds']:>9.1f}s {e_in:>8.5f} "
              f"{e_te:>8.5f} {c_in:>20.4f} {c_te:>15.4f}")
    # the GD model after as many epochs as SGD had, for a same-budget comparison of the test error
    gd_at_sgd_budget = at_epoch(gd, args.epochs)

    out = plot(gd, sgd, args, task, n, gd_lr, X, y01)
    seconds = time.perf_counter() - started
    print(f"\nplot: {out}" if out else "\nplot: skipped (matplotlib is not installed)")
    print(f"{seconds:.1f} s")
    return {"task": task, "n_train": n, "lr": args.lr, "gd_lr": gd_lr, "final": final,
            "e_in_at_epochs": {e: {"GD": at_epoch(gd, e) if e <= args.gd_epochs else None,
                                   "SGD": at_epoch(sgd, e) if e <= args.epochs else None} for e in marks},
            "sgd_final_e_in": sgd_final, "gd_e_in_same_epochs": gd_at_sgd_budget,
            "gd_epochs_to_sgd_final": gd_needs, "reach": reach, "plot": str(out) if out else None, "seconds": seconds}


def plot(gd: dict, sgd: dict, args, task: str, n: int, gd_lr: float, X: np.ndarray, y01: np.ndarray) -> Path | None:
    """The slide's figure: the data (intensity vs symmetry) beside log10(error) against log10(iteration) for
    "Gradient Descent" and "SGD", an iteration being one pass over the N examples (one GD step, N SGD steps);
    then, captioned so that it cannot be read as the slide's comparison, the same runs per weight update."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def curve(run: dict, whole_epochs: bool, points: int = 1500):
        """log10 of (x, E_in): at whole epochs ≥ 1 (the slide's iterations) or at every recorded update ≥ 1."""
        xs = np.asarray(run["epochs" if whole_epochs else "updates"], dtype=float)
        keep = np.nonzero((xs >= 1) & ((xs == np.round(xs)) if whole_epochs else True))[0]
        if len(keep) > points:
            spaced = np.round(np.logspace(0, np.log10(len(keep) - 1), points)).astype(int)
            keep = keep[np.unique(np.concatenate([[0], spaced]))]      # the first point (x = 1) included
        return np.log10(xs[keep]), np.log10(np.asarray(run["e_in"])[keep])

    fig = plt.figure(figsize=(13, 4.6))
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1.15, 1.15], wspace=0.32)
    ax_d, ax_i, ax_u = (fig.add_subplot(grid[0, k]) for k in range(3))

    positive = y01 == 1
    first = task.split(" vs ")[0].replace("digit ", "")
    ax_d.scatter(X[~positive, 0], X[~positive, 1], s=10, marker="x", color="tab:red", linewidths=0.8,
                 label="other digits" if task.endswith("all") else f"digit {task.split(' vs ')[1]}")
    ax_d.scatter(X[positive, 0], X[positive, 1], s=14, facecolors="none", edgecolors="tab:blue",
                 label=f"digit {first}")
    ax_d.set_xlabel("average intensity")
    ax_d.set_ylabel("symmetry")
    ax_d.set_title(f"the data: N = {n} training digits", fontsize=10, pad=24)
    ax_d.legend(fontsize=9, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False,
                borderaxespad=0.0)        # above the panel, as in the other two

    for ax, whole in ((ax_i, True), (ax_u, False)):
        ax.plot(*curve(gd, whole), color="tab:red", label="Gradient Descent")
        ax.plot(*curve(sgd, whole), color="tab:blue", label="SGD")
        ax.set_ylabel("log10(error)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False,
                  borderaxespad=0.0)      # above the panel, clear of the curves
    ax_i.set_xlabel("log10(iteration)")
    ax_i.set_title("as on the slide: SGD reaches a lower error sooner", fontsize=10, pad=24)
    ax_u.set_xlabel("log10(weight update)")
    ax_u.set_title("the same runs per weight update", fontsize=10, pad=24)
    caption = (f"error = E_in = (1/N) Σ (h(x_n) − y_n)² on all N = {n} examples; an iteration = one pass over them: "
               f"1 Gradient Descent step (all N examples) or N SGD steps (one example each), the same computation.\n"
               f"Right: per weight update, a Gradient Descent update uses all N = {n} examples and an SGD update one, "
               f"so at the same x Gradient Descent has done {n}× more computation — this is not the slide's "
               "comparison.")
    fig.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=8.5, wrap=True)
    eta = f"η = {args.lr}" if gd_lr == args.lr else f"η = {gd_lr} (GD), {args.lr} (SGD)"
    fig.suptitle(f"LFD digits, {task}: 2-{args.hidden}-1 tanh network, squared error, same initial weights, {eta}",
                 fontsize=11)
    fig.subplots_adjust(left=0.05, right=0.99, top=0.78, bottom=0.25)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
