"""``glassgrad explain step`` (and the other teaching tools): pages and worksheets for learning backprop."""
from __future__ import annotations

import argparse

from glassgrad.cli.options import COUNT, NON_NEGATIVE_INT, UsageError, cannot_write


def _step(args) -> int:
    from glassgrad.explain.expression import ExpressionError, evaluate
    from glassgrad.explain.stepper import network_cost, stepper

    if args.model and args.expr is not None:
        raise UsageError("give either --expr or --model, not both")
    if args.expr is not None and args.values is None:
        raise UsageError("--expr needs --values for its variables, e.g. --values x=-2 y=5 z=-4")
    try:
        if args.model:
            f = network_cost(args.sizes, args.batch, args.activation, args.seed)
            title = (f"{args.sizes} {args.activation} network, quadratic cost over a batch of {args.batch}: "
                     "backward stepper")
        else:
            expr = args.expr if args.expr is not None else "(x + y) * z"
            f, _ = evaluate(expr, args.values if args.values is not None else ["x=-2", "y=5", "z=-4"])
            title = f"f = {expr}: backward stepper"
        s = stepper(f, title=title)
        path = s.save(args.out)
    except OSError as e:
        raise cannot_write("--out", args.out, e) from None
    except (ExpressionError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(s)
    print(f"\nwrote {path}: open it in a browser; Next/Prev or the arrow keys step one gate at a time "
          f"({len(s)} backward steps, {len(s.forward_steps)} forward)")
    return 0


def _exercise(args) -> int:
    from pathlib import Path

    from glassgrad.explain.exercise import parse_answers, worksheet

    try:
        sheet = worksheet(args.seed, args.notation)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.answers:
        print(sheet.key_text())
        return 0
    if args.html:
        try:
            path = sheet.save_html(args.html)
        except OSError as e:
            raise cannot_write("--html", args.html, e) from None
        except ValueError as e:
            raise UsageError(str(e)) from None
        print(f"wrote {path}: fill in the form, press 'Make my answers file', then check it with\n"
              f"  glassgrad explain exercise --seed {args.seed} --notation {args.notation} "
              f"--check answers-seed{args.seed}.txt")
        return 0
    if args.check:
        try:
            answers = parse_answers(Path(args.check).read_text(encoding="utf-8"), args.check)
            grades = sheet.grade(answers)
        except (ValueError, OSError, UnicodeDecodeError) as e:
            raise UsageError(str(e)) from None
    elif args.interactive:
        print(sheet, end="\n\n")
        answers = {}
        for q in sheet.questions:
            while True:
                text = input(f"{q.id}. {q.symbol} = ").strip()
                if not text:
                    break
                try:
                    answers[q.id] = float(text)
                    break
                except ValueError:
                    print(f"  {text!r} is not a number; type a number, or press Enter to skip")
        grades = sheet.grade(answers)
    else:
        print(sheet)
        print(f"\nAnswer in a file of lines 'Q1 = number' and run: glassgrad explain exercise --seed {args.seed} "
              f"--notation {args.notation} --check FILE\n"
              "(or --interactive to answer here, --html FILE for a form, --answers for the key)")
        return 0
    print("\n".join(str(g) for g in grades))
    right = sum(g.correct for g in grades)
    print(f"\n{right} of {len(grades)} right")
    return 0 if right == len(grades) else 1


def run_sweep(args: argparse.Namespace) -> int:
    """``explain gradcheck --sweep``: the cost lab."""
    from glassgrad.explain.labs import cost_sweep

    sweep = cost_sweep(activation=args.activation, seed=args.seed)
    print("The cost of every gradient of [4, h, 3] networks, by centred differences and by backprop "
          "(times depend on the machine and its load):\n")
    print(sweep)
    return _plot(sweep, args.plot)


def _plot(lab, path) -> int:
    if path:
        try:
            written = lab.plot(path)
        except OSError as e:
            raise cannot_write("--plot", path, e) from None
        except ValueError as e:
            raise UsageError(f"--plot {path}: {e}") from None
        print(f"\nwrote {written}" if written else "\n(no plot: matplotlib is not installed; "
                                                   "pip install 'glassgrad[plot]')")
    return 0


def _probe(args) -> int:
    from glassgrad.explain.labs import probe

    try:
        result = probe(args.param, args.sizes, args.activation, args.seed)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"network {args.sizes}, {args.activation} units, quadratic cost, one example (seed {args.seed})\n")
    print(result)
    return _plot(result, args.plot)


def write_notebook_page(args: argparse.Namespace) -> int:
    """``glassgrad explain --html FILE``: the backprop notebook."""
    from glassgrad.explain.notebook import write_notebook

    sizes = args.notebook_sizes
    if len(sizes) < 3 or min(sizes) < 1:
        raise UsageError(f"--sizes {' '.join(map(str, sizes))}: the notebook needs a hidden layer: at least three "
                     "positive sizes, e.g. 2 3 2")
    try:
        path = write_notebook(args.notebook, sizes, args.notebook_activation, args.notebook_seed)
    except OSError as e:
        raise cannot_write("--html", args.notebook, e) from None
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {path}: the circuit, the backward stepper, the layer trace, the gradient health and the labs "
          f"for the {sizes} {args.notebook_activation} network, in one offline page")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    from glassgrad.train.models import ACTIVATIONS

    s = commands.add_parser(
        "step", help="step through backward one gate at a time in the browser (one offline HTML page)",
        description="Write an HTML page with the graph (forward values) beside the gate table; Next/Prev and the "
                    "arrow keys step the backward pass one gate at a time (upstream × local = downstream, "
                    "fan-out contributions added, broadcast gradients summed back), or the forward pass. "
                    "Default: the notes' (x + y)·z at x = −2, y = 5, z = −4.")
    s.add_argument("--expr", help='an expression such as "(x + y) * z", or statements such as '
                                  '"b = a + a; c = b + b" (a value used twice: fan-out)')
    s.add_argument("--values", nargs="+", metavar="NAME=NUMBER", help="the variables' values, e.g. x=-2 y=5 z=-4")
    s.add_argument("--model", action="store_true",
                   help="step through a small network's quadratic cost instead (see --sizes, --batch)")
    s.add_argument("--sizes", type=COUNT, nargs="+", default=[2, 3, 2], metavar="N",
                   help="--model's layer sizes")
    s.add_argument("--batch", type=COUNT, default=3, help="--model's examples: the biases are "
                                                        "broadcast over them, so their gradients are summed back")
    s.add_argument("--activation", default="sigmoid", choices=[a for a in ("sigmoid", "tanh", "relu")
                                                               if a in ACTIVATIONS], help="--model's hidden activation")
    s.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="seed of --model's weights and data")
    s.add_argument("--out", default="step.html", metavar="FILE", help="the page to write")
    s.set_defaults(run=_step)

    from glassgrad.explain.exercise import NOTATIONS

    e = commands.add_parser(
        "exercise", help="a hand-backprop worksheet whose grader names the mistake behind a wrong answer",
        description="A small seeded sigmoid network and six questions on entries of δ^L, δ^l, ∂C/∂b and ∂C/∂w. "
                    "Each wrong answer is recomputed under a bank of known mistakes (missing σ'(z), σ' at a, W not "
                    "transposed, sign of (a − y), no batch mean or sum, one fan-out path, the ½ convention) and "
                    "the mistake that reproduces it is named. The same seed gives the same worksheet.")
    e.add_argument("--seed", type=NON_NEGATIVE_INT, default=7, help="which worksheet")
    e.add_argument("--notation", default="nndl", choices=list(NOTATIONS), help="notation of the questions")
    how = e.add_mutually_exclusive_group()
    how.add_argument("--answers", action="store_true", help="print the answer key")
    how.add_argument("--check", metavar="FILE", help="grade the answers in FILE (lines 'Q1 = number')")
    how.add_argument("--interactive", action="store_true", help="ask each question at the prompt, then grade")
    how.add_argument("--html", metavar="FILE", help="write the worksheet as an HTML form that makes an answers file")
    e.set_defaults(run=_exercise)

    p = commands.add_parser(
        "probe", help="the linearisation probe: ΔC vs ∂C/∂w·Δw for one weight, and the finite-difference error vs ε",
        description="Nudge one weight by Δw on a log scale: the actual ΔC, the prediction ∂C/∂w·Δw and the residual "
                    "(fitted log-log slope ≈ 2); then the centred difference's error against ε with the best ε.")
    p.add_argument("--param", default="W2[1,2]", help="the weight, 1-based: W<layer>[j,k] (w^l_jk) or b<layer>[j]")
    p.add_argument("--sizes", type=COUNT, nargs="+", default=[2, 3, 2], metavar="N", help="layer sizes")
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh"], help="hidden activation")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="seed of the weights and the example")
    p.add_argument("--plot", metavar="PATH", help="save both panels as a PNG")
    p.set_defaults(run=_probe)
