"""The ``glassgrad`` command line."""
from __future__ import annotations

import argparse
import os
import sys

from glassgrad._version import __version__
from glassgrad.cli.options import Parser, UsageError

NEURON = dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)


def show_neuron(values: dict, fmt: str = "text") -> int:
    """Print the sigmoid neuron of docs/backprop.md (worked examples) gate by gate, then as one sigmoid gate
    (tables in ``fmt``: text, markdown or latex)."""
    from glassgrad.explain import gate_table, sigmoid_neuron

    f, leaves = sigmoid_neuron(**values)
    print("The sigmoid neuron  f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))  at "
          + ", ".join(f"{k} = {v:g}" for k, v in values.items()))
    print("\nGate by gate (forward in order; the backward pass runs from the last row up):\n")
    print(gate_table(f, leaves, fmt=fmt))

    import glassgrad as gg
    leaves = [gg.tensor(v, dtype=gg.float64, requires_grad=True) for v in values.values()]
    w0, x0, w1, x1, w2 = leaves
    for t, name in zip(leaves, values):
        t.name = name
    f = (w0 * x0 + w1 * x1 + w2).sigmoid()
    print("\nThe same neuron with one sigmoid gate, whose local derivative is σ(1 − σ):\n")
    print(gate_table(f, leaves, fmt=fmt))
    return 0


def _bench(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"
    if not script.is_file():
        print("glassgrad bench: the benchmarks live in the source repository (benchmarks/run.py); "
              "run this from an editable install of a checkout", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("glassgrad_benchmarks_run", script)
    assert spec is not None and spec.loader is not None     # a .py path always gets a source loader
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    return run.main((["--quick"] if args.quick else []) + args.extra)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="glassgrad", description="Backpropagation you can see through, at full speed.")
    parser.add_argument("--version", action="version", version=f"glassgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from glassgrad.cli.explain import add_explain_parser
    from glassgrad.cli.train import add_train_parser

    add_train_parser(sub)
    add_explain_parser(sub)
    bench = sub.add_parser("bench", help="time glassgrad against NumPy and PyTorch (from a source checkout)",
                           description="Runs benchmarks/run.py of the source checkout (one thread per library; "
                                       "checks agreement first); --quick takes a few minutes. Other options are "
                                       "passed on (see benchmarks/run.py --help).")
    bench.add_argument("--quick", action="store_true", help="3 repeats of ~0.2 s instead of 5 of ~0.8 s")
    bench.set_defaults(run=_bench)
    demo = sub.add_parser("demo", help="same as 'explain neuron'")
    demo.set_defaults(run=lambda args: show_neuron(NEURON))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``glassgrad`` with ``argv`` (default: ``sys.argv[1:]``) and return its exit status.

    A user error (a bad flag, file or checkpoint) prints one line ``glassgrad <command>: error: …`` and
    gives status 2 (a flag refused while parsing exits with it, as argparse does); Ctrl-C gives 130
    (``train`` first says where it stopped); anything else is a bug: one line asking for a report,
    status 1. ``--debug`` or ``GLASSGRAD_DEBUG=1`` shows the traceback instead.
    """
    from glassgrad.state import CheckpointError

    argv = sys.argv[1:] if argv is None else list(argv)
    debug = os.environ.get("GLASSGRAD_DEBUG", "").strip().lower() not in ("", "0", "false", "no") or "--debug" in argv
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and getattr(args, "command", None) != "bench":
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see {args.prog} --help)", args.prog)
    except UsageError as e:                 # as argparse does: the parse error exits with status 2
        if debug:
            raise
        print(f"{e.prog or parser.prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    args.extra = extra
    if not getattr(args, "run", None):
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except (UsageError, CheckpointError) as e:
        if debug:
            raise
        print(f"{args.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\n{args.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except OSError as e:      # the machine refused a read or write (disk full, permissions): not a bug
        if debug:
            raise
        print(f"{args.prog}: error: {e.filename or ''}: {e.strerror or e}".replace(": : ", ": "), file=sys.stderr)
        return 2
    except MemoryError as e:  # sizes the machine cannot hold: the user's choice, not a bug
        if debug:
            raise
        print(f"{args.prog}: error: not enough memory ({e or 'MemoryError'}); choose smaller sizes (--hidden, "
              "--batch-size) or a machine with more memory", file=sys.stderr)
        return 2
    except Exception as e:    # a bug, not a user error: one line and how to get the details
        if debug:
            raise
        message = " ".join(f"{type(e).__name__}: {e}".split())
        print(f"{args.prog}: internal error: {message} (run again with --debug or GLASSGRAD_DEBUG=1 for the "
              "traceback, and please report it)", file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main())
