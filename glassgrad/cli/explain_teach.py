"""``glassgrad explain step`` (and the other teaching tools): pages and worksheets for learning backprop."""
from __future__ import annotations

from glassgrad.cli.options import COUNT, NON_NEGATIVE_INT, UsageError


def _fail(message: str) -> int:
    raise UsageError(message)


def _step(args) -> int:
    from glassgrad.explain.expression import ExpressionError, evaluate
    from glassgrad.explain.stepper import network_cost, stepper

    if args.model and args.expr is not None:
        return _fail("step: give either --expr or --model, not both")
    if args.expr is not None and args.values is None:
        return _fail("step: --expr needs --values for its variables, e.g. --values x=-2 y=5 z=-4")
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
    except (ExpressionError, ValueError, OSError) as e:
        return _fail(f"step: {e}")
    print(s)
    print(f"\nwrote {path}: open it in a browser; Next/Prev or the arrow keys step one gate at a time "
          f"({len(s)} backward steps, {len(s.forward_steps)} forward)")
    return 0


def add_commands(commands) -> None:
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
