"""``glassgrad explain …``: the views that make gradients visible, one sub-command each."""
from __future__ import annotations

import argparse


def add_explain_parser(sub: argparse._SubParsersAction) -> None:
    from glassgrad.cli import explain_health, explain_teach, explain_views
    from glassgrad.cli.options import COUNT, NON_NEGATIVE_INT

    p = sub.add_parser("explain", help="see backprop: gate tables, graphs, layer traces, gradient checks, health",
                       description="Views that make every gradient visible.")
    commands = p.add_subparsers(dest="view", metavar="VIEW")
    explain_views.add_commands(commands)
    explain_health.add_commands(commands)
    explain_teach.add_commands(commands)
    p.add_argument("--html", metavar="FILE", dest="notebook",
                   help="write the backprop notebook: one offline page with the circuit, the stepper, the trace, the "
                        "health and the labs for one network (see --sizes, --activation, --seed)")
    p.add_argument("--sizes", type=COUNT, nargs="+", default=[2, 3, 2], metavar="N", dest="notebook_sizes",
                   help="with --html: the network's layer sizes (default 2 3 2)")
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh"], dest="notebook_activation",
                   help="with --html: the activation of every layer (default sigmoid)")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, dest="notebook_seed", metavar="N",
                   help="with --html: the seed of the weights and the example (default 0)")

    def run(args: argparse.Namespace) -> int:
        if not args.notebook:
            p.print_help()
            return 0
        from glassgrad.cli.explain_teach import write_notebook_page
        return write_notebook_page(args)

    p.set_defaults(run=run)
