"""The ``glassgrad`` command line."""
from __future__ import annotations

import argparse
import sys

from glassgrad._version import __version__


def _demo(args: argparse.Namespace) -> int:
    from glassgrad.explain import gate_table, sigmoid_neuron

    values = dict(w0=args.w0, x0=args.x0, w1=args.w1, x1=args.x1, w2=args.w2)
    f, leaves = sigmoid_neuron(**values)
    print("The sigmoid neuron  f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))  at "
          + ", ".join(f"{k} = {v:g}" for k, v in values.items()))
    print("\nGate by gate (forward in order; the backward pass runs from the last row up):\n")
    print(gate_table(f, leaves))

    import glassgrad as gg
    leaves = [gg.tensor(v, dtype=gg.float64, requires_grad=True) for v in values.values()]
    w0, x0, w1, x1, w2 = leaves
    for t, name in zip(leaves, values):
        t.name = name
    f = (w0 * x0 + w1 * x1 + w2).sigmoid()
    print("\nThe same neuron with one sigmoid gate, whose local derivative is σ(1 − σ):\n")
    print(gate_table(f, leaves))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glassgrad", description="Backpropagation you can see through, at full speed.")
    parser.add_argument("--version", action="version", version=f"glassgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="the sigmoid neuron of the notes, gate by gate, with every gradient")
    for name, default in dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0).items():
        demo.add_argument(f"--{name}", type=float, default=default, help=f"value of {name} (default {default:g})")
    demo.set_defaults(run=_demo)

    from glassgrad.cli.train import add_train_parser
    add_train_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except BrokenPipeError:   # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
