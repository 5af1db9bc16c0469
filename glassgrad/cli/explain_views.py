"""``glassgrad explain circuit`` and ``explain neuron``: expressions gate by gate."""
from __future__ import annotations


def _neuron(args) -> int:
    from glassgrad.cli import NEURON, show_neuron
    return show_neuron({k: getattr(args, k) for k in NEURON})


def add_commands(commands) -> None:
    n = commands.add_parser("neuron", help="the notes' sigmoid neuron gate by gate, with every gradient")
    from glassgrad.cli import NEURON

    for name, default in NEURON.items():
        n.add_argument(f"--{name}", type=float, default=default, help=f"value of {name} (default {default:g})")
    n.set_defaults(run=_neuron)
