"""``glassgrad explain gradcheck`` and ``explain health``: checking gradients and their health."""
from __future__ import annotations

import argparse

from glassgrad.cli.options import COUNT, NON_NEGATIVE_INT, POSITIVE, UsageError, cannot_write

DEFAULT_COST_SIZES = ([2, 4, 1], [4, 8, 3], [8, 16, 4], [16, 32, 10], [32, 64, 10])


def add_commands(commands: argparse._SubParsersAction) -> None:
    from glassgrad.cli.explain_views import _format_option
    from glassgrad.nn.init import WEIGHT_INITS
    from glassgrad.train.models import ACTIVATIONS

    g = commands.add_parser(
        "gradcheck", help="check a network's backprop gradients against centred differences, parameter by parameter",
        description="Compare backprop with (C(w+ε) − C(w−ε)) / 2ε on every weight of a small network, in float64.")
    g.add_argument("--sizes", type=COUNT, nargs="+", default=[4, 8, 3], metavar="N",
                   help="layer sizes n_0 … n_L")
    g.add_argument("--activation", default="sigmoid", choices=sorted(ACTIVATIONS), help="hidden activation")
    g.add_argument("--samples", type=COUNT, default=None, metavar="N",
                   help="check N random entries per parameter instead of all (for large networks)")
    g.add_argument("--batch", type=COUNT, default=16, help="examples in the random batch")
    g.add_argument("--eps", type=POSITIVE, default=1e-6, help="the nudge ε")
    g.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="seed of the weights and the batch")
    g.add_argument("--broken", action="store_true",
                   help="use an activation whose backward is wrong (σ instead of σ(1−σ)), to see a check fail")
    g.add_argument("--no-localize", action="store_true",
                   help="when the check fails, do not go on to check each gate's own backward rule and name the "
                        "first wrong gate with the line that created it (done by default)")
    g.add_argument("--sweep", action="store_true",
                   help="the cost lab instead: sweep the parameter count P of [4, h, 3] networks, count forward "
                        "passes and gates and time centred differences vs backprop, fit log-log slopes")
    g.add_argument("--plot", metavar="PATH", help="with --sweep: save the log-log plot (PNG)")
    g.add_argument("--cost-table", action="store_true",
                   help="also time both methods on networks of growing size")
    _format_option(g)
    g.set_defaults(run=run_gradcheck)

    h = commands.add_parser(
        "health", help="per-layer speed of learning ‖∂C/∂b‖, saturation and dead units, with a diagnosis",
        description="Build a network, measure each layer's gradient norms at initialisation (and after --steps "
                    "steps of SGD), and say in plain words what is wrong, naming the layers.")
    h.add_argument("--data", default="digits", choices=["digits", "mnist"], help="data set")
    h.add_argument("--data-path", help="file or folder of the data (mnist); default: searched for")
    h.add_argument("--depth", type=COUNT, default=2, help="number of hidden layers")
    h.add_argument("--hidden", type=COUNT, default=30, help="units per hidden layer")
    h.add_argument("--activation", default="sigmoid", choices=sorted(ACTIVATIONS), help="hidden activation")
    h.add_argument("--init", default="inv_sqrt_fan_in", choices=sorted(WEIGHT_INITS),
                   help="weight initialiser (inv_sqrt_fan_in: N(0, 1/n_in), as in the notes)")
    h.add_argument("--loss", default="cross_entropy", choices=["cross_entropy", "quadratic"],
                   help="cost (quadratic adds a sigmoid output layer)")
    h.add_argument("--batch", type=COUNT, default=1000, help="examples used to measure the gradients")
    h.add_argument("--steps", type=NON_NEGATIVE_INT, default=0, help="then train this many SGD steps and measure again")
    h.add_argument("--lr", type=POSITIVE, default=0.1, help="learning rate for --steps")
    h.add_argument("--batch-size", type=COUNT, default=10, help="mini-batch size for --steps")
    h.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="seed of the weights, the batch and the steps")
    h.add_argument("--plot", metavar="PATH", help="save the gradient-norm plot and activation histograms (PNG)")
    _format_option(h)
    h.set_defaults(run=run_health)


# ---- explain gradcheck ------------------------------------------------------------------------------
def _broken_sigmoid():
    """A sigmoid whose backward forgets the (1 − σ) factor: the bug the check should catch."""
    import numpy as np

    from glassgrad import nn

    sig = lambda z: 1 / (1 + np.exp(-z))   # noqa: E731
    return nn.Activation(sig, sig, name="broken_sigmoid")


def run_gradcheck(args: argparse.Namespace) -> int:
    import numpy as np

    import glassgrad as gg
    from glassgrad import nn
    from glassgrad.explain.model_check import check_model_gradients, gradient_cost_comparison
    from glassgrad.nn import functional as F
    from glassgrad.train.models import mlp

    if args.sweep:
        from glassgrad.cli.explain_teach import run_sweep
        return run_sweep(args)
    if len(args.sizes) < 2:
        raise UsageError("--sizes needs at least two sizes (input and output), e.g. 4 8 3")
    gg.manual_seed(args.seed)
    model = mlp(args.sizes, args.activation)
    if args.broken:
        layers = [_broken_sigmoid() if type(m).__name__ in ("Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU",
                                                            "Softplus", "Identity") else m for m in model]
        model = nn.Sequential(*layers)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, args.sizes[0]))
    y = rng.integers(0, args.sizes[-1], args.batch)
    loss = F.cross_entropy if args.sizes[-1] > 1 else (lambda out, t: F.mse_loss(out, t.reshape(-1, 1) * 1.0))
    print(f"network {args.sizes}, {args.activation if not args.broken else 'broken sigmoid'} hidden units, "
          f"{model.num_parameters():,} weights and biases, a batch of {args.batch} random examples; "
          "backprop vs centred differences in float64:\n")
    result = check_model_gradients(model, loss, x, y, eps=args.eps, max_entries_per_param=args.samples,
                                   seed=args.seed, localize=not args.no_localize)
    print(result.render(args.format))
    if args.cost_table:
        print("\nThe cost of all the gradients, by centred differences and by backprop:\n")
        gradient_cost_comparison(DEFAULT_COST_SIZES, activation=args.activation, seed=args.seed)
    return 0 if result else 1


# ---- explain health ---------------------------------------------------------------------------------
def _health_setup(args):
    """The data, the network [n_in, hidden × depth, n_out] and its cost."""
    import glassgrad as gg
    from glassgrad.cli.train import _load
    from glassgrad.data import one_hot
    from glassgrad.nn import functional as F
    from glassgrad.tensor import as_tensor
    from glassgrad.train.models import mlp

    data = _load(args.data, args.data_path)
    x, y = data.train
    x = x.reshape(len(x), -1)
    k = data.num_classes
    gg.manual_seed(args.seed)
    sizes = [x.shape[1], *[args.hidden] * args.depth, k]
    quadratic = args.loss == "quadratic"
    model = mlp(sizes, args.activation, "sigmoid" if quadratic else None, weight_init=args.init)
    if quadratic:
        def loss(out, t):
            return F.quadratic_cost(out, as_tensor(one_hot(t.data, k, dtype=out.dtype)))
    else:
        loss = F.cross_entropy
    return x, y, sizes, model, loss


def _print_snapshot(snapshot, heading: str, fmt: str = "text") -> None:
    print(heading)
    print(snapshot.table(fmt))
    speeds = ", ".join(f"{layer.delta:.3g}" for layer in snapshot.layers[:-1])
    if len(snapshot.layers) > 1:
        print(f"speed of learning ‖∂C/∂b^l‖ of hidden layers 1 … {len(snapshot.layers) - 1}: [{speeds}]; "
              f"output layer: {snapshot.layers[-1].delta:.3g}")
    print("\nDiagnosis:")
    for finding in snapshot.diagnose():
        print(f"  - {finding}")


def run_health(args: argparse.Namespace) -> int:
    import numpy as np

    from glassgrad.explain.health import GradientHealth, HealthSnapshot, health_report
    from glassgrad.explain.plots import health_plot
    from glassgrad.train import fit, optimizer_by_name

    x, y, sizes, model, loss = _health_setup(args)
    rng = np.random.default_rng(args.seed)
    probe = rng.choice(len(x), size=min(args.batch, len(x)), replace=False)
    print(f"network {sizes}, {args.activation} hidden units, {args.init} initialisation, {args.loss} cost; "
          f"gradients over {len(probe)} {args.data} training examples\n")
    plotted: HealthSnapshot | GradientHealth = health_report(model, loss, x[probe], y[probe])
    _print_snapshot(plotted, "At initialisation:", args.format)
    if args.steps > 0:
        recorder = GradientHealth(every=max(1, args.steps // 50))
        order = np.resize(rng.permutation(len(x)), args.steps * args.batch_size)   # exactly --steps mini-batches
        fit(model, loss, optimizer_by_name("sgd", model.parameters(), args.lr), (x[order], y[order]), epochs=1,
            batch_size=args.batch_size, shuffle=False, metrics=(), callbacks=[recorder], verbose=False,
            progress=False)
        print()
        _print_snapshot(health_report(model, loss, x[probe], y[probe], step=args.steps),
                        f"After {args.steps} steps of SGD (η = {args.lr}, batch {args.batch_size}):", args.format)
        last = recorder.latest()
        print(f"\nUpdate-to-weight ratio ‖ΔW‖/‖W‖ at step {last.step}: "
              + ", ".join(f"{layer.title}: {layer.update_ratio:.2e}" for layer in last.layers))
        plotted = recorder
    if args.plot:
        try:
            path = health_plot(plotted, args.plot, title=f"{args.data}: {sizes}, {args.activation}, {args.init}")
        except OSError as e:
            raise cannot_write("--plot", args.plot, e) from None
        print(f"\nwrote {path}" if path else "\n(no plot: matplotlib is not installed; pip install 'glassgrad[plot]')")
    return 0
