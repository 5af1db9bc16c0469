"""``glassgrad explain …``: the views that make gradients visible, one sub-command each."""
from __future__ import annotations


def add_explain_parser(sub) -> None:
    from glassgrad.cli import explain_health, explain_teach, explain_views

    p = sub.add_parser("explain", help="see backprop: gate tables, graphs, layer traces, gradient checks, health",
                       description="Views that make every gradient visible.")
    commands = p.add_subparsers(dest="view", metavar="VIEW")
    explain_views.add_commands(commands)
    explain_health.add_commands(commands)
    explain_teach.add_commands(commands)
    p.set_defaults(run=lambda args: (p.print_help(), 0)[1])
